package capi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpmeta "github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
)

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
