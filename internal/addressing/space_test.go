package addressing

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
)

// mustAddr parses a test address.
func mustAddr(t testing.TB, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("bad test address %q: %v", s, err)
	}
	return a
}

// mustSpace parses a space that the test expects to be valid.
func mustSpace(t testing.TB, spec SpaceSpec) Space {
	t.Helper()
	s, err := ParseSpace(spec)
	if err != nil {
		t.Fatalf("ParseSpace(%+v): %v", spec, err)
	}
	return s
}

// asInvalid unwraps err into an *InvalidError or fails the test.
func asInvalid(t testing.TB, err error) *InvalidError {
	t.Helper()
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T) is not an *InvalidError", err, err)
	}
	return ie
}

// usableString is the usable addresses of s in FormatAddrs form.
func usableString(t testing.TB, s Space) string {
	t.Helper()
	addrs, err := s.Addrs(1 << 16)
	if err != nil {
		t.Fatalf("Addrs: %v", err)
	}
	return FormatAddrs(addrs)
}

func TestParseSpaceInvalid(t *testing.T) {
	tests := []struct {
		name   string
		spec   SpaceSpec
		reason string
		field  string
		detail string // a substring of the detail, if set
	}{
		// Exactly one of cidr and ipAddresses.
		{"both cidr and ipAddresses", SpaceSpec{CIDR: "192.0.2.0/24", IPAddresses: []string{"192.0.2.5"}}, ReasonAmbiguousSpace, "cidr", "not both"},
		{"neither cidr nor ipAddresses", SpaceSpec{Gateway: "192.0.2.1", Prefix: 24}, ReasonAmbiguousSpace, "cidr", "set one of"},
		{"empty ipAddresses slice", SpaceSpec{IPAddresses: []string{}}, ReasonAmbiguousSpace, "cidr", ""},

		// CIDR syntax.
		{"cidr not a cidr", SpaceSpec{CIDR: "192.0.2.0"}, ReasonInvalidCIDR, "cidr", "not a CIDR"},
		{"cidr garbage", SpaceSpec{CIDR: "net-a"}, ReasonInvalidCIDR, "cidr", ""},
		{"cidr bits too long", SpaceSpec{CIDR: "192.0.2.0/33"}, ReasonInvalidCIDR, "cidr", ""},
		{"cidr with host bits", SpaceSpec{CIDR: "192.0.2.1/24"}, ReasonInvalidCIDR, "cidr", "192.0.2.0/24"},
		{"ipv6 cidr with host bits", SpaceSpec{CIDR: "2001:db8::1/64"}, ReasonInvalidCIDR, "cidr", "host bits"},
		{"ipv4-mapped cidr", SpaceSpec{CIDR: "::ffff:192.0.2.0/120"}, ReasonInvalidCIDR, "cidr", "IPv4-mapped"},
		{"cidr with zone", SpaceSpec{CIDR: "2001:db8::%eth0/64"}, ReasonInvalidCIDR, "cidr", ""},
		{"host bits in ipAddresses cidr", SpaceSpec{IPAddresses: []string{"192.0.2.0/28", "192.0.2.17/28"}}, ReasonInvalidCIDR, "ipAddresses[1]", "host bits"},

		// Addresses.
		{"bad ip", SpaceSpec{IPAddresses: []string{"192.0.2.256"}}, ReasonInvalidAddress, "ipAddresses[0]", "not an IP"},
		{"empty entry", SpaceSpec{IPAddresses: []string{"192.0.2.1", ""}}, ReasonInvalidAddress, "ipAddresses[1]", ""},
		{"zone", SpaceSpec{IPAddresses: []string{"2001:db8::1%eth0"}}, ReasonInvalidAddress, "ipAddresses[0]", "zone"},
		{"ipv4-mapped ipv6", SpaceSpec{IPAddresses: []string{"::ffff:192.0.2.1"}}, ReasonInvalidAddress, "ipAddresses[0]", "192.0.2.1"},
		{"ipv4-mapped range end", SpaceSpec{IPAddresses: []string{"192.0.2.1-::ffff:192.0.2.9"}}, ReasonInvalidAddress, "ipAddresses[0]", "IPv4-mapped"},
		{"range with bad end", SpaceSpec{IPAddresses: []string{"192.0.2.1-"}}, ReasonInvalidAddress, "ipAddresses[0]", ""},
		{"range with three ends", SpaceSpec{IPAddresses: []string{"192.0.2.1-192.0.2.2-192.0.2.3"}}, ReasonInvalidAddress, "ipAddresses[0]", ""},

		// Ranges and families.
		{"reversed range", SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.5"}}, ReasonInvalidRange, "ipAddresses[0]", "reversed"},
		{"reversed ipv6 range", SpaceSpec{IPAddresses: []string{"2001:db8::10-2001:db8::f"}}, ReasonInvalidRange, "ipAddresses[0]", "reversed"},
		{"range ends of mixed families", SpaceSpec{IPAddresses: []string{"192.0.2.1-2001:db8::1"}}, ReasonMixedFamilies, "ipAddresses[0]", ""},
		{"range ends of mixed families, v6 first", SpaceSpec{IPAddresses: []string{"2001:db8::1-192.0.2.1"}}, ReasonMixedFamilies, "ipAddresses[0]", ""},
		{"mixed families across entries", SpaceSpec{IPAddresses: []string{"192.0.2.1", "192.0.2.2", "2001:db8::1"}}, ReasonMixedFamilies, "ipAddresses[2]", "ipAddresses[0]"},
		{"mixed families across cidr entries", SpaceSpec{IPAddresses: []string{"2001:db8::/126", "192.0.2.0/30"}}, ReasonMixedFamilies, "ipAddresses[1]", ""},

		// Gateway.
		{"gateway outside cidr network", SpaceSpec{CIDR: "192.0.2.0/24", Gateway: "198.51.100.1"}, ReasonInvalidGateway, "gateway", "outside the network 192.0.2.0/24"},
		{"gateway outside cidr slice's network", SpaceSpec{CIDR: "192.0.2.64/26", Prefix: 25, Gateway: "192.0.2.129"}, ReasonInvalidGateway, "gateway", "192.0.2.0/25"},
		{"gateway not an address", SpaceSpec{CIDR: "192.0.2.0/24", Gateway: "router"}, ReasonInvalidGateway, "gateway", ""},
		{"gateway with zone", SpaceSpec{CIDR: "2001:db8::/64", Gateway: "2001:db8::1%eth0"}, ReasonInvalidGateway, "gateway", ""},
		{"gateway ipv4-mapped", SpaceSpec{CIDR: "192.0.2.0/24", Gateway: "::ffff:192.0.2.1"}, ReasonInvalidGateway, "gateway", ""},
		{"gateway of wrong family", SpaceSpec{CIDR: "192.0.2.0/24", Gateway: "2001:db8::1"}, ReasonMixedFamilies, "gateway", ""},
		{"gateway of wrong family, v6 space", SpaceSpec{IPAddresses: []string{"2001:db8::10"}, Gateway: "192.0.2.1", Prefix: 64}, ReasonMixedFamilies, "gateway", ""},
		{"gateway is the network address", SpaceSpec{CIDR: "203.0.113.0/28", Gateway: "203.0.113.0"}, ReasonInvalidGateway, "gateway", "is the network address of 203.0.113.0/28, not a host address"},
		{"gateway is the broadcast address", SpaceSpec{CIDR: "203.0.113.0/28", Gateway: "203.0.113.15"}, ReasonInvalidGateway, "gateway", "is the broadcast address of 203.0.113.0/28, not a host address"},
		{"gateway is the network address of a cidr slice's network", SpaceSpec{CIDR: "192.0.2.64/26", Prefix: 24, Gateway: "192.0.2.0"}, ReasonInvalidGateway, "gateway", "is the network address of 192.0.2.0/24"},
		{"gateway is the broadcast address of the network placed by prefix", SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.20"}, Gateway: "192.0.2.255", Prefix: 24}, ReasonInvalidGateway, "gateway", "is the broadcast address of 192.0.2.0/24"},
		{"gateway is the subnet-router anycast address", SpaceSpec{CIDR: "2001:db8::/64", Gateway: "2001:db8::"}, ReasonInvalidGateway, "gateway", "is the subnet-router anycast address of 2001:db8::/64, not a host address"},
		{"gateway without prefix with ipAddresses", SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.20"}, Gateway: "192.0.2.1"}, ReasonInvalidPrefix, "prefix", "required"},

		// Prefix.
		{"prefix too long for ipv4 cidr", SpaceSpec{CIDR: "192.0.2.0/24", Prefix: 33}, ReasonInvalidPrefix, "prefix", "between 1 and 32"},
		{"prefix negative with cidr", SpaceSpec{CIDR: "192.0.2.0/24", Prefix: -1}, ReasonInvalidPrefix, "prefix", ""},
		{"prefix too long for ipv6 cidr", SpaceSpec{CIDR: "2001:db8::/64", Prefix: 129}, ReasonInvalidPrefix, "prefix", "between 1 and 128"},
		{"prefix longer than cidr", SpaceSpec{CIDR: "192.0.2.0/24", Prefix: 25}, ReasonInvalidPrefix, "prefix", "/24"},
		{"prefix longer than ipv6 cidr", SpaceSpec{CIDR: "2001:db8::/64", Prefix: 96}, ReasonInvalidPrefix, "prefix", "/64"},
		{"prefix too long with ipAddresses", SpaceSpec{IPAddresses: []string{"192.0.2.5"}, Prefix: 33}, ReasonInvalidPrefix, "prefix", "between 1 and 32"},
		{"prefix negative with ipAddresses", SpaceSpec{IPAddresses: []string{"192.0.2.5"}, Prefix: -24}, ReasonInvalidPrefix, "prefix", ""},

		// Entries outside the network placed by prefix (and gateway).
		{"entry outside network", SpaceSpec{IPAddresses: []string{"192.0.2.10", "198.51.100.10"}, Prefix: 24}, ReasonOutsideNetwork, "ipAddresses[1]", "192.0.2.0/24"},
		{"range straddling the network", SpaceSpec{IPAddresses: []string{"10.0.0.250-10.0.1.5"}, Prefix: 24}, ReasonOutsideNetwork, "ipAddresses[0]", "10.0.0.0/24"},
		{"entries outside gateway's network", SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.20"}, Gateway: "198.51.100.1", Prefix: 24}, ReasonOutsideNetwork, "ipAddresses[0]", "198.51.100.0/24"},
		{"cidr entry larger than network", SpaceSpec{IPAddresses: []string{"192.0.2.0/24"}, Prefix: 25}, ReasonOutsideNetwork, "ipAddresses[0]", ""},

		// Overlaps.
		{"duplicate address", SpaceSpec{IPAddresses: []string{"192.0.2.5", "192.0.2.5"}}, ReasonDuplicate, "ipAddresses[1]", "ipAddresses[0]"},
		{"overlapping ranges", SpaceSpec{IPAddresses: []string{"192.0.2.0/28", "192.0.2.10-192.0.2.20"}}, ReasonDuplicate, "ipAddresses[1]", "overlaps ipAddresses[0]"},
		{"overlap listed in descending order", SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.20", "192.0.2.5-192.0.2.10"}}, ReasonDuplicate, "ipAddresses[1]", "ipAddresses[0]"},
		{"address inside an earlier range, not adjacent in the list", SpaceSpec{IPAddresses: []string{"192.0.2.1-192.0.2.100", "198.51.100.1", "192.0.2.50"}}, ReasonDuplicate, "ipAddresses[2]", "ipAddresses[0]"},
		{"same range spelled two ways", SpaceSpec{IPAddresses: []string{"2001:db8::/126", "2001:db8::-2001:db8::3"}}, ReasonDuplicate, "ipAddresses[1]", ""},

		// A lone address that can never be handed out.
		{"lone address is the gateway", SpaceSpec{IPAddresses: []string{"192.0.2.1", "192.0.2.2"}, Gateway: "192.0.2.1", Prefix: 24}, ReasonAddressReserved, "ipAddresses[0]", "is the gateway"},
		{"lone address is the network address", SpaceSpec{IPAddresses: []string{"192.0.2.5", "192.0.2.0"}, Prefix: 24}, ReasonAddressReserved, "ipAddresses[1]", "the network address of 192.0.2.0/24"},
		{"lone address is the broadcast address", SpaceSpec{IPAddresses: []string{"192.0.2.255"}, Gateway: "192.0.2.1", Prefix: 24}, ReasonAddressReserved, "ipAddresses[0]", "the broadcast address of 192.0.2.0/24"},
		{"lone /32 is the broadcast address", SpaceSpec{IPAddresses: []string{"192.0.2.255/32"}, Prefix: 24}, ReasonAddressReserved, "ipAddresses[0]", "broadcast"},
		{"one-address range is the gateway", SpaceSpec{IPAddresses: []string{"192.0.2.1-192.0.2.1"}, Gateway: "192.0.2.1", Prefix: 24}, ReasonAddressReserved, "ipAddresses[0]", "gateway"},
		{"lone address is the subnet-router anycast", SpaceSpec{IPAddresses: []string{"2001:db8::"}, Prefix: 64}, ReasonAddressReserved, "ipAddresses[0]", "subnet-router anycast address of 2001:db8::/64"},

		// Nothing left.
		{"/32 that is the gateway", SpaceSpec{CIDR: "192.0.2.7/32", Gateway: "192.0.2.7"}, ReasonEmptySpace, "cidr", "no usable address"},
		{"/128 that is the gateway", SpaceSpec{CIDR: "2001:db8::7/128", Gateway: "2001:db8::7"}, ReasonEmptySpace, "cidr", ""},
		{"/31 slice of a /30 minus gateway", SpaceSpec{CIDR: "192.0.2.0/31", Prefix: 30, Gateway: "192.0.2.1"}, ReasonEmptySpace, "cidr", ""},
		{"range of network address and gateway", SpaceSpec{IPAddresses: []string{"192.0.2.0-192.0.2.1"}, Gateway: "192.0.2.1", Prefix: 24}, ReasonEmptySpace, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSpace(tt.spec)
			if err == nil {
				t.Fatalf("ParseSpace(%+v) = %v (usable %v), want a %s error", tt.spec, s, s.Ranges(), tt.reason)
			}
			ie := asInvalid(t, err)
			if ie.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q (error: %v)", ie.Reason, tt.reason, err)
			}
			if tt.field != "" && ie.Field != tt.field {
				t.Errorf("Field = %q, want %q (error: %v)", ie.Field, tt.field, err)
			}
			if ie.Detail == "" {
				t.Errorf("Detail is empty (error: %v)", err)
			}
			if tt.detail != "" && !strings.Contains(ie.Detail, tt.detail) {
				t.Errorf("Detail = %q, want it to mention %q", ie.Detail, tt.detail)
			}
			if !strings.Contains(err.Error(), ie.Field) || !strings.Contains(err.Error(), ie.Detail) {
				t.Errorf("Error() = %q does not name field %q and detail %q", err, ie.Field, ie.Detail)
			}
		})
	}
}

func TestParseSpaceUsable(t *testing.T) {
	tests := []struct {
		name    string
		spec    SpaceSpec
		usable  string // FormatAddrs of the usable addresses
		size    uint64
		network string // "" when the space has none
		gateway string
		is6     bool
	}{
		{"ipv4 /24 with gateway", SpaceSpec{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1"}, "192.0.2.2-192.0.2.254", 253, "192.0.2.0/24", "192.0.2.1", false},
		{"ipv4 /24 without gateway", SpaceSpec{CIDR: "192.0.2.0/24"}, "192.0.2.1-192.0.2.254", 254, "192.0.2.0/24", "", false},
		{"ipv4 /24 gateway at the top", SpaceSpec{CIDR: "198.51.100.0/24", Gateway: "198.51.100.254"}, "198.51.100.1-198.51.100.253", 253, "198.51.100.0/24", "198.51.100.254", false},
		{"ipv4 /24 gateway in the middle", SpaceSpec{CIDR: "203.0.113.0/29", Gateway: "203.0.113.3"}, "203.0.113.1-203.0.113.2,203.0.113.4-203.0.113.6", 5, "203.0.113.0/29", "203.0.113.3", false},
		{"explicit prefix equal to the cidr's", SpaceSpec{CIDR: "192.0.2.0/24", Prefix: 24, Gateway: "192.0.2.1"}, "192.0.2.2-192.0.2.254", 253, "192.0.2.0/24", "192.0.2.1", false},
		{"ipv4 /31", SpaceSpec{CIDR: "192.0.2.0/31"}, "192.0.2.0-192.0.2.1", 2, "192.0.2.0/31", "", false},
		{"ipv4 /31 with gateway", SpaceSpec{CIDR: "192.0.2.0/31", Gateway: "192.0.2.0"}, "192.0.2.1", 1, "192.0.2.0/31", "192.0.2.0", false},
		{"ipv4 /30", SpaceSpec{CIDR: "192.0.2.4/30"}, "192.0.2.5-192.0.2.6", 2, "192.0.2.4/30", "", false},
		{"ipv4 /30 with gateway", SpaceSpec{CIDR: "192.0.2.4/30", Gateway: "192.0.2.5"}, "192.0.2.6", 1, "192.0.2.4/30", "192.0.2.5", false},
		{"ipv4 /32", SpaceSpec{CIDR: "192.0.2.7/32"}, "192.0.2.7", 1, "192.0.2.7/32", "", false},
		{"ipv6 /120 with gateway", SpaceSpec{CIDR: "2001:db8::/120", Gateway: "2001:db8::1"}, "2001:db8::2-2001:db8::ff", 254, "2001:db8::/120", "2001:db8::1", true},
		{"ipv6 /120 without gateway", SpaceSpec{CIDR: "2001:db8::/120"}, "2001:db8::1-2001:db8::ff", 255, "2001:db8::/120", "", true},
		{"ipv6 /127", SpaceSpec{CIDR: "2001:db8::/127"}, "2001:db8::-2001:db8::1", 2, "2001:db8::/127", "", true},
		{"ipv6 /127 with gateway", SpaceSpec{CIDR: "2001:db8::/127", Gateway: "2001:db8::"}, "2001:db8::1", 1, "2001:db8::/127", "2001:db8::", true},
		{"ipv6 /128", SpaceSpec{CIDR: "2001:db8::5/128"}, "2001:db8::5", 1, "2001:db8::5/128", "", true},

		// A cidr that is a slice of a larger network.
		{"ipv4 slice in the middle", SpaceSpec{CIDR: "192.0.2.64/26", Prefix: 24, Gateway: "192.0.2.1"}, "192.0.2.64-192.0.2.127", 64, "192.0.2.0/24", "192.0.2.1", false},
		{"ipv4 slice at the bottom", SpaceSpec{CIDR: "192.0.2.0/26", Prefix: 24, Gateway: "192.0.2.1"}, "192.0.2.2-192.0.2.63", 62, "192.0.2.0/24", "192.0.2.1", false},
		{"ipv4 slice at the top", SpaceSpec{CIDR: "192.0.2.192/26", Prefix: 24}, "192.0.2.192-192.0.2.254", 63, "192.0.2.0/24", "", false},
		{"ipv4 slice holding the gateway", SpaceSpec{CIDR: "192.0.2.64/26", Prefix: 24, Gateway: "192.0.2.100"}, "192.0.2.64-192.0.2.99,192.0.2.101-192.0.2.127", 63, "192.0.2.0/24", "192.0.2.100", false},
		{"ipv4 /31 slice of a /30", SpaceSpec{CIDR: "192.0.2.0/31", Prefix: 30}, "192.0.2.1", 1, "192.0.2.0/30", "", false},
		{"ipv6 slice at the bottom", SpaceSpec{CIDR: "2001:db8::/120", Prefix: 64, Gateway: "2001:db8::1"}, "2001:db8::2-2001:db8::ff", 254, "2001:db8::/64", "2001:db8::1", true},
		{"ipv6 slice at the top of a /64", SpaceSpec{CIDR: "2001:db8::ffff:ffff:ffff:fffe/127", Prefix: 64}, "2001:db8::ffff:ffff:ffff:fffe-2001:db8::ffff:ffff:ffff:ffff", 2, "2001:db8::/64", "", true},

		// Address lists.
		{"list without prefix has no network", SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.20", "192.0.2.30"}}, "192.0.2.10-192.0.2.20,192.0.2.30", 12, "", "", false},
		{"list without prefix keeps what would be network and broadcast", SpaceSpec{IPAddresses: []string{"192.0.2.0", "192.0.2.255"}}, "192.0.2.0,192.0.2.255", 2, "", "", false},
		{"list is sorted", SpaceSpec{IPAddresses: []string{"198.51.100.7", "192.0.2.9", "192.0.2.8"}}, "192.0.2.8-192.0.2.9,198.51.100.7", 3, "", "", false},
		{"adjacent entries merge", SpaceSpec{IPAddresses: []string{"192.0.2.4-192.0.2.7", "192.0.2.0/30"}}, "192.0.2.0-192.0.2.7", 8, "", "", false},
		{"cidr entry covering reserved addresses excludes them", SpaceSpec{IPAddresses: []string{"192.0.2.0/24"}, Prefix: 24, Gateway: "192.0.2.1"}, "192.0.2.2-192.0.2.254", 253, "192.0.2.0/24", "192.0.2.1", false},
		{"ranges covering reserved addresses exclude them", SpaceSpec{IPAddresses: []string{"192.0.2.250-192.0.2.255", "192.0.2.0-192.0.2.3"}, Prefix: 24, Gateway: "192.0.2.1"}, "192.0.2.2-192.0.2.3,192.0.2.250-192.0.2.254", 7, "192.0.2.0/24", "192.0.2.1", false},
		{"list with prefix and no gateway is placed by its first entry", SpaceSpec{IPAddresses: []string{"192.0.2.200-192.0.2.255", "192.0.2.100"}, Prefix: 24}, "192.0.2.100,192.0.2.200-192.0.2.254", 56, "192.0.2.0/24", "", false},
		{"list with gateway outside the list", SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.12"}, Prefix: 24, Gateway: "192.0.2.1"}, "192.0.2.10-192.0.2.12", 3, "192.0.2.0/24", "192.0.2.1", false},
		{"range ends with spaces", SpaceSpec{IPAddresses: []string{"192.0.2.10 - 192.0.2.12"}}, "192.0.2.10-192.0.2.12", 3, "", "", false},
		{"ipv6 list with prefix and gateway", SpaceSpec{IPAddresses: []string{"2001:db8::/126", "2001:db8::ff"}, Prefix: 64, Gateway: "2001:db8::1"}, "2001:db8::2-2001:db8::3,2001:db8::ff", 3, "2001:db8::/64", "2001:db8::1", true},
		{"ipv6 list does not exclude the last address", SpaceSpec{IPAddresses: []string{"2001:db8::fc/126"}, Prefix: 120}, "2001:db8::fc-2001:db8::ff", 4, "2001:db8::/120", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSpace(t, tt.spec)
			if got := usableString(t, s); got != tt.usable {
				t.Errorf("usable = %s, want %s", got, tt.usable)
			}
			if got := s.Size(); got != tt.size {
				t.Errorf("Size() = %d, want %d", got, tt.size)
			}
			if got := s.Is6(); got != tt.is6 {
				t.Errorf("Is6() = %v, want %v", got, tt.is6)
			}
			if tt.network == "" {
				if s.Network().IsValid() || s.Prefix() != 0 {
					t.Errorf("Network() = %v, Prefix() = %d, want none", s.Network(), s.Prefix())
				}
			} else {
				want := netip.MustParsePrefix(tt.network)
				if s.Network() != want || s.Prefix() != want.Bits() {
					t.Errorf("Network() = %v, Prefix() = %d, want %v", s.Network(), s.Prefix(), want)
				}
			}
			if tt.gateway == "" {
				if s.Gateway().IsValid() {
					t.Errorf("Gateway() = %v, want none", s.Gateway())
				}
			} else {
				gw := mustAddr(t, tt.gateway)
				if s.Gateway() != gw {
					t.Errorf("Gateway() = %v, want %v", s.Gateway(), gw)
				}
				if s.Contains(gw) {
					t.Errorf("the gateway %v is usable", gw)
				}
			}
			// Contains agrees with the listed usable addresses, and the
			// ranges are sorted, disjoint and not adjacent.
			want, err := ParseAddrList("usable", tt.usable, 1<<16)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range want {
				if !s.Contains(a) || s.Why(a) != "" {
					t.Errorf("Contains(%v) = %v, Why = %q; want usable", a, s.Contains(a), s.Why(a))
				}
			}
			rs := s.Ranges()
			for i := 1; i < len(rs); i++ {
				if !rs[i-1].To().Next().Less(rs[i].From()) {
					t.Errorf("ranges %v and %v are not sorted, disjoint and apart", rs[i-1], rs[i])
				}
			}
		})
	}
}

func TestSpaceContainsBoundaries(t *testing.T) {
	s := mustSpace(t, SpaceSpec{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1"})
	for a, want := range map[string]bool{
		"192.0.2.0": false, "192.0.2.1": false, "192.0.2.2": true, "192.0.2.128": true,
		"192.0.2.254": true, "192.0.2.255": false, "198.51.100.2": false, "2001:db8::2": false,
	} {
		if got := s.Contains(mustAddr(t, a)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", a, got, want)
		}
	}
	if (Space{}).Contains(mustAddr(t, "192.0.2.2")) {
		t.Error("the zero Space contains an address")
	}
	if got := s.String(); got != "192.0.2.0/24" {
		t.Errorf("String() = %q", got)
	}
	l := mustSpace(t, SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.20", "192.0.2.30"}})
	if got := l.String(); got != "[192.0.2.10-192.0.2.20,192.0.2.30]" {
		t.Errorf("String() = %q", got)
	}
}

// TestLongListDescribed: a space of the most entries the API admits (1024
// IPv6 ranges) is described in a line, so that the exhausted message built
// on it keeps its numbers and stays far below the API's limit of a
// condition message.
func TestLongListDescribed(t *testing.T) {
	entries := make([]string, 1024)
	for i := range entries {
		entries[i] = fmt.Sprintf("2001:db8:%x::10-2001:db8:%x::ffff:ffff:ffff", i, i)
	}
	sp := mustSpace(t, SpaceSpec{IPAddresses: entries})
	want := "[" + strings.Join(entries[:8], ",") + ",… 1016 more entries]"
	if got := sp.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	msg := (&ExhaustedError{Space: sp.String(), Usable: sp.Size(), Held: sp.Size(), Requested: 1}).Error()
	if len(msg) > 1024 || !strings.HasSuffix(msg, "1 requested, "+fmt.Sprint(sp.Size())+" usable, "+fmt.Sprint(sp.Size())+" already held, 0 free") {
		t.Errorf("exhausted message of %d bytes: %q", len(msg), msg)
	}
}

func TestSpaceSize(t *testing.T) {
	tests := []struct {
		spec SpaceSpec
		want uint64
	}{
		// 2^64 addresses minus the subnet-router anycast fit exactly.
		{SpaceSpec{CIDR: "2001:db8::/64"}, math.MaxUint64},
		{SpaceSpec{CIDR: "2001:db8::/64", Gateway: "2001:db8::1"}, math.MaxUint64 - 1},
		// Larger spaces saturate.
		{SpaceSpec{CIDR: "2001:db8::/63"}, math.MaxUint64},
		{SpaceSpec{CIDR: "2001:db8::/48", Gateway: "2001:db8::1"}, math.MaxUint64},
		{SpaceSpec{CIDR: "2001:db8::/32"}, math.MaxUint64},
		// Several ranges whose sum overflows saturate too.
		// (Adjacent entries would merge into one range; these do not.)
		{SpaceSpec{IPAddresses: []string{"2001:db8::/65", "2001:db8:0:2::/65"}}, math.MaxUint64},
		{SpaceSpec{IPAddresses: []string{"2001:db8::/64", "2001:db8:0:2::/64", "2001:db8:0:4::/64"}}, math.MaxUint64},
		{SpaceSpec{CIDR: "2001:db8::/65", Gateway: "2001:db8::1"}, 1<<63 - 2},
		{SpaceSpec{CIDR: "10.0.0.0/8"}, 1<<24 - 2},
	}
	for _, tt := range tests {
		s := mustSpace(t, tt.spec)
		if got := s.Size(); got != tt.want {
			t.Errorf("%+v: Size() = %d, want %d", tt.spec, got, tt.want)
		}
	}
}

func TestSpaceAddrs(t *testing.T) {
	s := mustSpace(t, SpaceSpec{CIDR: "192.0.2.0/29", Gateway: "192.0.2.1"})
	got, err := s.Addrs(5)
	if err != nil {
		t.Fatal(err)
	}
	if want := "192.0.2.2-192.0.2.6"; FormatAddrs(got) != want || len(got) != 5 {
		t.Errorf("Addrs(5) = %v, want %s", got, want)
	}
	_, err = s.Addrs(4)
	if ie := asInvalid(t, err); ie.Reason != ReasonInvalidRange {
		t.Errorf("Addrs(4): Reason = %q, want %q", ie.Reason, ReasonInvalidRange)
	}
	big := mustSpace(t, SpaceSpec{CIDR: "2001:db8::/64"})
	_, err = big.Addrs(1 << 20)
	if ie := asInvalid(t, err); ie.Reason != ReasonInvalidRange {
		t.Errorf("Addrs on a /64: Reason = %q, want %q", ie.Reason, ReasonInvalidRange)
	}
}

func TestSpaceWhy(t *testing.T) {
	v4 := mustSpace(t, SpaceSpec{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1"})
	v6 := mustSpace(t, SpaceSpec{CIDR: "2001:db8::/120", Gateway: "2001:db8::1"})
	slice := mustSpace(t, SpaceSpec{CIDR: "192.0.2.64/26", Prefix: 24, Gateway: "192.0.2.1"})
	list := mustSpace(t, SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.20", "192.0.2.30"}})
	p2p := mustSpace(t, SpaceSpec{CIDR: "192.0.2.0/31"})
	tests := []struct {
		s    Space
		a    string
		want string
	}{
		{v4, "192.0.2.1", "the gateway"},
		{v4, "192.0.2.0", "the network address of 192.0.2.0/24"},
		{v4, "192.0.2.255", "the broadcast address of 192.0.2.0/24"},
		{v4, "192.0.2.2", ""},
		{v4, "192.0.2.254", ""},
		{v4, "198.51.100.1", "outside 192.0.2.0/24"},
		{v4, "2001:db8::1", "outside 192.0.2.0/24"},
		{v6, "2001:db8::1", "the gateway"},
		{v6, "2001:db8::", "the subnet-router anycast address of 2001:db8::/120"},
		{v6, "2001:db8::ff", ""}, // no broadcast in IPv6
		{v6, "2001:db8::100", "outside 2001:db8::/120"},
		{slice, "192.0.2.64", ""},
		{slice, "192.0.2.127", ""},
		{slice, "192.0.2.1", "the gateway"},
		{slice, "192.0.2.0", "the network address of 192.0.2.0/24"},
		{slice, "192.0.2.255", "the broadcast address of 192.0.2.0/24"},
		{slice, "192.0.2.10", "outside 192.0.2.64/26"},
		{slice, "192.0.2.128", "outside 192.0.2.64/26"},
		{list, "192.0.2.15", ""},
		{list, "192.0.2.25", "outside [192.0.2.10-192.0.2.20,192.0.2.30]"},
		{p2p, "192.0.2.0", ""},
		{p2p, "192.0.2.1", ""},
	}
	for _, tt := range tests {
		if got := tt.s.Why(mustAddr(t, tt.a)); got != tt.want {
			t.Errorf("%v: Why(%s) = %q, want %q", tt.s, tt.a, got, tt.want)
		}
	}
}

func TestSpaceSliceNetwork(t *testing.T) {
	s := mustSpace(t, SpaceSpec{CIDR: "192.0.2.64/26", Prefix: 24})
	if got, want := s.Network(), netip.MustParsePrefix("192.0.2.0/24"); got != want {
		t.Errorf("Network() = %v, want %v", got, want)
	}
	if s.Prefix() != 24 {
		t.Errorf("Prefix() = %d, want 24", s.Prefix())
	}
	if !s.Contains(mustAddr(t, "192.0.2.64")) {
		t.Error("192.0.2.64 is the slice's first address but not the network address; it should be usable")
	}
	if s.Contains(mustAddr(t, "192.0.2.63")) || s.Contains(mustAddr(t, "192.0.2.128")) {
		t.Error("addresses of the network outside the slice are usable")
	}
	if s.String() != "192.0.2.64/26" {
		t.Errorf("String() = %q, want the cidr", s.String())
	}
}

func TestReservedAddrs(t *testing.T) {
	tests := []struct {
		prefix string
		want   string
	}{
		{"192.0.2.0/24", "192.0.2.0,192.0.2.255"},
		{"192.0.2.4/30", "192.0.2.4,192.0.2.7"},
		{"192.0.2.0/31", ""},
		{"192.0.2.0/32", ""},
		{"2001:db8::/64", "2001:db8::"},
		{"2001:db8::/126", "2001:db8::"},
		{"2001:db8::/127", ""},
		{"2001:db8::/128", ""},
	}
	for _, tt := range tests {
		if got := FormatAddrs(reservedAddrs(netip.MustParsePrefix(tt.prefix))); got != tt.want {
			t.Errorf("reservedAddrs(%s) = %s, want %s", tt.prefix, got, tt.want)
		}
	}
}
