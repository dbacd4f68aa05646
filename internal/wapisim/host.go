package wapisim

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// hostRecord is a record:host with its IPv4 and IPv6 addresses.
type hostRecord struct {
	name    string
	view    *networkView
	dns     bool   // configure_for_dns
	dnsView string // "" when not in DNS
	comment string
	disable bool
	useTTL  bool
	ttl     json.Number // "" when unset
	aliases []string
	v4, v6  []hostAddr
	ea      extAttrs
}

type hostAddr struct {
	addr netip.Addr
	mac  string // IPv4
	duid string // IPv6
	dhcp bool   // configure_for_dhcp
}

func (h *hostRecord) kind() *kind { return kindHost }

// key follows NIOS: hosts in DNS are keyed by DNS view and reversed name,
// hosts outside DNS by network view and name.
func (h *hostRecord) key() string {
	if h.dns {
		labels := strings.Split(strings.TrimSuffix(h.name, "."), ".")
		slices.Reverse(labels)
		return "dns.host$._" + h.dnsView + "." + strings.Join(labels, ".")
	}
	return fmt.Sprintf("dns.host$.non_DNS_host_root.%d..%s", h.view.id, h.name)
}

// viewName is the host's DNS view; NIOS shows a single space for hosts that
// are not in DNS.
func (h *hostRecord) viewName() string {
	if h.dns {
		return h.dnsView
	}
	return " "
}

func (h *hostRecord) refName() string {
	return h.name + "/" + strings.ReplaceAll(h.viewName(), " ", "%20")
}

func (h *hostRecord) sortKey() (netip.Addr, string) { return netip.Addr{}, h.name + "/" + h.viewName() }
func (h *hostRecord) attrs() extAttrs               { return h.ea }
func (h *hostRecord) addrs() []hostAddr             { return slices.Concat(h.v4, h.v6) }

func (h *hostRecord) get(f string) (any, bool) {
	switch f {
	case "name":
		return h.name, true
	case "view":
		return h.viewName(), true
	case "network_view":
		return h.view.name, true
	case "configure_for_dns":
		return h.dns, true
	case "comment":
		return h.comment, h.comment != ""
	case "disable":
		return h.disable, true
	case "use_ttl":
		return h.useTTL, true
	case "ttl":
		return h.ttl, h.ttl != ""
	case "aliases":
		return anyList(h.aliases), true
	case "zone":
		_, zone, ok := strings.Cut(h.name, ".")
		return zone, h.dns && ok
	case "ipv4addrs":
		return h.addrsJSON(h.v4), true
	case "ipv6addrs":
		return h.addrsJSON(h.v6), true
	case "extattrs":
		return h.ea.json(), true
	case "ipv4addr", "ipv6addr", "mac":
		var vals []any
		for _, a := range h.addrs() {
			switch {
			case f == "mac" && a.mac != "":
				vals = append(vals, a.mac)
			case f == "ipv4addr" && a.addr.Is4(), f == "ipv6addr" && a.addr.Is6():
				vals = append(vals, a.addr.String())
			}
		}
		return vals, len(vals) > 0
	}
	return nil, false
}

func (h *hostRecord) addrsJSON(addrs []hostAddr) []any {
	out := make([]any, 0, len(addrs))
	for _, a := range addrs {
		objType, addrField := "record:host_ipv4addr", "ipv4addr"
		if a.addr.Is6() {
			objType, addrField = "record:host_ipv6addr", "ipv6addr"
		}
		data := encodeRefData("dns.host_address$" + strings.TrimPrefix(h.key(), "dns.host$") + "." + a.addr.String() + ".")
		m := map[string]any{
			"_ref":               objType + "/" + data + ":" + escapeName(a.addr.String()) + "/" + h.refName(),
			"configure_for_dhcp": a.dhcp,
			"host":               h.name,
			addrField:            a.addr.String(),
		}
		if a.mac != "" {
			m["mac"] = a.mac
		}
		if a.duid != "" {
			m["duid"] = a.duid
		}
		out = append(out, m)
	}
	return out
}

func (d *db) createHost(b body) (record, error) {
	if _, ok := b.str("name"); !ok {
		return nil, protoErr("field for create missing: name")
	}
	v, err := d.view(strOr(b, "network_view", ""))
	if err != nil {
		return nil, err
	}
	h := &hostRecord{view: v, dns: true, ea: extAttrs{}}
	if err := d.applyHost(h, nil, b); err != nil {
		return nil, err
	}
	return h, nil
}

func (d *db) updateHost(h *hostRecord, b body) (record, error) {
	c := *h
	if err := d.applyHost(&c, h, b); err != nil {
		return nil, err
	}
	return &c, nil
}

// applyHost sets the body's fields on h. Addresses are exclusive only for
// DHCP: a host address configured for DHCP conflicts with fixed addresses
// and other DHCP host addresses, while other host addresses may share an
// IP, as on a grid. self is the stored host h is an updated copy of.
func (d *db) applyHost(h, self *hostRecord, b body) error {
	b.setString("name", &h.name)
	if h.name == "" {
		return protoErr("Invalid value for name: \"\"")
	}
	b.setBool("configure_for_dns", &h.dns)
	b.setString("comment", &h.comment)
	b.setBool("disable", &h.disable)
	b.setBool("use_ttl", &h.useTTL)
	if v, ok := b["ttl"].(json.Number); ok {
		h.ttl = v
	}
	if v, ok := b["aliases"]; ok {
		aliases, err := stringList("aliases", v)
		if err != nil {
			return err
		}
		h.aliases = aliases
	}
	ea, err := d.applyExtAttrs(h.ea, b)
	if err != nil {
		return err
	}
	h.ea = ea
	// The DNS view only applies to hosts in DNS; the client sends one
	// either way.
	b.setString("view", &h.dnsView)
	switch {
	case !h.dns:
		h.dnsView = ""
	case h.dnsView == "":
		h.dnsView = "default"
	}

	taken := map[netip.Addr]bool{}
	if v, ok := b["ipv4addrs"]; ok {
		if h.v4, err = d.parseHostAddrs(h, "ipv4addrs", v, false, taken); err != nil {
			return err
		}
	}
	if v, ok := b["ipv6addrs"]; ok {
		if h.v6, err = d.parseHostAddrs(h, "ipv6addrs", v, true, taken); err != nil {
			return err
		}
	}
	if len(h.v4)+len(h.v6) == 0 {
		return protoErr("A host record requires at least one IP address.")
	}
	for _, o := range d.hosts() {
		if o != self && o.name == h.name && o.dns == h.dns && o.dnsView == h.dnsView && (h.dns || o.view == h.view) {
			return conflict("The record '%s' already exists.", h.name)
		}
	}
	for _, a := range h.addrs() {
		if !a.dhcp {
			continue
		}
		if d.networkFor(h.view, a.addr) == nil {
			return dataErr("Cannot find a network for the IP address %s in network view %s; it cannot be configured for DHCP.", a.addr, h.view.name)
		}
		if a.addr.Is4() && a.mac == "" {
			return protoErr("A MAC address is required for %s when configure_for_dhcp is set.", a.addr)
		}
		if err := d.checkAddressFree("the host record", h.view, a.addr, nil, self); err != nil {
			return err
		}
	}
	return nil
}

// parseHostAddrs parses ipv4addrs or ipv6addrs, allocating next available
// addresses distinct from those in taken, which it extends.
func (d *db) parseHostAddrs(h *hostRecord, field string, v any, v6 bool, taken map[netip.Addr]bool) ([]hostAddr, error) {
	addrField, idField := "ipv4addr", "mac"
	if v6 {
		addrField, idField = "ipv6addr", "duid"
	}
	items, _ := v.([]any)
	out := make([]hostAddr, 0, len(items))
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, protoErr("Invalid value for %s: %s", field, jsonText(v))
		}
		var ha hostAddr
		for k, val := range m {
			var ok bool
			switch k {
			case addrField:
				ok = true // resolved below
			case idField:
				var s string
				if s, ok = val.(string); ok && v6 {
					ha.duid = s
				} else if ok && s != "" {
					ha.mac, ok = parseMAC(s)
				}
			case "configure_for_dhcp":
				ha.dhcp, ok = val.(bool)
			case "_ref", "host", "use_for_ea_inheritance":
				ok = true // read-only echoes and inheritance flags are ignored
			default:
				return nil, protoErr("Unknown argument/field: '%s'", k)
			}
			if !ok {
				return nil, protoErr("Invalid value for %s: %s", k, jsonText(val))
			}
		}
		val, ok := m[addrField]
		if !ok {
			return nil, protoErr("field for create missing: %s", addrField)
		}
		a, poolView, err := d.resolveAddress(addrField, val, v6, taken)
		if err != nil {
			return nil, err
		}
		if poolView != nil && poolView != h.view {
			return nil, protoErr("The next available IP function allocates from network view %s, not %s", poolView.name, h.view.name)
		}
		taken[a] = true
		ha.addr = a
		out = append(out, ha)
	}
	return out, nil
}
