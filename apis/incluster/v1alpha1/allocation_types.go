package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LabelOwnerUID labels every Allocation with the UID of the Reservation
// holding it, so that a Reservation finds its addresses again after a crash
// between creating an Allocation and recording it.
const LabelOwnerUID = "incluster.ipam.provider-ipam.io/owner-uid"

// AllocationOwner is the Reservation an Allocation belongs to.
type AllocationOwner struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	// ProviderConfig is the in-cluster ClusterProviderConfig the address
	// was drawn under; empty means "default".
	// +optional
	ProviderConfig string `json:"providerConfig,omitempty"`
}

// A LeaseHolder names an object by name and UID: a name alone could be
// that of a later object of the same name.
type LeaseHolder struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// An AllocationLease records that an IPPool handed the address to a
// machine's IPAddressClaim. It is the ledger's answer to "is this address in
// use": a Reservation shrinking never releases a leased address, no second
// pool hands it out, and a crash between leasing and creating the IPAddress
// is found again from the claim's UID.
type AllocationLease struct {
	// Namespace of the pool and the claim.
	Namespace string `json:"namespace"`
	// Pool that handed the address out.
	Pool LeaseHolder `json:"pool"`
	// Claim the address was handed to. Empty while the address cools down
	// after its claim let it go.
	// +optional
	Claim *LeaseHolder `json:"claim,omitempty"`
	// LeasedAt is when the pool handed the address out.
	LeasedAt metav1.Time `json:"leasedAt"`
	// ReleasedAt is when the claim let the address go. The pool's
	// reuseGracePeriodSeconds after it, the lease ends.
	// +optional
	ReleasedAt *metav1.Time `json:"releasedAt,omitempty"`
}

// AllocationSpec is one held address.
type AllocationSpec struct {
	// Address held. The object's name is derived from it, which is what
	// makes an address impossible to hold twice.
	Address string `json:"address"`
	// Owner holding the address: a Reservation, or an IPPool that draws
	// addresses from the ledger itself.
	Owner AllocationOwner `json:"owner"`
	// Lease is set while a pool has handed the address to a machine (and
	// through the pool's reuse grace period after).
	// +optional
	Lease *AllocationLease `json:"lease,omitempty"`
}

// +kubebuilder:object:root=true

// An Allocation is one entry of the in-cluster ledger: address X is held by
// Reservation (or IPPool) Y, and perhaps leased to a machine. The provider creates and deletes them; they are
// cluster-scoped because an address is unique across the whole management
// cluster, whichever namespace asks for it.
// +kubebuilder:printcolumn:name="ADDRESS",type="string",JSONPath=".spec.address"
// +kubebuilder:printcolumn:name="NAMESPACE",type="string",JSONPath=".spec.owner.namespace"
// +kubebuilder:printcolumn:name="HOLDER",type="string",JSONPath=".spec.owner.name"
// +kubebuilder:printcolumn:name="KIND",type="string",JSONPath=".spec.owner.kind",priority=1
// +kubebuilder:printcolumn:name="CLAIM",type="string",JSONPath=".spec.lease.claim.name"
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:resource:scope=Cluster,categories={ipam},shortName=ica
type Allocation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:validation:XValidation:rule="self == oldSelf || self.address == oldSelf.address",message="address is immutable"
	Spec AllocationSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// AllocationList contains a list of Allocation.
type AllocationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Allocation `json:"items"`
}
