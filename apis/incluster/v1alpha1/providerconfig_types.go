package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultProviderConfig is the ClusterProviderConfig a Reservation names
// when it names none (crossplane-runtime defaults providerConfigRef to it),
// and the one that governs IPPools drawing from the ledger themselves.
const DefaultProviderConfig = "default"

// Policy condition type and reasons, set on in-cluster Reservations.
const (
	// ConditionAllowed says whether the address-space policy lets the
	// Reservation hold what it asks for.
	ConditionAllowed = "Allowed"

	// ReasonWithinPolicy: the request is within its namespace's allowance.
	ReasonWithinPolicy = "WithinPolicy"
	// ReasonAddressSpaceNotAllowed: an address asked for is outside every
	// address space the ClusterProviderConfig allows the namespace.
	ReasonAddressSpaceNotAllowed = "AddressSpaceNotAllowed"
	// ReasonQuotaExceeded: the request would take the namespace above its
	// quota of addresses.
	ReasonQuotaExceeded = "QuotaExceeded"
	// ReasonProviderConfigNotAllowed: the ClusterProviderConfig named does
	// not exist, or a namespaced ProviderConfig was named (tenants write
	// those, so they cannot grant address space).
	ReasonProviderConfigNotAllowed = "ProviderConfigNotAllowed"
	// ReasonAdoptionNotAllowed: kept addresses of another namespace were
	// asked for; they may only be adopted in the namespace that kept them.
	ReasonAdoptionNotAllowed = "AdoptionNotAllowed"
)

// Condition type and reasons of a ClusterProviderConfig, set by the
// provider so that the platform team sees a policy it cannot apply on the
// policy itself, not only on every Reservation it would have governed.
const (
	// ConditionValid says whether every allowance of the
	// ClusterProviderConfig can be applied.
	ConditionValid = "Valid"

	// ReasonPolicyValid: every selector and address of every allowance
	// parses, so the policy applies as written.
	ReasonPolicyValid = "PolicyValid"
	// ReasonPolicyInvalid: an allowance has a selector or an address the
	// provider cannot apply (e.g. a range whose first address is after its
	// last). Requests under this ClusterProviderConfig are refused until it
	// is fixed; the message names the field.
	ReasonPolicyInvalid = "PolicyInvalid"
)

// An AddressAllowance lets the namespaces it selects draw addresses from
// its address spaces.
type AddressAllowance struct {
	// NamespaceSelector selects namespaces by their labels. An empty
	// selector ({}) selects every namespace. Namespaces are cluster-scoped,
	// so tenants cannot relabel their own into an allowance.
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`

	// Addresses the selected namespaces may hold: single addresses, CIDRs
	// and inclusive ranges "10.0.1.10-10.0.1.20". A request is allowed
	// only if every address it could be given is in them.
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=91
	// +kubebuilder:validation:items:XValidation:rule="isIP(self) || isCIDR(self) || (self.split('-').size() == 2 && isIP(self.split('-')[0]) && isIP(self.split('-')[1]))",message="must be an IP address, a CIDR or a range first-last"
	// +kubebuilder:validation:items:XValidation:rule="!isCIDR(self) || cidr(self).masked().ip() == cidr(self).ip()",message="a CIDR must not have host bits: use its network address"
	// +kubebuilder:validation:items:XValidation:rule="self.split('-').size() != 2 || !isIP(self.split('-')[0]) || !isIP(self.split('-')[1]) || ip(self.split('-')[0]).family() == ip(self.split('-')[1]).family()",message="a range's two ends must be of one IP family"
	Addresses []string `json:"addresses"`

	// MaxAddressesPerNamespace is how many addresses each selected
	// namespace may hold under this ClusterProviderConfig, counting what
	// its Reservations ask for, what its pools lease from the ledger, and
	// addresses it kept (orphaned). Unset: no limit. When several
	// allowances select a namespace, the smallest limit applies.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000000
	MaxAddressesPerNamespace *int64 `json:"maxAddressesPerNamespace,omitempty"`
}

// ClusterProviderConfigSpec is the address-space policy of the in-cluster
// ledger.
type ClusterProviderConfigSpec struct {
	// Allow lists which namespaces may draw which addresses. A namespace
	// no allowance selects may draw nothing.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Allow []AddressAllowance `json:"allow,omitempty"`
}

// ClusterProviderConfigStatus says whether the policy can be applied.
type ClusterProviderConfigStatus struct {
	// Conditions: Valid.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true

// A ClusterProviderConfig is the platform team's address-space policy for
// the in-cluster ledger: which namespaces may draw which addresses, and how
// many. It governs every way of drawing from the ledger: Reservations
// (through their providerConfigRef, "default" unless set), IPPools without
// reservationRefs (always "default"), and adoption of kept addresses. It is
// cluster-scoped because tenants, who write only namespaced objects, must
// not grant themselves address space. Without one, nothing is drawn.
// +kubebuilder:printcolumn:name="VALID",type="string",JSONPath=".status.conditions[?(@.type=='Valid')].status"
// +kubebuilder:printcolumn:name="REASON",type="string",JSONPath=".status.conditions[?(@.type=='Valid')].reason"
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories={crossplane,provider,ipam}
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 189",message="metadata.name may be at most 189 characters long: the QuotaUsage of a namespace under it is named <name>.<namespace>"
type ClusterProviderConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ClusterProviderConfigSpec `json:"spec"`
	// +optional
	Status ClusterProviderConfigStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ClusterProviderConfigList contains a list of ClusterProviderConfig.
type ClusterProviderConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterProviderConfig `json:"items"`
}

// A HolderUsage is what one holder counts against its namespace's quota:
// the addresses it asks for (a Reservation) or has leased from the ledger
// (an IPPool), from the moment the ledger accepted the request until the
// holder is released.
type HolderUsage struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	// +kubebuilder:validation:Minimum=0
	Addresses int64 `json:"addresses"`
}

// QuotaUsageSpec is what a namespace holds under one ClusterProviderConfig.
type QuotaUsageSpec struct {
	ProviderConfig string `json:"providerConfig"`
	Namespace      string `json:"namespace"`
	// Total is the sum of holders' addresses.
	Total int64 `json:"total"`
	// +optional
	// +listType=map
	// +listMapKey=uid
	Holders []HolderUsage `json:"holders,omitempty"`
}

// +kubebuilder:object:root=true

// A QuotaUsage counts what one namespace holds under one
// ClusterProviderConfig with a quota, named "<providerconfig>.<namespace>".
// The provider writes it, fenced on its resourceVersion, before it creates
// any Allocation the count covers: two requests racing for the last of a
// quota cannot both pass, across goroutines, replicas and restarts. It is
// cluster-scoped so that tenants cannot reset it.
// +kubebuilder:printcolumn:name="NAMESPACE",type="string",JSONPath=".spec.namespace"
// +kubebuilder:printcolumn:name="PROVIDERCONFIG",type="string",JSONPath=".spec.providerConfig"
// +kubebuilder:printcolumn:name="ADDRESSES",type="integer",JSONPath=".spec.total"
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:resource:scope=Cluster,categories={ipam}
type QuotaUsage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec QuotaUsageSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// QuotaUsageList contains a list of QuotaUsage.
type QuotaUsageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []QuotaUsage `json:"items"`
}
