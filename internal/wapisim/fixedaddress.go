package wapisim

import (
	"fmt"
	"net/netip"
)

const zeroMAC = "00:00:00:00:00:00"

// fixedAddress is an IPv4 or IPv6 DHCP fixed address (reservation).
type fixedAddress struct {
	view        *networkView
	addr        netip.Addr
	network     netip.Prefix
	mac         string // IPv4
	duid        string // IPv6
	matchClient string // IPv4
	name        string
	comment     string
	disable     bool
	useOptions  bool
	options     []dhcpOption
	extra       passthrough
	ea          extAttrs
}

// fixedAddressExtra are fields stored and returned without interpretation.
var fixedAddressExtra = []string{"address_type", "agent_circuit_id", "agent_remote_id",
	"client_identifier_prepend_zero", "cloud_info", "dhcp_client_identifier"}

var matchClients = map[string]bool{
	"MAC_ADDRESS": true, "CLIENT_ID": true, "RESERVED": true, "CIRCUIT_ID": true, "REMOTE_ID": true,
}

func (fa *fixedAddress) kind() *kind {
	if fa.addr.Is6() {
		return kindIPv6FixedAddress
	}
	return kindFixedAddress
}

func (fa *fixedAddress) key() string {
	return fmt.Sprintf("dns.fixed_address$%s.%d..", fa.addr, fa.view.id)
}

func (fa *fixedAddress) refName() string               { return escapeName(fa.addr.String()) + "/" + fa.view.name }
func (fa *fixedAddress) sortKey() (netip.Addr, string) { return fa.addr, fa.view.name }
func (fa *fixedAddress) attrs() extAttrs               { return fa.ea }

func (fa *fixedAddress) get(f string) (any, bool) {
	switch f {
	case "ipv4addr", "ipv6addr":
		return fa.addr.String(), true
	case "mac":
		return fa.mac, fa.mac != ""
	case "duid":
		return fa.duid, fa.duid != ""
	case "match_client":
		return fa.matchClient, true
	case "name":
		return fa.name, fa.name != ""
	case "comment":
		return fa.comment, fa.comment != ""
	case "network":
		return fa.network.String(), true
	case "network_view":
		return fa.view.name, true
	case "disable":
		return fa.disable, true
	case "use_options":
		return fa.useOptions, true
	case "options":
		return optionsJSON(fa.options), true
	case "extattrs":
		return fa.ea.json(), true
	}
	return fa.extra.get(f)
}

func (d *db) createFixedAddress(k *kind, b body) (record, error) {
	v6 := k == kindIPv6FixedAddress
	addrField := "ipv4addr"
	if v6 {
		addrField = "ipv6addr"
	}
	if _, ok := b[addrField]; !ok {
		return nil, protoErr("field for create missing: %s", addrField)
	}
	fa := &fixedAddress{extra: passthrough{}, ea: extAttrs{}}
	if !v6 {
		fa.matchClient = "MAC_ADDRESS"
	}
	if name, ok := b.str("network_view"); ok {
		v, err := d.view(name)
		if err != nil {
			return nil, err
		}
		fa.view = v
	}
	if err := d.applyFixedAddress(fa, nil, v6, b); err != nil {
		return nil, err
	}
	return fa, nil
}

func (d *db) updateFixedAddress(fa *fixedAddress, b body) (record, error) {
	c := *fa
	c.extra = fa.extra.clone()
	if err := d.applyFixedAddress(&c, fa, fa.addr.Is6(), b); err != nil {
		return nil, err
	}
	return &c, nil
}

// applyFixedAddress sets the body's fields on fa and enforces the grid's
// rules: the address lies in a network of the view, is not that network's
// network or broadcast address, is not reserved twice, and a MAC address
// is used once per network. self is the stored object fa is an updated
// copy of (nil on create); fa.view is nil on create unless given.
func (d *db) applyFixedAddress(fa, self *fixedAddress, v6 bool, b body) error {
	b.setString("name", &fa.name)
	b.setString("comment", &fa.comment)
	b.setString("duid", &fa.duid)
	b.setBool("disable", &fa.disable)
	b.setBool("use_options", &fa.useOptions)
	if s, ok := b.str("mac"); ok {
		m, valid := parseMAC(s)
		if !valid && s != "" {
			return protoErr("Invalid value for mac: %q", s)
		}
		fa.mac = m
	}
	if s, ok := b.str("match_client"); ok {
		if !matchClients[s] {
			return protoErr("Invalid value for match_client: %q", s)
		}
		fa.matchClient = s
	}
	if v, ok := b["options"]; ok {
		opts, err := parseOptions(v)
		if err != nil {
			return err
		}
		fa.options = opts
	}
	fa.extra.take(b, fixedAddressExtra...)
	ea, err := d.applyExtAttrs(fa.ea, b)
	if err != nil {
		return err
	}
	fa.ea = ea

	addrField := "ipv4addr"
	if v6 {
		addrField = "ipv6addr"
	}
	if v, ok := b[addrField]; ok {
		a, poolView, err := d.resolveAddress(addrField, v, v6, nil)
		if err != nil {
			return err
		}
		switch {
		case fa.view == nil:
			fa.view = poolView
		case poolView != nil && poolView != fa.view:
			return protoErr("The next available IP function allocates from network view %s, not %s", poolView.name, fa.view.name)
		}
		fa.addr = a
	}
	if fa.view == nil {
		fa.view, _ = d.view("")
	}
	n := d.networkFor(fa.view, fa.addr)
	if n == nil {
		return dataErr("Cannot find a network for the IP address %s in network view %s.", fa.addr, fa.view.name)
	}
	if s, ok := b.str("network"); ok && s != "" {
		if p, err := netip.ParsePrefix(s); err != nil || p != n.prefix {
			return dataErr("The IP address %s does not belong to the network %s in network view %s.", fa.addr, s, fa.view.name)
		}
	}
	fa.network = n.prefix
	if isReserved(n.prefix, fa.addr) {
		return conflict("The IP address %s cannot be used for the fixed address because it is the network or broadcast address of %s.", fa.addr, n.prefix)
	}
	if !v6 && fa.matchClient == "MAC_ADDRESS" && fa.mac == "" {
		return protoErr("field for create missing: mac")
	}
	if v6 && fa.duid == "" {
		return protoErr("field for create missing: duid")
	}
	if err := d.checkAddressFree("the fixed address", fa.view, fa.addr, self, nil); err != nil {
		return err
	}
	if fa.mac != "" && fa.mac != zeroMAC {
		for _, o := range d.fixedAddresses() {
			if o != self && o.view == fa.view && o.network == fa.network && o.mac == fa.mac {
				return conflict("MAC address %s is used in two fixed addresses %s and %s, which are in the same network %s.",
					fa.mac, o.addr, fa.addr, n.prefix)
			}
		}
	}
	return nil
}

// checkAddressFree reports a conflict when addr in view is already held by a
// DHCP object: a fixed address or a host address configured for DHCP. what
// names the object that wants the address; selfFA and selfHost are the
// objects being updated, which keep their own addresses.
func (d *db) checkAddressFree(what string, v *networkView, addr netip.Addr, selfFA *fixedAddress, selfHost *hostRecord) error {
	for _, o := range d.fixedAddresses() {
		if o != selfFA && o.view == v && o.addr == addr {
			return conflict("The IP address %s cannot be used for %s because it is already used by the fixed address %s in network view %s.",
				addr, what, makeRef(o), v.name)
		}
	}
	for _, h := range d.hosts() {
		if h == selfHost || h.view != v {
			continue
		}
		for _, a := range h.addrs() {
			if a.addr == addr && a.dhcp {
				return conflict("The IP address %s cannot be used for %s because it is already used by the host record '%s' in network view %s.",
					addr, what, h.name, v.name)
			}
		}
	}
	return nil
}
