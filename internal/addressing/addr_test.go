package addressing

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"go4.org/netipx"
)

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in     string
		want   string // canonical form, "" for an error
		detail string // substring of the error's detail
	}{
		{"192.0.2.1", "192.0.2.1", ""},
		{"2001:db8::1", "2001:db8::1", ""},
		{"2001:DB8:0:0::1", "2001:db8::1", ""},
		{"", "", "not an IP address"},
		{"192.0.2", "", "not an IP address"},
		{"192.0.2.01", "", "not an IP address"}, // netip refuses leading zeros
		{" 192.0.2.1", "", "not an IP address"},
		{"192.0.2.1/32", "", "not an IP address"},
		{"2001:db8::1%eth0", "", "zone"},
		{"::ffff:192.0.2.1", "", "write it as IPv4 (192.0.2.1)"},
	}
	for _, tt := range tests {
		a, err := ParseAddr("node", tt.in)
		if tt.want != "" {
			if err != nil || a.String() != tt.want {
				t.Errorf("ParseAddr(%q) = %v, %v; want %s", tt.in, a, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseAddr(%q) = %v, want an error", tt.in, a)
			continue
		}
		ie := asInvalid(t, err)
		if ie.Reason != ReasonInvalidAddress || ie.Field != "node" || ie.Value != tt.in || !strings.Contains(ie.Detail, tt.detail) {
			t.Errorf("ParseAddr(%q) error = %+v, want %s on field node mentioning %q", tt.in, ie, ReasonInvalidAddress, tt.detail)
		}
		if a.IsValid() {
			t.Errorf("ParseAddr(%q) returned %v with its error", tt.in, a)
		}
	}
}

func TestParseCIDR(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		detail string
	}{
		{"192.0.2.0/24", "192.0.2.0/24", ""},
		{"192.0.2.7/32", "192.0.2.7/32", ""},
		{"2001:db8::/32", "2001:db8::/32", ""},
		{"192.0.2.0", "", "not a CIDR"},
		{"192.0.2.0/", "", "not a CIDR"},
		{"192.0.2.0/33", "", "not a CIDR"},
		{"2001:db8::/129", "", "not a CIDR"},
		{"192.0.2.1/24", "", "the network is 192.0.2.0/24"},
		{"2001:db8::1/64", "", "the network is 2001:db8::/64"},
		{"::ffff:192.0.2.0/120", "", "IPv4-mapped"},
	}
	for _, tt := range tests {
		p, err := ParseCIDR("cidr", tt.in)
		if tt.want != "" {
			if err != nil || p.String() != tt.want {
				t.Errorf("ParseCIDR(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseCIDR(%q) = %v, want an error", tt.in, p)
			continue
		}
		ie := asInvalid(t, err)
		if ie.Reason != ReasonInvalidCIDR || ie.Field != "cidr" || !strings.Contains(ie.Detail, tt.detail) {
			t.Errorf("ParseCIDR(%q) error = %+v, want %s mentioning %q", tt.in, ie, ReasonInvalidCIDR, tt.detail)
		}
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		in     string
		from   string
		to     string
		reason string
	}{
		{"192.0.2.5", "192.0.2.5", "192.0.2.5", ""},
		{"192.0.2.0/30", "192.0.2.0", "192.0.2.3", ""},
		{"192.0.2.5-192.0.2.9", "192.0.2.5", "192.0.2.9", ""},
		{"192.0.2.5 - 192.0.2.9", "192.0.2.5", "192.0.2.9", ""},
		{"192.0.2.5-192.0.2.5", "192.0.2.5", "192.0.2.5", ""},
		{"2001:db8::-2001:db8::ffff", "2001:db8::", "2001:db8::ffff", ""},
		{"2001:db8::/127", "2001:db8::", "2001:db8::1", ""},
		{"192.0.2.9-192.0.2.5", "", "", ReasonInvalidRange},
		{"192.0.2.5-2001:db8::1", "", "", ReasonMixedFamilies},
		{"192.0.2.5-", "", "", ReasonInvalidAddress},
		{"-192.0.2.5", "", "", ReasonInvalidAddress},
		{"192.0.2.1-192.0.2.2-192.0.2.3", "", "", ReasonInvalidAddress},
		{"192.0.2.1/24", "", "", ReasonInvalidCIDR},
		{"192.0.2.0/24-192.0.2.255", "", "", ReasonInvalidCIDR},
		{"2001:db8::1%eth0-2001:db8::2", "", "", ReasonInvalidAddress},
		{"2001:db8::1-2001:db8::2%eth0", "", "", ReasonInvalidAddress},
		{"::ffff:192.0.2.1-::ffff:192.0.2.2", "", "", ReasonInvalidAddress},
		{"", "", "", ReasonInvalidAddress},
	}
	for _, tt := range tests {
		r, err := ParseRange("f", tt.in)
		if tt.reason == "" {
			want := netipx.IPRangeFrom(netip.MustParseAddr(tt.from), netip.MustParseAddr(tt.to))
			if err != nil || r != want {
				t.Errorf("ParseRange(%q) = %v, %v; want %v", tt.in, r, err, want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseRange(%q) = %v, want a %s error", tt.in, r, tt.reason)
			continue
		}
		if ie := asInvalid(t, err); ie.Reason != tt.reason || ie.Field != "f" {
			t.Errorf("ParseRange(%q) error = %+v, want %s on field f", tt.in, ie, tt.reason)
		}
	}
}

func TestFormatAddrs(t *testing.T) {
	tests := []struct {
		addrs []string
		want  string
	}{
		{nil, ""},
		{[]string{"192.0.2.1"}, "192.0.2.1"},
		{[]string{"192.0.2.1", "192.0.2.2"}, "192.0.2.1-192.0.2.2"},
		{[]string{"192.0.2.1", "192.0.2.3"}, "192.0.2.1,192.0.2.3"},
		{[]string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.5", "192.0.2.7", "192.0.2.8"}, "192.0.2.1-192.0.2.3,192.0.2.5,192.0.2.7-192.0.2.8"},
		{[]string{"10.0.0.255", "10.0.1.0"}, "10.0.0.255-10.0.1.0"},
		{[]string{"2001:db8::ffff", "2001:db8::1:0", "2001:db8::1:2"}, "2001:db8::ffff-2001:db8::1:0,2001:db8::1:2"},
		{[]string{"192.0.2.7", "2001:db8::1"}, "192.0.2.7,2001:db8::1"},
		// Top of the address spaces: Next() there is invalid, not a wrap.
		{[]string{"255.255.255.254", "255.255.255.255"}, "255.255.255.254-255.255.255.255"},
		{[]string{"255.255.255.255", "2001:db8::"}, "255.255.255.255,2001:db8::"},
		{[]string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	}
	for _, tt := range tests {
		var addrs []netip.Addr
		for _, s := range tt.addrs {
			addrs = append(addrs, mustAddr(t, s))
		}
		got := FormatAddrs(addrs)
		if got != tt.want {
			t.Errorf("FormatAddrs(%v) = %q, want %q", tt.addrs, got, tt.want)
		}
		back, err := ParseAddrList("f", got, len(addrs))
		if err != nil || !slices.Equal(back, addrs) {
			t.Errorf("ParseAddrList(%q) = %v, %v; want %v", got, back, err, addrs)
		}
	}
}

func TestParseAddrList(t *testing.T) {
	tests := []struct {
		in     string
		limit  int
		want   string // FormatAddrs of the result
		n      int
		reason string
	}{
		{"", 0, "", 0, ""},
		{"", 10, "", 0, ""},
		{"192.0.2.1", 1, "192.0.2.1", 1, ""},
		{"192.0.2.1, 192.0.2.3", 2, "192.0.2.1,192.0.2.3", 2, ""},
		{"192.0.2.1-192.0.2.3,192.0.2.4", 4, "192.0.2.1-192.0.2.4", 4, ""},
		{"192.0.2.0/24", 256, "192.0.2.0-192.0.2.255", 256, ""},
		{"192.0.2.0/30,192.0.2.8-192.0.2.9", 6, "192.0.2.0-192.0.2.3,192.0.2.8-192.0.2.9", 6, ""},
		{"2001:db8::/126", 4, "2001:db8::-2001:db8::3", 4, ""},

		// Order and repeats.
		{"192.0.2.5,192.0.2.1", 10, "", 0, ReasonDuplicate},
		{"192.0.2.1,192.0.2.1", 10, "", 0, ReasonDuplicate},
		{"192.0.2.1-192.0.2.5,192.0.2.5", 10, "", 0, ReasonDuplicate},
		{"192.0.2.1-192.0.2.5,192.0.2.3-192.0.2.9", 20, "", 0, ReasonDuplicate},
		{"2001:db8::1,192.0.2.1", 10, "", 0, ReasonDuplicate},

		// Syntax.
		{",", 10, "", 0, ReasonInvalidAddress},
		{"192.0.2.1,", 10, "", 0, ReasonInvalidAddress},
		{" ", 10, "", 0, ReasonInvalidAddress},
		{"192.0.2.9-192.0.2.1", 10, "", 0, ReasonInvalidRange},
		{"192.0.2.1/24", 256, "", 0, ReasonInvalidCIDR},

		// The limit.
		{"192.0.2.1", 0, "", 0, ReasonInvalidRange},
		{"192.0.2.1", -1, "", 0, ReasonInvalidRange},
		{"192.0.2.0/24", 255, "", 0, ReasonInvalidRange},
		{"192.0.2.1,192.0.2.3,192.0.2.5", 2, "", 0, ReasonInvalidRange},
		{"192.0.2.0-192.0.2.9,198.51.100.0/24", 265, "", 0, ReasonInvalidRange},
		{"2001:db8::/64", 1 << 20, "", 0, ReasonInvalidRange},
		{"2001:db8::/32", math.MaxInt, "", 0, ReasonInvalidRange},
		// A range whose size saturates after other addresses must not wrap
		// the count around and slip under the limit.
		{"192.0.2.1,2001:db8:1::/64", 10, "", 0, ReasonInvalidRange},
		{"2001:db8::1,2001:db8:1::/48", 1 << 20, "", 0, ReasonInvalidRange},
		{"192.0.2.1-192.0.2.2,2001:db8:1::/64", 10, "", 0, ReasonInvalidRange},
	}
	for _, tt := range tests {
		got, err := ParseAddrList("reserved", tt.in, tt.limit)
		if tt.reason == "" {
			if err != nil || FormatAddrs(got) != tt.want || len(got) != tt.n {
				t.Errorf("ParseAddrList(%q, %d) = %v, %v; want %d addresses %s", tt.in, tt.limit, got, err, tt.n, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseAddrList(%q, %d) = %d addresses, want a %s error", tt.in, tt.limit, len(got), tt.reason)
			continue
		}
		if ie := asInvalid(t, err); ie.Reason != tt.reason || ie.Field != "reserved" {
			t.Errorf("ParseAddrList(%q, %d) error = %+v, want %s", tt.in, tt.limit, ie, tt.reason)
		}
		if got != nil {
			t.Errorf("ParseAddrList(%q, %d) returned addresses with its error", tt.in, tt.limit)
		}
	}
}

func TestRangeSize(t *testing.T) {
	tests := []struct {
		r    string
		want uint64
	}{
		{"192.0.2.1", 1},
		{"192.0.2.0/24", 256},
		{"192.0.2.10-192.0.2.20", 11},
		{"10.0.0.0/8", 1 << 24},
		{"2001:db8::/120", 256},
		{"2001:db8::/65", 1 << 63},
		{"2001:db8::/64", math.MaxUint64}, // 2^64 saturates
		{"2001:db8::-2001:db8::ffff:ffff:ffff:fffe", math.MaxUint64},
		{"2001:db8::-2001:db8::ffff:ffff:ffff:fffd", math.MaxUint64 - 1},
		{"2001:db8::/32", math.MaxUint64},
	}
	for _, tt := range tests {
		r, err := ParseRange("r", tt.r)
		if err != nil {
			t.Fatal(err)
		}
		if got := RangeSize(r); got != tt.want {
			t.Errorf("RangeSize(%s) = %d, want %d", tt.r, got, tt.want)
		}
	}
}

func TestAddSat(t *testing.T) {
	tests := []struct{ a, b, want uint64 }{
		{0, 0, 0},
		{1, 2, 3},
		{math.MaxUint64 - 1, 1, math.MaxUint64},
		{math.MaxUint64 - 1, 2, math.MaxUint64},
		{math.MaxUint64, math.MaxUint64, math.MaxUint64},
		{2, math.MaxUint64, math.MaxUint64},
	}
	for _, tt := range tests {
		if got := addSat(tt.a, tt.b); got != tt.want {
			t.Errorf("addSat(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	e := &InvalidError{Reason: ReasonInvalidCIDR, Field: "cidr", Value: "192.0.2.1/24", Detail: "host bits are set"}
	if got, want := e.Error(), `cidr "192.0.2.1/24": host bits are set`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e = &InvalidError{Reason: ReasonAmbiguousSpace, Field: "cidr", Detail: "set one of cidr or ipAddresses"}
	if got, want := e.Error(), "cidr: set one of cidr or ipAddresses"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	x := &ExhaustedError{Space: "192.0.2.0/24", Usable: 253, Held: 250, Requested: 5}
	if got, want := x.Error(), "not enough free addresses in 192.0.2.0/24: 5 requested, 253 usable, 250 already held, 3 free"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	// Held beyond usable (addresses held before the space shrank) must not
	// underflow the free count.
	x = &ExhaustedError{Space: "192.0.2.0/30", Usable: 2, Held: 5, Requested: 1}
	if got := x.Error(); !strings.HasSuffix(got, ", 0 free") {
		t.Errorf("Error() = %q, want 0 free", got)
	}
}
