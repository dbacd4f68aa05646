package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"go4.org/netipx"
	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
	"github.com/provider-ipam/provider-ipam/internal/localplane"
)

// vcsimTemplate is a VM of the simulator's default inventory; CAPV clones
// the machines from it.
const vcsimTemplate = "/DC0/vm/DC0_C0_RP0_VM0"

// Unmodified Cluster API v1.13.0 and CAPV v1.14.0 managers provision the
// workers of a ClusterDeployment against govmomi's simulated vCenter, on
// the VSphereMachineTemplate our composition renders: CAPV itself claims
// each VM's address from our IPPool, and every cloned VM carries a distinct
// address of the claim's space, with its prefix and gateway, in its
// guestinfo.metadata. Scaling down frees the departed machines' addresses;
// deleting the deployment releases them all once CAPV has let go of its
// claims.
func TestCAPVClonesVMsWithTheClaimedAddresses(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "e2e-capv")
	vs, err := plane.StartVSphere(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	// The machines are joined to nothing: the bootstrap data is a fixed
	// Secret, which needs no bootstrap provider.
	if err := plane.Kube.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bootstrap-data"},
		StringData: map[string]string{"value": "## template: jinja\n#cloud-config\n", "format": "cloud-config"},
	}); err != nil {
		t.Fatal(err)
	}
	t.Run("in-cluster", func(t *testing.T) {
		d := capvDeployment(t, vs, ns, "capv-incluster")
		_ = unstructured.SetNestedStringSlice(d.Object, []string{"10.50.0.10-10.50.0.19"}, "spec", "ipamClaim", "spec", "nodeNetwork", "ipAddresses")
		_ = unstructured.SetNestedField(d.Object, "10.50.0.1", "spec", "ipamClaim", "spec", "nodeNetwork", "gateway")
		provisionOnCAPV(t, vs, d, netipx.MustParseIPRange("10.50.0.10-10.50.0.19"), "10.50.0.1", func(ctx context.Context) ([]string, error) {
			return reservedIn(ctx, ns)
		})
	})
	t.Run("infoblox", func(t *testing.T) {
		d := capvDeployment(t, vs, ns, "capv-infoblox")
		_ = unstructured.SetNestedField(d.Object, "ipam-infoblox", "spec", "ipamClaim", "spec", "provider")
		_ = unstructured.SetNestedMap(d.Object, map[string]any{"cidr": "198.51.100.0/24", "gateway": "198.51.100.1", "prefix": int64(24)},
			"spec", "ipamClaim", "spec", "nodeNetwork")
		provisionOnCAPV(t, vs, d, netipx.MustParseIPRange("198.51.100.2-198.51.100.254"), "198.51.100.1", func(context.Context) ([]string, error) {
			return slices.Sorted(maps.Keys(fixedAddressesIn("198.51.100.0/24", ns))), nil
		})
	})
}

// capvDeployment is the inline example ClusterDeployment named name, with
// its vSphere settings pointing at the simulator and three workers.
func capvDeployment(t *testing.T, vs *localplane.VSphere, ns, name string) *unstructured.Unstructured {
	t.Helper()
	d := of(examples(t, "clusterdeployment-inline.yaml", ns), k0rdentv1beta1.ClusterDeploymentGVK)
	d.SetName(name)
	cfg := map[string]any{
		"server": vs.Server, "thumbprint": vs.Thumbprint, "datacenter": "DC0",
		"datastore": "/DC0/datastore/LocalDS_0", "resourcePool": "/DC0/host/DC0_C0/Resources", "folder": "/DC0/vm",
	}
	_ = unstructured.SetNestedMap(d.Object, cfg, "spec", "config", "vsphere")
	// CAPV logs in with its credentials file.
	unstructured.RemoveNestedField(d.Object, "spec", "config", "clusterIdentity")
	_ = unstructured.SetNestedField(d.Object, vcsimTemplate, "spec", "config", "controlPlane", "vmTemplate")
	_ = unstructured.SetNestedField(d.Object, vcsimTemplate, "spec", "config", "worker", "vmTemplate")
	_ = unstructured.SetNestedField(d.Object, int64(3), "spec", "config", "workersNumber")
	return d
}

// provisionOnCAPV creates d and a MachineDeployment of three workers on its
// composed worker template, checks the VMs' addresses, scales to one worker
// and deletes d. held lists, sorted, the addresses the backend holds for
// d's namespace; space is the claim's address space.
func provisionOnCAPV(t *testing.T, vs *localplane.VSphere, d *unstructured.Unstructured, space netipx.IPRange, gateway string, held func(context.Context) ([]string, error)) {
	t.Helper()
	ctx := context.Background()
	ns, name := d.GetNamespace(), d.GetName()
	createAll(t, d)
	waitCondition(t, d, "IPAMReady", "Bound")
	eventually(t, 3*time.Minute, "the composed worker template "+name+"-md", func(ctx context.Context) (bool, error) {
		_, err := get(ctx, obj(vsphereMTGVK, ns, name+"-md"))
		return err == nil, err
	})

	// Workers as a MachineDeployment with fixed bootstrap data: the
	// composed one's kubeadm bootstrap has no provider here.
	workers := capvWorkers(ns, name, 3)
	createAll(t, workers)

	var vms map[string]vmNetwork
	eventually(t, 6*time.Minute, "three VMs cloned with their claimed addresses", func(ctx context.Context) (bool, error) {
		var err error
		if vms, err = clonedVMs(ctx, vs, name+"-workers"); err != nil {
			return false, err
		}
		return len(vms) == 3 && withAddresses(vms), nil
	})
	seen := map[string]bool{}
	for vm, n := range vms {
		if len(n.addresses) != 1 {
			t.Fatalf("VM %s has addresses %v, want one", vm, n.addresses)
		}
		p, err := netip.ParsePrefix(n.addresses[0])
		if err != nil || seen[p.Addr().String()] || p.Addr().String() == gateway || !space.Contains(p.Addr()) || p.Bits() != 24 {
			t.Fatalf("VM %s has %q: want distinct addresses of %s with prefix 24, never the gateway (all: %v)", vm, n.addresses[0], space, vms)
		}
		seen[p.Addr().String()] = true
		if n.gateway4 != gateway {
			t.Errorf("VM %s has gateway %q, want %s", vm, n.gateway4, gateway)
		}
	}
	// CAPV made the claims, one per VM, owned by its VSphereVM, and they are
	// answered from the addresses the VMs carry.
	claims := &capiipamv1beta2.IPAddressClaimList{}
	if err := plane.Kube.List(ctx, claims, client.InNamespace(ns), client.MatchingLabels{"cluster.x-k8s.io/cluster-name": name}); err != nil {
		t.Fatal(err)
	}
	if len(claims.Items) != 3 {
		t.Fatalf("%d IPAddressClaims for cluster %s, want CAPV's 3", len(claims.Items), name)
	}
	for _, c := range claims.Items {
		owned := slices.ContainsFunc(c.OwnerReferences, func(o metav1.OwnerReference) bool { return o.Kind == "VSphereVM" })
		vm := strings.TrimSuffix(c.Name, "-0-0")
		if !owned || vms[vm].addresses == nil {
			t.Errorf("claim %s (owners %v) is not CAPV's claim for a cloned VM (%v)", c.Name, c.OwnerReferences, vms)
		}
		a := &capiipamv1beta2.IPAddress{}
		if err := plane.Kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: c.Status.AddressRef.Name}, a); err != nil {
			t.Fatal(err)
		}
		if a.Spec.Prefix == nil || a.Spec.Gateway != gateway {
			t.Errorf("IPAddress %s: prefix %v gateway %q, want a prefix and %s", a.Name, a.Spec.Prefix, a.Spec.Gateway, gateway)
			continue
		}
		if want := fmt.Sprintf("%s/%d", a.Spec.Address, *a.Spec.Prefix); !slices.Contains(vms[vm].addresses, want) {
			t.Errorf("VM %s carries %v, its claim %s was given %s", vm, vms[vm].addresses, c.Name, want)
		}
	}

	// Down to one worker, in the deployment and in the MachineDeployment.
	setField(t, d, int64(1), "spec", "config", "workersNumber")
	setField(t, workers, int64(1), "spec", "replicas")
	eventually(t, 5*time.Minute, "one VM left, the departed ones' addresses freed", func(ctx context.Context) (bool, error) {
		var err error
		if vms, err = clonedVMs(ctx, vs, name+"-workers"); err != nil || len(vms) != 1 || !withAddresses(vms) {
			return false, err
		}
		h, err := held(ctx)
		if err != nil {
			return false, err
		}
		// One address for the control-plane node and one for the worker
		// left, which is the one its VM carries.
		for _, n := range vms {
			p, err := netip.ParsePrefix(n.addresses[0])
			if err != nil {
				return false, err
			}
			if !slices.Contains(h, p.Addr().String()) {
				return false, fmt.Errorf("held %v lacks %s of the remaining VM", h, p.Addr())
			}
		}
		if len(h) != 2 {
			return false, fmt.Errorf("held %v, want 2", h)
		}
		return true, nil
	})

	// Deleting the deployment deletes the Cluster, CAPI deletes its
	// machines, CAPV its VMs and claims, and every address is released.
	if err := plane.Kube.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Minute, "cluster, VMs, claims and addresses gone", func(ctx context.Context) (bool, error) {
		if _, err := get(ctx, d); !kerrors.IsNotFound(err) {
			return false, err
		}
		if _, err := get(ctx, obj(capiClusterGVK, ns, name)); !kerrors.IsNotFound(err) {
			return false, err
		}
		vms, err := clonedVMs(ctx, vs, name+"-workers")
		if err != nil || len(vms) > 0 {
			return false, err
		}
		claims := &capiipamv1beta2.IPAddressClaimList{}
		if err := plane.Kube.List(ctx, claims, client.InNamespace(ns), client.MatchingLabels{"cluster.x-k8s.io/cluster-name": name}); err != nil || len(claims.Items) > 0 {
			return false, err
		}
		h, err := held(ctx)
		return len(h) == 0, err
	})
}

// capvWorkers is a MachineDeployment of n workers of cluster on the
// composed worker template, bootstrapped from the fixed data Secret.
func capvWorkers(ns, cluster string, n int64) *unstructured.Unstructured {
	name := cluster + "-workers"
	labels := map[string]any{"cluster.x-k8s.io/cluster-name": cluster, "cluster.x-k8s.io/deployment-name": name}
	md := obj(mdGVK, ns, name)
	md.SetLabels(map[string]string{"cluster.x-k8s.io/cluster-name": cluster})
	md.Object["spec"] = map[string]any{
		"clusterName": cluster,
		"replicas":    n,
		"selector":    map[string]any{"matchLabels": labels},
		"template": map[string]any{
			"metadata": map[string]any{"labels": labels},
			"spec": map[string]any{
				"clusterName":       cluster,
				"bootstrap":         map[string]any{"dataSecretName": "bootstrap-data"},
				"infrastructureRef": map[string]any{"apiGroup": vsphereMTGVK.Group, "kind": vsphereMTGVK.Kind, "name": cluster + "-md"},
			},
		},
	}
	return md
}

// vmNetwork is what a VM's cloud-init metadata says of its first device.
type vmNetwork struct {
	addresses []string
	gateway4  string
}

func withAddresses(vms map[string]vmNetwork) bool {
	for _, n := range vms {
		if len(n.addresses) == 0 {
			return false
		}
	}
	return true
}

// clonedVMs reads from the simulator, through the vSphere API, the VMs
// whose names start with prefix and the network of their guestinfo.metadata.
func clonedVMs(ctx context.Context, vs *localplane.VSphere, prefix string) (map[string]vmNetwork, error) {
	u, err := url.Parse(vs.URL)
	if err != nil {
		return nil, err
	}
	sc := soap.NewClient(u, false)
	sc.SetThumbprint(u.Host, vs.Thumbprint)
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return nil, err
	}
	c := &govmomi.Client{Client: vc, SessionManager: session.NewManager(vc)}
	if err := c.Login(ctx, u.User); err != nil {
		return nil, err
	}
	defer func() { _ = c.Logout(context.Background()) }()
	v, err := view.NewManager(vc).CreateContainerView(ctx, vc.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, err
	}
	defer func() { _ = v.Destroy(context.Background()) }()
	var all []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "config.extraConfig"}, &all); err != nil {
		return nil, err
	}
	out := map[string]vmNetwork{}
	for _, vm := range all {
		if !strings.HasPrefix(vm.Name, prefix) {
			continue
		}
		n := vmNetwork{}
		if vm.Config != nil {
			if n, err = guestNetwork(vm.Config.ExtraConfig); err != nil {
				return nil, fmt.Errorf("VM %s: %w", vm.Name, err)
			}
		}
		out[vm.Name] = n
	}
	return out, nil
}

// guestNetwork decodes CAPV's guestinfo.metadata (base64 YAML with a
// netplan network) and returns its first device's addresses and gateway.
func guestNetwork(extra []types.BaseOptionValue) (vmNetwork, error) {
	for _, o := range extra {
		ov := o.GetOptionValue()
		if ov.Key != "guestinfo.metadata" {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(fmt.Sprint(ov.Value))
		if err != nil {
			return vmNetwork{}, fmt.Errorf("guestinfo.metadata: %w", err)
		}
		var md struct {
			Network struct {
				Ethernets map[string]struct {
					Addresses []string `json:"addresses"`
					Gateway4  string   `json:"gateway4"`
				} `json:"ethernets"`
			} `json:"network"`
		}
		if err := yaml.Unmarshal(raw, &md); err != nil {
			return vmNetwork{}, fmt.Errorf("guestinfo.metadata: %w\n%s", err, raw)
		}
		eth, ok := md.Network.Ethernets["id0"]
		if !ok {
			return vmNetwork{}, fmt.Errorf("guestinfo.metadata has no device id0:\n%s", raw)
		}
		return vmNetwork{addresses: eth.Addresses, gateway4: eth.Gateway4}, nil
	}
	return vmNetwork{}, nil
}
