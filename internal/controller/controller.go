// Package controller wires every controller of provider-ipam.
package controller

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"

	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/controller/incluster/reservation"
)

// Setup adds every controller to mgr. It must run before mgr starts.
func Setup(ctx context.Context, mgr ctrl.Manager, o controller.Options) error {
	l, err := incluster.New(ctx, mgr.GetClient(), mgr.GetAPIReader(), mgr.GetCache())
	if err != nil {
		return fmt.Errorf("cannot set up the in-cluster ledger: %w", err)
	}
	return reservation.Setup(mgr, o, l)
}
