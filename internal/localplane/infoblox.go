package localplane

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const emulatorSecret = "wapi-emulator-credentials"

// UseEmulatorAsDefaultInfoblox makes the WAPI emulator the grid of the
// ClusterProviderConfig named default, which Infoblox Reservations use when
// they name none.
func (p *Plane) UseEmulatorAsDefaultInfoblox(ctx context.Context) error {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: CrossplaneNamespace, Name: emulatorSecret},
		StringData: map[string]string{"username": WAPIUsername, "password": WAPIPassword},
	}
	if err := p.Kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: CrossplaneNamespace}}); client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	if err := p.Kube.Create(ctx, s); client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	port, err := strconv.Atoi(p.WAPI.Port())
	if err != nil {
		return err
	}
	pc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "infoblox.ipam.provider-ipam.io/v1alpha1",
		"kind":       "ClusterProviderConfig",
		"metadata":   map[string]any{"name": "default"},
		"spec": map[string]any{
			"host":        p.WAPI.Host(),
			"port":        int64(port),
			"version":     "2.12",
			"networkView": "default",
			"credentials": map[string]any{"secretRef": map[string]any{"namespace": CrossplaneNamespace, "name": emulatorSecret}},
			"tls":         map[string]any{"caBundle": string(p.WAPI.CACertPEM())},
		},
	}}
	if err := p.Kube.Create(ctx, pc); err != nil {
		return fmt.Errorf("cannot point the default ClusterProviderConfig at the WAPI emulator: %w", err)
	}
	return nil
}
