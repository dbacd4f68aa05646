package wapisim

import (
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ipAddress is an ipv4address or ipv6address search result. These objects
// are not stored: they are computed from the networks, ranges, fixed
// addresses and host records that hold an address.
type ipAddress struct {
	view    *networkView
	addr    netip.Addr
	network netip.Prefix // invalid when no network holds the address
	status  string
	types   []string
	names   []string
	objects []string
	usage   []string
	mac     string
	duid    string
	ea      extAttrs
}

func (ia *ipAddress) kind() *kind {
	if ia.addr.Is6() {
		return kindIPv6Address
	}
	return kindIPv4Address
}

func (ia *ipAddress) key() string {
	family := "ipv4"
	if ia.addr.Is6() {
		family = "ipv6"
	}
	return fmt.Sprintf("..%s_address$%s/%d", family, ia.addr, ia.view.id)
}

func (ia *ipAddress) refName() string               { return escapeName(ia.addr.String()) + "/" + ia.view.name }
func (ia *ipAddress) sortKey() (netip.Addr, string) { return ia.addr, ia.view.name }
func (ia *ipAddress) attrs() extAttrs               { return ia.ea }

func (ia *ipAddress) get(f string) (any, bool) {
	switch f {
	case "ip_address":
		return ia.addr.String(), true
	case "network":
		return ia.network.String(), ia.network.IsValid()
	case "network_view":
		return ia.view.name, true
	case "status":
		return ia.status, true
	case "types":
		return anyList(ia.types), true
	case "names":
		return anyList(ia.names), true
	case "objects":
		return anyList(ia.objects), true
	case "usage":
		return anyList(ia.usage), true
	case "is_conflict":
		return false, true
	case "lease_state":
		return "FREE", true
	case "mac_address":
		return ia.mac, ia.mac != ""
	case "duid":
		return ia.duid, ia.duid != ""
	case "extattrs":
		return ia.ea.json(), true
	}
	return nil, false
}

// viewIndex holds what is known about the addresses of one view, so that
// listing a network does not walk every object for every address.
type viewIndex struct {
	view     *networkView
	networks []*network
	ranges   []*dhcpRange
	fixed    map[netip.Addr][]*fixedAddress
	hosts    map[netip.Addr][]hostUse
}

// hostUse is a host record holding an address.
type hostUse struct {
	host *hostRecord
	addr hostAddr
}

func (d *db) indexView(v *networkView) *viewIndex {
	ix := &viewIndex{view: v, fixed: map[netip.Addr][]*fixedAddress{}, hosts: map[netip.Addr][]hostUse{}}
	for _, n := range d.networks() {
		if n.view == v {
			ix.networks = append(ix.networks, n)
		}
	}
	for _, r := range d.ranges() {
		if r.view == v {
			ix.ranges = append(ix.ranges, r)
		}
	}
	for _, fa := range d.fixedAddresses() {
		if fa.view == v {
			ix.fixed[fa.addr] = append(ix.fixed[fa.addr], fa)
		}
	}
	for _, h := range d.hosts() {
		if h.view == v {
			for _, a := range h.addrs() {
				ix.hosts[a.addr] = append(ix.hosts[a.addr], hostUse{h, a})
			}
		}
	}
	return ix
}

// info computes what the grid knows about one address. Its extensible
// attributes are those of the first object holding it.
func (ix *viewIndex) info(addr netip.Addr) *ipAddress {
	ia := &ipAddress{view: ix.view, addr: addr, status: "UNUSED", ea: extAttrs{},
		types: []string{}, names: []string{}, objects: []string{}, usage: []string{}}
	add := func(typ, name string, r record, ea extAttrs, usage ...string) {
		if len(ia.objects) == 0 {
			ia.ea = ea
		}
		ia.types = appendNew(ia.types, typ)
		if name != "" {
			ia.names = appendNew(ia.names, name)
		}
		ia.objects = append(ia.objects, makeRef(r))
		for _, u := range usage {
			ia.usage = appendNew(ia.usage, u)
		}
	}
	var inNetwork bool
	for _, n := range ix.networks {
		if n.prefix.Contains(addr) {
			inNetwork, ia.network = true, n.prefix
			switch {
			case !isReserved(n.prefix, addr):
			case addr == n.prefix.Addr():
				ia.types = []string{"NETWORK"}
			default:
				ia.types = []string{"BROADCAST"}
			}
		}
	}
	for _, fa := range ix.fixed[addr] {
		add("FA", fa.name, fa, fa.ea, "DHCP")
		ia.mac, ia.duid = fa.mac, fa.duid
	}
	for _, u := range ix.hosts[addr] {
		var usage []string
		if u.host.dns {
			usage = append(usage, "DNS")
		}
		if u.addr.dhcp {
			usage = append(usage, "DHCP")
		}
		add("HOST", u.host.name, u.host, u.host.ea, usage...)
		if ia.mac == "" {
			ia.mac = u.addr.mac
		}
		if ia.duid == "" {
			ia.duid = u.addr.duid
		}
	}
	if len(ia.objects) > 0 || len(ia.types) > 0 {
		ia.status = "USED"
	} else if inNetwork && rangeHolding(ix.ranges, addr) != nil {
		ia.types = []string{"DHCP_RANGE"}
	}
	return ia
}

func appendNew(l []string, s string) []string {
	if slices.Contains(l, s) {
		return l
	}
	return append(l, s)
}

// addressFromKey rebuilds an ipv4address/ipv6address from its refdata.
func (d *db) addressFromKey(k *kind, data string) record {
	key, ok := decodeRefData(data)
	if !ok {
		return nil
	}
	_, rest, ok := strings.Cut(key, "_address$")
	i := strings.LastIndexByte(rest, '/')
	if !ok || i < 0 {
		return nil
	}
	addr, err := netip.ParseAddr(rest[:i])
	id, err2 := strconv.Atoi(rest[i+1:])
	if err != nil || err2 != nil || addr.Is6() != (k == kindIPv6Address) {
		return nil
	}
	v := d.viewByID(id)
	if v == nil {
		return nil
	}
	return d.indexView(v).info(addr)
}

// maxAddressScan bounds how many addresses an ipv4address search walks.
const maxAddressScan = 1 << 20

// searchAddresses lists ipv4address/ipv6address objects. Like NIOS it
// needs a network or an ip_address to search in; an IPv4 network lists
// every address, an IPv6 network only the addresses objects hold. It stops
// once it has more than limit matches.
func (d *db) searchAddresses(k *kind, conds []cond, limit int) ([]record, error) {
	var viewName, netStr, ipStr string
	for _, c := range conds {
		if c.ea || c.op != '=' || c.not || c.ci {
			continue
		}
		switch c.field {
		case "network_view":
			viewName = c.value
		case "network":
			netStr = c.value
		case "ip_address":
			ipStr = c.value
		}
	}
	v6 := k == kindIPv6Address
	v, err := d.view(viewName)
	if err != nil {
		return nil, nil // an unknown view holds no addresses
	}
	ix := d.indexView(v)
	var candidates iter.Seq[netip.Addr]
	switch {
	case ipStr != "":
		a, err := netip.ParseAddr(ipStr)
		if err != nil || a.Is6() != v6 {
			return nil, protoErr("Invalid value for ip_address: %q", ipStr)
		}
		candidates = slices.Values([]netip.Addr{a})
	case netStr != "":
		p, err := netip.ParsePrefix(netStr)
		if err != nil || p.Addr().Is6() != v6 {
			return nil, protoErr("Invalid value for network: %q", netStr)
		}
		n := d.exactNetwork(v, p)
		if n == nil {
			return nil, nil
		}
		if !v6 && 1<<(32-p.Bits()) > maxAddressScan {
			return nil, protoErr("The network %s is too large to list its addresses (emulator limit %d).", p, maxAddressScan)
		}
		candidates = ix.networkAddrs(n.prefix)
	default:
		return nil, protoErr("A network or an ip_address is required to search %s.", k.name)
	}
	var out []record
	for a := range candidates {
		if r := ix.info(a); matchAll(r, conds) {
			out = append(out, r)
			if len(out) > limit {
				break
			}
		}
	}
	return out, nil
}

// networkAddrs yields the addresses of an IPv4 network, or the addresses of
// an IPv6 network that some object holds.
func (ix *viewIndex) networkAddrs(p netip.Prefix) iter.Seq[netip.Addr] {
	if p.Addr().Is4() {
		return func(yield func(netip.Addr) bool) {
			last := lastAddr(p)
			for a := p.Addr(); a.IsValid() && a.Compare(last) <= 0; a = a.Next() {
				if !yield(a) {
					return
				}
			}
		}
	}
	var held []netip.Addr
	for a := range ix.fixed {
		if p.Contains(a) {
			held = append(held, a)
		}
	}
	for a := range ix.hosts {
		if p.Contains(a) && len(ix.fixed[a]) == 0 {
			held = append(held, a)
		}
	}
	slices.SortFunc(held, netip.Addr.Compare)
	return slices.Values(held)
}
