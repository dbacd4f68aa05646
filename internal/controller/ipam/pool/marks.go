package pool

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
)

const (
	errGetAllocation   = "cannot get the Allocation of %s"
	errMarkAllocation  = "cannot update the in-use finalizer of the Allocation of %s"
	errListAllocations = "cannot list the Allocations of Reservation %s/%s"
)

// Marks put the in-use finalizer on the in-cluster ledger's Allocation of
// every address a pool hands out, and take it off once the address is back.
// An in-cluster Reservation shrinking (fewer nodes) releases only addresses
// whose Allocation has no such mark, so no machine ever loses its address
// to a scale-down. The mark and the ledger's release are both fenced on the
// Allocation's resourceVersion: whichever comes second sees the first.
// Other backends hold one address per reservation, which the pool's in-use
// finalizer on the reservation protects.
type Marks struct {
	Client client.Client
	Reader client.Reader // the API server itself
}

// inCluster lists the names of the in-cluster Reservations of refs.
func inCluster(refs []v1alpha1.ReservationRef) []string {
	var names []string
	for _, r := range refs {
		if r.APIVersion == inclusterv1alpha1.SchemeGroupVersion.String() && r.Kind == inclusterv1alpha1.ReservationKind && !slices.Contains(names, r.Name) {
			names = append(names, r.Name)
		}
	}
	return names
}

// heldBy reports whether al is held, and not being released, by one of the
// in-cluster Reservations names in namespace ns.
func heldBy(al *inclusterv1alpha1.Allocation, ns string, names []string) bool {
	o := al.Spec.Owner
	return o.APIVersion == inclusterv1alpha1.SchemeGroupVersion.String() && o.Kind == inclusterv1alpha1.ReservationKind &&
		o.Namespace == ns && slices.Contains(names, o.Name) && al.DeletionTimestamp.IsZero()
}

// Mark marks a as in use before p hands it out. It reports false, marking
// nothing, if p references in-cluster Reservations and none of them holds
// a: the address must not be handed out. A pool without in-cluster
// Reservations needs no mark.
func (m Marks) Mark(ctx context.Context, p *v1alpha1.IPPool, a netip.Addr) (bool, error) {
	names := inCluster(p.Spec.ReservationRefs)
	if len(names) == 0 {
		return true, nil
	}
	held := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		al := &inclusterv1alpha1.Allocation{}
		if err := m.Reader.Get(ctx, client.ObjectKey{Name: incluster.NameFor(a)}, al); err != nil {
			if kerrors.IsNotFound(err) {
				held = false
				return nil
			}
			return fmt.Errorf(errGetAllocation+": %w", a, err)
		}
		if held = heldBy(al, p.Namespace, names); !held {
			return nil
		}
		err := m.set(ctx, al, a, true)
		if kerrors.IsNotFound(err) {
			held, err = false, nil // Released in between.
		}
		return err
	})
	return held, err
}

// Unmark takes the mark off a, handed out in namespace ns, once no
// IPAddress holds it. An Allocation the ledger released meanwhile then goes.
func (m Marks) Unmark(ctx context.Context, ns string, a netip.Addr) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		al := &inclusterv1alpha1.Allocation{}
		if err := m.Reader.Get(ctx, client.ObjectKey{Name: incluster.NameFor(a)}, al); err != nil {
			if kerrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf(errGetAllocation+": %w", a, err)
		}
		if al.Spec.Owner.Namespace != ns {
			return nil
		}
		if err := m.set(ctx, al, a, false); !kerrors.IsNotFound(err) {
			return err
		}
		return nil
	})
}

// Sweep takes the mark off the Allocations of p's in-cluster Reservations
// (referenced, or still protected after a drop) that no IPAddress of p
// holds: left by a crash between marking an address and creating its
// IPAddress. It marks those an IPAddress holds and that lack it, so a lost
// mark heals. cached are the addresses of p's IPAddresses the cache knows;
// fresh lists them on the API server, and is asked before any mark goes.
// The caller holds the pool's lock, so no claim of this process is between
// marking and creating.
func (m Marks) Sweep(ctx context.Context, p *v1alpha1.IPPool, cached []netip.Addr, fresh func(context.Context) ([]netip.Addr, error)) error {
	var stale []netip.Addr
	for _, name := range inCluster(append(slices.Clone(p.Spec.ReservationRefs), p.Status.ProtectedRefs...)) {
		r := &metav1.PartialObjectMetadata{}
		r.SetGroupVersionKind(inclusterv1alpha1.ReservationGroupVersionKind)
		if err := m.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: name}, r); err != nil {
			if kerrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf(errGetRef+": %w", inclusterv1alpha1.ReservationKind, p.Namespace, name, err)
		}
		l := &inclusterv1alpha1.AllocationList{}
		if err := m.Client.List(ctx, l, client.MatchingLabels{inclusterv1alpha1.LabelOwnerUID: string(r.UID)}); err != nil {
			return fmt.Errorf(errListAllocations+": %w", p.Namespace, name, err)
		}
		for i := range l.Items {
			al := &l.Items[i]
			a, err := netip.ParseAddr(al.Spec.Address)
			if err != nil {
				continue
			}
			switch marked, used := controllerutil.ContainsFinalizer(al, commonv1alpha1.FinalizerInUse), slices.Contains(cached, a); {
			case marked && !used:
				stale = append(stale, a)
			case !marked && used && al.DeletionTimestamp.IsZero():
				if err := m.set(ctx, al, a, true); client.IgnoreNotFound(err) != nil {
					return err
				}
			}
		}
	}
	if len(stale) == 0 {
		return nil
	}
	live, err := fresh(ctx)
	if err != nil {
		return err
	}
	for _, a := range stale {
		if slices.Contains(live, a) {
			continue
		}
		if err := m.Unmark(ctx, p.Namespace, a); err != nil {
			return err
		}
	}
	return nil
}

// set adds or removes the in-use finalizer of al, fenced on its
// resourceVersion. Conflict and NotFound errors are returned as they are.
func (m Marks) set(ctx context.Context, al *inclusterv1alpha1.Allocation, a netip.Addr, on bool) error {
	if controllerutil.ContainsFinalizer(al, commonv1alpha1.FinalizerInUse) == on {
		return nil
	}
	err := patchInUse(ctx, m.Client, al, on)
	if err != nil && !kerrors.IsConflict(err) && !kerrors.IsNotFound(err) {
		return fmt.Errorf(errMarkAllocation+": %w", a, err)
	}
	return err
}
