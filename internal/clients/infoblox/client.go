package infoblox

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	ibclient "github.com/infobloxopen/infoblox-go-client/v2"

	"github.com/provider-ipam/provider-ipam/internal/metrics"
)

// Extensible attributes set on every object.
const (
	EAReservationUID = "provider-ipam/reservation-uid"
	EAOwner          = "provider-ipam/owner"
	EACluster        = "provider-ipam/cluster"
	EAClaim          = "provider-ipam/claim"
)

// Defaults of a Config.
const (
	DefaultPort        = 443
	DefaultVersion     = "2.12"
	DefaultNetworkView = "default"
	DefaultTimeout     = 60 * time.Second
	ZeroMAC            = "00:00:00:00:00:00"
)

// maxBody bounds WAPI answers read into memory.
const maxBody = 16 << 20

// gatewayTTL is how long a network's gateway is cached.
const gatewayTTL = 5 * time.Minute

// Config is how to reach a grid.
type Config struct {
	Host               string
	Port               int
	Version            string
	NetworkView        string
	DNSView            string
	Username, Password string
	// CABundle is PEM CA certificates to verify the grid with; nil means the
	// system's roots.
	CABundle []byte
	// InsecureSkipVerify turns verification off.
	InsecureSkipVerify bool
	// Timeout bounds each request.
	Timeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.NetworkView == "" {
		c.NetworkView = DefaultNetworkView
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// A Client reserves addresses in one grid's network view. It is safe for
// concurrent use and keeps its connections open between calls.
type Client struct {
	cfg  Config
	http *http.Client

	mu       sync.Mutex
	gateways map[string]gatewayEntry
	lookups  map[string]*lookup
	// authFailed is the last authentication failure, answered again
	// without a round trip until authRetryAt: every Reservation using a
	// wrong password must not hammer the grid (and lock the account).
	authFailed  *Error
	authRetryAt time.Time
}

// authHoldOff is how long an authentication failure is remembered.
const authHoldOff = 10 * time.Second

type gatewayEntry struct {
	gateway string
	expires time.Time
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if cfg.Host == "" {
		return nil, errors.New("the grid's host is not set")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // Only on explicit opt-out.
	if len(cfg.CABundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cfg.CABundle) {
			return nil, errors.New("the CA bundle holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{
		cfg:      cfg,
		http:     &http.Client{Transport: tr, Timeout: cfg.Timeout},
		gateways: map[string]gatewayEntry{},
		lookups:  map[string]*lookup{},
	}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// NetworkView is the view the client works in.
func (c *Client) NetworkView() string { return c.cfg.NetworkView }

// connector returns a connector for one operation: the client's
// connections, a requestor of its own (see requestor) bound to ctx.
func (c *Client) connector(ctx context.Context) *ibclient.Connector {
	conn, _ := c.connectorWith(ctx)
	return conn
}

func (c *Client) connectorWith(ctx context.Context) (*ibclient.Connector, *requestor) {
	host := ibclient.HostConfig{Scheme: "https", Host: c.cfg.Host, Port: strconv.Itoa(c.cfg.Port), Version: c.cfg.Version}
	auth := ibclient.AuthConfig{Username: c.cfg.Username, Password: c.cfg.Password}
	// NewConnector cannot fail with these: it only validates (a no-op in
	// v2.12.0) after Init.
	r := &requestor{ctx: ctx, c: c}
	conn, _ := ibclient.NewConnector(host, auth, ibclient.TransportConfig{}, &ibclient.WapiRequestBuilder{}, r)
	return conn, r
}

// requestor sends the requests the client builds, with Go's context and
// typed errors. One serves one operation (it is not safe for concurrent
// use).
//
// The client re-sends a search that found nothing with _proxy_search=GM,
// to have a grid member forward it to the Grid Master. Searches here
// already carry that flag, so the repeat is the same question to the same
// server: the requestor answers it with the empty list it just got.
type requestor struct {
	ctx         context.Context
	c           *Client
	emptySearch string
	// failedPOST records that a POST failed: the client retries it, and
	// the failed attempt may have been carried out.
	failedPOST bool
	// unansweredDELETE is the error of a DELETE that got no answer. The
	// client would re-send it at once, but the first may have been carried
	// out, and a fixed address's reference names its address, not the
	// object: a create of anyone's that took the freed address in between
	// would be deleted by the repeat. The caller asks again afresh instead.
	unansweredDELETE error
}

func (r *requestor) Init(ibclient.AuthConfig, ibclient.TransportConfig) {}

func (r *requestor) SendRequest(req *http.Request) ([]byte, error) {
	u := req.URL.String()
	if req.Method == http.MethodGet && r.emptySearch != "" && u == r.emptySearch {
		r.emptySearch = ""
		return []byte("[]"), nil
	}
	r.emptySearch = ""
	if req.Method == http.MethodDelete && r.unansweredDELETE != nil {
		return nil, r.unansweredDELETE
	}
	if err := r.c.heldOff(); err != nil {
		return nil, err
	}
	start := time.Now()
	resp, err := r.c.http.Do(req.WithContext(r.ctx))
	if err != nil {
		r.failedPOST = r.failedPOST || req.Method == http.MethodPost
		e := classifyTransport(err)
		if req.Method == http.MethodDelete {
			r.unansweredDELETE = e
		}
		metrics.WAPIRequest(req.Method, 0, string(ReasonOf(e)), time.Since(start))
		return nil, e
	}
	defer resp.Body.Close() //nolint:errcheck // Read-only body.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		r.failedPOST = r.failedPOST || req.Method == http.MethodPost
		e := classifyTransport(err)
		if req.Method == http.MethodDelete {
			r.unansweredDELETE = e
		}
		metrics.WAPIRequest(req.Method, resp.StatusCode, string(ReasonOf(e)), time.Since(start))
		return nil, e
	}
	ok := resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated && req.Method == http.MethodPost
	if !ok {
		r.failedPOST = r.failedPOST || req.Method == http.MethodPost && resp.StatusCode >= 500
		e := classifyHTTP(resp.StatusCode, body)
		metrics.WAPIRequest(req.Method, resp.StatusCode, string(e.Reason), time.Since(start))
		if resp.StatusCode == http.StatusUnauthorized {
			r.c.holdOff(e)
		}
		return nil, e
	}
	metrics.WAPIRequest(req.Method, resp.StatusCode, "", time.Since(start))
	if req.Method == http.MethodGet && req.URL.Query().Get("_proxy_search") == "GM" && string(bytes.TrimSpace(body)) == "[]" {
		r.emptySearch = u
	}
	return body, nil
}

func (c *Client) holdOff(e *Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.authFailed, c.authRetryAt = e, time.Now().Add(authHoldOff)
}

func (c *Client) heldOff() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.authFailed != nil && time.Now().Before(c.authRetryAt) {
		return c.authFailed
	}
	return nil
}

// Kind is the type of object holding an address.
type Kind string

// Kinds of objects.
const (
	KindFixedAddress Kind = "FixedAddress"
	KindHostRecord   Kind = "HostRecord"
)

// A Request says what to reserve.
type Request struct {
	Kind Kind
	// Network (CIDR) to take the next available address from; with
	// Address, the network the address lies in (optional).
	Network string
	// Range "first-last" limits the choice to that DHCP range.
	Range string
	// Exclude lists addresses not to choose.
	Exclude []string
	// Address reserves exactly this address.
	Address string
	// HostName names a host record.
	HostName string
	// MAC of a fixed address (also its DUID for IPv6); ZeroMAC if empty.
	MAC string
	// Gateway is never chosen as the next available address. When empty,
	// the network's routers option is (IPv4).
	Gateway string
	// EAs tag the object; see EAs.
	EAs ibclient.EA
}

// IPv6 reports whether the request is for an IPv6 address.
func (r Request) IPv6() bool {
	for _, s := range []string{r.Address, r.Network, r.Range} {
		if s != "" {
			return strings.Contains(s, ":")
		}
	}
	return false
}

// An Object is a fixed address or host record holding an address.
type Object struct {
	Ref     string
	Kind    Kind
	Address string
	// Network (CIDR) the object lies in, when WAPI says (fixed addresses).
	Network string
	// NetworkView is the view the object lies in, when WAPI says.
	NetworkView string
	MAC         string
	HostName    string
	EAs         ibclient.EA
	// Suspect is set by Reserve when a create attempt failed before the
	// one that succeeded: it may have made an object too (see Dedupe).
	Suspect bool
}

// UID is the object's provider-ipam/reservation-uid, if any.
func (o Object) UID() string {
	s, _ := o.EAs[EAReservationUID].(string)
	return s
}

// EAs builds the extensible attributes of a reservation's object: its UID
// (the idempotency key), its owner "namespace/name", and the cluster and
// claim it is for when set.
func EAs(uid, namespace, name, cluster, claim string) ibclient.EA {
	ea := ibclient.EA{EAReservationUID: uid, EAOwner: namespace + "/" + name}
	if cluster != "" {
		ea[EACluster] = cluster
	}
	if claim != "" {
		ea[EAClaim] = claim
	}
	return ea
}

// Reserve creates the object r asks for and returns it. A fixed address
// takes one round trip; a host record two (WAPI answers with a reference
// that names the host, not its address).
func (c *Client) Reserve(ctx context.Context, r Request) (*Object, error) {
	v6 := r.IPv6()
	mac := r.MAC
	if mac == "" {
		mac = ZeroMAC
	}
	if r.Address == "" && r.Network != "" && !v6 {
		// NIOS hands out a network's gateway like any other address.
		gw := r.Gateway
		if gw == "" {
			var err error
			if gw, err = c.Gateway(ctx, r.Network); err != nil {
				return nil, err
			}
		}
		if gw != "" {
			r.Exclude = append(slices.Clip(r.Exclude), gw)
		}
	}
	conn, rq := c.connectorWith(ctx)
	var obj ibclient.IBObject
	switch r.Kind {
	case KindHostRecord:
		obj = c.hostRecord(r, v6, mac)
	case KindFixedAddress, "":
		obj = c.fixedAddress(r, v6, mac)
	default:
		return nil, fmt.Errorf("unknown record type %q", r.Kind)
	}
	ref, err := conn.CreateObject(obj)
	if err != nil {
		if !rq.failedPOST {
			return nil, err
		}
		// An attempt failed without an answer and the client's retry
		// failed too, e.g. with a conflict over the address the first
		// attempt took: look for what the attempts made.
		if o := c.recover(ctx, r, v6); o != nil {
			return o, nil
		}
		return nil, err
	}
	if ref == "" {
		return nil, &Error{Reason: ReasonUnknown, Status: http.StatusCreated, Text: "WAPI answered without a reference"}
	}
	if r.Kind == KindHostRecord {
		o, err := c.Get(ctx, ref)
		if err != nil {
			return nil, err
		}
		if o == nil {
			return nil, &Error{Reason: ReasonNotFound, Text: "the host record just created is gone: " + ref}
		}
		o.Suspect = rq.failedPOST
		return o, nil
	}
	addr, err := AddressFromRef(ref)
	if err != nil {
		return nil, err
	}
	return &Object{Ref: ref, Kind: KindFixedAddress, Address: addr, Network: r.Network, MAC: mac, EAs: r.EAs, Suspect: rq.failedPOST}, nil
}

// recover returns the object tagged with r's UID, duplicates removed, or
// nil if there is none or it cannot be told.
func (c *Client) recover(ctx context.Context, r Request, v6 bool) *Object {
	uid, _ := r.EAs[EAReservationUID].(string)
	if uid == "" {
		return nil
	}
	kind := r.Kind
	if kind == "" {
		kind = KindFixedAddress
	}
	o, err := c.Dedupe(ctx, kind, v6, uid)
	if err != nil {
		return nil
	}
	return o
}

// Dedupe makes sure at most one object of kind is tagged with uid: it
// keeps the one with the lowest address, deletes the others and returns
// the one kept (nil if there is none).
//
// Duplicates are expected, not hypothetical: the client retries every
// failed request once, POST included. When the answer to a create is lost
// (the grid made the object, the connection then broke) the retry makes a
// second object for the same Reservation. Keeping the lowest address is a
// deterministic choice every replica and every retry agrees on.
func (c *Client) Dedupe(ctx context.Context, kind Kind, v6 bool, uid string) (*Object, error) {
	found, err := c.Find(ctx, kind, v6, uid)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	for _, o := range found[1:] {
		if err := c.Delete(ctx, o.Ref); err != nil {
			return nil, err
		}
	}
	return &found[0], nil
}

// nextAvailable is the object function that picks the next free address
// of r's network or range.
func (c *Client) nextAvailable(r Request, v6 bool) *ibclient.IpNextAvailableInfo {
	ipType := "IPV4"
	if v6 {
		ipType = "IPV6"
	}
	params := map[string][]string{}
	if len(r.Exclude) > 0 {
		params["exclude"] = r.Exclude
	}
	info := ibclient.NewIpNextAvailableInfo(map[string]string{"network": r.Network, "network_view": c.cfg.NetworkView}, params, false, ipType)
	if r.Range != "" {
		first, last, _ := strings.Cut(r.Range, "-")
		info.Object = "range"
		if v6 {
			info.Object = "ipv6range"
		}
		info.ObjectParams = map[string]string{"start_addr": strings.TrimSpace(first), "end_addr": strings.TrimSpace(last), "network_view": c.cfg.NetworkView}
	}
	return info
}

func (c *Client) fixedAddress(r Request, v6 bool, mac string) ibclient.IBObject {
	if r.Address != "" {
		return ibclient.NewFixedAddress(c.cfg.NetworkView, "", r.Address, r.Network, mac, nil, r.EAs, "", v6, "", nil, nil, nil, nil, false, nil, false)
	}
	// The client's AllocateIP only knows "func:nextavailableip:<cidr>",
	// without exclusions: the object function form says the same with them.
	na := &ibclient.IpNextAvailable{Ea: r.EAs, NetworkView: c.cfg.NetworkView}
	if v6 {
		na.SetObjectType("ipv6fixedaddress")
		na.NextAvailableIPv6Addr = c.nextAvailable(r, true)
		na.Duid = mac
	} else {
		na.SetObjectType("fixedaddress")
		na.NextAvailableIPv4Addr = c.nextAvailable(r, false)
		na.MacAddr = mac
	}
	return na
}

func (c *Client) hostRecord(r Request, v6 bool, mac string) ibclient.IBObject {
	dns := c.cfg.DNSView != ""
	if r.Address != "" {
		h := ibclient.NewHostRecord(c.cfg.NetworkView, r.HostName, "", "", nil, nil, r.EAs, dns, c.cfg.DNSView, "", "", false, 0, "", nil, false)
		if v6 {
			h.Ipv6Addrs = []ibclient.HostRecordIpv6Addr{{Ipv6Addr: &r.Address}}
		} else {
			h.Ipv4Addrs = []ibclient.HostRecordIpv4Addr{{Ipv4Addr: &r.Address}}
		}
		return h
	}
	ipType := "IPV4"
	if v6 {
		ipType = "IPV6"
	}
	na := ibclient.NewIpNextAvailable(r.HostName, "record:host", nil, nil, false, r.EAs, "", false, nil, ipType,
		dns, false, mac, "", c.cfg.NetworkView, c.cfg.DNSView, false, 0, nil)
	info := *c.nextAvailable(r, v6)
	if v6 {
		na.NextAvailableIPv6Addrs = []ibclient.NextavailableIPv6Addrs{{NextavailableIPv6Addr: info}}
	} else {
		na.NextAvailableIPv4Addrs = []ibclient.NextavailableIPv4Addrs{{NextavailableIPv4Addr: info}}
	}
	return na
}

// AddressFromRef returns the address named by a fixed address reference,
// e.g. "fixedaddress/ZG5z...:192.0.2.10/default" (IPv6 colons escaped as
// %3A).
func AddressFromRef(ref string) (string, error) {
	_, rest, ok := strings.Cut(ref, ":")
	if !ok || !strings.Contains(ref[:strings.Index(ref, ":")], "fixedaddress/") {
		return "", &Error{Reason: ReasonUnknown, Text: "not a fixed address reference: " + ref}
	}
	name, _, _ := strings.Cut(rest, "/")
	name, err := url.PathUnescape(name)
	if err != nil {
		return "", &Error{Reason: ReasonUnknown, Text: "bad fixed address reference: " + ref}
	}
	a, err := netip.ParseAddr(name)
	if err != nil {
		return "", &Error{Reason: ReasonUnknown, Text: "no address in fixed address reference: " + ref}
	}
	return a.String(), nil
}

// refData is the object key part of a WAPI reference: base64 of NIOS's
// internal key.
var refData = regexp.MustCompile(`^[A-Za-z0-9+=_-]+$`)

// KindOfRef returns the kind of object a reference names, or an error
// saying what is wrong with it. A reference is "objtype/refdata" with an
// optional ":name/view" (informational, percent-escaped). It is appended
// to the WAPI URL, so anything that could make it name another path or add
// a query (a "/", "..", "?" or "#" where a reference has none, escaped or
// not) is refused: an external name is written by whoever may edit the
// Reservation, and the grid's credentials are not theirs to aim.
func KindOfRef(ref string) (Kind, error) {
	typ, rest, _ := strings.Cut(ref, "/")
	var kind Kind
	switch typ {
	case "fixedaddress", "ipv6fixedaddress":
		kind = KindFixedAddress
	case "record:host":
		kind = KindHostRecord
	default:
		return "", fmt.Errorf("%q is not a fixed address or host record reference", ref)
	}
	data, name, named := strings.Cut(rest, ":")
	if !refData.MatchString(data) {
		return "", fmt.Errorf("%q has no valid object key after %q", ref, typ+"/")
	}
	if !named {
		return kind, nil
	}
	parts := strings.Split(name, "/")
	if len(parts) > 2 {
		return "", fmt.Errorf("%q has more than a name and a view after the object key", ref)
	}
	for _, p := range parts {
		if strings.ContainsAny(p, "?#\\") {
			return "", fmt.Errorf("%q holds a character a reference has no use for (?, # or \\)", ref)
		}
		u, err := url.PathUnescape(p)
		if err != nil {
			return "", fmt.Errorf("%q is not properly escaped", ref)
		}
		if u == "." || u == ".." || strings.ContainsAny(u, "/?#\\") || strings.IndexFunc(u, unicode.IsControl) >= 0 {
			return "", fmt.Errorf("%q names a path, not an object", ref)
		}
	}
	return kind, nil
}

// Get reads the object ref names; nil (and no error) when it does not
// exist. One round trip.
func (c *Client) Get(ctx context.Context, ref string) (*Object, error) {
	kind, err := KindOfRef(ref)
	if err != nil {
		return nil, &Error{Reason: ReasonInvalid, Text: err.Error()}
	}
	conn := c.connector(ctx)
	var o *Object
	// No query parameters: a 404 is final, neither retried nor re-asked.
	switch kind {
	case KindFixedAddress:
		fa := emptyFixedAddress(strings.HasPrefix(ref, "ipv6"))
		var res ibclient.FixedAddress
		if err = conn.GetObject(fa, ref, nil, &res); err == nil {
			o = fixedObject(&res)
		}
	case KindHostRecord:
		h := ibclient.NewEmptyHostRecord()
		h.SetReturnFields([]string{"extattrs", "ipv4addrs", "ipv6addrs", "name", "network_view"})
		var res ibclient.HostRecord
		if err = conn.GetObject(h, ref, nil, &res); err == nil {
			o = hostObject(&res)
		}
	}
	if err != nil {
		if IsNotFound(err) || isClientNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	if o.Ref == "" {
		o.Ref = ref
	}
	return o, nil
}

func emptyFixedAddress(v6 bool) *ibclient.FixedAddress {
	fa := ibclient.NewEmptyFixedAddress(v6)
	if v6 {
		fa.SetReturnFields([]string{"extattrs", "ipv6addr", "duid", "network", "network_view"})
	} else {
		fa.SetReturnFields([]string{"extattrs", "ipv4addr", "mac", "network", "network_view"})
	}
	return fa
}

func isClientNotFound(err error) bool {
	var nf *ibclient.NotFoundError
	return errors.As(err, &nf)
}

func fixedObject(fa *ibclient.FixedAddress) *Object {
	o := &Object{Ref: fa.Ref, Kind: KindFixedAddress, Address: fa.IPv4Address, Network: fa.Cidr, NetworkView: fa.NetviewName, EAs: fa.Ea}
	if o.Address == "" {
		o.Address = fa.IPv6Address
		o.MAC = fa.Duid
	} else if fa.Mac != nil {
		o.MAC = *fa.Mac
	}
	return o
}

func hostObject(h *ibclient.HostRecord) *Object {
	o := &Object{Ref: h.Ref, Kind: KindHostRecord, NetworkView: h.NetworkView, EAs: h.Ea}
	if h.Name != nil {
		o.HostName = *h.Name
	}
	for _, a := range h.Ipv4Addrs {
		if a.Ipv4Addr != nil && o.Address == "" {
			o.Address = *a.Ipv4Addr
			if a.Mac != nil {
				o.MAC = *a.Mac
			}
		}
	}
	for _, a := range h.Ipv6Addrs {
		if a.Ipv6Addr != nil && o.Address == "" {
			o.Address = *a.Ipv6Addr
		}
	}
	return o
}

// Find returns every object of kind (and family) tagged with uid, lowest
// address first. One round trip.
func (c *Client) Find(ctx context.Context, kind Kind, v6 bool, uid string) ([]Object, error) {
	conn := c.connector(ctx)
	sf := map[string]string{"*" + EAReservationUID: uid, "network_view": c.cfg.NetworkView}
	var out []Object
	switch kind {
	case KindHostRecord:
		h := ibclient.NewEmptyHostRecord()
		h.SetReturnFields([]string{"extattrs", "ipv4addrs", "ipv6addrs", "name", "network_view"})
		var res []ibclient.HostRecord
		if err := conn.GetObject(h, "", ibclient.NewQueryParams(true, sf), &res); err != nil && !isClientNotFound(err) {
			return nil, err
		}
		for i := range res {
			out = append(out, *hostObject(&res[i]))
		}
	default:
		fa := emptyFixedAddress(v6)
		var res []ibclient.FixedAddress
		if err := conn.GetObject(fa, "", ibclient.NewQueryParams(true, sf), &res); err != nil && !isClientNotFound(err) {
			return nil, err
		}
		for i := range res {
			out = append(out, *fixedObject(&res[i]))
		}
	}
	sortObjects(out)
	return out, nil
}

func sortObjects(objs []Object) {
	key := func(o Object) netip.Addr {
		a, _ := netip.ParseAddr(o.Address)
		return a
	}
	for i := 1; i < len(objs); i++ {
		for j := i; j > 0 && key(objs[j]).Less(key(objs[j-1])); j-- {
			objs[j], objs[j-1] = objs[j-1], objs[j]
		}
	}
}

// tags is the body of a PUT adding extensible attributes to an object:
// WAPI merges "extattrs+" with those the object has, which stay.
type tags struct {
	ibclient.IBBase `json:"-"`
	objectType      string
	Add             ibclient.EA `json:"extattrs+"`
}

func (t *tags) ObjectType() string { return t.objectType }

// Tag adds ea to the extensible attributes of the object ref names,
// keeping the others (an attribute of the same name takes ea's value). One
// round trip.
func (c *Client) Tag(ctx context.Context, ref string, ea ibclient.EA) error {
	if _, err := KindOfRef(ref); err != nil {
		return &Error{Reason: ReasonInvalid, Text: err.Error()}
	}
	typ, _, _ := strings.Cut(ref, "/")
	_, err := c.connector(ctx).UpdateObject(&tags{objectType: typ, Add: ea}, ref)
	return err
}

// Delete deletes the object ref names. One that does not exist is already
// deleted.
func (c *Client) Delete(ctx context.Context, ref string) error {
	if _, err := KindOfRef(ref); err != nil {
		return &Error{Reason: ReasonInvalid, Text: err.Error()}
	}
	if _, err := c.connector(ctx).DeleteObject(ref); err != nil && !IsNotFound(err) && !isClientNotFound(err) {
		return err
	}
	return nil
}

// Gateway returns the routers DHCP option (option 3) of an IPv4 network,
// "" when it has none, cached for a few minutes. One round trip when not
// cached.
func (c *Client) Gateway(ctx context.Context, network string) (string, error) {
	if strings.Contains(network, ":") {
		return "", nil // IPv6 routers are announced, not configured in DHCP.
	}
	c.mu.Lock()
	if e, ok := c.gateways[network]; ok && time.Now().Before(e.expires) {
		c.mu.Unlock()
		return e.gateway, nil
	}
	// Concurrent reservations in one network share one lookup.
	if f, ok := c.lookups[network]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.gateway, f.err
		case <-ctx.Done():
			return "", classifyTransport(ctx.Err())
		}
	}
	f := &lookup{done: make(chan struct{})}
	c.lookups[network] = f
	c.mu.Unlock()
	f.gateway, f.err = c.lookupGateway(ctx, network)
	c.mu.Lock()
	delete(c.lookups, network)
	if f.err == nil {
		c.gateways[network] = gatewayEntry{gateway: f.gateway, expires: time.Now().Add(gatewayTTL)}
	}
	c.mu.Unlock()
	close(f.done)
	return f.gateway, f.err
}

// lookup is a gateway lookup in flight.
type lookup struct {
	done    chan struct{}
	gateway string
	err     error
}

func (c *Client) lookupGateway(ctx context.Context, network string) (string, error) {
	n := &ibclient.Ipv4Network{}
	n.SetReturnFields([]string{"network", "options"})
	var res []ibclient.Ipv4Network
	sf := map[string]string{"network": network, "network_view": c.cfg.NetworkView}
	if err := c.connector(ctx).GetObject(n, "", ibclient.NewQueryParams(true, sf), &res); err != nil && !isClientNotFound(err) {
		return "", err
	}
	if len(res) == 0 {
		return "", &Error{Reason: ReasonNotFound, Text: fmt.Sprintf("network %s not found in network view %s", network, c.cfg.NetworkView)}
	}
	return routers(res[0].Options), nil
}

// routers returns the first address of the routers option.
func routers(opts []*ibclient.Dhcpoption) string {
	for _, o := range opts {
		if o != nil && (o.Name == "routers" || o.Num == 3) {
			first, _, _ := strings.Cut(o.Value, ",")
			return strings.TrimSpace(first)
		}
	}
	return ""
}
