package addressing

import (
	"net/netip"

	"github.com/google/btree"
	"go4.org/netipx"
)

// Index is a set of held addresses kept as maximal runs of consecutive
// addresses in a B-tree. Finding the lowest free address costs O(log runs)
// for each range of the space it looks at: a CIDR space (at most three
// ranges once network, broadcast and gateway are cut out) allocates as fast
// full as empty. A space listed as many separate addresses costs up to one
// lookup per listed range it has to skip. It is not safe for concurrent use.
type Index struct {
	t *btree.BTreeG[netipx.IPRange]
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{t: btree.NewG(32, func(a, b netipx.IPRange) bool { return a.From().Less(b.From()) })}
}

// floor is the run starting at or before a.
func (x *Index) floor(a netip.Addr) (netipx.IPRange, bool) {
	var out netipx.IPRange
	var ok bool
	x.t.DescendLessOrEqual(netipx.IPRangeFrom(a, a), func(r netipx.IPRange) bool {
		out, ok = r, true
		return false
	})
	return out, ok
}

// Contains reports whether a is held.
func (x *Index) Contains(a netip.Addr) bool {
	r, ok := x.floor(a)
	return ok && r.Contains(a)
}

// Add marks a held, reporting false if it already was.
func (x *Index) Add(a netip.Addr) bool {
	from, to := a, a
	if left, ok := x.floor(a); ok {
		if left.Contains(a) {
			return false
		}
		if left.To().Next() == a {
			x.t.Delete(left)
			from = left.From()
		}
	}
	if next := a.Next(); next.IsValid() {
		if right, ok := x.t.Get(netipx.IPRangeFrom(next, next)); ok {
			x.t.Delete(right)
			to = right.To()
		}
	}
	x.t.ReplaceOrInsert(netipx.IPRangeFrom(from, to))
	return true
}

// Remove marks a free, reporting false if it was not held.
func (x *Index) Remove(a netip.Addr) bool {
	r, ok := x.floor(a)
	if !ok || !r.Contains(a) {
		return false
	}
	x.t.Delete(r)
	if r.From() != a {
		x.t.ReplaceOrInsert(netipx.IPRangeFrom(r.From(), a.Prev()))
	}
	if r.To() != a {
		x.t.ReplaceOrInsert(netipx.IPRangeFrom(a.Next(), r.To()))
	}
	return true
}

// Runs is the number of runs of consecutive held addresses.
func (x *Index) Runs() int { return x.t.Len() }

// Free returns up to n of the lowest addresses of s that are not held.
func (x *Index) Free(s Space, n int) []netip.Addr {
	var out []netip.Addr
	for _, r := range s.Ranges() {
		a := r.From()
		for len(out) < n && a.IsValid() && !r.To().Less(a) {
			if held, ok := x.floor(a); ok && held.Contains(a) {
				a = held.To().Next()
				continue
			}
			out = append(out, a)
			a = a.Next()
		}
		if len(out) == n {
			break
		}
	}
	return out
}

// HeldIn counts the held addresses of s. It walks the runs that overlap s,
// so it is for reporting, not for the allocation path.
func (x *Index) HeldIn(s Space) uint64 {
	var n uint64
	for _, r := range s.Ranges() {
		start := r.From()
		if left, ok := x.floor(start); ok && left.Contains(start) {
			start = left.From()
		}
		x.t.AscendRange(netipx.IPRangeFrom(start, start), netipx.IPRangeFrom(r.To(), r.To()), func(h netipx.IPRange) bool {
			n = addSat(n, RangeSize(intersect(h, r)))
			return true
		})
		if last, ok := x.t.Get(netipx.IPRangeFrom(r.To(), r.To())); ok {
			n = addSat(n, RangeSize(intersect(last, r)))
		}
	}
	return n
}

// intersect is the overlap of two ranges known to overlap.
func intersect(a, b netipx.IPRange) netipx.IPRange {
	from, to := a.From(), a.To()
	if from.Less(b.From()) {
		from = b.From()
	}
	if b.To().Less(to) {
		to = b.To()
	}
	return netipx.IPRangeFrom(from, to)
}

// First returns the lowest held address of s for which skip (if not nil)
// is false. It costs O(log runs) for each range of s plus one step for each
// address skip refuses, whatever the size of s or of the index.
func (x *Index) First(s Space, skip func(netip.Addr) bool) (netip.Addr, bool) {
	for _, r := range s.Ranges() {
		start := r.From()
		if left, ok := x.floor(start); ok && left.Contains(start) {
			start = left.From()
		}
		var found netip.Addr
		x.t.AscendGreaterOrEqual(netipx.IPRangeFrom(start, start), func(h netipx.IPRange) bool {
			if r.To().Less(h.From()) {
				return false
			}
			o := intersect(h, r)
			for a := o.From(); a.IsValid(); a = a.Next() {
				if skip == nil || !skip(a) {
					found = a
					return false
				}
				if a == o.To() {
					break
				}
			}
			return true
		})
		if found.IsValid() {
			return found, true
		}
	}
	return netip.Addr{}, false
}
