package wapisim

import (
	"encoding/json"
	"net/netip"
	"strconv"
)

// This file is the Go API for seeding and inspecting state from tests. The
// seed methods go through the same validation as WAPI requests and return
// the new object's reference.

// DHCPOption is a DHCP option of a network.
type DHCPOption struct {
	Name        string // e.g. "routers"; resolved from Num when empty
	Num         int    // e.g. 3; resolved from Name when zero
	Value       string
	VendorClass string // "DHCP" when empty
}

// NetworkOptions are the optional settings of a seeded network.
type NetworkOptions struct {
	Comment string
	// Gateway, if set, becomes the "routers" DHCP option (option 3), where
	// clients read a network's gateway from.
	Gateway  string
	Options  []DHCPOption
	ExtAttrs map[string]any // values: string, int, or []string
}

// RangeOptions are the optional settings of a seeded DHCP range.
type RangeOptions struct {
	Name     string
	Comment  string
	ExtAttrs map[string]any
}

// AddNetworkView creates a network view.
func (s *Server) AddNetworkView(name string, extAttrs map[string]any) (string, error) {
	return s.seed(kindNetworkView, body{"name": name, "extattrs": importExtAttrs(extAttrs)})
}

// AddNetwork creates an IPv4 or IPv6 network in a view ("" is the default
// view).
func (s *Server) AddNetwork(view, cidr string, opts NetworkOptions) (string, error) {
	k := kindNetwork
	if p, err := netip.ParsePrefix(cidr); err == nil && p.Addr().Is6() {
		k = kindIPv6Network
	}
	options := opts.Options
	if opts.Gateway != "" {
		options = append([]DHCPOption{{Name: "routers", Value: opts.Gateway}}, options...)
	}
	var optJSON []any
	for _, o := range options {
		m := map[string]any{"value": o.Value, "use_option": true}
		if o.Name != "" {
			m["name"] = o.Name
		}
		if o.Num != 0 {
			m["num"] = json.Number(strconv.Itoa(o.Num))
		}
		if o.VendorClass != "" {
			m["vendor_class"] = o.VendorClass
		}
		optJSON = append(optJSON, m)
	}
	b := body{"network": cidr, "comment": opts.Comment, "extattrs": importExtAttrs(opts.ExtAttrs), "options": nonNil(optJSON)}
	if view != "" {
		b["network_view"] = view
	}
	return s.seed(k, b)
}

// AddRange creates an IPv4 or IPv6 DHCP range in a view ("" is the default
// view). It must lie inside an existing network.
func (s *Server) AddRange(view, start, end string, opts RangeOptions) (string, error) {
	k := kindRange
	if a, err := netip.ParseAddr(start); err == nil && a.Is6() {
		k = kindIPv6Range
	}
	b := body{"start_addr": start, "end_addr": end, "name": opts.Name, "comment": opts.Comment,
		"extattrs": importExtAttrs(opts.ExtAttrs)}
	if view != "" {
		b["network_view"] = view
	}
	return s.seed(k, b)
}

// AddEADefinition defines an extensible attribute of type STRING, INTEGER,
// EMAIL, URL or DATE (ENUM needs list values and is only available over
// WAPI).
func (s *Server) AddEADefinition(name, typ string) (string, error) {
	return s.seed(kindEADef, body{"name": name, "type": typ})
}

func (s *Server) seed(k *kind, b body) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.db.add(k, b)
	if err != nil {
		return "", err
	}
	return makeRef(r), nil
}

// FixedAddress is a snapshot of an IPv4 or IPv6 fixed address.
type FixedAddress struct {
	Ref         string
	NetworkView string
	Network     string
	IPAddress   string
	MAC         string // IPv4
	DUID        string // IPv6
	Name        string
	Comment     string
	ExtAttrs    map[string]any // values: string, int64, float64 or []any
}

// HostRecord is a snapshot of a host record.
type HostRecord struct {
	Ref             string
	Name            string
	NetworkView     string
	DNSView         string // "" when not configured for DNS
	ConfigureForDNS bool
	IPv4Addrs       []string
	IPv6Addrs       []string
	Comment         string
	ExtAttrs        map[string]any
}

// Network is a snapshot of an IPv4 or IPv6 network.
type Network struct {
	Ref         string
	NetworkView string
	CIDR        string
	Comment     string
	Options     []DHCPOption
	ExtAttrs    map[string]any
}

// FixedAddresses returns every fixed address, IPv4 before IPv6, by address.
func (s *Server) FixedAddresses() []FixedAddress {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []FixedAddress
	for _, fa := range s.db.fixedAddresses() {
		out = append(out, FixedAddress{
			Ref: makeRef(fa), NetworkView: fa.view.name, Network: fa.network.String(),
			IPAddress: fa.addr.String(), MAC: fa.mac, DUID: fa.duid, Name: fa.name,
			Comment: fa.comment, ExtAttrs: exportExtAttrs(fa.ea),
		})
	}
	return out
}

// HostRecords returns every host record, by name.
func (s *Server) HostRecords() []HostRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []HostRecord
	for _, h := range s.db.hosts() {
		hr := HostRecord{Ref: makeRef(h), Name: h.name, NetworkView: h.view.name, DNSView: h.dnsView,
			ConfigureForDNS: h.dns, Comment: h.comment, ExtAttrs: exportExtAttrs(h.ea)}
		for _, a := range h.v4 {
			hr.IPv4Addrs = append(hr.IPv4Addrs, a.addr.String())
		}
		for _, a := range h.v6 {
			hr.IPv6Addrs = append(hr.IPv6Addrs, a.addr.String())
		}
		out = append(out, hr)
	}
	return out
}

// Networks returns every network, IPv4 before IPv6, by address.
func (s *Server) Networks() []Network {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Network
	for _, n := range s.db.networks() {
		nw := Network{Ref: makeRef(n), NetworkView: n.view.name, CIDR: n.prefix.String(),
			Comment: n.comment, ExtAttrs: exportExtAttrs(n.ea)}
		for _, o := range n.options {
			nw.Options = append(nw.Options, DHCPOption{Name: o.name, Num: o.num, Value: o.value, VendorClass: o.vendorClass})
		}
		out = append(out, nw)
	}
	return out
}

// ObjectCount returns how many objects of a WAPI object type exist, e.g.
// "fixedaddress" or "record:host". Search-only types count as zero.
func (s *Server) ObjectCount(objType string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := kinds[objType]
	if !ok {
		return 0
	}
	return len(s.db.recs[k])
}
