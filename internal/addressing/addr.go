package addressing

import (
	"math"
	"math/big"
	"net/netip"
	"strings"

	"go4.org/netipx"
)

// ParseAddr parses one address, rejecting zones and IPv4-mapped IPv6.
func ParseAddr(field, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, invalid(ReasonInvalidAddress, field, s, "not an IP address")
	}
	if a.Zone() != "" {
		return netip.Addr{}, invalid(ReasonInvalidAddress, field, s, "an address with a zone cannot be reserved")
	}
	if a.Is4In6() {
		return netip.Addr{}, invalid(ReasonInvalidAddress, field, s, "IPv4-mapped IPv6 address: write it as IPv4 (%s)", a.Unmap())
	}
	return a, nil
}

// ParseCIDR parses a network in canonical form (no host bits set).
func ParseCIDR(field, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, invalid(ReasonInvalidCIDR, field, s, "not a CIDR")
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, invalid(ReasonInvalidCIDR, field, s, "IPv4-mapped IPv6 network: write it as IPv4")
	}
	if p.Masked() != p {
		return netip.Prefix{}, invalid(ReasonInvalidCIDR, field, s, "host bits are set: the network is %s", p.Masked())
	}
	return p, nil
}

// ParseRange parses one entry of an address list: an address, a CIDR, or an
// inclusive range "first-last".
func ParseRange(field, s string) (netipx.IPRange, error) {
	switch {
	case strings.Contains(s, "/"):
		p, err := ParseCIDR(field, s)
		if err != nil {
			return netipx.IPRange{}, err
		}
		return netipx.RangeOfPrefix(p), nil
	case strings.Contains(s, "-"):
		from, to, _ := strings.Cut(s, "-")
		a, err := ParseAddr(field, strings.TrimSpace(from))
		if err != nil {
			return netipx.IPRange{}, err
		}
		b, err := ParseAddr(field, strings.TrimSpace(to))
		if err != nil {
			return netipx.IPRange{}, err
		}
		if a.BitLen() != b.BitLen() {
			return netipx.IPRange{}, invalid(ReasonMixedFamilies, field, s, "range ends are of different families")
		}
		if b.Less(a) {
			return netipx.IPRange{}, invalid(ReasonInvalidRange, field, s, "range ends are reversed")
		}
		return netipx.IPRangeFrom(a, b), nil
	default:
		a, err := ParseAddr(field, s)
		if err != nil {
			return netipx.IPRange{}, err
		}
		return netipx.IPRangeFrom(a, a), nil
	}
}

// ParseAddrList parses a list written by FormatAddrs (comma-separated
// addresses and ranges) into its addresses, in order. It refuses lists of
// more than limit addresses so that a hostile string cannot exhaust memory.
func ParseAddrList(field, s string, limit int) ([]netip.Addr, error) {
	if s == "" {
		return nil, nil // FormatAddrs writes no addresses as ""
	}
	limit = max(limit, 0)
	var out []netip.Addr
	for i, part := range strings.Split(s, ",") {
		r, err := ParseRange(field, strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		// len(out) <= limit here; compare without adding, which could wrap
		// when RangeSize saturates.
		if RangeSize(r) > uint64(limit-len(out)) {
			return nil, invalid(ReasonInvalidRange, field, s, "more than %d addresses", limit)
		}
		for a := r.From(); ; a = a.Next() {
			if len(out) > 0 && !out[len(out)-1].Less(a) {
				return nil, invalid(ReasonDuplicate, field, s, "entry %d is not in ascending order or repeats an address", i)
			}
			out = append(out, a)
			if a == r.To() {
				break
			}
		}
	}
	return out, nil
}

// FormatAddrs writes sorted, distinct addresses compactly: runs of
// consecutive addresses become "first-last", joined by commas.
func FormatAddrs(addrs []netip.Addr) string {
	var b strings.Builder
	for i := 0; i < len(addrs); {
		j := i
		for j+1 < len(addrs) && addrs[j].Next() == addrs[j+1] {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(addrs[i].String())
		if j > i {
			b.WriteByte('-')
			b.WriteString(addrs[j].String())
		}
		i = j + 1
	}
	return b.String()
}

// RangeSize is the number of addresses in r, saturated at MaxUint64 (an IPv6
// range can hold more).
func RangeSize(r netipx.IPRange) uint64 {
	from, to := r.From().As16(), r.To().As16()
	n := new(big.Int).Sub(new(big.Int).SetBytes(to[:]), new(big.Int).SetBytes(from[:]))
	n.Add(n, big.NewInt(1))
	if !n.IsUint64() {
		return math.MaxUint64
	}
	return n.Uint64()
}

// addSat adds without overflowing.
func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}
