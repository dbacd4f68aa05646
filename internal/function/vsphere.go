package function

import (
	"strings"

	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/resource/composed"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
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

// Names of a ClusterDeployment's cluster objects in the pipeline.
const (
	nameCAPICluster       resource.Name = "capiCluster"
	nameVSphereCluster    resource.Name = "vsphereCluster"
	nameControlPlane      resource.Name = "controlPlane"
	nameCPMachineTemplate resource.Name = "controlPlaneMachineTemplate"
	nameWorkerTemplate    resource.Name = "workerMachineTemplate"
	nameMachineDeployment resource.Name = "machineDeployment"
	nameWorkerBootstrap   resource.Name = "workerBootstrapTemplate"
)

// clusterObjects are the composed names of the cluster objects, in the order
// they are listed in a dry run's report.
var clusterObjects = []resource.Name{
	nameCAPICluster, nameVSphereCluster, nameControlPlane, nameCPMachineTemplate,
	nameMachineDeployment, nameWorkerTemplate, nameWorkerBootstrap,
}

const (
	// defaultVSphereNetwork is vSphere's default port group.
	defaultVSphereNetwork = "VM Network"
	// defaultKubernetesVersion is used when config.kubernetesVersion is unset.
	defaultKubernetesVersion = "v1.35.3"
	// apiServerPort is the control-plane endpoint's port.
	apiServerPort = 6443
	// clusterNameLabel is CAPI's label of a cluster's objects.
	clusterNameLabel = "cluster.x-k8s.io/cluster-name"
	// deploymentNameLabel is CAPI's label of a MachineDeployment's machines.
	deploymentNameLabel = "cluster.x-k8s.io/deployment-name"
)

// A vsphereCluster is what the vSphere objects of one ClusterDeployment are
// built from: the values (spec.config, with ipamEnabled and ipPool merged as
// k0rdent does) and, with IPAM, the node pool.
type vsphereCluster struct {
	namespace, name   string
	values            map[string]any
	controlPlanes     int64
	workers           int64
	pool              *nodePool // nil without IPAM
	endpointFallbacks []string  // control-plane endpoint candidates after config.controlPlaneEndpointIP
}

// A nodePool is the node network of a bound ClusterIPAM.
type nodePool struct {
	ref       map[string]any // {apiGroup, kind, name}
	addresses []string
	gateway   string
	size      int64
}

func (v *vsphereCluster) objectName(suffix string) string {
	if suffix == "" {
		return v.name
	}
	return v.name + "-" + suffix
}

// missing lists the values a vSphere cluster cannot be composed without:
// CAPV requires the VM template each role's machines are cloned from.
func (v *vsphereCluster) missing() []string {
	var out []string
	for _, role := range []string{"controlPlane", "worker"} {
		if str(v.values, role, "vmTemplate") == "" {
			out = append(out, "spec.config."+role+".vmTemplate")
		}
	}
	return out
}

// objects builds every cluster object, keyed by composed name.
func (v *vsphereCluster) objects() map[resource.Name]*composed.Unstructured {
	return map[resource.Name]*composed.Unstructured{
		nameCAPICluster:       v.cluster(),
		nameVSphereCluster:    v.infraCluster(),
		nameControlPlane:      v.controlPlane(),
		nameCPMachineTemplate: v.machineTemplate("controlPlane", v.objectName("cp")),
		nameMachineDeployment: v.machineDeployment(),
		nameWorkerTemplate:    v.machineTemplate("worker", v.objectName("md")),
		nameWorkerBootstrap:   v.bootstrapTemplate(),
	}
}

func (v *vsphereCluster) newObject(gvk schema.GroupVersionKind, name string, spec map[string]any) *composed.Unstructured {
	cd := newComposed(gvk, v.namespace, name)
	cd.SetLabels(map[string]string{clusterNameLabel: v.name})
	cd.Object["spec"] = spec
	return cd
}

func ref(gvk schema.GroupVersionKind, name string) map[string]any {
	return map[string]any{"apiGroup": gvk.Group, "kind": gvk.Kind, "name": name}
}

func (v *vsphereCluster) cluster() *composed.Unstructured {
	spec := map[string]any{
		"infrastructureRef": ref(vsphereClusterGVK, v.objectName("")),
		"controlPlaneRef":   ref(kubeadmControlPlaneGVK, v.objectName("cp")),
	}
	if cn, ok := v.values["clusterNetwork"].(map[string]any); ok {
		net := map[string]any{}
		for _, k := range []string{"pods", "services"} {
			if blocks := stringList(cn, k, "cidrBlocks"); len(blocks) > 0 {
				net[k] = map[string]any{"cidrBlocks": anySlice(blocks)}
			}
		}
		if len(net) > 0 {
			spec["clusterNetwork"] = net
		}
	}
	return v.newObject(capiClusterGVK, v.objectName(""), spec)
}

// endpoint is the control-plane endpoint's host: config's
// controlPlaneEndpointIP, else the first fallback, else none.
func (v *vsphereCluster) endpoint() string {
	if ip := str(v.values, "controlPlaneEndpointIP"); ip != "" {
		return ip
	}
	for _, a := range v.endpointFallbacks {
		if a != "" {
			return a
		}
	}
	return ""
}

func (v *vsphereCluster) infraCluster() *composed.Unstructured {
	spec := map[string]any{}
	if host := v.endpoint(); host != "" {
		spec["controlPlaneEndpoint"] = map[string]any{"host": host, "port": int64(apiServerPort)}
	}
	for _, k := range []string{"server", "thumbprint"} {
		if s := str(v.values, "vsphere", k); s != "" {
			spec[k] = s
		}
	}
	if id := str(v.values, "clusterIdentity", "name"); id != "" {
		spec["identityRef"] = map[string]any{"kind": "VSphereClusterIdentity", "name": id}
	}
	return v.newObject(vsphereClusterGVK, v.objectName(""), spec)
}

func (v *vsphereCluster) version() string {
	if s := str(v.values, "kubernetesVersion"); s != "" {
		return s
	}
	return defaultKubernetesVersion
}

// kubeadmSpec is the kubeadm configuration of a role's machines: the node is
// named after its VM, and the role's SSH user gets the public key.
func (v *vsphereCluster) kubeadmSpec(role string, init bool) map[string]any {
	reg := map[string]any{"nodeRegistration": map[string]any{"name": "{{ local_hostname }}"}}
	spec := map[string]any{"joinConfiguration": runtime.DeepCopyJSONValue(reg)}
	if init {
		spec["initConfiguration"] = reg
	}
	if user, key := str(v.values, role, "ssh", "user"), str(v.values, role, "ssh", "publicKey"); user != "" && key != "" {
		spec["users"] = []any{map[string]any{"name": user, "sshAuthorizedKeys": []any{key}, "sudo": "ALL=(ALL) NOPASSWD:ALL"}}
	}
	return spec
}

func (v *vsphereCluster) controlPlane() *composed.Unstructured {
	return v.newObject(kubeadmControlPlaneGVK, v.objectName("cp"), map[string]any{
		"replicas": v.controlPlanes,
		"version":  v.version(),
		"machineTemplate": map[string]any{"spec": map[string]any{
			"infrastructureRef": ref(vsphereMachineTmplGVK, v.objectName("cp")),
		}},
		"kubeadmConfigSpec": v.kubeadmSpec("controlPlane", true),
	})
}

// machineTemplate is the VSphereMachineTemplate of role (controlPlane or
// worker). With IPAM its one network device takes its address from the pool
// (DHCP off, the pool's gateway); without, it uses DHCP.
func (v *vsphereCluster) machineTemplate(role, name string) *composed.Unstructured {
	network := str(v.values, role, "network")
	if network == "" {
		network = str(v.values, "vsphere", "network")
	}
	if network == "" {
		network = defaultVSphereNetwork
	}
	device := map[string]any{"networkName": network}
	if v.pool != nil {
		device["dhcp4"] = false
		device["addressesFromPools"] = []any{runtime.DeepCopyJSONValue(v.pool.ref)}
		if gw := v.pool.gateway; gw != "" {
			if strings.Contains(gw, ":") {
				device["gateway6"] = gw
			} else {
				device["gateway4"] = gw
			}
		}
	} else {
		device["dhcp4"] = true
	}
	if ns := stringList(v.values, "nameservers"); len(ns) > 0 {
		device["nameservers"] = anySlice(ns)
	}

	spec := map[string]any{
		"template": str(v.values, role, "vmTemplate"),
		"network":  map[string]any{"devices": []any{device}},
	}
	for _, k := range []string{"server", "thumbprint", "datacenter", "datastore", "resourcePool", "folder"} {
		if s := str(v.values, "vsphere", k); s != "" {
			spec[k] = s
		}
	}
	for field, key := range map[string]string{"numCPUs": "cpus", "memoryMiB": "memory", "diskGiB": "rootVolumeSize"} {
		if n, found, err := nestedNumber(v.values, role, key); err == nil && found && n > 0 {
			spec[field] = n
		}
	}
	return v.newObject(vsphereMachineTmplGVK, name, map[string]any{"template": map[string]any{"spec": spec}})
}

func (v *vsphereCluster) machineDeployment() *composed.Unstructured {
	labels := map[string]any{clusterNameLabel: v.name, deploymentNameLabel: v.objectName("md")}
	return v.newObject(machineDeploymentGVK, v.objectName("md"), map[string]any{
		"clusterName": v.name,
		"replicas":    v.workers,
		"selector":    map[string]any{"matchLabels": labels},
		"template": map[string]any{
			"metadata": map[string]any{"labels": runtime.DeepCopyJSONValue(labels)},
			"spec": map[string]any{
				"clusterName":       v.name,
				"version":           v.version(),
				"bootstrap":         map[string]any{"configRef": ref(kubeadmConfigTemplateGVK, v.objectName("md"))},
				"infrastructureRef": ref(vsphereMachineTmplGVK, v.objectName("md")),
			},
		},
	})
}

func (v *vsphereCluster) bootstrapTemplate() *composed.Unstructured {
	return v.newObject(kubeadmConfigTemplateGVK, v.objectName("md"), map[string]any{
		"template": map[string]any{"spec": v.kubeadmSpec("worker", false)},
	})
}

// str reads a string at path in values, "" when absent or not a string.
func str(values map[string]any, path ...string) string {
	var cur any = values
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	s, _ := cur.(string)
	return s
}

// stringList reads a list of strings at path in values, skipping anything
// that is not a non-empty string.
func stringList(values map[string]any, path ...string) []string {
	var cur any = values
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	items, _ := cur.([]any)
	var out []string
	for _, i := range items {
		if s, ok := i.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}
