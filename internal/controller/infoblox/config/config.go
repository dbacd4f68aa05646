// Package config reconciles Infoblox ProviderConfigs and
// ClusterProviderConfigs: it counts the Reservations using each (their
// ProviderConfigUsages) and keeps one in use from being deleted.
package config

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/event"
	"github.com/crossplane/crossplane-runtime/v2/pkg/ratelimiter"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/providerconfig"
	"github.com/crossplane/crossplane-runtime/v2/pkg/resource"

	"github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
)

// Setup adds the controllers of ProviderConfigs and ClusterProviderConfigs.
// Usages of both kinds are ProviderConfigUsages in the user's namespace, as
// crossplane-runtime v2 records them for namespaced managed resources; the
// label crossplane.io/provider-config-kind tells them apart.
func Setup(mgr ctrl.Manager, o controller.Options) error {
	if err := setup(mgr, o, v1alpha1.ProviderConfigGroupKind, v1alpha1.ProviderConfigKind, v1alpha1.ProviderConfigGroupVersionKind, &v1alpha1.ProviderConfig{}); err != nil {
		return err
	}
	return setup(mgr, o, v1alpha1.ClusterProviderConfigGroupKind, v1alpha1.ClusterProviderConfigKind, v1alpha1.ClusterProviderConfigGroupVersionKind, &v1alpha1.ClusterProviderConfig{})
}

func setup(mgr ctrl.Manager, o controller.Options, groupKind, kind string, gvk schema.GroupVersionKind, obj client.Object) error {
	name := providerconfig.ControllerName(groupKind)
	of := resource.ProviderConfigKinds{
		Config:    gvk,
		Usage:     v1alpha1.ProviderConfigUsageGroupVersionKind,
		UsageList: v1alpha1.ProviderConfigUsageListGroupVersionKind,
	}
	opts := []providerconfig.ReconcilerOption{
		providerconfig.WithLogger(o.Logger.WithValues("controller", name)),
		providerconfig.WithRecorder(event.NewAPIRecorder(mgr.GetEventRecorderFor(name))), //nolint:staticcheck // crossplane-runtime's recorder takes the legacy interface.
	}
	// Panics now, not at the first reconcile, if a kind is not registered.
	_ = providerconfig.NewReconciler(mgr, of, opts...)
	r := reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		// crossplane-runtime v2.2.0 counts the usages labelled with the
		// config's name and kind in every namespace: a ProviderConfig
		// "default" in one namespace would count the users of every other
		// namespace's "default". A namespaced ProviderConfig's users are
		// in its own namespace only.
		m := mgr
		if req.Namespace != "" {
			m = namespacedManager{Manager: mgr, kube: namespacedClient{Client: mgr.GetClient(), namespace: req.Namespace}}
		}
		return providerconfig.NewReconciler(m, of, opts...).Reconcile(ctx, req)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		WithOptions(o.ForControllerRuntime()).
		For(obj).
		Watches(&v1alpha1.ProviderConfigUsage{}, &resource.EnqueueRequestForProviderConfig{Kind: kind}).
		Complete(ratelimiter.NewReconciler(name, r, o.GlobalRateLimiter))
}

// namespacedManager hands out a client whose lists stay in one namespace.
type namespacedManager struct {
	manager.Manager
	kube client.Client
}

func (m namespacedManager) GetClient() client.Client { return m.kube }

type namespacedClient struct {
	client.Client
	namespace string
}

func (c namespacedClient) List(ctx context.Context, l client.ObjectList, opts ...client.ListOption) error {
	return c.Client.List(ctx, l, append(opts, client.InNamespace(c.namespace))...)
}
