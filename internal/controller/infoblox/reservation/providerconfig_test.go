package reservation_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"

	"github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

func TestClusterProviderConfig(t *testing.T) {
	srv := grid(t)
	secrets := namespace(t)
	user := namespace(t)
	ctx := context.Background()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: secrets, Name: "wapi"},
		Data:       map[string][]byte{"username": []byte(wapiUser), "password": []byte(wapiPassword)},
	}
	ca := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: secrets, Name: "wapi-ca"},
		Data:       map[string][]byte{"ca.crt": srv.CACertPEM()},
	}
	for _, o := range []client.Object{s, ca} {
		if err := kube.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	port, _ := strconv.Atoi(srv.Port())
	cpc := &v1alpha1.ClusterProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: user}, // unique per test run
		Spec: v1alpha1.ClusterProviderConfigSpec{
			Endpoint:    v1alpha1.Endpoint{Host: srv.Host(), Port: int32(port)},
			Credentials: v1alpha1.ClusterCredentials{SecretRef: xpv1.SecretReference{Namespace: secrets, Name: s.Name}},
			TLS:         &v1alpha1.ClusterTLS{CABundleSecretRef: &xpv1.SecretKeySelector{SecretReference: xpv1.SecretReference{Namespace: secrets, Name: ca.Name}, Key: "ca.crt"}},
		},
	}
	if err := kube.Create(ctx, cpc); err != nil {
		t.Fatal(err)
	}
	// Defaults filled in by the API server.
	if err := kube.Get(ctx, client.ObjectKeyFromObject(cpc), cpc); err != nil {
		t.Fatal(err)
	}
	if cpc.Spec.Version != "2.12" || cpc.Spec.NetworkView != "default" || cpc.Spec.RequestTimeout == nil || cpc.Spec.RequestTimeout.Duration != time.Minute {
		t.Errorf("defaults: %+v", cpc.Spec.Endpoint)
	}
	r := reservation(user, "via-cluster-config", v1alpha1.ReservationParameters{Network: "192.0.2.0/24"})
	r.SetProviderConfigReference(&xpv1.ProviderConfigReference{Kind: v1alpha1.ClusterProviderConfigKind, Name: cpc.Name})
	if err := kube.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	r = waitReady(t, user, r.Name, time.Minute)
	if r.Spec.ForProvider.MAC != "00:00:00:00:00:00" || r.Spec.ForProvider.RecordType != v1alpha1.RecordTypeFixedAddress {
		t.Errorf("defaults: %+v", r.Spec.ForProvider)
	}
	pcus := &v1alpha1.ProviderConfigUsageList{}
	if err := kube.List(ctx, pcus, client.InNamespace(user)); err != nil {
		t.Fatal(err)
	}
	if len(pcus.Items) != 1 || pcus.Items[0].ProviderConfigReference.Kind != v1alpha1.ClusterProviderConfigKind || pcus.Items[0].ResourceReference.Name != r.Name {
		t.Fatalf("usages: %+v", pcus.Items)
	}
	testenv.Eventually(t, 30*time.Second, "ClusterProviderConfig users", func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(cpc), cpc); err != nil {
			return false, err
		}
		return cpc.Status.Users == 1, nil
	})
}
