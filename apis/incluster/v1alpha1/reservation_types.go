package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	xpv2 "github.com/crossplane/crossplane-runtime/v2/apis/common/v2"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
)

// MaxAddresses is the most addresses one Reservation holds, and so the
// most nodes one network of a cluster can have. The count's and the
// releasing list's bounds below, and the ClusterDeployment XRD's node
// counts, repeat it because markers and YAML cannot name a constant; tests
// check that they agree.
const MaxAddresses = 4096

// ReservationParameters say which addresses to hold. Exactly one way:
// count addresses chosen by the provider from space (the default, one), one
// specific address, or every usable address of space.
// +kubebuilder:validation:XValidation:rule="has(self.space) || has(self.address)",message="set space, address, or both"
// +kubebuilder:validation:XValidation:rule="!(has(self.address) && has(self.count))",message="address and count are exclusive: a specific address is one address"
// +kubebuilder:validation:XValidation:rule="!(has(self.allAddresses) && self.allAddresses && (has(self.address) || has(self.count)))",message="allAddresses holds the whole space: it excludes address and count"
// +kubebuilder:validation:XValidation:rule="!(has(self.allAddresses) && self.allAddresses) || has(self.space)",message="allAddresses needs a space"
// +kubebuilder:validation:XValidation:rule="has(self.space) == has(oldSelf.space) && (!has(self.space) || self.space == oldSelf.space)",message="space is immutable: create a new Reservation to move addresses"
// +kubebuilder:validation:XValidation:rule="has(self.address) == has(oldSelf.address) && (!has(self.address) || self.address == oldSelf.address)",message="address is immutable"
type ReservationParameters struct {
	// Space the addresses come from. With address, the address must be one
	// of its usable addresses; it also supplies prefix and gateway.
	// +optional
	Space *commonv1alpha1.AddressSpace `json:"space,omitempty"`

	// Address reserves exactly this address.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be an IP address"
	Address string `json:"address,omitempty"`

	// Count of addresses the provider chooses from space, lowest free first.
	// It may change: growing reserves more (all or none); shrinking releases
	// the highest addresses no machine holds, and those a machine holds
	// once it releases them (Synced is False meanwhile). Defaults to 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4096
	Count *int32 `json:"count,omitempty"`

	// AllAddresses reserves every usable address of space, all or none,
	// e.g. a cluster's listed node addresses. Turned off in favour of
	// count, the addresses above the count are released as count shrinks
	// them.
	// +optional
	AllAddresses bool `json:"allAddresses,omitempty"`
}

// ReservationObservation is what the ledger holds for a Reservation.
type ReservationObservation struct {
	// Addresses held, in order.
	// +optional
	Addresses []string `json:"addresses,omitempty"`
	// Prefix length of the network the addresses live in.
	// +optional
	Prefix int32 `json:"prefix,omitempty"`
	// Gateway of that network.
	// +optional
	Gateway string `json:"gateway,omitempty"`
	// HeldBy names the Reservation that holds the addresses when it is not
	// this one: an Observe-only Reservation watching another's lease, or an
	// orphaned lease ("namespace/name (deleted)").
	// +optional
	HeldBy string `json:"heldBy,omitempty"`
	// Shortfall is set while the space has too few free addresses for the
	// request; nothing is held for it meanwhile.
	// +optional
	Shortfall *commonv1alpha1.Shortfall `json:"shortfall,omitempty"`
	// Conflict is set while an address asked for (by address, allAddresses
	// or the external name) is held by someone else; nothing is held for
	// the request meanwhile.
	// +optional
	Conflict *commonv1alpha1.Conflict `json:"conflict,omitempty"`
	// Releasing lists the addresses held beyond count because machines
	// still hold them: each is released once its machine's IPAddress is
	// gone.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=4096
	Releasing []string `json:"releasing,omitempty"`
}

// A ReservationSpec defines the desired state of a Reservation. Its
// providerConfigRef names the in-cluster ClusterProviderConfig whose
// address-space policy governs it ("default" unless set); it is fixed once
// set, since the addresses held count against that policy's quota.
// +kubebuilder:validation:XValidation:rule="!has(self.providerConfigRef) || self.providerConfigRef.kind == 'ClusterProviderConfig'",message="providerConfigRef.kind must be ClusterProviderConfig: the address-space policy is cluster-scoped, written by the platform team",fieldPath=".providerConfigRef.kind"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.providerConfigRef) || has(self.providerConfigRef) && self.providerConfigRef == oldSelf.providerConfigRef",message="providerConfigRef is immutable: create a new Reservation to draw under another ClusterProviderConfig"
type ReservationSpec struct {
	xpv2.ManagedResourceSpec `json:",inline"`
	ForProvider              ReservationParameters `json:"forProvider"`
}

// A ReservationStatus represents the observed state of a Reservation.
type ReservationStatus struct {
	xpv1.ResourceStatus `json:",inline"`
	AtProvider          ReservationObservation `json:"atProvider,omitempty"`
}

// +kubebuilder:object:root=true

// A Reservation holds IP addresses in the in-cluster ledger: no two
// Reservations anywhere in the management cluster hold the same address.
// Its external name is the addresses held ("10.0.0.5" or
// "10.0.0.5-10.0.0.7,10.0.0.9"); set it to adopt them.
// +kubebuilder:printcolumn:name="READY",type="string",JSONPath=".status.conditions[?(@.type=='Ready')].status"
// +kubebuilder:printcolumn:name="SYNCED",type="string",JSONPath=".status.conditions[?(@.type=='Synced')].status"
// +kubebuilder:printcolumn:name="ADDRESSES",type="string",JSONPath=".metadata.annotations.crossplane\\.io/external-name"
// +kubebuilder:printcolumn:name="GATEWAY",type="string",JSONPath=".status.atProvider.gateway",priority=1
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories={crossplane,managed,ipam},shortName=icr
type Reservation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ReservationSpec   `json:"spec"`
	Status ReservationStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ReservationList contains a list of Reservation.
type ReservationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Reservation `json:"items"`
}
