// Package testenv starts a real kube-apiserver and etcd (built from pinned Go
// modules into bin/ by cluster/local/tool.sh) with provider-ipam's CRDs, for
// integration tests, benchmarks and the demo.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/provider-ipam/provider-ipam/apis"
)

// Root is the repository root: the nearest directory above the working
// directory that holds go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Scheme knows client-go's kinds and provider-ipam's.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := apis.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	Config *rest.Config
	Scheme *runtime.Scheme
}

// Start runs kube-apiserver and etcd from bin/ (or KUBEBUILDER_ASSETS) with
// the CRDs of package/crds and of extra directories.
func Start(extraCRDDirs ...string) (*Env, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(root, "bin")
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run `make tools` (it builds it from the pinned Go modules)", b, assets)
		}
	}
	s, err := Scheme()
	if err != nil {
		return nil, err
	}
	e := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     append([]string{filepath.Join(root, "package", "crds")}, extraCRDDirs...),
		ErrorIfCRDPathMissing: true,
		Scheme:                s,
	}
	cfg, err := e.Start()
	if err != nil {
		return nil, fmt.Errorf("cannot start kube-apiserver and etcd: %w", err)
	}
	// Tests create hundreds of objects at once; client-go's default of 5 QPS
	// would measure the client, not the provider.
	cfg.QPS, cfg.Burst = 1000, 2000
	return &Env{Environment: e, Config: cfg, Scheme: s}, nil
}
