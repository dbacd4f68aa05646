// Package capi wires provider-ipam's side of Cluster API's IPAM contract:
// the IPPool and IPAddressClaim controllers.
package capi

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"

	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/controller/capi/backing"
	"github.com/provider-ipam/provider-ipam/internal/controller/capi/ipaddressclaim"
	"github.com/provider-ipam/provider-ipam/internal/controller/capi/ippool"
)

// Setup adds the IPPool and IPAddressClaim controllers to mgr. Its caller
// runs it once the CAPI IPAM kinds (ipam.cluster.x-k8s.io v1beta2) are
// served and registered in mgr's scheme, with the Cluster kind, which is
// read (from the cache) to honour paused Clusters.
func Setup(ctx context.Context, mgr ctrl.Manager, o controller.Options, l *incluster.Ledger) error {
	if err := backing.SetupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	guards := backing.NewGuards()
	if err := ippool.Setup(mgr, o, l, guards); err != nil {
		return err
	}
	return ipaddressclaim.Setup(mgr, o, l, guards)
}
