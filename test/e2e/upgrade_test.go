package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/localplane"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

var (
	compositionRevisionGVK = schema.GroupVersionKind{Group: "apiextensions.crossplane.io", Version: "v1", Kind: "CompositionRevision"}
	configurationGVK       = schema.GroupVersionKind{Group: "pkg.crossplane.io", Version: "v1", Kind: "Configuration"}
)

// An upgrade of the configuration is a new package version whose
// Compositions changed: Crossplane makes new CompositionRevisions, claims
// with compositionUpdatePolicy Automatic move to them, Manual claims stay
// until their compositionRevisionRef is changed, and going back to the
// earlier version moves the Automatic claims back. No address changes in
// any step, in either backend: the ClusterIPAMs' addresses, the
// Reservations' external names (ledger addresses, grid references), the
// ledger's count and the machines' IPAddresses are compared each time.
func TestCompositionRevisionsUpgradeAndRollBack(t *testing.T) {
	ns := namespace(t, "e2e-upgrade")
	ctx := context.Background()

	type claimCase struct{ name, provider, cidr, gateway, policy string }
	cases := []claimCase{
		{"auto-incluster", "in-cluster", "10.60.0.0/24", "10.60.0.1", "Automatic"},
		{"manual-incluster", "in-cluster", "10.60.1.0/24", "10.60.1.1", "Manual"},
		{"auto-infoblox", "ipam-infoblox", "192.0.2.0/24", "192.0.2.1", "Automatic"},
		{"manual-infoblox", "ipam-infoblox", "192.0.2.0/24", "192.0.2.1", "Manual"},
	}
	claims := map[string]*unstructured.Unstructured{}
	var created []*unstructured.Unstructured
	for _, c := range cases {
		claim := cidrClaim(t, ns, c.name, c.provider, c.cidr, c.gateway)
		_ = unstructured.SetNestedField(claim.Object, c.policy, "spec", "crossplane", "compositionUpdatePolicy")
		if err := plane.Kube.Create(ctx, claim); err != nil {
			t.Fatal(err)
		}
		claims[c.name] = claim
		created = append(created, claim)
	}
	machineOnEach(t, ns, created)
	before := addressSnapshot(t, ns)
	kinds := map[string]int{}
	for k := range before {
		kinds[strings.SplitN(k, "/", 2)[0]]++
	}
	t.Logf("compared at each step: %v", kinds)
	if kinds["grid"] == 0 || kinds["Allocation"] == 0 || kinds["IPAddress"] != len(cases) {
		t.Fatalf("the snapshot misses holders: %v", kinds)
	}
	v1 := revisionOf(t, claims["auto-incluster"])
	if got := revisionOf(t, claims["manual-incluster"]); got != v1 {
		t.Fatalf("claims start on revisions %s and %s", v1, got)
	}
	unchanged := func(step string) {
		t.Helper()
		for _, c := range cases {
			waitBound(t, claims[c.name])
		}
		if diff := cmp.Diff(before, addressSnapshot(t, ns)); diff != "" {
			t.Fatalf("%s changed addresses (-before +after):\n%s", step, diff)
		}
	}

	// v0.2.0: the same Compositions with renamed pipeline steps, which is
	// a change of their spec and so a new revision of each.
	root := t.TempDir()
	repo, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(repo, "package", "configuration")
	dst := filepath.Join(root, "package", "configuration")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(src)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(f.Name(), "composition-") {
			b = []byte(strings.ReplaceAll(string(b), "- step: compose-", "- step: v2-compose-"))
		}
		if err := os.WriteFile(filepath.Join(dst, f.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := plane.PublishConfiguration(ctx, root, "v0.2.0"); err != nil {
		t.Fatal(err)
	}
	setConfiguration(t, "v0.2.0")
	v2 := waitLatestRevision(t, "clusteripamclaim", v1)
	t.Logf("claims composed with %s before the upgrade, %s after", v1, v2)
	eventually(t, 3*time.Minute, "Automatic claims on the new revision", func(ctx context.Context) (bool, error) {
		for _, c := range cases {
			if c.policy == "Automatic" && revisionOf(t, claims[c.name]) != v2 {
				return false, nil
			}
		}
		return true, nil
	})
	for _, c := range cases {
		if c.policy == "Manual" {
			if got := revisionOf(t, claims[c.name]); got != v1 {
				t.Errorf("Manual claim %s moved to %s", c.name, got)
			}
		}
	}
	unchanged("the upgrade to v0.2.0")

	// A Manual claim moves when told to.
	for _, c := range cases {
		if c.policy == "Manual" {
			setRevision(t, claims[c.name], v2)
		}
	}
	eventually(t, 3*time.Minute, "Manual claims on the revision they name", func(ctx context.Context) (bool, error) {
		for _, c := range cases {
			if revisionOf(t, claims[c.name]) != v2 {
				return false, nil
			}
		}
		return true, nil
	})
	unchanged("moving the Manual claims")

	// Rolling back to v0.1.0 makes the first Compositions current again;
	// Automatic claims follow, Manual ones stay where they were told.
	setConfiguration(t, localplane.PackageVersion)
	eventually(t, 3*time.Minute, "Automatic claims back on the first revision", func(ctx context.Context) (bool, error) {
		for _, c := range cases {
			want := v1
			if c.policy == "Manual" {
				want = v2
			}
			if revisionOf(t, claims[c.name]) != want {
				return false, nil
			}
		}
		return true, nil
	})
	unchanged("the rollback to v0.1.0")
}

// cidrClaim is a ClusterIPAMClaim ns/name (not yet created) of provider
// over cidr with gateway, for a cluster named after it that does not
// exist: in-cluster it holds the whole space, on Infoblox two addresses.
func cidrClaim(t *testing.T, ns, name, provider, cidr, gateway string) *unstructured.Unstructured {
	t.Helper()
	claim := example(t, "clusteripamclaim-in-cluster-cidr.yaml", ns)
	claim.SetName(name)
	_ = unstructured.SetNestedField(claim.Object, provider, "spec", "provider")
	_ = unstructured.SetNestedField(claim.Object, cidr, "spec", "nodeNetwork", "cidr")
	_ = unstructured.SetNestedField(claim.Object, gateway, "spec", "nodeNetwork", "gateway")
	_ = unstructured.SetNestedField(claim.Object, name+"-cluster", "spec", "cluster")
	return claim
}

// machineOnEach waits for each claim to be bound, has a machine of its
// cluster claim one address from its pool, as CAPV would, and waits until
// every machine has its IPAddress.
func machineOnEach(t *testing.T, ns string, claims []*unstructured.Unstructured) {
	t.Helper()
	for _, c := range claims {
		cfg, _ := nodePool(t, waitBound(t, c))["config"].(map[string]any)
		ac := &capiipamv1beta2.IPAddressClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: c.GetName() + "-machine"},
			Spec: capiipamv1beta2.IPAddressClaimSpec{PoolRef: capiipamv1beta2.IPPoolReference{
				APIGroup: fmt.Sprint(cfg["apiGroup"]), Kind: fmt.Sprint(cfg["kind"]), Name: fmt.Sprint(cfg["name"]),
			}},
		}
		if err := plane.Kube.Create(context.Background(), ac); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 2*time.Minute, "an IPAddress per machine", func(ctx context.Context) (bool, error) {
		l := &capiipamv1beta2.IPAddressList{}
		err := plane.Kube.List(ctx, l, client.InNamespace(ns))
		return err == nil && len(l.Items) == len(claims), err
	})
}

// addressSnapshot is every address the namespace holds, by who holds it.
func addressSnapshot(t *testing.T, ns string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{"allocations": fmt.Sprint(allocationsIn(t, ns))}
	// The ledger, address by address, with each Allocation's holder.
	al := &inclusterv1alpha1.AllocationList{}
	if err := plane.Kube.List(ctx, al, client.Limit(5000)); err != nil {
		t.Fatal(err)
	}
	for _, a := range al.Items {
		if a.Spec.Owner.Namespace == ns {
			out["Allocation/"+a.Name] = a.Spec.Owner.Name + " " + string(a.Spec.Owner.UID)
		}
	}
	// The grid, as the emulator holds it.
	for a, owner := range fixedAddressesIn("", ns) {
		out["grid/"+a] = owner
	}
	ipams := &unstructured.UnstructuredList{}
	ipams.SetGroupVersionKind(schema.GroupVersionKind{Group: "k0rdent.mirantis.com", Version: "v1beta1", Kind: "ClusterIPAMList"})
	if err := plane.Kube.List(ctx, ipams, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range ipams.Items {
		addrs, _ := nodePool(t, &ipams.Items[i])["addresses"].([]any)
		out["ClusterIPAM/"+ipams.Items[i].GetName()] = fmt.Sprint(addrs)
	}
	in := &inclusterv1alpha1.ReservationList{}
	if err := plane.Kube.List(ctx, in, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range in.Items {
		out["Reservation.incluster/"+in.Items[i].Name] = meta.GetExternalName(&in.Items[i])
	}
	ib := &infobloxv1alpha1.ReservationList{}
	if err := plane.Kube.List(ctx, ib, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range ib.Items {
		out["Reservation.infoblox/"+ib.Items[i].Name] = meta.GetExternalName(&ib.Items[i]) + " " + ib.Items[i].Status.AtProvider.Address
	}
	ips := &capiipamv1beta2.IPAddressList{}
	if err := plane.Kube.List(ctx, ips, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, a := range ips.Items {
		out["IPAddress/"+a.Name] = a.Spec.Address
	}
	return out
}

// revisionOf is the CompositionRevision the XR is composed with.
func revisionOf(t *testing.T, xr *unstructured.Unstructured) string {
	t.Helper()
	cur, err := get(context.Background(), xr)
	if err != nil {
		t.Fatal(err)
	}
	return str(cur, "spec", "crossplane", "compositionRevisionRef", "name")
}

func setRevision(t *testing.T, xr *unstructured.Unstructured, name string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := get(context.Background(), xr)
		if err != nil {
			return err
		}
		_ = unstructured.SetNestedField(cur.Object, name, "spec", "crossplane", "compositionRevisionRef", "name")
		return plane.Kube.Update(context.Background(), cur)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func setConfiguration(t *testing.T, version string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := get(context.Background(), obj(configurationGVK, "", localplane.ConfigurationName))
		if err != nil {
			return err
		}
		_ = unstructured.SetNestedField(cur.Object, localplane.ConfigurationPackage(version), "spec", "package")
		return plane.Kube.Update(context.Background(), cur)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitLatestRevision waits until composition's latest CompositionRevision
// is another than old, and returns its name.
func waitLatestRevision(t *testing.T, composition, old string) string {
	t.Helper()
	var latest string
	eventually(t, 3*time.Minute, "a new revision of Composition "+composition, func(ctx context.Context) (bool, error) {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(compositionRevisionGVK.GroupVersion().WithKind("CompositionRevisionList"))
		if err := plane.Kube.List(ctx, l, client.MatchingLabels{"crossplane.io/composition-name": composition}); err != nil {
			return false, err
		}
		slices.SortFunc(l.Items, func(a, b unstructured.Unstructured) int {
			ra, _, _ := unstructured.NestedInt64(a.Object, "spec", "revision")
			rb, _, _ := unstructured.NestedInt64(b.Object, "spec", "revision")
			return int(ra - rb)
		})
		if len(l.Items) == 0 {
			return false, nil
		}
		latest = l.Items[len(l.Items)-1].GetName()
		return latest != old, nil
	})
	return latest
}
