package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
	"github.com/provider-ipam/provider-ipam/internal/localplane"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// example reads a k0rdent example as written, into namespace ns.
func example(t *testing.T, file, ns string) *unstructured.Unstructured {
	t.Helper()
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := localplane.ReadObjects(filepath.Join(root, "examples", "k0rdent", file))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GroupVersionKind() == k0rdentv1beta1.ClusterIPAMClaimGVK {
			o.SetNamespace(ns)
			return o
		}
	}
	t.Fatalf("no ClusterIPAMClaim in %s", file)
	return nil
}

// waitBound waits until the claim is bound, its clusterIPAMRef names its
// ClusterIPAM and that is Bound, and returns the ClusterIPAM.
func waitBound(t *testing.T, claim *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	var ipam *unstructured.Unstructured
	eventually(t, 3*time.Minute, "claim "+claim.GetName()+" bound", func(ctx context.Context) (bool, error) {
		c, err := get(ctx, claim)
		if err != nil {
			return false, err
		}
		bound, _, _ := unstructured.NestedBool(c.Object, "status", "bound")
		ref := str(c, "spec", "clusterIPAMRef")
		if !bound || ref == "" {
			return false, nil
		}
		ipam, err = get(ctx, obj(k0rdentv1beta1.ClusterIPAMGVK, claim.GetNamespace(), ref))
		if err != nil {
			return false, err
		}
		return str(ipam, "status", "phase") == "Bound", nil
	})
	return ipam
}

// nodePool returns the providerData entry named ipPool.
func nodePool(t *testing.T, ipam *unstructured.Unstructured) map[string]any {
	t.Helper()
	data, _, _ := unstructured.NestedSlice(ipam.Object, "status", "providerData")
	for _, d := range data {
		if m, ok := d.(map[string]any); ok && m["name"] == "ipPool" {
			return m
		}
	}
	t.Fatalf("no ipPool in providerData: %v", data)
	return nil
}

func TestInClusterClaimBinds(t *testing.T) {
	ns := namespace(t, "e2e-incluster")
	ctx := context.Background()
	for _, file := range []string{"clusteripamclaim-in-cluster-cidr.yaml", "clusteripamclaim-in-cluster-ipaddresses.yaml"} {
		t.Run(file, func(t *testing.T) {
			claim := example(t, file, ns)
			if err := plane.Kube.Create(ctx, claim); err != nil {
				t.Fatal(err)
			}
			ipam := waitBound(t, claim)
			if got := str(ipam, "spec", "clusterIPAMClaimRefs"); got != claim.GetName() {
				t.Errorf("ClusterIPAM spec.clusterIPAMClaimRefs = %q, want %q", got, claim.GetName())
			}
			pool := nodePool(t, ipam)
			if ready, _ := pool["ready"].(bool); !ready {
				t.Errorf("ipPool not ready: %v", pool)
			}
			cfg, _ := pool["config"].(map[string]any)
			if cfg["apiGroup"] != "ipam.provider-ipam.io" || cfg["kind"] != "IPPool" || cfg["name"] == "" {
				t.Errorf("ipPool config = %v, want a typed reference to an IPPool", cfg)
			}
			gw, _, _ := unstructured.NestedString(claim.Object, "spec", "nodeNetwork", "gateway")
			addrs, _ := pool["addresses"].([]any)
			if len(addrs) == 0 {
				t.Fatalf("ipPool lists no addresses: %v", pool)
			}
			for _, a := range addrs {
				if a == gw {
					t.Errorf("the gateway %s is in the pool: %v", gw, addrs)
				}
			}
		})
	}
}

func TestOverlappingInClusterClaimConflicts(t *testing.T) {
	ns := namespace(t, "e2e-overlap")
	ctx := context.Background()
	first := example(t, "clusteripamclaim-in-cluster-ipaddresses.yaml", ns)
	first.SetName("first")
	_ = unstructured.SetNestedStringSlice(first.Object, []string{"10.20.0.10-10.20.0.12"}, "spec", "nodeNetwork", "ipAddresses")
	_ = unstructured.SetNestedField(first.Object, "10.20.0.1", "spec", "nodeNetwork", "gateway")
	_ = unstructured.SetNestedField(first.Object, "first-cluster", "spec", "cluster")
	second := first.DeepCopy()
	second.SetName("second")
	_ = unstructured.SetNestedStringSlice(second.Object, []string{"10.20.0.12-10.20.0.14"}, "spec", "nodeNetwork", "ipAddresses")
	_ = unstructured.SetNestedField(second.Object, "second-cluster", "spec", "cluster")

	if err := plane.Kube.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	waitBound(t, first)
	if err := plane.Kube.Create(ctx, second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, "the second claim to report the conflict", func(ctx context.Context) (bool, error) {
		c, err := get(ctx, second)
		if err != nil {
			return false, err
		}
		ref := str(c, "spec", "clusterIPAMRef")
		if ref == "" {
			return false, nil
		}
		ipam, err := get(ctx, obj(k0rdentv1beta1.ClusterIPAMGVK, ns, ref))
		if err != nil {
			return false, err
		}
		_, reason, msg := condition(ipam, "Bound")
		_, claimReason, claimMsg := condition(c, "Bound")
		bound, _, _ := unstructured.NestedBool(c.Object, "status", "bound")
		return !bound && str(ipam, "status", "phase") == "Failed" &&
			reason == "AddressConflict" && strings.Contains(msg, "10.20.0.12 is already held by Reservation e2e-overlap/first-node") &&
			claimReason == "ClusterIPAMFailed" && strings.Contains(claimMsg, "10.20.0.12 is already held"), nil
	})
	// The first keeps its addresses, the second holds none of them.
	if n := allocationsIn(t, ns); n != 3 {
		t.Fatalf("%d addresses held in %s, want the first claim's 3", n, ns)
	}
}

func TestClusterIsImmutable(t *testing.T) {
	ns := namespace(t, "e2e-immutable")
	ctx := context.Background()
	claim := example(t, "clusteripamclaim-in-cluster-cidr.yaml", ns)
	_ = unstructured.SetNestedField(claim.Object, "10.21.0.0/24", "spec", "nodeNetwork", "cidr")
	_ = unstructured.SetNestedField(claim.Object, "10.21.0.1", "spec", "nodeNetwork", "gateway")
	if err := plane.Kube.Create(ctx, claim); err != nil {
		t.Fatal(err)
	}
	// A merge patch carries no resourceVersion: only the rule can refuse it,
	// however often Crossplane updates the claim meanwhile.
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"cluster":"another-cluster"}}`))
	err := plane.Kube.Patch(ctx, claim, patch)
	if !kerrors.IsInvalid(err) || !strings.Contains(err.Error(), "cluster is immutable") {
		t.Fatalf("changing spec.cluster: got %v, want it rejected as invalid", err)
	}
}

func TestDeletingTheClaimReleasesEverything(t *testing.T) {
	ns := namespace(t, "e2e-delete")
	ctx := context.Background()
	claim := example(t, "clusteripamclaim-in-cluster-ipaddresses.yaml", ns)
	_ = unstructured.SetNestedStringSlice(claim.Object, []string{"10.22.0.10", "10.22.0.11"}, "spec", "nodeNetwork", "ipAddresses")
	_ = unstructured.SetNestedField(claim.Object, "10.22.0.1", "spec", "nodeNetwork", "gateway")
	if err := plane.Kube.Create(ctx, claim); err != nil {
		t.Fatal(err)
	}
	waitBound(t, claim)
	if n := allocationsIn(t, ns); n != 2 {
		t.Fatalf("%d addresses held in %s, want 2", n, ns)
	}
	if err := plane.Kube.Delete(ctx, claim); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, "everything released", func(ctx context.Context) (bool, error) {
		_, err := get(ctx, claim)
		return kerrors.IsNotFound(err) && allocationsIn(t, ns) == 0, nil
	})
}

// allocationsIn counts the in-cluster ledger's entries held from ns.
func allocationsIn(t *testing.T, ns string) int {
	t.Helper()
	l := &inclusterv1alpha1.AllocationList{}
	if err := plane.Kube.List(context.Background(), l, client.Limit(5000)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range l.Items {
		if a.Spec.Owner.Namespace == ns {
			n++
		}
	}
	return n
}
