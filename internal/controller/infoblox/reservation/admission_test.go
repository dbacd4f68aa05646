package reservation_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"

	"github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

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
		"GatewayNetwork":              {v1alpha1.ReservationParameters{Network: "192.0.2.0/28", Gateway: "192.0.2.0"}, "spec.forProvider.gateway: Invalid value: 192.0.2.0 is the network address of 192.0.2.0/28, not a host address"},
		"GatewayBroadcast":            {v1alpha1.ReservationParameters{Network: "192.0.2.0/28", Gateway: "192.0.2.15"}, "192.0.2.15 is the broadcast address of 192.0.2.0/28, not a host address"},
		"GatewayBroadcastOfPrefix":    {v1alpha1.ReservationParameters{Address: "192.0.2.10", Prefix: 24, Gateway: "192.0.2.255"}, "192.0.2.255 is the broadcast address of its /24 network, not a host address"},
		"BadNetworkWithGateway":       {v1alpha1.ReservationParameters{Network: "192.0.2.0/33", Gateway: "192.0.2.1"}, "must be a CIDR without host bits"},
		"GatewayOtherFamily":          {v1alpha1.ReservationParameters{Network: "192.0.2.0/24", Gateway: "2001:db8::1"}, "spec.forProvider.gateway: Invalid value: gateway is not of the same IP family as the network or address"},
		"GatewayOtherFamilyOfAddress": {v1alpha1.ReservationParameters{Address: "2001:db8:1::5", Gateway: "192.0.2.1"}, "gateway is not of the same IP family as the network or address"},
		"GatewayOutsideNetwork":       {v1alpha1.ReservationParameters{Network: "192.0.2.0/28", Gateway: "198.51.100.1"}, "spec.forProvider.gateway: Invalid value: gateway is outside the network"},
	}
	for name, tc := range gateways {
		t.Run(name, func(t *testing.T) {
			testenv.Refused(t, kube.Create(ctx, reservation(ns, strings.ToLower(name), tc.p)), tc.want)
		})
	}
	if err := kube.Create(ctx, reservation(ns, "gateway-wider", v1alpha1.ReservationParameters{Network: "192.0.2.0/28", Prefix: 24, Gateway: "192.0.2.254"}), client.DryRunAll); err != nil {
		t.Errorf("a gateway of a wider network, with its prefix: %v", err)
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
