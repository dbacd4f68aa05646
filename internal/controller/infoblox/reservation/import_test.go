package reservation_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	"github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	ibclient "github.com/provider-ipam/provider-ipam/internal/clients/infoblox"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

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

// An external name is written by whoever may edit the Reservation: only a
// reference to an object of the kind the spec asks for, in the
// ProviderConfig's network view, is read, and none of these is ever
// deleted with the Reservation.
func TestImportedReferenceValidated(t *testing.T) {
	srv := grid(t)
	ns := namespace(t)
	providerConfig(t, ns, srv, wapiPassword)
	ctx := context.Background()
	if _, err := srv.AddNetworkView("other", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddNetwork("other", "10.77.0.0/24", wapisim.NetworkOptions{}); err != nil {
		t.Fatal(err)
	}
	elsewhere, err := newClient(t, srv, func(c *ibclient.Config) { c.NetworkView = "other" }).Reserve(ctx, ibclient.Request{Address: "10.77.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		ref  string
		p    v1alpha1.ReservationParameters
		want string
	}{
		"PathTrick": {ref: "fixedaddress/../network/ZG5z", p: v1alpha1.ReservationParameters{Network: "192.0.2.0/24"},
			want: "not a valid fixed address or host record reference"},
		"EscapedQuery": {ref: "fixedaddress/ZG5z:x/default%3F_return_fields=extattrs", p: v1alpha1.ReservationParameters{Network: "192.0.2.0/24"},
			want: "names a path, not an object"},
		"OtherKind": {ref: "record:host/ZG5zLmhvc3Q:node1.example.com/default", p: v1alpha1.ReservationParameters{Network: "192.0.2.0/24"},
			want: "it names a HostRecord, spec.forProvider.recordType asks for a FixedAddress"},
		"OtherNetworkView": {ref: elsewhere.Ref, p: v1alpha1.ReservationParameters{Address: "10.77.0.5"},
			want: `it is in network view "other", the ProviderConfig's is "default"`},
	}
	names := map[string]string{}
	for name, tc := range cases {
		r := reservation(ns, strings.ToLower(name), tc.p)
		meta.SetExternalName(r, tc.ref)
		if err := kube.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		names[name] = r.Name
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			testenv.Eventually(t, 30*time.Second, "a condition naming what is wrong", func(ctx context.Context) (bool, error) {
				r := &v1alpha1.Reservation{}
				if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: names[name]}, r); err != nil {
					return false, err
				}
				c := r.GetCondition(xpv1.TypeSynced)
				return c.Status == corev1.ConditionFalse && strings.Contains(c.Message, tc.want), nil
			})
			if err := kube.Delete(ctx, &v1alpha1.Reservation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: names[name]}}); err != nil {
				t.Fatal(err)
			}
			waitGone(t, ns, names[name])
		})
	}
	if n := srv.RequestCount("", "network"); n != 0 {
		t.Errorf("%d requests reached the grid's networks", n)
	}
	if got := srv.FixedAddresses(); len(got) != 1 || got[0].Ref != elsewhere.Ref {
		t.Errorf("fixed addresses after the deletions: %+v, want only %s", got, elsewhere.Ref)
	}
}
