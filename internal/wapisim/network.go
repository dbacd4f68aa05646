package wapisim

import (
	"fmt"
	"net/netip"
	"strings"
)

// network is an IPv4 or IPv6 network. Networks of one view never overlap:
// the emulator has no network containers.
type network struct {
	view       *networkView
	prefix     netip.Prefix
	comment    string
	disable    bool
	useOptions bool
	options    []dhcpOption
	members    []any
	ea         extAttrs
}

func (n *network) kind() *kind {
	if n.prefix.Addr().Is6() {
		return kindIPv6Network
	}
	return kindNetwork
}

func (n *network) key() string {
	return fmt.Sprintf("dns.network$%s/%d", n.prefix, n.view.id)
}

func (n *network) refName() string { return escapeName(n.prefix.String()) + "/" + n.view.name }

func (n *network) sortKey() (netip.Addr, string) {
	return n.prefix.Addr(), fmt.Sprintf("%03d/%s", n.prefix.Bits(), n.view.name)
}

func (n *network) attrs() extAttrs { return n.ea }

func (n *network) get(f string) (any, bool) {
	switch f {
	case "network":
		return n.prefix.String(), true
	case "network_view":
		return n.view.name, true
	case "comment":
		return n.comment, n.comment != ""
	case "disable":
		return n.disable, true
	case "use_options":
		return n.useOptions, true
	case "options":
		return optionsJSON(n.options), true
	case "members":
		return nonNil(n.members), true
	case "extattrs":
		return n.ea.json(), true
	}
	return nil, false
}

func (d *db) createNetwork(k *kind, b body) (record, error) {
	v, err := d.view(strOr(b, "network_view", ""))
	if err != nil {
		return nil, err
	}
	cidr, ok := b.str("network")
	if !ok {
		return nil, protoErr("field for create missing: network")
	}
	if strings.HasPrefix(cidr, "func:") {
		// next-available-network needs network containers, which the
		// emulator does not model.
		return nil, protoErr("Function calls are not supported for network by the emulator: %s", cidr)
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil || p.Addr().Zone() != "" || p.Addr().Is6() != (k == kindIPv6Network) {
		return nil, protoErr("Invalid value for network: %q", cidr)
	}
	if p != p.Masked() {
		return nil, protoErr("Invalid network %s: the address has host bits set", cidr)
	}
	for _, o := range d.networks() {
		if o.view != v {
			continue
		}
		if o.prefix == p {
			return nil, conflict("Duplicate object '%s' of type network already exists in the database.", p)
		}
		if o.prefix.Overlaps(p) {
			return nil, conflict("The network %s overlaps with the existing network %s in network view %s.", p, o.prefix, v.name)
		}
	}
	n := &network{view: v, prefix: p, ea: extAttrs{}}
	if err := d.applyNetwork(n, b); err != nil {
		return nil, err
	}
	return n, nil
}

func (d *db) updateNetwork(n *network, b body) (record, error) {
	c := *n
	if err := d.applyNetwork(&c, b); err != nil {
		return nil, err
	}
	return &c, nil
}

func (d *db) applyNetwork(n *network, b body) error {
	b.setString("comment", &n.comment)
	b.setBool("disable", &n.disable)
	b.setBool("use_options", &n.useOptions)
	if v, ok := b["options"]; ok {
		opts, err := parseOptions(v)
		if err != nil {
			return err
		}
		n.options = opts
	}
	if v, ok := b["members"]; ok {
		n.members, _ = v.([]any)
	}
	ea, err := d.applyExtAttrs(n.ea, b)
	if err != nil {
		return err
	}
	n.ea = ea
	return nil
}

// deleteNetwork removes the network with its ranges and fixed addresses,
// which the grid deletes together with their parent network. Host records
// are DNS objects and survive with their addresses unmanaged.
func (d *db) deleteNetwork(n *network) {
	for _, r := range d.ranges() {
		if r.view == n.view && n.prefix.Contains(r.start) {
			d.remove(r)
		}
	}
	for _, fa := range d.fixedAddresses() {
		if fa.view == n.view && n.prefix.Contains(fa.addr) {
			d.remove(fa)
		}
	}
	d.remove(n)
}

// dhcpRange is an IPv4 or IPv6 DHCP range inside a network.
type dhcpRange struct {
	view       *networkView
	network    netip.Prefix
	start, end netip.Addr
	name       string
	comment    string
	disable    bool
	useOptions bool
	options    []dhcpOption
	extra      passthrough
	ea         extAttrs
}

// rangeExtra are range fields stored and returned without interpretation.
var rangeExtra = []string{"address_type", "cloud_info", "failover_association", "member",
	"ms_server", "server_association_type", "template"}

func (r *dhcpRange) kind() *kind {
	if r.start.Is6() {
		return kindIPv6Range
	}
	return kindRange
}

func (r *dhcpRange) key() string {
	return fmt.Sprintf("dns.dhcp_range$%s/%s///%d/", r.start, r.end, r.view.id)
}

func (r *dhcpRange) refName() string {
	return escapeName(r.start.String()) + "/" + escapeName(r.end.String()) + "/" + r.view.name
}

func (r *dhcpRange) sortKey() (netip.Addr, string) { return r.start, r.view.name }
func (r *dhcpRange) attrs() extAttrs               { return r.ea }

func (r *dhcpRange) get(f string) (any, bool) {
	switch f {
	case "start_addr":
		return r.start.String(), true
	case "end_addr":
		return r.end.String(), true
	case "network":
		return r.network.String(), true
	case "network_view":
		return r.view.name, true
	case "name":
		return r.name, r.name != ""
	case "comment":
		return r.comment, r.comment != ""
	case "disable":
		return r.disable, true
	case "use_options":
		return r.useOptions, true
	case "options":
		return optionsJSON(r.options), true
	case "extattrs":
		return r.ea.json(), true
	}
	return r.extra.get(f)
}

func (r *dhcpRange) contains(a netip.Addr) bool {
	return r.start.Compare(a) <= 0 && a.Compare(r.end) <= 0
}

func (d *db) createRange(k *kind, b body) (record, error) {
	v, err := d.view(strOr(b, "network_view", ""))
	if err != nil {
		return nil, err
	}
	for _, f := range []string{"start_addr", "end_addr"} {
		if _, ok := b[f]; !ok {
			return nil, protoErr("field for create missing: %s", f)
		}
	}
	r := &dhcpRange{view: v, extra: passthrough{}, ea: extAttrs{}}
	if err := d.applyRange(r, nil, k == kindIPv6Range, b); err != nil {
		return nil, err
	}
	return r, nil
}

func (d *db) updateRange(r *dhcpRange, b body) (record, error) {
	c := *r
	c.extra = r.extra.clone()
	if err := d.applyRange(&c, r, r.start.Is6(), b); err != nil {
		return nil, err
	}
	return &c, nil
}

// applyRange sets the body's fields on r and checks that the range lies in
// one network and does not overlap another range. self is the stored range
// r is an updated copy of (nil on create).
func (d *db) applyRange(r, self *dhcpRange, v6 bool, b body) error {
	for f, dst := range map[string]*netip.Addr{"start_addr": &r.start, "end_addr": &r.end} {
		s, ok := b.str(f)
		if !ok {
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" || a.Is6() != v6 {
			return protoErr("Invalid value for %s: %q", f, s)
		}
		*dst = a
	}
	if r.end.Less(r.start) {
		return protoErr("The start address %s of the range is greater than its end address %s.", r.start, r.end)
	}
	n := d.networkFor(r.view, r.start)
	if s, ok := b.str("network"); ok {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return protoErr("Invalid value for network: %q", s)
		}
		if n = d.exactNetwork(r.view, p); n == nil {
			return notFound("Network %s not found in network view %s", p, r.view.name)
		}
	}
	if n == nil || !n.prefix.Contains(r.start) || !n.prefix.Contains(r.end) {
		return dataErr("The range %s-%s is not within a network in network view %s.", r.start, r.end, r.view.name)
	}
	if !v6 && (isReserved(n.prefix, r.start) || isReserved(n.prefix, r.end)) {
		return conflict("The range %s-%s includes the network or broadcast address of %s.", r.start, r.end, n.prefix)
	}
	for _, o := range d.ranges() {
		if o != self && o.view == r.view && o.start.Compare(r.end) <= 0 && r.start.Compare(o.end) <= 0 {
			return conflict("The range %s-%s overlaps with the existing range %s-%s.", r.start, r.end, o.start, o.end)
		}
	}
	r.network = n.prefix
	b.setString("name", &r.name)
	b.setString("comment", &r.comment)
	b.setBool("disable", &r.disable)
	b.setBool("use_options", &r.useOptions)
	if v, ok := b["options"]; ok {
		opts, err := parseOptions(v)
		if err != nil {
			return err
		}
		r.options = opts
	}
	r.extra.take(b, rangeExtra...)
	ea, err := d.applyExtAttrs(r.ea, b)
	if err != nil {
		return err
	}
	r.ea = ea
	return nil
}

// isReserved reports whether a is the network or broadcast address of an
// IPv4 network with more than two addresses.
func isReserved(p netip.Prefix, a netip.Addr) bool {
	if !a.Is4() || p.Bits() >= 31 {
		return false
	}
	return a == p.Addr() || a == lastAddr(p)
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// dhcpOption is one DHCP option of a network, range or fixed address.
type dhcpOption struct {
	name        string
	num         int
	value       string
	vendorClass string
	useOption   bool
}

// optionNums maps well-known option names to their codes, so either may be
// given and both are returned, as NIOS does.
var optionNums = map[string]int{
	"subnet-mask":         1,
	"time-offset":         2,
	"routers":             3,
	"domain-name-servers": 6,
	"host-name":           12,
	"domain-name":         15,
	"broadcast-address":   28,
	"ntp-servers":         42,
	"dhcp-lease-time":     51,
	"dhcp6.name-servers":  23,
}

// specialOptions are the options that carry a use_option flag.
var specialOptions = map[string]bool{
	"routers": true, "router-templates": true, "domain-name-servers": true,
	"domain-name": true, "broadcast-address": true, "broadcast-address-offset": true,
	"dhcp-lease-time": true, "dhcp6.name-servers": true,
}

func parseOptions(v any) ([]dhcpOption, error) {
	items, _ := v.([]any)
	opts := make([]dhcpOption, 0, len(items))
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, protoErr("Invalid value for options: %s", jsonText(v))
		}
		o := dhcpOption{vendorClass: "DHCP", useOption: true}
		for k, val := range m {
			var ok bool
			switch k {
			case "name":
				o.name, ok = val.(string)
			case "value":
				o.value, ok = val.(string)
			case "vendor_class":
				o.vendorClass, ok = val.(string)
			case "use_option":
				o.useOption, ok = val.(bool)
			case "num":
				ok = checkType(vUint, val)
				if ok {
					fmt.Sscan(jsonText(val), &o.num)
				}
			default:
				return nil, protoErr("Unknown argument/field: '%s'", k)
			}
			if !ok {
				return nil, protoErr("Invalid value for option %s: %s", k, jsonText(val))
			}
		}
		if err := o.resolve(); err != nil {
			return nil, err
		}
		opts = append(opts, o)
	}
	return opts, nil
}

// resolve fills in the name from the code or the code from the name.
func (o *dhcpOption) resolve() error {
	if o.name == "" {
		for name, num := range optionNums {
			if num == o.num && !strings.HasPrefix(name, "dhcp6.") {
				o.name = name
			}
		}
	}
	if num, ok := optionNums[o.name]; ok {
		o.num = num
	}
	if o.name == "" || o.num == 0 {
		return protoErr("Unknown DHCP option name %q or code %d", o.name, o.num)
	}
	return nil
}

func optionsJSON(opts []dhcpOption) []any {
	out := make([]any, 0, len(opts))
	for _, o := range opts {
		m := map[string]any{"name": o.name, "num": o.num, "value": o.value, "vendor_class": o.vendorClass}
		if specialOptions[o.name] {
			m["use_option"] = o.useOption
		}
		out = append(out, m)
	}
	return out
}

// strOr returns the body's string field, or def when it is absent.
func strOr(b body, name, def string) string {
	if s, ok := b.str(name); ok {
		return s
	}
	return def
}

func nonNil(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}
