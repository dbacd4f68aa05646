// Package clusteripamclaim records in a k0rdent ClusterIPAMClaim's
// spec.clusterIPAMRef the ClusterIPAM composed for it. The composition
// function cannot: functions write an XR's status only, and k0rdent's API
// has the reference in spec.
package clusteripamclaim

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/logging"
	"github.com/crossplane/crossplane-runtime/v2/pkg/ratelimiter"

	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
)

const (
	errGetClaim   = "cannot get ClusterIPAMClaim"
	errPatchClaim = "cannot record spec.clusterIPAMRef"
)

// Setup adds the controller. The ClusterIPAMClaim kind comes with
// configuration-provider-ipam's XRD, which may be installed after the
// provider starts: the caller runs Setup once the kind is served.
func Setup(mgr ctrl.Manager, o controller.Options) error {
	name := "k0rdent/" + k0rdentv1beta1.ClusterIPAMClaimGVK.Kind
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(k0rdentv1beta1.ClusterIPAMClaimGVK)
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		WithOptions(o.ForControllerRuntime()).
		For(u).
		Complete(ratelimiter.NewReconciler(name, &reconciler{reader: mgr.GetCache(), kube: mgr.GetClient(), log: o.Logger.WithValues("controller", name)}, o.GlobalRateLimiter))
}

type reconciler struct {
	// reader is the manager's cache, fed by the controller's own watch:
	// the manager's client reads unstructured objects from the API server,
	// one GET per event of every claim.
	reader client.Reader
	kube   client.Client
	log    logging.Logger
}

func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	claim := &unstructured.Unstructured{}
	claim.SetGroupVersionKind(k0rdentv1beta1.ClusterIPAMClaimGVK)
	if err := r.reader.Get(ctx, req.NamespacedName, claim); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("%s: %w", errGetClaim, err))
	}
	child := ComposedIPAM(claim)
	cur, _, _ := unstructured.NestedString(claim.Object, "spec", "clusterIPAMRef")
	if child == "" || child == cur || claim.GetDeletionTimestamp() != nil {
		return reconcile.Result{}, nil
	}
	patch := fmt.Appendf(nil, `{"spec":{"clusterIPAMRef":%q}}`, child)
	if err := r.kube.Patch(ctx, claim, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return reconcile.Result{}, fmt.Errorf("%s: %w", errPatchClaim, err)
	}
	r.log.Debug("Recorded the composed ClusterIPAM", "claim", req.NamespacedName, "clusterIPAM", child)
	return reconcile.Result{}, nil
}

// ComposedIPAM is the name of the ClusterIPAM among the claim's composed
// resources (spec.crossplane.resourceRefs), or "" before it exists.
func ComposedIPAM(claim *unstructured.Unstructured) string {
	refs, _, _ := unstructured.NestedSlice(claim.Object, "spec", "crossplane", "resourceRefs")
	for _, ref := range refs {
		m, ok := ref.(map[string]any)
		if !ok {
			continue
		}
		gv, _ := schema.ParseGroupVersion(fmt.Sprint(m["apiVersion"]))
		if m["kind"] == k0rdentv1beta1.ClusterIPAMGVK.Kind && gv.Group == k0rdentv1beta1.Group {
			name, _ := m["name"].(string)
			return name
		}
	}
	return ""
}
