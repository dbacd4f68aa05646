package reservation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	"github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	ibclient "github.com/provider-ipam/provider-ipam/internal/clients/infoblox"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

// A Reservation with full management that imports an object made outside
// Kubernetes deletes it only if it asked to take ownership, which tags it.
// Of two Reservations importing one object, one holds it: the other is
// refused (in conflict in the ledger, then the object is another's), and
// deleting it leaves the object alone.
func TestImportedObjectsOwnership(t *testing.T) {
	cases := []struct {
		name          string
		addr          string
		takeOwnership bool
		rivals        int  // further Reservations importing the same object
		deleted       bool // the object goes with the holding Reservation
	}{
		{name: "Imported", addr: "192.0.2.90"},
		{name: "Owned", addr: "192.0.2.91", takeOwnership: true, deleted: true},
		{name: "TwoImportingOne", addr: "192.0.2.92", takeOwnership: true, rivals: 1, deleted: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := grid(t)
			ns := namespace(t)
			providerConfig(t, ns, srv, wapiPassword)
			ctx := context.Background()
			existing, err := newClient(t, srv).Reserve(ctx, ibclient.Request{Address: tc.addr, EAs: ibclientEA("Owner", "network team")})
			if err != nil {
				t.Fatal(err)
			}
			names := []string{"import"}
			for i := range tc.rivals {
				names = append(names, fmt.Sprintf("rival-%d", i))
			}
			for _, name := range names {
				r := reservation(ns, name, v1alpha1.ReservationParameters{Address: tc.addr, TakeOwnership: tc.takeOwnership})
				meta.SetExternalName(r, existing.Ref)
				if err := kube.Create(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			var holder *v1alpha1.Reservation
			var others []*v1alpha1.Reservation
			testenv.Eventually(t, time.Minute, "one Reservation holding the object, the others in conflict", func(ctx context.Context) (bool, error) {
				holder, others = nil, nil
				for _, name := range names {
					r := &v1alpha1.Reservation{}
					if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, r); err != nil {
						return false, err
					}
					switch {
					case ready(r) && holder == nil:
						holder = r
					case !ready(r) && r.GetCondition(xpv1.TypeSynced).Status == corev1.ConditionFalse:
						// In conflict in the ledger, or, once the holder
						// tagged it, refused as another's object.
						others = append(others, r)
					default:
						return false, nil
					}
				}
				return holder != nil && len(others) == tc.rivals && holder.Status.AtProvider.Owned == tc.takeOwnership, nil
			})
			fa := fixedAddressAt(t, srv, tc.addr)
			if fa.ExtAttrs["Owner"] != "network team" {
				t.Errorf("the object lost its own attributes: %+v", fa.ExtAttrs)
			}
			if uid, _ := fa.ExtAttrs[ibclient.EAReservationUID].(string); tc.takeOwnership && uid != string(holder.GetUID()) || !tc.takeOwnership && uid != "" {
				t.Errorf("the object is tagged for %q, want the holder's UID only with takeOwnership: %+v", uid, fa.ExtAttrs)
			}
			if al, err := allocationOf(ctx, tc.addr); err != nil || al == nil || al.Spec.Owner.UID != string(holder.GetUID()) {
				t.Errorf("the ledger's record of %s: %+v %v, want it held by %s", tc.addr, al, err, holder.GetName())
			}

			for _, r := range others {
				if err := kube.Delete(ctx, r); err != nil {
					t.Fatal(err)
				}
				waitGone(t, ns, r.GetName())
			}
			if fa := fixedAddressAt(t, srv, tc.addr); fa.Ref != existing.Ref {
				t.Fatalf("a rival's deletion changed the object: %+v", fa)
			}
			if r := get(t, ns, holder.GetName()); !ready(r) {
				t.Errorf("the holder is no longer ready: %+v", r.Status)
			}

			if err := kube.Delete(ctx, holder); err != nil {
				t.Fatal(err)
			}
			waitGone(t, ns, holder.GetName())
			remaining := 0
			for _, fa := range srv.FixedAddresses() {
				if fa.IPAddress == tc.addr {
					remaining++
				}
			}
			if tc.deleted && remaining != 0 || !tc.deleted && remaining != 1 {
				t.Errorf("%d objects of %s left in the grid after the holder's deletion, want the object deleted: %v", remaining, tc.addr, tc.deleted)
			}
			if al, err := allocationOf(ctx, tc.addr); err != nil || al != nil {
				t.Errorf("the ledger still records %s: %+v %v", tc.addr, al, err)
			}
		})
	}
}

// fixedAddressAt is the emulator's fixed address of addr.
func fixedAddressAt(t *testing.T, srv *wapisim.Server, addr string) wapisim.FixedAddress {
	t.Helper()
	for _, fa := range srv.FixedAddresses() {
		if fa.IPAddress == addr {
			return fa
		}
	}
	t.Fatalf("no fixed address %s in the grid", addr)
	return wapisim.FixedAddress{}
}
