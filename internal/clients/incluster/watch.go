package incluster

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
)

// MarkRemoved lets through only the updates that take an Allocation's
// in-use mark off: a machine letting go of the address, which is all a
// Reservation waiting to give it back needs to hear. Nothing else about an
// Allocation concerns its Reservation: a pool leasing one of its addresses
// must not cost a reconcile of a Reservation of thousands.
var MarkRemoved = predicate.Funcs{
	CreateFunc: func(event.CreateEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return slices.Contains(e.ObjectOld.GetFinalizers(), commonv1alpha1.FinalizerInUse) &&
			!slices.Contains(e.ObjectNew.GetFinalizers(), commonv1alpha1.FinalizerInUse)
	},
}

// EnqueueHolder enqueues the holder of an Allocation when it is a
// Reservation of apiVersion.
func EnqueueHolder(apiVersion string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		al, ok := o.(*v1alpha1.Allocation)
		if !ok || al.Spec.Owner.Kind != v1alpha1.ReservationKind || al.Spec.Owner.APIVersion != apiVersion {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: al.Spec.Owner.Namespace, Name: al.Spec.Owner.Name}}}
	})
}
