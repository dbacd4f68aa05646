package capi_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/controller"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

var (
	env  *testenv.Env
	kube client.Client
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := testenv.CAPICRDDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	env, err = testenv.Start(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	kube, err = client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := testenv.AllowTestAddressSpaces(context.Background(), kube); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// startProvider runs the provider's controllers as one replica would, until
// the test ends: the CAPI IPAM ones, and the in-cluster Reservations' whose
// ledger Allocations an in-cluster pool marks in use.
func startProvider(t *testing.T) {
	t.Helper()
	env.RunManager(t, controller.Setup)
}

// namespace creates a namespace named after prefix, unique so that tests
// may run with -count.
func namespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := kube.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// releasedAtEnd gives back, when the test ends and before its provider
// stops (call it after startProvider), every address ns's claims and pool
// hold: a ref-less pool draws from the cluster-wide ledger, so a test run
// again (-count) would otherwise find its range held by its first run.
func releasedAtEnd(t *testing.T, ns, pool string) {
	t.Helper()
	t.Cleanup(func() {
		ctx := context.Background()
		if err := kube.DeleteAllOf(ctx, &capiipamv1beta2.IPAddressClaim{}, client.InNamespace(ns)); err != nil {
			t.Errorf("cannot delete the claims of %s: %v", ns, err)
			return
		}
		if err := kube.Delete(ctx, ippool(ns, pool, "", 0)); client.IgnoreNotFound(err) != nil {
			t.Errorf("cannot delete pool %s/%s: %v", ns, pool, err)
			return
		}
		eventually(t, time.Minute, "the pool gone with its addresses", func(ctx context.Context) (bool, error) {
			err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: pool}, &v1alpha1.IPPool{})
			return kerrors.IsNotFound(err), client.IgnoreNotFound(err)
		})
	})
}

func create(t *testing.T, o client.Object) {
	t.Helper()
	if err := kube.Create(context.Background(), o); err != nil {
		t.Fatalf("creating %s: %v", o.GetName(), err)
	}
}

func ippool(ns, name, gateway string, prefix int32, addrs ...string) *v1alpha1.IPPool {
	return &v1alpha1.IPPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.IPPoolSpec{Addresses: addrs, Gateway: gateway, Prefix: prefix},
	}
}

func claim(ns, name, pool string) *capiipamv1beta2.IPAddressClaim {
	return &capiipamv1beta2.IPAddressClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: capiipamv1beta2.IPAddressClaimSpec{
			PoolRef: capiipamv1beta2.IPPoolReference{APIGroup: v1alpha1.Group, Kind: v1alpha1.IPPoolKind, Name: pool},
		},
	}
}

// eventually polls cond every 100ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: %v %s", what, err, last)
	}
}

// claimsState sorts the claims of ns into bound (claim -> IPAddress name)
// and the others' Ready conditions (claim -> condition).
func claimsState(ctx context.Context, ns string) (bound map[string]string, waiting map[string]metav1.Condition, err error) {
	l := &capiipamv1beta2.IPAddressClaimList{}
	if err := kube.List(ctx, l, client.InNamespace(ns)); err != nil {
		return nil, nil, err
	}
	bound, waiting = map[string]string{}, map[string]metav1.Condition{}
	for _, c := range l.Items {
		cond := meta.FindStatusCondition(c.Status.Conditions, capiipamv1beta2.IPAddressClaimReadyCondition)
		switch {
		case c.Status.AddressRef.Name != "" && cond != nil && cond.Status == metav1.ConditionTrue:
			bound[c.Name] = c.Status.AddressRef.Name
		case cond != nil:
			waiting[c.Name] = *cond
		default:
			waiting[c.Name] = metav1.Condition{}
		}
	}
	return bound, waiting, nil
}

// addresses returns address -> claim for every IPAddress of ns, failing the
// test on any address handed out twice in one pool.
func addresses(t *testing.T, ns string) map[string]capiipamv1beta2.IPAddress {
	t.Helper()
	l := &capiipamv1beta2.IPAddressList{}
	if err := kube.List(context.Background(), l, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]capiipamv1beta2.IPAddress{}
	for _, a := range l.Items {
		k := a.Spec.PoolRef.Name + "/" + a.Spec.Address
		if b, dup := out[k]; dup {
			t.Fatalf("%s handed out twice: to %s and %s", k, b.Spec.ClaimRef.Name, a.Spec.ClaimRef.Name)
		}
		out[k] = a
	}
	return out
}

func getPool(t *testing.T, ns, name string) *v1alpha1.IPPool {
	t.Helper()
	p := &v1alpha1.IPPool{}
	if err := kube.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func hasFinalizer(o client.Object, f string) bool { return slices.Contains(o.GetFinalizers(), f) }
