package reservation_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// allocationOf reads the ledger's Allocation of a, nil if a is free.
func allocationOf(ctx context.Context, a string) (*inclusterv1alpha1.Allocation, error) {
	al := &inclusterv1alpha1.Allocation{}
	err := kube.Get(ctx, client.ObjectKey{Name: incluster.NameFor(netip.MustParseAddr(a))}, al)
	if kerrors.IsNotFound(err) {
		return nil, nil
	}
	return al, err
}

// What the grid confirmed is recorded in the ledger as the Reservation's,
// which is what pools hand out. Deleting the Reservation waits while a
// machine holds the address (the in-use mark a pool's lease puts on the
// Allocation): the grid object stays until the machine lets it go, then
// both go.
func TestLedgerRecordsWhatTheGridConfirmed(t *testing.T) {
	srv := grid(t)
	ns := namespace(t)
	providerConfig(t, ns, srv, wapiPassword)
	ctx := context.Background()
	if err := kube.Create(ctx, reservation(ns, "nodes", v1alpha1.ReservationParameters{Address: "192.0.2.80", Network: "192.0.2.0/24"})); err != nil {
		t.Fatal(err)
	}
	r := waitReady(t, ns, "nodes", time.Minute)
	al, err := allocationOf(ctx, "192.0.2.80")
	if err != nil {
		t.Fatal(err)
	}
	want := inclusterv1alpha1.AllocationOwner{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.ReservationKind, Namespace: ns, Name: "nodes", UID: string(r.GetUID())}
	if al == nil || al.Spec.Owner != want {
		t.Fatalf("Allocation of 192.0.2.80 %+v, want it held by %+v", al, want)
	}

	// A machine holds the address.
	markInUse(t, "192.0.2.80", true)
	if err := kube.Delete(ctx, r); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the deletion waiting for the machine", func(context.Context) (bool, error) {
		c := get(t, ns, "nodes").GetCondition(xpv1.TypeSynced)
		return c.Status == corev1.ConditionFalse && strings.Contains(c.Message, "still in use by machines"), nil
	})
	if fas := byUID(srv, string(r.GetUID())); len(fas) != 1 {
		t.Fatalf("the grid object went while a machine holds its address: %+v", fas)
	}

	// The machine lets it go.
	markInUse(t, "192.0.2.80", false)
	waitGone(t, ns, "nodes")
	if fas := byUID(srv, string(r.GetUID())); len(fas) != 0 {
		t.Errorf("the grid object outlived its Reservation: %+v", fas)
	}
	if al, err := allocationOf(ctx, "192.0.2.80"); err != nil || al != nil {
		t.Errorf("the ledger still holds 192.0.2.80: %+v %v", al, err)
	}
}

// An address the ledger says another namespace holds (an in-cluster
// Reservation's, or another grid's) is a conflict, published as the grid's
// own conflicts are, without naming the holder.
func TestAddressHeldInTheLedgerIsAConflict(t *testing.T) {
	srv := grid(t)
	ns := namespace(t)
	providerConfig(t, ns, srv, wapiPassword)
	ctx := context.Background()
	heldBySecretTeam(t, "192.0.2.81", "0b0e-uid")
	if err := kube.Create(ctx, reservation(ns, "taken", v1alpha1.ReservationParameters{Address: "192.0.2.81", Network: "192.0.2.0/24"})); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the conflict published", func(context.Context) (bool, error) {
		r := get(t, ns, "taken")
		c := r.GetCondition(xpv1.TypeSynced)
		return c.Status == corev1.ConditionFalse && strings.Contains(c.Message, `192.0.2.81 is already held outside namespace "`+ns+`"`) &&
			r.Status.AtProvider.Conflict != nil && r.Status.AtProvider.Conflict.Address == "192.0.2.81", nil
	})
	r := get(t, ns, "taken")
	if c := r.GetCondition(xpv1.TypeSynced); strings.Contains(c.Message, "secret-") {
		t.Errorf("the message names the other namespace's objects: %s", c.Message)
	}
	if r.GetCondition(xpv1.TypeReady).Status == corev1.ConditionTrue {
		t.Error("a Reservation whose address the ledger refused is Ready")
	}
	if al, err := allocationOf(ctx, "192.0.2.81"); err != nil || al == nil || al.Spec.Owner.UID != "0b0e-uid" {
		t.Errorf("the other holder's Allocation changed: %+v %v", al, err)
	}
}

// markInUse puts the in-use mark a pool's lease carries on the Allocation
// of addr, or takes it off.
// heldBySecretTeam records a in the ledger for a Reservation of another
// namespace, "secret-team/secret-cluster" with uid, until the test ends.
// Messages must never name it.
func heldBySecretTeam(t *testing.T, a, uid string) {
	t.Helper()
	al := &inclusterv1alpha1.Allocation{
		ObjectMeta: metav1.ObjectMeta{Name: incluster.NameFor(netip.MustParseAddr(a))},
		Spec: inclusterv1alpha1.AllocationSpec{Address: a, Owner: inclusterv1alpha1.AllocationOwner{
			APIVersion: inclusterv1alpha1.SchemeGroupVersion.String(), Kind: inclusterv1alpha1.ReservationKind,
			Namespace: "secret-team", Name: "secret-cluster", UID: uid,
		}},
	}
	if err := kube.Create(context.Background(), al); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.Delete(context.Background(), al) })
}

func markInUse(t *testing.T, addr string, inUse bool) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		al, err := allocationOf(context.Background(), addr)
		if err != nil {
			return err
		}
		if al == nil {
			return fmt.Errorf("no Allocation of %s", addr)
		}
		if inUse {
			controllerutil.AddFinalizer(al, commonv1alpha1.FinalizerInUse)
		} else {
			controllerutil.RemoveFinalizer(al, commonv1alpha1.FinalizerInUse)
		}
		return kube.Update(context.Background(), al)
	})
	if err != nil {
		t.Fatal(err)
	}
}
