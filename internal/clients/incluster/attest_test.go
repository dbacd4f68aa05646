package incluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	ipamv1alpha1 "github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
)

// TestAttest records what the grid confirmed for an Infoblox Reservation,
// each case on addresses of its own on one API server: what the ledger
// holds beforehand, and who holds the address afterwards.
func TestAttest(t *testing.T) {
	e := startLedger(t)
	ib := func(ns, uid string) v1alpha1.AllocationOwner {
		return v1alpha1.AllocationOwner{APIVersion: infobloxv1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.ReservationKind, Namespace: ns, Name: uid, UID: uid}
	}
	// leasedByPool makes the Allocation a pool of ns held for a machine
	// before Infoblox addresses were recorded in the ledger.
	leasedByPool := func(t *testing.T, ns, a string) {
		t.Helper()
		if err := e.kube.Create(context.Background(), &v1alpha1.Allocation{
			ObjectMeta: metav1.ObjectMeta{Name: incluster.NameFor(netip.MustParseAddr(a))},
			Spec: v1alpha1.AllocationSpec{Address: a,
				Owner: v1alpha1.AllocationOwner{APIVersion: ipamv1alpha1.SchemeGroupVersion.String(), Kind: ipamv1alpha1.IPPoolKind, Namespace: ns, Name: "p", UID: "pool-" + ns},
				Lease: &v1alpha1.AllocationLease{Namespace: ns, Pool: v1alpha1.LeaseHolder{Name: "p", UID: "pool-" + ns},
					Claim: &v1alpha1.LeaseHolder{Name: "m", UID: "claim-m"}, LeasedAt: metav1.Now()},
			},
		}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		arrange func(t *testing.T, net string)
		attest  []string // addresses attested in turn for ib("team-a", "r")
		err     string   // a part of the last Attest's error
		owner   string   // UID holding the last address afterwards
		leased  bool     // the Allocation keeps a lease (and the in-use mark)
		gone    []string // addresses no longer held
	}{
		{name: "Fresh", attest: []string{"5"}, owner: "r"},
		{name: "Again", attest: []string{"5", "5"}, owner: "r"},
		{name: "AnotherObjectImported", attest: []string{"5", "6"}, owner: "r", gone: []string{"5"}},
		{
			name:    "HeldByAnotherNamespace",
			arrange: func(t *testing.T, net string) { e.hold(t, "team-b", "other", net+"5") },
			attest:  []string{"5"}, err: `is already held outside namespace "team-a"`, owner: "other",
		},
		{
			name:    "LeasedByAPoolOfItsNamespace",
			arrange: func(t *testing.T, net string) { leasedByPool(t, "team-a", net+"5") },
			attest:  []string{"5"}, owner: "r", leased: true,
		},
		{
			name:    "LeasedByAPoolOfAnotherNamespace",
			arrange: func(t *testing.T, net string) { leasedByPool(t, "team-b", net+"5") },
			attest:  []string{"5"}, err: "already held outside namespace", owner: "pool-team-b", leased: true,
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			net := fmt.Sprintf("10.10.%d.", i+1)
			if tc.arrange != nil {
				tc.arrange(t, net)
				e.settled(t, spaceOf(t, net+"0/24"), 1)
			}
			owner := ib("team-a", "r-"+tc.name)
			if tc.owner == "r" {
				tc.owner = owner.UID
			}
			var err error
			for _, a := range tc.attest {
				err = e.ledger.Attest(ctx, owner, netip.MustParseAddr(net+a))
			}
			if tc.err != "" {
				var conflict *incluster.ConflictError
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &conflict) {
					t.Fatalf("Attest = %v, want a *ConflictError with %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			last := net + tc.attest[len(tc.attest)-1]
			al := e.allocation(t, last)
			if al == nil || al.Spec.Owner.UID != tc.owner {
				t.Fatalf("Allocation of %s: %+v, want it held by %s", last, al, tc.owner)
			}
			if got := al.Spec.Lease != nil && controllerutil.ContainsFinalizer(al, commonv1alpha1.FinalizerInUse) || al.Spec.Lease != nil && al.Spec.Owner.Kind == ipamv1alpha1.IPPoolKind; got != tc.leased {
				t.Errorf("Allocation of %s leased %v, want %v: %+v", last, got, tc.leased, al)
			}
			for _, g := range tc.gone {
				if al := e.allocation(t, net+g); al != nil {
					t.Errorf("%s%s is still held: %+v", net, g, al)
				}
			}
			// Let go, the Reservation keeps what a machine holds.
			err = e.ledger.ReleaseUnused(ctx, types.UID(owner.UID), []netip.Addr{netip.MustParseAddr(last)})
			var inUse *incluster.InUseError
			switch {
			case tc.owner != owner.UID:
				if err != nil {
					t.Errorf("ReleaseUnused of a Reservation holding nothing: %v", err)
				}
			case tc.leased:
				if !errors.As(err, &inUse) || !slices.Contains(inUse.InUse, netip.MustParseAddr(last)) {
					t.Errorf("ReleaseUnused = %v, want %s in use", err, last)
				}
			case err != nil:
				t.Errorf("ReleaseUnused = %v", err)
			default:
				if al := e.allocation(t, last); al != nil {
					t.Errorf("%s is still held after ReleaseUnused: %+v", last, al)
				}
			}
		})
	}
}
