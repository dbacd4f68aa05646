// Package localplane runs provider-ipam's whole stack on loopback: a real
// kube-apiserver and etcd, Crossplane core v2 out-of-cluster with the
// External package runtime, a loopback OCI registry the three packages are
// installed from (one Configuration applied, its dependencies resolved by
// Crossplane), the composition function served over Crossplane's mTLS, the
// provider, and the Infoblox WAPI emulator. test/e2e and `make demo` use
// it. Every binary comes from bin/, built by cluster/local/tool.sh.
package localplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/provider-ipam/provider-ipam/internal/testenv"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

// Names Crossplane and the harness agree on.
const (
	CrossplaneNamespace = "crossplane-system"
	rootCASecret        = "crossplane-root-ca"
	serverSecret        = "crossplane-tls-server"
	clientSecret        = "crossplane-tls-client"
)

// WAPI credentials of the emulator; only ever used on loopback.
const (
	WAPIUsername = "admin"
	WAPIPassword = "infoblox"
)

// Options choose what to run beside the API server.
type Options struct {
	// Dir holds logs, kubeconfig and certificates. Default: _output/<Name>.
	Dir string
	// Name of the run, for the default Dir.
	Name string
	// ExtraCRDDirs are installed with the API server (with provider-ipam's
	// CRDs unless Crossplane installs them).
	ExtraCRDDirs []string
	// Crossplane runs Crossplane core and the registry, and installs the
	// Configuration package, which installs the Provider and the Function;
	// the provider and the function then run as their packages' runtime,
	// from the binaries those packages embed (built from the working tree).
	Crossplane bool
	// Provider runs bin/provider without Crossplane, on CRDs installed
	// from package/crds. With Crossplane the provider always runs.
	Provider bool
	// ProviderArgs are appended to the provider's flags, overriding its
	// defaults here (e.g. a metrics address for a benchmark).
	ProviderArgs []string
	// OwnAddressPolicy leaves the in-cluster address-space policy to the
	// caller (the demo applies the one of examples/). Otherwise, with the
	// provider running, the default ClusterProviderConfig lets every
	// namespace draw from testenv.TestAddressSpaces, as the end-to-end tests
	// and benchmarks need: a fresh install allows nothing.
	OwnAddressPolicy bool
}

// Plane is a running stack.
type Plane struct {
	Env        *testenv.Env
	Kube       client.Client
	Kubeconfig string
	WAPI       *wapisim.Server
	Dir        string

	root  string
	procs []*proc
	// runtimes are the binaries of the packages last built, by name: the
	// processes run for package revisions are these, the code their
	// packages carry, not whatever bin/ held when the plane started.
	runtimes map[string]string
	// registry is the loopback OCI registry packages are pushed to.
	registry string
	// provider is the provider process run for the active
	// ProviderRevision, with the flags it is run with.
	provider     providerRun
	providerArgs []string
}

// Start brings the stack up. On error, whatever was started is stopped.
func Start(ctx context.Context, o Options) (p *Plane, err error) {
	root, err := testenv.Root()
	if err != nil {
		return nil, err
	}
	if o.Dir == "" {
		o.Dir = filepath.Join(root, "_output", o.Name)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	var env *testenv.Env
	if o.Crossplane {
		// Crossplane delivers provider-ipam's CRDs from its package.
		env, err = testenv.StartCRDs(o.ExtraCRDDirs...)
	} else {
		env, err = testenv.Start(o.ExtraCRDDirs...)
	}
	if err != nil {
		return nil, err
	}
	p = &Plane{Env: env, Dir: o.Dir, root: root}
	defer func() {
		if err != nil {
			p.Stop()
			p = nil
		}
	}()
	if p.Kube, err = client.New(env.Config, client.Options{Scheme: env.Scheme}); err != nil {
		return p, err
	}
	if p.Kubeconfig, err = writeKubeconfig(env.Environment, filepath.Join(o.Dir, "kubeconfig")); err != nil {
		return p, err
	}
	if err := p.startGarbageCollector(); err != nil {
		return p, err
	}
	if err := p.startWAPI(); err != nil {
		return p, err
	}
	if o.Crossplane {
		if err := p.startCrossplane(ctx, o.ProviderArgs); err != nil {
			return p, err
		}
	} else if o.Provider {
		if err := p.startProvider(o.ProviderArgs...); err != nil {
			return p, err
		}
	}
	if (o.Crossplane || o.Provider) && !o.OwnAddressPolicy {
		// With Crossplane the CRD comes with the provider's package; the
		// client learns of it on the next discovery.
		err := p.wait(ctx, time.Minute, "the in-cluster address-space policy", func(ctx context.Context) (bool, error) {
			err := testenv.AllowTestAddressSpaces(ctx, p.Kube)
			return err == nil, nil
		})
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

// Stop stops every process, then the API server.
func (p *Plane) Stop() {
	for i := len(p.procs) - 1; i >= 0; i-- {
		p.procs[i].stop()
	}
	if p.WAPI != nil {
		_ = p.WAPI.Close()
	}
	_ = p.Env.Stop()
}

// Check reports a process of the stack that has died, so that a test
// fails with its log instead of timing out.
func (p *Plane) Check() error {
	for _, pr := range p.procs {
		if err, ended := pr.exited(); ended && !strings.HasPrefix(pr.name, "crossplane-init") {
			return fmt.Errorf("%s exited: %v (see %s)", pr.name, err, pr.log.Name())
		}
	}
	return nil
}

func (p *Plane) bin(name string) (string, error) {
	if b, ok := p.runtimes[name]; ok {
		return b, nil
	}
	b := filepath.Join(p.root, "bin", name)
	if _, err := os.Stat(b); err != nil {
		return "", fmt.Errorf("%s not found: run `make tools build` (it builds it from the pinned Go modules)", b)
	}
	return b, nil
}

func (p *Plane) start(name string, env []string, binName string, args ...string) (*proc, error) {
	b, err := p.bin(binName)
	if err != nil {
		return nil, err
	}
	pr, err := startProc(p.Dir, name, append([]string{"KUBECONFIG=" + p.Kubeconfig}, env...), b, args...)
	if err != nil {
		return nil, err
	}
	p.procs = append(p.procs, pr)
	return pr, nil
}

func writeKubeconfig(env *envtest.Environment, path string) (string, error) {
	u, err := env.ControlPlane.AddUser(envtest.User{Name: "localplane-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("cannot create an admin user: %w", err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, kc, 0o600)
}

// startGarbageCollector runs kube-controller-manager's garbage collector
// alone: Crossplane deletes composed resources through owner references,
// which nothing else acts on here.
func (p *Plane) startGarbageCollector() error {
	_, err := p.start("kube-controller-manager", nil, "kube-controller-manager",
		"--kubeconfig="+p.Kubeconfig, "--controllers=garbagecollector", "--leader-elect=false", "--secure-port=0")
	return err
}

func (p *Plane) startWAPI() error {
	p.WAPI = wapisim.New(wapisim.Config{Username: WAPIUsername, Password: WAPIPassword})
	if err := p.WAPI.Start("127.0.0.1:0"); err != nil {
		return fmt.Errorf("cannot start the WAPI emulator: %w", err)
	}
	// The networks of examples/ and of the end-to-end tests.
	for _, n := range []struct{ cidr, gw string }{{"192.0.2.0/24", "192.0.2.1"}, {"198.51.100.0/24", "198.51.100.1"}, {"10.12.0.0/24", "10.12.0.1"}} {
		if _, err := p.WAPI.AddNetwork("default", n.cidr, wapisim.NetworkOptions{Gateway: n.gw}); err != nil {
			return err
		}
	}
	return nil
}

func (p *Plane) startProvider(extra ...string) error {
	_, err := p.startProviderAs("provider", extra...)
	return err
}

// startProviderAs runs the provider logging to <logName>.log; PID finds it
// as "provider".
func (p *Plane) startProviderAs(logName string, extra ...string) (*proc, error) {
	// One process, not a pod: no leader election (its default in a pod),
	// unless extra asks for it.
	args := append([]string{"--metrics-bind-address=0", "--health-probe-bind-address=0", "--poll=30s", "--leader-election=false"}, extra...)
	pr, err := p.start(logName, nil, "provider", args...)
	if err != nil {
		return nil, err
	}
	pr.name = "provider"
	return pr, nil
}

// StartProcess runs bin/binName with the plane's kubeconfig in its
// environment, logging to <Dir>/<name>.log, until Stop.
func (p *Plane) StartProcess(name, binName string, args ...string) error {
	_, err := p.start(name, nil, binName, args...)
	return err
}

// PID is the process ID of the process called name, 0 if there is none.
func (p *Plane) PID(name string) int {
	for _, pr := range p.procs {
		if pr.name == name {
			return pr.cmd.Process.Pid
		}
	}
	return 0
}

// FreePort returns a loopback port nobody listens on at the moment.
func FreePort() (int, error) { return freePort() }

func (p *Plane) startCrossplane(ctx context.Context, providerArgs []string) error {
	crds, err := crossplaneCRDs(p.root)
	if err != nil {
		return err
	}
	if err := p.Kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: CrossplaneNamespace}}); client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	noWebhooks := filepath.Join(p.Dir, "webhookconfigurations")
	if err := os.MkdirAll(noWebhooks, 0o755); err != nil {
		return err
	}
	env := []string{"POD_NAMESPACE=" + CrossplaneNamespace}
	if err := p.initCrossplane(env, crds, noWebhooks); err != nil {
		return err
	}

	serverDir, err := p.secretToDir(ctx, serverSecret, "crossplane-server-certs")
	if err != nil {
		return err
	}
	clientDir, err := p.secretToDir(ctx, clientSecret, "crossplane-client-certs")
	if err != nil {
		return err
	}
	// Crossplane caches packages as it parses them; without the directory
	// the parse fails with a bare "read/write on closed pipe".
	cache := filepath.Join(p.Dir, "xpkg-cache")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	if err := p.startCrossplaneCore(env, cache, serverDir, clientDir); err != nil {
		return err
	}
	return p.installPackages(ctx, providerArgs)
}

// initCrossplane runs `crossplane core init`: CRDs, TLS secrets, the
// package lock. It creates CRDs and may use one before the API server
// serves it ("no matches for kind"); it is idempotent, so try again.
func (p *Plane) initCrossplane(env []string, crds, noWebhooks string) error {
	var err error
	for attempt := range 5 {
		var ini *proc
		ini, err = p.start(fmt.Sprintf("crossplane-init-%d", attempt), env, "crossplane", "core", "init",
			"--cr-ds-path="+crds, "--webhook-configurations-path="+noWebhooks,
			"--tlsca-secret-name="+rootCASecret, "--tls-server-secret-name="+serverSecret, "--tls-client-secret-name="+clientSecret)
		if err != nil {
			return err
		}
		select {
		case err = <-ini.done:
			ini.done <- err
		case <-time.After(3 * time.Minute):
			return fmt.Errorf("crossplane core init did not finish (see %s)", ini.log.Name())
		}
		if err == nil {
			return nil
		}
		err = fmt.Errorf("crossplane core init: %w (see %s)", err, ini.log.Name())
		time.Sleep(2 * time.Second)
	}
	return err
}

// startCrossplaneCore runs `crossplane core start`. Its servers bind ports
// chosen free a moment before; if one was taken meanwhile it exits at once,
// and is started again on other ports.
func (p *Plane) startCrossplaneCore(env []string, cache, serverDir, clientDir string) error {
	for attempt := range 3 {
		var ports []int
		for len(ports) < 3 {
			port, err := freePort()
			if err != nil {
				return err
			}
			if !slices.Contains(ports, port) {
				ports = append(ports, port)
			}
		}
		pr, err := p.start(fmt.Sprintf("crossplane-%d", attempt), append(env, "XPKG_CACHE_DIR="+cache), "crossplane", "core", "start",
			"--package-runtime=External",
			"--tls-server-certs-dir="+serverDir, "--tls-client-certs-dir="+clientDir,
			fmt.Sprintf("--webhook-port=%d", ports[0]), fmt.Sprintf("--metrics-port=%d", ports[1]), fmt.Sprintf("--health-probe-port=%d", ports[2]),
			"--poll-interval=15s", "--debug")
		if err != nil {
			return err
		}
		if err := waitListening(pr, fmt.Sprintf("127.0.0.1:%d", ports[2]), time.Minute); err != nil {
			if _, ended := pr.exited(); ended {
				p.procs = slices.DeleteFunc(p.procs, func(x *proc) bool { return x == pr })
				pr.stop()
				continue
			}
			return err
		}
		return nil
	}
	return errors.New("crossplane core start failed three times (see crossplane-*.log)")
}

// crossplaneCRDs is Crossplane's own CRD directory, in the pinned module.
func crossplaneCRDs(root string) (string, error) {
	dir, err := toolModuleDir(root, "crossplane", "github.com/crossplane/crossplane/v2")
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "cluster", "crds"), nil
}

// secretToDir writes a TLS Secret's tls.crt, tls.key and ca.crt to a
// directory, where Crossplane's --tls-*-certs-dir flags expect them.
func (p *Plane) secretToDir(ctx context.Context, name, dir string) (string, error) {
	s := &corev1.Secret{}
	if err := p.Kube.Get(ctx, types.NamespacedName{Namespace: CrossplaneNamespace, Name: name}, s); err != nil {
		return "", fmt.Errorf("cannot read secret %s written by crossplane core init: %w", name, err)
	}
	d := filepath.Join(p.Dir, dir)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", err
	}
	for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if err := os.WriteFile(filepath.Join(d, k), s.Data[k], 0o600); err != nil {
			return "", err
		}
	}
	return d, nil
}

// ReadObjects decodes every YAML document of the .yaml files under dir (or
// of dir itself if it is a file), except those named in skip.
func ReadObjects(dir string, skip ...string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		for _, s := range skip {
			if d.Name() == s {
				return nil
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return fmt.Errorf("%s: %w", path, err)
			}
			if len(u.Object) > 0 {
				out = append(out, u)
			}
		}
	})
	return out, err
}

// wait polls cond until it holds, failing early if a process died.
func (p *Plane) wait(ctx context.Context, timeout time.Duration, what string, cond func(context.Context) (bool, error)) error {
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := p.Check(); err != nil {
			return false, err
		}
		return cond(ctx)
	})
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

func conditionTrue(u *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ && m["status"] == "True" {
			return true
		}
	}
	return false
}
