package addressing

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// benchSpace is a space of exactly size addresses in 10.0.0.0/8: a listed
// CIDR without a prefix, so no network or broadcast address is excluded.
func benchSpace(b *testing.B, size int) (Space, []netip.Addr) {
	b.Helper()
	bits := 32
	for 1<<(32-bits) < size {
		bits--
	}
	s, err := ParseSpace(SpaceSpec{IPAddresses: []string{fmt.Sprintf("10.0.0.0/%d", bits)}})
	if err != nil {
		b.Fatal(err)
	}
	all, err := s.Addrs(size)
	if err != nil || len(all) != size {
		b.Fatalf("space of %d: %d addresses, %v", size, len(all), err)
	}
	return s, all
}

// heldAddrs picks k of all: the lowest k ("sequential", one run) or k at
// random with a fixed seed ("random", fragmented into many runs).
func heldAddrs(all []netip.Addr, k int, layout string) []netip.Addr {
	if layout == "sequential" {
		return all[:k]
	}
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]netip.Addr, 0, k)
	for _, i := range rng.Perm(len(all))[:k] {
		out = append(out, all[i])
	}
	return out
}

// BenchmarkIndexFree measures one allocation: find the lowest free address,
// hold it, release it, so the fill level stays constant.
func BenchmarkIndexFree(b *testing.B) {
	for _, size := range []int{256, 4096, 65536} {
		for _, pct := range []int{0, 50, 95} {
			for _, layout := range []string{"random", "sequential"} {
				b.Run(fmt.Sprintf("size=%d/held=%d%%/%s", size, pct, layout), func(b *testing.B) {
					s, all := benchSpace(b, size)
					k := size * pct / 100
					x := NewIndex()
					for _, a := range heldAddrs(all, k, layout) {
						x.Add(a)
					}
					if got := x.HeldIn(s); got != uint64(k) {
						b.Fatalf("HeldIn = %d, want %d", got, k)
					}
					runs := x.Runs()
					b.ReportAllocs()
					n := 0
					for b.Loop() {
						free := x.Free(s, 1)
						if len(free) != 1 {
							b.Fatalf("Free = %v", free)
						}
						if !x.Add(free[0]) || !x.Remove(free[0]) {
							b.Fatalf("Add/Remove(%v) failed", free[0])
						}
						n++
					}
					if x.Runs() != runs {
						b.Fatalf("Runs() = %d after the loop, %d before", x.Runs(), runs)
					}
					b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "allocs/s")
					b.ReportMetric(float64(runs), "runs")
				})
			}
		}
	}
}

// BenchmarkIndexFreeList is the case the run index does not help: a space
// listed as single addresses with unusable gaps between them, whose lowest
// 95% are held. Every held address is its own run and its own usable range,
// so Free walks them one by one.
func BenchmarkIndexFreeList(b *testing.B) {
	for _, size := range []int{256, 4096} {
		b.Run(fmt.Sprintf("size=%d/held=95%%/sequential", size), func(b *testing.B) {
			entries := make([]string, size)
			var held []netip.Addr
			a := netip.MustParseAddr("10.0.0.0")
			for i := range entries {
				entries[i] = a.String()
				if i < size*95/100 {
					held = append(held, a)
				}
				a = a.Next().Next()
			}
			s, err := ParseSpace(SpaceSpec{IPAddresses: entries})
			if err != nil {
				b.Fatal(err)
			}
			x := NewIndex()
			for _, a := range held {
				x.Add(a)
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				free := x.Free(s, 1)
				if len(free) != 1 || !x.Add(free[0]) || !x.Remove(free[0]) {
					b.Fatalf("Free = %v", free)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "allocs/s")
			b.ReportMetric(float64(x.Runs()), "runs")
		})
	}
}
