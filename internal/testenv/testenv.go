// Package testenv starts a real kube-apiserver and etcd (built from pinned Go
// modules into bin/ by cluster/local/tool.sh) with provider-ipam's CRDs, for
// integration tests, benchmarks and the demo.
package testenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
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

// capiCRDs are the Cluster API CRDs the IPAM contract needs: the claims and
// addresses, and Cluster for its paused flag. Only these: the rest would
// drag in CRDs that need CAPI's conversion webhooks.
var capiCRDs = []string{
	"ipam.cluster.x-k8s.io_ipaddressclaims.yaml",
	"ipam.cluster.x-k8s.io_ipaddresses.yaml",
	"cluster.x-k8s.io_clusters.yaml",
}

// CAPICRDDir returns a new temporary directory holding the CAPI CRDs of the
// IPAM contract, copied from the sigs.k8s.io/cluster-api module go.mod pins.
// Pass it to Start; the caller removes it when done.
func CAPICRDDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/cluster-api").Output()
	if err != nil {
		return "", fmt.Errorf("cannot locate the sigs.k8s.io/cluster-api module (go list -m): %w", err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "bases")
	dir, err := os.MkdirTemp("", "capi-crds-")
	if err != nil {
		return "", err
	}
	for _, f := range capiCRDs {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, f), b, 0o600)
		}
		if err != nil {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("cannot copy CAPI CRD %s: %w", f, err)
		}
	}
	return dir, nil
}

// Scheme knows client-go's kinds, provider-ipam's and CAPI's IPAM kinds.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := apis.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := capiipamv1beta2.AddToScheme(s); err != nil {
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
	return StartCRDs(append([]string{filepath.Join(root, "package", "crds")}, extraCRDDirs...)...)
}

// StartCRDs runs kube-apiserver and etcd with the CRDs of the given
// directories only: where Crossplane installs provider-ipam's from its
// package.
func StartCRDs(crdDirs ...string) (*Env, error) {
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
		CRDDirectoryPaths:     crdDirs,
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

// ClusterCRDDir copies into a new temporary directory the CRDs of what a
// vSphere ClusterDeployment composes: MachineDeployment,
// KubeadmControlPlane and KubeadmConfigTemplate from the CAPI module, and
// VSphereCluster and VSphereMachineTemplate from CAPV v1.14.0, whose module
// is only downloaded for its YAML (its Go module pins an older CAPI). The
// caller removes the directory.
func ClusterCRDDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/cluster-api").Output()
	if err != nil {
		return "", fmt.Errorf("cannot locate the sigs.k8s.io/cluster-api module (go list -m): %w", err)
	}
	capi := strings.TrimSpace(string(out))
	js, err := exec.Command("go", "mod", "download", "-json", capvModule).Output()
	if err != nil {
		return "", fmt.Errorf("cannot download %s: %w", capvModule, err)
	}
	var capv struct{ Dir string }
	if err := json.Unmarshal(js, &capv); err != nil || capv.Dir == "" {
		return "", fmt.Errorf("cannot locate %s: %v", capvModule, err)
	}
	files := []string{
		filepath.Join(capi, "config", "crd", "bases", "cluster.x-k8s.io_machinedeployments.yaml"),
		filepath.Join(capi, "controlplane", "kubeadm", "config", "crd", "bases", "controlplane.cluster.x-k8s.io_kubeadmcontrolplanes.yaml"),
		filepath.Join(capi, "bootstrap", "kubeadm", "config", "crd", "bases", "bootstrap.cluster.x-k8s.io_kubeadmconfigtemplates.yaml"),
		filepath.Join(capv.Dir, "config", "default", "crd", "bases", "infrastructure.cluster.x-k8s.io_vsphereclusters.yaml"),
		filepath.Join(capv.Dir, "config", "default", "crd", "bases", "infrastructure.cluster.x-k8s.io_vspheremachinetemplates.yaml"),
	}
	dir, err := os.MkdirTemp("", "cluster-crds-")
	if err != nil {
		return "", err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600)
		}
		if err != nil {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("cannot copy CRD %s: %w", f, err)
		}
	}
	return dir, nil
}

// capvModule holds the CAPV CRDs the e2e control plane serves.
const capvModule = "sigs.k8s.io/cluster-api-provider-vsphere@v1.14.0"
