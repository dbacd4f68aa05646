package e2e

import (
	"context"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/provider-ipam/provider-ipam/internal/localplane"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// The plane applied one Configuration and nothing of provider-ipam by hand:
// the three packages are Installed and Healthy, the provider's CRDs belong
// to Crossplane's provider package (directly or through the
// ManagedResourceDefinitions it made of them), and the XRDs and
// Compositions to the configuration's revision.
func TestInstalledAsPackages(t *testing.T) {
	ctx := context.Background()
	pkgs, err := plane.Packages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 3 {
		t.Fatalf("%d packages, want the Configuration, the Provider and the Function", len(pkgs))
	}
	for _, s := range pkgs {
		if !s.Installed || !s.Healthy {
			t.Errorf("%s %s: installed %t, healthy %t: %s", s.Kind, s.Name, s.Installed, s.Healthy, s.Message)
		}
	}

	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	crds, err := localplane.ReadObjects(filepath.Join(root, "package", "crds"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range crds {
		cur, err := get(ctx, c)
		if err != nil {
			t.Fatalf("CRD %s: %v", c.GetName(), err)
		}
		if owner := ownerKind(cur); owner != "ProviderRevision" && owner != "ManagedResourceDefinition" {
			t.Errorf("CRD %s is owned by %q, want Crossplane's ProviderRevision or a ManagedResourceDefinition", c.GetName(), owner)
		}
	}
	for _, kind := range []string{"CompositeResourceDefinition", "Composition"} {
		l := &unstructured.UnstructuredList{}
		l.SetAPIVersion("apiextensions.crossplane.io/v1")
		if kind == "CompositeResourceDefinition" {
			l.SetAPIVersion("apiextensions.crossplane.io/v2")
		}
		l.SetKind(kind + "List")
		if err := plane.Kube.List(ctx, l); err != nil {
			t.Fatal(err)
		}
		if len(l.Items) == 0 {
			t.Errorf("no %s", kind)
		}
		for i := range l.Items {
			if owner := ownerKind(&l.Items[i]); owner != "ConfigurationRevision" {
				t.Errorf("%s %s is owned by %q, want the ConfigurationRevision", kind, l.Items[i].GetName(), owner)
			}
		}
	}
}

// ownerKind is the kind of the object's controller.
func ownerKind(u *unstructured.Unstructured) string {
	for _, o := range u.GetOwnerReferences() {
		if o.Controller != nil && *o.Controller {
			return o.Kind
		}
	}
	return ""
}
