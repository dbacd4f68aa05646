// Command vcsim serves govmomi's simulated vCenter (the VPX model: one
// datacenter DC0, cluster DC0_C0, datastore LocalDS_0, network "VM Network"
// and VMs that can be cloned as templates) on a loopback address, for CAPV to
// provision machines against. govmomi's own vcsim command lives in a nested
// module without release tags, so it cannot be pinned; this wraps the same
// simulator package from the pinned govmomi module.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	// Registering these serves the REST API (tags, cluster modules) that
	// CAPV's manager uses besides the SOAP SDK.
	_ "github.com/vmware/govmomi/vapi/cluster/simulator"
	_ "github.com/vmware/govmomi/vapi/simulator"
)

// info is what a client needs to connect, written as JSON once serving.
type info struct {
	URL        string `json:"url"`
	Server     string `json:"server"`
	Username   string `json:"username"`
	Password   string `json:"password"`
	Thumbprint string `json:"thumbprint"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8989", "host:port to serve the vCenter SDK on")
	username := flag.String("username", "user", "login user name")
	password := flag.String("password", "pass", "login password")
	infoFile := flag.String("info", "", "file to write the connection details to as JSON once serving (default: standard output)")
	flag.Parse()
	if err := run(*listen, *username, *password, *infoFile); err != nil {
		fmt.Fprintln(os.Stderr, "vcsim:", err)
		os.Exit(1)
	}
}

func run(listen, username, password, infoFile string) error {
	model := simulator.VPX()
	if err := model.Create(); err != nil {
		return fmt.Errorf("cannot create the inventory: %w", err)
	}
	defer model.Remove()

	model.Service.Listen = &url.URL{Host: listen, User: url.UserPassword(username, password)}
	// An empty TLS configuration makes the server use its built-in
	// certificate for 127.0.0.1 and ::1; clients pin it by thumbprint.
	model.Service.TLS = new(tls.Config)
	model.Service.RegisterEndpoints = true
	server := model.Service.NewServer()
	defer server.Close()

	out, err := json.Marshal(info{
		URL:        server.URL.String(),
		Server:     server.URL.Host,
		Username:   username,
		Password:   password,
		Thumbprint: server.CertificateInfo().ThumbprintSHA1,
	})
	if err != nil {
		return err
	}
	out = append(out, '\n')
	if infoFile == "" {
		_, err = os.Stdout.Write(out)
	} else {
		// Written whole then renamed, so that a reader never sees half.
		tmp := infoFile + ".tmp"
		if err = os.WriteFile(tmp, out, 0o600); err == nil {
			err = os.Rename(tmp, infoFile)
		}
	}
	if err != nil {
		return fmt.Errorf("cannot write the connection details: %w", err)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	return nil
}
