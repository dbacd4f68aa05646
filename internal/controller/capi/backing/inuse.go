package backing

import (
	"context"
	"fmt"
	"slices"
	"strings"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
)

const (
	errGetRef   = "cannot get %s %s/%s"
	errPatchRef = "cannot update the finalizers of %s %s/%s"
)

// UnavailableError says objects a pool references are gone or being
// deleted: their addresses must not be handed out.
type UnavailableError struct {
	Missing []v1alpha1.ReservationRef
	Leaving []v1alpha1.ReservationRef
	// Foreign are references to objects that are not Reservations of
	// provider-ipam.
	Foreign []v1alpha1.ReservationRef
}

func (e *UnavailableError) Error() string {
	var parts []string
	for _, r := range e.Missing {
		parts = append(parts, fmt.Sprintf("%s %s not found", r.Kind, r.Name))
	}
	for _, r := range e.Leaving {
		parts = append(parts, fmt.Sprintf("%s %s is being deleted", r.Kind, r.Name))
	}
	for _, r := range e.Foreign {
		parts = append(parts, fmt.Sprintf("%s %s %s is not a Reservation of provider-ipam", r.APIVersion, r.Kind, r.Name))
	}
	return "reservations unavailable: " + strings.Join(parts, ", ")
}

// add records r as unavailable if st says so.
func (e *UnavailableError) add(r v1alpha1.ReservationRef, st state) {
	switch st {
	case absent:
		e.Missing = append(e.Missing, r)
	case leaving:
		e.Leaving = append(e.Leaving, r)
	case present:
	}
}

// OrNil returns e as an error, or nil if it names nothing (or is nil).
func (e *UnavailableError) OrNil() error {
	if e == nil || len(e.Missing)+len(e.Leaving)+len(e.Foreign) == 0 {
		return nil
	}
	return e
}

// state is what became of a referenced object.
type state int

const (
	present state = iota
	absent
	leaving // being deleted
)

// Finalizers puts or removes the in-use finalizer on a pool and on the
// objects it references. It patches metadata only, fenced on
// resourceVersion so that no one else's finalizer is lost, and reads from
// the API server so that it never acts on a stale copy.
type Finalizers struct {
	Client client.Client
	Reader client.Reader
}

// Protect puts the in-use finalizer on every object p references, then on
// p. Every reference must exist and not be on its way out: an address is
// not handed out from a reservation that is gone or going. Those that
// remain are protected all the same.
func (f Finalizers) Protect(ctx context.Context, p *v1alpha1.IPPool) error {
	unavailable := &UnavailableError{}
	for _, r := range p.Spec.ReservationRefs {
		if !IsReservation(r) {
			unavailable.Foreign = append(unavailable.Foreign, r)
			continue
		}
		st, err := f.set(ctx, r.APIVersion, r.Kind, p.Namespace, r.Name, true)
		if err != nil {
			return err
		}
		unavailable.add(r, st)
	}
	if err := unavailable.OrNil(); err != nil {
		return err
	}
	_, err := f.set(ctx, v1alpha1.SchemeGroupVersion.String(), v1alpha1.IPPoolKind, p.Namespace, p.Name, true)
	return err
}

// Release removes the in-use finalizer from the objects p references and
// from those it protected before (protected), then from p. It returns an
// *UnavailableError naming the references of p that are gone or going,
// once done.
func (f Finalizers) Release(ctx context.Context, p *v1alpha1.IPPool, protected []v1alpha1.ReservationRef) error {
	if err := f.Unprotect(ctx, p.Namespace, Dropped(p, protected)); err != nil {
		return err
	}
	unavailable := &UnavailableError{}
	for _, r := range p.Spec.ReservationRefs {
		if !IsReservation(r) {
			unavailable.Foreign = append(unavailable.Foreign, r)
			continue
		}
		st, err := f.set(ctx, r.APIVersion, r.Kind, p.Namespace, r.Name, false)
		if err != nil {
			return err
		}
		unavailable.add(r, st)
	}
	if _, err := f.set(ctx, v1alpha1.SchemeGroupVersion.String(), v1alpha1.IPPoolKind, p.Namespace, p.Name, false); err != nil {
		return err
	}
	return unavailable.OrNil()
}

// Unprotect removes the in-use finalizer from refs in namespace ns; objects
// already gone are skipped.
func (f Finalizers) Unprotect(ctx context.Context, ns string, refs []v1alpha1.ReservationRef) error {
	for _, r := range refs {
		if !IsReservation(r) {
			continue
		}
		if _, err := f.set(ctx, r.APIVersion, r.Kind, ns, r.Name, false); err != nil {
			return err
		}
	}
	return nil
}

// IsReservation reports whether r names a Reservation of provider-ipam: the
// only objects a pool ever puts its finalizer on or reads addresses from.
func IsReservation(r v1alpha1.ReservationRef) bool {
	return r.Kind == inclusterv1alpha1.ReservationKind &&
		(r.APIVersion == inclusterv1alpha1.SchemeGroupVersion.String() || r.APIVersion == infobloxv1alpha1.SchemeGroupVersion.String())
}

// Dropped are the references of protected that p no longer has.
func Dropped(p *v1alpha1.IPPool, protected []v1alpha1.ReservationRef) []v1alpha1.ReservationRef {
	return slices.DeleteFunc(slices.Clone(protected), func(r v1alpha1.ReservationRef) bool {
		return slices.Contains(p.Spec.ReservationRefs, r)
	})
}

// set adds (on) or removes the in-use finalizer, reporting what became of
// the object. An object being deleted takes no new finalizer (the API
// server refuses it); one it already has stays.
func (f Finalizers) set(ctx context.Context, apiVersion, kind, ns, name string, on bool) (st state, err error) {
	gvk := schema.FromAPIVersionAndKind(apiVersion, kind)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		o := &metav1.PartialObjectMetadata{}
		o.SetGroupVersionKind(gvk)
		if err := f.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, o); err != nil {
			if kerrors.IsNotFound(err) {
				st = absent
				return nil
			}
			return fmt.Errorf(errGetRef+": %w", kind, ns, name, err)
		}
		st = present
		if !o.DeletionTimestamp.IsZero() {
			st = leaving
		}
		if controllerutil.ContainsFinalizer(o, commonv1alpha1.FinalizerInUse) == on || (on && st == leaving) {
			return nil
		}
		err := patchInUse(ctx, f.Client, o, on)
		if err != nil && !kerrors.IsConflict(err) {
			return fmt.Errorf(errPatchRef+": %w", kind, ns, name, err)
		}
		return err
	})
	return st, err
}

// Holder reads the UID of the reservation r in namespace ns, under which
// the ledger records what it holds: "" if it is gone.
func (f Finalizers) Holder(ctx context.Context, ns string, r v1alpha1.ReservationRef) (types.UID, error) {
	if !IsReservation(r) {
		return "", nil
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(schema.FromAPIVersionAndKind(r.APIVersion, r.Kind))
	if err := f.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: r.Name}, m); err != nil {
		if kerrors.IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf(errGetRef+": %w", r.Kind, ns, r.Name, err)
	}
	return m.GetUID(), nil
}

// patchInUse adds (on) or removes the in-use finalizer of o with a merge
// patch fenced on its resourceVersion, so that no one else's finalizer is
// lost and a stale copy fails with a conflict.
func patchInUse(ctx context.Context, c client.Client, o client.Object, on bool) error {
	orig, ok := o.DeepCopyObject().(client.Object)
	if !ok {
		return fmt.Errorf("cannot copy %T", o)
	}
	if on {
		controllerutil.AddFinalizer(o, commonv1alpha1.FinalizerInUse)
	} else {
		controllerutil.RemoveFinalizer(o, commonv1alpha1.FinalizerInUse)
	}
	return c.Patch(ctx, o, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
}
