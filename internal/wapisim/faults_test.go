package wapisim_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	ibclient "github.com/infobloxopen/infoblox-go-client/v2"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

// Note that the client retries every failed request once (with
// _proxy_search=GM on reads), so a fault must fire twice to surface as an
// error from the client.

func TestFaults(t *testing.T) {
	postFA := func(k wapisim.FaultKind, count int) wapisim.Fault {
		return wapisim.Fault{Kind: k, Method: "POST", Object: "fixedaddress", Count: count}
	}
	tests := []struct {
		name   string
		fault  wapisim.Fault
		act    func(*env) (*ibclient.FixedAddress, error)
		want   []string // the error, or nil for success
		posts  int      // POST fixedaddress requests the server received
		stored []string // fixed addresses on the server afterwards
	}{
		{
			name:  "5xx on every attempt surfaces as an error and changes nothing",
			fault: wapisim.Fault{Kind: wapisim.FaultStatus, Method: "POST", Object: "fixedaddress", Count: 2, Status: 503},
			act:   allocate192,
			want:  []string{"503"},
			posts: 2,
		},
		{
			name:   "a single 5xx is hidden by the client's retry",
			fault:  wapisim.Fault{Kind: wapisim.FaultStatus, Method: "POST", Object: "fixedaddress", Count: 1, Status: 500},
			act:    allocate192,
			posts:  2,
			stored: []string{"192.0.2.1"},
		},
		{
			name:  "dropped connections surface as an error and change nothing",
			fault: postFA(wapisim.FaultDrop, 2),
			act:   allocate192,
			want:  []string{"EOF"},
			posts: 2,
		},
		{
			name:   "lost response: the reservation exists although the client got an error",
			fault:  postFA(wapisim.FaultLoseResponse, 1),
			act:    func(e *env) (*ibclient.FixedAddress, error) { return e.reserve("192.0.2.50", "", nil) },
			want:   []string{"IB.Data.Conflict", "192.0.2.50"}, // the client's retry conflicts with the lost create
			posts:  2,
			stored: []string{"192.0.2.50"},
		},
		{
			name:   "lost response on next-available: the client's retry reserves a second address",
			fault:  postFA(wapisim.FaultLoseResponse, 1),
			act:    allocate192,
			posts:  2,
			stored: []string{"192.0.2.1", "192.0.2.2"},
		},
		{
			name:   "lost responses on every attempt",
			fault:  postFA(wapisim.FaultLoseResponse, 2),
			act:    allocate192,
			want:   []string{"EOF"},
			posts:  2,
			stored: []string{"192.0.2.1", "192.0.2.2"},
		},
		{
			name:  "forced authentication failure",
			fault: wapisim.Fault{Kind: wapisim.FaultAuth, Count: 2},
			act:   allocate192,
			want:  []string{"401", "Authorization Required"},
			posts: 2,
		},
		{
			name:   "faults only hit the selected method and object",
			fault:  wapisim.Fault{Kind: wapisim.FaultDrop, Method: "DELETE", Object: "fixedaddress"},
			act:    allocate192,
			posts:  1,
			stored: []string{"192.0.2.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			id := e.srv.AddFault(tt.fault)
			_, err := tt.act(e)
			if tt.want != nil {
				wantErr(t, err, tt.want...)
			} else if err != nil {
				t.Fatal(err)
			}
			e.srv.WaitIdle()
			if n := e.srv.RequestCount("POST", "fixedaddress"); n != tt.posts {
				t.Errorf("server received %d POST fixedaddress, want %d", n, tt.posts)
			}
			if got := addrs(e.srv.FixedAddresses()); !slices.Equal(got, tt.stored) {
				t.Errorf("server holds %v, want %v", got, tt.stored)
			}
			if tt.fault.Count > 0 && e.srv.FaultHits(id) != tt.fault.Count {
				t.Errorf("fault fired %d times, want %d", e.srv.FaultHits(id), tt.fault.Count)
			}
		})
	}
}

func allocate192(e *env) (*ibclient.FixedAddress, error) {
	return e.om.AllocateIP("default", "192.0.2.0/24", "", false, "", "", "", nil, "", "", "", nil, "", false, nil, false)
}

func TestLatencyFault(t *testing.T) {
	e := newEnv(t)
	const delay = 200 * time.Millisecond
	e.srv.AddFault(wapisim.Fault{Kind: wapisim.FaultLatency, Method: "GET", Object: "network", Delay: delay})
	start := time.Now()
	if _, err := e.om.GetNetwork("default", "192.0.2.0/24", false, nil); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < delay {
		t.Errorf("GetNetwork took %v, want at least %v", took, delay)
	}
}

// A request slower than the client's timeout fails on the client but is
// still carried out by the server.
func TestLatencyBeyondClientTimeout(t *testing.T) {
	e := newEnv(t)
	e.srv.AddFault(wapisim.Fault{Kind: wapisim.FaultLatency, Method: "POST", Object: "fixedaddress", Delay: 1500 * time.Millisecond})
	cfg := e.srv.ClientConfig()
	tr := ibclient.NewTransportConfig(e.srv.CAFile(), 1, 10) // 1 second timeout
	conn, err := ibclient.NewConnector(cfg.Host, cfg.Auth, tr, &ibclient.WapiRequestBuilder{}, &ibclient.WapiHttpRequestor{})
	if err != nil {
		t.Fatal(err)
	}
	om := ibclient.NewObjectManager(conn, "test", "")
	_, err = om.AllocateIP("default", "192.0.2.0/24", "", false, "", "", "", nil, "", "", "", nil, "", false, nil, false)
	wantErr(t, err, "Client.Timeout exceeded")
	e.srv.WaitIdle()
	if got := addrs(e.srv.FixedAddresses()); !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2"}) {
		t.Errorf("server holds %v, want both timed-out attempts committed", got)
	}
}

func TestProbabilisticFault(t *testing.T) {
	e := newEnvWith(t, wapisim.Config{Username: user, Password: password, FaultSeed: 42})
	id := e.srv.AddFault(wapisim.Fault{Kind: wapisim.FaultStatus, Method: "GET", Object: "networkview", Probability: 0.5})
	const n = 40
	failed := 0
	for range n {
		if status, _ := e.wapi(t, "GET", "networkview", nil); status == 503 {
			failed++
		}
	}
	if failed == 0 || failed == n || failed != e.srv.FaultHits(id) {
		t.Errorf("%d of %d requests failed, fault hits %d", failed, n, e.srv.FaultHits(id))
	}
}

func TestFaultRemoval(t *testing.T) {
	e := newEnv(t)
	id := e.srv.AddFault(wapisim.Fault{Kind: wapisim.FaultDrop, Method: "POST"})
	e.srv.AddFault(wapisim.Fault{Kind: wapisim.FaultStatus, Method: "DELETE"})
	if _, err := allocate192(e); err == nil {
		t.Fatal("allocation succeeded through a drop fault")
	}
	e.srv.RemoveFault(id)
	fa, err := allocate192(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.om.DeleteFixedAddress(fa.Ref); err == nil {
		t.Fatal("delete succeeded through a status fault")
	}
	e.srv.ClearFaults()
	if _, err := e.om.DeleteFixedAddress(fa.Ref); err != nil {
		t.Fatal(err)
	}
}

func TestRequestCounts(t *testing.T) {
	e := newEnv(t)
	e.srv.ResetRequestCounts()
	allocate192(e)
	want := map[wapisim.RequestKey]int{{Method: "POST", Object: "fixedaddress"}: 1, {Method: "GET", Object: "fixedaddress"}: 1}
	if got := e.srv.RequestCounts(); !maps.Equal(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
	if n := e.srv.RequestCount("", "fixedaddress"); n != 2 {
		t.Errorf("RequestCount(any, fixedaddress) = %d, want 2", n)
	}
	if n := e.srv.RequestCount("get", ""); n != 1 {
		t.Errorf("RequestCount(get, any) = %d, want 1", n)
	}
}
