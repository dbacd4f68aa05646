package infoblox

import (
	"context"
	"fmt"
	"testing"

	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

// BenchmarkInfobloxReserve measures WAPI round trips per reservation and
// reservations per second against the emulator over HTTPS on loopback:
//
//   - Create: what a new Reservation costs (the controller does not search
//     before its first create attempt): one POST. The network's gateway,
//     excluded from the choice, is read once and cached.
//   - FindThenCreate: with the idempotency check (the search by UID a
//     Reservation makes when an earlier attempt may have created its
//     object): one search and one POST.
//
// Run with e.g. -benchtime 2000x: the network holds 65,534 addresses.
func BenchmarkInfobloxReserve(b *testing.B) {
	for _, find := range []bool{false, true} {
		name := "Create"
		if find {
			name = "FindThenCreate"
		}
		b.Run(name, func(b *testing.B) {
			srv := wapisim.NewTestServer(b, wapisim.Config{Username: testUser, Password: testPassword})
			if _, err := srv.AddNetwork("default", "10.0.0.0/16", wapisim.NetworkOptions{Gateway: "10.0.0.1"}); err != nil {
				b.Fatal(err)
			}
			c := newTestClient(b, srv)
			ctx := context.Background()
			if _, err := c.Gateway(ctx, "10.0.0.0/16"); err != nil { // Warm the cache and the connection.
				b.Fatal(err)
			}
			srv.ResetRequestCounts()
			b.ResetTimer()
			for i := range b.N {
				uid := fmt.Sprintf("bench-%d", i)
				if find {
					if found, err := c.Find(ctx, KindFixedAddress, false, uid); err != nil || len(found) != 0 {
						b.Fatalf("Find: %v, %v", found, err)
					}
				}
				if _, err := c.Reserve(ctx, Request{Network: "10.0.0.0/16", EAs: EAs(uid, "bench", uid, "", "")}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(srv.RequestCount("", ""))/float64(b.N), "roundtrips/op")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reservations/s")
		})
	}
}
