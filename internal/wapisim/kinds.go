package wapisim

import (
	"encoding/json"
	"net/netip"
	"strings"
)

// valueType is the JSON shape a writable field accepts.
type valueType int

const (
	vAny valueType = iota
	vString
	vBool
	vUint
	vList
	vEA
	vAddr // an address, or a next-available-IP function call
)

// normKind says how values of a field are canonicalized before they are
// compared in searches, so that "2001:DB8::1" finds "2001:db8::1".
type normKind int

const (
	normNone normKind = iota
	normAddr
	normCIDR
	normMAC
)

// field describes one field of a WAPI object type.
type field struct {
	create, update bool
	hidden         bool   // searchable but not returnable (e.g. record:host ipv4addr)
	search         string // supported search modifiers out of "=:~!<>"; "" means not searchable
	typ            valueType
	norm           normKind
}

// kind is a WAPI object type: its name, its basic (default) return fields
// and its fields.
type kind struct {
	name   string
	basic  []string
	fields map[string]field
}

func rw(t valueType, search string) field {
	return field{create: true, update: true, search: search, typ: t}
}
func co(t valueType, search string) field { return field{create: true, search: search, typ: t} }
func ro(search string) field              { return field{search: search} }

func (f field) normalized(n normKind) field { f.norm = n; return f }
func (f field) hide() field                 { f.hidden = true; return f }

var (
	eaField = rw(vEA, "")

	kindNetworkView = &kind{
		name:  "networkview",
		basic: []string{"comment", "is_default", "name"},
		fields: map[string]field{
			"name":       rw(vString, "=:~"),
			"comment":    rw(vString, "=:~"),
			"is_default": ro("="),
			"extattrs":   eaField,
		},
	}

	kindNetwork     = newNetworkKind("network")
	kindIPv6Network = newNetworkKind("ipv6network")
	kindRange       = newRangeKind("range")
	kindIPv6Range   = newRangeKind("ipv6range")

	kindFixedAddress = &kind{
		name:  "fixedaddress",
		basic: []string{"ipv4addr", "network_view"},
		fields: map[string]field{
			"ipv4addr":                       rw(vAddr, "=~<>").normalized(normAddr),
			"mac":                            rw(vString, "=~").normalized(normMAC),
			"name":                           rw(vString, "=:~"),
			"comment":                        rw(vString, "=:~"),
			"network":                        rw(vString, "=~").normalized(normCIDR),
			"network_view":                   co(vString, "="),
			"match_client":                   rw(vString, "="),
			"disable":                        rw(vBool, ""),
			"options":                        rw(vList, ""),
			"use_options":                    rw(vBool, ""),
			"agent_circuit_id":               rw(vString, "="),
			"agent_remote_id":                rw(vString, "="),
			"client_identifier_prepend_zero": rw(vBool, ""),
			"dhcp_client_identifier":         rw(vString, "="),
			"cloud_info":                     rw(vAny, ""),
			"extattrs":                       eaField,
		},
	}

	kindIPv6FixedAddress = &kind{
		name:  "ipv6fixedaddress",
		basic: []string{"duid", "ipv6addr", "network_view"},
		fields: map[string]field{
			"ipv6addr":     rw(vAddr, "=~<>").normalized(normAddr),
			"duid":         rw(vString, "=~"),
			"name":         rw(vString, "=:~"),
			"comment":      rw(vString, "=:~"),
			"network":      rw(vString, "=~").normalized(normCIDR),
			"network_view": co(vString, "="),
			"address_type": rw(vString, "="),
			"disable":      rw(vBool, ""),
			"options":      rw(vList, ""),
			"use_options":  rw(vBool, ""),
			"cloud_info":   rw(vAny, ""),
			"extattrs":     eaField,
		},
	}

	kindHost = &kind{
		name:  "record:host",
		basic: []string{"ipv4addrs", "ipv6addrs", "name", "view"},
		fields: map[string]field{
			"name":              rw(vString, "=:~"),
			"view":              co(vString, "="),
			"network_view":      co(vString, "="),
			"configure_for_dns": rw(vBool, ""),
			"comment":           rw(vString, "=:~"),
			"disable":           rw(vBool, ""),
			"use_ttl":           rw(vBool, ""),
			"ttl":               rw(vUint, ""),
			"aliases":           rw(vList, "=~"),
			"ipv4addrs":         rw(vList, ""),
			"ipv6addrs":         rw(vList, ""),
			"zone":              ro("="),
			"ipv4addr":          ro("=~<>").normalized(normAddr).hide(),
			"ipv6addr":          ro("=~<>").normalized(normAddr).hide(),
			"mac":               ro("=~").normalized(normMAC).hide(),
			"extattrs":          eaField,
		},
	}

	kindEADef = &kind{
		name:  "extensibleattributedef",
		basic: []string{"comment", "default_value", "name", "type"},
		fields: map[string]field{
			"name":                 rw(vString, "=:~"),
			"type":                 rw(vString, "="),
			"comment":              rw(vString, "=:~"),
			"list_values":          rw(vList, ""),
			"default_value":        rw(vAny, ""),
			"flags":                rw(vString, "="),
			"allowed_object_types": rw(vList, ""),
			"min":                  rw(vUint, ""),
			"max":                  rw(vUint, ""),
		},
	}

	kindIPv4Address = &kind{
		name: "ipv4address",
		basic: []string{"dhcp_client_identifier", "ip_address", "is_conflict", "lease_state",
			"mac_address", "names", "network", "network_view", "objects", "status", "types",
			"usage", "username"},
		fields: addressFields("mac_address", "dhcp_client_identifier", "username"),
	}

	kindIPv6Address = &kind{
		name: "ipv6address",
		basic: []string{"duid", "ip_address", "is_conflict", "lease_state", "names",
			"network", "network_view", "objects", "status", "types", "usage"},
		fields: addressFields("duid"),
	}

	// kinds is every object type the emulator serves, by WAPI name.
	kinds = map[string]*kind{
		"networkview":            kindNetworkView,
		"network":                kindNetwork,
		"ipv6network":            kindIPv6Network,
		"range":                  kindRange,
		"ipv6range":              kindIPv6Range,
		"fixedaddress":           kindFixedAddress,
		"ipv6fixedaddress":       kindIPv6FixedAddress,
		"record:host":            kindHost,
		"extensibleattributedef": kindEADef,
		"ipv4address":            kindIPv4Address,
		"ipv6address":            kindIPv6Address,
	}
)

func newNetworkKind(name string) *kind {
	return &kind{
		name:  name,
		basic: []string{"comment", "network", "network_view"},
		fields: map[string]field{
			"network":          co(vString, "=~").normalized(normCIDR),
			"network_view":     co(vString, "="),
			"comment":          rw(vString, "=:~"),
			"options":          rw(vList, ""),
			"use_options":      rw(vBool, ""),
			"members":          rw(vList, ""),
			"disable":          rw(vBool, ""),
			"contains_address": ro("=").normalized(normAddr).hide(),
			"extattrs":         eaField,
		},
	}
}

func newRangeKind(name string) *kind {
	return &kind{
		name:  name,
		basic: []string{"comment", "end_addr", "network", "network_view", "start_addr"},
		fields: map[string]field{
			"start_addr":              rw(vString, "=~<>").normalized(normAddr),
			"end_addr":                rw(vString, "=~<>").normalized(normAddr),
			"network":                 rw(vString, "=~").normalized(normCIDR),
			"network_view":            co(vString, "="),
			"name":                    rw(vString, "=:~"),
			"comment":                 rw(vString, "=:~"),
			"disable":                 rw(vBool, ""),
			"options":                 rw(vList, ""),
			"use_options":             rw(vBool, ""),
			"address_type":            rw(vString, "="),
			"cloud_info":              rw(vAny, ""),
			"failover_association":    rw(vString, "="),
			"member":                  rw(vAny, ""),
			"ms_server":               rw(vAny, ""),
			"server_association_type": rw(vString, "="),
			"template":                co(vString, "").hide(),
			"extattrs":                eaField,
		},
	}
}

func addressFields(extra ...string) map[string]field {
	f := map[string]field{
		"ip_address":   ro("=<>").normalized(normAddr),
		"network":      ro("=~").normalized(normCIDR),
		"network_view": ro("="),
		"status":       ro("="),
		"names":        ro("=~"),
		"types":        ro("="),
		"usage":        ro("="),
		"objects":      ro(""),
		"is_conflict":  ro("="),
		"lease_state":  ro("="),
		"comment":      ro("=~"),
		"extattrs":     ro(""),
	}
	for _, name := range extra {
		f[name] = ro("=~")
	}
	if _, ok := f["mac_address"]; ok {
		f["mac_address"] = f["mac_address"].normalized(normMAC)
	}
	return f
}

// normalize canonicalizes a search or field value so equal values compare
// equal as strings. Values that do not parse are left as they are.
func normalize(n normKind, s string) string {
	switch n {
	case normAddr:
		if a, err := netip.ParseAddr(s); err == nil {
			return a.String()
		}
	case normCIDR:
		if p, err := netip.ParsePrefix(s); err == nil {
			return p.String()
		}
	case normMAC:
		if m, ok := parseMAC(s); ok {
			return m
		}
	}
	return s
}

// checkType reports whether a decoded JSON value has the shape t.
func checkType(t valueType, v any) bool {
	switch t {
	case vString:
		_, ok := v.(string)
		return ok
	case vBool:
		_, ok := v.(bool)
		return ok
	case vUint:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		i, err := n.Int64()
		return err == nil && i >= 0
	case vList:
		_, ok := v.([]any)
		return ok || v == nil
	case vEA:
		_, ok := v.(map[string]any)
		return ok
	case vAddr:
		switch v.(type) {
		case string, map[string]any:
			return true
		}
		return false
	}
	return true
}

// parseMAC accepts the usual MAC notations and returns NIOS's canonical
// lower-case, colon-separated form.
func parseMAC(s string) (string, bool) {
	hexDigits := strings.Map(func(r rune) rune {
		switch r {
		case ':', '-', '.':
			return -1
		}
		return r
	}, strings.ToLower(s))
	if len(hexDigits) != 12 {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < 12; i++ {
		c := hexDigits[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", false
		}
		if i > 0 && i%2 == 0 {
			b.WriteByte(':')
		}
		b.WriteByte(c)
	}
	return b.String(), true
}
