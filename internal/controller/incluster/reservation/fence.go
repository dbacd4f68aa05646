package reservation

import (
	"context"
	"errors"
	"fmt"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
)

const errStale = "the Reservation changed while reserving; the next reconcile releases what this one reserved in excess"

// fencedUpdater records the external name only if the Reservation has not
// changed since it was read. crossplane-runtime's default updater re-reads
// and re-applies on conflict; with several active replicas that lets a
// replica working from a stale copy overwrite the addresses another replica
// just recorded, and the two can take turns forever. Fenced, a stale write
// fails, and the reservation it made is an excess that the next reconcile
// (which sees the latest copy) releases. If the Reservation is gone or being
// deleted, what it holds is released here: its Delete may already have run.
type fencedUpdater struct {
	kube   client.Client
	ledger *incluster.Ledger
}

func (u *fencedUpdater) UpdateCriticalAnnotations(ctx context.Context, o client.Object) error {
	// The API server answers an update with the status it stores, and the
	// managed reconciler writes the object's status after this call: keep
	// what this reconcile found (a shortfall or conflict that Create met)
	// rather than write the stale copy back.
	cr, isReservation := o.(*v1alpha1.Reservation)
	var status v1alpha1.ReservationStatus
	if isReservation {
		status = *cr.Status.DeepCopy()
	}
	err := u.kube.Update(ctx, o)
	if err == nil {
		if isReservation {
			cr.Status = status
		}
		return nil
	}
	if !kerrors.IsConflict(err) && !kerrors.IsNotFound(err) {
		return fmt.Errorf("cannot record the external name: %w", err)
	}
	cur := &v1alpha1.Reservation{}
	gerr := u.kube.Get(ctx, client.ObjectKeyFromObject(o), cur)
	if kerrors.IsNotFound(gerr) || (gerr == nil && meta.WasDeleted(cur)) {
		return errors.Join(errors.New(errStale), u.ledger.Release(ctx, o.GetUID(), nil))
	}
	return errors.New(errStale)
}
