// Command function runs function-provider-ipam, the composition function
// behind k0rdent's ClusterIPAMClaim, ClusterIPAM and ClusterDeployment: it
// composes a claim's ClusterIPAM, a ClusterIPAM's in-cluster or Infoblox
// Reservations and CAPI pool, and a deployment's claim and cluster objects,
// and writes back their status (package internal/function).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	function "github.com/crossplane/function-sdk-go"

	fn "github.com/provider-ipam/provider-ipam/internal/function"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "function-provider-ipam:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		network  = flag.String("network", "tcp", "Network on which to listen for gRPC connections.")
		address  = flag.String("address", ":9443", "Address at which to listen for gRPC connections.")
		certsDir = flag.String("tls-certs-dir", os.Getenv("TLS_SERVER_CERTS_DIR"), "Directory holding the server's tls.crt, tls.key and the client CA ca.crt (default $TLS_SERVER_CERTS_DIR).")
		insecure = flag.Bool("insecure", false, "Serve without mTLS (local development only).")
		debug    = flag.Bool("debug", false, "Log at debug level.")
	)
	flag.Parse()

	log, err := function.NewLogger(*debug)
	if err != nil {
		return fmt.Errorf("cannot create logger: %w", err)
	}
	if !*insecure && *certsDir == "" {
		return errors.New("--tls-certs-dir (or TLS_SERVER_CERTS_DIR) is required unless --insecure is set")
	}
	log.Info("Serving", "network", *network, "address", *address, "insecure", *insecure)
	if err := function.Serve(&fn.Function{Log: log},
		function.Listen(*network, *address),
		function.MTLSCertificates(*certsDir),
		function.Insecure(*insecure),
	); err != nil {
		return fmt.Errorf("cannot serve: %w", err)
	}
	return nil
}
