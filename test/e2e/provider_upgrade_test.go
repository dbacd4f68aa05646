package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// A provider package upgrade (v0.1.0 to v0.2.0, whose IPPool CRD gains an
// optional field) replaces the provider's process as a Deployment rollout
// would. Every address and every IPAddress held before it is held after,
// by the same holders; a claim created while the upgrade runs binds; and
// the API server serves the new field.
func TestProviderUpgradeKeepsEveryAddress(t *testing.T) {
	ns := namespace(t, "e2e-provider-upgrade")
	ctx := context.Background()

	var before []*unstructured.Unstructured
	for _, c := range []*unstructured.Unstructured{
		cidrClaim(t, ns, "held-incluster", "in-cluster", "10.61.0.0/24", "10.61.0.1"),
		cidrClaim(t, ns, "held-infoblox", "ipam-infoblox", "192.0.2.0/24", "192.0.2.1"),
	} {
		if err := plane.Kube.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		before = append(before, c)
	}
	machineOnEach(t, ns, before)
	snapshot := addressSnapshot(t, ns)

	// v0.2.0's package: the same, with an optional field added to the
	// IPPool CRD.
	repo, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "package", "crds"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(repo, "package", "crossplane.yaml"), filepath.Join(root, "package", "crossplane.yaml"))
	crds, _ := os.ReadDir(filepath.Join(repo, "package", "crds"))
	for _, f := range crds {
		copyFile(t, filepath.Join(repo, "package", "crds", f.Name()), filepath.Join(root, "package", "crds", f.Name()))
	}
	const pools = "ipam.provider-ipam.io_ippools.yaml"
	crd := &extv1.CustomResourceDefinition{}
	b, err := os.ReadFile(filepath.Join(root, "package", "crds", pools))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, crd); err != nil {
		t.Fatal(err)
	}
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	spec.Properties["note"] = extv1.JSONSchemaProps{Type: "string", Description: "A note for people (added in v0.2.0)."}
	crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
	if b, err = yaml.Marshal(crd); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "package", "crds", pools), b, 0o644); err != nil {
		t.Fatal(err)
	}

	// A claim created while the provider is replaced binds.
	claim := cidrClaim(t, ns, "during-upgrade", "in-cluster", "10.61.1.0/24", "10.61.1.1")
	during := make(chan *unstructured.Unstructured, 1)
	go func() {
		// The package is being built and Crossplane unpacks it: the
		// claim arrives while the old provider may still run, or none.
		time.Sleep(2 * time.Second)
		if err := plane.Kube.Create(context.Background(), claim); err != nil {
			t.Error(err)
			claim = nil
		}
		during <- claim
	}()
	if err := plane.UpgradeProvider(ctx, root, "v0.2.0"); err != nil {
		t.Fatal(err)
	}
	if claim := <-during; claim != nil {
		waitBound(t, claim)
	}

	eventually(t, 2*time.Minute, "the IPPool CRD to serve spec.note", func(ctx context.Context) (bool, error) {
		served, err := get(ctx, obj(extv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"), "", crd.Name))
		if err != nil {
			return false, err
		}
		versions, _, _ := unstructured.NestedSlice(served.Object, "spec", "versions")
		if len(versions) == 0 {
			return false, nil
		}
		_, ok, _ := unstructured.NestedMap(versions[0].(map[string]any), "schema", "openAPIV3Schema", "properties", "spec", "properties", "note")
		return ok, nil
	})
	for _, c := range before {
		waitBound(t, c)
	}
	after := addressSnapshot(t, ns)
	for k := range after {
		if _, ok := snapshot[k]; !ok && k != "allocations" {
			delete(after, k) // what the claim made during the upgrade holds
		}
	}
	// The claim made during the upgrade holds the whole of its /24.
	snapshot["allocations"] = fmt.Sprint(atoi(t, snapshot["allocations"]) + 253)
	if diff := cmp.Diff(snapshot, after); diff != "" {
		t.Fatalf("the provider upgrade changed addresses (-before +after):\n%s", diff)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
