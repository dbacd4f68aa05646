// Package v1alpha1 holds types shared by every API group of provider-ipam.
// +kubebuilder:object:generate=true
package v1alpha1
