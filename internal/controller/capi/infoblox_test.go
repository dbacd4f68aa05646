package capi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	xpmeta "github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

// A tenant may write the status of its own Infoblox Reservation. A pool
// backed by one hands out only the address the grid confirmed, which the
// ledger records, never one its status names: here a free address of the
// pool's range, which the grid never gave the tenant.
func TestInfobloxPoolTrustsTheGridNotTheStatus(t *testing.T) {
	startProvider(t)
	const user, password = "ipam-provider", "Corr3ct-Horse-Battery"
	srv := wapisim.NewTestServer(t, wapisim.Config{Username: user, Password: password})
	if _, err := srv.AddNetwork("default", "10.64.0.0/24", wapisim.NetworkOptions{Gateway: "10.64.0.1"}); err != nil {
		t.Fatal(err)
	}
	ns := namespace(t, "ib-attacker")
	ctx := context.Background()
	if err := testenv.InfobloxProviderConfig(ctx, kube, ns, "grid", srv, user, password); err != nil {
		t.Fatal(err)
	}
	r := &infobloxv1alpha1.Reservation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mine"},
		Spec:       infobloxv1alpha1.ReservationSpec{ForProvider: infobloxv1alpha1.ReservationParameters{Network: "10.64.0.0/24"}},
	}
	r.SetProviderConfigReference(&xpv1.ProviderConfigReference{Kind: infobloxv1alpha1.ProviderConfigKind, Name: "grid"})
	create(t, r)
	t.Cleanup(func() { deleteInfobloxReservation(t, ns, "mine") })

	var granted string
	eventually(t, time.Minute, "the grid's address recorded in the ledger", func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
			return false, err
		}
		granted = r.Status.AtProvider.Address
		if granted == "" {
			return false, nil
		}
		al, err := allocation(ctx, granted)
		return al != nil && al.Spec.Owner.UID == string(r.GetUID()), err
	})
	const forged = "10.64.0.99"
	if granted == forged {
		t.Fatalf("the grid granted %s, the address this test forges", forged)
	}

	// Paused, the provider no longer rewrites the status the tenant forges.
	// The provider may write it meanwhile: each step retries on conflict.
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
		r.Status.AtProvider.Address = forged
		return kube.Status().Update(ctx, r)
	}); err != nil {
		t.Fatal(err)
	}

	p := ippool(ns, "nodes", "10.64.0.1", 24, "10.64.0.0/24")
	p.Spec.ReservationRefs = []v1alpha1.ReservationRef{{APIVersion: infobloxv1alpha1.SchemeGroupVersion.String(), Kind: infobloxv1alpha1.ReservationKind, Name: "mine"}}
	create(t, p)
	releasedAtEnd(t, ns, "nodes")
	create(t, claim(ns, "a", "nodes"))
	eventually(t, 30*time.Second, "claim a bound", func(ctx context.Context) (bool, error) {
		a, err := addressOf(ctx, ns, "a")
		return a != "", err
	})
	create(t, claim(ns, "b", "nodes"))
	eventually(t, 30*time.Second, "claim b exhausted", func(ctx context.Context) (bool, error) {
		_, cond, err := claimCondition(ctx, ns, "b")
		return cond != nil && cond.Reason == capiipamv1beta2.IPAddressClaimReadyPoolExhaustedReason, err
	})
	got := addresses(t, ns)
	if _, ok := got["nodes/"+granted]; !ok || len(got) != 1 {
		t.Errorf("the pool handed out %v, want only %s, what the grid granted", keys(got), granted)
	}
	if al, err := allocation(ctx, forged); err != nil || al != nil {
		t.Errorf("the forged %s is held: %+v %v", forged, al, err)
	}
}

// deleteInfobloxReservation deletes ns/name, resuming it if paused, and waits
// until it is gone with what it holds: the claims on its address are gone
// by then (their cleanup runs first).
func deleteInfobloxReservation(t *testing.T, ns, name string) {
	t.Helper()
	ctx := context.Background()
	r := &infobloxv1alpha1.Reservation{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, r); err != nil {
		t.Errorf("cannot get Reservation %s/%s: %v", ns, name, err)
		return
	}
	if xpmeta.IsPaused(r) {
		delete(r.Annotations, xpmeta.AnnotationKeyReconciliationPaused)
		if err := kube.Update(ctx, r); err != nil {
			t.Errorf("cannot resume Reservation %s/%s: %v", ns, name, err)
			return
		}
	}
	if err := kube.Delete(ctx, r); client.IgnoreNotFound(err) != nil {
		t.Errorf("cannot delete Reservation %s/%s: %v", ns, name, err)
		return
	}
	eventually(t, time.Minute, fmt.Sprintf("Reservation %s/%s gone", ns, name), func(ctx context.Context) (bool, error) {
		err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, r)
		if !kerrors.IsNotFound(err) {
			return false, client.IgnoreNotFound(err)
		}
		// The ledger's record went with it.
		held, err := heldBy(ctx, string(r.GetUID()))
		return len(held) == 0, err
	})
}

// heldBy lists the addresses the ledger says uid holds.
func heldBy(ctx context.Context, uid string) ([]string, error) {
	l := &inclusterv1alpha1.AllocationList{}
	if err := kube.List(ctx, l, client.MatchingLabels{inclusterv1alpha1.LabelOwnerUID: uid}); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(l.Items))
	for _, al := range l.Items {
		out = append(out, al.Spec.Address)
	}
	return out, nil
}

func keys(m map[string]capiipamv1beta2.IPAddress) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
