// Package controller wires every controller of provider-ipam.
package controller

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"

	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/controller/incluster/reservation"
	"github.com/provider-ipam/provider-ipam/internal/controller/infoblox"
	"github.com/provider-ipam/provider-ipam/internal/controller/ipam"
	"github.com/provider-ipam/provider-ipam/internal/controller/k0rdent/clusteripamclaim"
)

// Setup adds every controller to mgr. It must run before mgr starts.
func Setup(ctx context.Context, mgr ctrl.Manager, o controller.Options) error {
	l, err := incluster.New(ctx, mgr.GetClient(), mgr.GetAPIReader(), mgr.GetCache())
	if err != nil {
		return fmt.Errorf("cannot set up the in-cluster ledger: %w", err)
	}
	if err := reservation.Setup(mgr, o, l); err != nil {
		return err
	}
	if err := infoblox.Setup(mgr, o); err != nil {
		return err
	}
	if err := ipam.Setup(ctx, mgr, o, l); err != nil {
		return err
	}
	return clusteripamclaim.Setup(ctx, mgr, o)
}
