package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AnnotationRequestedAddress on an IPAddressClaim asks its pool for one
// specific address. It is granted when the pool may hand it out and nobody
// holds it; otherwise the claim is not bound and says why.
const AnnotationRequestedAddress = "ipam.provider-ipam.io/requested-address"

// MaxReuseGracePeriodSeconds bounds a pool's reuse grace period: one day.
const MaxReuseGracePeriodSeconds = 86400

// Pool condition types and reasons.
const (
	// ConditionReady is the pool's Ready condition, as CAPI's IPAM contract
	// asks of a pool.
	ConditionReady = "Ready"

	ReasonReady                  = "Ready"
	ReasonInvalidSpec            = "InvalidSpec"
	ReasonDeleting               = "Deleting"
	ReasonReservationUnavailable = "ReservationUnavailable"
	// ReasonFinalizerError says the in-use finalizer could not be put on
	// (or removed from) a reservation, e.g. one already being deleted.
	ReasonFinalizerError = "FinalizerError"
)

// A ReservationRef names a Reservation of provider-ipam in the pool's
// namespace whose addresses the pool hands out: an in-cluster or an Infoblox
// one. It has no namespace: a pool never reaches into another namespace.
// +kubebuilder:validation:XValidation:rule="self.kind == 'Reservation' && (self.apiVersion == 'incluster.ipam.provider-ipam.io/v1alpha1' || self.apiVersion == 'infoblox.ipam.provider-ipam.io/v1alpha1')",message="must name a Reservation of provider-ipam: apiVersion incluster.ipam.provider-ipam.io/v1alpha1 or infoblox.ipam.provider-ipam.io/v1alpha1, kind Reservation"
type ReservationRef struct {
	// APIVersion of the Reservation: incluster.ipam.provider-ipam.io/v1alpha1
	// or infoblox.ipam.provider-ipam.io/v1alpha1.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	APIVersion string `json:"apiVersion"`
	// Kind of the referenced object: Reservation.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`
	// Name of the Reservation, in the pool's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// IPPoolSpec is what a pool hands out. The API server runs no rule while a
// required field is missing; every rule skips what another rule already
// refuses (an empty or malformed field), so that a bad value gets its own
// field's message rather than a CEL evaluation error. The gateway must be a
// host of its network, the gateway with prefix.
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !isIP(self.gateway) || size(self.addresses) == 0 || self.gateway.contains(':') == self.addresses[0].contains(':')",message="gateway is not of the same IP family as the addresses"
// +kubebuilder:validation:XValidation:rule="size(self.addresses) == 0 || self.prefix <= (self.addresses[0].contains(':') ? 128 : 32)",message="prefix is longer than the address family allows"
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !isIP(self.gateway) || self.gateway.contains(':') != (size(self.addresses) > 0 && self.addresses[0].contains(':')) || self.prefix > (self.gateway.contains(':') ? 128 : 32) || self.prefix >= (self.gateway.contains(':') ? 127 : 31) || !(cidr(self.gateway + '/' + (self.prefix >= 100 ? '1' + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix / 10 % 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix % 10] : self.prefix >= 10 ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix / 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix % 10] : ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix])).masked().ip() == ip(self.gateway))",messageExpression="self.gateway + (self.gateway.contains(':') ? ' is the subnet-router anycast address of ' : ' is the network address of ') + self.gateway + '/' + (self.prefix >= 100 ? '1' + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix / 10 % 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix % 10] : self.prefix >= 10 ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix / 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix % 10] : ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix]) + ', not a host address'",fieldPath=".gateway"
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !isIP(self.gateway) || self.gateway.contains(':') != (size(self.addresses) > 0 && self.addresses[0].contains(':')) || self.prefix > (self.gateway.contains(':') ? 128 : 32) || self.gateway.contains(':') || self.prefix >= 31 || (int(self.gateway.split('.')[0]) * 16777216 + int(self.gateway.split('.')[1]) * 65536 + int(self.gateway.split('.')[2]) * 256 + int(self.gateway.split('.')[3]) + 1) % [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4194304, 8388608, 16777216, 33554432, 67108864, 134217728, 268435456, 536870912, 1073741824, 2147483648, 4294967296][32 - self.prefix] != 0",messageExpression="self.gateway + ' is the broadcast address of ' + ('its /' + (self.prefix >= 100 ? '1' + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix / 10 % 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix % 10] : self.prefix >= 10 ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix / 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix % 10] : ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][self.prefix]) + ' network') + ', not a host address'",fieldPath=".gateway"
type IPPoolSpec struct {
	// Addresses the pool hands out: single addresses, CIDRs and inclusive
	// ranges "192.0.2.10-192.0.2.20", all of one family, inside the
	// network given by prefix. They are the addresses already reserved for
	// the cluster. The network, broadcast (IPv4) and gateway addresses are
	// never handed out.
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MaxLength=91
	// +kubebuilder:validation:items:XValidation:rule="isIP(self) || isCIDR(self) || (self.split('-').size() == 2 && isIP(self.split('-')[0]) && isIP(self.split('-')[1]))",message="must be an IP address, a CIDR or a range first-last"
	// +kubebuilder:validation:XValidation:rule="self.all(a, a.contains(':') == self[0].contains(':'))",message="all addresses must be of one IP family"
	Addresses []string `json:"addresses"`

	// Prefix is the network's prefix length, given to machines with every
	// address.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=128
	Prefix int32 `json:"prefix"`

	// Gateway of the network, given to machines with every address and
	// never handed out.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be an IP address"
	Gateway string `json:"gateway,omitempty"`

	// ReservationRefs are the Reservations holding these addresses: the pool
	// hands out only what they hold, according to the ledger (in-cluster)
	// and their status (Infoblox). While any address of the pool is handed
	// out, each carries the ipam.provider-ipam.io/in-use finalizer. Without
	// references the pool draws each address from the in-cluster ledger
	// itself, as its holder.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	ReservationRefs []ReservationRef `json:"reservationRefs,omitempty"`

	// ReuseGracePeriodSeconds keeps an address a machine gave back out of
	// everyone's reach for this long before it may be handed out again, so
	// that ARP caches and rolling upgrades never see one address on two
	// machines. 0 (the default) hands it out again at once.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	ReuseGracePeriodSeconds int32 `json:"reuseGracePeriodSeconds,omitempty"`
}

// IPPoolStatus is what the pool has handed out.
type IPPoolStatus struct {
	// Conditions: Ready is true when the spec is valid and every
	// reservation it references exists and is protected while in use.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Total is the number of addresses the pool can hand out.
	// +optional
	Total int64 `json:"total"`
	// Used is the number of IPAddresses handed out from the pool.
	// +optional
	Used int64 `json:"used"`
	// Free is the number of addresses still available.
	// +optional
	Free int64 `json:"free"`
	// Cooling is the number of addresses given back that wait out the
	// reuse grace period.
	// +optional
	Cooling int64 `json:"cooling,omitempty"`

	// InUse are the addresses handed out, as sorted addresses and ranges
	// ("192.0.2.10-192.0.2.12"): a composition shrinking the pool gives back
	// the reservations of the others first.
	// +optional
	// +listType=atomic
	InUse []string `json:"inUse,omitempty"`

	// ProtectedRefs are the objects that carry the in-use finalizer on this
	// pool's behalf, so that it is removed from a reference dropped from the
	// spec too.
	// +optional
	// +listType=atomic
	ProtectedRefs []ReservationRef `json:"protectedRefs,omitempty"`
}

// +kubebuilder:object:root=true

// An IPPool hands out a cluster's reserved addresses to its machines through
// Cluster API's IPAM contract: reference it from an IPAddressClaim's poolRef
// ({apiGroup: ipam.provider-ipam.io, kind: IPPool, name}) and provider-ipam
// creates the IPAddress, named like the claim. Every address handed out is
// leased in the in-cluster ledger, so no two pools in any namespaces hand
// out the same address.
// +kubebuilder:printcolumn:name="TOTAL",type="integer",JSONPath=".status.total"
// +kubebuilder:printcolumn:name="USED",type="integer",JSONPath=".status.used"
// +kubebuilder:printcolumn:name="FREE",type="integer",JSONPath=".status.free"
// +kubebuilder:printcolumn:name="GATEWAY",type="string",JSONPath=".spec.gateway"
// +kubebuilder:printcolumn:name="PREFIX",type="integer",JSONPath=".spec.prefix"
// +kubebuilder:printcolumn:name="READY",type="string",JSONPath=".status.conditions[?(@.type=='Ready')].status"
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories={ipam,cluster-api},shortName=ipp
type IPPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   IPPoolSpec   `json:"spec"`
	Status IPPoolStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// IPPoolList contains a list of IPPool.
type IPPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPPool `json:"items"`
}
