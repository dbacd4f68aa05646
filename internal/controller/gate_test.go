package controller_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	ipamv1alpha1 "github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/controller"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// reservationCRD is the in-cluster Reservation's CRD: a managed kind, which
// Crossplane creates only once a ManagedResourceActivationPolicy activates
// it.
const reservationCRD = "incluster.ipam.provider-ipam.io_reservations.yaml"

// TestKindsServedLater starts the provider on an API server that serves
// neither the CAPI IPAM kinds nor the in-cluster Reservation, as a
// safe-start install before activation does, then installs their CRDs: each
// controller starts as its kinds are served, without a restart, and the
// provider keeps running meanwhile.
func TestKindsServedLater(t *testing.T) {
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	// provider-ipam's CRDs less the managed Reservation.
	base := t.TempDir()
	entries, err := os.ReadDir(filepath.Join(root, "package", "crds"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == reservationCRD {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, "package", "crds", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(base, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env, err := testenv.StartCRDs(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kube, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done, err := env.StartManager(ctx, controller.Setup)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	// A manager that stopped early (a controller whose kind is not served
	// fails to sync and stops it) reports its error here.
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("provider stopped with error: %v", err)
		}
	})

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gate-"}}
	if err := kube.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}

	// The CAPI IPAM kinds arrive: a claim on a pool is bound.
	capi, err := testenv.CAPICRDDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(capi) })
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{capi}, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	pool := &ipamv1alpha1.IPPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "nodes"},
		Spec:       ipamv1alpha1.IPPoolSpec{Addresses: []string{"10.61.0.10-10.61.0.20"}, Gateway: "10.61.0.1", Prefix: 24},
	}
	if err := kube.Create(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	claim := &capiipamv1beta2.IPAddressClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "m-0"},
		Spec: capiipamv1beta2.IPAddressClaimSpec{
			PoolRef: capiipamv1beta2.IPPoolReference{APIGroup: ipamv1alpha1.Group, Kind: ipamv1alpha1.IPPoolKind, Name: pool.Name},
		},
	}
	if err := kube.Create(context.Background(), claim); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the claim bound", func(ctx context.Context) (bool, error) {
		c := &capiipamv1beta2.IPAddressClaim{}
		if err := kube.Get(ctx, client.ObjectKeyFromObject(claim), c); err != nil {
			return false, err
		}
		return c.Status.AddressRef.Name != "", nil
	})

	// The managed Reservation kind is activated: a Reservation is Ready.
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(root, "package", "crds", reservationCRD)}, ErrorIfPathMissing: true,
	}); err != nil {
		t.Fatal(err)
	}
	r := &inclusterv1alpha1.Reservation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "vips"},
		Spec: inclusterv1alpha1.ReservationSpec{ForProvider: inclusterv1alpha1.ReservationParameters{
			Space: &commonv1alpha1.AddressSpace{CIDR: "10.62.0.0/29"},
		}},
	}
	if err := kube.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the Reservation Ready", func(ctx context.Context) (bool, error) {
		got := &inclusterv1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKeyFromObject(r), got); err != nil {
			return false, err
		}
		return got.GetCondition(xpv1.TypeReady).Status == corev1.ConditionTrue && meta.GetExternalName(got) != "", nil
	})
}
