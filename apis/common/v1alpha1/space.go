package v1alpha1

// An AddressSpace is where addresses come from, in k0rdent's shape. The API
// server checks what CEL can afford; the provider checks the rest (ranges
// inside the network, overlaps, a gateway against a prefix shorter than
// the cidr: building that network in CEL exceeds the cost budget) and
// reports it as a condition. Every rule skips what another rule already
// refuses (a missing or malformed field), so that a bad value gets its own
// field's message rather than a CEL evaluation error. The gateway must be a
// host of its network: the network it lies in is the gateway with prefix,
// or with the cidr's prefix length when there is none.
// +kubebuilder:validation:XValidation:rule="has(self.cidr) != has(self.ipAddresses)",message="set exactly one of cidr or ipAddresses"
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !has(self.ipAddresses) || has(self.prefix)",message="prefix is required with ipAddresses and a gateway: it places them in one network"
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !isIP(self.gateway) || !(has(self.cidr) ? isCIDR(self.cidr) : has(self.ipAddresses) && size(self.ipAddresses) > 0) || self.gateway.contains(':') == (has(self.cidr) ? self.cidr.contains(':') : self.ipAddresses[0].contains(':'))",message="gateway is not of the same IP family as the addresses"
// +kubebuilder:validation:XValidation:rule="!has(self.prefix) || !(has(self.cidr) || (has(self.ipAddresses) && size(self.ipAddresses) > 0)) || self.prefix <= ((has(self.cidr) ? self.cidr.contains(':') : self.ipAddresses[0].contains(':')) ? 128 : 32)",message="prefix is longer than the address family allows"
// +kubebuilder:validation:XValidation:rule="!has(self.prefix) || !has(self.cidr) || !isCIDR(self.cidr) || self.prefix <= cidr(self.cidr).prefixLength()",message="prefix is longer than the cidr's: the network must contain the cidr"
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !has(self.cidr) || has(self.prefix) || !isCIDR(self.cidr) || !isIP(self.gateway) || self.gateway.contains(':') != self.cidr.contains(':') || cidr(self.cidr).containsIP(self.gateway)",message="gateway is outside the network"
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !isIP(self.gateway) || self.gateway.contains(':') != (has(self.cidr) ? self.cidr.contains(':') : has(self.ipAddresses) && size(self.ipAddresses) > 0 && self.ipAddresses[0].contains(':')) || !(has(self.prefix) || (has(self.cidr) && isCIDR(self.cidr))) || (has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) > (self.gateway.contains(':') ? 128 : 32) || (has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) >= (self.gateway.contains(':') ? 127 : 31) || !(cidr(self.gateway + '/' + ((has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) >= 100 ? '1' + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) / 10 % 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) % 10] : (has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) >= 10 ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) / 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) % 10] : ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength())])).masked().ip() == ip(self.gateway))",messageExpression="self.gateway + (self.gateway.contains(':') ? ' is the subnet-router anycast address of ' : ' is the network address of ') + self.gateway + '/' + ((has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) >= 100 ? '1' + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) / 10 % 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) % 10] : (has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) >= 10 ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) / 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) % 10] : ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength())]) + ', not a host address'",fieldPath=".gateway"
// +kubebuilder:validation:XValidation:rule="!has(self.gateway) || !isIP(self.gateway) || self.gateway.contains(':') != (has(self.cidr) ? self.cidr.contains(':') : has(self.ipAddresses) && size(self.ipAddresses) > 0 && self.ipAddresses[0].contains(':')) || !(has(self.prefix) || (has(self.cidr) && isCIDR(self.cidr))) || (has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) > (self.gateway.contains(':') ? 128 : 32) || self.gateway.contains(':') || (has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) >= 31 || (int(self.gateway.split('.')[0]) * 16777216 + int(self.gateway.split('.')[1]) * 65536 + int(self.gateway.split('.')[2]) * 256 + int(self.gateway.split('.')[3]) + 1) % [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4194304, 8388608, 16777216, 33554432, 67108864, 134217728, 268435456, 536870912, 1073741824, 2147483648, 4294967296][32 - (has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength())] != 0",messageExpression="self.gateway + ' is the broadcast address of ' + (has(self.cidr) && isCIDR(self.cidr) && (!has(self.prefix) || self.prefix == cidr(self.cidr).prefixLength()) ? self.cidr : 'its /' + ((has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) >= 100 ? '1' + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) / 10 % 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) % 10] : (has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) >= 10 ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) / 10] + ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength()) % 10] : ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'][(has(self.prefix) ? self.prefix : cidr(self.cidr).prefixLength())]) + ' network') + ', not a host address'",fieldPath=".gateway"
type AddressSpace struct {
	// CIDR is a network to draw addresses from, without host bits, e.g.
	// 10.0.0.0/24. Its network and broadcast addresses are never handed out.
	// +optional
	// +kubebuilder:validation:MaxLength=49
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self) == cidr(self).masked()",message="must be a CIDR without host bits, e.g. 10.0.0.0/24"
	CIDR string `json:"cidr,omitempty"`

	// IPAddresses lists the addresses to draw from: single addresses, CIDRs
	// and inclusive ranges "10.0.0.10-10.0.0.20", all of one family.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MaxLength=91
	// +kubebuilder:validation:items:XValidation:rule="isIP(self) || isCIDR(self) || (self.split('-').size() == 2 && isIP(self.split('-')[0]) && isIP(self.split('-')[1]))",message="must be an IP address, a CIDR or a range first-last"
	// +kubebuilder:validation:XValidation:rule="self.all(a, a.contains(':') == self[0].contains(':'))",message="all addresses must be of one IP family"
	IPAddresses []string `json:"ipAddresses,omitempty"`

	// Gateway of the network. Never handed out; must be a host of the network.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be an IP address"
	Gateway string `json:"gateway,omitempty"`

	// Prefix is the network's prefix length (the nodes' netmask). With cidr
	// it defaults to the cidr's and may be shorter; with ipAddresses it
	// places the addresses in one network.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=128
	Prefix int32 `json:"prefix,omitempty"`
}

// FinalizerInUse says machines hold addresses. An IPPool puts it on itself
// and on the Reservations it hands out from while any machine holds one of
// their addresses (crossplane-runtime's managed reconciler does not delete
// the external resource of a managed resource with finalizers other than
// its own), and the ledger puts it on the Allocation of every address a
// pool leases from a Reservation, so that no shrink or deletion frees it
// under a machine. It is the only in-use finalizer of provider-ipam.
const FinalizerInUse = "ipam.provider-ipam.io/in-use"
