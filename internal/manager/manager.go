// Package manager holds what every provider-ipam replica's controller
// manager is configured with beyond its flags: cmd/provider and the tests
// that run the provider's controllers build their managers with it.
package manager

import (
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ClientOptions are the manager client's options. Secrets are read from
// the API server by name, never cached: a cached read would list and watch
// every Secret of the management cluster (every tenant's), while the
// provider needs only the few its ProviderConfigs and connection details
// name. A cache restricted to one namespace would not do: a namespaced
// ProviderConfig's credentials are in its tenant's namespace. The price is
// one GET per referenced Secret and connect, at most one per poll of an
// Infoblox Reservation.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}
