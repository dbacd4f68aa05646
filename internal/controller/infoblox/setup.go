// Package infoblox wires the Infoblox backend's controllers.
package infoblox

import (
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"

	"github.com/provider-ipam/provider-ipam/internal/controller/infoblox/config"
	"github.com/provider-ipam/provider-ipam/internal/controller/infoblox/reservation"
)

// Setup adds the ProviderConfig, ClusterProviderConfig and Reservation
// controllers to mgr.
func Setup(mgr ctrl.Manager, o controller.Options) error {
	if err := config.Setup(mgr, o); err != nil {
		return err
	}
	return reservation.Setup(mgr, o)
}
