// Package v1beta1 is the input of provider-ipam's composition function: what
// the function composes in one Composition's pipeline step. Each of the
// configuration package's Compositions sets it, so a Composition's name
// means what it composes (the backend of a ClusterIPAM's Reservations, the
// infrastructure of a ClusterDeployment's cluster).
//
// The input is read by the function only; it is not served by the API
// server, so no CRD is generated for it.
// +kubebuilder:object:generate=true
// +kubebuilder:skip
// +groupName=function.ipam.provider-ipam.io
// +versionName=v1beta1
package v1beta1
