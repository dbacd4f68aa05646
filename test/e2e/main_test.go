// Package e2e runs provider-ipam end to end: real Crossplane core v2 out of
// cluster, provider-ipam installed from its packages through one
// Configuration (the function served over Crossplane's mTLS and the
// provider run as the packages' External runtime), the WAPI emulator, on a
// real kube-apiserver and etcd (internal/localplane).
package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	ipamv1alpha1 "github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
	"github.com/provider-ipam/provider-ipam/internal/localplane"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

var (
	plane *localplane.Plane
	// metricsAddr is where the provider serves /metrics.
	metricsAddr string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	capi, err := testenv.CAPICRDDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	clusters, err := testenv.ClusterCRDDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(capi); _ = os.RemoveAll(clusters) }()
	port, err := localplane.FreePort()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	metricsAddr = fmt.Sprintf("127.0.0.1:%d", port)
	plane, err = localplane.Start(ctx, localplane.Options{
		Name: "e2e", ExtraCRDDirs: []string{capi, clusters}, Crossplane: true, Provider: true,
		ProviderArgs: []string{"--metrics-bind-address=" + metricsAddr},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer plane.Stop()
	if err := plane.UseEmulatorAsDefaultInfoblox(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}

func obj(gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func namespace(t *testing.T, name string) string {
	t.Helper()
	if err := plane.Kube.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// eventually polls cond until it holds, failing at once if a process of the
// stack died.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := plane.Check(); err != nil {
			return false, err
		}
		ok, err := cond(ctx)
		if err != nil && ctx.Err() == nil {
			// An error caused by the deadline itself says nothing.
			last = err
		}
		return ok && err == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: %v (last error: %v)", what, err, last)
	}
}

func get(ctx context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	cur := &unstructured.Unstructured{}
	cur.SetGroupVersionKind(u.GroupVersionKind())
	return cur, plane.Kube.Get(ctx, client.ObjectKeyFromObject(u), cur)
}

// setField writes value at path into u's current state, retrying on
// conflicts: Crossplane and the CAPI managers write the same objects.
func setField(t *testing.T, u *unstructured.Unstructured, value any, path ...string) {
	t.Helper()
	ctx := context.Background()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := get(ctx, u)
		if err != nil {
			return err
		}
		if err := unstructured.SetNestedField(cur.Object, value, path...); err != nil {
			return err
		}
		return plane.Kube.Update(ctx, cur)
	}); err != nil {
		t.Fatal(err)
	}
}

func str(u *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, path...)
	return s
}

func condition(u *unstructured.Unstructured, typ string) (status, reason, message string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == typ {
			return fmt.Sprint(m["status"]), fmt.Sprint(m["reason"]), fmt.Sprint(m["message"])
		}
	}
	return "", "", ""
}

// dumpOnFailure logs, if t fails, the state of ns that decides what is
// held and released: the pools' status, the Reservations' conditions and
// addresses, the ClusterIPAMs' conditions and the IPAddresses. A failure
// of a flow that crosses several controllers is then readable from the
// test's output alone.
func dumpOnFailure(t *testing.T, ns string) {
	t.Helper()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx := context.Background()
		for _, k := range []struct {
			gvk    schema.GroupVersionKind
			fields [][]string
		}{
			{ipamv1alpha1.IPPoolGroupVersionKind, [][]string{{"spec", "reservationRefs"}, {"status", "inUse"}, {"status", "protectedRefs"}, {"status", "conditions"}}},
			{inclusterv1alpha1.ReservationGroupVersionKind, [][]string{{"metadata", "finalizers"}, {"metadata", "deletionTimestamp"}, {"status", "atProvider"}, {"status", "conditions"}}},
			{infobloxv1alpha1.ReservationGroupVersionKind, [][]string{{"metadata", "finalizers"}, {"metadata", "deletionTimestamp"}, {"status", "atProvider"}, {"status", "conditions"}}},
			{k0rdentv1beta1.ClusterIPAMGVK, [][]string{{"status", "phase"}, {"status", "conditions"}}},
			{capiipamv1beta2.GroupVersion.WithKind("IPAddress"), [][]string{{"spec", "address"}, {"spec", "claimRef"}}},
		} {
			l := &unstructured.UnstructuredList{}
			l.SetGroupVersionKind(k.gvk.GroupVersion().WithKind(k.gvk.Kind + "List"))
			if err := plane.Kube.List(ctx, l, client.InNamespace(ns)); err != nil {
				t.Logf("cannot list %s in %s: %v", k.gvk.Kind, ns, err)
				continue
			}
			for _, u := range l.Items {
				parts := []string{}
				for _, f := range k.fields {
					if v, ok, _ := unstructured.NestedFieldNoCopy(u.Object, f...); ok {
						parts = append(parts, fmt.Sprintf("%s=%v", strings.Join(f, "."), v))
					}
				}
				t.Logf("%s %s/%s rv %s: %s", k.gvk.Kind, ns, u.GetName(), u.GetResourceVersion(), strings.Join(parts, " "))
			}
		}
	})
}
