package addressing

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"go4.org/netipx"
)

var knownReasons = []string{
	ReasonInvalidAddress, ReasonInvalidCIDR, ReasonInvalidRange, ReasonInvalidPrefix,
	ReasonInvalidGateway, ReasonMixedFamilies, ReasonDuplicate, ReasonAmbiguousSpace,
	ReasonOutsideNetwork, ReasonEmptySpace, ReasonSpaceExhausted, ReasonAddressReserved,
}

// FuzzParseSpace checks that ParseSpace never panics, fails only with an
// *InvalidError of a known reason, and that a space it accepts never hands
// out the gateway, the network or broadcast address, or anything outside the
// network and the addresses it was given. ipAddresses entries are separated
// by ';'.
func FuzzParseSpace(f *testing.F) {
	f.Add("192.0.2.0/24", "", "192.0.2.1", 0)
	f.Add("192.0.2.64/26", "", "192.0.2.1", 24)
	f.Add("192.0.2.0/31", "", "", 0)
	f.Add("192.0.2.0/31", "", "192.0.2.1", 30)
	f.Add("192.0.2.7/32", "", "192.0.2.7", 0)
	f.Add("2001:db8::/120", "", "2001:db8::1", 0)
	f.Add("2001:db8::/64", "", "", 48)
	f.Add("2001:db8::/127", "", "2001:db8::", 0)
	f.Add("", "192.0.2.10-192.0.2.20;192.0.2.30", "", 0)
	f.Add("", "192.0.2.0/24", "192.0.2.1", 24)
	f.Add("", "192.0.2.250-192.0.2.255;192.0.2.0-192.0.2.3", "192.0.2.1", 24)
	f.Add("", "192.0.2.255", "192.0.2.1", 24)
	f.Add("", "2001:db8::/126;2001:db8::ff", "2001:db8::1", 64)
	f.Add("", "192.0.2.1;2001:db8::1", "", 0)
	f.Add("", "192.0.2.0/28;192.0.2.10-192.0.2.20", "", 0)
	f.Add("", "10.0.0.250-10.0.1.5", "", 24)
	f.Add("", "255.255.255.254-255.255.255.255", "", 31)
	f.Add("", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127", "", 0)
	f.Add("192.0.2.0/24", "192.0.2.5", "", 0)
	f.Add("", "", "", 0)
	f.Add("192.0.2.1/24", "", "::ffff:192.0.2.1", -1)
	f.Add("", "2001:db8::1%eth0", "2001:db8::1%eth0", 129)
	f.Fuzz(func(t *testing.T, cidr, list, gateway string, prefix int) {
		spec := SpaceSpec{CIDR: cidr, Gateway: gateway, Prefix: prefix}
		if list != "" {
			spec.IPAddresses = strings.Split(list, ";")
		}
		s, err := ParseSpace(spec)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("ParseSpace(%+v) = %v (%T), want an *InvalidError", spec, err, err)
			}
			if !slices.Contains(knownReasons, ie.Reason) || ie.Field == "" || ie.Detail == "" {
				t.Fatalf("ParseSpace(%+v) = %+v: unknown reason or missing field/detail", spec, ie)
			}
			return
		}
		if s.Size() == 0 {
			t.Fatalf("ParseSpace(%+v) accepted an empty space", spec)
		}
		ranges := s.Ranges()
		if len(ranges) == 0 {
			t.Fatalf("ParseSpace(%+v): Size() = %d with no ranges", spec, s.Size())
		}
		bitLen := ranges[0].From().BitLen()
		if s.Is6() != (bitLen == 128) {
			t.Fatalf("Is6() = %v for ranges %v", s.Is6(), ranges)
		}

		// What the spec allows: the cidr, or the listed entries.
		var given []netipx.IPRange
		if cidr != "" {
			given = append(given, netipx.RangeOfPrefix(netip.MustParsePrefix(cidr)))
		} else {
			for _, e := range spec.IPAddresses {
				r, err := ParseRange("e", e)
				if err != nil {
					t.Fatalf("ParseSpace accepted entry %q that ParseRange rejects: %v", e, err)
				}
				given = append(given, r)
			}
		}
		inGiven := func(a netip.Addr) bool {
			return slices.ContainsFunc(given, func(r netipx.IPRange) bool { return r.Contains(a) })
		}

		network, gw := s.Network(), s.Gateway()
		var reserved []netip.Addr
		if network.IsValid() {
			if network.Addr().BitLen() != bitLen || network != network.Masked() {
				t.Fatalf("Network() = %v for ranges %v", network, ranges)
			}
			if s.Prefix() != network.Bits() {
				t.Fatalf("Prefix() = %d, Network() = %v", s.Prefix(), network)
			}
			if prefix != 0 && s.Prefix() != prefix {
				t.Fatalf("Prefix() = %d, spec asked for %d", s.Prefix(), prefix)
			}
			reserved = reservedAddrs(network)
		} else if cidr != "" || gateway != "" || prefix != 0 {
			t.Fatalf("no network for %+v", spec)
		}
		if gateway != "" {
			if gw != netip.MustParseAddr(gateway) {
				t.Fatalf("Gateway() = %v, spec has %q", gw, gateway)
			}
			if !network.Contains(gw) {
				t.Fatalf("gateway %v outside network %v", gw, network)
			}
			if s.Contains(gw) || s.Why(gw) != "the gateway" {
				t.Fatalf("gateway %v: Contains = %v, Why = %q", gw, s.Contains(gw), s.Why(gw))
			}
		} else if gw.IsValid() {
			t.Fatalf("Gateway() = %v without one in the spec", gw)
		}
		for _, a := range reserved {
			if s.Contains(a) || s.Why(a) == "" {
				t.Fatalf("reserved address %v of %v is usable (Why %q)", a, network, s.Why(a))
			}
		}

		// Check each range's ends exhaustively and its inside by sampling:
		// ranges can be IPv6-sized.
		for i, r := range ranges {
			if !r.IsValid() || r.From().BitLen() != bitLen {
				t.Fatalf("range %d = %v invalid or of mixed family", i, r)
			}
			if i > 0 && !ranges[i-1].To().Less(r.From()) {
				t.Fatalf("ranges %v and %v are not sorted and disjoint", ranges[i-1], r)
			}
			for _, a := range []netip.Addr{r.From(), r.To()} {
				if network.IsValid() && !network.Contains(a) {
					t.Fatalf("usable %v outside network %v", a, network)
				}
				if !inGiven(a) {
					t.Fatalf("usable %v not in the spec's addresses %v", a, given)
				}
				if !s.Contains(a) || s.Why(a) != "" {
					t.Fatalf("usable %v: Contains = %v, Why = %q", a, s.Contains(a), s.Why(a))
				}
				if a == gw || slices.Contains(reserved, a) {
					t.Fatalf("usable %v is the gateway or reserved in %v", a, network)
				}
			}
		}
		if n := s.Size(); n <= 4096 {
			all, err := s.Addrs(int(n))
			if err != nil || uint64(len(all)) != n {
				t.Fatalf("Addrs(%d) = %d addresses, %v", n, len(all), err)
			}
			for _, a := range all {
				if a == gw || slices.Contains(reserved, a) || !inGiven(a) {
					t.Fatalf("usable %v is the gateway, reserved, or not given", a)
				}
			}
		}
	})
}

// FuzzAddrList checks that FormatAddrs and ParseAddrList round-trip sorted
// distinct addresses, and that ParseAddrList never panics on arbitrary input
// and never returns more than its limit or unsorted addresses.
func FuzzAddrList(f *testing.F) {
	f.Add([]byte{}, "", uint16(0))
	f.Add([]byte{0, 0, 1, 0, 2, 0, 3, 0, 9}, "192.0.2.1-192.0.2.3,192.0.2.9", uint16(4))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xfe, 0, 1}, "2001:db8::/126", uint16(3))
	f.Add([]byte{2, 0xff, 0xfe, 0xff, 0xff}, "255.255.255.254-255.255.255.255", uint16(2))
	f.Add([]byte{3, 0, 0, 0xff, 0xff}, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127,", uint16(10))
	f.Add([]byte{0, 1, 0}, "192.0.2.1,2001:db8:1::/64", uint16(10))
	f.Add([]byte{1, 0, 0}, "192.0.2.0/24", uint16(255))
	f.Add([]byte{0}, "192.0.2.5,192.0.2.1", uint16(10))
	f.Add([]byte{0}, "192.0.2.1 - 192.0.2.4 , 198.51.100.7", uint16(10))
	f.Add([]byte{0}, "::ffff:192.0.2.1,2001:db8::1%eth0", uint16(10))
	f.Fuzz(func(t *testing.T, data []byte, s string, limit uint16) {
		// Round trip: data picks a base and 16-bit offsets from it.
		if len(data) > 0 {
			bases := []netip.Addr{
				netip.MustParseAddr("10.0.0.0"),
				netip.MustParseAddr("2001:db8::"),
				netip.MustParseAddr("255.255.0.0"),
				netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:0"),
			}
			base := bases[int(data[0])%len(bases)]
			var in []netip.Addr
			for rest := data[1:]; len(rest) >= 2; rest = rest[2:] {
				in = append(in, addOffset(base, binary.BigEndian.Uint16(rest)))
			}
			slices.SortFunc(in, netip.Addr.Compare)
			in = slices.Compact(in)
			text := FormatAddrs(in)
			out, err := ParseAddrList("f", text, len(in))
			if err != nil {
				t.Fatalf("ParseAddrList(FormatAddrs(%v) = %q): %v", in, text, err)
			}
			if !slices.Equal(in, out) {
				t.Fatalf("round trip of %v through %q = %v", in, text, out)
			}
			if strings.Count(text, ",")+1 > len(in) && len(in) > 0 {
				t.Fatalf("FormatAddrs(%v) = %q has more entries than addresses", in, text)
			}
			if len(in) > 0 {
				if _, err := ParseAddrList("f", text, len(in)-1); err == nil {
					t.Fatalf("ParseAddrList(%q, %d) accepted %d addresses", text, len(in)-1, len(in))
				}
			}
		}

		// Arbitrary strings: the limit is small so a hostile range cannot
		// make the fuzzer itself run out of memory.
		lim := int(limit % 1024)
		out, err := ParseAddrList("f", s, lim)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || !slices.Contains(knownReasons, ie.Reason) {
				t.Fatalf("ParseAddrList(%q) = %v, want an *InvalidError", s, err)
			}
			if out != nil {
				t.Fatalf("ParseAddrList(%q) returned addresses with its error", s)
			}
			return
		}
		if len(out) > lim {
			t.Fatalf("ParseAddrList(%q, %d) returned %d addresses", s, lim, len(out))
		}
		for i, a := range out {
			if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
				t.Fatalf("ParseAddrList(%q) returned %v", s, a)
			}
			if i > 0 && !out[i-1].Less(a) {
				t.Fatalf("ParseAddrList(%q) = %v, not strictly ascending", s, out)
			}
		}
		again, err := ParseAddrList("f", FormatAddrs(out), len(out))
		if err != nil || !slices.Equal(again, out) {
			t.Fatalf("re-parsing FormatAddrs of %q = %v, %v; want %v", s, again, err, out)
		}
	})
}

// addOffset is a + off. The bases above are chosen so that it never passes
// the top of a's family: the largest result is exactly the top.
func addOffset(a netip.Addr, off uint16) netip.Addr {
	b := a.As16()
	lo := binary.BigEndian.Uint64(b[8:]) + uint64(off)
	binary.BigEndian.PutUint64(b[8:], lo)
	out := netip.AddrFrom16(b)
	if a.Is4() {
		return out.Unmap()
	}
	return out
}
