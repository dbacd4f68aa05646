// Command wapisim runs the Infoblox WAPI emulator of package
// internal/wapisim on a loopback address until interrupted.
//
// Example:
//
//	wapisim -network default/192.0.2.0/24,gateway=192.0.2.1 \
//	        -network lab/2001:db8::/64 -range default/192.0.2.100-192.0.2.150
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var (
		listen    = flag.String("listen", "127.0.0.1:8443", "loopback address to listen on")
		username  = flag.String("username", "admin", "basic auth user name")
		password  = flag.String("password", "infoblox", "basic auth password")
		useTLS    = flag.Bool("tls", true, "serve HTTPS with a generated CA (false: plain HTTP)")
		caFile    = flag.String("ca-file", "", "also write the CA certificate to this file")
		eaDefs    = flag.Bool("require-ea-definitions", false, "reject extensible attributes that are not defined, as a grid does")
		verbose   = flag.Bool("v", false, "log every request")
		networks  listFlag
		ranges    listFlag
		eaDefList listFlag
	)
	flag.Var(&networks, "network", "seed a network: view/cidr[,gateway=IP][,comment=text] (repeatable)")
	flag.Var(&ranges, "range", "seed a DHCP range: view/start-end (repeatable)")
	flag.Var(&eaDefList, "ea-definition", "seed an extensible attribute definition: name[:TYPE] (repeatable)")
	flag.Parse()
	log.SetFlags(log.LstdFlags)

	cfg := wapisim.Config{Username: *username, Password: *password, PlainHTTP: !*useTLS, RequireEADefinitions: *eaDefs}
	if *verbose {
		cfg.Logf = log.Printf
	}
	srv := wapisim.New(cfg)
	if err := seed(srv, networks, ranges, eaDefList); err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(*listen); err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	fmt.Printf("WAPI emulator listening on %s/wapi/v%s/ (user %q)\n", srv.URL(), wapisim.DefaultVersion, *username)
	if *useTLS {
		path := srv.CAFile()
		if *caFile != "" {
			if err := os.WriteFile(*caFile, srv.CACertPEM(), 0o644); err != nil {
				log.Fatal(err)
			}
			path = *caFile
		}
		fmt.Printf("CA certificate: %s\n", path)
		fmt.Printf("Try: curl --cacert %s -u %s:%s '%s/wapi/v%s/network'\n", path, *username, *password, srv.URL(), wapisim.DefaultVersion)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	fmt.Println("shutting down")
}

// seed creates the views, networks, ranges and attribute definitions given
// on the command line. Views named by networks are created as needed.
func seed(srv *wapisim.Server, networks, ranges, eaDefs []string) error {
	for _, d := range eaDefs {
		name, typ, ok := strings.Cut(d, ":")
		if !ok {
			typ = "STRING"
		}
		if _, err := srv.AddEADefinition(name, typ); err != nil {
			return fmt.Errorf("-ea-definition %s: %w", d, err)
		}
	}
	views := map[string]bool{"default": true}
	ensureView := func(name string) error {
		if views[name] {
			return nil
		}
		views[name] = true
		_, err := srv.AddNetworkView(name, nil)
		return err
	}
	for _, n := range networks {
		view, spec, ok := strings.Cut(n, "/")
		if !ok {
			return fmt.Errorf("-network %s: want view/cidr[,gateway=IP]", n)
		}
		cidr, opts, _ := strings.Cut(spec, ",")
		var no wapisim.NetworkOptions
		if opts != "" {
			for _, kv := range strings.Split(opts, ",") {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "gateway":
					no.Gateway = v
				case "comment":
					no.Comment = v
				default:
					return fmt.Errorf("-network %s: unknown option %q", n, k)
				}
			}
		}
		if err := ensureView(view); err != nil {
			return fmt.Errorf("-network %s: %w", n, err)
		}
		if _, err := srv.AddNetwork(view, cidr, no); err != nil {
			return fmt.Errorf("-network %s: %w", n, err)
		}
	}
	for _, r := range ranges {
		view, span, ok := strings.Cut(r, "/")
		start, end, ok2 := strings.Cut(span, "-")
		if !ok || !ok2 {
			return fmt.Errorf("-range %s: want view/start-end", r)
		}
		if _, err := srv.AddRange(view, start, end, wapisim.RangeOptions{}); err != nil {
			return fmt.Errorf("-range %s: %w", r, err)
		}
	}
	return nil
}
