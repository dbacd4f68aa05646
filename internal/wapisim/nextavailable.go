package wapisim

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

const funcNextIP = "func:nextavailableip:"

// pool is what a next-available-IP call allocates from: a network, minus
// its network and broadcast addresses and its DHCP ranges, or a DHCP range.
type pool struct {
	view        *networkView
	network     netip.Prefix
	first, last netip.Addr
	isRange     bool
}

func (d *db) poolOf(r record) (pool, error) {
	switch r := r.(type) {
	case *network:
		p := pool{view: r.view, network: r.prefix, first: r.prefix.Addr(), last: lastAddr(r.prefix)}
		if r.prefix.Addr().Is6() || r.prefix.Bits() < 31 {
			p.first = p.first.Next() // never the network (or IPv6 subnet-router anycast) address
		}
		if r.prefix.Addr().Is4() && r.prefix.Bits() < 31 {
			p.last = p.last.Prev() // never the broadcast address
		}
		return p, nil
	case *dhcpRange:
		return pool{view: r.view, network: r.network, first: r.start, last: r.end, isRange: true}, nil
	}
	return pool{}, protoErr("Function next_available_ip is not supported for %s", r.kind().name)
}

// nextAvailable returns the num lowest free addresses of p. Addresses in
// skip (excluded by the caller or taken earlier in the same request) are
// not free. The call fails as a whole when fewer than num are free.
func (d *db) nextAvailable(p pool, num int, skip map[netip.Addr]bool) ([]netip.Addr, error) {
	used := map[netip.Addr]bool{}
	for _, fa := range d.fixedAddresses() {
		if fa.view == p.view {
			used[fa.addr] = true
		}
	}
	for _, h := range d.hosts() {
		if h.view == p.view {
			for _, a := range h.addrs() {
				used[a.addr] = true
			}
		}
	}
	var ranges []*dhcpRange
	if !p.isRange {
		for _, r := range d.ranges() {
			if r.view == p.view && p.network.Contains(r.start) {
				ranges = append(ranges, r)
			}
		}
	}
	var out []netip.Addr
	for a := p.first; a.IsValid() && a.Compare(p.last) <= 0 && len(out) < num; a = a.Next() {
		if r := rangeHolding(ranges, a); r != nil {
			a = r.end // skip the whole range; the loop steps past its end
			continue
		}
		if !used[a] && !skip[a] {
			out = append(out, a)
		}
	}
	if len(out) < num {
		where := "network"
		if p.isRange {
			where = "range"
		}
		return nil, dataErr("Cannot find %d available IP address(es) in this %s.", num, where)
	}
	return out, nil
}

func rangeHolding(ranges []*dhcpRange, a netip.Addr) *dhcpRange {
	for _, r := range ranges {
		if r.contains(a) {
			return r
		}
	}
	return nil
}

// resolveAddress turns the value of an address field into an address. The
// value is a literal address, a "func:nextavailableip:..." string or a
// next_available_ip object function call. skip holds addresses taken
// earlier in the same request. The view is that of the pool allocated
// from, or nil for a literal.
func (d *db) resolveAddress(field string, v any, v6 bool, skip map[netip.Addr]bool) (netip.Addr, *networkView, error) {
	var (
		pools   []pool
		exclude []netip.Addr
		err     error
	)
	switch v := v.(type) {
	case string:
		if !strings.HasPrefix(v, "func:") {
			a, err := netip.ParseAddr(v)
			if err != nil || a.Zone() != "" || a.Is6() != v6 {
				return netip.Addr{}, nil, protoErr("Invalid value for %s: %q", field, v)
			}
			return a, nil, nil
		}
		if !strings.HasPrefix(v, funcNextIP) {
			return netip.Addr{}, nil, protoErr("Unknown function call in %s: %s", field, v)
		}
		var p pool
		p, err = d.poolFromFunc(strings.TrimPrefix(v, funcNextIP))
		pools = []pool{p}
	case map[string]any:
		pools, exclude, err = d.poolsFromObjectFunc(v)
	default:
		err = protoErr("Invalid value for %s: %s", field, jsonText(v))
	}
	if err != nil {
		return netip.Addr{}, nil, err
	}
	all := map[netip.Addr]bool{}
	for a := range skip {
		all[a] = true
	}
	for _, a := range exclude {
		all[a] = true
	}
	var firstErr error
	for _, p := range pools {
		if p.network.Addr().Is6() != v6 {
			return netip.Addr{}, nil, protoErr("Invalid value for %s: the function allocates from %s", field, p.network)
		}
		addrs, err := d.nextAvailable(p, 1, all)
		if err == nil {
			return addrs[0], p.view, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return netip.Addr{}, nil, firstErr
}

// poolFromFunc parses the argument of func:nextavailableip: a network or
// range reference, "cidr[,view]" or "start-end[,view]".
func (d *db) poolFromFunc(arg string) (pool, error) {
	if objType, _, ok := splitRef(arg); ok {
		if _, isKind := kinds[objType]; isKind {
			r, err := d.lookup(arg)
			if err != nil {
				return pool{}, err
			}
			return d.poolOf(r)
		}
	}
	viewName := ""
	if i := strings.LastIndexByte(arg, ','); i >= 0 {
		arg, viewName = arg[:i], arg[i+1:]
	}
	v, err := d.view(viewName)
	if err != nil {
		return pool{}, err
	}
	if lo, hi, ok := strings.Cut(arg, "-"); ok {
		start, err1 := netip.ParseAddr(lo)
		end, err2 := netip.ParseAddr(hi)
		if err1 != nil || err2 != nil {
			return pool{}, protoErr("Invalid argument for nextavailableip: %s", arg)
		}
		for _, r := range d.ranges() {
			if r.view == v && r.start == start && r.end == end {
				return d.poolOf(r)
			}
		}
		return pool{}, dataErr("Cannot find range %s in network view %s.", arg, v.name)
	}
	p, err := netip.ParsePrefix(arg)
	if err != nil {
		return pool{}, protoErr("Invalid argument for nextavailableip: %s", arg)
	}
	n := d.exactNetwork(v, p)
	if n == nil {
		return pool{}, dataErr("Cannot find network %s in network view %s.", arg, v.name)
	}
	return d.poolOf(n)
}

// poolsFromObjectFunc interprets
//
//	{"_object_function": "next_available_ip", "_result_field": "ips",
//	 "_object": "network", "_object_parameters": {...search...},
//	 "_parameters": {"exclude": [...]}}
//
// (or "_object_ref" instead of "_object" and its parameters). Every object
// the search finds is a candidate, in grid order. Other members, such as the
// "mac" and "configure_for_dhcp" the client nests here, are ignored.
func (d *db) poolsFromObjectFunc(m map[string]any) ([]pool, []netip.Addr, error) {
	if fn, _ := m["_object_function"].(string); fn != "next_available_ip" {
		return nil, nil, protoErr("Unknown function %s", jsonText(m["_object_function"]))
	}
	if rf, _ := m["_result_field"].(string); rf != "ips" {
		return nil, nil, protoErr("Invalid value for _result_field: %s", jsonText(m["_result_field"]))
	}
	params, _ := m["_parameters"].(map[string]any)
	exclude, err := addrList("exclude", params["exclude"])
	if err != nil {
		return nil, nil, err
	}
	var found []record
	if ref, ok := m["_object_ref"].(string); ok {
		r, err := d.lookup(ref)
		if err != nil {
			return nil, nil, err
		}
		found = []record{r}
	} else {
		objType, _ := m["_object"].(string)
		k := kinds[objType]
		if k != kindNetwork && k != kindIPv6Network && k != kindRange && k != kindIPv6Range {
			return nil, nil, protoErr("Invalid value for _object: %s", jsonText(m["_object"]))
		}
		args := url.Values{}
		op, _ := m["_object_parameters"].(map[string]any)
		for key, val := range op {
			for _, s := range flatten(val) {
				args.Add(key, s)
			}
		}
		conds, err := parseConds(k, args)
		if err != nil {
			return nil, nil, err
		}
		found = filter(d.all(k), conds)
		if len(found) == 0 {
			return nil, nil, dataErr("Cannot find a %s matching the function call's object parameters.", objType)
		}
	}
	pools := make([]pool, 0, len(found))
	for _, r := range found {
		p, err := d.poolOf(r)
		if err != nil {
			return nil, nil, err
		}
		pools = append(pools, p)
	}
	return pools, exclude, nil
}

// callNextAvailableIP implements POST <network or range ref>?_function=next_available_ip.
// It reserves nothing: it only reports free addresses.
func (d *db) callNextAvailableIP(r record, args body) (any, error) {
	p, err := d.poolOf(r)
	if err != nil {
		return nil, err
	}
	for k := range args {
		if k != "num" && k != "exclude" {
			return nil, protoErr("Unknown argument/field: '%s'", k)
		}
	}
	num := 1
	if v, ok := args["num"]; ok {
		n, err := strconv.Atoi(strings.Join(flatten(v), ""))
		if err != nil || n < 1 {
			return nil, protoErr("Invalid value for num: %s", jsonText(v))
		}
		num = n
	}
	exclude, err := addrList("exclude", args["exclude"])
	if err != nil {
		return nil, err
	}
	skip := map[netip.Addr]bool{}
	for _, a := range exclude {
		skip[a] = true
	}
	addrs, err := d.nextAvailable(p, num, skip)
	if err != nil {
		return nil, err
	}
	ips := make([]string, len(addrs))
	for i, a := range addrs {
		ips[i] = a.String()
	}
	return map[string]any{"ips": ips}, nil
}

func addrList(field string, v any) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range flatten(v) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, protoErr("Invalid value for %s: %q", field, s)
		}
		out = append(out, a)
	}
	return out, nil
}
