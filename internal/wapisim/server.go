package wapisim

import (
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultVersion is the WAPI version ClientConfig uses unless
// Config.Version says otherwise. The server accepts any version.
const DefaultVersion = "2.12.3"

// maxBodySize bounds request bodies.
const maxBodySize = 8 << 20

// Config configures a Server.
type Config struct {
	// Username and Password are the only credentials basic authentication
	// accepts.
	Username, Password string
	// Version is the WAPI version ClientConfig gives the client.
	Version string
	// PlainHTTP serves plain HTTP instead of HTTPS.
	PlainHTTP bool
	// RequireEADefinitions rejects extensible attributes that have no
	// extensibleattributedef, as a real grid does. By default any
	// attribute is accepted.
	RequireEADefinitions bool
	// FaultSeed seeds the choice of which requests probabilistic faults
	// hit, so that runs are repeatable.
	FaultSeed uint64
	// Logf, if set, receives a line per request and the HTTP server's
	// errors.
	Logf func(format string, args ...any)
}

// Server is an in-memory Infoblox WAPI emulator. Its methods are safe for
// concurrent use.
type Server struct {
	cfg    Config
	mu     sync.Mutex // guards db; held for the whole of each request
	db     *db
	faults faultSet
	stats  stats

	// inflight counts requests being served, for WaitIdle.
	inflightMu sync.Mutex
	inflight   int
	idle       *sync.Cond

	closeOnce sync.Once
	closed    chan struct{}
	srv       *http.Server
	addr      *net.TCPAddr
	ca        *certAuthority
	caFile    string
}

// New returns a server with an empty grid holding only the default network
// view. Call Start, or use NewTestServer, to serve it.
func New(cfg Config) *Server {
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	s := &Server{cfg: cfg, db: newDB(cfg.RequireEADefinitions), closed: make(chan struct{})}
	s.idle = sync.NewCond(&s.inflightMu)
	s.faults.rnd = rand.New(rand.NewPCG(cfg.FaultSeed, cfg.FaultSeed+1))
	return s
}

// TB is the part of testing.TB that NewTestServer needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// NewTestServer starts a server on a free port of 127.0.0.1 and closes it
// when the test ends.
func NewTestServer(t TB, cfg Config) *Server {
	t.Helper()
	s := New(cfg)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("wapisim: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Start serves on addr, which must be a loopback address. With TLS (the
// default) it generates a CA and a certificate for 127.0.0.1, ::1 and
// localhost, and writes the CA to the file CAFile names.
func (s *Server) Start(addr string) error {
	if s.srv != nil {
		return errors.New("wapisim: server already started")
	}
	if err := checkLoopback(addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.addr = ln.Addr().(*net.TCPAddr)
	if !s.cfg.PlainHTTP {
		if err := s.setupTLS(); err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{s.ca.cert}, MinVersion: tls.VersionTLS12})
	}
	errLog := log.New(io.Discard, "", 0)
	if s.cfg.Logf != nil {
		errLog = log.New(logWriter(s.cfg.Logf), "", 0)
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          errLog,
		// HTTP/1.1 only: connection faults hijack the connection, which
		// HTTP/2 does not allow. The client speaks HTTP/1.1 anyway.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	go s.srv.Serve(ln)
	return nil
}

func (s *Server) setupTLS() error {
	ca, err := newCertAuthority()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "wapisim-ca-*.pem")
	if err != nil {
		return err
	}
	_, err = f.Write(ca.caPEM)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	s.ca, s.caFile = ca, f.Name()
	return nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("wapisim: refusing to listen on %q: only loopback addresses are allowed", addr)
}

// Close stops the server, drops its connections and removes the CA file.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.srv != nil {
			err = s.srv.Close()
		}
		if s.caFile != "" {
			os.Remove(s.caFile)
		}
	})
	return err
}

// URL is the server's base URL, e.g. "https://127.0.0.1:40123".
func (s *Server) URL() string {
	scheme := "https"
	if s.cfg.PlainHTTP {
		scheme = "http"
	}
	return scheme + "://" + net.JoinHostPort(s.Host(), s.Port())
}

// Host is the IP address the server listens on.
func (s *Server) Host() string { return s.addr.IP.String() }

// Port is the TCP port the server listens on.
func (s *Server) Port() string { return fmt.Sprint(s.addr.Port) }

// CACertPEM is the PEM certificate of the CA that signed the server's
// certificate; nil for plain HTTP.
func (s *Server) CACertPEM() []byte {
	if s.ca == nil {
		return nil
	}
	return s.ca.caPEM
}

// CAFile is the path of a file holding CACertPEM, for clients that take a
// path (ibclient.NewTransportConfig does). It is removed by Close.
func (s *Server) CAFile() string { return s.caFile }

// WaitIdle blocks until the server is serving no request. Tests use it to
// let requests whose client already gave up (a timeout, a dropped
// connection) finish before they inspect the state.
func (s *Server) WaitIdle() {
	s.inflightMu.Lock()
	defer s.inflightMu.Unlock()
	for s.inflight > 0 {
		s.idle.Wait()
	}
}

func (s *Server) track(delta int) {
	s.inflightMu.Lock()
	defer s.inflightMu.Unlock()
	s.inflight += delta
	if s.inflight == 0 {
		s.idle.Broadcast()
	}
}

// ServeHTTP serves WAPI requests under /wapi/v<version>/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.track(1)
	defer s.track(-1)
	rest, ok := wapiPath(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	object, _, _ := strings.Cut(rest, "/")
	s.stats.add(r.Method, object)
	act := s.faults.decide(r.Method, object)
	if !s.pause(act.delay) {
		abort(w)
		return
	}
	if act.kind != 0 {
		s.logf("%s %s: injected %v fault", r.Method, r.URL.RequestURI(), act.kind)
	}
	switch act.kind {
	case FaultDrop:
		abort(w)
		return
	case FaultStatus:
		writeStatusPage(w, act.code)
		return
	case FaultAuth:
		writeAuthFailure(w)
		return
	}
	if !s.authorized(r) {
		s.logf("%s %s: 401", r.Method, r.URL.RequestURI())
		writeAuthFailure(w)
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodySize))
	if err != nil {
		abort(w)
		return
	}
	res := s.handle(r.Method, rest, r.URL.Query(), raw)
	s.logf("%s %s: %d", r.Method, r.URL.RequestURI(), res.status)
	if act.kind == FaultLoseResponse {
		abort(w)
		return
	}
	if res.ctype != "" {
		w.Header().Set("Content-Type", res.ctype)
	}
	w.WriteHeader(res.status)
	w.Write(res.body)
}

// wapiPath returns the part of a path after "/wapi/v<version>/".
func wapiPath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/wapi/v")
	if !ok {
		return "", false
	}
	version, rest, ok := strings.Cut(rest, "/")
	return rest, ok && version != "" && rest != ""
}

func (s *Server) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	return ok &&
		subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.Username)) == 1 &&
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.Password)) == 1
}

// pause waits d, or less if the server closes; it reports whether the full
// delay passed.
func (s *Server) pause(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closed:
		return false
	}
}

// abort closes the connection without sending a response.
func abort(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	// net/http's documented way for a handler to abort a response it
	// cannot hijack; the server recovers it and closes the connection.
	panic(http.ErrAbortHandler)
}

func writeStatusPage(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", "text/html; charset=iso-8859-1")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>%d %s</title>\n</head><body>\n<h1>%s</h1>\n</body></html>\n",
		code, http.StatusText(code), http.StatusText(code))
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// logWriter adapts Config.Logf to the http.Server's error log.
type logWriter func(format string, args ...any)

func (f logWriter) Write(p []byte) (int, error) {
	f("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
