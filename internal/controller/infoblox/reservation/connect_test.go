package reservation

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"

	"github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/clients/infoblox"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

func TestResolveConfig(t *testing.T) {
	const password = "Sup3r-Secret"
	secret := func(ns, name string, data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	creds := map[string]string{"username": "u", "password": password}
	objs := []client.Object{
		secret("team-a", "creds", creds),
		secret("team-a", "half", map[string]string{"username": "u"}),
		secret("team-b", "creds", creds),
		secret("system", "creds", creds),
		secret("system", "ca", map[string]string{"bundle.pem": "PEM"}),
		&v1alpha1.ProviderConfig{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "pc"},
			Spec: v1alpha1.ProviderConfigSpec{
				Endpoint:    v1alpha1.Endpoint{Host: "gm.example.com", Port: 8443, Version: "2.13", NetworkView: "lab", DNSView: "internal", RequestTimeout: &metav1.Duration{Duration: 5 * time.Second}},
				Credentials: v1alpha1.LocalCredentials{SecretRef: xpv1.LocalSecretReference{Name: "creds"}},
				TLS:         &v1alpha1.LocalTLS{CABundle: "INLINE"},
			},
		},
		&v1alpha1.ProviderConfig{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "half"},
			Spec: v1alpha1.ProviderConfigSpec{
				Endpoint:    v1alpha1.Endpoint{Host: "gm.example.com"},
				Credentials: v1alpha1.LocalCredentials{SecretRef: xpv1.LocalSecretReference{Name: "half"}},
			},
		},
		&v1alpha1.ClusterProviderConfig{
			ObjectMeta: metav1.ObjectMeta{Name: "cpc"},
			Spec: v1alpha1.ClusterProviderConfigSpec{
				Endpoint:    v1alpha1.Endpoint{Host: "gm.example.com"},
				Credentials: v1alpha1.ClusterCredentials{SecretRef: xpv1.SecretReference{Namespace: "system", Name: "creds"}},
				TLS:         &v1alpha1.ClusterTLS{CABundleSecretRef: &xpv1.SecretKeySelector{SecretReference: xpv1.SecretReference{Namespace: "system", Name: "ca"}, Key: "bundle.pem"}},
			},
		},
	}
	s, err := testenv.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	kube := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
	cases := map[string]struct {
		ns, kind, name string
		want           infoblox.Config
		err            string
	}{
		"ProviderConfig": {ns: "team-a", kind: "ProviderConfig", name: "pc", want: infoblox.Config{
			Host: "gm.example.com", Port: 8443, Version: "2.13", NetworkView: "lab", DNSView: "internal",
			Username: "u", Password: password, CABundle: []byte("INLINE"), Timeout: 5 * time.Second}},
		"ClusterProviderConfig": {ns: "team-b", kind: "ClusterProviderConfig", name: "cpc", want: infoblox.Config{
			Host: "gm.example.com", Username: "u", Password: password, CABundle: []byte("PEM")}},
		"OtherNamespace": {ns: "team-b", kind: "ProviderConfig", name: "pc", err: "cannot get the ProviderConfig team-b/pc"},
		"MissingKey":     {ns: "team-a", kind: "ProviderConfig", name: "half", err: `Secret team-a/half has no key "password"`},
		"BadKind":        {ns: "team-a", kind: "Other", name: "pc", err: "providerConfigRef.kind must be"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cr := &v1alpha1.Reservation{ObjectMeta: metav1.ObjectMeta{Namespace: tc.ns, Name: "r"}}
			cr.SetProviderConfigReference(&xpv1.ProviderConfigReference{Kind: tc.kind, Name: tc.name})
			got, err := resolveConfig(context.Background(), kube, newSecretCache(kube), cr)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				if strings.Contains(err.Error(), password) {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Host != tc.want.Host || got.Port != tc.want.Port || got.Version != tc.want.Version || got.NetworkView != tc.want.NetworkView ||
				got.DNSView != tc.want.DNSView || got.Username != tc.want.Username || got.Password != tc.want.Password ||
				string(got.CABundle) != string(tc.want.CABundle) || got.Timeout != tc.want.Timeout || got.InsecureSkipVerify {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// countingReader counts the Secrets read through it.
type countingReader struct {
	client.Reader
	gets int
}

func (r *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.gets++
	return r.Reader.Get(ctx, key, obj, opts...)
}

func TestSecretCache(t *testing.T) {
	ctx := context.Background()
	s, err := testenv.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	creds := func(password string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "creds"},
			Data: map[string][]byte{"username": []byte("u"), "password": []byte(password)}}
	}
	kube := fake.NewClientBuilder().WithScheme(s).WithObjects(creds("one")).Build()
	reader := &countingReader{Reader: kube}
	clock := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	c := newSecretCache(reader)
	c.now = func() time.Time { return clock }
	password := func() string {
		t.Helper()
		got, err := secretData(ctx, c, "team-a", "creds", KeyUsername, KeyPassword)
		if err != nil {
			t.Fatal(err)
		}
		return string(got[1])
	}

	if got := password(); got != "one" {
		t.Fatalf("first read: password %q, want one", got)
	}
	if err := kube.Update(ctx, creds("two")); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(secretTTL - time.Second)
	if got := password(); got != "one" || reader.gets != 1 {
		t.Fatalf("within the TTL: password %q after %d GETs, want one after 1", got, reader.gets)
	}
	clock = clock.Add(time.Second)
	if got := password(); got != "two" || reader.gets != 2 {
		t.Fatalf("at the TTL: password %q after %d GETs, want the rotated two after 2", got, reader.gets)
	}

	// A Secret not found is not kept: the one created to fix it is used by
	// the next connect, not a TTL later.
	if _, err := secretData(ctx, c, "team-a", "later", KeyUsername, KeyPassword); err == nil || !strings.Contains(err.Error(), "Secret team-a/later not found") {
		t.Fatalf("missing Secret: got %v, want not found", err)
	}
	later := creds("three")
	later.Name = "later"
	if err := kube.Create(ctx, later); err != nil {
		t.Fatal(err)
	}
	if got, err := secretData(ctx, c, "team-a", "later", KeyPassword); err != nil || string(got[0]) != "three" {
		t.Fatalf("created after a miss: got %q, %v, want three", got, err)
	}

	// The cache holds at most maxSecrets Secrets.
	for i := range maxSecrets + 10 {
		sec := creds("x")
		sec.Name = fmt.Sprintf("s%d", i)
		if err := kube.Create(ctx, sec); err != nil {
			t.Fatal(err)
		}
		if _, err := c.get(ctx, "team-a", sec.Name); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.secrets); n > maxSecrets {
		t.Fatalf("the cache holds %d Secrets, want at most %d", n, maxSecrets)
	}
}

func TestClientCache(t *testing.T) {
	c := &clientCache{}
	a, err := c.get(infoblox.Config{Host: "gm", Password: "one"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.get(infoblox.Config{Host: "gm", Password: "one"})
	d, _ := c.get(infoblox.Config{Host: "gm", Password: "two"})
	if a != b || a == d {
		t.Fatal("clients are not shared per configuration")
	}
	if _, err := c.get(infoblox.Config{Host: "gm", CABundle: []byte("not PEM")}); err == nil {
		t.Fatal("a bad CA bundle was accepted")
	}
}
