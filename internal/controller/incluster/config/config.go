// Package config reconciles in-cluster ClusterProviderConfigs, the
// address-space policy: it reports on each whether every allowance can be
// applied (its Valid condition), so that the platform team reads a mistake
// on the policy it wrote, not only on the tenants' refused Reservations.
package config

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/event"
	"github.com/crossplane/crossplane-runtime/v2/pkg/logging"
	"github.com/crossplane/crossplane-runtime/v2/pkg/ratelimiter"

	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/conditions"
)

const (
	errGet          = "cannot get the in-cluster ClusterProviderConfig"
	errUpdateStatus = "cannot update the in-cluster ClusterProviderConfig's status"

	msgValid   = "every allowance can be applied"
	msgRefused = "requests under this ClusterProviderConfig are refused until it is fixed"
)

// Setup adds the controller of in-cluster ClusterProviderConfigs.
func Setup(mgr ctrl.Manager, o controller.Options) error {
	name := "incluster/" + v1alpha1.ClusterProviderConfigKind
	r := &reconciler{
		kube:   mgr.GetClient(),
		record: event.NewAPIRecorder(mgr.GetEventRecorderFor(name)), //nolint:staticcheck // crossplane-runtime's recorder takes the legacy interface.
		log:    o.Logger.WithValues("controller", name),
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		WithOptions(o.ForControllerRuntime()).
		For(&v1alpha1.ClusterProviderConfig{}).
		Complete(ratelimiter.NewReconciler(name, r, o.GlobalRateLimiter))
}

type reconciler struct {
	kube   client.Client
	record event.Recorder
	log    logging.Logger
}

// Reconcile sets the Valid condition from what incluster.CheckPolicy finds,
// writing the status only when the condition changes.
func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	cpc := &v1alpha1.ClusterProviderConfig{}
	if err := r.kube.Get(ctx, req.NamespacedName, cpc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("%s: %w", errGet, err))
	}
	c := metav1.Condition{Type: v1alpha1.ConditionValid, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonPolicyValid,
		Message: msgValid, ObservedGeneration: cpc.Generation}
	invalid := incluster.CheckPolicy(cpc)
	if invalid != nil {
		// Bounded: a selector's operator and values are the platform
		// team's free text, and a status over the API's limit of a
		// condition message would never be written.
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, v1alpha1.ReasonPolicyInvalid, conditions.Message(invalid.Error()+": "+msgRefused)
	}
	if !meta.SetStatusCondition(&cpc.Status.Conditions, c) {
		return reconcile.Result{}, nil
	}
	if err := r.kube.Status().Update(ctx, cpc); err != nil {
		return reconcile.Result{}, fmt.Errorf("%s: %w", errUpdateStatus, err)
	}
	if invalid != nil {
		r.record.Event(cpc, event.Warning(event.Reason(v1alpha1.ReasonPolicyInvalid), errors.New(c.Message)))
	}
	r.log.Debug("Checked the address-space policy", "clusterProviderConfig", cpc.Name, "valid", invalid == nil)
	return reconcile.Result{}, nil
}
