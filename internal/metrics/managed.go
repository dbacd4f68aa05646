package metrics

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	"github.com/crossplane/crossplane-runtime/v2/pkg/resource"
	"github.com/crossplane/crossplane-runtime/v2/pkg/statemetrics"
)

// ManagedOptions wires crossplane-runtime's managed-resource metrics into a
// managed reconciler of the kinds listed by list, when o asks for metrics:
// it returns the reconciler's option and adds to mgr the recorder that
// recounts their state.
func ManagedOptions(mgr ctrl.Manager, o controller.Options, list resource.ManagedList) ([]managed.ReconcilerOption, error) {
	mo := o.MetricOptions
	if mo == nil {
		return nil, nil
	}
	if err := mgr.Add(statemetrics.NewMRStateRecorder(mgr.GetClient(), o.Logger, mo.MRStateMetrics, list, mo.PollStateMetricInterval)); err != nil {
		return nil, fmt.Errorf("cannot add the managed-resource state metrics: %w", err)
	}
	return []managed.ReconcilerOption{managed.WithMetricRecorder(mo.MRMetrics)}, nil
}

// ForgettingFinalizer removes a Reservation's series of backend once next
// has removed its finalizer. The managed reconciler removes the finalizer
// of a Reservation whose management policies keep what it holds (orphan,
// observe-only) without observing it again, so a series forgotten only on
// Observe would outlive the Reservation.
func ForgettingFinalizer(backend string, next resource.Finalizer) resource.Finalizer {
	return forgettingFinalizer{backend: backend, next: next}
}

type forgettingFinalizer struct {
	backend string
	next    resource.Finalizer
}

func (f forgettingFinalizer) AddFinalizer(ctx context.Context, o resource.Object) error {
	return f.next.AddFinalizer(ctx, o)
}

func (f forgettingFinalizer) RemoveFinalizer(ctx context.Context, o resource.Object) error {
	if err := f.next.RemoveFinalizer(ctx, o); err != nil {
		return err
	}
	ForgetReservation(f.backend, o.GetNamespace(), o.GetName())
	return nil
}
