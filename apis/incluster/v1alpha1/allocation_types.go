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
}

// AllocationSpec is one held address.
type AllocationSpec struct {
	// Address held. The object's name is derived from it, which is what
	// makes an address impossible to hold twice.
	Address string `json:"address"`
	// Owner holding the address.
	Owner AllocationOwner `json:"owner"`
}

// +kubebuilder:object:root=true

// An Allocation is one entry of the in-cluster ledger: address X is held by
// Reservation Y. The provider creates and deletes them; they are
// cluster-scoped because an address is unique across the whole management
// cluster, whichever namespace asks for it.
// +kubebuilder:printcolumn:name="ADDRESS",type="string",JSONPath=".spec.address"
// +kubebuilder:printcolumn:name="NAMESPACE",type="string",JSONPath=".spec.owner.namespace"
// +kubebuilder:printcolumn:name="RESERVATION",type="string",JSONPath=".spec.owner.name"
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
