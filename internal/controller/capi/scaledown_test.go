package capi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	xpmeta "github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
)

// allocation returns the ledger's Allocation of addr, nil if it is free.
func allocation(ctx context.Context, addr string) (*inclusterv1alpha1.Allocation, error) {
	al := &inclusterv1alpha1.Allocation{}
	err := kube.Get(ctx, client.ObjectKey{Name: addr}, al)
	if kerrors.IsNotFound(err) {
		return nil, nil
	}
	return al, err
}

// inUse lists the addresses of ns's in-cluster Reservations whose ledger
// Allocation is marked in use.
func inUse(ctx context.Context, ns string) ([]string, error) {
	l := &inclusterv1alpha1.AllocationList{}
	if err := kube.List(ctx, l); err != nil {
		return nil, err
	}
	var out []string
	for _, al := range l.Items {
		if al.Spec.Owner.Namespace == ns && hasFinalizer(&al, commonv1alpha1.FinalizerInUse) {
			out = append(out, al.Spec.Address)
		}
	}
	slices.Sort(out)
	return out, nil
}

// A pool over an in-cluster Reservation marks every address it hands out in
// the ledger, so that a Reservation shrinking (a cluster scaled down) keeps
// the addresses machines still hold and gives each back once its machine
// is gone; an address the Reservation gave back is never handed out.
func TestScaleDownKeepsAddressesOfMachines(t *testing.T) {
	ns := namespace(t, "scaledown")
	startProvider(t)
	ctx := context.Background()
	r := &inclusterv1alpha1.Reservation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nodes"},
		Spec: inclusterv1alpha1.ReservationSpec{ForProvider: inclusterv1alpha1.ReservationParameters{
			Space: &commonv1alpha1.AddressSpace{CIDR: "198.51.100.0/28", Gateway: "198.51.100.1"},
			Count: ptr.To[int32](4),
		}},
	}
	create(t, r)
	eventually(t, time.Minute, "4 addresses held", func(ctx context.Context) (bool, error) {
		cur := &inclusterv1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKeyFromObject(r), cur); err != nil {
			return false, err
		}
		return xpmeta.GetExternalName(cur) == "198.51.100.2-198.51.100.5", nil
	})
	p := ippool(ns, "nodes", "198.51.100.1", 28, "198.51.100.2-198.51.100.5")
	p.Spec.ReservationRefs = []v1alpha1.ReservationRef{{APIVersion: inclusterv1alpha1.SchemeGroupVersion.String(), Kind: inclusterv1alpha1.ReservationKind, Name: "nodes"}}
	create(t, p)
	for i := range 3 {
		// One at a time, so that m-i gets the i-th address.
		create(t, claim(ns, fmt.Sprintf("m-%d", i), "nodes"))
		settle(t, ns, i+1, i+1)
	}
	eventually(t, 30*time.Second, "the three addresses handed out marked in use", func(ctx context.Context) (bool, error) {
		got, err := inUse(ctx, ns)
		return slices.Equal(got, []string{"198.51.100.2", "198.51.100.3", "198.51.100.4"}), err
	})

	// Scaled down to one node: only the address no machine holds goes.
	setCount := func(n int32) {
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur := &inclusterv1alpha1.Reservation{}
			if err := kube.Get(ctx, client.ObjectKeyFromObject(r), cur); err != nil {
				return err
			}
			cur.Spec.ForProvider.Count = ptr.To(n)
			return kube.Update(ctx, cur)
		}); err != nil {
			t.Fatal(err)
		}
	}
	setCount(1)
	eventually(t, time.Minute, "the unused address released, the three in use kept", func(ctx context.Context) (bool, error) {
		cur := &inclusterv1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKeyFromObject(r), cur); err != nil {
			return false, err
		}
		al, err := allocation(ctx, "198.51.100.5")
		c := cur.GetCondition(xpv1.TypeSynced)
		return xpmeta.GetExternalName(cur) == "198.51.100.2-198.51.100.4" && al == nil &&
			strings.Contains(c.Message, "still in use by machines"), err
	})

	// The pool still lists the released address: a new machine does not
	// get it.
	create(t, claim(ns, "late", "nodes"))
	eventually(t, 30*time.Second, "the late claim refused the released address", func(ctx context.Context) (bool, error) {
		c := &capiipamv1beta2.IPAddressClaim{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "late"}, c); err != nil {
			return false, err
		}
		cond := meta.FindStatusCondition(c.Status.Conditions, capiipamv1beta2.IPAddressClaimReadyCondition)
		return cond != nil && cond.Reason == capiipamv1beta2.IPAddressClaimReadyPoolExhaustedReason, nil
	})
	if _, ok := addresses(t, ns)["nodes/198.51.100.5"]; ok {
		t.Error("the address the reservation gave back was handed out")
	}
	if err := kube.Delete(ctx, claim(ns, "late", "nodes")); err != nil {
		t.Fatal(err)
	}

	// CAPI removes two machines, not the highest addresses: their
	// addresses go, the remaining machine keeps its own.
	for _, m := range []string{"m-0", "m-2"} {
		if err := kube.Delete(ctx, claim(ns, m, "nodes")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, time.Minute, "shrunk to the address of the remaining machine", func(ctx context.Context) (bool, error) {
		cur := &inclusterv1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKeyFromObject(r), cur); err != nil {
			return false, err
		}
		for _, a := range []string{"198.51.100.2", "198.51.100.4"} {
			if al, err := allocation(ctx, a); al != nil || err != nil {
				return false, err
			}
		}
		marked, err := inUse(ctx, ns)
		return xpmeta.GetExternalName(cur) == "198.51.100.3" && cur.GetCondition(xpv1.TypeSynced).Status == "True" &&
			slices.Equal(marked, []string{"198.51.100.3"}), err
	})
	if got := addresses(t, ns); len(got) != 1 || got["nodes/198.51.100.3"].Spec.ClaimRef.Name != "m-1" {
		t.Errorf("IPAddresses %v, want only m-1's 198.51.100.3", got)
	}
}

// A crash between marking an address and creating its IPAddress leaves a
// mark no IPAddress backs: the pool takes it off, so that the address can
// be released. A mark missing from a handed-out address is put back.
func TestStaleMarkIsSwept(t *testing.T) {
	ns := namespace(t, "sweep")
	startProvider(t)
	ctx := context.Background()
	create(t, reservation(ns, "nodes", "203.0.113.30-203.0.113.31"))
	p := ippool(ns, "nodes", "203.0.113.1", 24, "203.0.113.30-203.0.113.31")
	p.Spec.ReservationRefs = []v1alpha1.ReservationRef{{APIVersion: inclusterv1alpha1.SchemeGroupVersion.String(), Kind: inclusterv1alpha1.ReservationKind, Name: "nodes"}}
	create(t, p)
	create(t, claim(ns, "m", "nodes"))
	settle(t, ns, 1, 1)

	// The mark a crashed allocation of 203.0.113.31 would have left.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		al, err := allocation(ctx, "203.0.113.31")
		if err != nil || al == nil {
			return fmt.Errorf("allocation of 203.0.113.31: %v", err)
		}
		al.Finalizers = append(al.Finalizers, commonv1alpha1.FinalizerInUse)
		return kube.Update(ctx, al)
	}); err != nil {
		t.Fatal(err)
	}
	// Any change wakes the pool; otherwise its next poll would.
	poke := func(v string) {
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur := getPool(t, ns, "nodes")
			metav1.SetMetaDataAnnotation(&cur.ObjectMeta, "test.provider-ipam.io/poke", v)
			return kube.Update(ctx, cur)
		}); err != nil {
			t.Fatal(err)
		}
	}
	poke("1")
	eventually(t, 30*time.Second, "only the handed-out address marked", func(ctx context.Context) (bool, error) {
		got, err := inUse(ctx, ns)
		return slices.Equal(got, []string{"203.0.113.30"}), err
	})

	// A mark lost (taken off by hand here) is put back.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		al, err := allocation(ctx, "203.0.113.30")
		if err != nil || al == nil {
			return fmt.Errorf("allocation of 203.0.113.30: %v", err)
		}
		al.Finalizers = slices.DeleteFunc(al.Finalizers, func(f string) bool { return f == commonv1alpha1.FinalizerInUse })
		return kube.Update(ctx, al)
	}); err != nil {
		t.Fatal(err)
	}
	poke("2")
	eventually(t, 30*time.Second, "the handed-out address marked again", func(ctx context.Context) (bool, error) {
		got, err := inUse(ctx, ns)
		return slices.Equal(got, []string{"203.0.113.30"}), err
	})
}

// A reservation dropped from the pool while one of its addresses is still
// handed out (a machine made from a pool read just before the drop) stays
// protected until that machine goes. What it holds is the ledger's word:
// a status forged to say it holds nothing changes nothing.
func TestDroppedReservationInUseStaysProtected(t *testing.T) {
	ns := namespace(t, "dropped")
	startProvider(t)
	ctx := context.Background()
	create(t, reservation(ns, "a", "203.0.113.40"))
	create(t, reservation(ns, "b", "203.0.113.41"))
	ref := func(name string) v1alpha1.ReservationRef {
		return v1alpha1.ReservationRef{APIVersion: inclusterv1alpha1.SchemeGroupVersion.String(), Kind: inclusterv1alpha1.ReservationKind, Name: name}
	}
	p := ippool(ns, "nodes", "203.0.113.1", 24, "203.0.113.40-203.0.113.41")
	p.Spec.ReservationRefs = []v1alpha1.ReservationRef{ref("a"), ref("b")}
	create(t, p)
	createClaims(t, ns, "nodes", "m", 2)
	bound, _ := settle(t, ns, 2, 2)
	var onB string
	for c := range bound {
		if addresses(t, ns)["nodes/203.0.113.41"].Spec.ClaimRef.Name == c {
			onB = c
		}
	}

	protected := func(ctx context.Context, name string) (bool, error) {
		r := &inclusterv1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, r); err != nil {
			return false, err
		}
		return hasFinalizer(r, commonv1alpha1.FinalizerInUse), nil
	}
	eventually(t, 30*time.Second, "both reservations protected", func(ctx context.Context) (bool, error) {
		a, err := protected(ctx, "a")
		if err != nil {
			return false, err
		}
		b, err := protected(ctx, "b")
		return a && b, err
	})
	b := &inclusterv1alpha1.Reservation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "b"}}
	forge(t, b, func() { b.Status.AtProvider.Addresses = nil })
	deletedAtEnd(t, b)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := getPool(t, ns, "nodes")
		cur.Spec.Addresses = []string{"203.0.113.40"}
		cur.Spec.ReservationRefs = []v1alpha1.ReservationRef{ref("a")}
		return kube.Update(ctx, cur)
	}); err != nil {
		t.Fatal(err)
	}
	// Once the pool has acted on the drop (its condition observed the new
	// generation), b is still protected.
	eventually(t, 30*time.Second, "b still protected, and recorded as protected", func(ctx context.Context) (bool, error) {
		cur := getPool(t, ns, "nodes")
		b, err := protected(ctx, "b")
		return b && slices.Contains(cur.Status.ProtectedRefs, ref("b")) && cur.Generation == cur.Status.Conditions[0].ObservedGeneration, err
	})
	if err := kube.Delete(ctx, claim(ns, onB, "nodes")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "b unprotected once its machine is gone", func(ctx context.Context) (bool, error) {
		b, err := protected(ctx, "b")
		return !b && !slices.Contains(getPool(t, ns, "nodes").Status.ProtectedRefs, ref("b")), err
	})
}
