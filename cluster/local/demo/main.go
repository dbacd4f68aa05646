// Command demo brings up a local control plane (kube-apiserver and etcd
// built from pinned Go modules), the provider and the Infoblox WAPI
// emulator, applies examples/, prints what was allocated and how to explore
// it, and stays up until interrupted. DEMO_ONCE=1 exits after the table,
// non-zero if anything failed to bind.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/feature"
	"github.com/crossplane/crossplane-runtime/v2/pkg/logging"
	"github.com/crossplane/crossplane-runtime/v2/pkg/ratelimiter"

	ipamcontroller "github.com/provider-ipam/provider-ipam/internal/controller"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

// managedKinds are the kinds whose objects the table lists, with the field
// holding their addresses. A kind whose CRD is not installed is skipped.
var managedKinds = []struct {
	backend string
	gvk     schema.GroupVersionKind
}{
	{"in-cluster", schema.GroupVersionKind{Group: "incluster.ipam.provider-ipam.io", Version: "v1alpha1", Kind: "Reservation"}},
	{"infoblox", schema.GroupVersionKind{Group: "infoblox.ipam.provider-ipam.io", Version: "v1alpha1", Kind: "Reservation"}},
}

func main() {
	code, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
	}
	os.Exit(code)
}

func run() (int, error) {
	root, err := testenv.Root()
	if err != nil {
		return 1, err
	}
	out := filepath.Join(root, "_output", "demo")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 1, err
	}
	kubectl := filepath.Join(root, "bin", "kubectl")
	fmt.Printf("kubectl: %s, built from k8s.io/kubernetes (the pinned module kube-apiserver comes from) by `make tools`\n", kubectl)

	fmt.Println("starting kube-apiserver and etcd ...")
	env, err := testenv.Start()
	if err != nil {
		return 1, err
	}
	defer func() { _ = env.Stop() }()
	kubeconfig, err := writeKubeconfig(env.Environment, filepath.Join(out, "kubeconfig"))
	if err != nil {
		return 1, err
	}

	wapi := wapisim.New(wapisim.Config{Username: "admin", Password: "infoblox"})
	if err := wapi.Start("127.0.0.1:0"); err != nil {
		return 1, fmt.Errorf("cannot start the WAPI emulator: %w", err)
	}
	defer func() { _ = wapi.Close() }()
	if _, err := wapi.AddNetwork("default", "192.0.2.0/24", wapisim.NetworkOptions{Gateway: "192.0.2.1"}); err != nil {
		return 1, err
	}
	fmt.Printf("Infoblox WAPI emulator: %s (network view default, network 192.0.2.0/24, gateway 192.0.2.1)\n", wapi.URL())

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	logFile, err := os.Create(filepath.Join(out, "provider.log"))
	if err != nil {
		return 1, err
	}
	defer func() { _ = logFile.Close() }()
	if err := startProvider(ctx, env, logFile); err != nil {
		return 1, err
	}
	fmt.Printf("provider running (log: %s)\n", logFile.Name())

	kube, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		return 1, err
	}
	for _, dir := range exampleDirs(root) {
		if err := apply(ctx, kubectl, kubeconfig, dir); err != nil {
			return 1, err
		}
	}

	rows, unbound := waitAndTabulate(ctx, kube, 90*time.Second)
	fmt.Println()
	printTable(rows)
	fmt.Printf("\nTo explore:\n  export KUBECONFIG=%s\n  %s get reservations.incluster.ipam.provider-ipam.io -A\n  %s get allocations\n", kubeconfig, kubectl, kubectl)
	if unbound > 0 {
		fmt.Printf("\n%d resource(s) did not become ready: see their conditions with `kubectl describe`.\n", unbound)
	}
	if os.Getenv("DEMO_ONCE") != "" {
		if unbound > 0 {
			return 1, nil
		}
		return 0, nil
	}
	fmt.Println("\nRunning until interrupted (Ctrl-C).")
	<-ctx.Done()
	return 0, nil
}

// apply runs kubectl apply on dir. A namespace created by the same apply
// can be briefly unknown to the API server's admission cache, so it tries
// again a few times: apply is idempotent.
func apply(ctx context.Context, kubectl, kubeconfig, dir string) error {
	fmt.Printf("%s apply -R -f %s\n", filepath.Base(kubectl), dir)
	var err error
	for range 5 {
		cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfig, "apply", "-R", "-f", dir)
		var outb strings.Builder
		cmd.Stdout, cmd.Stderr = &outb, &outb
		if err = cmd.Run(); err == nil {
			fmt.Print(outb.String())
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("kubectl apply %s: %w", dir, err)
}

func writeKubeconfig(env *envtest.Environment, path string) (string, error) {
	u, err := env.ControlPlane.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("cannot create the demo user: %w", err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, kc, 0o600)
}

func startProvider(ctx context.Context, env *testenv.Env, logTo *os.File) error {
	zl := zap.New(zap.WriteTo(logTo), zap.Level(zapcore.InfoLevel))
	ctrl.SetLogger(zl)
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	o := controller.Options{
		Logger:                  logging.NewLogrLogger(zl.WithName("provider-ipam")),
		GlobalRateLimiter:       ratelimiter.NewGlobal(50),
		PollInterval:            time.Minute,
		MaxConcurrentReconciles: 10,
		Features:                &feature.Flags{},
	}
	if err := ipamcontroller.Setup(ctx, mgr, o); err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "provider stopped:", err)
		}
	}()
	return nil
}

// exampleDirs are the directories of examples/, one per backend or group.
func exampleDirs(root string) []string {
	entries, _ := os.ReadDir(filepath.Join(root, "examples"))
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, "examples", e.Name()))
		}
	}
	return dirs
}

type row struct {
	backend, namespace, name, ready, addresses, gateway, prefix, message string
}

// waitAndTabulate waits until every managed resource is Ready or timeout
// passes, and returns the table and how many are not Ready.
func waitAndTabulate(ctx context.Context, kube client.Client, timeout time.Duration) ([]row, int) {
	deadline := time.Now().Add(timeout)
	for {
		rows, unbound := tabulate(ctx, kube)
		if unbound == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return rows, unbound
		}
		time.Sleep(time.Second)
	}
}

func tabulate(ctx context.Context, kube client.Client) ([]row, int) {
	var rows []row
	unbound := 0
	for _, k := range managedKinds {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(k.gvk.GroupVersion().WithKind(k.gvk.Kind + "List"))
		if err := kube.List(ctx, l); err != nil {
			if !meta.IsNoMatchError(err) {
				rows = append(rows, row{backend: k.backend, message: err.Error()})
				unbound++
			}
			continue
		}
		for _, o := range l.Items {
			r := row{backend: k.backend, namespace: o.GetNamespace(), name: o.GetName(), ready: "False"}
			addrs, _, _ := unstructured.NestedStringSlice(o.Object, "status", "atProvider", "addresses")
			if a, ok, _ := unstructured.NestedString(o.Object, "status", "atProvider", "address"); ok {
				addrs = append(addrs, a)
			}
			r.addresses = strings.Join(addrs, ",")
			r.gateway, _, _ = unstructured.NestedString(o.Object, "status", "atProvider", "gateway")
			if p, ok, _ := unstructured.NestedInt64(o.Object, "status", "atProvider", "prefix"); ok && p > 0 {
				r.prefix = fmt.Sprint(p)
			}
			conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				switch m["type"] {
				case "Ready":
					r.ready, _ = m["status"].(string)
				case "Synced":
					if m["status"] != string(corev1.ConditionTrue) {
						r.message, _ = m["message"].(string)
					}
				}
			}
			if r.ready != string(corev1.ConditionTrue) {
				unbound++
			}
			rows = append(rows, r)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].backend+rows[i].namespace+rows[i].name < rows[j].backend+rows[j].namespace+rows[j].name
	})
	return rows, unbound
}

func printTable(rows []row) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "BACKEND\tNAMESPACE\tNAME\tREADY\tADDRESSES\tGATEWAY\tPREFIX\tPROBLEM")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.backend, r.namespace, r.name, r.ready, r.addresses, r.gateway, r.prefix, r.message)
	}
	_ = w.Flush()
}
