package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	xpv2 "github.com/crossplane/crossplane-runtime/v2/apis/common/v2"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
)

// Record types a Reservation can hold its address with.
const (
	RecordTypeFixedAddress = "FixedAddress"
	RecordTypeHostRecord   = "HostRecord"
)

// ReservationParameters say which address to hold in Infoblox and how.
// Everything that shapes the object in Infoblox is immutable: create a new
// Reservation to move an address. A gateway must be a host of its network:
// the gateway with prefix, or with the network's prefix length when there
// is none.
// +kubebuilder:validation:XValidation:rule="has(self.network) || has(self.address)",message="set network, address, or both"
// +kubebuilder:validation:XValidation:rule="!has(self.recordType) || self.recordType != 'HostRecord' || has(self.hostName)",message="hostName is required with recordType HostRecord"
// +kubebuilder:validation:XValidation:rule="!has(self.address) || (!has(self.range) && !has(self.exclude))",message="range and exclude choose among free addresses: they do not go with a specific address"
// +kubebuilder:validation:XValidation:rule="has(self.network) == has(oldSelf.network) && (!has(self.network) || self.network == oldSelf.network)",message="network is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.address) == has(oldSelf.address) && (!has(self.address) || self.address == oldSelf.address)",message="address is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.range) == has(oldSelf.range) && (!has(self.range) || self.range == oldSelf.range)",message="range is immutable"
// +kubebuilder:validation:XValidation:rule="(has(self.recordType) ? self.recordType : 'FixedAddress') == (has(oldSelf.recordType) ? oldSelf.recordType : 'FixedAddress')",message="recordType is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.hostName) == has(oldSelf.hostName) && (!has(self.hostName) || self.hostName == oldSelf.hostName)",message="hostName is immutable"
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !isIP(self.gateway) || !(has(self.network) ? isCIDR(self.network) : has(self.address) && isIP(self.address)) || self.gateway.contains(':') == (has(self.network) ? self.network.contains(':') : self.address.contains(':'))",message="gateway is not of the same IP family as the network or address",fieldPath=".gateway"
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !has(self.network) || has(self.prefix) || !isCIDR(self.network) || !isIP(self.gateway) || self.gateway.contains(':') != self.network.contains(':') || cidr(self.network).containsIP(self.gateway)",message="gateway is outside the network; set prefix if the gateway's network is wider",fieldPath=".gateway"
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !isIP(self.gateway) || self.gateway.contains(':') != (has(self.network) ? self.network.contains(':') : has(self.address) && self.address.contains(':')) || !(has(self.prefix) || (has(self.network) && isCIDR(self.network))) || (has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) > (self.gateway.contains(':') ? 128 : 32) || (has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) >= (self.gateway.contains(':') ? 127 : 31) || !(cidr(self.gateway + '/' + ((has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) >= 100 ? '1' + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) / 10 % 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) % 10] : (has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) >= 10 ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) / 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) % 10] : ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength())])).masked().ip() == ip(self.gateway))",messageExpression="self.gateway + (self.gateway.contains(':') ? ' is the subnet-router anycast address of ' : ' is the network address of ') + self.gateway + '/' + ((has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) >= 100 ? '1' + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) / 10 % 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) % 10] : (has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) >= 10 ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) / 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) % 10] : ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength())]) + ', not a host address'",fieldPath=".gateway"
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !isIP(self.gateway) || self.gateway.contains(':') != (has(self.network) ? self.network.contains(':') : has(self.address) && self.address.contains(':')) || !(has(self.prefix) || (has(self.network) && isCIDR(self.network))) || (has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) > (self.gateway.contains(':') ? 128 : 32) || self.gateway.contains(':') || (has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) >= 31 || (int(self.gateway.split('.')[0]) * 16777216 + int(self.gateway.split('.')[1]) * 65536 + int(self.gateway.split('.')[2]) * 256 + int(self.gateway.split('.')[3]) + 1) % [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4194304, 8388608, 16777216, 33554432, 67108864, 134217728, 268435456, 536870912, 1073741824, 2147483648, 4294967296][32 - (has(self.prefix) ? self.prefix : cidr(self.network).prefixLength())] != 0",messageExpression="self.gateway + ' is the broadcast address of ' + (has(self.network) && isCIDR(self.network) && (!has(self.prefix) || self.prefix == cidr(self.network).prefixLength()) ? self.network : 'its /' + ((has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) >= 100 ? '1' + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) / 10 % 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) % 10] : (has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) >= 10 ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) / 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength()) % 10] : ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.network).prefixLength())]) + ' network') + ', not a host address'",fieldPath=".gateway"
type ReservationParameters struct {
	// Network (CIDR) to take the next available address from, e.g.
	// 192.0.2.0/24. It must exist in the ProviderConfig's network view.
	// Required unless address is set.
	// +optional
	// +kubebuilder:validation:MaxLength=49
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self) == cidr(self).masked()",message="must be a CIDR without host bits, e.g. 192.0.2.0/24"
	Network string `json:"network,omitempty"`

	// Range "first-last" limits the next available address to this range
	// (inclusive), e.g. 192.0.2.10-192.0.2.50. A DHCP range with exactly
	// these bounds must exist in Infoblox.
	// +optional
	// +kubebuilder:validation:MaxLength=91
	// +kubebuilder:validation:XValidation:rule="self.split('-').size() == 2 && isIP(self.split('-')[0]) && isIP(self.split('-')[1])",message="must be a range first-last"
	Range string `json:"range,omitempty"`

	// Exclude lists addresses never to be chosen as the next available.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=45
	// +kubebuilder:validation:items:XValidation:rule="isIP(self)",message="must be an IP address"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="exclude is immutable"
	Exclude []string `json:"exclude,omitempty"`

	// Address reserves exactly this address.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be an IP address"
	Address string `json:"address,omitempty"`

	// RecordType is the Infoblox object that holds the address: a DHCP
	// FixedAddress or a HostRecord named hostName.
	// +optional
	// +kubebuilder:default=FixedAddress
	// +kubebuilder:validation:Enum=FixedAddress;HostRecord
	RecordType string `json:"recordType,omitempty"`

	// HostName of the HostRecord (a FQDN when the ProviderConfig has a DNS
	// view).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	HostName string `json:"hostName,omitempty"`

	// MAC address of the fixed address (IPv4). The default,
	// 00:00:00:00:00:00, reserves the address for no client.
	// +optional
	// +kubebuilder:default="00:00:00:00:00:00"
	// +kubebuilder:validation:Pattern=`^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="mac is immutable"
	MAC string `json:"mac,omitempty"`

	// Gateway published with the address. Defaults to the network's DHCP
	// routers option in Infoblox.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be an IP address"
	Gateway string `json:"gateway,omitempty"`

	// Prefix length published with the address. Defaults to the network's.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=128
	Prefix int32 `json:"prefix,omitempty"`

	// Cluster the address is for, recorded in the extensible attribute
	// provider-ipam/cluster.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="cluster is immutable"
	Cluster string `json:"cluster,omitempty"`

	// Claim the address is for, recorded in the extensible attribute
	// provider-ipam/claim.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="claim is immutable"
	Claim string `json:"claim,omitempty"`

	// TakeOwnership makes this Reservation the owner of an object it
	// imports (its external name names an object it did not create): the
	// object is tagged with the Reservation's UID, keeping its other
	// extensible attributes, and deleted with the Reservation as if it had
	// created it. Without it an imported object is never deleted from
	// Infoblox. It needs the Update management policy; an object tagged
	// for another Reservation is never taken.
	// +optional
	TakeOwnership bool `json:"takeOwnership,omitempty"`
}

// ReservationObservation is what Infoblox holds for a Reservation.
type ReservationObservation struct {
	// Address held.
	// +optional
	Address string `json:"address,omitempty"`
	// Ref is the WAPI reference of the object holding it.
	// +optional
	Ref string `json:"ref,omitempty"`
	// Network (CIDR) the address lives in.
	// +optional
	Network string `json:"network,omitempty"`
	// Prefix length published with the address.
	// +optional
	Prefix int32 `json:"prefix,omitempty"`
	// Gateway published with the address.
	// +optional
	Gateway string `json:"gateway,omitempty"`
	// Shortfall is set while the grid has no free address where one was
	// asked for (it does not tell how many are usable or held).
	// +optional
	Shortfall *commonv1alpha1.Shortfall `json:"shortfall,omitempty"`
	// Owned reports that the object is tagged with this Reservation's UID:
	// it was created by it, or taken over with takeOwnership. Only an owned
	// object is deleted with the Reservation.
	// +optional
	Owned bool `json:"owned,omitempty"`
	// Conflict is set while the grid refuses the address (or host name, or
	// MAC address) asked for because another object holds it, or while the
	// in-cluster ledger records the grid's address for another holder.
	// +optional
	Conflict *commonv1alpha1.Conflict `json:"conflict,omitempty"`
}

// A ReservationSpec defines the desired state of a Reservation.
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

// A Reservation holds one IP address in Infoblox NIOS, as a fixed address
// or a host record tagged with the extensible attribute
// provider-ipam/reservation-uid. Its external name is the object's WAPI
// reference; set it (with managementPolicies [Observe]) to adopt an existing
// fixed address read-only.
// +kubebuilder:printcolumn:name="READY",type="string",JSONPath=".status.conditions[?(@.type=='Ready')].status"
// +kubebuilder:printcolumn:name="SYNCED",type="string",JSONPath=".status.conditions[?(@.type=='Synced')].status"
// +kubebuilder:printcolumn:name="ADDRESS",type="string",JSONPath=".status.atProvider.address"
// +kubebuilder:printcolumn:name="NETWORK",type="string",JSONPath=".status.atProvider.network"
// +kubebuilder:printcolumn:name="GATEWAY",type="string",JSONPath=".status.atProvider.gateway",priority=1
// +kubebuilder:printcolumn:name="REF",type="string",JSONPath=".metadata.annotations.crossplane\\.io/external-name",priority=1
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories={crossplane,managed,ipam},shortName=ibr
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
