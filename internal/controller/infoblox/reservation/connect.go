package reservation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/clients/infoblox"
)

// Keys of the credentials Secret.
const (
	KeyUsername = "username"
	KeyPassword = "password"
	// KeyCABundle is the default key of a CA bundle Secret.
	KeyCABundle = "ca.crt"
)

const (
	errNoPCRef       = "no providerConfigRef"
	errPCKind        = "providerConfigRef.kind must be ProviderConfig or ClusterProviderConfig"
	errGetPC         = "cannot get the ProviderConfig"
	errGetCPC        = "cannot get the ClusterProviderConfig"
	errCredentials   = "cannot read the credentials Secret"
	errCABundle      = "cannot read the CA bundle Secret"
	errNewClient     = "cannot configure the Infoblox client"
	errMissingSecret = "Secret %s has no key %q"
)

// resolveConfig reads the ProviderConfig (in cr's namespace: a
// ProviderConfigReference has no namespace, so another namespace's cannot
// even be named) or the ClusterProviderConfig cr uses, and its Secrets.
// Errors name Secrets and keys, never their values.
func resolveConfig(ctx context.Context, kube client.Reader, secrets *secretCache, cr *v1alpha1.Reservation) (infoblox.Config, error) {
	ref := cr.GetProviderConfigReference()
	if ref == nil || ref.Name == "" {
		return infoblox.Config{}, errors.New(errNoPCRef)
	}
	var (
		ep                  v1alpha1.Endpoint
		credNS, credName    string
		caNS, caName, caKey string
		caInline            string
		insecure            bool
	)
	switch ref.Kind {
	case v1alpha1.ProviderConfigKind:
		pc := &v1alpha1.ProviderConfig{}
		if err := kube.Get(ctx, types.NamespacedName{Namespace: cr.GetNamespace(), Name: ref.Name}, pc); err != nil {
			return infoblox.Config{}, fmt.Errorf("%s %s/%s: %w", errGetPC, cr.GetNamespace(), ref.Name, err)
		}
		ep, credNS, credName = pc.Spec.Endpoint, pc.GetNamespace(), pc.Spec.Credentials.SecretRef.Name
		if t := pc.Spec.TLS; t != nil {
			caInline, insecure = t.CABundle, t.InsecureSkipVerify
			if t.CABundleSecretRef != nil {
				caNS, caName, caKey = pc.GetNamespace(), t.CABundleSecretRef.Name, t.CABundleSecretRef.Key
			}
		}
	case v1alpha1.ClusterProviderConfigKind:
		pc := &v1alpha1.ClusterProviderConfig{}
		if err := kube.Get(ctx, types.NamespacedName{Name: ref.Name}, pc); err != nil {
			return infoblox.Config{}, fmt.Errorf("%s %s: %w", errGetCPC, ref.Name, err)
		}
		ep, credNS, credName = pc.Spec.Endpoint, pc.Spec.Credentials.SecretRef.Namespace, pc.Spec.Credentials.SecretRef.Name
		if t := pc.Spec.TLS; t != nil {
			caInline, insecure = t.CABundle, t.InsecureSkipVerify
			if t.CABundleSecretRef != nil {
				caNS, caName, caKey = t.CABundleSecretRef.Namespace, t.CABundleSecretRef.Name, t.CABundleSecretRef.Key
			}
		}
	default:
		return infoblox.Config{}, fmt.Errorf("%s, not %q", errPCKind, ref.Kind)
	}

	cfg := infoblox.Config{
		Host: ep.Host, Port: int(ep.Port), Version: ep.Version,
		NetworkView: ep.NetworkView, DNSView: ep.DNSView,
		CABundle: []byte(caInline), InsecureSkipVerify: insecure,
	}
	if ep.RequestTimeout != nil {
		cfg.Timeout = ep.RequestTimeout.Duration
	}
	creds, err := secretData(ctx, secrets, credNS, credName, KeyUsername, KeyPassword)
	if err != nil {
		return infoblox.Config{}, fmt.Errorf("%s: %w", errCredentials, err)
	}
	cfg.Username, cfg.Password = string(creds[0]), string(creds[1])
	if caName != "" {
		if caKey == "" {
			caKey = KeyCABundle
		}
		ca, err := secretData(ctx, secrets, caNS, caName, caKey)
		if err != nil {
			return infoblox.Config{}, fmt.Errorf("%s: %w", errCABundle, err)
		}
		cfg.CABundle = ca[0]
	}
	return cfg, nil
}

func secretData(ctx context.Context, secrets *secretCache, ns, name string, keys ...string) ([][]byte, error) {
	s, err := secrets.get(ctx, ns, name)
	if err != nil {
		if kerrors.IsNotFound(err) {
			return nil, fmt.Errorf("Secret %s/%s not found", ns, name) //nolint:staticcheck // Kubernetes kind.
		}
		return nil, fmt.Errorf("cannot get Secret %s/%s: %w", ns, name, err)
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, ok := s.Data[k]
		if !ok || len(v) == 0 {
			return nil, fmt.Errorf(errMissingSecret, ns+"/"+name, k)
		}
		out[i] = v
	}
	return out, nil
}

// secretTTL is how long a Secret read for a connect serves the connects
// after it. Every reconcile of an Infoblox Reservation connects, and
// Reservations sharing a ProviderConfig share its Secret: without reuse,
// a claim being bound read the same Secret about twelve times. A changed
// password or CA bundle is used at most this long after the change.
const secretTTL = 10 * time.Second

// maxSecrets bounds the Secrets kept; past it, the cache starts over.
const maxSecrets = 256

// A secretCache keeps the Secrets that ProviderConfigs reference, each for
// secretTTL after it was read. The provider does not watch Secrets: a
// watch would cache every Secret of the cluster, every tenant's included,
// while this holds only those a connect asked for, for seconds.
type secretCache struct {
	kube client.Reader
	// now is the clock, a field so tests can move it.
	now func() time.Time

	mu      sync.Mutex
	secrets map[types.NamespacedName]cachedSecret
}

type cachedSecret struct {
	secret *corev1.Secret
	read   time.Time
}

func newSecretCache(kube client.Reader) *secretCache {
	return &secretCache{kube: kube, now: time.Now}
}

// get returns the Secret, read from the API server unless it was read less
// than secretTTL ago. Errors, not found included, are not kept: a Secret
// created to fix a connect is used by the next one.
func (c *secretCache) get(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: ns, Name: name}
	c.mu.Lock()
	e, ok := c.secrets[key]
	c.mu.Unlock()
	if ok && c.now().Sub(e.read) < secretTTL {
		return e.secret, nil
	}
	read := c.now()
	s := &corev1.Secret{}
	if err := c.kube.Get(ctx, key, s); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secrets == nil || len(c.secrets) >= maxSecrets {
		c.secrets = map[types.NamespacedName]cachedSecret{}
	}
	c.secrets[key] = cachedSecret{secret: s, read: read}
	return s, nil
}

// clientCache keeps one Client (and its open connections) per distinct
// configuration, so that Reservations sharing a ProviderConfig share
// connections. A changed password or CA is a new key: the old client goes
// when the cache is trimmed.
type clientCache struct {
	mu      sync.Mutex
	clients map[string]*infoblox.Client
}

// maxClients bounds the cache; past it, it starts over.
const maxClients = 64

func (c *clientCache) get(cfg infoblox.Config) (*infoblox.Client, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	key := hex.EncodeToString(sum[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[key]; ok {
		return cl, nil
	}
	cl, err := infoblox.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", errNewClient, err)
	}
	if c.clients == nil || len(c.clients) >= maxClients {
		for _, old := range c.clients {
			old.Close()
		}
		c.clients = map[string]*infoblox.Client{}
	}
	c.clients[key] = cl
	return cl, nil
}
