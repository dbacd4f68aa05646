package reservation_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/controller/infoblox/config"
	infobloxreservation "github.com/provider-ipam/provider-ipam/internal/controller/infoblox/reservation"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

const (
	wapiUser     = "ipam-provider"
	wapiPassword = "Corr3ct-Horse-Battery"
	pcName       = "wapi"
)

var (
	env  *testenv.Env
	kube client.Client
)

func TestMain(m *testing.M) {
	// infoblox-go-client logs every failed request with the standard logger.
	log.SetOutput(io.Discard)
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, err := startProvider(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "provider stopped with error:", err)
	}
	return code
}

// startProvider runs the Infoblox controllers as the provider would, with
// the ledger they record confirmed addresses in.
func startProvider(ctx context.Context) (<-chan error, error) {
	return env.StartManager(ctx, func(ctx context.Context, mgr ctrl.Manager, o controller.Options) error {
		if err := config.Setup(mgr, o); err != nil {
			return err
		}
		l, err := incluster.New(ctx, mgr.GetClient(), mgr.GetAPIReader(), mgr.GetCache())
		if err != nil {
			return err
		}
		return infobloxreservation.Setup(mgr, o, l)
	})
}

var nsSeq int

// namespace creates a fresh namespace, whose Reservations are deleted when
// the test ends (while its grid still runs: call it after grid). Every
// test's grid hands out the same addresses, and the ledger, one for the
// suite as for a management cluster, holds each once: what a test's
// Reservations hold must be given back before the next test reserves.
func namespace(t *testing.T) string {
	t.Helper()
	nsSeq++
	name := fmt.Sprintf("ib-%d-%d", nsSeq, time.Now().UnixNano()%100000)
	if err := kube.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { giveBack(t, name) })
	return name
}

// giveBack deletes the Reservations of ns and waits until the ledger holds
// nothing for ns. A Reservation that cannot finish (its grid refuses the
// credentials) never recorded an address: it is let go without its
// finalizer.
func giveBack(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	if err := kube.DeleteAllOf(ctx, &v1alpha1.Reservation{}, client.InNamespace(ns)); err != nil {
		t.Errorf("cannot delete the Reservations of %s: %v", ns, err)
		return
	}
	gone := func(ctx context.Context) (bool, error) {
		l := &v1alpha1.ReservationList{}
		err := kube.List(ctx, l, client.InNamespace(ns))
		return err == nil && len(l.Items) == 0, err
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, gone); err != nil {
		l := &v1alpha1.ReservationList{}
		if err := kube.List(ctx, l, client.InNamespace(ns)); err != nil {
			t.Error(err)
			return
		}
		for i := range l.Items {
			r := &l.Items[i]
			r.SetFinalizers(nil)
			if err := client.IgnoreNotFound(kube.Update(ctx, r)); err != nil {
				t.Errorf("cannot let %s/%s go: %v", ns, r.Name, err)
			}
		}
	}
	testenv.Eventually(t, 30*time.Second, "the ledger holding nothing for "+ns, func(ctx context.Context) (bool, error) {
		l := &inclusterv1alpha1.AllocationList{}
		if err := kube.List(ctx, l); err != nil {
			return false, err
		}
		for _, al := range l.Items {
			if al.Spec.Owner.Namespace == ns {
				return false, fmt.Errorf("%s still held by %s", al.Spec.Address, al.Spec.Owner.Name)
			}
		}
		return true, nil
	})
}

// grid starts an emulator with documentation networks.
func grid(t *testing.T) *wapisim.Server {
	t.Helper()
	srv := wapisim.NewTestServer(t, wapisim.Config{Username: wapiUser, Password: wapiPassword})
	for _, n := range []struct{ cidr, gw string }{{"192.0.2.0/24", "192.0.2.1"}, {"198.51.100.0/24", "198.51.100.1"}, {"203.0.113.0/24", ""}, {"2001:db8:1::/64", ""}} {
		if _, err := srv.AddNetwork("default", n.cidr, wapisim.NetworkOptions{Gateway: n.gw}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.AddRange("default", "203.0.113.100", "203.0.113.120", wapisim.RangeOptions{}); err != nil {
		t.Fatal(err)
	}
	return srv
}

// providerConfig creates a ProviderConfig named pcName in ns for srv, and
// its credentials Secret.
func providerConfig(t *testing.T, ns string, srv *wapisim.Server, password string) {
	t.Helper()
	if err := testenv.InfobloxProviderConfig(context.Background(), kube, ns, pcName, srv, wapiUser, password); err != nil {
		t.Fatal(err)
	}
}

func reservation(ns, name string, p v1alpha1.ReservationParameters) *v1alpha1.Reservation {
	r := &v1alpha1.Reservation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.ReservationSpec{ForProvider: p},
	}
	r.SetProviderConfigReference(&xpv1.ProviderConfigReference{Kind: v1alpha1.ProviderConfigKind, Name: pcName})
	return r
}

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

func waitReady(t *testing.T, ns, name string, timeout time.Duration) *v1alpha1.Reservation {
	t.Helper()
	var r *v1alpha1.Reservation
	testenv.Eventually(t, timeout, fmt.Sprintf("%s/%s to be ready", ns, name), func(ctx context.Context) (bool, error) {
		r = &v1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, r); err != nil {
			return false, err
		}
		return ready(r), nil
	})
	return r
}

// waitGone waits until the Reservation no longer exists.
func waitGone(t *testing.T, ns, name string) {
	t.Helper()
	testenv.Eventually(t, time.Minute, fmt.Sprintf("%s/%s to be deleted", ns, name), func(ctx context.Context) (bool, error) {
		err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &v1alpha1.Reservation{})
		return client.IgnoreNotFound(err) == nil && err != nil, nil
	})
}

// byUID returns the emulator's fixed addresses tagged with uid.
func byUID(srv *wapisim.Server, uid string) []wapisim.FixedAddress {
	var out []wapisim.FixedAddress
	for _, fa := range srv.FixedAddresses() {
		if fa.ExtAttrs["provider-ipam/reservation-uid"] == uid {
			out = append(out, fa)
		}
	}
	return out
}
