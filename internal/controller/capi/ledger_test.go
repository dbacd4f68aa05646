package capi_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
)

// inclusterRef names the in-cluster Reservation name.
func inclusterRef(name string) v1alpha1.ReservationRef {
	return v1alpha1.ReservationRef{APIVersion: inclusterv1alpha1.SchemeGroupVersion.String(), Kind: inclusterv1alpha1.ReservationKind, Name: name}
}

// claimCondition returns the Ready condition of claim ns/name.
func claimCondition(ctx context.Context, ns, name string) (*capiipamv1beta2.IPAddressClaim, *metav1.Condition, error) {
	c := &capiipamv1beta2.IPAddressClaim{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, c); err != nil {
		return nil, nil, err
	}
	return c, meta.FindStatusCondition(c.Status.Conditions, capiipamv1beta2.IPAddressClaimReadyCondition), nil
}

// addressOf returns the address bound to claim ns/name, "" if none.
func addressOf(ctx context.Context, ns, name string) (string, error) {
	c, cond, err := claimCondition(ctx, ns, name)
	if err != nil || cond == nil || cond.Status != metav1.ConditionTrue {
		return "", err
	}
	a := &capiipamv1beta2.IPAddress{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: c.Status.AddressRef.Name}, a); err != nil {
		return "", err
	}
	return a.Spec.Address, nil
}

// Two tenants whose pools list the same addresses, with two replicas of the
// provider: 500 claims get 500 distinct addresses, each leased in the ledger
// to its own claim.
func TestOverlappingPoolsInTwoNamespaces(t *testing.T) {
	startProvider(t)
	startProvider(t)
	nss := []string{namespace(t, "overlap-a"), namespace(t, "overlap-b")}
	for _, ns := range nss {
		create(t, ippool(ns, "nodes", "10.2.0.1", 22, "10.2.0.0/22"))
	}
	var wg sync.WaitGroup
	for _, ns := range nss {
		wg.Go(func() { createClaims(t, ns, "nodes", "m", 250) })
	}
	wg.Wait()
	eventually(t, 3*time.Minute, "500 claims bound", func(ctx context.Context) (bool, error) {
		n := 0
		for _, ns := range nss {
			b, _, err := claimsState(ctx, ns)
			if err != nil {
				return false, err
			}
			n += len(b)
		}
		if n != 500 {
			return false, fmt.Errorf("%d bound", n)
		}
		return true, nil
	})
	seen := map[string]string{}
	for _, ns := range nss {
		for _, a := range addresses(t, ns) {
			if other, dup := seen[a.Spec.Address]; dup {
				t.Errorf("%s handed out twice: %s and %s/%s", a.Spec.Address, other, ns, a.Name)
			}
			seen[a.Spec.Address] = ns + "/" + a.Name
			al, err := allocation(context.Background(), a.Spec.Address)
			if err != nil || al == nil || al.Spec.Lease == nil || al.Spec.Lease.Claim == nil ||
				al.Spec.Lease.Claim.UID != a.Labels["ipam.provider-ipam.io/claim-uid"] || al.Spec.Owner.Namespace != ns {
				t.Errorf("%s of %s/%s: ledger %+v %v", a.Spec.Address, ns, a.Name, al, err)
			}
		}
	}
	if len(seen) != 500 {
		t.Errorf("%d distinct addresses, want 500", len(seen))
	}
}

// A pool hands out only what its namespace holds: listing a range another
// tenant reserved, with or without a Reservation of its own, gets nothing.
func TestPoolNeverHandsOutWhatItsNamespaceDoesNotHold(t *testing.T) {
	startProvider(t)
	victim, attacker := namespace(t, "victim"), namespace(t, "attacker")
	r := reservation(victim, "nodes", "203.0.113.50-203.0.113.51")
	create(t, r)
	eventually(t, 30*time.Second, "the victim's reservation holds its addresses", func(ctx context.Context) (bool, error) {
		for _, a := range []string{"203.0.113.50", "203.0.113.51"} {
			if al, err := allocation(ctx, a); err != nil || al == nil || al.Spec.Owner.Namespace != victim {
				return false, err
			}
		}
		return true, nil
	})
	// The attacker's own Reservation holds another address; its pool
	// lists the victim's.
	create(t, reservation(attacker, "mine", "203.0.113.60"))
	withRef := ippool(attacker, "with-ref", "203.0.113.1", 24, "203.0.113.50-203.0.113.51")
	withRef.Spec.ReservationRefs = []v1alpha1.ReservationRef{inclusterRef("mine")}
	create(t, withRef)
	create(t, ippool(attacker, "no-ref", "203.0.113.1", 24, "203.0.113.50-203.0.113.51"))
	create(t, claim(attacker, "a", "with-ref"))
	create(t, claim(attacker, "b", "no-ref"))
	for _, name := range []string{"a", "b"} {
		eventually(t, 30*time.Second, "claim "+name+" exhausted", func(ctx context.Context) (bool, error) {
			_, cond, err := claimCondition(ctx, attacker, name)
			return cond != nil && cond.Reason == capiipamv1beta2.IPAddressClaimReadyPoolExhaustedReason, err
		})
	}
	if got := addresses(t, attacker); len(got) != 0 {
		t.Errorf("the attacker got %v", got)
	}
	for _, a := range []string{"203.0.113.50", "203.0.113.51"} {
		al, err := allocation(context.Background(), a)
		if err != nil || al == nil || al.Spec.Owner.Namespace != victim || al.Spec.Lease != nil || hasFinalizer(al, commonv1alpha1.FinalizerInUse) {
			t.Errorf("the victim's %s was touched: %+v %v", a, al, err)
		}
	}
}

// A pool listing a /64 over a Reservation of one address answers its second
// claim at once: the candidates are what the ledger says the Reservation
// holds, not the addresses the pool lists.
func TestWideListedPoolAnswersAtOnce(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "wide")
	r := &inclusterv1alpha1.Reservation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "one"},
		Spec: inclusterv1alpha1.ReservationSpec{ForProvider: inclusterv1alpha1.ReservationParameters{
			Space: &commonv1alpha1.AddressSpace{CIDR: "2001:db8:2::/64", Gateway: "2001:db8:2::1"},
		}},
	}
	create(t, r)
	p := ippool(ns, "wide", "2001:db8:2::1", 64, "2001:db8:2::/64")
	p.Spec.ReservationRefs = []v1alpha1.ReservationRef{inclusterRef("one")}
	create(t, p)
	create(t, claim(ns, "first", "wide"))
	eventually(t, 30*time.Second, "first bound", func(ctx context.Context) (bool, error) {
		a, err := addressOf(ctx, ns, "first")
		return a == "2001:db8:2::2", err
	})
	create(t, claim(ns, "second", "wide"))
	eventually(t, 10*time.Second, "second exhausted", func(ctx context.Context) (bool, error) {
		_, cond, err := claimCondition(ctx, ns, "second")
		return cond != nil && cond.Reason == capiipamv1beta2.IPAddressClaimReadyPoolExhaustedReason, err
	})
}

// An address given back cools down for the pool's grace period: held in
// the ledger by the pool, handed to nobody, then handed out again.
func TestReuseGracePeriod(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "grace")
	p := ippool(ns, "nodes", "10.4.0.1", 24, "10.4.0.1-10.4.0.2")
	p.Spec.ReuseGracePeriodSeconds = 4
	create(t, p)
	create(t, claim(ns, "a", "nodes"))
	eventually(t, 30*time.Second, "a bound", func(ctx context.Context) (bool, error) {
		a, err := addressOf(ctx, ns, "a")
		return a == "10.4.0.2", err
	})
	if err := kube.Delete(context.Background(), claim(ns, "a", "nodes")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "10.4.0.2 cooling", func(ctx context.Context) (bool, error) {
		al, err := allocation(ctx, "10.4.0.2")
		return al != nil && al.Spec.Lease != nil && al.Spec.Lease.Claim == nil && al.Spec.Lease.ReleasedAt != nil, err
	})
	gone := time.Now()
	create(t, claim(ns, "b", "nodes"))
	eventually(t, 10*time.Second, "b waits while the address cools", func(ctx context.Context) (bool, error) {
		_, cond, err := claimCondition(ctx, ns, "b")
		return cond != nil && cond.Reason == capiipamv1beta2.IPAddressClaimReadyPoolExhaustedReason, err
	})
	eventually(t, 10*time.Second, "pool counts it cooling", func(context.Context) (bool, error) {
		return getPool(t, ns, "nodes").Status.Cooling == 1, nil
	})
	eventually(t, 30*time.Second, "b gets it once cooled", func(ctx context.Context) (bool, error) {
		a, err := addressOf(ctx, ns, "b")
		return a == "10.4.0.2", err
	})
	if waited := time.Since(gone); waited < 3*time.Second {
		t.Errorf("handed out again after %v, within the 4s grace period", waited)
	}
}

// A claim may ask for one address: granted when the pool may hand it out
// and nobody holds it, refused with a reason otherwise, and served once the
// address is free.
func TestRequestedAddress(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "requested")
	create(t, ippool(ns, "nodes", "10.5.0.1", 24, "10.5.0.0/28"))
	requesting := func(name, addr string) *capiipamv1beta2.IPAddressClaim {
		c := claim(ns, name, "nodes")
		c.Annotations = map[string]string{v1alpha1.AnnotationRequestedAddress: addr}
		return c
	}
	create(t, requesting("x", "10.5.0.9"))
	eventually(t, 30*time.Second, "x gets what it asked for", func(ctx context.Context) (bool, error) {
		a, err := addressOf(ctx, ns, "x")
		return a == "10.5.0.9", err
	})
	cases := map[string]struct {
		addr, want string
	}{
		"y": {"10.5.0.9", "10.5.0.9 is in use"},
		"z": {"10.6.0.1", "is not handed out by IPPool nodes"},
		"g": {"10.5.0.1", "is not handed out by IPPool nodes"},
		"w": {"banana", v1alpha1.AnnotationRequestedAddress},
	}
	for name, tc := range cases {
		create(t, requesting(name, tc.addr))
	}
	for name, tc := range cases {
		eventually(t, 30*time.Second, "claim "+name+" refused", func(ctx context.Context) (bool, error) {
			_, cond, err := claimCondition(ctx, ns, name)
			if err != nil || cond == nil {
				return false, err
			}
			if cond.Reason != capiipamv1beta2.IPAddressClaimReadyAllocationFailedReason || !strings.Contains(cond.Message, tc.want) {
				return false, fmt.Errorf("condition %+v", cond)
			}
			return true, nil
		})
	}
	if err := kube.Delete(context.Background(), claim(ns, "x", "nodes")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "y served once 10.5.0.9 is free", func(ctx context.Context) (bool, error) {
		a, err := addressOf(ctx, ns, "y")
		return a == "10.5.0.9", err
	})
	err := kube.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "z"}, &capiipamv1beta2.IPAddress{})
	if !kerrors.IsNotFound(err) {
		t.Errorf("refused claim z has an IPAddress: %v", err)
	}
}

// A pool whose finalizer is removed by hand goes at once, its sweep with
// it: the ledger must not keep its leases for good. A cooling lease ends,
// and a lease whose machine still holds the address stays until its claim
// lets it go.
func TestForceRemovedPoolLeavesNoLease(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "forced")
	ctx := context.Background()
	p := ippool(ns, "nodes", "10.66.0.1", 24, "10.66.0.10-10.66.0.11")
	p.Spec.ReuseGracePeriodSeconds = 3600
	create(t, p)
	create(t, claim(ns, "a", "nodes"))
	create(t, claim(ns, "b", "nodes"))
	held := map[string]string{}
	eventually(t, 30*time.Second, "a and b bound", func(ctx context.Context) (bool, error) {
		for _, c := range []string{"a", "b"} {
			a, err := addressOf(ctx, ns, c)
			if err != nil || a == "" {
				return false, err
			}
			held[c] = a
		}
		return true, nil
	})
	if err := kube.Delete(ctx, claim(ns, "a", "nodes")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, held["a"]+" cooling", func(ctx context.Context) (bool, error) {
		al, err := allocation(ctx, held["a"])
		return al != nil && al.Spec.Lease != nil && al.Spec.Lease.ReleasedAt != nil, err
	})

	// Force-removed: its finalizers stripped, then deleted.
	if err := kube.Delete(ctx, getPool(t, ns, "nodes")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the pool gone", func(ctx context.Context) (bool, error) {
		cur := &v1alpha1.IPPool{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "nodes"}, cur); err != nil {
			return kerrors.IsNotFound(err), client.IgnoreNotFound(err)
		}
		cur.Finalizers = nil
		return false, client.IgnoreNotFound(kube.Update(ctx, cur))
	})
	eventually(t, 30*time.Second, "the cooling lease ended", func(ctx context.Context) (bool, error) {
		al, err := allocation(ctx, held["a"])
		return al == nil, err
	})
	if al, err := allocation(ctx, held["b"]); err != nil || al == nil || al.Spec.Lease == nil || al.Spec.Lease.Claim == nil {
		t.Fatalf("%s, still b's machine's: %+v, %v", held["b"], al, err)
	}
	if err := kube.Delete(ctx, claim(ns, "b", "nodes")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "b's lease ended with its claim", func(ctx context.Context) (bool, error) {
		al, err := allocation(ctx, held["b"])
		return al == nil, err
	})
}

// A lease of a pool that went while no provider ran ends once one starts:
// nothing else would ever wake its pool.
func TestLeaseOfAPoolGoneBeforeStartEnds(t *testing.T) {
	ns := namespace(t, "gone-before")
	released := metav1.NewTime(time.Now().Add(-time.Minute))
	al := &inclusterv1alpha1.Allocation{
		ObjectMeta: metav1.ObjectMeta{Name: "10.66.0.20", Labels: map[string]string{inclusterv1alpha1.LabelOwnerUID: "gone-pool-uid"}},
		Spec: inclusterv1alpha1.AllocationSpec{
			Address: "10.66.0.20",
			Owner:   inclusterv1alpha1.AllocationOwner{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.IPPoolKind, Namespace: ns, Name: "old", UID: "gone-pool-uid"},
			Lease: &inclusterv1alpha1.AllocationLease{
				Namespace: ns, Pool: inclusterv1alpha1.LeaseHolder{Name: "old", UID: "gone-pool-uid"},
				LeasedAt: metav1.NewTime(released.Add(-time.Hour)), ReleasedAt: &released,
			},
		},
	}
	create(t, al)
	startProvider(t)
	eventually(t, 30*time.Second, "the gone pool's lease ended", func(ctx context.Context) (bool, error) {
		cur, err := allocation(ctx, "10.66.0.20")
		return cur == nil, err
	})
}
