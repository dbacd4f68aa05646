package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go4.org/netipx"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
	"github.com/provider-ipam/provider-ipam/internal/localplane"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

var (
	capiClusterGVK = schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: "v1beta2", Kind: "Cluster"}
	vsphereMTGVK   = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta1", Kind: "VSphereMachineTemplate"}
	mdGVK          = schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: "v1beta2", Kind: "MachineDeployment"}
)

// examples reads every object of a k0rdent example file, into namespace ns.
func examples(t *testing.T, file, ns string) []*unstructured.Unstructured {
	t.Helper()
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := localplane.ReadObjects(filepath.Join(root, "examples", "k0rdent", file))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		o.SetNamespace(ns)
	}
	return objs
}

func of(objs []*unstructured.Unstructured, gvk schema.GroupVersionKind) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GroupVersionKind() == gvk {
			return o
		}
	}
	return nil
}

func createAll(t *testing.T, objs ...*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if err := plane.Kube.Create(context.Background(), o); err != nil {
			t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

// waitCondition waits until the deployment's condition typ has reason.
func waitCondition(t *testing.T, d *unstructured.Unstructured, typ, reason string) *unstructured.Unstructured {
	t.Helper()
	var cur *unstructured.Unstructured
	eventually(t, 3*time.Minute, fmt.Sprintf("%s %s=%s", d.GetName(), typ, reason), func(ctx context.Context) (bool, error) {
		var err error
		if cur, err = get(ctx, d); err != nil {
			return false, err
		}
		_, r, _ := condition(cur, typ)
		return r == reason, nil
	})
	return cur
}

// checkComposedCluster waits for the vSphere cluster of deployment d and
// checks that its machines take addresses from the pool of its claim, and
// that the addresses were held before any CAPI object existed.
func checkComposedCluster(t *testing.T, d *unstructured.Unstructured, claimName, gateway string, workers int64) {
	t.Helper()
	ctx := context.Background()
	ns, name := d.GetNamespace(), d.GetName()
	var cluster, cpTemplate, md *unstructured.Unstructured
	eventually(t, 3*time.Minute, "the vSphere cluster of "+name, func(ctx context.Context) (bool, error) {
		var err error
		if cluster, err = get(ctx, obj(capiClusterGVK, ns, name)); err != nil {
			return false, err
		}
		if cpTemplate, err = get(ctx, obj(vsphereMTGVK, ns, name+"-cp")); err != nil {
			return false, err
		}
		md, err = get(ctx, obj(mdGVK, ns, name+"-md"))
		return err == nil, err
	})
	claim, err := get(ctx, obj(k0rdentv1beta1.ClusterIPAMClaimGVK, ns, claimName))
	if err != nil {
		t.Fatal(err)
	}
	ipam, err := get(ctx, obj(k0rdentv1beta1.ClusterIPAMGVK, ns, str(claim, "spec", "clusterIPAMRef")))
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := nodePool(t, ipam)["config"].(map[string]any)

	devices, _, _ := unstructured.NestedSlice(cpTemplate.Object, "spec", "template", "spec", "network", "devices")
	if len(devices) == 0 {
		t.Fatalf("VSphereMachineTemplate %s-cp has no network device", name)
	}
	dev, _ := devices[0].(map[string]any)
	pools, _ := dev["addressesFromPools"].([]any)
	if len(pools) != 1 || fmt.Sprint(pools[0].(map[string]any)["name"]) != fmt.Sprint(pool["name"]) ||
		pools[0].(map[string]any)["kind"] != "IPPool" || pools[0].(map[string]any)["apiGroup"] != "ipam.provider-ipam.io" {
		t.Errorf("addressesFromPools = %v, want the claim's pool %v", pools, pool)
	}
	if dev["dhcp4"] != false || dev["gateway4"] != gateway {
		t.Errorf("device dhcp4 %v gateway4 %v, want DHCP off and gateway %s", dev["dhcp4"], dev["gateway4"], gateway)
	}
	if r, _, _ := unstructured.NestedInt64(md.Object, "spec", "replicas"); r != workers {
		t.Errorf("MachineDeployment replicas %d, want %d", r, workers)
	}

	// Addresses first: the node reservation was Ready before the Cluster
	// was created.
	res, err := get(ctx, obj(schema.GroupVersionKind{Group: "incluster.ipam.provider-ipam.io", Version: "v1alpha1", Kind: "Reservation"}, ns, ipam.GetName()+"-node"))
	if kerrors.IsNotFound(err) {
		// Infoblox: one Reservation per node address.
		res, err = get(ctx, obj(schema.GroupVersionKind{Group: "infoblox.ipam.provider-ipam.io", Version: "v1alpha1", Kind: "Reservation"}, ns, ipam.GetName()+"-node-0"))
	}
	if err != nil {
		t.Fatal(err)
	}
	conds, _, _ := unstructured.NestedSlice(res.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != "Ready" {
			continue
		}
		ready, err := time.Parse(time.RFC3339, fmt.Sprint(m["lastTransitionTime"]))
		if err != nil {
			t.Fatal(err)
		}
		if created := cluster.GetCreationTimestamp().Time; created.Before(ready) {
			t.Errorf("Cluster created at %s, before its addresses were held (%s)", created, ready)
		}
	}
}

// Option 1: the claim and the deployment name each other.
func TestOption1MutualReferences(t *testing.T) {
	ns := namespace(t, "e2e-cd-ref")
	objs := examples(t, "clusterdeployment-ref.yaml", ns)
	claim, d := of(objs, k0rdentv1beta1.ClusterIPAMClaimGVK), of(objs, k0rdentv1beta1.ClusterDeploymentGVK)
	// Its own network, so that no other test's claim overlaps it.
	_ = unstructured.SetNestedField(claim.Object, "10.40.0.0/24", "spec", "nodeNetwork", "cidr")
	_ = unstructured.SetNestedField(claim.Object, "10.40.0.1", "spec", "nodeNetwork", "gateway")
	_ = unstructured.SetNestedField(d.Object, "10.40.0.250", "spec", "config", "controlPlaneEndpointIP")
	// In the file's order, the claim bound before the deployment exists:
	// it holds its whole cidr (k0rdent's in-cluster pool), then the node
	// count once the deployment names it.
	createAll(t, claim)
	waitBound(t, claim)
	if n := allocationsIn(t, ns); n != 253 {
		t.Fatalf("%d addresses held before the deployment exists, want the whole /24 but the gateway (253)", n)
	}
	createAll(t, d)
	waitCondition(t, d, "IPAMReady", "Bound")
	checkComposedCluster(t, d, claim.GetName(), "10.40.0.1", 2)
	eventually(t, 3*time.Minute, "the claim shrunk to the deployment's 3 nodes", func(ctx context.Context) (bool, error) {
		held, err := reservedIn(ctx, ns)
		return len(held) == 3, err
	})
}

// Option 2: the claim is inline; it is composed under the deployment's name.
func TestOption2InlineClaim(t *testing.T) {
	ns := namespace(t, "e2e-cd-inline")
	d := of(examples(t, "clusterdeployment-inline.yaml", ns), k0rdentv1beta1.ClusterDeploymentGVK)
	createAll(t, d)
	waitCondition(t, d, "IPAMReady", "Bound")
	checkComposedCluster(t, d, d.GetName(), "10.30.0.1", 1)
}

func TestMismatchedReferenceIsReported(t *testing.T) {
	ns := namespace(t, "e2e-cd-mismatch")
	objs := examples(t, "clusterdeployment-ref.yaml", ns)
	claim, d := of(objs, k0rdentv1beta1.ClusterIPAMClaimGVK), of(objs, k0rdentv1beta1.ClusterDeploymentGVK)
	_ = unstructured.SetNestedField(claim.Object, "10.41.0.0/24", "spec", "nodeNetwork", "cidr")
	_ = unstructured.SetNestedField(claim.Object, "10.41.0.1", "spec", "nodeNetwork", "gateway")
	_ = unstructured.SetNestedField(claim.Object, "some-other-cluster", "spec", "cluster")
	createAll(t, claim, d)
	cur := waitCondition(t, d, "IPAMReady", "ClaimMismatch")
	if _, _, msg := condition(cur, "IPAMReady"); msg == "" {
		t.Error("ClaimMismatch without a message")
	}
	if _, err := get(context.Background(), obj(capiClusterGVK, ns, d.GetName())); err == nil {
		t.Error("a Cluster was composed despite the mismatch")
	}
}

func TestMissingClaimIsReported(t *testing.T) {
	ns := namespace(t, "e2e-cd-missing")
	d := of(examples(t, "clusterdeployment-ref.yaml", ns), k0rdentv1beta1.ClusterDeploymentGVK)
	createAll(t, d)
	waitCondition(t, d, "IPAMReady", "ClaimNotFound")
}

func TestDryRunComposesNothing(t *testing.T) {
	ns := namespace(t, "e2e-cd-dryrun")
	d := of(examples(t, "clusterdeployment-inline.yaml", ns), k0rdentv1beta1.ClusterDeploymentGVK)
	_ = unstructured.SetNestedField(d.Object, true, "spec", "dryRun")
	_ = unstructured.SetNestedStringSlice(d.Object, []string{"10.31.0.10-10.31.0.19"}, "spec", "ipamClaim", "spec", "nodeNetwork", "ipAddresses")
	_ = unstructured.SetNestedField(d.Object, "10.31.0.1", "spec", "ipamClaim", "spec", "nodeNetwork", "gateway")
	createAll(t, d)
	cur := waitCondition(t, d, "DryRun", "Fits")
	fits, _, _ := unstructured.NestedBool(cur.Object, "status", "dryRun", "fits")
	would, _, _ := unstructured.NestedStringSlice(cur.Object, "status", "dryRun", "wouldCreate")
	if !fits || len(would) == 0 {
		t.Errorf("dryRun status fits=%v wouldCreate=%v", fits, would)
	}
	if _, err := get(context.Background(), obj(k0rdentv1beta1.ClusterIPAMClaimGVK, ns, d.GetName())); err == nil {
		t.Error("a dry run composed the inline claim")
	}
}

func TestNotEnoughAddressesIsReported(t *testing.T) {
	ns := namespace(t, "e2e-cd-short")
	d := of(examples(t, "clusterdeployment-inline.yaml", ns), k0rdentv1beta1.ClusterDeploymentGVK)
	// Two addresses for one control-plane node and two workers.
	_ = unstructured.SetNestedStringSlice(d.Object, []string{"10.32.0.10-10.32.0.11"}, "spec", "ipamClaim", "spec", "nodeNetwork", "ipAddresses")
	_ = unstructured.SetNestedField(d.Object, "10.32.0.1", "spec", "ipamClaim", "spec", "nodeNetwork", "gateway")
	_ = unstructured.SetNestedField(d.Object, int64(2), "spec", "config", "workersNumber")
	createAll(t, d)
	// The node Reservation asks for 3 of 2 addresses and fails with the
	// ledger's numbers (IPAMFailed); a pool found short later would say
	// NotEnoughAddresses. Either way: a reason and the numbers.
	eventually(t, 3*time.Minute, "not enough addresses reported with numbers", func(ctx context.Context) (bool, error) {
		cur, err := get(ctx, d)
		if err != nil {
			return false, err
		}
		_, reason, msg := condition(cur, "IPAMReady")
		switch reason {
		case "IPAMFailed":
			return strings.Contains(msg, "not enough free addresses") && strings.Contains(msg, "3 requested, 2 usable"), nil
		case "NotEnoughAddresses":
			return strings.Contains(msg, "fewer than the 3 nodes"), nil
		}
		return false, nil
	})
	if _, err := get(context.Background(), obj(capiClusterGVK, ns, d.GetName())); err == nil {
		t.Error("a Cluster was composed without enough addresses")
	}
}

// Scaling workers up reserves the new addresses before the new machines
// are composed: the MachineDeployment grows only once the pool holds an
// address for every node.
func TestScaleUpReservesBeforeMachines(t *testing.T) {
	ns := namespace(t, "e2e-cd-scale")
	d := of(examples(t, "clusterdeployment-inline.yaml", ns), k0rdentv1beta1.ClusterDeploymentGVK)
	_ = unstructured.SetNestedStringSlice(d.Object, []string{"10.33.0.10-10.33.0.19"}, "spec", "ipamClaim", "spec", "nodeNetwork", "ipAddresses")
	_ = unstructured.SetNestedField(d.Object, "10.33.0.1", "spec", "ipamClaim", "spec", "nodeNetwork", "gateway")
	createAll(t, d)
	waitCondition(t, d, "IPAMReady", "Bound")
	checkComposedCluster(t, d, d.GetName(), "10.33.0.1", 1)

	// Crossplane writes the deployment too: retry on its writes.
	setField(t, d, int64(3), "spec", "config", "workersNumber")
	poolName := d.GetName() + "-node"
	var violation string
	eventually(t, 3*time.Minute, "three workers, with four addresses held", func(ctx context.Context) (bool, error) {
		md, err := get(ctx, obj(mdGVK, ns, d.GetName()+"-md"))
		if err != nil {
			return false, err
		}
		replicas, _, _ := unstructured.NestedInt64(md.Object, "spec", "replicas")
		pool, err := get(ctx, obj(schema.GroupVersionKind{Group: "ipam.provider-ipam.io", Version: "v1alpha1", Kind: "IPPool"}, ns, poolName))
		if err != nil {
			return false, err
		}
		total, _, _ := unstructured.NestedInt64(pool.Object, "status", "total")
		if replicas == 3 && total < 4 && violation == "" {
			violation = fmt.Sprintf("the MachineDeployment had 3 replicas while the pool held %d addresses for 4 nodes", total)
		}
		return replicas == 3 && total >= 4 && allocationsIn(t, ns) == 4, nil
	})
	if violation != "" {
		t.Fatal(violation)
	}
}

// machineClaims creates, for each machine of deployment d, the
// IPAddressClaim CAPV creates for its VSphereVM's first device: on the pool
// its VSphereMachineTemplate names in addressesFromPools, labelled with the
// cluster. It returns the claims' names, control plane first.
func machineClaims(t *testing.T, d *unstructured.Unstructured, workers int) []string {
	t.Helper()
	ctx := context.Background()
	ns, name := d.GetNamespace(), d.GetName()
	var names []string
	for _, m := range []struct {
		template string
		n        int
	}{{name + "-cp", 1}, {name + "-md", workers}} {
		tmpl, err := get(ctx, obj(vsphereMTGVK, ns, m.template))
		if err != nil {
			t.Fatal(err)
		}
		devices, _, _ := unstructured.NestedSlice(tmpl.Object, "spec", "template", "spec", "network", "devices")
		dev, _ := devices[0].(map[string]any)
		pools, _ := dev["addressesFromPools"].([]any)
		ref, _ := pools[0].(map[string]any)
		for i := range m.n {
			c := &capiipamv1beta2.IPAddressClaim{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: ns, Name: fmt.Sprintf("%s-%d-0-0", m.template, i),
					Labels: map[string]string{"cluster.x-k8s.io/cluster-name": name},
				},
				Spec: capiipamv1beta2.IPAddressClaimSpec{
					ClusterName: name,
					PoolRef:     capiipamv1beta2.IPPoolReference{APIGroup: fmt.Sprint(ref["apiGroup"]), Kind: fmt.Sprint(ref["kind"]), Name: fmt.Sprint(ref["name"])},
				},
			}
			if err := plane.Kube.Create(ctx, c); err != nil {
				t.Fatal(err)
			}
			names = append(names, c.Name)
		}
	}
	return names
}

// machineAddresses waits until every claim of names is bound and returns
// claim -> address.
func machineAddresses(t *testing.T, ns string, names []string) map[string]string {
	t.Helper()
	got := map[string]string{}
	eventually(t, 2*time.Minute, "an address for every machine", func(ctx context.Context) (bool, error) {
		for _, n := range names {
			c := &capiipamv1beta2.IPAddressClaim{}
			if err := plane.Kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, c); err != nil {
				return false, err
			}
			if c.Status.AddressRef.Name == "" {
				return false, fmt.Errorf("%s has no address: %v", n, c.Status.Conditions)
			}
			a := &capiipamv1beta2.IPAddress{}
			if err := plane.Kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: c.Status.AddressRef.Name}, a); err != nil {
				return false, err
			}
			got[n] = a.Spec.Address
		}
		return true, nil
	})
	return got
}

// reservedIn lists, sorted, the addresses the ledger holds for ns.
func reservedIn(ctx context.Context, ns string) ([]string, error) {
	l := &inclusterv1alpha1.AllocationList{}
	if err := plane.Kube.List(ctx, l, client.Limit(5000)); err != nil {
		return nil, err
	}
	var out []string
	for _, a := range l.Items {
		if a.Spec.Owner.Namespace == ns {
			out = append(out, a.Spec.Address)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Scaling workers down: the addresses of machines still running stay held
// (IPAMReady says ReleasingAddresses), and each goes once CAPV has released
// its machine's IPAddressClaim, whichever machines CAPI removed.
func TestScaleDownFreesAddressesOnceMachinesAreGone(t *testing.T) {
	ns := namespace(t, "e2e-cd-scaledown")
	d := of(examples(t, "clusterdeployment-inline.yaml", ns), k0rdentv1beta1.ClusterDeploymentGVK)
	_ = unstructured.SetNestedStringSlice(d.Object, []string{"10.34.0.10-10.34.0.19"}, "spec", "ipamClaim", "spec", "nodeNetwork", "ipAddresses")
	_ = unstructured.SetNestedField(d.Object, "10.34.0.1", "spec", "ipamClaim", "spec", "nodeNetwork", "gateway")
	scaleDown(t, d, netipx.MustParseIPRange("10.34.0.10-10.34.0.19"), "10.34.0.1", func(ctx context.Context) ([]string, error) {
		return reservedIn(ctx, ns)
	})
}

// The same on Infoblox: the fixed addresses of the machines removed are
// deleted from the grid, the others stay.
func TestInfobloxScaleDownFreesAddressesOnceMachinesAreGone(t *testing.T) {
	ns := namespace(t, "e2e-cd-ib-scaledown")
	d := of(examples(t, "clusterdeployment-inline.yaml", ns), k0rdentv1beta1.ClusterDeploymentGVK)
	_ = unstructured.SetNestedField(d.Object, "ipam-infoblox", "spec", "ipamClaim", "spec", "provider")
	_ = unstructured.SetNestedMap(d.Object, map[string]any{"cidr": "198.51.100.0/24", "gateway": "198.51.100.1", "prefix": int64(24)},
		"spec", "ipamClaim", "spec", "nodeNetwork")
	scaleDown(t, d, netipx.MustParseIPRange("198.51.100.2-198.51.100.254"), "198.51.100.1", func(context.Context) ([]string, error) {
		fixed := fixedAddressesIn("198.51.100.0/24", ns)
		return slices.Sorted(maps.Keys(fixed)), nil
	})
}

// scaleDown creates d with 1 control-plane node and 3 workers, gives each
// machine its address as CAPV would, scales to 1 worker and removes two
// workers' machines (not the highest addresses). held lists, sorted, the
// addresses the backend holds for d.
func scaleDown(t *testing.T, d *unstructured.Unstructured, space netipx.IPRange, gateway string, held func(context.Context) ([]string, error)) {
	t.Helper()
	ctx := context.Background()
	ns := d.GetNamespace()
	dumpOnFailure(t, ns)
	_ = unstructured.SetNestedField(d.Object, int64(3), "spec", "config", "workersNumber")
	createAll(t, d)
	waitCondition(t, d, "IPAMReady", "Bound")
	checkComposedCluster(t, d, d.GetName(), gateway, 3)

	// The machines CAPV would create: each gets a distinct address of the
	// claim's space, never the gateway.
	claims := machineClaims(t, d, 3)
	addrs := machineAddresses(t, ns, claims)
	seen := map[string]bool{}
	for n, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil || seen[a] || a == gateway || !space.Contains(ip) {
			t.Fatalf("%s got %q: want distinct addresses of %s (all: %v)", n, a, space, addrs)
		}
		seen[a] = true
	}

	setField(t, d, int64(1), "spec", "config", "workersNumber")
	// Every machine still runs: nothing is released yet.
	cur := waitCondition(t, d, "IPAMReady", "ReleasingAddresses")
	if _, _, msg := condition(cur, "IPAMReady"); !strings.Contains(msg, "still in use by machines") {
		t.Errorf("IPAMReady message %q does not say what is kept", msg)
	}
	eventually(t, time.Minute, "the MachineDeployment scaled to 1", func(ctx context.Context) (bool, error) {
		md, err := get(ctx, obj(mdGVK, ns, d.GetName()+"-md"))
		if err != nil {
			return false, err
		}
		r, _, _ := unstructured.NestedInt64(md.Object, "spec", "replicas")
		return r == 1, nil
	})
	if h, err := held(ctx); err != nil || len(h) != 4 {
		t.Fatalf("held %v (%v) while all four machines run, want their 4 addresses", h, err)
	}

	// CAPI removes the first and the last worker; CAPV releases their claims.
	for _, n := range []string{claims[1], claims[3]} {
		if err := plane.Kube.Delete(ctx, &capiipamv1beta2.IPAddressClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{addrs[claims[0]], addrs[claims[2]]}
	slices.Sort(want)
	eventually(t, 3*time.Minute, "only the remaining machines' addresses held", func(ctx context.Context) (bool, error) {
		h, err := held(ctx)
		if err != nil || !slices.Equal(h, want) {
			return false, fmt.Errorf("held %v, want %v (%v)", h, want, err)
		}
		cur, err := get(ctx, d)
		if err != nil {
			return false, err
		}
		_, reason, msg := condition(cur, "IPAMReady")
		return reason == "Bound" && strings.Contains(msg, "holds 2 addresses for 2 nodes"), nil
	})
}
