package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group, version and kind of the function's input.
var (
	SchemeGroupVersion    = schema.GroupVersion{Group: "function.ipam.provider-ipam.io", Version: "v1beta1"}
	InputGroupVersionKind = SchemeGroupVersion.WithKind("Input")
)

// Infrastructures a ClusterDeployment Composition can render.
const (
	// InfrastructureVSphere renders CAPI and CAPV objects of a vSphere
	// cluster whose machines take their addresses from the IPPool.
	InfrastructureVSphere = "vsphere"
)

// Input is the function's input in a Composition's pipeline step. A
// ClusterIPAM Composition names its backend, a ClusterDeployment Composition
// its infrastructure; a ClusterIPAMClaim Composition needs neither.
// +kubebuilder:object:root=true
type Input struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Backend is where a ClusterIPAM's Reservations are held: in-cluster
	// (the management cluster's ledger) or ipam-infoblox. A ClusterIPAM
	// whose spec.provider names another backend is refused, so a
	// Composition never draws from a backend the claim did not ask for.
	// +optional
	Backend string `json:"backend,omitempty"`

	// Infrastructure is what a ClusterDeployment's cluster objects are
	// rendered for: vsphere.
	// +optional
	Infrastructure string `json:"infrastructure,omitempty"`
}
