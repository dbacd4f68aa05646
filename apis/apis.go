// Package apis contains provider-ipam's API types.
package apis

import (
	"k8s.io/apimachinery/pkg/runtime"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	ipamv1alpha1 "github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
)

// AddToSchemes may be used to add all resources defined in the project to a Scheme.
var AddToSchemes = runtime.SchemeBuilder{
	inclusterv1alpha1.SchemeBuilder.AddToScheme,
	ipamv1alpha1.SchemeBuilder.AddToScheme,
	infobloxv1alpha1.SchemeBuilder.AddToScheme,
}

// AddToScheme adds all Resources to the Scheme.
func AddToScheme(s *runtime.Scheme) error {
	return AddToSchemes.AddToScheme(s)
}
