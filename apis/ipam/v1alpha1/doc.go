// Package v1alpha1 is provider-ipam's side of the Cluster API IPAM contract:
// IPPools, which CAPI infrastructure providers (CAPV's addressesFromPools)
// reference from IPAddressClaims, and which hand out the addresses already
// reserved for a cluster.
// +kubebuilder:object:generate=true
// +groupName=ipam.provider-ipam.io
// +versionName=v1alpha1
package v1alpha1
