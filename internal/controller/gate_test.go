package controller_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	ipamv1alpha1 "github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// Crossplane installs a safe-start provider's ProviderConfig kinds at
// once, and the CRDs of every other kind of its package (Crossplane takes
// them all for managed resources) only once a
// ManagedResourceActivationPolicy activates them.
const (
	allocationCRD  = "incluster.ipam.provider-ipam.io_allocations.yaml"
	ippoolCRD      = "ipam.provider-ipam.io_ippools.yaml"
	reservationCRD = "incluster.ipam.provider-ipam.io_reservations.yaml"
	quotaUsageCRD  = "incluster.ipam.provider-ipam.io_quotausages.yaml"
)

// TestKindsServedLater starts the provider on an API server that serves
// only its ProviderConfig kinds, as a safe-start install before
// activation does, and then installs the CRDs of the rest: the CAPI IPAM
// kinds with the IPPool and Allocation, then the in-cluster Reservation,
// then k0rdent's ClusterIPAMClaim (the Infoblox Reservation never). Each
// controller starts as its kinds are served, without a restart, and goes
// through the global rate limiter.
func TestKindsServedLater(t *testing.T) {
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	crds := filepath.Join(root, "package", "crds")
	base := t.TempDir()
	entries, err := os.ReadDir(crds)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.Contains(e.Name(), "providerconfig") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(crds, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(base, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env, kube := startEnv(t, base)
	// The address-space policy is a ClusterProviderConfig: served at once.
	if err := testenv.AllowTestAddressSpaces(context.Background(), kube); err != nil {
		t.Fatal(err)
	}
	l := newLimiter()
	startProvider(t, env, l)

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gate-"}}
	if err := kube.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}

	capi, err := testenv.CAPICRDDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(capi) })
	create := func(t *testing.T, o client.Object) {
		t.Helper()
		if err := kube.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	// The stages run in order on one API server, each installing more
	// CRDs, as activation does.
	stages := []struct {
		name  string
		paths []string
		crds  []*apiextensionsv1.CustomResourceDefinition
		check func(t *testing.T)
	}{
		{
			// The CAPI IPAM kinds arrive, and IPPool, Allocation and
			// QuotaUsage are activated: a claim on a pool is bound.
			name:  "IPPoolAndCAPIClaimsServedLater",
			paths: []string{capi, filepath.Join(crds, allocationCRD), filepath.Join(crds, quotaUsageCRD), filepath.Join(crds, ippoolCRD)},
			check: func(t *testing.T) {
				create(t, &ipamv1alpha1.IPPool{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "nodes"},
					Spec:       ipamv1alpha1.IPPoolSpec{Addresses: []string{"10.61.0.10-10.61.0.20"}, Gateway: "10.61.0.1", Prefix: 24},
				})
				claim := &capiipamv1beta2.IPAddressClaim{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "m-0"},
					Spec: capiipamv1beta2.IPAddressClaimSpec{
						PoolRef: capiipamv1beta2.IPPoolReference{APIGroup: ipamv1alpha1.Group, Kind: ipamv1alpha1.IPPoolKind, Name: "nodes"},
					},
				}
				create(t, claim)
				testenv.Eventually(t, time.Minute, "the claim bound to the pool's first address", func(ctx context.Context) (bool, error) {
					c := &capiipamv1beta2.IPAddressClaim{}
					if err := kube.Get(ctx, client.ObjectKeyFromObject(claim), c); err != nil || c.Status.AddressRef.Name == "" {
						return false, err
					}
					a := &capiipamv1beta2.IPAddress{}
					if err := kube.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: c.Status.AddressRef.Name}, a); err != nil {
						return false, err
					}
					return a.Spec.Address == "10.61.0.10", nil
				})
			},
		},
		{
			// The in-cluster Reservation is activated: a Reservation is
			// Ready.
			name:  "InClusterReservationServedLater",
			paths: []string{filepath.Join(crds, reservationCRD)},
			check: func(t *testing.T) {
				r := &inclusterv1alpha1.Reservation{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "vips"},
					Spec: inclusterv1alpha1.ReservationSpec{ForProvider: inclusterv1alpha1.ReservationParameters{
						Space: &commonv1alpha1.AddressSpace{CIDR: "10.62.0.0/29"},
					}},
				}
				create(t, r)
				testenv.Eventually(t, time.Minute, "the Reservation Ready with 10.62.0.1", func(ctx context.Context) (bool, error) {
					got := &inclusterv1alpha1.Reservation{}
					if err := kube.Get(ctx, client.ObjectKeyFromObject(r), got); err != nil {
						return false, err
					}
					return got.GetCondition(xpv1.TypeReady).Status == corev1.ConditionTrue && meta.GetExternalName(got) == "10.62.0.1", nil
				})
			},
		},
		{
			// configuration-provider-ipam's XRD arrives: the
			// ClusterIPAMClaim controller records the ClusterIPAM composed
			// for a claim.
			name: "ClusterIPAMClaimServedLater",
			crds: []*apiextensionsv1.CustomResourceDefinition{clusterIPAMClaimCRD()},
			check: func(t *testing.T) {
				c := &unstructured.Unstructured{}
				c.SetGroupVersionKind(k0rdentv1beta1.ClusterIPAMClaimGVK)
				c.SetNamespace(ns.Name)
				c.SetName("cluster-a")
				if err := unstructured.SetNestedSlice(c.Object, []any{map[string]any{
					"apiVersion": k0rdentv1beta1.ClusterIPAMGVK.GroupVersion().String(), "kind": k0rdentv1beta1.ClusterIPAMGVK.Kind, "name": "cluster-a-x1",
				}}, "spec", "crossplane", "resourceRefs"); err != nil {
					t.Fatal(err)
				}
				create(t, c)
				testenv.Eventually(t, time.Minute, "spec.clusterIPAMRef recorded", func(ctx context.Context) (bool, error) {
					got := &unstructured.Unstructured{}
					got.SetGroupVersionKind(k0rdentv1beta1.ClusterIPAMClaimGVK)
					if err := kube.Get(ctx, client.ObjectKeyFromObject(c), got); err != nil {
						return false, err
					}
					ref, _, _ := unstructured.NestedString(got.Object, "spec", "clusterIPAMRef")
					return ref == "cluster-a-x1", nil
				})
			},
		},
	}
	for _, st := range stages {
		t.Run(st.name, func(t *testing.T) {
			if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: st.paths, CRDs: st.crds, ErrorIfPathMissing: true}); err != nil {
				t.Fatal(err)
			}
			st.check(t)
		})
	}

	for _, name := range []string{
		managed.ControllerName(inclusterv1alpha1.ReservationGroupKind),
		"ippool/" + ipamv1alpha1.Group,
		"ipaddressclaim/" + ipamv1alpha1.Group,
		"k0rdent/" + k0rdentv1beta1.ClusterIPAMClaimGVK.Kind,
	} {
		// A controller reconciles its objects soon after their creation,
		// not necessarily before the assertions above hold.
		testenv.Eventually(t, 30*time.Second, "controller "+name+" through the global rate limiter", func(context.Context) (bool, error) {
			return l.asked(name), nil
		})
	}
}

// clusterIPAMClaimCRD stands in for the CRD Crossplane makes of
// configuration-provider-ipam's XRD: the controller needs only the kind.
func clusterIPAMClaimCRD() *apiextensionsv1.CustomResourceDefinition {
	gvk := k0rdentv1beta1.ClusterIPAMClaimGVK
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "clusteripamclaims." + gvk.Group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: gvk.Group,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: gvk.Kind, ListKind: gvk.Kind + "List", Plural: "clusteripamclaims", Singular: "clusteripamclaim"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: gvk.Version, Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true),
				}},
			}},
		},
	}
}
