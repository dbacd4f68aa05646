package reservation_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	"github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	ibclient "github.com/provider-ipam/provider-ipam/internal/clients/infoblox"
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

// An object tagged for one Reservation cannot be taken over by another with
// full management (it could then delete it).
func TestForeignObject(t *testing.T) {
	srv := grid(t)
	ns := namespace(t)
	providerConfig(t, ns, srv, wapiPassword)
	ctx := context.Background()
	if err := kube.Create(ctx, reservation(ns, "first", v1alpha1.ReservationParameters{Network: "192.0.2.0/24"})); err != nil {
		t.Fatal(err)
	}
	first := waitReady(t, ns, "first", time.Minute)
	thief := reservation(ns, "thief", v1alpha1.ReservationParameters{Network: "192.0.2.0/24"})
	meta.SetExternalName(thief, meta.GetExternalName(first))
	if err := kube.Create(ctx, thief); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "a foreign object condition", func(ctx context.Context) (bool, error) {
		r := &v1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "thief"}, r); err != nil {
			return false, err
		}
		c := r.GetCondition(xpv1.TypeSynced)
		return c.Status == corev1.ConditionFalse && strings.Contains(c.Message, "belongs to another Reservation"), nil
	})
	// Deleting it leaves the other Reservation's object alone.
	if err := kube.Delete(ctx, thief); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, "thief")
	if fas := byUID(srv, string(first.GetUID())); len(fas) != 1 {
		t.Fatalf("fixed addresses: %+v", srv.FixedAddresses())
	}
}

// Importing an object by reference with full management: it must hold what
// the spec asks for.
func TestImportMismatch(t *testing.T) {
	srv := grid(t)
	ns := namespace(t)
	providerConfig(t, ns, srv, wapiPassword)
	ctx := context.Background()
	c := newClient(t, srv)
	existing, err := c.Reserve(ctx, ibclient.Request{Address: "192.0.2.80"})
	if err != nil {
		t.Fatal(err)
	}
	ok := reservation(ns, "import", v1alpha1.ReservationParameters{Address: "192.0.2.80", Network: "192.0.2.0/24"})
	bad := reservation(ns, "import-bad", v1alpha1.ReservationParameters{Address: "192.0.2.81"})
	for _, r := range []*v1alpha1.Reservation{ok, bad} {
		meta.SetExternalName(r, existing.Ref)
		if err := kube.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, ns, "import", time.Minute)
	testenv.Eventually(t, 30*time.Second, "a mismatch condition", func(ctx context.Context) (bool, error) {
		r := &v1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "import-bad"}, r); err != nil {
			return false, err
		}
		c := r.GetCondition(xpv1.TypeSynced)
		return c.Status == corev1.ConditionFalse && strings.Contains(c.Message, "holds 192.0.2.80, not 192.0.2.81"), nil
	})
}

func TestValidation(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	cases := map[string]v1alpha1.ReservationParameters{
		"NeitherNetworkNorAddress": {},
		"HostRecordWithoutName":    {Network: "192.0.2.0/24", RecordType: v1alpha1.RecordTypeHostRecord},
		"HostBits":                 {Network: "192.0.2.1/24"},
		"BadRange":                 {Network: "192.0.2.0/24", Range: "192.0.2.10"},
		"AddressWithExclude":       {Address: "192.0.2.10", Exclude: []string{"192.0.2.11"}},
		"BadMAC":                   {Network: "192.0.2.0/24", MAC: "zz"},
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			err := kube.Create(ctx, reservation(ns, strings.ToLower(name), p))
			if !kerrors.IsInvalid(err) {
				t.Fatalf("got %v, want the API server to reject it", err)
			}
		})
	}

	// A gateway must be a host of its network, told with a sentence that
	// names the field.
	gateways := map[string]struct {
		p    v1alpha1.ReservationParameters
		want string
	}{
		"GatewayNetwork":           {v1alpha1.ReservationParameters{Network: "192.0.2.0/28", Gateway: "192.0.2.0"}, "spec.forProvider.gateway: Invalid value: 192.0.2.0 is the network address of 192.0.2.0/28, not a host address"},
		"GatewayBroadcast":         {v1alpha1.ReservationParameters{Network: "192.0.2.0/28", Gateway: "192.0.2.15"}, "192.0.2.15 is the broadcast address of 192.0.2.0/28, not a host address"},
		"GatewayBroadcastOfPrefix": {v1alpha1.ReservationParameters{Address: "192.0.2.10", Prefix: 24, Gateway: "192.0.2.255"}, "192.0.2.255 is the broadcast address of its /24 network, not a host address"},
		"BadNetworkWithGateway":    {v1alpha1.ReservationParameters{Network: "192.0.2.0/33", Gateway: "192.0.2.1"}, "must be a CIDR without host bits"},
	}
	for name, tc := range gateways {
		t.Run(name, func(t *testing.T) {
			err := kube.Create(ctx, reservation(ns, strings.ToLower(name), tc.p))
			if !kerrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "evaluating rule") {
				t.Fatalf("got %v, want only %q", err, tc.want)
			}
		})
	}
	if err := kube.Create(ctx, reservation(ns, "gateway-host", v1alpha1.ReservationParameters{Network: "192.0.2.0/28", Gateway: "192.0.2.14"}), client.DryRunAll); err != nil {
		t.Errorf("a host gateway: %v", err)
	}

	r := reservation(ns, "immutable", v1alpha1.ReservationParameters{Network: "192.0.2.0/24"})
	r.SetManagementPolicies(xpv1.ManagementPolicies{xpv1.ManagementActionObserve}) // Nothing happens in Infoblox.
	if err := kube.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	// A merge patch carries no resourceVersion: only the rule can refuse it,
	// whatever the provider wrote meanwhile.
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"forProvider":{"network":"198.51.100.0/24"}}}`))
	if err := kube.Patch(ctx, r, patch); !kerrors.IsInvalid(err) {
		t.Fatalf("changing the network: got %v, want it rejected", err)
	}
}

// The examples apply as they are (server-side dry run).
func TestExamples(t *testing.T) {
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ns := range []string{"team-a", "crossplane-system"} {
		if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !kerrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(root, "examples", "infoblox", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split(string(b), "\n---\n") {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatalf("%s #%d: %v", filepath.Base(f), i, err)
			}
			if err := kube.Create(ctx, u, client.DryRunAll); err != nil {
				t.Errorf("%s #%d (%s %s): %v", filepath.Base(f), i, u.GetKind(), u.GetName(), err)
			}
		}
	}
}
