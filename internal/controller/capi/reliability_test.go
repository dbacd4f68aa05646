package capi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	xpmeta "github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

// The reliability tests of this file draw from 10.200.0.0/16, which no
// other test of this package uses.

// holding is an in-cluster Reservation of ns holding every usable address
// of space, or only addr of it when addr is set.
func holding(ns, name string, space commonv1alpha1.AddressSpace, addr string) *inclusterv1alpha1.Reservation {
	r := &inclusterv1alpha1.Reservation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       inclusterv1alpha1.ReservationSpec{ForProvider: inclusterv1alpha1.ReservationParameters{Space: &space}},
	}
	if addr != "" {
		r.Spec.ForProvider.Address = addr
	} else {
		r.Spec.ForProvider.AllAddresses = true
	}
	return r
}

// deletedAtEnd deletes o, a Reservation, when the test ends (resuming it
// if paused), before its provider stops (call it after startProvider), and
// waits until it is gone with what it holds, so that the test may run
// again in one process (-count).
func deletedAtEnd(t *testing.T, o client.Object) {
	t.Helper()
	t.Cleanup(func() {
		ctx := context.Background()
		// A paused Reservation (forged) would never let go.
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := kube.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil || !xpmeta.IsPaused(o) {
				return client.IgnoreNotFound(err)
			}
			a := o.GetAnnotations()
			delete(a, xpmeta.AnnotationKeyReconciliationPaused)
			o.SetAnnotations(a)
			return kube.Update(ctx, o)
		}); err != nil {
			t.Errorf("cannot resume %s: %v", o.GetName(), err)
			return
		}
		if err := kube.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
			t.Errorf("cannot delete %s: %v", o.GetName(), err)
			return
		}
		// Two minutes: each step of a deletion that requeues waits out
		// crossplane-runtime's per-object backoff, which grows to 60 s for
		// a Reservation requeued often before (a loaded CI machine took
		// longer than one minute here).
		eventually(t, 2*time.Minute, o.GetName()+" gone", func(ctx context.Context) (bool, error) {
			err := kube.Get(ctx, client.ObjectKeyFromObject(o), o)
			if !kerrors.IsNotFound(err) {
				return false, client.IgnoreNotFound(err)
			}
			held, err := heldBy(ctx, string(o.GetUID()))
			return len(held) == 0, err
		})
	})
}

// waitClaimRefused waits until claim ns/name is not Ready with reason and
// every fragment of says in its message, and checks that it has no
// IPAddress.
func waitClaimRefused(t *testing.T, ns, name, reason string, says ...string) *metav1.Condition {
	t.Helper()
	var cond *metav1.Condition
	eventually(t, 30*time.Second, fmt.Sprintf("claim %s/%s refused with %s saying %q", ns, name, reason, says), func(ctx context.Context) (bool, error) {
		var err error
		_, cond, err = claimCondition(ctx, ns, name)
		if err != nil || cond == nil {
			return false, err
		}
		if cond.Status != metav1.ConditionFalse || cond.Reason != reason {
			return false, fmt.Errorf("condition %+v", cond)
		}
		for _, s := range says {
			if !strings.Contains(cond.Message, s) {
				return false, fmt.Errorf("condition %+v", cond)
			}
		}
		return true, nil
	})
	for _, a := range addresses(t, ns) {
		if a.Spec.ClaimRef.Name == name {
			t.Errorf("refused claim %s has IPAddress %s (%s)", name, a.Name, a.Spec.Address)
		}
	}
	return cond
}

// forge changes the status of r, a Reservation of either backend, with
// set, as a tenant who may edit its own Reservation can: paused first,
// so that the provider no longer rewrites it. The provider may write r
// meanwhile: each step retries on conflict.
func forge(t *testing.T, r client.Object, set func()) {
	t.Helper()
	ctx := context.Background()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
			return err
		}
		xpmeta.AddAnnotations(r, map[string]string{xpmeta.AnnotationKeyReconciliationPaused: "true"})
		return kube.Update(ctx, r)
	}); err != nil {
		t.Fatal(err)
	}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
			return err
		}
		set()
		return kube.Status().Update(ctx, r)
	}); err != nil {
		t.Fatal(err)
	}
}

// TestForgedReservationStatus: a tenant writes into its own Reservation's
// status an address the backend never gave it, a free one of the pool's
// range. The pool hands out only what the ledger records the Reservation
// holds (for Infoblox: what the grid confirmed), never the forged address.
func TestForgedReservationStatus(t *testing.T) {
	startProvider(t)
	cases := []struct {
		name string
		// reserve creates the Reservation in ns, waits until the ledger
		// records what it holds and returns it, its reference, that
		// address and the addresses its pool lists.
		reserve func(t *testing.T, ns string) (r client.Object, ref v1alpha1.ReservationRef, granted string, pool []string)
		forged  string
		gateway string // of the pool
		// forge writes forged into r's status.
		forge func(r client.Object, forged string)
	}{
		{
			name: "Infoblox", forged: "10.200.1.99", gateway: "10.200.1.1",
			reserve: func(t *testing.T, ns string) (client.Object, v1alpha1.ReservationRef, string, []string) {
				const user, password = "ipam-provider", "Corr3ct-Horse-Battery"
				srv := wapisim.NewTestServer(t, wapisim.Config{Username: user, Password: password})
				if _, err := srv.AddNetwork("default", "10.200.1.0/24", wapisim.NetworkOptions{Gateway: "10.200.1.1"}); err != nil {
					t.Fatal(err)
				}
				if err := testenv.InfobloxProviderConfig(context.Background(), kube, ns, "grid", srv, user, password); err != nil {
					t.Fatal(err)
				}
				r := &infobloxv1alpha1.Reservation{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mine"},
					Spec:       infobloxv1alpha1.ReservationSpec{ForProvider: infobloxv1alpha1.ReservationParameters{Network: "10.200.1.0/24"}},
				}
				r.SetProviderConfigReference(&xpv1.ProviderConfigReference{Kind: infobloxv1alpha1.ProviderConfigKind, Name: "grid"})
				create(t, r)
				t.Cleanup(func() { deleteInfobloxReservation(t, ns, "mine") })
				var granted string
				eventually(t, time.Minute, "the grid's address recorded in the ledger", func(ctx context.Context) (bool, error) {
					if err := kube.Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
						return false, err
					}
					if granted = r.Status.AtProvider.Address; granted == "" {
						return false, nil
					}
					al, err := allocation(ctx, granted)
					return al != nil && al.Spec.Owner.UID == string(r.GetUID()), err
				})
				ref := v1alpha1.ReservationRef{APIVersion: infobloxv1alpha1.SchemeGroupVersion.String(), Kind: infobloxv1alpha1.ReservationKind, Name: "mine"}
				return r, ref, granted, []string{"10.200.1.0/24"}
			},
			forge: func(r client.Object, forged string) {
				r.(*infobloxv1alpha1.Reservation).Status.AtProvider.Address = forged
			},
		},
		{
			name: "InCluster", forged: "10.200.2.11", gateway: "10.200.2.1",
			reserve: func(t *testing.T, ns string) (client.Object, v1alpha1.ReservationRef, string, []string) {
				r := holding(ns, "mine", commonv1alpha1.AddressSpace{CIDR: "10.200.2.0/24", Gateway: "10.200.2.1"}, "10.200.2.10")
				create(t, r)
				deletedAtEnd(t, r)
				eventually(t, time.Minute, "10.200.2.10 held in the ledger", func(ctx context.Context) (bool, error) {
					al, err := allocation(ctx, "10.200.2.10")
					return al != nil && al.Spec.Owner.UID == string(r.GetUID()), err
				})
				return r, inclusterRef("mine"), "10.200.2.10", []string{"10.200.2.10-10.200.2.11"}
			},
			forge: func(r client.Object, forged string) {
				obs := &r.(*inclusterv1alpha1.Reservation).Status.AtProvider
				obs.Addresses = append(obs.Addresses, forged)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t, "forger")
			r, ref, granted, poolAddrs := tc.reserve(t, ns)
			if granted == tc.forged {
				t.Fatalf("the backend granted %s, the address this test forges", tc.forged)
			}
			forge(t, r, func() { tc.forge(r, tc.forged) })

			p := ippool(ns, "nodes", tc.gateway, 24, poolAddrs...)
			p.Spec.ReservationRefs = []v1alpha1.ReservationRef{ref}
			create(t, p)
			releasedAtEnd(t, ns, "nodes")
			create(t, claim(ns, "a", "nodes"))
			eventually(t, 30*time.Second, "claim a bound", func(ctx context.Context) (bool, error) {
				a, err := addressOf(ctx, ns, "a")
				return a != "", err
			})
			create(t, claim(ns, "b", "nodes"))
			waitClaimRefused(t, ns, "b", capiipamv1beta2.IPAddressClaimReadyPoolExhaustedReason, "1 requested")
			got := addresses(t, ns)
			if _, ok := got["nodes/"+granted]; !ok || len(got) != 1 {
				t.Errorf("the pool handed out %v, want only %s, what the backend granted", keys(got), granted)
			}
			if al, err := allocation(context.Background(), tc.forged); err != nil || al != nil {
				t.Errorf("the forged %s is held: %+v %v", tc.forged, al, err)
			}
		})
	}
}

// TestHostilePools: pools and claims a tenant may write to reach addresses
// another namespace holds get nothing, and say why.
func TestHostilePools(t *testing.T) {
	startProvider(t)
	ctx := context.Background()
	// The victim's Reservations hold 10.200.3.50-51 and 10.200.4.10, and its
	// pool "shared" hands out 10.200.3.50-51.
	victim := namespace(t, "victim")
	held := holding(victim, "nodes", commonv1alpha1.AddressSpace{IPAddresses: []string{"10.200.3.50-10.200.3.51"}, Gateway: "10.200.3.1", Prefix: 24}, "")
	vips := holding(victim, "vips", commonv1alpha1.AddressSpace{CIDR: "10.200.4.0/24"}, "10.200.4.10")
	for _, r := range []*inclusterv1alpha1.Reservation{held, vips} {
		create(t, r)
		deletedAtEnd(t, r)
	}
	shared := ippool(victim, "shared", "10.200.3.1", 24, "10.200.3.50-10.200.3.51")
	shared.Spec.ReservationRefs = []v1alpha1.ReservationRef{inclusterRef("nodes")}
	create(t, shared)
	releasedAtEnd(t, victim, "shared")
	eventually(t, 30*time.Second, "the victim's reservations hold their addresses", func(ctx context.Context) (bool, error) {
		for _, a := range []string{"10.200.3.50", "10.200.3.51", "10.200.4.10"} {
			if al, err := allocation(ctx, a); err != nil || al == nil || al.Spec.Owner.Namespace != victim {
				return false, err
			}
		}
		return true, nil
	})

	cases := []struct {
		name string
		// arrange creates the attacker's objects in ns and returns the
		// claim to watch.
		arrange func(t *testing.T, ns string) string
		reason  string
		says    []string
	}{
		{
			name: "PoolWithItsOwnReservationListsAnotherTenantsAddresses",
			arrange: func(t *testing.T, ns string) string {
				mine := holding(ns, "mine", commonv1alpha1.AddressSpace{IPAddresses: []string{"10.200.3.60"}, Gateway: "10.200.3.1", Prefix: 24}, "")
				create(t, mine)
				deletedAtEnd(t, mine)
				p := ippool(ns, "with-ref", "10.200.3.1", 24, "10.200.3.50-10.200.3.51")
				p.Spec.ReservationRefs = []v1alpha1.ReservationRef{inclusterRef("mine")}
				create(t, p)
				releasedAtEnd(t, ns, "with-ref")
				create(t, claim(ns, "a", "with-ref"))
				return "a"
			},
			reason: capiipamv1beta2.IPAddressClaimReadyPoolExhaustedReason, says: []string{"IPPool with-ref [10.200.3.50-10.200.3.51]: 1 requested, 0 usable, 0 already held, 0 free"},
		},
		{
			name: "PoolWithoutReservationListsAnotherTenantsAddresses",
			arrange: func(t *testing.T, ns string) string {
				create(t, ippool(ns, "no-ref", "10.200.3.1", 24, "10.200.3.50-10.200.3.51"))
				releasedAtEnd(t, ns, "no-ref")
				create(t, claim(ns, "b", "no-ref"))
				return "b"
			},
			reason: capiipamv1beta2.IPAddressClaimReadyPoolExhaustedReason, says: []string{"IPPool no-ref [10.200.3.50-10.200.3.51]: 1 requested, 2 usable, 2 already held, 0 free"},
		},
		{
			name: "ReservationRefWithANamespace",
			arrange: func(t *testing.T, ns string) string {
				// The type has no namespace field: written as unstructured,
				// the API server drops it and the pool looks in its own
				// namespace.
				u := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": v1alpha1.SchemeGroupVersion.String(), "kind": v1alpha1.IPPoolKind,
					"metadata": map[string]any{"namespace": ns, "name": "reach"},
					"spec": map[string]any{
						"addresses": []any{"10.200.4.10"}, "prefix": int64(24),
						"reservationRefs": []any{map[string]any{
							"apiVersion": inclusterv1alpha1.SchemeGroupVersion.String(), "kind": inclusterv1alpha1.ReservationKind,
							"name": "vips", "namespace": victim,
						}},
					},
				}}
				create(t, u)
				releasedAtEnd(t, ns, "reach")
				stored := &unstructured.Unstructured{}
				stored.SetGroupVersionKind(u.GroupVersionKind())
				if err := kube.Get(context.Background(), client.ObjectKeyFromObject(u), stored); err != nil {
					t.Fatal(err)
				}
				refs, _, _ := unstructured.NestedSlice(stored.Object, "spec", "reservationRefs")
				if len(refs) != 1 || refs[0].(map[string]any)["namespace"] != nil {
					t.Fatalf("stored reservationRefs %v, want the namespace dropped", refs)
				}
				eventually(t, 30*time.Second, "the pool ReservationUnavailable", func(context.Context) (bool, error) {
					c := meta.FindStatusCondition(getPool(t, ns, "reach").Status.Conditions, v1alpha1.ConditionReady)
					return c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonReservationUnavailable &&
						strings.Contains(c.Message, "reservations unavailable: Reservation vips not found"), nil
				})
				create(t, claim(ns, "c", "reach"))
				return "c"
			},
			reason: capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason,
			says:   []string{`IPPool "reach" cannot protect its reservations: reservations unavailable: Reservation vips not found`},
		},
		{
			name: "ClaimOnAPoolOfAnotherNamespace",
			arrange: func(t *testing.T, ns string) string {
				create(t, claim(ns, "d", "shared"))
				return "d"
			},
			reason: capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason, says: []string{`IPPool "shared" not found`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t, "attacker")
			name := tc.arrange(t, ns)
			cond := waitClaimRefused(t, ns, name, tc.reason, tc.says...)
			t.Logf("refused: %s: %s", cond.Reason, cond.Message)
			if strings.Contains(cond.Message, victim) {
				t.Errorf("the claim's condition names the victim's namespace: %s", cond.Message)
			}
		})
	}
	// The victim's addresses were not touched: no lease, no in-use mark
	// but its own pool's (none is handed out), and its Reservation carries
	// no in-use finalizer on the attacker's behalf.
	for _, a := range []string{"10.200.3.50", "10.200.3.51", "10.200.4.10"} {
		al, err := allocation(ctx, a)
		if err != nil || al == nil || al.Spec.Owner.Namespace != victim || al.Spec.Lease != nil || hasFinalizer(al, commonv1alpha1.FinalizerInUse) {
			t.Errorf("the victim's %s was touched: %+v %v", a, al, err)
		}
	}
	if err := kube.Get(ctx, client.ObjectKeyFromObject(vips), vips); err != nil || hasFinalizer(vips, commonv1alpha1.FinalizerInUse) {
		t.Errorf("the victim's Reservation vips: finalizers %v, %v; want no in-use finalizer", vips.Finalizers, err)
	}
}

// TestRequestedAddressesRefused: a claim asking for an address its pool
// may not hand out, or that someone holds, is refused with
// AllocationFailed and a message saying why.
func TestRequestedAddressesRefused(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "requests")
	other := namespace(t, "requests-other")
	create(t, ippool(ns, "nodes", "10.200.6.1", 28, "10.200.6.0/28"))
	releasedAtEnd(t, ns, "nodes")
	theirs := holding(other, "theirs", commonv1alpha1.AddressSpace{CIDR: "10.200.6.0/28", Gateway: "10.200.6.1"}, "10.200.6.12")
	create(t, theirs)
	deletedAtEnd(t, theirs)
	requesting := func(name, addr string) *capiipamv1beta2.IPAddressClaim {
		c := claim(ns, name, "nodes")
		c.Annotations = map[string]string{v1alpha1.AnnotationRequestedAddress: addr}
		return c
	}
	create(t, requesting("first", "10.200.6.9"))
	eventually(t, 30*time.Second, "the first claim gets what it asked for", func(ctx context.Context) (bool, error) {
		a, err := addressOf(ctx, ns, "first")
		return a == "10.200.6.9", err
	})
	eventually(t, 30*time.Second, "10.200.6.12 held by the other namespace", func(ctx context.Context) (bool, error) {
		al, err := allocation(ctx, "10.200.6.12")
		return al != nil && al.Spec.Owner.Namespace == other, err
	})
	const refusedBy = "is not handed out by IPPool nodes"
	cases := []struct {
		name, addr string
		says       []string
	}{
		{"NotAnAddress", "banana", []string{v1alpha1.AnnotationRequestedAddress + ` "banana": not an IP address`}},
		{"AddressWithAZone", "fe80::1%eth0", []string{"an address with a zone cannot be reserved"}},
		{"IPv4MappedIPv6Address", "::ffff:10.200.6.9", []string{"IPv4-mapped IPv6 address: write it as IPv4 (10.200.6.9)"}},
		{"OutsideThePool", "10.200.7.1", []string{"requested address 10.200.7.1 " + refusedBy, "outside [10.200.6.0/28]"}},
		{"TheGateway", "10.200.6.1", []string{"requested address 10.200.6.1 " + refusedBy, "the gateway"}},
		{"TheNetworkAddress", "10.200.6.0", []string{"requested address 10.200.6.0 " + refusedBy, "the network address of 10.200.6.0/28"}},
		{"TheBroadcastAddress", "10.200.6.15", []string{"requested address 10.200.6.15 " + refusedBy, "the broadcast address of 10.200.6.0/28"}},
		{"HeldByAnotherClaim", "10.200.6.9", []string{"requested address 10.200.6.9 is in use"}},
		{"HeldByAnotherNamespace", "10.200.6.12", []string{"requested address 10.200.6.12 is in use"}},
	}
	for _, tc := range cases {
		create(t, requesting(strings.ToLower(tc.name), tc.addr))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cond := waitClaimRefused(t, ns, strings.ToLower(tc.name), capiipamv1beta2.IPAddressClaimReadyAllocationFailedReason, tc.says...)
			t.Logf("refused: %s", cond.Message)
			if strings.Contains(cond.Message, other) || strings.Contains(cond.Message, "theirs") {
				t.Errorf("the condition names the other namespace's holder: %s", cond.Message)
			}
		})
	}
	if got := len(addresses(t, ns)); got != 1 {
		t.Errorf("%d IPAddresses in the namespace, want only the first claim's", got)
	}
}

// TestPoolSpecCheckedByTheProvider: pool specs admission cannot judge
// (overlaps, reversed ranges, addresses outside the gateway's network, a
// list of nothing but reserved addresses) make the pool not Ready with
// InvalidSpec, and its claims are refused with PoolNotReady; nothing is
// drawn from the ledger.
func TestPoolSpecCheckedByTheProvider(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "badpools")
	cases := []struct {
		name    string
		gateway string
		addrs   []string
		says    string
	}{
		{"OverlappingEntries", "", []string{"10.200.8.10-10.200.8.20", "10.200.8.15"}, `ipAddresses[1] "10.200.8.15": overlaps ipAddresses[0] (10.200.8.10-10.200.8.20)`},
		{"ReversedRange", "", []string{"10.200.9.20-10.200.9.10"}, `ipAddresses[0] "10.200.9.20-10.200.9.10": range ends are reversed`},
		{"EntryOutsideThePrefixNetwork", "", []string{"10.200.10.10", "10.200.11.10"}, `ipAddresses[1] "10.200.11.10": is outside the network 10.200.10.0/24`},
		{"AddressesOutsideTheGatewaysNetwork", "10.200.13.1", []string{"10.200.12.10"}, `ipAddresses[0] "10.200.12.10": is outside the network 10.200.13.0/24`},
		{"OnlyTheGateway", "10.200.14.1", []string{"10.200.14.1"}, `ipAddresses[0] "10.200.14.1": is the gateway and is never handed out`},
		{"OnlyTheBroadcastAddress", "", []string{"10.200.15.255"}, `ipAddresses[0] "10.200.15.255": is the broadcast address of 10.200.15.0/24 and is never handed out`},
	}
	for _, tc := range cases {
		name := strings.ToLower(tc.name)
		create(t, ippool(ns, name, tc.gateway, 24, tc.addrs...))
		releasedAtEnd(t, ns, name)
		create(t, claim(ns, name, name))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ToLower(tc.name)
			eventually(t, 30*time.Second, "the pool InvalidSpec", func(context.Context) (bool, error) {
				c := meta.FindStatusCondition(getPool(t, ns, name).Status.Conditions, v1alpha1.ConditionReady)
				if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonInvalidSpec || !strings.Contains(c.Message, tc.says) {
					return false, fmt.Errorf("condition %+v", c)
				}
				return true, nil
			})
			cond := waitClaimRefused(t, ns, name, capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason, fmt.Sprintf("IPPool %q is invalid: %s", name, tc.says))
			t.Logf("refused: %s", cond.Message)
			if p := getPool(t, ns, name); p.Status.Total != 0 || p.Status.Free != 0 {
				t.Errorf("an invalid pool counts %d total, %d free", p.Status.Total, p.Status.Free)
			}
		})
	}
	l := &inclusterv1alpha1.AllocationList{}
	if err := kube.List(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	for _, al := range l.Items {
		if al.Spec.Owner.Namespace == ns {
			t.Errorf("the ledger holds %s for an invalid pool of %s", al.Spec.Address, ns)
		}
	}
}

// TestPoolAdmission: malformed IPPools the API server refuses with a
// message naming the field, beyond TestPoolValidation's.
func TestPoolAdmission(t *testing.T) {
	ns := namespace(t, "pool-admission")
	ref := func(name string) map[string]any {
		return map[string]any{"apiVersion": inclusterv1alpha1.SchemeGroupVersion.String(), "kind": inclusterv1alpha1.ReservationKind, "name": name}
	}
	list := func(n int, format string) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = fmt.Sprintf(format, i/250, i%250+1)
		}
		return out
	}
	cases := map[string]struct {
		spec map[string]any
		want string
	}{
		"NoAddresses":       {map[string]any{"prefix": int64(24)}, "spec.addresses: Required value"},
		"NoPrefix":          {map[string]any{"addresses": []any{"10.200.30.10"}}, "spec.prefix: Required value"},
		"PrefixZero":        {map[string]any{"addresses": []any{"10.200.30.10"}, "prefix": int64(0)}, "spec.prefix in body should be greater than or equal to 1"},
		"RepeatedAddresses": {map[string]any{"addresses": []any{"10.200.30.10", "10.200.30.10"}, "prefix": int64(24)}, `spec.addresses[1]: Duplicate value: "10.200.30.10"`},
		"TooManyAddresses":  {map[string]any{"addresses": list(1025, "10.200.%d.%d"), "prefix": int64(16)}, "spec.addresses: Too many: 1025: must have at most 1024 items"},
		"GraceAboveADay": {map[string]any{"addresses": []any{"10.200.30.10"}, "prefix": int64(24), "reuseGracePeriodSeconds": int64(86401)},
			"spec.reuseGracePeriodSeconds in body should be less than or equal to 86400"},
		"NegativeGrace": {map[string]any{"addresses": []any{"10.200.30.10"}, "prefix": int64(24), "reuseGracePeriodSeconds": int64(-1)},
			"spec.reuseGracePeriodSeconds in body should be greater than or equal to 0"},
		"ReservationRefWithoutName": {map[string]any{"addresses": []any{"10.200.30.10"}, "prefix": int64(24), "reservationRefs": []any{ref("")}},
			"spec.reservationRefs[0].name in body should be at least 1 chars long"},
		"TooManyReservationRefs": {map[string]any{"addresses": []any{"10.200.30.10"}, "prefix": int64(24), "reservationRefs": func() []any {
			out := make([]any, 65)
			for i := range out {
				out[i] = ref(fmt.Sprint("r", i))
			}
			return out
		}()}, "spec.reservationRefs: Too many: 65: must have at most 64 items"},
		"ReservationRefOfAnotherVersion": {map[string]any{"addresses": []any{"10.200.30.10"}, "prefix": int64(24), "reservationRefs": []any{map[string]any{
			"apiVersion": "incluster.ipam.provider-ipam.io/v1beta9", "kind": inclusterv1alpha1.ReservationKind, "name": "nodes",
		}}}, "must name a Reservation of provider-ipam: apiVersion incluster.ipam.provider-ipam.io/v1alpha1 or infoblox.ipam.provider-ipam.io/v1alpha1, kind Reservation"},
	}
	i := 0
	for name, tc := range cases {
		i++
		t.Run(name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": v1alpha1.SchemeGroupVersion.String(), "kind": v1alpha1.IPPoolKind,
				"metadata": map[string]any{"namespace": ns, "name": fmt.Sprint("p", i)}, "spec": tc.spec,
			}}
			testenv.Refused(t, kube.Create(context.Background(), u), tc.want)
		})
	}
}
