package addressing

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"go4.org/netipx"
)

// runsString lists the index's runs in order, as "a-b,c".
func runsString(x *Index) string {
	var parts []string
	x.t.Ascend(func(r netipx.IPRange) bool {
		if r.From() == r.To() {
			parts = append(parts, r.From().String())
		} else {
			parts = append(parts, r.From().String()+"-"+r.To().String())
		}
		return true
	})
	return strings.Join(parts, ",")
}

// checkRunsMaximal fails if two runs of x touch or overlap, or a run is
// reversed.
func checkRunsMaximal(t *testing.T, x *Index) {
	t.Helper()
	var prev netipx.IPRange
	x.t.Ascend(func(r netipx.IPRange) bool {
		if !r.IsValid() {
			t.Errorf("invalid run %v", r)
		}
		if prev.IsValid() {
			// After the top of IPv4, Next() is invalid and the run that
			// follows must be IPv6.
			next := prev.To().Next()
			if next.IsValid() && !next.Less(r.From()) || !next.IsValid() && prev.To().BitLen() == r.From().BitLen() {
				t.Errorf("runs %v and %v are adjacent or overlap", prev, r)
			}
		}
		prev = r
		return true
	})
}

// addrs parses a FormatAddrs list.
func addrs(t testing.TB, s string) []netip.Addr {
	t.Helper()
	out, err := ParseAddrList("test", s, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIndexAddRemoveRuns(t *testing.T) {
	x := NewIndex()
	steps := []struct {
		op   string // "+" add, "-" remove
		a    string
		ok   bool
		runs string
	}{
		{"+", "192.0.2.5", true, "192.0.2.5"},
		{"+", "192.0.2.5", false, "192.0.2.5"},
		{"+", "192.0.2.7", true, "192.0.2.5,192.0.2.7"},
		{"+", "192.0.2.6", true, "192.0.2.5-192.0.2.7"}, // joins both neighbours
		{"+", "192.0.2.6", false, "192.0.2.5-192.0.2.7"},
		{"+", "192.0.2.4", true, "192.0.2.4-192.0.2.7"}, // extends down
		{"+", "192.0.2.8", true, "192.0.2.4-192.0.2.8"}, // extends up
		{"+", "192.0.2.10", true, "192.0.2.4-192.0.2.8,192.0.2.10"},
		{"+", "192.0.2.2", true, "192.0.2.2,192.0.2.4-192.0.2.8,192.0.2.10"},
		{"+", "192.0.2.9", true, "192.0.2.2,192.0.2.4-192.0.2.10"},
		{"+", "192.0.2.3", true, "192.0.2.2-192.0.2.10"},
		{"-", "192.0.2.6", true, "192.0.2.2-192.0.2.5,192.0.2.7-192.0.2.10"}, // splits
		{"-", "192.0.2.6", false, "192.0.2.2-192.0.2.5,192.0.2.7-192.0.2.10"},
		{"-", "192.0.2.2", true, "192.0.2.3-192.0.2.5,192.0.2.7-192.0.2.10"}, // trims the bottom
		{"-", "192.0.2.10", true, "192.0.2.3-192.0.2.5,192.0.2.7-192.0.2.9"}, // trims the top
		{"-", "192.0.2.11", false, "192.0.2.3-192.0.2.5,192.0.2.7-192.0.2.9"},
		{"-", "192.0.2.1", false, "192.0.2.3-192.0.2.5,192.0.2.7-192.0.2.9"},
		{"-", "192.0.2.4", true, "192.0.2.3,192.0.2.5,192.0.2.7-192.0.2.9"},
		{"-", "192.0.2.3", true, "192.0.2.5,192.0.2.7-192.0.2.9"}, // removes a one-address run
		{"+", "192.0.2.6", true, "192.0.2.5-192.0.2.9"},
		{"+", "10.0.0.255", true, "10.0.0.255,192.0.2.5-192.0.2.9"},
		{"+", "10.0.1.0", true, "10.0.0.255-10.0.1.0,192.0.2.5-192.0.2.9"}, // across an octet
		{"-", "10.0.0.255", true, "10.0.1.0,192.0.2.5-192.0.2.9"},
		{"-", "10.0.1.0", true, "192.0.2.5-192.0.2.9"},
		{"-", "192.0.2.5", true, "192.0.2.6-192.0.2.9"},
		{"-", "192.0.2.9", true, "192.0.2.6-192.0.2.8"},
		{"-", "192.0.2.7", true, "192.0.2.6,192.0.2.8"},
		{"-", "192.0.2.6", true, "192.0.2.8"},
		{"-", "192.0.2.8", true, ""},
		{"-", "192.0.2.8", false, ""},
	}
	for i, st := range steps {
		a := mustAddr(t, st.a)
		var ok bool
		if st.op == "+" {
			ok = x.Add(a)
		} else {
			ok = x.Remove(a)
		}
		if ok != st.ok {
			t.Fatalf("step %d: %s%s = %v, want %v", i, st.op, st.a, ok, st.ok)
		}
		if got := runsString(x); got != st.runs {
			t.Fatalf("step %d: after %s%s runs = %q, want %q", i, st.op, st.a, got, st.runs)
		}
		if want := len(strings.Split(st.runs, ",")); st.runs != "" && x.Runs() != want || st.runs == "" && x.Runs() != 0 {
			t.Fatalf("step %d: Runs() = %d, want the %d of %q", i, x.Runs(), want, st.runs)
		}
		if x.Contains(a) != (st.op == "+") {
			t.Fatalf("step %d: Contains(%s) = %v after %s", i, st.a, x.Contains(a), st.op)
		}
		checkRunsMaximal(t, x)
	}
}

func TestIndexContains(t *testing.T) {
	x := NewIndex()
	for _, a := range addrs(t, "192.0.2.10-192.0.2.20,192.0.2.30") {
		x.Add(a)
	}
	for a, want := range map[string]bool{
		"192.0.2.9": false, "192.0.2.10": true, "192.0.2.15": true, "192.0.2.20": true,
		"192.0.2.21": false, "192.0.2.29": false, "192.0.2.30": true, "192.0.2.31": false,
		"10.0.0.1": false, "198.51.100.15": false, "2001:db8::15": false,
	} {
		if got := x.Contains(mustAddr(t, a)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", a, got, want)
		}
	}
	if NewIndex().Contains(mustAddr(t, "192.0.2.1")) {
		t.Error("an empty index contains an address")
	}
}

func TestIndexFree(t *testing.T) {
	v4 := SpaceSpec{CIDR: "192.0.2.0/29", Gateway: "192.0.2.1"} // usable .2-.6
	tests := []struct {
		name  string
		space SpaceSpec
		held  string
		n     int
		want  string
	}{
		{"empty index", v4, "", 10, "192.0.2.2-192.0.2.6"},
		{"n limits", v4, "", 2, "192.0.2.2-192.0.2.3"},
		{"n zero", v4, "", 0, ""},
		{"n negative", v4, "", -1, ""},
		{"lowest first", v4, "192.0.2.2", 1, "192.0.2.3"},
		{"skips held runs", v4, "192.0.2.2-192.0.2.3,192.0.2.5", 10, "192.0.2.4,192.0.2.6"},
		{"skips a run to the top", v4, "192.0.2.2-192.0.2.5", 10, "192.0.2.6"},
		{"full", v4, "192.0.2.2-192.0.2.6", 10, ""},
		{"never the network, gateway or broadcast", v4, "", 10, "192.0.2.2-192.0.2.6"},
		{"held excluded and outside addresses do not matter", v4, "192.0.2.0-192.0.2.1,192.0.2.7,198.51.100.2,2001:db8::2", 10, "192.0.2.2-192.0.2.6"},
		{"run starting at the gateway", v4, "192.0.2.1-192.0.2.3", 1, "192.0.2.4"},
		{"run starting at the network address", v4, "192.0.2.0-192.0.2.4", 10, "192.0.2.5-192.0.2.6"},
		{"gateway in the middle", SpaceSpec{CIDR: "192.0.2.0/29", Gateway: "192.0.2.3"}, "192.0.2.1-192.0.2.2", 2, "192.0.2.4-192.0.2.5"},
		{"slice of a larger network", SpaceSpec{CIDR: "192.0.2.64/26", Prefix: 24, Gateway: "192.0.2.1"}, "", 2, "192.0.2.64-192.0.2.65"},
		{"slice at the top of its network", SpaceSpec{CIDR: "192.0.2.252/30", Prefix: 24}, "192.0.2.252", 10, "192.0.2.253-192.0.2.254"},

		// Several ranges.
		{"across ranges", SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.12", "192.0.2.20", "198.51.100.0/30"}}, "192.0.2.10-192.0.2.12", 3, "192.0.2.20,198.51.100.0-198.51.100.1"},
		{"run spanning the gap between ranges", SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.12", "192.0.2.20-192.0.2.22"}}, "192.0.2.11-192.0.2.21", 10, "192.0.2.10,192.0.2.22"},
		{"run covering a whole range", SpaceSpec{IPAddresses: []string{"192.0.2.10", "192.0.2.20", "192.0.2.30"}}, "192.0.2.5-192.0.2.25", 10, "192.0.2.30"},
		{"each range full but one", SpaceSpec{IPAddresses: []string{"192.0.2.10", "192.0.2.20", "192.0.2.30", "192.0.2.40"}}, "192.0.2.10,192.0.2.20,192.0.2.40", 10, "192.0.2.30"},
		{"excluded addresses split a list", SpaceSpec{IPAddresses: []string{"192.0.2.0-192.0.2.3", "192.0.2.254-192.0.2.255"}, Prefix: 24, Gateway: "192.0.2.2"}, "", 10, "192.0.2.1,192.0.2.3,192.0.2.254"},

		// IPv6.
		{"ipv6", SpaceSpec{CIDR: "2001:db8::/120", Gateway: "2001:db8::1"}, "2001:db8::2-2001:db8::4", 2, "2001:db8::5-2001:db8::6"},
		{"ipv6 last address", SpaceSpec{CIDR: "2001:db8::/120", Gateway: "2001:db8::1"}, "2001:db8::2-2001:db8::fe", 10, "2001:db8::ff"},
		{"ipv6 ignores held ipv4", SpaceSpec{CIDR: "2001:db8::/126"}, "192.0.2.0-192.0.2.255,255.255.255.255", 10, "2001:db8::1-2001:db8::3"},

		// The top of the address space, where Next() is invalid.
		{"ipv4 top free", SpaceSpec{IPAddresses: []string{"255.255.255.254-255.255.255.255"}}, "255.255.255.254", 10, "255.255.255.255"},
		{"ipv4 top held", SpaceSpec{IPAddresses: []string{"255.255.255.254-255.255.255.255"}}, "255.255.255.255", 10, "255.255.255.254"},
		{"ipv4 top all held", SpaceSpec{IPAddresses: []string{"255.255.255.254-255.255.255.255"}}, "255.255.255.254-255.255.255.255", 10, ""},
		{"ipv4 top /31", SpaceSpec{CIDR: "255.255.255.254/31"}, "255.255.255.254", 10, "255.255.255.255"},
		{"ipv4 top /32", SpaceSpec{CIDR: "255.255.255.255/32"}, "", 10, "255.255.255.255"},
		{"ipv4 top /32 held", SpaceSpec{CIDR: "255.255.255.255/32"}, "255.255.255.255", 10, ""},
		{"ipv4 top held, then ipv6 free", SpaceSpec{IPAddresses: []string{"255.255.255.255"}}, "255.255.255.255,2001:db8::", 10, ""},
		{"ipv6 top free", SpaceSpec{IPAddresses: []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"}}, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 10, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"ipv6 top held", SpaceSpec{IPAddresses: []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"}}, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 10, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"},
		{"ipv6 top all held", SpaceSpec{IPAddresses: []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"}}, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 10, ""},
		{"ipv6 top /120 held but the last", SpaceSpec{CIDR: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120"}, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff01-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 10, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSpace(t, tt.space)
			x := NewIndex()
			for _, a := range addrs(t, tt.held) {
				if !x.Add(a) {
					t.Fatalf("Add(%v) = false on first add", a)
				}
			}
			got := x.Free(s, tt.n)
			if FormatAddrs(got) != tt.want {
				t.Errorf("Free(%v, %d) = %s, want %s", s, tt.n, FormatAddrs(got), tt.want)
			}
			for _, a := range got {
				if x.Contains(a) || !s.Contains(a) {
					t.Errorf("Free returned %v: held %v, usable %v", a, x.Contains(a), s.Contains(a))
				}
			}
		})
	}
}

func TestIndexHeldIn(t *testing.T) {
	v4 := SpaceSpec{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1"}
	list := SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.20", "192.0.2.30-192.0.2.40"}}
	tests := []struct {
		name  string
		space SpaceSpec
		held  string
		want  uint64
	}{
		{"nothing held", v4, "", 0},
		{"held outside only", v4, "192.0.2.0-192.0.2.1,192.0.2.255,198.51.100.5,2001:db8::5", 0},
		{"one run", v4, "192.0.2.5-192.0.2.10", 6},
		{"runs and excluded", v4, "192.0.2.0-192.0.2.10,192.0.2.100,192.0.2.250-192.0.2.255,198.51.100.1", 9 + 1 + 5},
		{"all", v4, "192.0.2.0-192.0.2.255", 253},
		{"run starting before the range", list, "192.0.2.5-192.0.2.12", 3},
		{"run ending before the range", list, "192.0.2.5-192.0.2.9", 0},
		{"run starting at the end of a range", list, "192.0.2.20-192.0.2.25", 1},
		{"run ending at the start of a range", list, "192.0.2.25-192.0.2.30", 1},
		{"run spanning two ranges", list, "192.0.2.15-192.0.2.35", 6 + 6},
		{"run covering everything", list, "192.0.2.0-192.0.2.255", 22},
		{"runs inside ranges", list, "192.0.2.11,192.0.2.13-192.0.2.14,192.0.2.20,192.0.2.30,192.0.2.41", 5},
		{"single-address ranges", SpaceSpec{IPAddresses: []string{"192.0.2.10", "192.0.2.12"}}, "192.0.2.9-192.0.2.10,192.0.2.12", 2},
		{"ipv6 with ipv4 held", SpaceSpec{CIDR: "2001:db8::/120"}, "192.0.2.0-192.0.2.255,2001:db8::-2001:db8::3,2001:db8::ff", 4},
		{"ipv4 top", SpaceSpec{IPAddresses: []string{"255.255.255.254-255.255.255.255"}}, "255.255.255.253-255.255.255.255,2001:db8::", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSpace(t, tt.space)
			x := NewIndex()
			for _, a := range addrs(t, tt.held) {
				x.Add(a)
			}
			if got := x.HeldIn(s); got != tt.want {
				t.Errorf("HeldIn(%v) = %d, want %d (runs %s)", s, got, tt.want, runsString(x))
			}
		})
	}
}

func TestIndexHeldInLargeSpace(t *testing.T) {
	s := mustSpace(t, SpaceSpec{CIDR: "2001:db8::/64"})
	x := NewIndex()
	for _, a := range addrs(t, "2001:db8::-2001:db8::3ff,2001:db8::ffff:ffff:ffff:ff00-2001:db8::ffff:ffff:ffff:ffff,2001:db8:0:1::") {
		x.Add(a)
	}
	// The subnet-router anycast 2001:db8:: is held but not usable.
	if got, want := x.HeldIn(s), uint64(1024-1+256); got != want {
		t.Errorf("HeldIn = %d, want %d", got, want)
	}
	if got := x.Free(s, 1); len(got) != 1 || got[0] != mustAddr(t, "2001:db8::400") {
		t.Errorf("Free = %v, want 2001:db8::400", got)
	}
}

func TestIndexMixedFamilies(t *testing.T) {
	x := NewIndex()
	for _, a := range []string{"192.0.2.255", "2001:db8::", "2001:db8::1", "192.0.2.254", "255.255.255.255", "10.0.0.1"} {
		if !x.Add(mustAddr(t, a)) {
			t.Fatalf("Add(%s) = false", a)
		}
	}
	want := "10.0.0.1,192.0.2.254-192.0.2.255,255.255.255.255,2001:db8::-2001:db8::1"
	if got := runsString(x); got != want {
		t.Fatalf("runs = %s, want %s", got, want)
	}
	checkRunsMaximal(t, x)
	v4 := mustSpace(t, SpaceSpec{CIDR: "192.0.2.252/30"})
	v6 := mustSpace(t, SpaceSpec{CIDR: "2001:db8::/126"})
	if got := FormatAddrs(x.Free(v4, 10)); got != "192.0.2.253" {
		t.Errorf("Free(v4) = %s", got)
	}
	if got := FormatAddrs(x.Free(v6, 10)); got != "2001:db8::2-2001:db8::3" {
		t.Errorf("Free(v6) = %s", got)
	}
	if got := x.HeldIn(v4); got != 1 {
		t.Errorf("HeldIn(v4) = %d, want 1", got)
	}
	if got := x.HeldIn(v6); got != 1 {
		t.Errorf("HeldIn(v6) = %d, want 1 (2001:db8:: is excluded)", got)
	}
	// An IPv4 address never merges with an IPv6 one, even at the boundary.
	if !x.Remove(mustAddr(t, "255.255.255.255")) || x.Contains(mustAddr(t, "255.255.255.255")) {
		t.Error("Remove(255.255.255.255) failed")
	}
	if x.Remove(mustAddr(t, "2001:db8::2")) || x.Remove(mustAddr(t, "192.0.2.253")) {
		t.Error("Remove of a free address reported true")
	}
	if got, want := runsString(x), "10.0.0.1,192.0.2.254-192.0.2.255,2001:db8::-2001:db8::1"; got != want {
		t.Errorf("runs = %s, want %s", got, want)
	}
}

func TestIndexTopOfSpace(t *testing.T) {
	for _, top := range []string{"255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} {
		t.Run(top, func(t *testing.T) {
			max := mustAddr(t, top)
			below := max.Prev()
			x := NewIndex()
			if !x.Add(max) || !x.Add(below) || x.Add(max) {
				t.Fatal("Add at the top misreported")
			}
			if x.Runs() != 1 || !x.Contains(max) || !x.Contains(below) {
				t.Fatalf("runs = %s, want one run to the top", runsString(x))
			}
			if !x.Remove(max) || x.Contains(max) || !x.Contains(below) || x.Runs() != 1 {
				t.Fatalf("after Remove(top): runs = %s", runsString(x))
			}
			if !x.Add(max) || !x.Remove(below) || x.Runs() != 1 || !x.Contains(max) {
				t.Fatalf("after Remove(below top): runs = %s", runsString(x))
			}
		})
	}
}

// model is the reference an Index is checked against.
type model map[netip.Addr]bool

func (m model) runs() int {
	held := make([]netip.Addr, 0, len(m))
	for a, ok := range m {
		if ok {
			held = append(held, a)
		}
	}
	slices.SortFunc(held, netip.Addr.Compare)
	n := 0
	for i, a := range held {
		if i == 0 || held[i-1].Next() != a {
			n++
		}
	}
	return n
}

// TestIndexModel drives an Index with random adds and removes and compares
// it after every step with a map.
func TestIndexModel(t *testing.T) {
	spaces := []SpaceSpec{
		{CIDR: "192.0.2.0/27", Gateway: "192.0.2.1"},
		{CIDR: "192.0.2.16/28", Prefix: 27, Gateway: "192.0.2.20"},
		{IPAddresses: []string{"192.0.2.2-192.0.2.6", "192.0.2.9", "192.0.2.12-192.0.2.20", "192.0.2.30"}},
		{IPAddresses: []string{"192.0.2.0-192.0.2.7", "192.0.2.24-192.0.2.31"}, Prefix: 27, Gateway: "192.0.2.5"},
		{CIDR: "2001:db8::/123", Gateway: "2001:db8::1f"},
		{IPAddresses: []string{"255.255.255.230-255.255.255.255"}},
	}
	for si, spec := range spaces {
		s := mustSpace(t, spec)
		usable, err := s.Addrs(64)
		if err != nil {
			t.Fatal(err)
		}
		// The universe reaches past the space on both sides, so that held
		// addresses outside it and runs across its edges are exercised.
		var universe []netip.Addr
		first := usable[0]
		for range 6 {
			if p := first.Prev(); p.IsValid() {
				first = p
			}
		}
		for a := first; a.IsValid() && len(universe) < 48; a = a.Next() {
			universe = append(universe, a)
		}
		for seed := range uint64(8) {
			t.Run(fmt.Sprintf("space%d/seed%d", si, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, uint64(si)))
				x, m := NewIndex(), model{}
				// Bias towards adds on some seeds so that the space fills up.
				pAdd := 0.5 + float64(seed%3)*0.2
				for step := range 400 {
					a := universe[rng.IntN(len(universe))]
					var got, want bool
					var op string
					if rng.Float64() < pAdd {
						op, got, want = "Add", x.Add(a), !m[a]
						m[a] = true
					} else {
						op, got, want = "Remove", x.Remove(a), m[a]
						delete(m, a)
					}
					if got != want {
						t.Fatalf("step %d: %s(%v) = %v, want %v", step, op, a, got, want)
					}
					for _, b := range universe {
						if x.Contains(b) != m[b] {
							t.Fatalf("step %d (%s %v): Contains(%v) = %v, want %v; runs %s", step, op, a, b, x.Contains(b), m[b], runsString(x))
						}
					}
					var free []netip.Addr
					var held uint64
					for _, b := range usable {
						if m[b] {
							held++
						} else {
							free = append(free, b)
						}
					}
					if got := x.Free(s, len(usable)+1); !slices.Equal(got, free) {
						t.Fatalf("step %d (%s %v): Free(all) = %s, want %s; runs %s", step, op, a, FormatAddrs(got), FormatAddrs(free), runsString(x))
					}
					k := rng.IntN(len(usable) + 1)
					if got := x.Free(s, k); !slices.Equal(got, free[:min(k, len(free))]) {
						t.Fatalf("step %d (%s %v): Free(%d) = %s, want the lowest of %s", step, op, a, k, FormatAddrs(got), FormatAddrs(free))
					}
					if got := x.HeldIn(s); got != held {
						t.Fatalf("step %d (%s %v): HeldIn = %d, want %d; runs %s", step, op, a, got, held, runsString(x))
					}
					if got, want := x.Runs(), m.runs(); got != want {
						t.Fatalf("step %d (%s %v): Runs() = %d, want %d (runs not maximal?): %s", step, op, a, got, want, runsString(x))
					}
				}
			})
		}
	}
}

func TestIndexFirst(t *testing.T) {
	cases := []struct {
		name  string
		space SpaceSpec
		held  string
		skip  string
		want  string // "" for none
	}{
		{"empty index", SpaceSpec{CIDR: "192.0.2.0/29"}, "", "", ""},
		{"lowest held in space", SpaceSpec{CIDR: "192.0.2.0/29"}, "192.0.2.3-192.0.2.5", "", "192.0.2.3"},
		{"run starting before the space", SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.12"}}, "192.0.2.5-192.0.2.11", "", "192.0.2.10"},
		{"run entirely before the space", SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.12"}}, "192.0.2.5-192.0.2.8", "", ""},
		{"run after the space", SpaceSpec{IPAddresses: []string{"192.0.2.10-192.0.2.12"}}, "192.0.2.13-192.0.2.20", "", ""},
		{"skipped ones passed over", SpaceSpec{CIDR: "192.0.2.0/29"}, "192.0.2.2-192.0.2.4", "192.0.2.2-192.0.2.3", "192.0.2.4"},
		{"all skipped", SpaceSpec{CIDR: "192.0.2.0/29"}, "192.0.2.2-192.0.2.3", "192.0.2.2-192.0.2.3", ""},
		{"gateway never returned", SpaceSpec{CIDR: "192.0.2.0/29", Gateway: "192.0.2.2"}, "192.0.2.2-192.0.2.3", "", "192.0.2.3"},
		{"second range of the space", SpaceSpec{IPAddresses: []string{"192.0.2.10", "198.51.100.0/30"}}, "198.51.100.1", "", "198.51.100.1"},
		{"IPv6 in a /64", SpaceSpec{CIDR: "2001:db8::/64"}, "2001:db8::ffff", "", "2001:db8::ffff"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSpace(tc.space)
			if err != nil {
				t.Fatal(err)
			}
			x := NewIndex()
			if tc.held != "" {
				for _, a := range addrs(t, tc.held) {
					x.Add(a)
				}
			}
			var skip []netip.Addr
			if tc.skip != "" {
				skip = addrs(t, tc.skip)
			}
			got, ok := x.First(s, func(a netip.Addr) bool { return slices.Contains(skip, a) })
			switch {
			case tc.want == "" && ok:
				t.Errorf("First = %s, want none", got)
			case tc.want != "" && (!ok || got.String() != tc.want):
				t.Errorf("First = %s, %v; want %s", got, ok, tc.want)
			}
		})
	}
}
