// Package v1alpha1 is the in-cluster backend's API: Reservations, managed
// resources that hold addresses, and Allocations, the ledger entries that
// make every address unique across the management cluster.
// +kubebuilder:object:generate=true
// +groupName=incluster.ipam.provider-ipam.io
// +versionName=v1alpha1
package v1alpha1
