package incluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	ipamv1alpha1 "github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
)

const errTakeOver = "cannot take over the Allocation of"

// holdsForPools reports whether an Allocation held by o is one a pool may
// lease from: o is a Reservation of either backend.
func holdsForPools(o v1alpha1.AllocationOwner) bool {
	return o.Kind == v1alpha1.ReservationKind &&
		(o.APIVersion == v1alpha1.SchemeGroupVersion.String() || o.APIVersion == infobloxv1alpha1.SchemeGroupVersion.String())
}

// Attest records in the ledger that owner, an Infoblox Reservation, holds a
// because the grid says so, and that it holds nothing else. Pools hand out
// only what the ledger says their Reservations hold: a Reservation's status
// is written by whoever may edit it in its namespace, the ledger's
// cluster-scoped Allocations only by the provider.
//
// The address-space policy and quotas of in-cluster ClusterProviderConfigs
// do not apply: the grid and the Infoblox ProviderConfig decided. An
// address held by another holder is refused with a *ConflictError, except
// in owner's namespace: one a pool leased before Infoblox addresses were
// recorded here passes to owner with its lease, and one whose holder is
// gone (kept, or a previous Reservation of the same object) owner takes
// over.
func (l *Ledger) Attest(ctx context.Context, owner v1alpha1.AllocationOwner, a netip.Addr) error {
	if err := l.ready(ctx); err != nil {
		return err
	}
	held, err := l.cachedHeld(ctx, types.UID(owner.UID))
	if err != nil {
		return err
	}
	if len(held) == 1 && held[0] == a {
		// The steady state, met on every poll: the cache agrees.
		return nil
	}
	// Something changes: ask the API server, as the cache may not show yet
	// what an Attest moments ago recorded, which would then stay held.
	if held, err = l.HeldNow(ctx, types.UID(owner.UID)); err != nil {
		return err
	}
	// The grid object changed (another was imported): what the old one
	// held is owner's no more. One a machine still holds stays, being
	// deleted, until its lease ends.
	if err := l.release(ctx, types.UID(owner.UID), slices.DeleteFunc(held, func(h netip.Addr) bool { return h == a })); err != nil {
		return err
	}
	if slices.Contains(held, a) {
		return nil
	}
	did, cur, err := l.claim(ctx, owner, a, RefuseOrphans)
	switch {
	case err != nil:
		return err
	case did != heldElsewhere:
		return nil
	case cur == nil:
		return fmt.Errorf("%s %s: %s", errCreate, a, errClaimRace)
	}
	o := cur.Spec.Owner
	if o.Namespace != owner.Namespace || !cur.DeletionTimestamp.IsZero() {
		return &ConflictError{Address: a, Holder: o, Requester: owner.Namespace}
	}
	if o.APIVersion != ipamv1alpha1.SchemeGroupVersion.String() || o.Kind != ipamv1alpha1.IPPoolKind || cur.Spec.Lease == nil {
		gone, err := l.holderGone(ctx, o)
		if err != nil {
			return err
		}
		if !gone {
			return &ConflictError{Address: a, Holder: o, Requester: owner.Namespace}
		}
	}
	// Owner takes it over. A lease goes on, now of owner's address:
	// marked, as the lease of a Reservation's address is, so that owner
	// never lets it go under its machine.
	if cur.Spec.Lease != nil {
		controllerutil.AddFinalizer(cur, commonv1alpha1.FinalizerInUse)
	}
	switch ok, err := l.takeOver(ctx, cur, owner); {
	case err != nil:
		return fmt.Errorf("%s %s: %w", errTakeOver, a, err)
	case !ok:
		return fmt.Errorf("%s %s: it changed meanwhile, try again", errTakeOver, a)
	}
	return nil
}

// HeldNow lists the addresses the API server says uid holds, those on
// their way out (in use by a machine) included: one request, for when the
// cache may lag behind a change that matters.
func (l *Ledger) HeldNow(ctx context.Context, uid types.UID) ([]netip.Addr, error) {
	list := &v1alpha1.AllocationList{}
	if err := l.reader.List(ctx, list, client.MatchingLabels{v1alpha1.LabelOwnerUID: string(uid)}); err != nil {
		return nil, fmt.Errorf("%s: %w", errListHeld, err)
	}
	out := make([]netip.Addr, 0, len(list.Items))
	for _, al := range list.Items {
		if a, err := netip.ParseAddr(al.Spec.Address); err == nil && al.Spec.Owner.UID == string(uid) {
			out = append(out, a)
		}
	}
	return out, nil
}

// ReleaseUnused frees every address held by uid, including hint's, that no
// machine holds. If machines hold some, those stay, and it returns an
// *InUseError naming them: a Reservation whose object outside the ledger
// (a grid's) goes with its addresses waits until they are free.
func (l *Ledger) ReleaseUnused(ctx context.Context, uid types.UID, hint []netip.Addr) error {
	held, err := l.Held(ctx, uid, hint)
	if err != nil {
		return err
	}
	var inUse []netip.Addr
	for _, a := range held {
		switch err := l.releaseOne(ctx, uid, a, true); {
		case errors.Is(err, errInUse):
			inUse = append(inUse, a)
		case err != nil:
			return err
		}
	}
	if len(inUse) > 0 {
		return &InUseError{Held: len(inUse), Want: 0, InUse: inUse}
	}
	return nil
}
