package vsphere

import (
	"testing"

	"github.com/crossplane/function-sdk-go/resource"
	"github.com/google/go-cmp/cmp"

	"github.com/provider-ipam/provider-ipam/internal/function/infrastructure"
)

func TestSupports(t *testing.T) {
	for template, want := range map[string]bool{
		"vsphere-standalone-cp-1-0-0": true,
		"VSphere-hosted":              true,
		"aws-standalone-cp-1-0-0":     false,
		"":                            false,
	} {
		if got := (Template{}).Supports(template); got != want {
			t.Errorf("Supports(%q) = %t, want %t", template, got, want)
		}
	}
}

func TestMissing(t *testing.T) {
	cases := map[string]struct {
		values map[string]any
		want   []string
	}{
		"Both":        {values: map[string]any{"controlPlane": map[string]any{"vmTemplate": "t"}, "worker": map[string]any{"vmTemplate": "t"}}},
		"None":        {values: map[string]any{}, want: []string{"spec.config.controlPlane.vmTemplate", "spec.config.worker.vmTemplate"}},
		"WorkerOnly":  {values: map[string]any{"controlPlane": map[string]any{"vmTemplate": "t"}}, want: []string{"spec.config.worker.vmTemplate"}},
		"NotAString":  {values: map[string]any{"controlPlane": map[string]any{"vmTemplate": float64(1)}, "worker": map[string]any{"vmTemplate": "t"}}, want: []string{"spec.config.controlPlane.vmTemplate"}},
		"RoleNotAMap": {values: map[string]any{"controlPlane": "t", "worker": map[string]any{"vmTemplate": "t"}}, want: []string{"spec.config.controlPlane.vmTemplate"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, (Template{}).Missing(tc.values)); diff != "" {
				t.Errorf("Missing (-want +got):\n%s", diff)
			}
		})
	}
}

// byName renders c and indexes the objects' specs by composed name.
func byName(t *testing.T, c infrastructure.Cluster) (map[resource.Name]map[string]any, []resource.Name) {
	t.Helper()
	specs := map[resource.Name]map[string]any{}
	var order []resource.Name
	for _, o := range (Template{}).Objects(c) {
		if o.Resource.GetNamespace() != c.Namespace || o.Resource.GetLabels()[clusterNameLabel] != c.Name {
			t.Errorf("%s: namespace %q, labels %v", o.Name, o.Resource.GetNamespace(), o.Resource.GetLabels())
		}
		specs[o.Name], _ = o.Resource.Object["spec"].(map[string]any)
		order = append(order, o.Name)
	}
	return specs, order
}

func TestObjects(t *testing.T) {
	c := infrastructure.Cluster{
		Namespace: "team-a", Name: "c1", ControlPlanes: 3, Workers: 2,
		Values: map[string]any{
			"controlPlane":   map[string]any{"vmTemplate": "ubuntu", "cpus": float64(4), "memory": int64(8192), "network": "cp-net"},
			"worker":         map[string]any{"vmTemplate": "ubuntu", "rootVolumeSize": 1.5},
			"vsphere":        map[string]any{"server": "vc.example.com", "datacenter": "dc", "network": "nodes"},
			"nameservers":    []any{"192.0.2.53", "", float64(7)},
			"clusterNetwork": map[string]any{"pods": map[string]any{"cidrBlocks": []any{"10.244.0.0/16"}}},
		},
		Pool:      &infrastructure.Pool{Ref: map[string]any{"apiGroup": "ipam.provider-ipam.io", "kind": "IPPool", "name": "c1-node"}, Gateway: "2001:db8::1"},
		Endpoints: []string{"", "2001:db8::10"},
	}
	specs, order := byName(t, c)
	wantOrder := []resource.Name{nameCAPICluster, nameVSphereCluster, nameControlPlane, nameCPMachineTemplate, nameMachineDeployment, nameWorkerTemplate, nameWorkerBootstrap}
	if diff := cmp.Diff(wantOrder, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}

	cp := specs[nameCPMachineTemplate]["template"].(map[string]any)["spec"].(map[string]any)
	wantCP := map[string]any{
		"template":   "ubuntu",
		"server":     "vc.example.com",
		"datacenter": "dc",
		"numCPUs":    int64(4),
		"memoryMiB":  int64(8192),
		"network": map[string]any{"devices": []any{map[string]any{
			"networkName":        "cp-net",
			"dhcp4":              false,
			"addressesFromPools": []any{map[string]any{"apiGroup": "ipam.provider-ipam.io", "kind": "IPPool", "name": "c1-node"}},
			"gateway6":           "2001:db8::1",
			"nameservers":        []any{"192.0.2.53"},
		}}},
	}
	if diff := cmp.Diff(wantCP, cp); diff != "" {
		t.Errorf("control-plane machine template (-want +got):\n%s", diff)
	}
	worker := specs[nameWorkerTemplate]["template"].(map[string]any)["spec"].(map[string]any)
	if _, ok := worker["diskGiB"]; ok {
		t.Errorf("a fractional rootVolumeSize became diskGiB %v", worker["diskGiB"])
	}
	if got := worker["network"].(map[string]any)["devices"].([]any)[0].(map[string]any)["networkName"]; got != "nodes" {
		t.Errorf("worker network = %v, want the vsphere.network default", got)
	}
	if diff := cmp.Diff(map[string]any{"host": "2001:db8::10", "port": int64(apiServerPort)}, specs[nameVSphereCluster]["controlPlaneEndpoint"]); diff != "" {
		t.Errorf("endpoint (-want +got):\n%s", diff)
	}
	if specs[nameControlPlane]["replicas"] != int64(3) || specs[nameMachineDeployment]["replicas"] != int64(2) {
		t.Errorf("replicas: control plane %v, workers %v", specs[nameControlPlane]["replicas"], specs[nameMachineDeployment]["replicas"])
	}
	if diff := cmp.Diff(map[string]any{"pods": map[string]any{"cidrBlocks": []any{"10.244.0.0/16"}}}, specs[nameCAPICluster]["clusterNetwork"]); diff != "" {
		t.Errorf("cluster network (-want +got):\n%s", diff)
	}
}

// Without IPAM, machines use DHCP and there is no endpoint to guess.
func TestObjectsWithoutPool(t *testing.T) {
	specs, _ := byName(t, infrastructure.Cluster{Namespace: "team-a", Name: "c1", Values: map[string]any{}})
	device := specs[nameWorkerTemplate]["template"].(map[string]any)["spec"].(map[string]any)["network"].(map[string]any)["devices"].([]any)[0]
	if diff := cmp.Diff(map[string]any{"networkName": defaultNetwork, "dhcp4": true}, device); diff != "" {
		t.Errorf("device (-want +got):\n%s", diff)
	}
	if _, ok := specs[nameVSphereCluster]["controlPlaneEndpoint"]; ok {
		t.Errorf("endpoint without an address: %v", specs[nameVSphereCluster]["controlPlaneEndpoint"])
	}
	if v := specs[nameControlPlane]["version"]; v != defaultKubernetesVersion {
		t.Errorf("version = %v", v)
	}
}
