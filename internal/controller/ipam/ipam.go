// Package ipam wires provider-ipam's side of Cluster API's IPAM contract:
// the IPPool and IPAddressClaim controllers.
package ipam

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"

	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/controller/ipam/ipaddressclaim"
	"github.com/provider-ipam/provider-ipam/internal/controller/ipam/ippool"
	"github.com/provider-ipam/provider-ipam/internal/controller/ipam/pool"
)

const (
	errScheme   = "cannot register Cluster API's kinds"
	errDiscover = "cannot look up"
)

// Setup adds the IPPool and IPAddressClaim controllers to mgr. It must run
// before mgr starts. Without the CAPI IPAM CRDs (ipam.cluster.x-k8s.io
// v1beta2) it adds nothing and says so: their informers would never sync
// and would stop the whole provider. Installing them later needs a restart.
func Setup(ctx context.Context, mgr ctrl.Manager, o controller.Options, l *incluster.Ledger) error {
	for _, kind := range []string{"IPAddressClaim", "IPAddress"} {
		gk := schema.GroupKind{Group: capiipamv1beta2.GroupVersion.Group, Kind: kind}
		_, err := mgr.GetRESTMapper().RESTMapping(gk, capiipamv1beta2.GroupVersion.Version)
		if meta.IsNoMatchError(err) {
			o.Logger.Info("Cluster API IPAM CRDs not installed: IPPools are not served", "missing", gk.String()+"/"+capiipamv1beta2.GroupVersion.Version)
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", errDiscover, gk, err)
		}
	}
	// The provider's scheme need not know CAPI's kinds beforehand. The
	// Cluster kind is read (from the cache) to honour paused Clusters.
	if !mgr.GetScheme().Recognizes(capiipamv1beta2.GroupVersion.WithKind("IPAddressClaim")) {
		if err := capiipamv1beta2.AddToScheme(mgr.GetScheme()); err != nil {
			return fmt.Errorf("%s: %w", errScheme, err)
		}
	}
	if !mgr.GetScheme().Recognizes(clusterv1.GroupVersion.WithKind("Cluster")) {
		if err := clusterv1.AddToScheme(mgr.GetScheme()); err != nil {
			return fmt.Errorf("%s: %w", errScheme, err)
		}
	}
	if err := pool.SetupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	guards := pool.NewGuards()
	if err := ippool.Setup(mgr, o, l, guards); err != nil {
		return err
	}
	return ipaddressclaim.Setup(mgr, o, l, guards)
}
