package addressing

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
)

// SpaceSpec is an address space as users write it (k0rdent's
// {cidr, ipAddresses, gateway, prefix}).
type SpaceSpec struct {
	// CIDR is a network to draw from. Exactly one of CIDR and IPAddresses.
	CIDR string
	// IPAddresses lists addresses, CIDRs and "first-last" ranges.
	IPAddresses []string
	// Gateway is never handed out; it must lie in the network.
	Gateway string
	// Prefix is the node network's prefix length. With CIDR it defaults to
	// the CIDR's and may be shorter (the CIDR is then a slice of a larger
	// network); with IPAddresses it places the addresses in a network.
	Prefix int
}

// SpecOf is the API's address space in the address logic's form.
func SpecOf(s commonv1alpha1.AddressSpace) SpaceSpec {
	return SpaceSpec{CIDR: s.CIDR, IPAddresses: s.IPAddresses, Gateway: s.Gateway, Prefix: int(s.Prefix)}
}

// Space is a validated address space: the addresses that may be handed out,
// with the network they live in.
type Space struct {
	network netip.Prefix // invalid when IPAddresses had no prefix
	gateway netip.Addr   // invalid when none
	usable  *netipx.IPSet
	ranges  []netipx.IPRange // usable.Ranges(), which copies on every call
	desc    string
}

// ParseSpace validates s and computes its usable addresses: network,
// broadcast (IPv4) and subnet-router anycast (IPv6) addresses and the gateway
// are never usable. A single address listed in IPAddresses that can never be
// handed out is an error, not a silent skip; a range or CIDR that covers one
// simply excludes it.
func ParseSpace(s SpaceSpec) (Space, error) {
	switch {
	case s.CIDR != "" && len(s.IPAddresses) > 0:
		return Space{}, invalid(ReasonAmbiguousSpace, "cidr", "", "set either cidr or ipAddresses, not both")
	case s.CIDR == "" && len(s.IPAddresses) == 0:
		return Space{}, invalid(ReasonAmbiguousSpace, "cidr", "", "set one of cidr or ipAddresses")
	}
	var (
		sp     Space
		ranges []netipx.IPRange
		single []bool // whether ranges[i] was written as a lone address
	)
	if s.CIDR != "" {
		p, err := ParseCIDR("cidr", s.CIDR)
		if err != nil {
			return Space{}, err
		}
		bits := s.Prefix
		if bits == 0 {
			bits = p.Bits()
		}
		if bits < 1 || bits > p.Addr().BitLen() {
			return Space{}, invalid(ReasonInvalidPrefix, "prefix", fmt.Sprint(s.Prefix), "must be between 1 and %d", p.Addr().BitLen())
		}
		if bits > p.Bits() {
			return Space{}, invalid(ReasonInvalidPrefix, "prefix", fmt.Sprint(s.Prefix), "is longer than the cidr's /%d: the network must contain the cidr", p.Bits())
		}
		sp.network = netip.PrefixFrom(p.Addr(), bits).Masked()
		ranges, single = []netipx.IPRange{netipx.RangeOfPrefix(p)}, []bool{false}
		sp.desc = p.String()
	} else {
		for i, e := range s.IPAddresses {
			r, err := ParseRange(fmt.Sprintf("ipAddresses[%d]", i), e)
			if err != nil {
				return Space{}, err
			}
			if i > 0 && r.From().BitLen() != ranges[0].From().BitLen() {
				return Space{}, invalid(ReasonMixedFamilies, fmt.Sprintf("ipAddresses[%d]", i), e, "is not of the same family as ipAddresses[0]")
			}
			ranges, single = append(ranges, r), append(single, r.From() == r.To())
		}
		if err := checkOverlaps(s.IPAddresses, ranges); err != nil {
			return Space{}, err
		}
		sp.desc = describeList(s.IPAddresses)
	}
	bitLen := ranges[0].From().BitLen()

	if s.Gateway != "" {
		gw, err := ParseAddr("gateway", s.Gateway)
		if err != nil {
			var ie *InvalidError
			if errors.As(err, &ie) {
				ie.Reason = ReasonInvalidGateway
			}
			return Space{}, err
		}
		if gw.BitLen() != bitLen {
			return Space{}, invalid(ReasonMixedFamilies, "gateway", s.Gateway, "is not of the same family as the addresses")
		}
		sp.gateway = gw
	}
	if s.CIDR == "" && s.Prefix != 0 {
		if s.Prefix < 1 || s.Prefix > bitLen {
			return Space{}, invalid(ReasonInvalidPrefix, "prefix", fmt.Sprint(s.Prefix), "must be between 1 and %d", bitLen)
		}
		anchor := ranges[0].From()
		if sp.gateway.IsValid() {
			anchor = sp.gateway
		}
		sp.network = netip.PrefixFrom(anchor, s.Prefix).Masked()
		for i, r := range ranges {
			if !sp.network.Contains(r.From()) || !sp.network.Contains(r.To()) {
				return Space{}, invalid(ReasonOutsideNetwork, fmt.Sprintf("ipAddresses[%d]", i), s.IPAddresses[i], "is outside the network %s", sp.network)
			}
		}
	}
	if sp.gateway.IsValid() {
		if !sp.network.IsValid() {
			return Space{}, invalid(ReasonInvalidPrefix, "prefix", "", "is required with ipAddresses and a gateway: it places them in one network")
		}
		if !sp.network.Contains(sp.gateway) {
			return Space{}, invalid(ReasonInvalidGateway, "gateway", s.Gateway, "is outside the network %s", sp.network)
		}
		// Machines cannot route through an address no host of the network
		// may have.
		if why := reservedWhy(sp.network, sp.gateway); why != "" {
			return Space{}, invalid(ReasonInvalidGateway, "gateway", s.Gateway, "is %s, not a host address", why)
		}
	}

	var excluded []netip.Addr
	if sp.network.IsValid() {
		excluded = reservedAddrs(sp.network)
	}
	if sp.gateway.IsValid() {
		excluded = append(excluded, sp.gateway)
	}
	var b netipx.IPSetBuilder
	for i, r := range ranges {
		if single[i] && slices.Contains(excluded, r.From()) {
			return Space{}, invalid(ReasonAddressReserved, fmt.Sprintf("ipAddresses[%d]", i), s.IPAddresses[i], "is %s and is never handed out", sp.Why(r.From()))
		}
		b.AddRange(r)
	}
	for _, a := range excluded {
		b.Remove(a)
	}
	set, err := b.IPSet()
	if err != nil {
		return Space{}, fmt.Errorf("building address set: %w", err)
	}
	sp.usable, sp.ranges = set, set.Ranges()
	if len(sp.ranges) == 0 {
		field := "cidr"
		if s.CIDR == "" {
			field = "ipAddresses"
		}
		return Space{}, invalid(ReasonEmptySpace, field, sp.desc, "leaves no usable address once network, broadcast and gateway are excluded")
	}
	return sp, nil
}

// reservedAddrs are the addresses of a network that are never handed out:
// the network address (IPv6: subnet-router anycast) and, for IPv4, the
// broadcast address. Point-to-point networks (/31, /127) and single hosts
// have none (RFC 3021, RFC 6164).
func reservedAddrs(p netip.Prefix) []netip.Addr {
	if p.Bits() >= p.Addr().BitLen()-1 {
		return nil
	}
	if p.Addr().Is4() {
		return []netip.Addr{p.Addr(), netipx.PrefixLastIP(p)}
	}
	return []netip.Addr{p.Addr()}
}

// reservedWhy names what a is in network p when it is one of p's reserved
// addresses, or returns "" when it is not.
func reservedWhy(p netip.Prefix, a netip.Addr) string {
	if !slices.Contains(reservedAddrs(p), a) {
		return ""
	}
	switch {
	case a != p.Addr():
		return fmt.Sprintf("the broadcast address of %s", p)
	case a.Is4():
		return fmt.Sprintf("the network address of %s", p)
	default:
		return fmt.Sprintf("the subnet-router anycast address of %s", p)
	}
}

func checkOverlaps(entries []string, ranges []netipx.IPRange) error {
	idx := make([]int, len(ranges))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return ranges[a].From().Compare(ranges[b].From()) })
	for k := 1; k < len(idx); k++ {
		prev, cur := idx[k-1], idx[k]
		if ranges[prev].Overlaps(ranges[cur]) {
			first, second := min(prev, cur), max(prev, cur)
			return invalid(ReasonDuplicate, fmt.Sprintf("ipAddresses[%d]", second), entries[second], "overlaps ipAddresses[%d] (%s)", first, entries[first])
		}
	}
	return nil
}

// Network is the node network, invalid when the space is a bare address list.
func (s Space) Network() netip.Prefix { return s.network }

// Gateway is the gateway, invalid when none was given.
func (s Space) Gateway() netip.Addr { return s.gateway }

// Prefix is the node network's prefix length, 0 when unknown.
func (s Space) Prefix() int {
	if !s.network.IsValid() {
		return 0
	}
	return s.network.Bits()
}

// Is6 reports whether the space is IPv6.
func (s Space) Is6() bool { return len(s.ranges) > 0 && s.ranges[0].From().Is6() }

// Ranges are the usable addresses, as sorted disjoint ranges. The slice is
// shared: do not modify it.
func (s Space) Ranges() []netipx.IPRange { return s.ranges }

// Contains reports whether a may be handed out from s.
func (s Space) Contains(a netip.Addr) bool { return s.usable != nil && s.usable.Contains(a) }

// Size is the number of usable addresses, saturated at MaxUint64.
func (s Space) Size() uint64 {
	var n uint64
	for _, r := range s.Ranges() {
		n = addSat(n, RangeSize(r))
	}
	return n
}

// Addrs lists every usable address, or fails if there are more than limit.
func (s Space) Addrs(limit int) ([]netip.Addr, error) {
	if n := s.Size(); n > uint64(limit) {
		return nil, invalid(ReasonInvalidRange, "cidr", s.desc, "holds %d usable addresses, more than the %d a reservation may hold", n, limit)
	}
	var out []netip.Addr
	for _, r := range s.Ranges() {
		for a := r.From(); ; a = a.Next() {
			out = append(out, a)
			if a == r.To() {
				break
			}
		}
	}
	return out, nil
}

// Why explains why a cannot be handed out from s, or returns "" if it can.
func (s Space) Why(a netip.Addr) string {
	switch {
	case s.gateway.IsValid() && a == s.gateway:
		return "the gateway"
	case s.network.IsValid() && reservedWhy(s.network, a) != "":
		return reservedWhy(s.network, a)
	case !s.Contains(a):
		return fmt.Sprintf("outside %s", s.desc)
	}
	return ""
}

func (s Space) String() string { return s.desc }

// describedEntries is how many entries of an ipAddresses list its
// description shows: every message naming a space carries it, and a list
// of a thousand ranges would swamp the numbers that follow it.
const describedEntries = 8

// describeList describes an ipAddresses list by its first entries and how
// many more there are.
func describeList(entries []string) string {
	if len(entries) <= describedEntries {
		return "[" + strings.Join(entries, ",") + "]"
	}
	return fmt.Sprintf("[%s,… %d more entries]", strings.Join(entries[:describedEntries], ","), len(entries)-describedEntries)
}

// Outside returns the lowest usable address of s that set does not
// contain: the proof that s is not within set. It reports false when every
// usable address is in set.
func (s Space) Outside(set *netipx.IPSet) (netip.Addr, bool) {
	for _, r := range s.ranges {
		if set.ContainsRange(r) {
			continue
		}
		var b netipx.IPSetBuilder
		b.AddRange(r)
		b.RemoveSet(set)
		if rest, err := b.IPSet(); err == nil && len(rest.Ranges()) > 0 {
			return rest.Ranges()[0].From(), true
		}
	}
	return netip.Addr{}, false
}
