package reservation_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	ipamcontroller "github.com/provider-ipam/provider-ipam/internal/controller"
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
	var err error
	env, err = testenv.Start()
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

// startProvider runs provider-ipam's controllers as one replica would, until
// the returned function is called (which waits for it to stop).
func startProvider(t *testing.T) (stop func()) {
	t.Helper()
	return env.RunManager(t, ipamcontroller.Setup)
}

func namespace(t *testing.T, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := kube.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return name
}

func reservation(ns, name string, space *commonv1alpha1.AddressSpace) *v1alpha1.Reservation {
	return &v1alpha1.Reservation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.ReservationSpec{ForProvider: v1alpha1.ReservationParameters{Space: space}},
	}
}

func cidr(c string) *commonv1alpha1.AddressSpace { return &commonv1alpha1.AddressSpace{CIDR: c} }

// ready reports whether r is Ready with an external name.
func ready(r *v1alpha1.Reservation) bool {
	return r.GetCondition(xpv1.TypeReady).Status == corev1.ConditionTrue && meta.GetExternalName(r) != ""
}

func get(t *testing.T, ns, name string) *v1alpha1.Reservation {
	t.Helper()
	r := &v1alpha1.Reservation{}
	if err := kube.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, r); err != nil {
		t.Fatal(err)
	}
	return r
}

func waitReady(t *testing.T, ns, name string) *v1alpha1.Reservation {
	t.Helper()
	var r *v1alpha1.Reservation
	testenv.Eventually(t, time.Minute, fmt.Sprintf("%s/%s to be ready", ns, name), func(ctx context.Context) (bool, error) {
		r = &v1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, r); err != nil {
			return false, err
		}
		return ready(r), nil
	})
	return r
}

// allocations returns address -> holder "ns/name" for every Allocation held
// by a Reservation in ns, failing on any address held twice.
func allocations(t *testing.T, ns string) map[string]string {
	t.Helper()
	l := &v1alpha1.AllocationList{}
	if err := kube.List(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range l.Items {
		if a.Spec.Owner.Namespace != ns {
			continue
		}
		if h, dup := out[a.Spec.Address]; dup {
			t.Fatalf("%s held twice: by %s and %s", a.Spec.Address, h, a.Spec.Owner.Name)
		}
		out[a.Spec.Address] = a.Spec.Owner.Namespace + "/" + a.Spec.Owner.Name
	}
	return out
}
