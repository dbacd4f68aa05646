// Package xpkg builds provider-ipam's three Crossplane packages offline: the
// provider and the function, each with an embedded runtime image of its
// static binary per platform, and the configuration. `make xpkg` (through
// hack/xpkg) and the local control plane use it.
//
// The artifacts follow crank's multi-platform workflow: one .xpkg file per
// package and platform for the provider and the function (crank embeds one
// runtime image per package file), one for the configuration, which has no
// runtime. `crank xpkg push -f <amd64>.xpkg,<arm64>.xpkg <ref>` pushes a
// package's files as one OCI image index; Push does the same.
package xpkg

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Platform is an operating system and architecture a runtime image is built
// for.
type Platform struct{ OS, Arch string }

func (p Platform) String() string { return p.OS + "_" + p.Arch }

// Platforms are those every runtime image is built for: the binaries are
// pure Go, and management clusters run on both.
var Platforms = []Platform{{"linux", "amd64"}, {"linux", "arm64"}}

// Package is one of the three packages.
type Package struct {
	// Name is the package's metadata.name, which also names its files.
	Name string
	// Root is the package root, relative to the repository.
	Root string
	// Ignore are paths under Root that belong to other packages.
	Ignore []string
	// Command is the Go package of the runtime binary, relative to the
	// repository; empty for the configuration, which has no runtime.
	Command string
	// Entrypoint is where the binary lies in the runtime image.
	Entrypoint string
}

// The three packages, in the order they depend on each other.
var (
	Provider = Package{
		Name: "provider-ipam", Root: "package",
		// package/ is the provider's root and holds the two other packages.
		Ignore:  []string{"function/*", "configuration/*"},
		Command: "./cmd/provider", Entrypoint: "/usr/local/bin/provider",
	}
	Function = Package{
		Name: "function-provider-ipam", Root: "package/function",
		Command: "./cmd/function", Entrypoint: "/usr/local/bin/function",
	}
	Configuration = Package{Name: "configuration-provider-ipam", Root: "package/configuration"}
	Packages      = []Package{Provider, Function, Configuration}
)

// Options say where the sources, the output and crank are.
type Options struct {
	// Root is the repository.
	Root string
	// Out receives the package files, and binaries and runtime images under
	// build/.
	Out string
	// Version is the packages' version, which names their files.
	Version string
	// Crank is the crank binary.
	Crank string
	// Platforms default to Platforms.
	Platforms []Platform
	// Packages to build; all three when empty.
	Packages []Package
	// PackageRoot holds the package directories (package/...); Root when
	// empty. The binaries are always built from Root.
	PackageRoot string
}

// Artifact is a built package: one file per platform, or one file for the
// configuration.
type Artifact struct {
	Package Package
	// Files maps a platform to its package file; the configuration's one
	// file is under the zero Platform.
	Files map[Platform]string
	// Binaries maps a platform to the runtime binary its package embeds;
	// the configuration has none.
	Binaries map[Platform]string
}

// Paths lists the artifact's files in a stable order.
func (a Artifact) Paths() []string {
	var out []string
	for _, p := range append([]Platform{{}}, Platforms...) {
		if f, ok := a.Files[p]; ok {
			out = append(out, f)
		}
	}
	return out
}

// FileName is the package file of pkg at version for platform p (the zero
// Platform for the configuration).
func FileName(pkg Package, version string, p Platform) string {
	if p == (Platform{}) {
		return fmt.Sprintf("%s-%s.xpkg", pkg.Name, version)
	}
	return fmt.Sprintf("%s-%s-%s.xpkg", pkg.Name, version, p)
}

// Build builds every package.
func Build(ctx context.Context, o Options) ([]Artifact, error) {
	if len(o.Platforms) == 0 {
		o.Platforms = Platforms
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	// crank would otherwise take ./examples, the seed's YAML, as the
	// package's examples: those belong to the repository, not a package.
	noExamples := filepath.Join(o.Out, "build", "no-examples")
	if err := os.MkdirAll(noExamples, 0o755); err != nil {
		return nil, err
	}
	pkgs := o.Packages
	if len(pkgs) == 0 {
		pkgs = Packages
	}
	var out []Artifact
	for _, pkg := range pkgs {
		a := Artifact{Package: pkg, Files: map[Platform]string{}, Binaries: map[Platform]string{}}
		if pkg.Command == "" {
			f := filepath.Join(o.Out, FileName(pkg, o.Version, Platform{}))
			if err := crankBuild(ctx, o, pkg, noExamples, "", f); err != nil {
				return nil, err
			}
			a.Files[Platform{}] = f
			out = append(out, a)
			continue
		}
		for _, p := range o.Platforms {
			dir := filepath.Join(o.Out, "build", p.String())
			bin := filepath.Join(dir, filepath.Base(pkg.Entrypoint))
			if err := goBuild(ctx, o.Root, pkg.Command, p, bin); err != nil {
				return nil, err
			}
			img, err := RuntimeImage(bin, pkg.Entrypoint, p)
			if err != nil {
				return nil, fmt.Errorf("cannot assemble the runtime image of %s for %s: %w", pkg.Name, p, err)
			}
			imgFile := filepath.Join(dir, pkg.Name+"-runtime.tar")
			tag, err := name.NewTag(fmt.Sprintf("%s-runtime:%s", pkg.Name, o.Version))
			if err != nil {
				return nil, err
			}
			if err := tarball.WriteToFile(imgFile, tag, img); err != nil {
				return nil, fmt.Errorf("cannot write the runtime image of %s for %s: %w", pkg.Name, p, err)
			}
			f := filepath.Join(o.Out, FileName(pkg, o.Version, p))
			if err := crankBuild(ctx, o, pkg, noExamples, imgFile, f); err != nil {
				return nil, err
			}
			a.Files[p] = f
			a.Binaries[p] = bin
		}
		out = append(out, a)
	}
	return out, nil
}

func goBuild(ctx context.Context, root, cmdPkg string, p Platform, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, cmdPkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s: %w\n%s", cmdPkg, p, err, b)
	}
	return nil
}

func crankBuild(ctx context.Context, o Options, pkg Package, examples, runtimeImage, out string) error {
	pkgRoot := o.PackageRoot
	if pkgRoot == "" {
		pkgRoot = o.Root
	}
	args := []string{"xpkg", "build", "--package-root=" + filepath.Join(pkgRoot, pkg.Root), "--examples-root=" + examples, "--package-file=" + out}
	if len(pkg.Ignore) > 0 {
		args = append(args, "--ignore="+strings.Join(pkg.Ignore, ","))
	}
	if runtimeImage != "" {
		args = append(args, "--embed-runtime-image-tarball="+runtimeImage)
	}
	cmd := exec.CommandContext(ctx, o.Crank, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("crank %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// RuntimeImage is an image of nothing but the static binary bin at
// entrypoint, for platform p, run as an unprivileged user. Files and the
// configuration carry no timestamps, so the same binary gives the same
// image digest.
func RuntimeImage(bin, entrypoint string, p Platform) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// The directories first, so that every runtime sees them with sane
	// permissions rather than inferring them.
	parts := strings.Split(strings.TrimPrefix(filepath.Dir(entrypoint), "/"), "/")
	for i := range parts {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(parts[:i+1], "/") + "/", Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(entrypoint, "/"), Mode: 0o755, Size: int64(len(data))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = p.OS, p.Arch
	// 65532 is distroless's nonroot user, which Crossplane's default
	// Deployment security context (runAsNonRoot) accepts.
	cfg.Config.User = "65532:65532"
	cfg.Config.Entrypoint = []string{entrypoint}
	return mutate.ConfigFile(img, cfg)
}

// Push pushes an artifact to ref with crank: the files of several platforms
// become one OCI image index, as `crank xpkg push -f a.xpkg,b.xpkg` makes
// it, and crank annotates the package layer (io.crossplane.xpkg: base),
// which is how Crossplane finds package.yaml in the image.
func Push(ctx context.Context, crank string, a Artifact, ref string) error {
	args := []string{"xpkg", "push", "-f", strings.Join(a.Paths(), ","), ref}
	if b, err := exec.CommandContext(ctx, crank, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("crank %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}
