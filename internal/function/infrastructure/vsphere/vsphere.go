// Package vsphere renders a ClusterDeployment as a vSphere cluster: Cluster
// API (v1beta2) Cluster, KubeadmControlPlane, MachineDeployment and
// KubeadmConfigTemplate, and CAPV (v1beta1) VSphereCluster and
// VSphereMachineTemplates whose machines take their addresses from the
// IPAM pool. It reads k0rdent's vSphere template values from spec.config.
package vsphere

import (
	"strings"

	"github.com/crossplane/crossplane-runtime/v2/pkg/fieldpath"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/resource/composed"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/provider-ipam/provider-ipam/internal/function/infrastructure"
)

// The CAPI (v1beta2) and CAPV (v1beta1) kinds of a vSphere cluster. They are
// composed as unstructured objects: CAPV's Go module pins an older CAPI.
var (
	capiClusterGVK           = schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: "v1beta2", Kind: "Cluster"}
	machineDeploymentGVK     = schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: "v1beta2", Kind: "MachineDeployment"}
	kubeadmControlPlaneGVK   = schema.GroupVersionKind{Group: "controlplane.cluster.x-k8s.io", Version: "v1beta2", Kind: "KubeadmControlPlane"}
	kubeadmConfigTemplateGVK = schema.GroupVersionKind{Group: "bootstrap.cluster.x-k8s.io", Version: "v1beta2", Kind: "KubeadmConfigTemplate"}
	vsphereClusterGVK        = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta1", Kind: "VSphereCluster"}
	vsphereMachineTmplGVK    = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta1", Kind: "VSphereMachineTemplate"}
)

// Names of a vSphere cluster's objects in the pipeline.
const (
	nameCAPICluster       resource.Name = "capiCluster"
	nameVSphereCluster    resource.Name = "vsphereCluster"
	nameControlPlane      resource.Name = "controlPlane"
	nameCPMachineTemplate resource.Name = "controlPlaneMachineTemplate"
	nameWorkerTemplate    resource.Name = "workerMachineTemplate"
	nameMachineDeployment resource.Name = "machineDeployment"
	nameWorkerBootstrap   resource.Name = "workerBootstrapTemplate"
)

const (
	// defaultNetwork is vSphere's default port group.
	defaultNetwork = "VM Network"
	// defaultKubernetesVersion is used when config.kubernetesVersion is unset.
	defaultKubernetesVersion = "v1.35.3"
	// apiServerPort is the control-plane endpoint's port.
	apiServerPort = 6443
	// clusterNameLabel is CAPI's label of a cluster's objects.
	clusterNameLabel = "cluster.x-k8s.io/cluster-name"
	// deploymentNameLabel is CAPI's label of a MachineDeployment's machines.
	deploymentNameLabel = "cluster.x-k8s.io/deployment-name"
)

// Template renders vSphere clusters.
type Template struct{}

var _ infrastructure.Template = Template{}

// Supports takes k0rdent's vSphere templates, whose names contain "vsphere"
// (e.g. vsphere-standalone-cp-1-0-0).
func (Template) Supports(template string) bool {
	return strings.Contains(strings.ToLower(template), "vsphere")
}

// Templates says which templates Supports takes.
func (Template) Templates() string { return `names containing "vsphere"` }

// Missing lists what CAPV cannot clone machines without: the VM template
// of each role.
func (Template) Missing(values map[string]any) []string {
	v := config{fieldpath.Pave(values)}
	var out []string
	for _, role := range []string{"controlPlane", "worker"} {
		if v.str(role+".vmTemplate") == "" {
			out = append(out, "spec.config."+role+".vmTemplate")
		}
	}
	return out
}

// Objects renders the cluster's seven objects.
func (Template) Objects(c infrastructure.Cluster) []infrastructure.Object {
	r := &renderer{Cluster: c, values: config{fieldpath.Pave(c.Values)}}
	return []infrastructure.Object{
		{Name: nameCAPICluster, Resource: r.cluster()},
		{Name: nameVSphereCluster, Resource: r.infraCluster()},
		{Name: nameControlPlane, Resource: r.controlPlane()},
		{Name: nameCPMachineTemplate, Resource: r.machineTemplate("controlPlane", r.objectName("cp")), Template: true},
		{Name: nameMachineDeployment, Resource: r.machineDeployment()},
		{Name: nameWorkerTemplate, Resource: r.machineTemplate("worker", r.objectName("md")), Template: true},
		{Name: nameWorkerBootstrap, Resource: r.bootstrapTemplate(), Template: true},
	}
}

// config reads k0rdent's template values. A value of the wrong type reads
// as unset: the template's default applies, as in k0rdent's Helm charts.
type config struct{ *fieldpath.Paved }

func (c config) str(path string) string {
	s, _ := c.GetString(path)
	return s
}

// strings reads a list of strings, skipping entries that are not
// non-empty strings.
func (c config) strings(path string) []string {
	v, err := c.GetValue(path)
	if err != nil {
		return nil
	}
	items, _ := v.([]any)
	var out []string
	for _, i := range items {
		if s, ok := i.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// A renderer builds the objects of one cluster.
type renderer struct {
	infrastructure.Cluster
	values config
}

func (r *renderer) objectName(suffix string) string {
	if suffix == "" {
		return r.Name
	}
	return r.Name + "-" + suffix
}

func (r *renderer) newObject(gvk schema.GroupVersionKind, name string, spec map[string]any) *composed.Unstructured {
	cd := composed.New()
	cd.SetGroupVersionKind(gvk)
	cd.SetNamespace(r.Namespace)
	cd.SetName(name)
	cd.SetLabels(map[string]string{clusterNameLabel: r.Name})
	cd.Object["spec"] = spec
	return cd
}

func ref(gvk schema.GroupVersionKind, name string) map[string]any {
	return map[string]any{"apiGroup": gvk.Group, "kind": gvk.Kind, "name": name}
}

func (r *renderer) cluster() *composed.Unstructured {
	spec := map[string]any{
		"infrastructureRef": ref(vsphereClusterGVK, r.objectName("")),
		"controlPlaneRef":   ref(kubeadmControlPlaneGVK, r.objectName("cp")),
	}
	net := map[string]any{}
	for _, k := range []string{"pods", "services"} {
		if blocks := r.values.strings("clusterNetwork." + k + ".cidrBlocks"); len(blocks) > 0 {
			net[k] = map[string]any{"cidrBlocks": anySlice(blocks)}
		}
	}
	if len(net) > 0 {
		spec["clusterNetwork"] = net
	}
	return r.newObject(capiClusterGVK, r.objectName(""), spec)
}

// endpoint is the control-plane endpoint's host: config's
// controlPlaneEndpointIP, else the first IPAM candidate, else none.
func (r *renderer) endpoint() string {
	if ip := r.values.str("controlPlaneEndpointIP"); ip != "" {
		return ip
	}
	for _, a := range r.Endpoints {
		if a != "" {
			return a
		}
	}
	return ""
}

func (r *renderer) infraCluster() *composed.Unstructured {
	spec := map[string]any{}
	if host := r.endpoint(); host != "" {
		spec["controlPlaneEndpoint"] = map[string]any{"host": host, "port": int64(apiServerPort)}
	}
	for _, k := range []string{"server", "thumbprint"} {
		if s := r.values.str("vsphere." + k); s != "" {
			spec[k] = s
		}
	}
	if id := r.values.str("clusterIdentity.name"); id != "" {
		spec["identityRef"] = map[string]any{"kind": "VSphereClusterIdentity", "name": id}
	}
	return r.newObject(vsphereClusterGVK, r.objectName(""), spec)
}

func (r *renderer) version() string {
	if s := r.values.str("kubernetesVersion"); s != "" {
		return s
	}
	return defaultKubernetesVersion
}

// kubeadmSpec is the kubeadm configuration of a role's machines: the node is
// named after its VM, and the role's SSH user gets the public key.
func (r *renderer) kubeadmSpec(role string, init bool) map[string]any {
	reg := map[string]any{"nodeRegistration": map[string]any{"name": "{{ local_hostname }}"}}
	spec := map[string]any{"joinConfiguration": runtime.DeepCopyJSONValue(reg)}
	if init {
		spec["initConfiguration"] = reg
	}
	if user, key := r.values.str(role+".ssh.user"), r.values.str(role+".ssh.publicKey"); user != "" && key != "" {
		spec["users"] = []any{map[string]any{"name": user, "sshAuthorizedKeys": []any{key}, "sudo": "ALL=(ALL) NOPASSWD:ALL"}}
	}
	return spec
}

func (r *renderer) controlPlane() *composed.Unstructured {
	return r.newObject(kubeadmControlPlaneGVK, r.objectName("cp"), map[string]any{
		"replicas": r.ControlPlanes,
		"version":  r.version(),
		"machineTemplate": map[string]any{"spec": map[string]any{
			"infrastructureRef": ref(vsphereMachineTmplGVK, r.objectName("cp")),
		}},
		"kubeadmConfigSpec": r.kubeadmSpec("controlPlane", true),
	})
}

// machineTemplate is the VSphereMachineTemplate of role (controlPlane or
// worker). With IPAM its one network device takes its address from the pool
// (DHCP off, the pool's gateway); without, it uses DHCP.
func (r *renderer) machineTemplate(role, name string) *composed.Unstructured {
	network := r.values.str(role + ".network")
	if network == "" {
		network = r.values.str("vsphere.network")
	}
	if network == "" {
		network = defaultNetwork
	}
	device := map[string]any{"networkName": network}
	if r.Pool != nil {
		device["dhcp4"] = false
		device["addressesFromPools"] = []any{runtime.DeepCopyJSONValue(r.Pool.Ref)}
		if gw := r.Pool.Gateway; gw != "" {
			if strings.Contains(gw, ":") {
				device["gateway6"] = gw
			} else {
				device["gateway4"] = gw
			}
		}
	} else {
		device["dhcp4"] = true
	}
	if ns := r.values.strings("nameservers"); len(ns) > 0 {
		device["nameservers"] = anySlice(ns)
	}

	spec := map[string]any{
		"template": r.values.str(role + ".vmTemplate"),
		"network":  map[string]any{"devices": []any{device}},
	}
	for _, k := range []string{"server", "thumbprint", "datacenter", "datastore", "resourcePool", "folder"} {
		if s := r.values.str("vsphere." + k); s != "" {
			spec[k] = s
		}
	}
	for field, key := range map[string]string{"numCPUs": "cpus", "memoryMiB": "memory", "diskGiB": "rootVolumeSize"} {
		if n, found, err := infrastructure.Integer(r.Values, role, key); err == nil && found && n > 0 {
			spec[field] = n
		}
	}
	return r.newObject(vsphereMachineTmplGVK, name, map[string]any{"template": map[string]any{"spec": spec}})
}

func (r *renderer) machineDeployment() *composed.Unstructured {
	labels := map[string]any{clusterNameLabel: r.Name, deploymentNameLabel: r.objectName("md")}
	return r.newObject(machineDeploymentGVK, r.objectName("md"), map[string]any{
		"clusterName": r.Name,
		"replicas":    r.Workers,
		"selector":    map[string]any{"matchLabels": labels},
		"template": map[string]any{
			"metadata": map[string]any{"labels": runtime.DeepCopyJSONValue(labels)},
			"spec": map[string]any{
				"clusterName":       r.Name,
				"version":           r.version(),
				"bootstrap":         map[string]any{"configRef": ref(kubeadmConfigTemplateGVK, r.objectName("md"))},
				"infrastructureRef": ref(vsphereMachineTmplGVK, r.objectName("md")),
			},
		},
	})
}

func (r *renderer) bootstrapTemplate() *composed.Unstructured {
	return r.newObject(kubeadmConfigTemplateGVK, r.objectName("md"), map[string]any{
		"template": map[string]any{"spec": r.kubeadmSpec("worker", false)},
	})
}

// anySlice converts for structpb, which takes []any but not []string.
func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
