package controller_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	xpcontroller "github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/ratelimiter"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/providerconfig"

	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/controller"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

// limiter is the provider's global rate limiter, recording which
// controllers asked it: every one must (--max-reconcile-rate).
type limiter struct {
	ratelimiter.RateLimiter
	mu    sync.Mutex
	items []string
}

func newLimiter() *limiter { return &limiter{RateLimiter: ratelimiter.NewGlobal(1000)} }

func (l *limiter) When(item string) time.Duration {
	l.mu.Lock()
	l.items = append(l.items, item)
	l.mu.Unlock()
	return l.RateLimiter.When(item)
}

// asked reports whether the controller called name asked the limiter.
func (l *limiter) asked(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, i := range l.items {
		if strings.HasPrefix(i, name) {
			return true
		}
	}
	return false
}

// startEnv runs an API server with the CRDs of crdDirs until the test
// ends, and a client of it.
func startEnv(t *testing.T, crdDirs ...string) (*testenv.Env, client.Client) {
	t.Helper()
	env, err := testenv.StartCRDs(crdDirs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kube, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return env, kube
}

// startProvider runs the provider's controllers on env until the test
// ends, with l as their global rate limiter. A manager that stopped early
// (as one does when a controller watches a kind that is not served) fails
// the test with its error.
func startProvider(t *testing.T, env *testenv.Env, l *limiter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done, err := env.StartManager(ctx, func(ctx context.Context, mgr ctrl.Manager, o xpcontroller.Options) error {
		o.GlobalRateLimiter = l
		return controller.Setup(ctx, mgr, o)
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("provider stopped with error: %v", err)
		}
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestOnlyReferencedSecretsRead runs the provider against a cluster of
// three Secrets, one of them referenced by a ProviderConfig: the provider
// reads that one by name, and never lists or watches Secrets, so that it
// never holds another tenant's. Its Infoblox controllers go through the
// global rate limiter.
func TestOnlyReferencedSecretsRead(t *testing.T) {
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	env, kube := startEnv(t, filepath.Join(root, "package", "crds"))

	// Every request of the provider's on Secrets.
	var (
		mu      sync.Mutex
		secrets []string
	)
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if strings.Contains(r.URL.Path, "/secrets") {
				mu.Lock()
				secrets = append(secrets, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
				mu.Unlock()
			}
			return next.RoundTrip(r)
		})
	})
	l := newLimiter()
	startProvider(t, &testenv.Env{Environment: env.Environment, Config: cfg, Scheme: env.Scheme}, l)

	const user, password = "ipam", "Corr3ct-Horse-Battery"
	srv := wapisim.NewTestServer(t, wapisim.Config{Username: user, Password: password})
	if _, err := srv.AddNetwork("default", "192.0.2.0/24", wapisim.NetworkOptions{Gateway: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	tenant, other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tenant-"}}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "other-"}}
	for _, o := range []client.Object{tenant, other} {
		if err := kube.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	creds := map[string][]byte{"username": []byte(user), "password": []byte(password)}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: tenant.Name, Name: "wapi-credentials"}, Data: creds},
		{ObjectMeta: metav1.ObjectMeta{Namespace: tenant.Name, Name: "unreferenced"}, Data: creds},
		{ObjectMeta: metav1.ObjectMeta{Namespace: other.Name, Name: "wapi-credentials"}, Data: creds},
	} {
		if err := kube.Create(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	port, _ := strconv.Atoi(srv.Port())
	pc := &infobloxv1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Namespace: tenant.Name, Name: "wapi"},
		Spec: infobloxv1alpha1.ProviderConfigSpec{
			Endpoint:    infobloxv1alpha1.Endpoint{Host: srv.Host(), Port: int32(port)},
			Credentials: infobloxv1alpha1.LocalCredentials{SecretRef: xpv1.LocalSecretReference{Name: "wapi-credentials"}},
			TLS:         &infobloxv1alpha1.LocalTLS{CABundle: string(srv.CACertPEM())},
		},
	}
	if err := kube.Create(context.Background(), pc); err != nil {
		t.Fatal(err)
	}
	r := &infobloxv1alpha1.Reservation{
		ObjectMeta: metav1.ObjectMeta{Namespace: tenant.Name, Name: "vip"},
		Spec:       infobloxv1alpha1.ReservationSpec{ForProvider: infobloxv1alpha1.ReservationParameters{Network: "192.0.2.0/24"}},
	}
	r.SetProviderConfigReference(&xpv1.ProviderConfigReference{Kind: infobloxv1alpha1.ProviderConfigKind, Name: pc.Name})
	if err := kube.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the Infoblox Reservation Ready", func(ctx context.Context) (bool, error) {
		got := &infobloxv1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKeyFromObject(r), got); err != nil {
			return false, err
		}
		return got.GetCondition(xpv1.TypeReady).Status == corev1.ConditionTrue, nil
	})

	mu.Lock()
	defer mu.Unlock()
	want := "GET /api/v1/namespaces/" + tenant.Name + "/secrets/wapi-credentials?"
	if len(secrets) == 0 {
		t.Error("the provider read no Secret, yet its Reservation is Ready")
	}
	for _, s := range secrets {
		if s != want {
			t.Errorf("request %q on Secrets: only %q is expected", s, want)
		}
	}
	for _, name := range []string{
		managed.ControllerName(infobloxv1alpha1.ReservationGroupKind),
		providerconfig.ControllerName(infobloxv1alpha1.ProviderConfigGroupKind),
	} {
		// A controller reconciles its objects soon after their creation,
		// not necessarily before the assertions above hold.
		testenv.Eventually(t, 30*time.Second, "controller "+name+" through the global rate limiter", func(context.Context) (bool, error) {
			return l.asked(name), nil
		})
	}
}
