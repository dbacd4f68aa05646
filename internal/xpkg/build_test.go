package xpkg_test

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/provider-ipam/provider-ipam/internal/xpkg"
)

const root = "../.."

// TestBuild builds the three packages as `make xpkg` does and reads each
// file back: its metadata kind, the CRDs, XRDs and Compositions it
// carries, and for the provider and the function a runtime image per
// platform whose binary is built for it. It then pushes each package with
// crank to a registry on loopback and checks that the provider and the
// function become an image index of both platforms.
func TestBuild(t *testing.T) {
	crank, err := filepath.Abs(filepath.Join(root, "bin", "crank"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(crank); err != nil {
		t.Fatalf("%s: run `make tools` (it builds crank from the pinned Go module)", crank)
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	artifacts, err := xpkg.Build(ctx, xpkg.Options{Root: absRoot, Out: t.TempDir(), Version: "v0.1.0", Crank: crank})
	if err != nil {
		t.Fatal(err)
	}
	if len(artifacts) != 3 {
		t.Fatalf("%d artifacts, want 3", len(artifacts))
	}

	crds := filesIn(t, filepath.Join(root, "package", "crds"))
	confObjects := filesIn(t, filepath.Join(root, "package", "configuration"))
	want := map[string]struct {
		kind    string
		objects int // CRDs, XRDs and Compositions the package carries
	}{
		xpkg.Provider.Name:      {"Provider", len(crds)},
		xpkg.Function.Name:      {"Function", 0},
		xpkg.Configuration.Name: {"Configuration", len(confObjects) - 1},
	}
	for _, a := range artifacts {
		w := want[a.Package.Name]
		wantFiles := len(xpkg.Platforms)
		if a.Package.Command == "" {
			wantFiles = 1
		}
		if len(a.Files) != wantFiles {
			t.Errorf("%s: %d files, want %d", a.Package.Name, len(a.Files), wantFiles)
		}
		for p, f := range a.Files {
			img, err := tarball.ImageFromPath(f, nil)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			meta, objs := packageYAML(t, img)
			if meta.GetAPIVersion() != "meta.pkg.crossplane.io/v1" || meta.GetKind() != w.kind || meta.GetName() != a.Package.Name {
				t.Errorf("%s: metadata %s %s %s, want meta.pkg.crossplane.io/v1 %s %s", f, meta.GetAPIVersion(), meta.GetKind(), meta.GetName(), w.kind, a.Package.Name)
			}
			for _, k := range []string{"maintainer", "source", "license", "description", "readme"} {
				if meta.GetAnnotations()["meta.crossplane.io/"+k] == "" {
					t.Errorf("%s: no meta.crossplane.io/%s annotation", f, k)
				}
			}
			if v, _, _ := unstructured.NestedString(meta.Object, "spec", "crossplane", "version"); v != ">=v2.2.0" {
				t.Errorf("%s: crossplane.version %q, want >=v2.2.0 (the version tested)", f, v)
			}
			if len(objs) != w.objects {
				t.Errorf("%s: %d objects besides the metadata, want %d", f, len(objs), w.objects)
			}
			switch w.kind {
			case "Provider":
				var names []string
				for _, o := range objs {
					if o.GetKind() == "CustomResourceDefinition" {
						names = append(names, o.GetName())
					}
				}
				for _, c := range crds {
					// package/crds/<group>_<plural>.yaml holds <plural>.<group>.
					group, plural, _ := strings.Cut(strings.TrimSuffix(c, ".yaml"), "_")
					if !slices.Contains(names, plural+"."+group) {
						t.Errorf("%s: no CRD %s.%s (from package/crds/%s)", f, plural, group, c)
					}
				}
			case "Configuration":
				kinds := map[string]int{}
				for _, o := range objs {
					kinds[o.GetKind()]++
				}
				if kinds["CompositeResourceDefinition"] != 3 || kinds["Composition"] != 4 {
					t.Errorf("%s: %v, want 3 CompositeResourceDefinitions and 4 Compositions", f, kinds)
				}
				checkDependsOn(t, f, meta)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if a.Package.Command == "" {
				continue
			}
			if cfg.OS != p.OS || cfg.Architecture != p.Arch {
				t.Errorf("%s: image for %s/%s, want %s", f, cfg.OS, cfg.Architecture, p)
			}
			if !slices.Equal(cfg.Config.Entrypoint, []string{a.Package.Entrypoint}) {
				t.Errorf("%s: entrypoint %v, want %s", f, cfg.Config.Entrypoint, a.Package.Entrypoint)
			}
			checkBinary(t, f, img, a.Package.Entrypoint, p)
		}
	}

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	for _, a := range artifacts {
		ref := host + "/provider-ipam/" + a.Package.Name + ":v0.1.0"
		if err := xpkg.Push(ctx, crank, a, ref); err != nil {
			t.Fatal(err)
		}
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(r)
		if err != nil {
			t.Fatal(err)
		}
		if a.Package.Command == "" {
			if desc.MediaType.IsIndex() {
				t.Errorf("%s: an index, want the one image of a package without a runtime", ref)
			}
			continue
		}
		idx, err := desc.ImageIndex()
		if err != nil {
			t.Fatalf("%s: not an image index: %v", ref, err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range m.Manifests {
			if d.Platform != nil {
				got = append(got, d.Platform.OS+"_"+d.Platform.Architecture)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, []string{"linux_amd64", "linux_arm64"}) {
			t.Errorf("%s: index of %v, want linux_amd64 and linux_arm64", ref, got)
		}
	}
}

// checkDependsOn wants each dependency in the current form: apiVersion,
// kind, a fully qualified package and a version constraint.
func checkDependsOn(t *testing.T, f string, meta *unstructured.Unstructured) {
	t.Helper()
	deps, _, _ := unstructured.NestedSlice(meta.Object, "spec", "dependsOn")
	kinds := map[string]string{}
	for _, d := range deps {
		m, _ := d.(map[string]any)
		for _, deprecated := range []string{"provider", "function", "configuration"} {
			if _, ok := m[deprecated]; ok {
				t.Errorf("%s: dependency %v uses the deprecated %q key", f, m, deprecated)
			}
		}
		pkg, _ := m["package"].(string)
		// A repository with its registry: the version constraint picks
		// the tag.
		if _, err := name.NewRepository(pkg, name.StrictValidation); err != nil || !strings.HasPrefix(pkg, "xpkg.crossplane.io/") {
			t.Errorf("%s: dependency package %q is not a fully qualified reference: %v", f, pkg, err)
		}
		if m["apiVersion"] != "pkg.crossplane.io/v1" || m["version"] != ">=v0.1.0, <v1.0.0" {
			t.Errorf("%s: dependency %v", f, m)
		}
		kind, _ := m["kind"].(string)
		kinds[kind] = pkg
	}
	if kinds["Provider"] != "xpkg.crossplane.io/provider-ipam/provider-ipam" || kinds["Function"] != "xpkg.crossplane.io/provider-ipam/function-provider-ipam" || len(kinds) != 2 {
		t.Errorf("%s: dependencies %v, want the provider and the function", f, kinds)
	}
}

// packageYAML reads package.yaml from the layer the image's labels mark as
// the package's base, as Crossplane does, and splits off the metadata.
func packageYAML(t *testing.T, img v1.Image) (*unstructured.Unstructured, []*unstructured.Unstructured) {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var base string
	for k, v := range cfg.Config.Labels {
		if v == "base" {
			base = strings.TrimPrefix(k, "io.crossplane.xpkg:")
		}
	}
	h, err := v1.NewHash(base)
	if err != nil {
		t.Fatalf("no package layer labelled base: %v", cfg.Config.Labels)
	}
	l, err := img.LayerByDigest(h)
	if err != nil {
		t.Fatal(err)
	}
	data := fileInLayer(t, l, "package.yaml")
	if data == nil {
		t.Fatal("no package.yaml in the base layer")
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	if len(objs) == 0 {
		t.Fatal("package.yaml is empty")
	}
	return objs[0], objs[1:]
}

// checkBinary wants the entrypoint in the image to be an executable ELF
// file for p's architecture.
func checkBinary(t *testing.T, f string, img v1.Image, entrypoint string, p xpkg.Platform) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[p.Arch]
	for _, l := range layers {
		data := fileInLayer(t, l, strings.TrimPrefix(entrypoint, "/"))
		if data == nil {
			continue
		}
		e, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %s is not an ELF binary: %v", f, entrypoint, err)
		}
		if e.Machine != machine {
			t.Errorf("%s: %s is built for %s, want %s", f, entrypoint, e.Machine, machine)
		}
		return
	}
	t.Errorf("%s: no %s in any layer", f, entrypoint)
}

// fileInLayer is the content of the regular file path in layer l, nil if
// the layer has none.
func fileInLayer(t *testing.T, l v1.Layer, path string) []byte {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == path && h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// filesIn lists the YAML files of dir.
func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, e.Name())
		}
	}
	return out
}
