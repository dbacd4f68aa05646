package v1beta1

import "k8s.io/apimachinery/pkg/runtime/schema"

// Group and version of k0rdent's API.
const (
	Group   = "k0rdent.mirantis.com"
	Version = "v1beta1"
)

// SchemeGroupVersion is k0rdent's API group and version.
var SchemeGroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// The kinds provider-ipam serves, as XRDs of the configuration package.
var (
	ClusterIPAMClaimGVK  = SchemeGroupVersion.WithKind("ClusterIPAMClaim")
	ClusterIPAMGVK       = SchemeGroupVersion.WithKind("ClusterIPAM")
	ClusterDeploymentGVK = SchemeGroupVersion.WithKind("ClusterDeployment")
)

// Backends a claim can name in spec.provider (k0rdent's values).
const (
	ProviderInCluster = "in-cluster"
	ProviderInfoblox  = "ipam-infoblox"
)
