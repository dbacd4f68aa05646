package wapisim_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	ibclient "github.com/infobloxopen/infoblox-go-client/v2"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

func TestMain(m *testing.M) {
	// The client logs every failed request with the standard logger; the
	// tests check those errors themselves.
	log.SetOutput(io.Discard)
	os.Exit(m.Run())
}

const (
	user     = "admin"
	password = "infoblox"
)

// env is a running emulator seeded with documentation networks, and a
// real client connected to it over HTTPS.
type env struct {
	srv  *wapisim.Server
	conn *ibclient.Connector
	om   ibclient.IBObjectManager
	// Refs of the seeded objects.
	net192, net198, net203, net6, range198 string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, wapisim.Config{Username: user, Password: password})
}

func newEnvWith(t *testing.T, cfg wapisim.Config) *env {
	t.Helper()
	e := &env{srv: wapisim.NewTestServer(t, cfg)}
	e.net192 = must(t)(e.srv.AddNetwork("default", "192.0.2.0/24", wapisim.NetworkOptions{
		Gateway: "192.0.2.1", Comment: "lab", ExtAttrs: map[string]any{"Site": "lab"}}))
	e.net198 = must(t)(e.srv.AddNetwork("", "198.51.100.0/24", wapisim.NetworkOptions{
		ExtAttrs: map[string]any{"Site": "dc1"}}))
	e.range198 = must(t)(e.srv.AddRange("", "198.51.100.1", "198.51.100.100", wapisim.RangeOptions{Name: "pool"}))
	e.net203 = must(t)(e.srv.AddNetwork("", "203.0.113.0/30", wapisim.NetworkOptions{}))
	e.net6 = must(t)(e.srv.AddNetwork("", "2001:db8::/64", wapisim.NetworkOptions{}))
	conn, err := e.srv.NewConnector()
	if err != nil {
		t.Fatal(err)
	}
	e.conn = conn
	e.om = ibclient.NewObjectManager(conn, "test", "")
	return e
}

func must(t *testing.T) func(string, error) string {
	return func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// allocate reserves the next available IPv4 address of cidr with the
// zero MAC, as AllocateIP does without a MAC.
func (e *env) allocate(t *testing.T, cidr string, eas ibclient.EA) *ibclient.FixedAddress {
	t.Helper()
	fa, err := e.om.AllocateIP("default", cidr, "", false, "", "", "", eas, "", "", "", nil, "", false, nil, false)
	if err != nil {
		t.Fatalf("AllocateIP(%s): %v", cidr, err)
	}
	return fa
}

// reserve creates a fixed address for a given IPv4 address or
// func:nextavailableip string.
func (e *env) reserve(ip, mac string, eas ibclient.EA) (*ibclient.FixedAddress, error) {
	return e.om.AllocateIP("default", "", ip, false, mac, "", "", eas, "", "", "", nil, "", false, nil, false)
}

// wapi sends a raw request, for what the client cannot express (function
// calls, search modifiers, raw error bodies).
func (e *env) wapi(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	return rawRequest(t, e.srv, method, path, body, user, password)
}

func rawRequest(t *testing.T, srv *wapisim.Server, method, path string, body any, u, p string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, srv.URL()+"/wapi/v2.12.3/"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(u, p)
	resp, err := httpClient(t, srv).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func httpClient(t *testing.T, srv *wapisim.Server) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CACertPEM()) {
		t.Fatal("server CA does not parse")
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func wantErr(t *testing.T, err error, substrs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", substrs)
	}
	for _, s := range substrs {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not contain %q", err, s)
		}
	}
}

func addrs(fas []wapisim.FixedAddress) []string {
	var out []string
	for _, fa := range fas {
		out = append(out, fa.IPAddress)
	}
	return out
}
