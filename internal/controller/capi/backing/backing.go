package backing

import (
	"context"
	"fmt"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
)

// Backing is what holds a pool's addresses, as the cache has it.
type Backing struct {
	// Reservations are the UIDs of the pool's Reservations, of either
	// backend: the ledger says what each holds, an Infoblox one once the
	// grid confirmed it. What their status says is never trusted: anyone
	// who may edit a Reservation can write it.
	Reservations []types.UID
	// Draw says the pool references nothing: it draws from the ledger.
	Draw bool
	// Unavailable names the references that are gone, going, or not
	// Reservations of provider-ipam; nil when there are none.
	Unavailable *UnavailableError
	// Protected says the pool and each Reservation carry the in-use
	// finalizer.
	Protected bool
}

// Resolve reads what backs p from r (the cache): of each Reservation, its
// UID and whether it is there to stay, never what its status says.
func Resolve(ctx context.Context, r client.Reader, p *v1alpha1.IPPool) (Backing, error) {
	b := Backing{Draw: len(p.Spec.ReservationRefs) == 0, Protected: controllerutil.ContainsFinalizer(p, commonv1alpha1.FinalizerInUse)}
	u := &UnavailableError{}
	for _, ref := range p.Spec.ReservationRefs {
		var o client.Object
		switch {
		case !IsReservation(ref):
			// Admission refuses these; a pool stored before it did is
			// refused here.
			u.Foreign = append(u.Foreign, ref)
			continue
		case ref.APIVersion == inclusterv1alpha1.SchemeGroupVersion.String():
			// Its metadata only: the whole object (thousands of addresses
			// in its status) would be copied out of the cache for every
			// claim.
			m := &metav1.PartialObjectMetadata{}
			m.SetGroupVersionKind(inclusterv1alpha1.ReservationGroupVersionKind)
			o = m
		default:
			// One address: read from the informer the pool's watch shares.
			o = &infobloxv1alpha1.Reservation{}
		}
		if err := r.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: ref.Name}, o); err != nil {
			if kerrors.IsNotFound(err) {
				u.Missing = append(u.Missing, ref)
				continue
			}
			return Backing{}, fmt.Errorf(errGetRef+": %w", ref.Kind, p.Namespace, ref.Name, err)
		}
		if !o.GetDeletionTimestamp().IsZero() {
			u.Leaving = append(u.Leaving, ref)
			continue
		}
		b.Protected = b.Protected && controllerutil.ContainsFinalizer(o, commonv1alpha1.FinalizerInUse)
		b.Reservations = append(b.Reservations, o.GetUID())
	}
	if u.OrNil() != nil {
		b.Unavailable = u
	}
	return b, nil
}
