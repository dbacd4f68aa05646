// Package v1alpha1 is the Infoblox backend's API: Reservations, managed
// resources that hold an address in NIOS through WAPI, and the
// ProviderConfigs that say how to reach the grid.
// +kubebuilder:object:generate=true
// +groupName=infoblox.ipam.provider-ipam.io
// +versionName=v1alpha1
package v1alpha1
