package infoblox

import (
	"context"
	"errors"
	"io"
	"log"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	ibclient "github.com/infobloxopen/infoblox-go-client/v2"

	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

func TestMain(m *testing.M) {
	// The client logs every failed request with the standard logger.
	log.SetOutput(io.Discard)
	os.Exit(m.Run())
}

const (
	testUser     = "admin"
	testPassword = "s3cret-Passw0rd"
)

func newSim(t testing.TB) *wapisim.Server {
	t.Helper()
	srv := wapisim.NewTestServer(t, wapisim.Config{Username: testUser, Password: testPassword})
	for _, n := range []struct{ cidr, gw string }{{"192.0.2.0/24", "192.0.2.1"}, {"198.51.100.0/24", ""}, {"203.0.113.0/30", ""}, {"2001:db8::/64", ""}} {
		if _, err := srv.AddNetwork("default", n.cidr, wapisim.NetworkOptions{Gateway: n.gw}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.AddRange("default", "198.51.100.10", "198.51.100.20", wapisim.RangeOptions{}); err != nil {
		t.Fatal(err)
	}
	return srv
}

func simConfig(srv *wapisim.Server) Config {
	port := 0
	for _, c := range srv.Port() {
		port = port*10 + int(c-'0')
	}
	return Config{Host: srv.Host(), Port: port, Version: "2.12", Username: testUser, Password: testPassword, CABundle: srv.CACertPEM()}
}

func newTestClient(t testing.TB, srv *wapisim.Server, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := simConfig(srv)
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestReserve(t *testing.T) {
	cases := map[string]struct {
		req      Request
		want     string // address, or "" for any
		inside   string
		trips    int
		failWith Reason
	}{
		"NextAvailable":        {req: Request{Network: "192.0.2.0/24"}, want: "192.0.2.2", trips: 2}, // + the gateway
		"GatewayGiven":         {req: Request{Network: "192.0.2.0/24", Gateway: "192.0.2.1"}, want: "192.0.2.2", trips: 1},
		"NoGateway":            {req: Request{Network: "198.51.100.0/24"}, want: "198.51.100.1", trips: 2},
		"Specific":             {req: Request{Address: "192.0.2.77", Network: "192.0.2.0/24"}, want: "192.0.2.77", trips: 1},
		"SpecificNoNetwork":    {req: Request{Address: "192.0.2.78"}, want: "192.0.2.78", trips: 1},
		"Range":                {req: Request{Network: "198.51.100.0/24", Range: "198.51.100.10-198.51.100.20"}, want: "198.51.100.10", trips: 2},
		"RangeExclude":         {req: Request{Network: "198.51.100.0/24", Range: "198.51.100.10-198.51.100.20", Exclude: []string{"198.51.100.10", "198.51.100.11"}}, want: "198.51.100.12", trips: 2},
		"Exclude":              {req: Request{Network: "192.0.2.0/24", Exclude: []string{"192.0.2.2"}}, want: "192.0.2.3", trips: 2},
		"IPv6":                 {req: Request{Network: "2001:db8::/64", MAC: "00:01:02:03:04:05"}, inside: "2001:db8::", trips: 1},
		"IPv6ZeroDUID":         {req: Request{Network: "2001:db8::/64"}, want: "2001:db8::1", trips: 1},
		"Host":                 {req: Request{Kind: KindHostRecord, HostName: "node1", Network: "192.0.2.0/24"}, want: "192.0.2.2", trips: 3},
		"HostSpecific":         {req: Request{Kind: KindHostRecord, HostName: "node2", Address: "192.0.2.99"}, want: "192.0.2.99", trips: 2},
		"NetworkNotFound":      {req: Request{Network: "10.99.0.0/24"}, failWith: ReasonNotFound},
		"SpecificNoNetwork404": {req: Request{Address: "10.99.0.5"}, failWith: ReasonNotFound},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv := newSim(t)
			c := newTestClient(t, srv)
			tc.req.EAs = EAs("uid-"+name, "ns", name, "c1", "")
			o, err := c.Reserve(context.Background(), tc.req)
			if tc.failWith != "" {
				if ReasonOf(err) != tc.failWith {
					t.Fatalf("Reserve: got %v (%s), want reason %s", err, ReasonOf(err), tc.failWith)
				}
				return
			}
			if err != nil {
				t.Fatalf("Reserve: %v", err)
			}
			if tc.want != "" && o.Address != tc.want || !strings.HasPrefix(o.Address, tc.inside) {
				t.Errorf("address %q, want %q", o.Address, tc.want+tc.inside)
			}
			if got := srv.RequestCount("", ""); got != tc.trips {
				t.Errorf("%d round trips, want %d: %v", got, tc.trips, srv.RequestCounts())
			}
			g, err := c.Get(context.Background(), o.Ref)
			if err != nil || g == nil {
				t.Fatalf("Get(%s): %v, %v", o.Ref, g, err)
			}
			if g.Address != o.Address || g.UID() != "uid-"+name || g.EAs[EAOwner] != "ns/"+name || g.EAs[EACluster] != "c1" {
				t.Errorf("Get: %+v", g)
			}
			found, err := c.Find(context.Background(), o.Kind, tc.req.IPv6(), "uid-"+name)
			if err != nil || len(found) != 1 || found[0].Ref != o.Ref {
				t.Fatalf("Find: %+v, %v", found, err)
			}
			if err := c.Delete(context.Background(), o.Ref); err != nil {
				t.Fatal(err)
			}
			if g, err := c.Get(context.Background(), o.Ref); err != nil || g != nil {
				t.Fatalf("Get after Delete: %+v, %v", g, err)
			}
			if err := c.Delete(context.Background(), o.Ref); err != nil {
				t.Fatalf("second Delete: %v", err)
			}
		})
	}
}

func TestFindEmptyIsOneRoundTrip(t *testing.T) {
	srv := newSim(t)
	c := newTestClient(t, srv)
	found, err := c.Find(context.Background(), KindFixedAddress, false, "nobody")
	if err != nil || len(found) != 0 {
		t.Fatalf("Find: %v, %v", found, err)
	}
	if n := srv.RequestCount("", ""); n != 1 {
		t.Errorf("%d round trips, want 1", n)
	}
	// The repeat is only answered locally for the same search, once.
	if _, err := c.Find(context.Background(), KindFixedAddress, false, "nobody"); err != nil {
		t.Fatal(err)
	}
	if n := srv.RequestCount("", ""); n != 2 {
		t.Errorf("%d round trips, want 2", n)
	}
}

func TestExhausted(t *testing.T) {
	srv := newSim(t)
	c := newTestClient(t, srv)
	ctx := context.Background()
	for i := range 2 { // 203.0.113.0/30 has two usable addresses, no gateway.
		if _, err := c.Reserve(ctx, Request{Network: "203.0.113.0/30", EAs: EAs("u", "ns", "n", "", "")}); err != nil {
			t.Fatalf("reservation %d: %v", i, err)
		}
	}
	_, err := c.Reserve(ctx, Request{Network: "203.0.113.0/30"})
	if ReasonOf(err) != ReasonExhausted {
		t.Fatalf("got %v, want %s", err, ReasonExhausted)
	}
}

func TestConflict(t *testing.T) {
	srv := newSim(t)
	c := newTestClient(t, srv)
	r := Request{Address: "192.0.2.50", EAs: EAs("u", "ns", "n", "", "")}
	if _, err := c.Reserve(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reserve(context.Background(), r); ReasonOf(err) != ReasonConflict {
		t.Fatalf("got %v, want %s", err, ReasonConflict)
	}
}

func TestAuthFailure(t *testing.T) {
	srv := newSim(t)
	c := newTestClient(t, srv, func(c *Config) { c.Password = "wrong-Passw0rd" })
	_, err := c.Reserve(context.Background(), Request{Network: "192.0.2.0/24"})
	if ReasonOf(err) != ReasonAuth {
		t.Fatalf("got %v, want %s", err, ReasonAuth)
	}
	if strings.Contains(err.Error(), "wrong-Passw0rd") || strings.Contains(err.Error(), testUser) {
		t.Errorf("error leaks credentials: %v", err)
	}
	// The failure is remembered for a while: no more round trips.
	n := srv.RequestCount("", "")
	for range 10 {
		if _, err := c.Find(context.Background(), KindFixedAddress, false, "x"); ReasonOf(err) != ReasonAuth {
			t.Fatalf("got %v, want %s", err, ReasonAuth)
		}
	}
	if m := srv.RequestCount("", ""); m != n {
		t.Errorf("%d more round trips after an authentication failure", m-n)
	}
}

func TestTLSVerification(t *testing.T) {
	srv := newSim(t)
	c := newTestClient(t, srv, func(c *Config) { c.CABundle = nil })
	_, err := c.Find(context.Background(), KindFixedAddress, false, "x")
	if ReasonOf(err) != ReasonTLS {
		t.Fatalf("got %v, want %s", err, ReasonTLS)
	}
	c = newTestClient(t, srv, func(c *Config) { c.CABundle, c.InsecureSkipVerify = nil, true })
	if _, err := c.Find(context.Background(), KindFixedAddress, false, "x"); err != nil {
		t.Fatalf("insecureSkipVerify: %v", err)
	}
}

func TestUnavailable(t *testing.T) {
	srv := newSim(t)
	c := newTestClient(t, srv)
	srv.AddFault(wapisim.Fault{Kind: wapisim.FaultStatus, Status: 503})
	_, err := c.Reserve(context.Background(), Request{Network: "192.0.2.0/24"})
	if !Transient(err) {
		t.Fatalf("got %v, want a transient error", err)
	}
	srv.ClearFaults()
	srv.AddFault(wapisim.Fault{Kind: wapisim.FaultDrop})
	_, err = c.Reserve(context.Background(), Request{Network: "192.0.2.0/24"})
	if !Transient(err) {
		t.Fatalf("got %v, want a transient error", err)
	}
}

// The client retries a POST whose answer was lost: the first attempt's
// object exists, the retry makes a second one with the same UID.
func TestLostResponseDuplicates(t *testing.T) {
	srv := newSim(t)
	c := newTestClient(t, srv)
	srv.AddFault(wapisim.Fault{Kind: wapisim.FaultLoseResponse, Method: "POST", Object: "fixedaddress", Count: 1})
	o, err := c.Reserve(context.Background(), Request{Network: "192.0.2.0/24", EAs: EAs("dup", "ns", "n", "", "")})
	if err != nil {
		t.Fatal(err)
	}
	found, err := c.Find(context.Background(), KindFixedAddress, false, "dup")
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[1].Ref != o.Ref || found[0].Address != "192.0.2.2" || found[1].Address != "192.0.2.3" {
		t.Fatalf("found %+v; reserved %+v", found, o)
	}
	if !o.Suspect {
		t.Error("Reserve did not flag the retried create")
	}
	kept, err := c.Dedupe(context.Background(), KindFixedAddress, false, "dup")
	if err != nil || kept == nil || kept.Address != "192.0.2.2" {
		t.Fatalf("Dedupe: %+v, %v", kept, err)
	}
	if fas := srv.FixedAddresses(); len(fas) != 1 || fas[0].IPAddress != "192.0.2.2" {
		t.Fatalf("after Dedupe: %+v", fas)
	}
}

// A DELETE whose answer is lost is not sent again: it was carried out, the
// address is free, and a repeat would delete whatever took that address
// meanwhile (a fixed address's reference names its address). Delete says
// the grid did not answer, and a later call finds the object gone.
func TestLostDeleteAnswerIsNotResent(t *testing.T) {
	srv := newSim(t)
	c := newTestClient(t, srv)
	ctx := context.Background()
	o, err := c.Reserve(ctx, Request{Network: "192.0.2.0/24", EAs: EAs("gone", "ns", "n", "", "")})
	if err != nil {
		t.Fatal(err)
	}
	srv.AddFault(wapisim.Fault{Kind: wapisim.FaultLoseResponse, Method: "DELETE", Count: 1})
	if err := c.Delete(ctx, o.Ref); ReasonOf(err) != ReasonUnavailable {
		t.Fatalf("Delete with its answer lost: %v, want %s", err, ReasonUnavailable)
	}
	if n := srv.RequestCount("DELETE", ""); n != 1 {
		t.Errorf("%d DELETEs sent, want 1", n)
	}
	if got, err := c.Get(ctx, o.Ref); err != nil || got != nil {
		t.Errorf("after the lost answer: %+v, %v; want it deleted", got, err)
	}
	if err := c.Delete(ctx, o.Ref); err != nil {
		t.Errorf("deleting it again: %v", err)
	}
}

// Both attempts of a create are carried out and their answers lost: Reserve
// finds what they made, keeps one and succeeds.
func TestLostResponses(t *testing.T) {
	srv := newSim(t)
	c := newTestClient(t, srv)
	srv.AddFault(wapisim.Fault{Kind: wapisim.FaultLoseResponse, Method: "POST", Object: "fixedaddress", Count: 2})
	o, err := c.Reserve(context.Background(), Request{Network: "192.0.2.0/24", EAs: EAs("lost", "ns", "n", "", "")})
	if err != nil {
		t.Fatal(err)
	}
	if fas := srv.FixedAddresses(); o.Address != "192.0.2.2" || len(fas) != 1 || fas[0].Ref != o.Ref {
		t.Fatalf("reserved %+v; grid holds %+v", o, fas)
	}
	// A specific address: the retry conflicts with the first attempt.
	srv.AddFault(wapisim.Fault{Kind: wapisim.FaultLoseResponse, Method: "POST", Object: "fixedaddress", Count: 1})
	o, err = c.Reserve(context.Background(), Request{Address: "192.0.2.99", EAs: EAs("lost2", "ns", "n", "", "")})
	if err != nil || o.Address != "192.0.2.99" {
		t.Fatalf("Reserve: %+v, %v", o, err)
	}
	// Without a UID there is nothing to recover by.
	srv.AddFault(wapisim.Fault{Kind: wapisim.FaultLoseResponse, Method: "POST", Object: "fixedaddress", Count: 1})
	if _, err := c.Reserve(context.Background(), Request{Address: "192.0.2.98"}); ReasonOf(err) != ReasonConflict {
		t.Fatalf("got %v, want %s", err, ReasonConflict)
	}
}

func TestGateway(t *testing.T) {
	srv := newSim(t)
	c := newTestClient(t, srv)
	for range 3 {
		gw, err := c.Gateway(context.Background(), "192.0.2.0/24")
		if err != nil || gw != "192.0.2.1" {
			t.Fatalf("Gateway: %q, %v", gw, err)
		}
	}
	if n := srv.RequestCount("", ""); n != 1 {
		t.Errorf("%d round trips, want 1 (cached)", n)
	}
	if gw, err := c.Gateway(context.Background(), "198.51.100.0/24"); err != nil || gw != "" {
		t.Fatalf("Gateway without routers: %q, %v", gw, err)
	}
	if _, err := c.Gateway(context.Background(), "10.98.0.0/24"); !IsNotFound(err) {
		t.Fatalf("Gateway of a missing network: %v", err)
	}
}

func TestConcurrentReserve(t *testing.T) {
	srv := newSim(t)
	c := newTestClient(t, srv)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			_, err := c.Reserve(context.Background(), Request{Network: "192.0.2.0/24", EAs: EAs(string(rune('a'+i)), "ns", "n", "", "")})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.RequestCount("GET", "network"); n != 1 {
		t.Errorf("%d gateway lookups, want 1", n)
	}
	if n := srv.RequestCount("", ""); n != 51 {
		t.Errorf("%d round trips for 50 reservations, want 51", n)
	}
	seen := map[string]bool{}
	for _, fa := range srv.FixedAddresses() {
		if seen[fa.IPAddress] {
			t.Fatalf("%s twice", fa.IPAddress)
		}
		seen[fa.IPAddress] = true
	}
	if len(seen) != 50 {
		t.Fatalf("%d fixed addresses, want 50", len(seen))
	}
}

func TestAddressFromRef(t *testing.T) {
	cases := map[string]struct {
		ref, want string
		err       bool
	}{
		"IPv4":    {ref: "fixedaddress/ZG5zLmZpeGVkX2FkZHJlc3MkMTkyLjAuMi4xMC4wLi4:192.0.2.10/default", want: "192.0.2.10"},
		"IPv6":    {ref: "ipv6fixedaddress/ZG5z:2001%3Adb8%3A%3A5/default", want: "2001:db8::5"},
		"Host":    {ref: "record:host/ZG5z:node1/%20", err: true},
		"Garbage": {ref: "fixedaddress/abc", err: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := AddressFromRef(tc.ref)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("AddressFromRef(%q) = %q, %v", tc.ref, got, err)
			}
		})
	}
}

// An external name is tenant input appended to the WAPI URL: only the
// shape of a fixed address or host record reference passes.
func TestKindOfRef(t *testing.T) {
	cases := map[string]struct {
		ref  string
		want Kind
		err  bool
	}{
		"FixedAddress":            {ref: "fixedaddress/ZG5zLmZpeGVkX2FkZHJlc3MkMTkyLjAuMi4xMC4wLi4:192.0.2.10/default", want: KindFixedAddress},
		"IPv6FixedAddress":        {ref: "ipv6fixedaddress/ZG5z:2001%3Adb8%3A%3A5/default", want: KindFixedAddress},
		"HostRecord":              {ref: "record:host/ZG5zLmhvc3Q:node1.example.com/default", want: KindHostRecord},
		"HostRecordInEscapedView": {ref: "record:host/ZG5z:node1/my%20view", want: KindHostRecord},
		"KeyOnly":                 {ref: "fixedaddress/ZG5zLmZpeGVk", want: KindFixedAddress},
		"OtherObjectType":         {ref: "network/ZG5zLm5ldHdvcms:192.0.2.0%2F24/default", err: true},
		"GridObject":              {ref: "grid/b25lLmNsdXN0ZXIkMA:Infoblox", err: true},
		"NoKey":                   {ref: "fixedaddress/", err: true},
		"NoSlash":                 {ref: "fixedaddress", err: true},
		"DotDotAsKey":             {ref: "fixedaddress/../network/ZG5z", err: true},
		"DotDotAsView":            {ref: "fixedaddress/ZG5z:x/..", err: true},
		"EscapedDotDot":           {ref: "fixedaddress/ZG5z:x/%2E%2E", err: true},
		"ExtraSegments":           {ref: "fixedaddress/ZG5z:x/default/../../grid", err: true},
		"EscapedSlash":            {ref: "fixedaddress/ZG5z:x%2F..%2F..%2Fgrid/default", err: true},
		"Query":                   {ref: "fixedaddress/ZG5z:x/default?_function=restartservices", err: true},
		"EscapedQuery":            {ref: "fixedaddress/ZG5z:x/default%3F_return_fields=extattrs", err: true},
		"Fragment":                {ref: "fixedaddress/ZG5z:x/default#top", err: true},
		"Backslash":               {ref: "fixedaddress/ZG5z:x\\..\\grid/default", err: true},
		"ControlCharacter":        {ref: "fixedaddress/ZG5z:x%0Ay/default", err: true},
		"BadEscape":               {ref: "fixedaddress/ZG5z:x%zz/default", err: true},
		"SpaceInKey":              {ref: "fixedaddress/ZG5z ZG5z", err: true},
		"Empty":                   {ref: "", err: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := KindOfRef(tc.ref)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("KindOfRef(%q) = %q, %v", tc.ref, got, err)
			}
		})
	}
}

// A reference refused by KindOfRef never reaches the grid, whatever is
// asked of it.
func TestHostileRefsNeverSent(t *testing.T) {
	srv := newSim(t)
	c := newTestClient(t, srv)
	ctx := context.Background()
	ref := "fixedaddress/../network/ZG5z"
	before := srv.RequestCount("", "")
	if _, err := c.Get(ctx, ref); ReasonOf(err) != ReasonInvalid {
		t.Errorf("Get(%q): %v, want an %s error", ref, err, ReasonInvalid)
	}
	if err := c.Delete(ctx, ref); ReasonOf(err) != ReasonInvalid {
		t.Errorf("Delete(%q): %v, want an %s error", ref, err, ReasonInvalid)
	}
	if err := c.Tag(ctx, ref, EAs("u", "ns", "n", "", "")); ReasonOf(err) != ReasonInvalid {
		t.Errorf("Tag(%q): %v, want an %s error", ref, err, ReasonInvalid)
	}
	if n := srv.RequestCount("", "") - before; n != 0 {
		t.Errorf("%d requests reached the grid", n)
	}
}

func TestClassify(t *testing.T) {
	cases := map[string]struct {
		status int
		body   string
		want   Reason
	}{
		"Auth":      {401, "<html>401 Authorization Required</html>", ReasonAuth},
		"Forbidden": {403, "", ReasonAuth},
		"Exhausted": {400, `{"Error": "AdmConProtoError: ...", "code": "Client.Ibap.Data", "text": "Cannot find 1 available IP address(es) in this network."}`, ReasonExhausted},
		"NotFound":  {404, `{"Error": "AdmConDataNotFoundError: Reference x not found", "code": "Client.Ibap.Data.NotFound", "text": "Reference x not found"}`, ReasonNotFound},
		"Conflict":  {400, `{"Error": "AdmConDataError: None (IBDataConflictError: IB.Data.Conflict:...)", "code": "Client.Ibap.Data.Conflict", "text": "The IP address 192.0.2.5 is already used"}`, ReasonConflict},
		"Proto":     {400, `{"Error": "AdmConProtoError: bad field", "code": "Client.Ibap.Proto", "text": "Unknown argument/field: 'x'"}`, ReasonInvalid},
		"503":       {503, "Service Unavailable", ReasonUnavailable},
		"500":       {500, "", ReasonUnavailable},
		"429":       {429, "", ReasonUnavailable},
		"Teapot":    {418, "", ReasonUnknown},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := classifyHTTP(tc.status, []byte(tc.body))
			if e.Reason != tc.want {
				t.Fatalf("reason %s, want %s (%v)", e.Reason, tc.want, e)
			}
			var target *Error
			if !errors.As(error(e), &target) || ReasonOf(e) != tc.want {
				t.Fatal("ReasonOf disagrees")
			}
		})
	}
	if ReasonOf(nil) != "" || ReasonOf(errors.New("x")) != ReasonUnknown {
		t.Fatal("ReasonOf of non-WAPI errors")
	}
}

func TestEAs(t *testing.T) {
	ea := EAs("u1", "team-a", "r1", "", "")
	if len(ea) != 2 || ea[EAReservationUID] != "u1" || ea[EAOwner] != "team-a/r1" {
		t.Fatalf("EAs: %v", ea)
	}
	ea = EAs("u1", "team-a", "r1", "c", "k")
	if len(ea) != 4 || ea[EACluster] != "c" || ea[EAClaim] != "k" {
		t.Fatalf("EAs: %v", ea)
	}
}

// Tag adds attributes to an object of either kind and keeps those it has.
func TestTag(t *testing.T) {
	cases := map[string]Request{
		"FixedAddress": {Address: "192.0.2.50", EAs: ibclient.EA{"Owner": "network team"}},
		"IPv6":         {Address: "2001:db8::50", EAs: ibclient.EA{"Owner": "network team"}},
		"HostRecord":   {Kind: KindHostRecord, HostName: "legacy", Address: "192.0.2.51", EAs: ibclient.EA{"Owner": "network team"}},
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			srv := newSim(t)
			c := newTestClient(t, srv)
			ctx := context.Background()
			o, err := c.Reserve(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Tag(ctx, o.Ref, EAs("uid-1", "ns", "r", "", "")); err != nil {
				t.Fatalf("Tag: %v", err)
			}
			g, err := c.Get(ctx, o.Ref)
			if err != nil || g == nil {
				t.Fatalf("Get: %+v, %v", g, err)
			}
			want := ibclient.EA{"Owner": "network team", EAReservationUID: "uid-1", EAOwner: "ns/r"}
			if diff := cmp.Diff(want, g.EAs); diff != "" {
				t.Errorf("attributes after Tag (-want +got):\n%s", diff)
			}
		})
	}
	c := newTestClient(t, newSim(t))
	if err := c.Tag(context.Background(), "network/ZG5z:192.0.2.0/24/default", EAs("uid-1", "ns", "r", "", "")); ReasonOf(err) != ReasonInvalid {
		t.Errorf("Tag of a network: %v, want reason %s", err, ReasonInvalid)
	}
}
