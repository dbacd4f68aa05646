package capi_test

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/controller/capi/backing"
	"github.com/provider-ipam/provider-ipam/internal/controller/capi/ipaddressclaim"
)

// createClaims creates n claims on pool at once, named prefix-0 ... prefix-n-1.
func createClaims(t *testing.T, ns, pool, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := kube.Create(context.Background(), claim(ns, fmt.Sprintf("%s-%d", prefix, i), pool)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// settle waits until every claim of ns is bound or reports the pool
// exhausted, with wantBound bound, and returns the bound ones.
func settle(t *testing.T, ns string, wantBound, total int) (map[string]string, map[string]metav1.Condition) {
	t.Helper()
	var bound map[string]string
	var waiting map[string]metav1.Condition
	eventually(t, time.Minute, fmt.Sprintf("%d of %d claims bound, the rest exhausted", wantBound, total), func(ctx context.Context) (bool, error) {
		var err error
		bound, waiting, err = claimsState(ctx, ns)
		if err != nil {
			return false, err
		}
		if len(bound) != wantBound || len(bound)+len(waiting) != total {
			return false, fmt.Errorf("%d bound, %d waiting", len(bound), len(waiting))
		}
		for name, c := range waiting {
			if c.Reason != capiipamv1beta2.IPAddressClaimReadyPoolExhaustedReason {
				return false, fmt.Errorf("%s: %+v", name, c)
			}
		}
		return true, nil
	})
	return bound, waiting
}

func TestExhaustionAndRelease(t *testing.T) {
	ns := namespace(t, "exhaustion")
	startProvider(t)
	releasedAtEnd(t, ns, "nodes")
	// Five usable addresses: .1 is the gateway.
	create(t, ippool(ns, "nodes", "10.1.1.1", 24, "10.1.1.1-10.1.1.6"))
	createClaims(t, ns, "nodes", "m", 10)

	bound, waiting := settle(t, ns, 5, 10)
	for name, c := range waiting {
		if want := "5 usable, 5 already held, 0 free"; !strings.Contains(c.Message, want) || c.Status != metav1.ConditionFalse {
			t.Errorf("%s: condition %+v, want Ready False with %q", name, c, want)
		}
	}
	addrs := addresses(t, ns)
	if len(addrs) != 5 {
		t.Fatalf("%d IPAddresses, want 5: %v", len(addrs), addrs)
	}
	for k, a := range addrs {
		if a.Spec.Address == "10.1.1.1" {
			t.Errorf("the gateway was handed out: %s", k)
		}
		if a.Spec.Gateway != "10.1.1.1" || a.Spec.Prefix == nil || *a.Spec.Prefix != 24 {
			t.Errorf("%s: gateway %q prefix %v, want 10.1.1.1/24", k, a.Spec.Gateway, a.Spec.Prefix)
		}
		if bound[a.Spec.ClaimRef.Name] != a.Name {
			t.Errorf("%s: claim %s records %q", a.Name, a.Spec.ClaimRef.Name, bound[a.Spec.ClaimRef.Name])
		}
		owner := metav1.GetControllerOf(&a)
		if owner == nil || owner.Kind != "IPAddressClaim" || owner.Name != a.Spec.ClaimRef.Name {
			t.Errorf("%s: controller %+v, want its claim", a.Name, owner)
		}
		if !hasFinalizer(&a, backing.FinalizerProtectAddress) {
			t.Errorf("%s: no %s finalizer", a.Name, backing.FinalizerProtectAddress)
		}
	}
	eventually(t, 30*time.Second, "pool status 5/5/0", func(context.Context) (bool, error) {
		p := getPool(t, ns, "nodes")
		return p.Status.Total == 5 && p.Status.Used == 5 && p.Status.Free == 0 &&
			meta.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.ConditionReady), nil
	})

	// Deleting a bound claim frees its address for a waiting one.
	var gone string
	for c := range bound {
		gone = c
		break
	}
	addr := &capiipamv1beta2.IPAddress{}
	if err := kube.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: bound[gone]}, addr); err != nil {
		t.Fatal(err)
	}
	freed := addr.Spec.Address
	if err := kube.Delete(context.Background(), claim(ns, gone, "nodes")); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "a waiting claim to get the freed address", func(ctx context.Context) (bool, error) {
		b, w, err := claimsState(ctx, ns)
		if err != nil {
			return false, err
		}
		if len(b) != 5 || len(w) != 4 {
			return false, fmt.Errorf("%d bound, %d waiting", len(b), len(w))
		}
		a, ok := addresses(t, ns)["nodes/"+freed]
		if !ok || a.UID == addr.UID || a.Spec.ClaimRef.Name == gone {
			return false, fmt.Errorf("%s not handed out again: %+v", freed, a.ObjectMeta)
		}
		if b[a.Spec.ClaimRef.Name] != a.Name {
			return false, fmt.Errorf("%s not recorded by %s", freed, a.Spec.ClaimRef.Name)
		}
		return true, nil
	})
	eventually(t, 30*time.Second, "the deleted claim gone", func(ctx context.Context) (bool, error) {
		err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: gone}, &capiipamv1beta2.IPAddressClaim{})
		return kerrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	addresses(t, ns)
}

func TestTwoReplicasNoDuplicate(t *testing.T) {
	ns := namespace(t, "replicas")
	startProvider(t)
	startProvider(t)
	// 20 usable addresses for 25 claims.
	create(t, ippool(ns, "nodes", "10.1.2.1", 24, "10.1.2.1-10.1.2.21"))
	createClaims(t, ns, "nodes", "m", 25)
	bound, _ := settle(t, ns, 20, 25)
	addrs := addresses(t, ns)
	if len(addrs) != 20 {
		t.Fatalf("%d IPAddresses for %d bound claims: %v", len(addrs), len(bound), addrs)
	}
	seen := map[string]bool{}
	for _, name := range bound {
		if seen[name] {
			t.Fatalf("IPAddress %s recorded by two claims", name)
		}
		seen[name] = true
	}
}

func TestIPv6(t *testing.T) {
	ns := namespace(t, "ipv6")
	startProvider(t)
	// 2001:db8:1:: is the subnet-router anycast address, ::1 the gateway.
	create(t, ippool(ns, "v6", "2001:db8:1::1", 64, "2001:db8:1::-2001:db8:1::4"))
	createClaims(t, ns, "v6", "m", 4)
	settle(t, ns, 3, 4)
	var got []string
	for _, a := range addresses(t, ns) {
		if a.Name != a.Spec.ClaimRef.Name {
			t.Errorf("IPAddress %s of claim %s: not named like its claim", a.Name, a.Spec.ClaimRef.Name)
		}
		got = append(got, a.Spec.Address)
		// The ledger holds each, in the expanded form of its name.
		name := strings.ReplaceAll(netip.MustParseAddr(a.Spec.Address).StringExpanded(), ":", "-")
		if al, err := allocation(context.Background(), name); err != nil || al == nil || al.Spec.Lease == nil {
			t.Errorf("%s not leased in the ledger: %+v %v", a.Spec.Address, al, err)
		}
	}
	slices.Sort(got)
	if want := []string{"2001:db8:1::2", "2001:db8:1::3", "2001:db8:1::4"}; !slices.Equal(got, want) {
		t.Errorf("addresses %v, want %v", got, want)
	}
}

// reservation holds addrs in the in-cluster ledger, in 203.0.113.0/24.
func reservation(ns, name string, addrs ...string) *inclusterv1alpha1.Reservation {
	return &inclusterv1alpha1.Reservation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: inclusterv1alpha1.ReservationSpec{ForProvider: inclusterv1alpha1.ReservationParameters{
			Space:        &commonv1alpha1.AddressSpace{IPAddresses: addrs, Gateway: "203.0.113.1", Prefix: 24},
			AllAddresses: true,
		}},
	}
}

func TestInUseFinalizer(t *testing.T) {
	ns := namespace(t, "inuse")
	startProvider(t)
	ctx := context.Background()
	create(t, reservation(ns, "a", "203.0.113.10-203.0.113.11"))
	create(t, reservation(ns, "b", "203.0.113.12"))
	p := ippool(ns, "nodes", "203.0.113.1", 24, "203.0.113.10-203.0.113.12")
	ref := func(name string) v1alpha1.ReservationRef {
		return v1alpha1.ReservationRef{APIVersion: inclusterv1alpha1.SchemeGroupVersion.String(), Kind: inclusterv1alpha1.ReservationKind, Name: name}
	}
	p.Spec.ReservationRefs = []v1alpha1.ReservationRef{ref("a"), ref("b")}
	create(t, p)

	inUse := func(want bool) func(ctx context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			for _, name := range []string{"a", "b"} {
				r := &inclusterv1alpha1.Reservation{}
				if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, r); err != nil {
					return false, err
				}
				if hasFinalizer(r, commonv1alpha1.FinalizerInUse) != want {
					return false, fmt.Errorf("reservation %s finalizers %v", name, r.Finalizers)
				}
			}
			if p := getPool(t, ns, "nodes"); hasFinalizer(p, commonv1alpha1.FinalizerInUse) != want {
				return false, fmt.Errorf("pool finalizers %v", p.Finalizers)
			}
			return true, nil
		}
	}
	eventually(t, 30*time.Second, "pool ready, 3 free", func(context.Context) (bool, error) {
		p := getPool(t, ns, "nodes")
		return p.Status.Total == 3 && p.Status.Free == 3 && meta.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.ConditionReady), nil
	})
	if ok, err := inUse(false)(ctx); !ok {
		t.Fatalf("finalizers before any address is handed out: %v", err)
	}

	createClaims(t, ns, "nodes", "m", 2)
	settle(t, ns, 2, 2)
	eventually(t, 30*time.Second, "in-use finalizers on the reservations and the pool", inUse(true))
	eventually(t, 30*time.Second, "pool status 3/2/1", func(context.Context) (bool, error) {
		p := getPool(t, ns, "nodes")
		return p.Status.Total == 3 && p.Status.Used == 2 && p.Status.Free == 1, nil
	})

	// Nor can a reservation; the pool stops handing out its addresses.
	if err := kube.Delete(ctx, reservation(ns, "b")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "pool ReservationUnavailable", func(context.Context) (bool, error) {
		c := meta.FindStatusCondition(getPool(t, ns, "nodes").Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Reason == v1alpha1.ReasonReservationUnavailable && strings.Contains(c.Message, "b is being deleted"), nil
	})
	if ok, err := inUse(true)(ctx); !ok {
		t.Fatalf("finalizers while a reservation is deleted in use: %v", err)
	}

	// The pool cannot go while machines hold its addresses.
	if err := kube.Delete(ctx, getPool(t, ns, "nodes")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "pool Deleting", func(context.Context) (bool, error) {
		c := meta.FindStatusCondition(getPool(t, ns, "nodes").Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Reason == v1alpha1.ReasonDeleting, nil
	})
	if ok, err := inUse(true)(ctx); !ok {
		t.Fatalf("finalizers while the pool is deleted in use: %v", err)
	}
	// A new claim is refused while the pool is going.
	create(t, claim(ns, "late", "nodes"))
	eventually(t, 30*time.Second, "late claim PoolNotReady", func(ctx context.Context) (bool, error) {
		c := &capiipamv1beta2.IPAddressClaim{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "late"}, c); err != nil {
			return false, err
		}
		cond := meta.FindStatusCondition(c.Status.Conditions, capiipamv1beta2.IPAddressClaimReadyCondition)
		return cond != nil && cond.Reason == capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason, nil
	})

	for _, name := range []string{"m-0", "m-1", "late"} {
		if err := kube.Delete(ctx, claim(ns, name, "nodes")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "in-use finalizers gone, reservation b and the pool deleted", func(ctx context.Context) (bool, error) {
		r := &inclusterv1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, r); err != nil {
			return false, err
		}
		if hasFinalizer(r, commonv1alpha1.FinalizerInUse) {
			return false, fmt.Errorf("reservation a finalizers %v", r.Finalizers)
		}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "b"}, r); !kerrors.IsNotFound(err) {
			return false, fmt.Errorf("reservation b: %v, finalizers %v", err, r.Finalizers)
		}
		err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "nodes"}, &v1alpha1.IPPool{})
		return kerrors.IsNotFound(err), nil
	})
}

func TestMissingReservation(t *testing.T) {
	ns := namespace(t, "missing")
	startProvider(t)
	p := ippool(ns, "nodes", "192.0.2.1", 24, "192.0.2.0/28")
	p.Spec.ReservationRefs = []v1alpha1.ReservationRef{{APIVersion: inclusterv1alpha1.SchemeGroupVersion.String(), Kind: inclusterv1alpha1.ReservationKind, Name: "nowhere"}}
	create(t, p)
	create(t, claim(ns, "m", "nodes"))
	eventually(t, 30*time.Second, "pool ReservationMissing and claim PoolNotReady", func(ctx context.Context) (bool, error) {
		pc := meta.FindStatusCondition(getPool(t, ns, "nodes").Status.Conditions, v1alpha1.ConditionReady)
		c := &capiipamv1beta2.IPAddressClaim{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "m"}, c); err != nil {
			return false, err
		}
		cc := meta.FindStatusCondition(c.Status.Conditions, capiipamv1beta2.IPAddressClaimReadyCondition)
		return pc != nil && pc.Reason == v1alpha1.ReasonReservationUnavailable && strings.Contains(pc.Message, "nowhere") &&
			cc != nil && cc.Reason == capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason && strings.Contains(cc.Message, "nowhere"), nil
	})
	if n := len(addresses(t, ns)); n != 0 {
		t.Errorf("%d IPAddresses handed out from a pool whose reservation is missing", n)
	}
}

func TestClusterRules(t *testing.T) {
	ns := namespace(t, "cluster")
	startProvider(t)
	create(t, ippool(ns, "nodes", "10.1.3.1", 24, "10.1.3.0/28"))

	paused := claim(ns, "paused", "nodes")
	paused.Annotations = map[string]string{"cluster.x-k8s.io/paused": ""}
	create(t, paused)
	orphan := claim(ns, "no-cluster", "nodes")
	orphan.Spec.ClusterName = "absent"
	create(t, orphan)

	cluster(t, ns, "stopped", true)
	onPausedCluster := claim(ns, "on-paused-cluster", "nodes")
	onPausedCluster.Spec.ClusterName = "stopped"
	create(t, onPausedCluster)
	cluster(t, ns, "running", false)
	onCluster := claim(ns, "on-cluster", "nodes")
	onCluster.Labels = map[string]string{"cluster.x-k8s.io/cluster-name": "running"}
	create(t, onCluster)

	eventually(t, 30*time.Second, "claim of a missing Cluster waits", func(ctx context.Context) (bool, error) {
		c := &capiipamv1beta2.IPAddressClaim{}
		if err := kube.Get(ctx, client.ObjectKeyFromObject(orphan), c); err != nil {
			return false, err
		}
		cond := meta.FindStatusCondition(c.Status.Conditions, capiipamv1beta2.IPAddressClaimReadyCondition)
		return cond != nil && cond.Reason == ipaddressclaim.ReasonWaitingForCluster, nil
	})
	// A control claim is served; by then the paused one was seen and left alone.
	create(t, claim(ns, "served", "nodes"))
	eventually(t, 30*time.Second, "control claim bound", func(ctx context.Context) (bool, error) {
		b, _, err := claimsState(ctx, ns)
		return b["served"] != "" && b["on-cluster"] != "", err
	})
	for _, k := range []client.Object{paused, onPausedCluster} {
		c := &capiipamv1beta2.IPAddressClaim{}
		if err := kube.Get(context.Background(), client.ObjectKeyFromObject(k), c); err != nil {
			t.Fatal(err)
		}
		if len(c.Status.Conditions) > 0 || len(c.Finalizers) > 0 {
			t.Errorf("paused claim %s touched: conditions %v finalizers %v", c.Name, c.Status.Conditions, c.Finalizers)
		}
	}
	if n := len(addresses(t, ns)); n != 2 {
		t.Errorf("%d IPAddresses, want 2 (served, on-cluster)", n)
	}
}

// cluster creates a CAPI Cluster, paused or not.
func cluster(t *testing.T, ns, name string, paused bool) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: "v1beta2", Kind: "Cluster"})
	u.SetNamespace(ns)
	u.SetName(name)
	if err := unstructured.SetNestedField(u.Object, paused, "spec", "paused"); err != nil {
		t.Fatal(err)
	}
	create(t, u)
}

// refPool is a pool referencing an object of apiVersion and kind.
func refPool(ns, name, apiVersion, kind string) *v1alpha1.IPPool {
	p := ippool(ns, name, "", 24, "192.0.2.10")
	p.Spec.ReservationRefs = []v1alpha1.ReservationRef{{APIVersion: apiVersion, Kind: kind, Name: "x"}}
	return p
}

func withGrace(p *v1alpha1.IPPool, seconds int32) *v1alpha1.IPPool {
	p.Spec.ReuseGracePeriodSeconds = seconds
	return p
}

func withAddresses(p *v1alpha1.IPPool, addrs []string) *v1alpha1.IPPool {
	p.Spec.Addresses = addrs
	return p
}

func TestPoolValidation(t *testing.T) {
	ns := namespace(t, "validation")
	cases := map[string]struct {
		pool *v1alpha1.IPPool
		want string
	}{
		"MixedFamilies":   {ippool(ns, "mixed", "", 24, "192.0.2.10", "2001:db8::1"), "one IP family"},
		"GatewayFamily":   {ippool(ns, "gw", "2001:db8::1", 24, "192.0.2.10"), "same IP family"},
		"PrefixTooLong":   {ippool(ns, "prefix", "", 33, "192.0.2.10"), "longer than the address family"},
		"NotAnAddress":    {ippool(ns, "bad", "", 24, "192.0.2.300"), "must be an IP address, a CIDR or a range"},
		"NoAddresses":     {ippool(ns, "empty", "", 24), "addresses"},
		"ForeignRefKind":  {refPool(ns, "kind", inclusterv1alpha1.SchemeGroupVersion.String(), "Allocation"), "must name a Reservation of provider-ipam"},
		"ForeignRefGroup": {refPool(ns, "group", "v1", "Secret"), "must name a Reservation of provider-ipam"},
		"CAPIPoolRef":     {refPool(ns, "capi", "ipam.cluster.x-k8s.io/v1alpha2", "InClusterIPPool"), "must name a Reservation of provider-ipam"},
		"GraceTooLong":    {withGrace(ippool(ns, "grace", "", 24, "192.0.2.10"), 86401), "reuseGracePeriodSeconds"},
		"GatewayInvalid":  {ippool(ns, "gwbad", "nope", 24, "192.0.2.10"), "must be an IP address"},
		"GatewayNetwork":  {ippool(ns, "gwnet", "192.0.2.0", 24, "192.0.2.10"), "spec.gateway: Invalid value: 192.0.2.0 is the network address of 192.0.2.0/24, not a host address"},
		"GatewayBcast":    {ippool(ns, "gwbcast", "192.0.2.255", 24, "192.0.2.10"), "192.0.2.255 is the broadcast address of its /24 network, not a host address"},
		"GatewayAnycast":  {ippool(ns, "gwany", "2001:db8::", 64, "2001:db8::10"), "2001:db8:: is the subnet-router anycast address of 2001:db8::/64, not a host address"},
		"EmptyAddresses":  {withAddresses(ippool(ns, "emptylist", "192.0.2.1", 24), []string{}), "should have at least 1 items"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := kube.Create(context.Background(), tc.pool)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("create: %v, want an error containing %q", err, tc.want)
			}
			// A missing or malformed field gets its own message, not a CEL
			// evaluation error of a rule that reads it.
			if err != nil && strings.Contains(err.Error(), "evaluating rule") {
				t.Errorf("create: %v, want no CEL evaluation error", err)
			}
		})
	}
	// A point-to-point /31 has no network or broadcast address.
	if err := kube.Create(context.Background(), ippool(ns, "p2p", "192.0.2.0", 31, "192.0.2.1"), client.DryRunAll); err != nil {
		t.Errorf("create /31 pool: %v", err)
	}
}

// TestRecoversAndDedupes starts the provider on what crashes and earlier
// versions leave behind: a lease with no IPAddress (a crash between the
// two), an IPAddress named like its claim but not recorded (a crash before
// the status write), an IPAddress of an earlier version (named after the
// pool and the address) with no lease, and a stray IPAddress of that
// claim which it does not record (a race between replicas then).
func TestRecoversAndDedupes(t *testing.T) {
	ns := namespace(t, "recover")
	ctx := context.Background()
	p := ippool(ns, "nodes", "10.1.4.1", 24, "10.1.4.0/28")
	create(t, p)
	crashed, unrecorded, legacy := claim(ns, "crashed", "nodes"), claim(ns, "unrecorded", "nodes"), claim(ns, "legacy", "nodes")
	for _, c := range []*capiipamv1beta2.IPAddressClaim{crashed, unrecorded, legacy} {
		create(t, c)
	}
	lease := func(c *capiipamv1beta2.IPAddressClaim, addr string) {
		create(t, &inclusterv1alpha1.Allocation{
			ObjectMeta: metav1.ObjectMeta{Name: addr},
			Spec: inclusterv1alpha1.AllocationSpec{
				Address: addr,
				Owner:   inclusterv1alpha1.AllocationOwner{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.IPPoolKind, Namespace: ns, Name: "nodes", UID: string(p.UID)},
				Lease: &inclusterv1alpha1.AllocationLease{
					Namespace: ns, Pool: inclusterv1alpha1.LeaseHolder{Name: "nodes", UID: string(p.UID)},
					Claim: &inclusterv1alpha1.LeaseHolder{Name: c.Name, UID: string(c.UID)}, LeasedAt: metav1.Now(),
				},
			},
		})
	}
	left := func(c *capiipamv1beta2.IPAddressClaim, name, addr string) {
		create(t, &capiipamv1beta2.IPAddress{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: ns, Name: name, Finalizers: []string{backing.FinalizerProtectAddress},
				Labels: map[string]string{backing.LabelClaimUID: string(c.UID), backing.LabelPoolUID: string(p.UID)},
			},
			Spec: capiipamv1beta2.IPAddressSpec{
				ClaimRef: capiipamv1beta2.IPAddressClaimReference{Name: c.Name},
				PoolRef:  capiipamv1beta2.IPPoolReference{APIGroup: v1alpha1.Group, Kind: v1alpha1.IPPoolKind, Name: "nodes"},
				Address:  addr, Prefix: ptr.To[int32](24), Gateway: "10.1.4.1",
			},
		})
	}
	lease(crashed, "10.1.4.9")
	lease(unrecorded, "10.1.4.11")
	left(unrecorded, "unrecorded", "10.1.4.11")
	left(legacy, "nodes.10.1.4.12", "10.1.4.12")
	left(legacy, "nodes.10.1.4.14", "10.1.4.14")
	legacy.Status.AddressRef.Name = "nodes.10.1.4.12"
	if err := kube.Status().Update(ctx, legacy); err != nil {
		t.Fatal(err)
	}

	startProvider(t)
	eventually(t, 45*time.Second, "claims recorded, the stray deleted, every address leased once", func(ctx context.Context) (bool, error) {
		b, _, err := claimsState(ctx, ns)
		if err != nil {
			return false, err
		}
		if b["crashed"] != "crashed" || b["unrecorded"] != "unrecorded" || b["legacy"] != "nodes.10.1.4.12" {
			return false, fmt.Errorf("bound %v", b)
		}
		got := map[string]string{}
		for _, a := range addresses(t, ns) {
			got[a.Name] = a.Spec.Address
		}
		if want := map[string]string{"crashed": "10.1.4.9", "unrecorded": "10.1.4.11", "nodes.10.1.4.12": "10.1.4.12"}; !maps.Equal(got, want) {
			return false, fmt.Errorf("IPAddresses %v, want %v", got, want)
		}
		for addr, c := range map[string]string{"10.1.4.9": "crashed", "10.1.4.11": "unrecorded", "10.1.4.12": "legacy"} {
			al, err := allocation(ctx, addr)
			if err != nil || al == nil || al.Spec.Lease == nil || al.Spec.Lease.Claim == nil || al.Spec.Lease.Claim.Name != c {
				return false, fmt.Errorf("allocation of %s: %+v %v, want leased to %s", addr, al, err, c)
			}
		}
		al, err := allocation(ctx, "10.1.4.14")
		if err != nil || al != nil {
			return false, fmt.Errorf("the stray's 10.1.4.14 still held: %+v %v", al, err)
		}
		return true, nil
	})
}

// TestReservationBeingDeleted: addresses of a reservation on its way out are
// not handed out, and the pool says why.
func TestReservationBeingDeleted(t *testing.T) {
	ns := namespace(t, "leaving")
	ctx := context.Background()
	r := reservation(ns, "leaving", "203.0.113.20-203.0.113.22")
	r.Finalizers = []string{"test.provider-ipam.io/hold"}
	create(t, r)
	if err := kube.Delete(ctx, r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		o := &inclusterv1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKeyFromObject(r), o); err == nil {
			o.Finalizers = nil
			_ = kube.Update(ctx, o)
		}
	})
	startProvider(t)
	p := ippool(ns, "nodes", "203.0.113.1", 24, "203.0.113.20-203.0.113.22")
	p.Spec.ReservationRefs = []v1alpha1.ReservationRef{{APIVersion: inclusterv1alpha1.SchemeGroupVersion.String(), Kind: inclusterv1alpha1.ReservationKind, Name: "leaving"}}
	create(t, p)
	create(t, claim(ns, "m", "nodes"))
	eventually(t, 30*time.Second, "claim PoolNotReady", func(ctx context.Context) (bool, error) {
		c := &capiipamv1beta2.IPAddressClaim{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "m"}, c); err != nil {
			return false, err
		}
		cond := meta.FindStatusCondition(c.Status.Conditions, capiipamv1beta2.IPAddressClaimReadyCondition)
		if cond == nil || cond.Reason != capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason || !strings.Contains(cond.Message, "being deleted") {
			return false, fmt.Errorf("condition %+v", cond)
		}
		return true, nil
	})
	if n := len(addresses(t, ns)); n != 0 {
		t.Errorf("%d IPAddresses handed out from a reservation being deleted", n)
	}
	eventually(t, 30*time.Second, "pool ReservationUnavailable", func(context.Context) (bool, error) {
		c := meta.FindStatusCondition(getPool(t, ns, "nodes").Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Reason == v1alpha1.ReasonReservationUnavailable && strings.Contains(c.Message, "leaving is being deleted"), nil
	})
}
