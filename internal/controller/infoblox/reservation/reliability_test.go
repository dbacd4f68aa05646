package reservation_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	"github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	ibclient "github.com/provider-ipam/provider-ipam/internal/clients/infoblox"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

// The reliability tests of this file reserve from 10.202.0.0/16, which no
// other test of this package uses.

// TestInfobloxAdmission: malformed Infoblox Reservations, ProviderConfigs
// and ClusterProviderConfigs, and changes to what shapes the object in the
// grid, are refused by the API server with a message naming the rule.
func TestInfobloxAdmission(t *testing.T) {
	ns := namespace(t)
	const res = "apiVersion: infoblox.ipam.provider-ipam.io/v1alpha1\nkind: Reservation\n"
	// Observe only: nothing happens in any grid.
	const observed = "managementPolicies: [Observe], providerConfigRef: {kind: ProviderConfig, name: none}"
	const pc = "apiVersion: infoblox.ipam.provider-ipam.io/v1alpha1\nkind: ProviderConfig\n"
	const cpc = "apiVersion: infoblox.ipam.provider-ipam.io/v1alpha1\nkind: ClusterProviderConfig\n"
	t.Run("Reservation", func(t *testing.T) {
		testenv.CheckAdmission(t, kube, ns, map[string]testenv.AdmissionCase{
			"NeitherNetworkNorAddress": {Obj: res + "spec: {forProvider: {}}",
				Want: "spec.forProvider: Invalid value: set network, address, or both"},
			"HostRecordWithoutHostName": {Obj: res + "spec: {forProvider: {network: 10.202.0.0/24, recordType: HostRecord}}",
				Want: "hostName is required with recordType HostRecord"},
			"NetworkWithHostBits": {Obj: res + "spec: {forProvider: {network: 10.202.0.1/24}}",
				Want: `spec.forProvider.network: Invalid value: "10.202.0.1/24": must be a CIDR without host bits`},
			"NetworkPrefixBeyond32": {Obj: res + "spec: {forProvider: {network: 10.202.0.0/33}}",
				Want: `spec.forProvider.network: Invalid value: "10.202.0.0/33": must be a CIDR without host bits`},
			"RangeNotARange": {Obj: res + "spec: {forProvider: {network: 10.202.0.0/24, range: 10.202.0.10}}",
				Want: `spec.forProvider.range: Invalid value: "10.202.0.10": must be a range first-last`},
			"RangeOfNames": {Obj: res + "spec: {forProvider: {network: 10.202.0.0/24, range: first-last}}",
				Want: `spec.forProvider.range: Invalid value: "first-last": must be a range first-last`},
			"AddressWithExclude": {Obj: res + "spec: {forProvider: {address: 10.202.0.10, exclude: [10.202.0.11]}}",
				Want: "range and exclude choose among free addresses: they do not go with a specific address"},
			"AddressWithRange": {Obj: res + "spec: {forProvider: {address: 10.202.0.10, network: 10.202.0.0/24, range: 10.202.0.10-10.202.0.20}}",
				Want: "range and exclude choose among free addresses: they do not go with a specific address"},
			"MACNotAMAC": {Obj: res + "spec: {forProvider: {network: 10.202.0.0/24, mac: zz}}",
				Want: "spec.forProvider.mac in body should match '^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$'"},
			"UnknownRecordType": {Obj: res + "spec: {forProvider: {network: 10.202.0.0/24, recordType: ARecord}}",
				Want: `spec.forProvider.recordType: Unsupported value: "ARecord": supported values: "FixedAddress", "HostRecord"`},
			"AddressNotAnIP": {Obj: res + "spec: {forProvider: {address: 10.202.0.300}}",
				Want: `spec.forProvider.address: Invalid value: "10.202.0.300": must be an IP address`},
			"ExcludeEntryNotAnIP": {Obj: res + "spec: {forProvider: {network: 10.202.0.0/24, exclude: [10.202.0.0/28]}}",
				Want: `spec.forProvider.exclude[0]: Invalid value: "10.202.0.0/28": must be an IP address`},
			"ExcludeRepeatsAnAddress": {Obj: res + "spec: {forProvider: {network: 10.202.0.0/24, exclude: [10.202.0.5, 10.202.0.5]}}",
				Want: `spec.forProvider.exclude[1]: Duplicate value: "10.202.0.5"`},
			"TooManyExcludes": {Obj: res + "spec: {forProvider: {network: 10.202.0.0/16, exclude: " + testenv.FlowList(257, "10.202.%d.1") + "}}",
				Want: "spec.forProvider.exclude: Too many: 257: must have at most 256 items"},
			"GatewayNotAnIP": {Obj: res + "spec: {forProvider: {network: 10.202.0.0/24, gateway: router}}",
				Want: `spec.forProvider.gateway: Invalid value: "router": must be an IP address`},
			"PrefixBeyond128": {Obj: res + "spec: {forProvider: {network: 10.202.0.0/24, prefix: 129}}",
				Want: "spec.forProvider.prefix in body should be less than or equal to 128"},
			"HostNameTooLong": {Obj: res + "spec: {forProvider: {network: 10.202.0.0/24, recordType: HostRecord, hostName: " + strings.Repeat("h", 254) + "}}",
				Want: "spec.forProvider.hostName: Too long: may not be more than 253 bytes"},
			"NetworkChanged": {Old: res + "spec: {forProvider: {network: 10.202.0.0/24}, " + observed + "}",
				Patch: `{"spec":{"forProvider":{"network":"10.202.1.0/24"}}}`, Want: "network is immutable"},
			"AddressChanged": {Old: res + "spec: {forProvider: {address: 10.202.0.10}, " + observed + "}",
				Patch: `{"spec":{"forProvider":{"address":"10.202.0.11"}}}`, Want: "address is immutable"},
			"RangeChanged": {Old: res + "spec: {forProvider: {network: 10.202.0.0/24, range: 10.202.0.10-10.202.0.20}, " + observed + "}",
				Patch: `{"spec":{"forProvider":{"range":"10.202.0.10-10.202.0.30"}}}`, Want: "range is immutable"},
			"RecordTypeChanged": {Old: res + "spec: {forProvider: {network: 10.202.0.0/24}, " + observed + "}",
				Patch: `{"spec":{"forProvider":{"recordType":"HostRecord","hostName":"node-1"}}}`, Want: "recordType is immutable"},
			"HostNameChanged": {Old: res + "spec: {forProvider: {network: 10.202.0.0/24, recordType: HostRecord, hostName: node-1}, " + observed + "}",
				Patch: `{"spec":{"forProvider":{"hostName":"node-2"}}}`, Want: "hostName is immutable"},
			"ExcludeChanged": {Old: res + "spec: {forProvider: {network: 10.202.0.0/24, exclude: [10.202.0.5]}, " + observed + "}",
				Patch: `{"spec":{"forProvider":{"exclude":["10.202.0.6"]}}}`, Want: "exclude is immutable"},
			"MACChanged": {Old: res + "spec: {forProvider: {network: 10.202.0.0/24}, " + observed + "}",
				Patch: `{"spec":{"forProvider":{"mac":"00:11:22:33:44:55"}}}`, Want: "mac is immutable"},
			"ClusterChanged": {Old: res + "spec: {forProvider: {network: 10.202.0.0/24, cluster: a}, " + observed + "}",
				Patch: `{"spec":{"forProvider":{"cluster":"b"}}}`, Want: "cluster is immutable"},
			"ClaimChanged": {Old: res + "spec: {forProvider: {network: 10.202.0.0/24, claim: a}, " + observed + "}",
				Patch: `{"spec":{"forProvider":{"claim":"b"}}}`, Want: "claim is immutable"},
		})
	})
	const creds = "credentials: {secretRef: {name: creds}}"
	t.Run("ProviderConfig", func(t *testing.T) {
		testenv.CheckAdmission(t, kube, ns, map[string]testenv.AdmissionCase{
			"EmptyHost": {Obj: pc + "spec: {host: \"\", " + creds + "}",
				Want: "spec.host in body should be at least 1 chars long"},
			"HostTooLong": {Obj: pc + "spec: {host: " + strings.Repeat("h", 254) + ", " + creds + "}",
				Want: "spec.host: Too long: may not be more than 253 bytes"},
			"NoCredentials": {Obj: pc + "spec: {host: grid.example.com}",
				Want: "spec.credentials: Required value"},
			"PortZero": {Obj: pc + "spec: {host: grid.example.com, port: 0, " + creds + "}",
				Want: "spec.port in body should be greater than or equal to 1"},
			"PortAbove65535": {Obj: pc + "spec: {host: grid.example.com, port: 70000, " + creds + "}",
				Want: "spec.port in body should be less than or equal to 65535"},
			"VersionNotANumber": {Obj: pc + "spec: {host: grid.example.com, version: latest, " + creds + "}",
				Want: `spec.version in body should match '^[0-9]+\.[0-9]+(\.[0-9]+)?$'`},
			"NetworkViewTooLong": {Obj: pc + "spec: {host: grid.example.com, networkView: " + strings.Repeat("v", 65) + ", " + creds + "}",
				Want: "spec.networkView: Too long: may not be more than 64 bytes"},
			"TwoCABundles": {Obj: pc + "spec: {host: grid.example.com, " + creds + ", tls: {caBundle: PEM, caBundleSecretRef: {name: ca, key: ca.crt}}}",
				Want: "spec.tls: Invalid value: set at most one of caBundle and caBundleSecretRef"},
			// Accepted, it stopped the provider's cache from reading any
			// ProviderConfig of any namespace.
			"RequestTimeoutNotADuration": {Obj: pc + "spec: {host: grid.example.com, requestTimeout: soon, " + creds + "}",
				Want: `spec.requestTimeout: Invalid value: "soon": spec.requestTimeout in body should match`},
			"RequestTimeoutNegative": {Obj: pc + "spec: {host: grid.example.com, requestTimeout: -1s, " + creds + "}",
				Want: `spec.requestTimeout: Invalid value: "-1s": spec.requestTimeout in body should match`},
		})
	})
	t.Run("ClusterProviderConfig", func(t *testing.T) {
		testenv.CheckAdmission(t, kube, "", map[string]testenv.AdmissionCase{
			"TwoCABundles": {Obj: cpc + "spec: {host: grid.example.com, credentials: {secretRef: {name: creds, namespace: system}}, tls: {caBundle: PEM, caBundleSecretRef: {name: ca, namespace: system, key: ca.crt}}}",
				Want: "spec.tls: Invalid value: set at most one of caBundle and caBundleSecretRef"},
			"CredentialsWithoutNamespace": {Obj: cpc + "spec: {host: grid.example.com, credentials: {secretRef: {name: creds}}}",
				Want: "spec.credentials.secretRef.namespace: Required value"},
			"PortAbove65535": {Obj: cpc + "spec: {host: grid.example.com, port: 65536, credentials: {secretRef: {name: creds, namespace: system}}}",
				Want: "spec.port in body should be less than or equal to 65535"},
			"RequestTimeoutNotADuration": {Obj: cpc + "spec: {host: grid.example.com, requestTimeout: 5 minutes, credentials: {secretRef: {name: creds, namespace: system}}}",
				Want: `spec.requestTimeout: Invalid value: "5 minutes": spec.requestTimeout in body should match`},
		})
	})
}

// letGo deletes Reservation ns/name, which holds nothing, without waiting
// for a grid it cannot reach: its finalizer is removed.
func letGo(t *testing.T, ns, name string) {
	t.Helper()
	ctx := context.Background()
	r := &v1alpha1.Reservation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := kube.Delete(ctx, r); client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &v1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKeyFromObject(r), cur); err != nil {
			return err
		}
		cur.SetFinalizers(nil)
		return kube.Update(ctx, cur)
	})
	if client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, name)
}

// gridConfig is how a fault case's ProviderConfig reaches its grid.
type gridConfig struct {
	host     string
	port     int
	password string
	// secret is the credentials Secret's data; nil: username and password.
	secret map[string]string
	tls    *v1alpha1.LocalTLS
	view   string
	// timeout is the requestTimeout; 0: the default.
	timeout time.Duration
}

// applyProviderConfig creates or updates ProviderConfig pcName of ns and
// its credentials Secret as c says.
func applyProviderConfig(t *testing.T, ns string, c gridConfig) {
	t.Helper()
	ctx := context.Background()
	data := c.secret
	if data == nil {
		data = map[string]string{"username": wapiUser, "password": c.password}
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pcName + "-credentials"}, StringData: data}
	if err := kube.Create(ctx, s); kerrors.IsAlreadyExists(err) {
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur := &corev1.Secret{}
			if err := kube.Get(ctx, client.ObjectKeyFromObject(s), cur); err != nil {
				return err
			}
			cur.Data, cur.StringData = nil, data
			return kube.Update(ctx, cur)
		})
		if err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	spec := v1alpha1.ProviderConfigSpec{
		Endpoint:    v1alpha1.Endpoint{Host: c.host, Port: int32(c.port), NetworkView: c.view}, //nolint:gosec // A port fits.
		Credentials: v1alpha1.LocalCredentials{SecretRef: xpv1.LocalSecretReference{Name: s.Name}},
		TLS:         c.tls,
	}
	if c.timeout > 0 {
		spec.RequestTimeout = &metav1.Duration{Duration: c.timeout}
	}
	p := &v1alpha1.ProviderConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pcName}, Spec: spec}
	if err := kube.Create(ctx, p); kerrors.IsAlreadyExists(err) {
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur := &v1alpha1.ProviderConfig{}
			if err := kube.Get(ctx, client.ObjectKeyFromObject(p), cur); err != nil {
				return err
			}
			cur.Spec = spec
			return kube.Update(ctx, cur)
		})
		if err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// TestGridFaultsAreReported: a grid that fails (5xx answers, dropped
// connections, answers slower than the request timeout), refuses the
// credentials, cannot be verified or reached, or lacks what the spec
// names, and a ProviderConfig whose Secrets are wrong: each leaves the
// Reservation Synced False with a message saying what failed, holding
// nothing and never showing the password. Transient faults heal: once the
// fault goes, the Reservation is Ready with exactly one object.
func TestGridFaultsAreReported(t *testing.T) {
	const wrongPassword = "Wr0ng-Horse-Battery"
	cases := []struct {
		name string
		// arrange changes the case's ProviderConfig, Reservation and grid
		// from the defaults (a ProviderConfig that works, a Reservation of
		// the next free address of net) before the Reservation is created.
		arrange func(t *testing.T, srv *wapisim.Server, c *gridConfig, p *v1alpha1.ReservationParameters)
		says    []string
		// heal removes the fault; nil: the case does not heal.
		heal func(t *testing.T, srv *wapisim.Server, ns string, c gridConfig)
	}{
		{
			name: "GridAnswers503",
			arrange: func(_ *testing.T, srv *wapisim.Server, _ *gridConfig, _ *v1alpha1.ReservationParameters) {
				srv.AddFault(wapisim.Fault{Kind: wapisim.FaultStatus, Status: 503})
			},
			says: []string{"Unavailable: Service Unavailable (HTTP 503)"},
			heal: clearFaults,
		},
		{
			name: "GridAnswers502WithAnHTMLPage",
			arrange: func(_ *testing.T, srv *wapisim.Server, _ *gridConfig, _ *v1alpha1.ReservationParameters) {
				srv.AddFault(wapisim.Fault{Kind: wapisim.FaultStatus, Status: 502})
			},
			says: []string{"Unavailable: Bad Gateway (HTTP 502)"},
			heal: clearFaults,
		},
		{
			name: "GridDropsConnections",
			arrange: func(_ *testing.T, srv *wapisim.Server, _ *gridConfig, _ *v1alpha1.ReservationParameters) {
				srv.AddFault(wapisim.Fault{Kind: wapisim.FaultDrop})
			},
			says: []string{"Unavailable: no answer from the grid"},
			heal: clearFaults,
		},
		{
			name: "GridSlowerThanTheRequestTimeout",
			arrange: func(_ *testing.T, srv *wapisim.Server, c *gridConfig, _ *v1alpha1.ReservationParameters) {
				c.timeout = time.Second
				srv.AddFault(wapisim.Fault{Kind: wapisim.FaultLatency, Delay: 3 * time.Second})
			},
			says: []string{"Unavailable: the request timed out"},
			heal: clearFaults,
		},
		{
			name: "GridUnreachable",
			arrange: func(t *testing.T, _ *wapisim.Server, c *gridConfig, _ *v1alpha1.ReservationParameters) {
				c.port = closedPort(t)
			},
			says: []string{"Unavailable: no answer from the grid", "connection refused"},
		},
		{
			name: "WrongPassword",
			arrange: func(_ *testing.T, _ *wapisim.Server, c *gridConfig, _ *v1alpha1.ReservationParameters) {
				c.password = wrongPassword
			},
			says: []string{"authentication failed: the grid rejected the username or password (HTTP 401)"},
			heal: func(t *testing.T, _ *wapisim.Server, ns string, c gridConfig) {
				c.password = wapiPassword
				applyProviderConfig(t, ns, c)
			},
		},
		{
			name: "UserNotPermitted",
			arrange: func(_ *testing.T, srv *wapisim.Server, _ *gridConfig, _ *v1alpha1.ReservationParameters) {
				srv.AddFault(wapisim.Fault{Kind: wapisim.FaultStatus, Status: 403})
			},
			says: []string{"permission denied: the WAPI user may not do this (HTTP 403)"},
		},
		{
			name: "CertificateOfAnotherCA",
			arrange: func(t *testing.T, _ *wapisim.Server, c *gridConfig, _ *v1alpha1.ReservationParameters) {
				other := wapisim.NewTestServer(t, wapisim.Config{Username: wapiUser, Password: wapiPassword})
				c.tls = &v1alpha1.LocalTLS{CABundle: string(other.CACertPEM())}
			},
			says: []string{"TLSVerificationFailed: cannot verify the grid's TLS certificate", "x509"},
			heal: func(t *testing.T, srv *wapisim.Server, ns string, c gridConfig) {
				c.tls = &v1alpha1.LocalTLS{CABundle: string(srv.CACertPEM())}
				applyProviderConfig(t, ns, c)
			},
		},
		{
			name: "SystemRootsDoNotTrustTheGrid",
			arrange: func(_ *testing.T, _ *wapisim.Server, c *gridConfig, _ *v1alpha1.ReservationParameters) {
				c.tls = nil
			},
			says: []string{"TLSVerificationFailed: cannot verify the grid's TLS certificate", "x509"},
		},
		{
			name: "CABundleNotPEM",
			arrange: func(_ *testing.T, _ *wapisim.Server, c *gridConfig, _ *v1alpha1.ReservationParameters) {
				c.tls = &v1alpha1.LocalTLS{CABundle: "not a certificate"}
			},
			says: []string{"connect failed: cannot configure the Infoblox client: the CA bundle holds no PEM certificate"},
		},
		{
			name: "CABundleSecretMissing",
			arrange: func(_ *testing.T, _ *wapisim.Server, c *gridConfig, _ *v1alpha1.ReservationParameters) {
				c.tls = &v1alpha1.LocalTLS{CABundleSecretRef: &xpv1.LocalSecretKeySelector{LocalSecretReference: xpv1.LocalSecretReference{Name: "absent-ca"}, Key: "ca.crt"}}
			},
			says: []string{"connect failed: cannot read the CA bundle Secret: Secret", "/absent-ca not found"},
		},
		{
			name: "CredentialsWithoutPassword",
			arrange: func(_ *testing.T, _ *wapisim.Server, c *gridConfig, _ *v1alpha1.ReservationParameters) {
				c.secret = map[string]string{"username": wapiUser}
			},
			says: []string{"connect failed: cannot read the credentials Secret: Secret", `-credentials has no key "password"`},
		},
		{
			name: "NetworkNotInTheGrid",
			arrange: func(_ *testing.T, _ *wapisim.Server, _ *gridConfig, p *v1alpha1.ReservationParameters) {
				p.Network = "10.202.99.0/24"
			},
			says: []string{"NotFound: network 10.202.99.0/24 not found in network view default"},
		},
		{
			name: "NetworkViewNotInTheGrid",
			arrange: func(_ *testing.T, _ *wapisim.Server, c *gridConfig, _ *v1alpha1.ReservationParameters) {
				c.view = "elsewhere"
			},
			says: []string{"not found in network view elsewhere"},
		},
		{
			name: "RangeNotInTheGrid",
			arrange: func(_ *testing.T, _ *wapisim.Server, _ *gridConfig, p *v1alpha1.ReservationParameters) {
				p.Range = strings.TrimSuffix(p.Network, "0/24") + "10-" + strings.TrimSuffix(p.Network, "0/24") + "20"
			},
			says: []string{"NotFound: Cannot find a range"},
		},
		{
			name: "AddressInNoNetworkOfTheGrid",
			arrange: func(_ *testing.T, _ *wapisim.Server, _ *gridConfig, p *v1alpha1.ReservationParameters) {
				p.Network, p.Address = "", "10.202.98.5"
			},
			says: []string{"NotFound: Cannot find a network for the IP address 10.202.98.5 in network view default"},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			network := fmt.Sprintf("10.202.%d.0/24", 10+i)
			srv := grid(t)
			if _, err := srv.AddNetwork("default", network, wapisim.NetworkOptions{Gateway: strings.TrimSuffix(network, "0/24") + "1"}); err != nil {
				t.Fatal(err)
			}
			ns := namespace(t)
			port, err := strconv.Atoi(srv.Port())
			if err != nil {
				t.Fatal(err)
			}
			c := gridConfig{host: srv.Host(), port: port, password: wapiPassword, tls: &v1alpha1.LocalTLS{CABundle: string(srv.CACertPEM())}}
			p := v1alpha1.ReservationParameters{Network: network}
			tc.arrange(t, srv, &c, &p)
			applyProviderConfig(t, ns, c)
			r := reservation(ns, "faulty", p)
			if err := kube.Create(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			var cond xpv1.Condition
			testenv.Eventually(t, time.Minute, fmt.Sprintf("Synced False saying %q", tc.says), func(ctx context.Context) (bool, error) {
				cond = get(t, ns, "faulty").GetCondition(xpv1.TypeSynced)
				if cond.Status != corev1.ConditionFalse || cond.Reason != xpv1.ReasonReconcileError {
					return false, nil
				}
				for _, s := range tc.says {
					if !strings.Contains(cond.Message, s) {
						return false, nil
					}
				}
				return true, nil
			})
			t.Logf("reported: %s", cond.Message)
			for _, secret := range []string{wapiPassword, wrongPassword, "<html", "<!DOCTYPE"} {
				if strings.Contains(cond.Message, secret) {
					t.Errorf("the condition shows %q: %s", secret, cond.Message)
				}
			}
			cur := get(t, ns, "faulty")
			if ready(cur) || cur.Status.AtProvider.Address != "" {
				t.Errorf("a failed Reservation reports %+v, Ready %v", cur.Status.AtProvider, ready(cur))
			}
			if fas := byUID(srv, string(cur.GetUID())); len(fas) != 0 {
				t.Errorf("the grid holds %+v for a Reservation that failed", fas)
			}
			if tc.heal == nil {
				letGo(t, ns, "faulty")
				return
			}
			tc.heal(t, srv, ns, c)
			r = waitReady(t, ns, "faulty", 2*time.Minute)
			// Requests delayed past their timeout are carried out late: wait
			// for them before counting.
			srv.WaitIdle()
			if fas := byUID(srv, string(r.GetUID())); len(fas) != 1 || fas[0].Ref != meta.GetExternalName(r) {
				t.Fatalf("objects of the healed Reservation: %+v (external name %s)", fas, meta.GetExternalName(r))
			}
		})
	}
}

func clearFaults(_ *testing.T, srv *wapisim.Server, _ string, _ gridConfig) { srv.ClearFaults() }

// TestHostileExternalNames: an external name is written by whoever may
// edit the Reservation. One naming another Reservation's object, an object
// holding another address than the spec asks for, or no valid reference
// at all, leaves the Reservation Synced False saying so; deleting it never
// deletes the object it named.
func TestHostileExternalNames(t *testing.T) {
	srv := grid(t)
	if _, err := srv.AddNetwork("default", "10.202.50.0/24", wapisim.NetworkOptions{Gateway: "10.202.50.1"}); err != nil {
		t.Fatal(err)
	}
	ns := namespace(t)
	providerConfig(t, ns, srv, wapiPassword)
	ctx := context.Background()
	if err := kube.Create(ctx, reservation(ns, "owner", v1alpha1.ReservationParameters{Network: "10.202.50.0/24"})); err != nil {
		t.Fatal(err)
	}
	owner := waitReady(t, ns, "owner", time.Minute)
	// An object made outside Kubernetes, which the network team owns.
	outside, err := newClient(t, srv).Reserve(ctx, ibclient.Request{Address: "10.202.50.80", EAs: ibclientEA("Owner", "network team")})
	if err != nil {
		t.Fatal(err)
	}
	// An object tagged for a Reservation of another namespace, as on a grid
	// a ClusterProviderConfig shares.
	theirs, err := newClient(t, srv).Reserve(ctx, ibclient.Request{Address: "10.202.50.70", EAs: ibclient.EAs("rel-their-uid", "secret-team", "secret-cluster", "", "")})
	if err != nil {
		t.Fatal(err)
	}
	// The ledger records 10.202.50.90 for another namespace's Reservation.
	heldBySecretTeam(t, "10.202.50.90", "rel-secret-uid")

	cases := []struct {
		name string
		ref  string
		p    v1alpha1.ReservationParameters
		says string
	}{
		{"ObjectOfAnotherReservation", meta.GetExternalName(owner), v1alpha1.ReservationParameters{Network: "10.202.50.0/24"},
			"the object named by the external name belongs to another Reservation"},
		{"ObjectOfAnotherNamespacesReservation", theirs.Ref, v1alpha1.ReservationParameters{Address: "10.202.50.70"},
			"the object named by the external name belongs to another Reservation of another namespace"},
		{"ObjectHoldingAnotherAddress", outside.Ref, v1alpha1.ReservationParameters{Address: "10.202.50.81"},
			"the object named by the external name does not match spec.forProvider: it holds 10.202.50.80, not 10.202.50.81"},
		{"ObjectOutsideTheNetwork", outside.Ref, v1alpha1.ReservationParameters{Network: "10.202.52.0/24"},
			"the object named by the external name does not match spec.forProvider: it holds 10.202.50.80, outside 10.202.52.0/24"},
		{"NotAReference", "not-a-reference", v1alpha1.ReservationParameters{Network: "10.202.50.0/24"},
			`the external name is not a valid fixed address or host record reference: "not-a-reference" is not a fixed address or host record reference`},
		{"QueryInTheObjectKey", "fixedaddress/ZG5z?_return_fields=extattrs", v1alpha1.ReservationParameters{Network: "10.202.50.0/24"},
			`has no valid object key after "fixedaddress/"`},
		{"ExtraPathSegments", "fixedaddress/ZG5z:10.202.50.80/default/extra", v1alpha1.ReservationParameters{Network: "10.202.50.0/24"},
			"has more than a name and a view after the object key"},
		{"Backslash", `fixedaddress/ZG5z:10.202.50.80\..\network/default`, v1alpha1.ReservationParameters{Network: "10.202.50.0/24"},
			"holds a character a reference has no use for (?, # or \\)"},
		{"EscapedSlash", "fixedaddress/ZG5z:..%2F..%2Fnetwork/default", v1alpha1.ReservationParameters{Network: "10.202.50.0/24"},
			"names a path, not an object"},
		{"AddressHeldInTheLedgerByAnotherNamespace", "", v1alpha1.ReservationParameters{Address: "10.202.50.90", Network: "10.202.50.0/24"},
			`10.202.50.90 is already held outside namespace "` + ns + `"`},
	}
	for _, tc := range cases {
		r := reservation(ns, strings.ToLower(tc.name), tc.p)
		if tc.ref != "" {
			meta.SetExternalName(r, tc.ref)
		}
		if err := kube.Create(ctx, r); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ToLower(tc.name)
			var cond xpv1.Condition
			testenv.Eventually(t, 30*time.Second, "a condition naming what is wrong", func(context.Context) (bool, error) {
				cond = get(t, ns, name).GetCondition(xpv1.TypeSynced)
				return cond.Status == corev1.ConditionFalse && cond.Reason == xpv1.ReasonReconcileError && strings.Contains(cond.Message, tc.says), nil
			})
			t.Logf("refused: %s", cond.Message)
			if strings.Contains(cond.Message, "secret-") {
				t.Errorf("the condition names another namespace's holder: %s", cond.Message)
			}
			if r := get(t, ns, name); ready(r) {
				t.Errorf("%s is Ready: %+v", name, r.Status.AtProvider)
			}
			if err := kube.Delete(ctx, &v1alpha1.Reservation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
				t.Fatal(err)
			}
			waitGone(t, ns, name)
		})
	}
	// The objects the external names pointed at are all still there.
	if fas := byUID(srv, string(owner.GetUID())); len(fas) != 1 || fas[0].Ref != meta.GetExternalName(owner) {
		t.Errorf("the other Reservation's object: %+v", fas)
	}
	if fa := fixedAddressAt(t, srv, "10.202.50.80"); fa.Ref != outside.Ref || fa.ExtAttrs["Owner"] != "network team" || fa.ExtAttrs[ibclient.EAReservationUID] != nil {
		t.Errorf("the object made outside Kubernetes changed: %+v", fa)
	}
	if al, err := allocationOf(ctx, "10.202.50.90"); err != nil || al == nil || al.Spec.Owner.UID != "rel-secret-uid" {
		t.Errorf("the other namespace's record of 10.202.50.90 changed: %+v %v", al, err)
	}
}
