package main

import (
	"crypto/x509"
	"io/fs"
	"os"
	"os/exec"
	"testing"

	"k8s.io/utils/ptr"
)

func TestLeaderElectionDefaults(t *testing.T) {
	cases := map[string]struct {
		env      map[string]string
		saFile   string // the service account's namespace file, "" if absent
		wantNS   string
		wantOn   bool
		wantErr  bool
		explicit *bool // --leader-election given on the command line
		rate     *int  // --max-reconcile-rate, 20 if nil
		flagsErr bool
	}{
		"Crossplane's Deployment: POD_NAMESPACE": {env: map[string]string{"POD_NAMESPACE": "crossplane-system"}, wantNS: "crossplane-system", wantOn: true},
		"a pod without POD_NAMESPACE":            {saFile: "ipam\n", wantNS: "ipam", wantOn: true},
		"POD_NAMESPACE wins over the file":       {env: map[string]string{"POD_NAMESPACE": "a"}, saFile: "b", wantNS: "a", wantOn: true},
		"outside a pod":                          {wantOn: false},
		"LEADER_ELECTION=false in a pod":         {env: map[string]string{"POD_NAMESPACE": "x", "LEADER_ELECTION": "false"}, wantNS: "x", wantOn: false},
		"LEADER_ELECTION=true outside a pod":     {env: map[string]string{"LEADER_ELECTION": "true"}, wantOn: true, flagsErr: true},
		"LEADER_ELECTION malformed":              {env: map[string]string{"POD_NAMESPACE": "x", "LEADER_ELECTION": "yes please"}, wantNS: "x", wantErr: true},
		"--leader-election outside a pod":        {explicit: ptr.To(true), flagsErr: true},
		"--leader-election=false in a pod":       {env: map[string]string{"POD_NAMESPACE": "x"}, wantNS: "x", wantOn: true, explicit: ptr.To(false)},
		"--max-reconcile-rate=0":                 {rate: ptr.To(0), flagsErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			readFile := func(p string) ([]byte, error) {
				if p != serviceAccountNamespace || tc.saFile == "" {
					return nil, fs.ErrNotExist
				}
				return []byte(tc.saFile), nil
			}
			ns := podNamespace(getenv, readFile)
			if ns != tc.wantNS {
				t.Errorf("namespace %q, want %q", ns, tc.wantNS)
			}
			on, err := leaderElectionDefault(getenv, ns)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if on != tc.wantOn {
				t.Errorf("leader election %v by default, want %v", on, tc.wantOn)
			}
			if tc.explicit != nil {
				on = *tc.explicit
			}
			rate := 20
			if tc.rate != nil {
				rate = *tc.rate
			}
			err = checkFlags(on, ns, rate)
			if (err != nil) != tc.flagsErr {
				t.Errorf("checkFlags(%v, %q, %d) = %v, want error %v", on, ns, rate, err, tc.flagsErr)
			}
		})
	}
}

// The runtime image has no CA bundle: the provider must still trust the
// public roots. The test runs itself again where the system's bundle
// cannot be found, as in the image, and counts the roots Go falls back on.
func TestPublicRootsWithoutASystemBundle(t *testing.T) {
	if os.Getenv("PROVIDER_IPAM_ROOTS_CHILD") == "1" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			t.Fatal(err)
		}
		//nolint:staticcheck // Subjects counts the pool; nothing else lists it.
		if n := len(pool.Subjects()); n < 100 {
			t.Fatalf("%d roots without a system bundle, want Mozilla's", n)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPublicRootsWithoutASystemBundle$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PROVIDER_IPAM_ROOTS_CHILD=1", "SSL_CERT_FILE=/nonexistent/ca.crt", "SSL_CERT_DIR=/nonexistent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
