// Package backing holds what the IPPool and IPAddressClaim controllers share:
// how an IPPool's IPAddresses are labelled and indexed, what backs a pool
// (its Reservations, read from the cache), the per-pool guard between
// allocating and releasing, and the in-use finalizer on the pool and its
// Reservations.
package backing

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/addressing"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
)

// Labels on every IPAddress the provider creates. UIDs, not names: names may
// be longer than a label value, and a UID tells a recreated object apart.
const (
	// LabelPoolUID lets the pool controller count its IPAddresses on the
	// API server itself before releasing its reservations.
	LabelPoolUID = "ipam.provider-ipam.io/pool-uid"
	// LabelClaimUID lets the claim controller find the IPAddress it created
	// even if it crashed before recording it in the claim's status.
	LabelClaimUID = "ipam.provider-ipam.io/claim-uid"
)

// FinalizerProtectAddress keeps an IPAddress until its claim goes, as CAPI's
// IPAM contract suggests.
const FinalizerProtectAddress = "ipam.cluster.x-k8s.io/protect-address"

// Cache field indexes.
const (
	// IndexPool indexes IPAddresses and IPAddressClaims by the name of the
	// IPPool (of this provider) they reference.
	IndexPool = "provider-ipam.poolRef.name"
	// IndexClaim indexes IPAddresses by the name of their claim.
	IndexClaim = "provider-ipam.claimRef.name"
	// IndexReservation indexes IPPools by the objects they reference
	// (RefKey).
	IndexReservation = "provider-ipam.reservationRefs"
)

const (
	errIndex            = "cannot index %s by %s: %w"
	errGetAddress       = "cannot get IPAddress"
	errDeleteAddress    = "cannot delete IPAddress"
	errUnprotectAddress = "cannot remove the protecting finalizer from IPAddress"
	errReturn           = "cannot give the address back to the ledger"
)

// Ours reports whether ref names an IPPool of this provider.
func Ours(ref capiipamv1beta2.IPPoolReference) bool {
	return ref.APIGroup == v1alpha1.Group && ref.Kind == v1alpha1.IPPoolKind && ref.Name != ""
}

// Ref is the poolRef of p, as IPAddressClaims and IPAddresses write it.
func Ref(p *v1alpha1.IPPool) capiipamv1beta2.IPPoolReference {
	return capiipamv1beta2.IPPoolReference{APIGroup: v1alpha1.Group, Kind: v1alpha1.IPPoolKind, Name: p.Name}
}

// Space is the address space p hands out from.
func Space(p *v1alpha1.IPPool) addressing.SpaceSpec {
	return addressing.SpaceSpec{IPAddresses: p.Spec.Addresses, Gateway: p.Spec.Gateway, Prefix: int(p.Spec.Prefix)}
}

// RefKey identifies a referenced object within a namespace, whatever the
// version it is referenced at.
func RefKey(group, kind, name string) string {
	return group + "/" + kind + "/" + name
}

// SetupIndexes registers the field indexes both controllers use. It must run
// once per manager, before the controllers are added; on a running manager
// (their kinds served late) the informers index what they already hold.
func SetupIndexes(ctx context.Context, fi client.FieldIndexer) error {
	if err := fi.IndexField(ctx, &capiipamv1beta2.IPAddress{}, IndexPool, func(o client.Object) []string {
		if a := o.(*capiipamv1beta2.IPAddress); Ours(a.Spec.PoolRef) {
			return []string{a.Spec.PoolRef.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf(errIndex, "IPAddresses", "pool", err)
	}
	if err := fi.IndexField(ctx, &capiipamv1beta2.IPAddress{}, IndexClaim, func(o client.Object) []string {
		if a := o.(*capiipamv1beta2.IPAddress); Ours(a.Spec.PoolRef) && a.Spec.ClaimRef.Name != "" {
			return []string{a.Spec.ClaimRef.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf(errIndex, "IPAddresses", "claim", err)
	}
	if err := fi.IndexField(ctx, &capiipamv1beta2.IPAddressClaim{}, IndexPool, func(o client.Object) []string {
		if c := o.(*capiipamv1beta2.IPAddressClaim); Ours(c.Spec.PoolRef) {
			return []string{c.Spec.PoolRef.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf(errIndex, "IPAddressClaims", "pool", err)
	}
	if err := fi.IndexField(ctx, &v1alpha1.IPPool{}, IndexReservation, func(o client.Object) []string {
		var keys []string
		for _, r := range o.(*v1alpha1.IPPool).Spec.ReservationRefs {
			if gv, err := schema.ParseGroupVersion(r.APIVersion); err == nil {
				keys = append(keys, RefKey(gv.Group, r.Kind, r.Name))
			}
		}
		return keys
	}); err != nil {
		return fmt.Errorf(errIndex, "IPPools", "reservation", err)
	}
	return nil
}

// Guards order, within a process, the claims allocating from a pool and
// the pool controller letting the pool's Reservations go: any number of
// claims hold a pool's guard shared, from checking that its Reservations are
// protected until their IPAddress exists; the pool controller holds it
// exclusively while it checks that nothing is handed out and removes the
// in-use finalizers. The guard also remembers what this process last did,
// since the cache may not show it for a moment: protected the pool for a
// set of references, or released it. Across replicas, leader election
// makes one of them do this work.
type Guards struct {
	mu sync.Mutex
	m  map[types.UID]*guard
}

// A GuardState is what this process last did to a pool's in-use
// finalizers.
type GuardState struct {
	// Released: it removed them.
	Released bool
	// ProtectedFor is the pool's references (ProtectKey) it last put them
	// on, empty if none.
	ProtectedFor string
}

type guard struct {
	sync.RWMutex
	state GuardState
}

// NewGuards returns an empty set of pool guards.
func NewGuards() *Guards {
	return &Guards{m: map[types.UID]*guard{}}
}

func (g *Guards) get(pool types.UID) *guard {
	g.mu.Lock()
	defer g.mu.Unlock()
	x, ok := g.m[pool]
	if !ok {
		x = &guard{}
		g.m[pool] = x
	}
	return x
}

// Shared holds pool's guard shared and returns its unlock function and
// what this process last did to the pool's in-use finalizers.
func (g *Guards) Shared(pool types.UID) (unlock func(), st GuardState) {
	x := g.get(pool)
	x.RLock()
	return x.RUnlock, x.state
}

// Exclusive holds pool's guard alone and returns its unlock function, what
// this process last did, and a setter for what it does now.
func (g *Guards) Exclusive(pool types.UID) (unlock func(), st GuardState, set func(GuardState)) {
	x := g.get(pool)
	x.Lock()
	return x.Unlock, x.state, func(s GuardState) { x.state = s }
}

// ProtectKey identifies the references of p that protecting it covers.
func ProtectKey(p *v1alpha1.IPPool) string {
	key := string(p.UID)
	for _, r := range p.Spec.ReservationRefs {
		key += "|" + r.APIVersion + "/" + r.Kind + "/" + r.Name
	}
	return key
}

// Forget drops the guard of a pool that is gone.
func (g *Guards) Forget(pool types.UID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.m, pool)
}

// DeleteAddress gives a's address back to the ledger (to cool down for the
// pool's reuse grace period, if it has one and is not being deleted),
// removes the protecting finalizer from a and deletes it. The address goes
// back first: a is kept until it is gone, so a crash in between only
// repeats it. It reads a from the API server and acts only on that very
// object: a copy from the cache may be of an IPAddress already gone, whose
// name another claim holds now.
func DeleteAddress(ctx context.Context, c client.Client, apis client.Reader, l *incluster.Ledger, a *capiipamv1beta2.IPAddress) error {
	live := &capiipamv1beta2.IPAddress{}
	switch err := apis.Get(ctx, client.ObjectKeyFromObject(a), live); {
	case kerrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("%s %s: %w", errGetAddress, a.Name, err)
	case live.UID != a.UID:
		return nil
	}
	a = live
	if ip, err := netip.ParseAddr(a.Spec.Address); err == nil {
		cool := false
		p := &v1alpha1.IPPool{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: a.Spec.PoolRef.Name}, p); err == nil {
			cool = p.Spec.ReuseGracePeriodSeconds > 0 && p.DeletionTimestamp.IsZero()
		}
		if err := l.Return(ctx, ip, types.UID(a.Labels[LabelClaimUID]), cool); err != nil {
			return fmt.Errorf("%s: %w", errReturn, err)
		}
	}
	if controllerutil.ContainsFinalizer(a, FinalizerProtectAddress) {
		orig := a.DeepCopy()
		controllerutil.RemoveFinalizer(a, FinalizerProtectAddress)
		if err := c.Patch(ctx, a, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("%s %s: %w", errUnprotectAddress, a.Name, err)
		}
	}
	if err := c.Delete(ctx, a, client.Preconditions{UID: &a.UID}); client.IgnoreNotFound(err) != nil && !kerrors.IsConflict(err) {
		return fmt.Errorf("%s %s: %w", errDeleteAddress, a.Name, err)
	}
	return nil
}
