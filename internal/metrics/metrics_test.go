package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A pool's or a Reservation's series go with it, so the registry holds
// only what exists.
func TestForgetRemovesSeries(t *testing.T) {
	SetPool("team-a", "p1", 10, 3, 7)
	SetPool("team-a", "p2", 5, 0, 5)
	ForgetPool("team-a", "p1")
	if n := testutil.CollectAndCount(poolAddresses); n != 3 {
		t.Errorf("%d pool series after forgetting p1, want p2's 3", n)
	}
	want := `
# HELP provider_ipam_pool_addresses Addresses of an IPPool by state: total (usable by machines), used (handed out as IPAddresses), free.
# TYPE provider_ipam_pool_addresses gauge
provider_ipam_pool_addresses{namespace="team-a",pool="p2",state="free"} 5
provider_ipam_pool_addresses{namespace="team-a",pool="p2",state="total"} 5
provider_ipam_pool_addresses{namespace="team-a",pool="p2",state="used"} 0
`
	if err := testutil.CollectAndCompare(poolAddresses, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	ForgetPool("team-a", "p2")

	SetReservation("in-cluster", "team-a", "r", 4)
	if got := testutil.ToFloat64(reservationAddresses.WithLabelValues("in-cluster", "team-a", "r")); got != 4 {
		t.Errorf("held = %v", got)
	}
	ForgetReservation("in-cluster", "team-a", "r")
	if n := testutil.CollectAndCount(reservationAddresses); n != 0 {
		t.Errorf("%d Reservation series after forgetting", n)
	}
}

func TestWAPIRequest(t *testing.T) {
	WAPIRequest("POST", 201, "", time.Millisecond)
	WAPIRequest("POST", 0, "Unavailable", time.Second)
	WAPIRequest("GET", 401, "AuthenticationFailed", time.Millisecond)
	for labels, want := range map[[2]string]float64{{"POST", "201"}: 1, {"POST", "error"}: 1, {"GET", "401"}: 1} {
		if got := testutil.ToFloat64(wapiRequests.WithLabelValues(labels[0], labels[1])); got != want {
			t.Errorf("requests%v = %v, want %v", labels, got, want)
		}
	}
	if got := testutil.ToFloat64(wapiErrors.WithLabelValues("Unavailable")); got != 1 {
		t.Errorf("Unavailable errors = %v", got)
	}
	if n := testutil.CollectAndCount(wapiErrors); n != 2 {
		t.Errorf("%d error classes, want 2 (a success is no error)", n)
	}
}
