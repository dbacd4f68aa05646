// Package controller wires every controller of provider-ipam.
package controller

import (
	"context"
	"fmt"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/gate"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/customresourcesgate"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	ipamv1alpha1 "github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/controller/capi"
	inclusterconfig "github.com/provider-ipam/provider-ipam/internal/controller/incluster/config"
	"github.com/provider-ipam/provider-ipam/internal/controller/incluster/reservation"
	"github.com/provider-ipam/provider-ipam/internal/controller/infoblox/config"
	infobloxreservation "github.com/provider-ipam/provider-ipam/internal/controller/infoblox/reservation"
	"github.com/provider-ipam/provider-ipam/internal/controller/k0rdent/clusteripamclaim"
)

// Setup adds every controller to mgr, each started only once the CRDs of
// the kinds it watches are established and serve the version it uses
// (Crossplane's safe-start: a managed kind's CRD exists only once a
// ManagedResourceActivationPolicy activates it, and the CAPI IPAM and
// k0rdent kinds may be installed at any time). A watch on a kind the API
// server does not serve would never sync and would stop the whole
// provider. It must run before mgr starts.
func Setup(ctx context.Context, mgr ctrl.Manager, o controller.Options) error {
	// Registered now, while nothing reads the scheme: the gated setups run
	// while the manager's caches and clients use it.
	for _, add := range []struct {
		gvk schema.GroupVersionKind
		add func(*runtime.Scheme) error
	}{
		{apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"), apiextensionsv1.AddToScheme},
		{capiipamv1beta2.GroupVersion.WithKind("IPAddressClaim"), capiipamv1beta2.AddToScheme},
		{clusterv1.GroupVersion.WithKind("Cluster"), clusterv1.AddToScheme},
	} {
		if mgr.GetScheme().Recognizes(add.gvk) {
			continue
		}
		if err := add.add(mgr.GetScheme()); err != nil {
			return fmt.Errorf("cannot register %s: %w", add.gvk.GroupVersion(), err)
		}
	}

	g := new(gate.Gate[schema.GroupVersionKind])
	o.Gate = g
	if err := customresourcesgate.Setup(mgr, controller.Options{Gate: g, Logger: o.Logger, MaxConcurrentReconciles: 1}); err != nil {
		return fmt.Errorf("cannot set up the CRD gate: %w", err)
	}
	// A gated setup runs in its own goroutine, possibly long after mgr
	// started. Its failure stops the manager, so the provider restarts and
	// tries again rather than running without that controller.
	failed := make(chan error, 16)
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		select {
		case err := <-failed:
			return err
		case <-ctx.Done():
			return nil
		}
	})); err != nil {
		return err
	}
	gated := func(what string, setup func() error, kinds ...schema.GroupVersionKind) {
		g.Register(func() {
			o.Logger.Info("Starting controller: its kinds are served", "controller", what)
			err := discovered(ctx, mgr.GetRESTMapper(), kinds)
			if err == nil {
				err = setup()
			}
			if err != nil {
				select {
				case failed <- fmt.Errorf("cannot set up %s: %w", what, err):
				default:
				}
			}
		}, kinds...)
	}

	// The ledger of Allocations serves the Reservations of both backends
	// and the pools: they start once it has its informers, of Allocations
	// and of the address-space policy (ClusterProviderConfigs and their
	// QuotaUsages). An Infoblox Reservation records there what the grid
	// confirmed, which is what a pool hands out.
	gated("the in-cluster ledger", func() error {
		l, err := incluster.New(ctx, mgr.GetClient(), mgr.GetAPIReader(), mgr.GetCache())
		if err != nil {
			return err
		}
		gated("in-cluster Reservations", func() error { return reservation.Setup(mgr, o, l) },
			inclusterv1alpha1.ReservationGroupVersionKind)
		gated("Infoblox Reservations", func() error { return infobloxreservation.Setup(mgr, o, l) },
			infobloxv1alpha1.ReservationGroupVersionKind,
			infobloxv1alpha1.ProviderConfigGroupVersionKind,
			infobloxv1alpha1.ClusterProviderConfigGroupVersionKind,
			infobloxv1alpha1.ProviderConfigUsageGroupVersionKind)
		// The IPPool controller also watches both kinds of Reservation,
		// each once it is served (o.Gate): a pool may draw from either.
		gated("IPPools and IPAddressClaims", func() error { return capi.Setup(ctx, mgr, o, l) },
			ipamv1alpha1.IPPoolGroupVersionKind,
			capiipamv1beta2.GroupVersion.WithKind("IPAddressClaim"),
			capiipamv1beta2.GroupVersion.WithKind("IPAddress"))
		return nil
	}, inclusterv1alpha1.AllocationGroupVersionKind, inclusterv1alpha1.ClusterProviderConfigGroupVersionKind, inclusterv1alpha1.QuotaUsageGroupVersionKind)

	gated("in-cluster ClusterProviderConfigs", func() error { return inclusterconfig.Setup(mgr, o) },
		inclusterv1alpha1.ClusterProviderConfigGroupVersionKind)
	gated("Infoblox ProviderConfigs", func() error { return config.Setup(mgr, o) },
		infobloxv1alpha1.ProviderConfigGroupVersionKind,
		infobloxv1alpha1.ClusterProviderConfigGroupVersionKind,
		infobloxv1alpha1.ProviderConfigUsageGroupVersionKind)
	gated("k0rdent ClusterIPAMClaims", func() error { return clusteripamclaim.Setup(mgr, o) },
		k0rdentv1beta1.ClusterIPAMClaimGVK)
	return nil
}

// discoveryWait bounds how long a gated setup waits for the API server's
// discovery to list kinds whose CRDs are established: seconds at most on a
// healthy server.
const discoveryWait = 2 * time.Minute

// discovered waits until the RESTMapper maps every kind. The gate opens
// when a CRD is Established, but the API server updates its discovery
// document a moment later, and a setup that indexes or watches a kind
// before then fails with "no matches for kind". The mapper reloads the
// group on each miss, so asking again is what refreshes it.
func discovered(ctx context.Context, m meta.RESTMapper, kinds []schema.GroupVersionKind) error {
	var missing schema.GroupVersionKind
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, discoveryWait, true, func(context.Context) (bool, error) {
		for _, k := range kinds {
			if _, err := m.RESTMapping(k.GroupKind(), k.Version); err != nil {
				if meta.IsNoMatchError(err) {
					missing = k
					return false, nil
				}
				return false, err
			}
		}
		return true, nil
	})
	if wait.Interrupted(err) {
		return fmt.Errorf("the API server's discovery does not list %s: %w", missing, err)
	}
	return err
}
