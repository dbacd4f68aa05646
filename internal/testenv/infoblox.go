package testenv

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"

	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

// InfobloxProviderConfig creates, in ns, a ProviderConfig named name for
// the emulator srv, trusting its CA, and the Secret of its credentials.
func InfobloxProviderConfig(ctx context.Context, kube client.Client, ns, name string, srv *wapisim.Server, username, password string) error {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-credentials"},
		Data:       map[string][]byte{"username": []byte(username), "password": []byte(password)},
	}
	if err := kube.Create(ctx, s); err != nil {
		return fmt.Errorf("cannot create the credentials Secret: %w", err)
	}
	port, err := strconv.Atoi(srv.Port())
	if err != nil {
		return err
	}
	pc := &infobloxv1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: infobloxv1alpha1.ProviderConfigSpec{
			Endpoint:    infobloxv1alpha1.Endpoint{Host: srv.Host(), Port: int32(port)}, //nolint:gosec // A port fits.
			Credentials: infobloxv1alpha1.LocalCredentials{SecretRef: xpv1.LocalSecretReference{Name: s.Name}},
			TLS:         &infobloxv1alpha1.LocalTLS{CABundle: string(srv.CACertPEM())},
		},
	}
	if err := kube.Create(ctx, pc); err != nil {
		return fmt.Errorf("cannot create the ProviderConfig: %w", err)
	}
	return nil
}
