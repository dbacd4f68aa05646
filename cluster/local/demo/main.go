// Command demo brings up a local control plane (kube-apiserver and etcd
// built from pinned Go modules), Crossplane with provider-ipam installed
// from its packages (one Configuration, which brings the Provider and the
// Function) and the Infoblox WAPI emulator, applies examples/, prints the
// packages' health, what was allocated and how to explore it, and stays up
// until interrupted. DEMO_ONCE=1 exits after the tables, non-zero if a
// package is not healthy or anything failed to bind.
package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
	"github.com/provider-ipam/provider-ipam/internal/addressing"
	"github.com/provider-ipam/provider-ipam/internal/localplane"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// The kinds the table lists.
var (
	ipAddressGVK = schema.GroupVersionKind{Group: "ipam.cluster.x-k8s.io", Version: "v1beta2", Kind: "IPAddress"}
	managedKinds = []struct {
		backend string
		gvk     schema.GroupVersionKind
	}{
		{k0rdentv1beta1.ProviderInCluster, inclusterv1alpha1.ReservationGroupVersionKind},
		{k0rdentv1beta1.ProviderInfoblox, infobloxv1alpha1.ReservationGroupVersionKind},
	}
)

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
	kubectl := filepath.Join(root, "bin", "kubectl")
	fmt.Printf("kubectl: %s, built from k8s.io/kubernetes (the pinned module kube-apiserver comes from) by `make tools`\n", kubectl)

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	capi, err := testenv.CAPICRDDir()
	if err != nil {
		return 1, err
	}
	clusters, err := testenv.ClusterCRDDir()
	if err != nil {
		return 1, err
	}
	defer func() { _ = os.RemoveAll(capi); _ = os.RemoveAll(clusters) }()
	fmt.Println("starting kube-apiserver, etcd, Crossplane core and the WAPI emulator, and installing the provider-ipam Configuration from a loopback registry ...")
	plane, err := localplane.Start(ctx, localplane.Options{Name: "demo", ExtraCRDDirs: []string{capi, clusters}, Crossplane: true, Provider: true, OwnAddressPolicy: true})
	if err != nil {
		return 1, err
	}
	defer plane.Stop()
	if err := plane.UseEmulatorAsDefaultInfoblox(ctx); err != nil {
		return 1, err
	}
	fmt.Printf("Infoblox WAPI emulator: %s, the grid of ClusterProviderConfig default (logs and certificates: %s)\n", plane.WAPI.URL(), plane.Dir)

	// The address-space policy first: without it the ledger hands out
	// nothing, and the examples' Reservations would wait for a retry.
	if err := apply(ctx, kubectl, plane.Kubeconfig, filepath.Join(root, "examples", "incluster", "clusterproviderconfig.yaml")); err != nil {
		return 1, err
	}
	for _, dir := range exampleDirs(root) {
		if err := apply(ctx, kubectl, plane.Kubeconfig, dir); err != nil {
			return 1, err
		}
	}

	rows, unbound := waitAndTabulate(ctx, plane.Kube, 3*time.Minute)
	pkgs, err := plane.Packages(ctx)
	if err != nil {
		return 1, err
	}
	fmt.Println()
	unbound += printPackages(pkgs)
	fmt.Println()
	printTable(rows)
	fmt.Printf("\nTo explore:\n  export KUBECONFIG=%s\n  %s get configurations,providers,functions\n  %s get clusteripamclaims,clusteripams -A\n  %s get reservations.incluster.ipam.provider-ipam.io,reservations.infoblox.ipam.provider-ipam.io -A\n  %s get allocations\n",
		plane.Kubeconfig, kubectl, kubectl, kubectl, kubectl)
	if unbound > 0 {
		fmt.Printf("\n%d package(s) or resource(s) did not become ready: see their conditions with `kubectl describe`.\n", unbound)
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

// exampleDirs are the directories of examples/, one per backend or group,
// but for examples/infoblox: it points at a real grid, and the demo has the
// emulator as the default ClusterProviderConfig instead.
func exampleDirs(root string) []string {
	entries, _ := os.ReadDir(filepath.Join(root, "examples"))
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "infoblox" {
			dirs = append(dirs, filepath.Join(root, "examples", e.Name()))
		}
	}
	return dirs
}

type row struct {
	kind, namespace, name, ready, backend, addresses, gateway, prefix, problem string
}

// waitAndTabulate waits until every claim is bound and every managed
// resource Ready, or timeout passes, and returns the table and how many are
// not.
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

func list(ctx context.Context, kube client.Client, gvk schema.GroupVersionKind) ([]unstructured.Unstructured, error) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := kube.List(ctx, l); err != nil {
		if meta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, err
	}
	return l.Items, nil
}

func tabulate(ctx context.Context, kube client.Client) ([]row, int) {
	var rows []row
	unbound := 0
	fail := func(kind string, err error) {
		rows = append(rows, row{kind: kind, problem: err.Error()})
		unbound++
	}
	claims, err := list(ctx, kube, k0rdentv1beta1.ClusterIPAMClaimGVK)
	if err != nil {
		fail(k0rdentv1beta1.ClusterIPAMClaimGVK.Kind, err)
	}
	for _, c := range claims {
		r := row{kind: c.GetKind(), namespace: c.GetNamespace(), name: c.GetName(), ready: "False"}
		r.backend, _, _ = unstructured.NestedString(c.Object, "spec", "provider")
		if b, _, _ := unstructured.NestedBool(c.Object, "status", "bound"); b {
			r.ready = "True"
		} else {
			unbound++
		}
		if ref, _, _ := unstructured.NestedString(c.Object, "spec", "clusterIPAMRef"); ref != "" {
			ipam := &unstructured.Unstructured{}
			ipam.SetGroupVersionKind(k0rdentv1beta1.ClusterIPAMGVK)
			if err := kube.Get(ctx, client.ObjectKey{Namespace: c.GetNamespace(), Name: ref}, ipam); err == nil {
				fromProviderData(&r, ipam)
				if r.ready != "True" {
					r.problem = conditionMessage(ipam, "Ready")
				}
			}
		}
		rows = append(rows, r)
	}
	deployments, err := list(ctx, kube, k0rdentv1beta1.ClusterDeploymentGVK)
	if err != nil {
		fail(k0rdentv1beta1.ClusterDeploymentGVK.Kind, err)
	}
	for _, d := range deployments {
		r := row{kind: d.GetKind(), namespace: d.GetNamespace(), name: d.GetName(), ready: conditionStatus(&d, "IPAMReady"), backend: "vsphere"}
		if p, ok, _ := unstructured.NestedString(d.Object, "status", "ipPool", "name"); ok {
			r.addresses = "pool " + p
		}
		if r.ready != string(corev1.ConditionTrue) {
			r.ready = "False"
			r.problem = conditionMessage(&d, "IPAMReady")
			unbound++
		}
		rows = append(rows, r)
	}
	for _, k := range managedKinds {
		items, err := list(ctx, kube, k.gvk)
		if err != nil {
			fail(k.gvk.Kind, err)
		}
		for _, o := range items {
			r := row{kind: o.GetKind(), backend: k.backend, namespace: o.GetNamespace(), name: o.GetName(), ready: "False"}
			addrs, _, _ := unstructured.NestedStringSlice(o.Object, "status", "atProvider", "addresses")
			if a, ok, _ := unstructured.NestedString(o.Object, "status", "atProvider", "address"); ok {
				addrs = append(addrs, a)
			}
			r.addresses = strings.Join(addrs, ",")
			r.gateway, _, _ = unstructured.NestedString(o.Object, "status", "atProvider", "gateway")
			if p, ok, _ := unstructured.NestedInt64(o.Object, "status", "atProvider", "prefix"); ok && p > 0 {
				r.prefix = fmt.Sprint(p)
			}
			if conditionStatus(&o, "Ready") == string(corev1.ConditionTrue) {
				r.ready = "True"
			} else {
				r.problem = conditionMessage(&o, "Synced")
				unbound++
			}
			rows = append(rows, r)
		}
	}
	ips, err := list(ctx, kube, ipAddressGVK)
	if err != nil {
		fail(ipAddressGVK.Kind, err)
	}
	for _, o := range ips {
		r := row{kind: o.GetKind(), namespace: o.GetNamespace(), name: o.GetName(), ready: "True", backend: "capi"}
		r.addresses, _, _ = unstructured.NestedString(o.Object, "spec", "address")
		r.gateway, _, _ = unstructured.NestedString(o.Object, "spec", "gateway")
		if p, ok, _ := unstructured.NestedInt64(o.Object, "spec", "prefix"); ok {
			r.prefix = fmt.Sprint(p)
		}
		rows = append(rows, r)
	}
	return rows, unbound
}

// fromProviderData fills a claim's row from its ClusterIPAM's ipPool entry.
func fromProviderData(r *row, ipam *unstructured.Unstructured) {
	data, _, _ := unstructured.NestedSlice(ipam.Object, "status", "providerData")
	for _, d := range data {
		m, ok := d.(map[string]any)
		if !ok || m["name"] != "ipPool" {
			continue
		}
		if as, ok := m["addresses"].([]any); ok {
			parts := make([]string, 0, len(as))
			for _, a := range as {
				parts = append(parts, fmt.Sprint(a))
			}
			r.addresses = strings.Join(parts, ",")
		}
		if g, ok := m["gateway"].(string); ok {
			r.gateway = g
		}
		if p, ok := m["prefix"]; ok && p != nil {
			r.prefix = fmt.Sprint(p)
		}
	}
}

func condition(u *unstructured.Unstructured, typ string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m
		}
	}
	return nil
}

func conditionStatus(u *unstructured.Unstructured, typ string) string {
	s, _ := condition(u, typ)["status"].(string)
	return s
}

func conditionMessage(u *unstructured.Unstructured, typ string) string {
	s, _ := condition(u, typ)["message"].(string)
	return s
}

// compact writes an address list as ranges ("10.0.0.2-10.0.0.254"), so
// that a whole network fits a column; anything unparsable is kept as is.
func compact(list string) string {
	if list == "" {
		return ""
	}
	var addrs []netip.Addr
	for _, s := range strings.Split(list, ",") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return list
		}
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	return addressing.FormatAddrs(slices.Compact(addrs))
}

// printPackages prints the Crossplane packages and returns how many are not
// Installed and Healthy.
func printPackages(pkgs []localplane.PackageStatus) int {
	bad := 0
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "PACKAGE\tNAME\tINSTALLED\tHEALTHY\tSOURCE\tPROBLEM")
	for _, p := range pkgs {
		if !p.Installed || !p.Healthy {
			bad++
		}
		fmt.Fprintf(w, "%s\t%s\t%t\t%t\t%s\t%s\n", p.Kind, p.Name, p.Installed, p.Healthy, p.Package, p.Message)
	}
	_ = w.Flush()
	return bad
}

func printTable(rows []row) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "KIND\tNAMESPACE\tNAME\tREADY\tBACKEND\tADDRESSES\tGATEWAY\tPREFIX\tPROBLEM")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.kind, r.namespace, r.name, r.ready, r.backend, compact(r.addresses), r.gateway, r.prefix, r.problem)
	}
	_ = w.Flush()
}
