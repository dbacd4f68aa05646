package incluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/addressing"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

func TestNameFor(t *testing.T) {
	cases := map[string]string{
		"10.0.0.5":    "10.0.0.5",
		"2001:db8::2": "2001-0db8-0000-0000-0000-0000-0000-0002",
		// An IPv4-mapped IPv6 address is another address than its IPv4
		// form, so it must not get the same name.
		"::ffff:10.0.0.5": "0000-0000-0000-0000-0000-ffff-0a00-0005",
	}
	for in, want := range cases {
		if got := incluster.NameFor(netip.MustParseAddr(in)); got != want {
			t.Errorf("NameFor(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	cases := map[string]struct {
		err  error
		want string
	}{
		"ConflictInTheSameNamespace": {
			err: &incluster.ConflictError{Address: netip.MustParseAddr("10.0.0.7"), Requester: "team-b",
				Holder: v1alpha1.AllocationOwner{Kind: v1alpha1.ReservationKind, Namespace: "team-b", Name: "nodes"}},
			want: "10.0.0.7 is already held by Reservation team-b/nodes",
		},
		"ConflictWithAnotherNamespace": {
			err: &incluster.ConflictError{Address: netip.MustParseAddr("10.0.0.7"), Requester: "team-a",
				Holder: v1alpha1.AllocationOwner{Kind: v1alpha1.ReservationKind, Namespace: "team-b", Name: "nodes"}},
			want: `10.0.0.7 is already held outside namespace "team-a"`,
		},
		"ConflictWithAClusterScopedHolder": {
			err: &incluster.ConflictError{Address: netip.MustParseAddr("10.0.0.7"), Requester: "team-a",
				Holder: v1alpha1.AllocationOwner{Kind: "IPPool", Name: "nodes"}},
			want: `10.0.0.7 is already held outside namespace "team-a"`,
		},
		"InUse": {
			err: &incluster.InUseError{Held: 3, Want: 1, InUse: []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")}},
			want: "holding 3 addresses, not 1: 10.0.0.2-10.0.0.3 still in use by machines (" + commonv1alpha1.FinalizerInUse +
				" finalizer on their Allocations); released once their IPAddresses are gone",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

// owner is a Reservation holder named after its UID.
func owner(uid string) v1alpha1.AllocationOwner {
	return v1alpha1.AllocationOwner{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.ReservationKind, Namespace: "ledger", Name: uid, UID: uid}
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// cidrSpace parses a network and its gateway.
func cidrSpace(t *testing.T, cidr, gateway string) addressing.Space {
	t.Helper()
	s, err := addressing.ParseSpace(addressing.SpaceSpec{CIDR: cidr, Gateway: gateway})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// held lists the addresses the API server says uid holds.
func (e ledgerEnv) held(t *testing.T, uid string) []string {
	t.Helper()
	list := &v1alpha1.AllocationList{}
	if err := e.kube.List(context.Background(), list, client.MatchingLabels{v1alpha1.LabelOwnerUID: uid}); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, al := range list.Items {
		if al.DeletionTimestamp.IsZero() {
			out = append(out, al.Spec.Address)
		}
	}
	slices.Sort(out)
	return out
}

// markInUse puts the in-use finalizer on the Allocation of a, as a pool does
// for an address a machine holds.
func (e ledgerEnv) markInUse(t *testing.T, a string) {
	t.Helper()
	al := e.allocation(t, a)
	al.Finalizers = append(al.Finalizers, commonv1alpha1.FinalizerInUse)
	if err := e.kube.Update(context.Background(), al); err != nil {
		t.Fatal(err)
	}
}

// TestLedger runs each case in a /29 of its own on one API server. Holders
// made with hold are orphans: no Reservation of theirs exists.
func TestLedger(t *testing.T) {
	e := startLedger(t)
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, space addressing.Space, net string)
	}{
		{"ReserveLowestFreeSkippingGateway", func(t *testing.T, space addressing.Space, net string) {
			got, err := e.ledger.Reserve(ctx, owner("r1"), space, 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := addrs(net+"2", net+"3", net+"4")
			if !slices.Equal(got, want) {
				t.Errorf("Reserve = %v, want %v", got, want)
			}
			// A second call for the same count holds what it has.
			if again, err := e.ledger.Reserve(ctx, owner("r1"), space, 3, got); err != nil || !slices.Equal(again, want) {
				t.Errorf("Reserve again = %v, %v; want %v", again, err, want)
			}
		}},
		{"ReserveAllOrNone", func(t *testing.T, space addressing.Space, net string) {
			for _, a := range []string{"2", "3", "4"} {
				e.hold(t, "ledger", "other", net+a)
			}
			e.settled(t, space, 3)
			_, err := e.ledger.Reserve(ctx, owner("r2"), space, 3, nil)
			var x *addressing.ExhaustedError
			if !errors.As(err, &x) {
				t.Fatalf("Reserve error %v, want an ExhaustedError", err)
			}
			if diff := cmp.Diff(addressing.ExhaustedError{Space: space.String(), Usable: 5, Held: 3, Requested: 3}, *x); diff != "" {
				t.Errorf("ExhaustedError (-want +got):\n%s", diff)
			}
			if got := e.held(t, "r2"); len(got) != 0 {
				t.Errorf("a refused request left %v held", got)
			}
		}},
		{"HoldRefusesAHeldAddressAndHoldsNothing", func(t *testing.T, space addressing.Space, net string) {
			e.hold(t, "ledger", "other", net+"3")
			e.settled(t, space, 1)
			err := e.ledger.Hold(ctx, owner("r3"), addrs(net+"2", net+"3"), incluster.RefuseOrphans)
			var x *incluster.ConflictError
			if !errors.As(err, &x) || x.Address != netip.MustParseAddr(net+"3") || x.Holder.UID != "other" {
				t.Fatalf("Hold error %v, want a conflict on %s3 with other", err, net)
			}
			if got := e.held(t, "r3"); len(got) != 0 {
				t.Errorf("a refused set left %v held", got)
			}
		}},
		{"HoldAdoptsAnOrphan", func(t *testing.T, space addressing.Space, net string) {
			e.hold(t, "ledger", "gone", net+"5")
			e.settled(t, space, 1)
			if err := e.ledger.Hold(ctx, owner("r4"), addrs(net+"5"), incluster.AdoptOrphans); err != nil {
				t.Fatal(err)
			}
			if al := e.allocation(t, net+"5"); al.Spec.Owner.UID != "r4" || al.Labels[v1alpha1.LabelOwnerUID] != "r4" {
				t.Errorf("Allocation owner %+v, labels %v: want adopted by r4", al.Spec.Owner, al.Labels)
			}
		}},
		{"HoldRollsBackOnlyWhatItCreated", func(t *testing.T, space addressing.Space, net string) {
			// r7 holds .2, a kept address of its namespace waits at .3,
			// and the create of .5 fails after that of .4 succeeded.
			if err := e.ledger.Hold(ctx, owner("r7"), addrs(net+"2"), incluster.RefuseOrphans); err != nil {
				t.Fatal(err)
			}
			e.hold(t, "ledger", "kept", net+"3")
			e.refused.Store(incluster.NameFor(netip.MustParseAddr(net+"5")), true)
			testenv.Eventually(t, 30*time.Second, "the faulty ledger's cache sees .2 and .3", func(ctx context.Context) (bool, error) {
				got, err := e.faulty.Held(ctx, types.UID("r7"), nil)
				return len(got) == 1 && e.faulty.HeldIn(space) == 2, err
			})
			if err := e.faulty.Hold(ctx, owner("r7"), addrs(net+"2", net+"3", net+"4", net+"5"), incluster.AdoptOrphans); err == nil {
				t.Fatal("Hold succeeded although a create failed")
			}
			if diff := cmp.Diff([]string{net + "2", net + "3"}, e.held(t, "r7")); diff != "" {
				t.Errorf("held after the rollback (-want +got):\n%s", diff)
			}
		}},
		{"ShrinkKeepsAddressesInUse", func(t *testing.T, space addressing.Space, net string) {
			got, err := e.ledger.Reserve(ctx, owner("r5"), space, 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			e.markInUse(t, net+"2")
			e.markInUse(t, net+"4")
			kept, err := e.ledger.Reserve(ctx, owner("r5"), space, 1, got)
			var x *incluster.InUseError
			if !errors.As(err, &x) {
				t.Fatalf("Reserve error %v, want an InUseError", err)
			}
			want := addrs(net+"2", net+"4")
			if diff := cmp.Diff(incluster.InUseError{Held: 2, Want: 1, InUse: want}, *x, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("InUseError (-want +got):\n%s", diff)
			}
			if !slices.Equal(kept, want) {
				t.Errorf("kept %v, want %v", kept, want)
			}
			if al := e.allocation(t, net+"3"); al != nil && al.DeletionTimestamp.IsZero() {
				t.Errorf("the unused %s3 is still held", net)
			}
		}},
		{"ReleaseByUIDFindsWhatWasNeverRecorded", func(t *testing.T, space addressing.Space, net string) {
			if _, err := e.ledger.Reserve(ctx, owner("r6"), space, 2, nil); err != nil {
				t.Fatal(err)
			}
			// No hint: as after a crash before the holder recorded its
			// addresses. A restarted provider's cache has synced, so wait
			// until this one's has seen both Allocations.
			testenv.Eventually(t, 30*time.Second, "the cache sees both addresses", func(ctx context.Context) (bool, error) {
				got, err := e.ledger.Held(ctx, types.UID("r6"), nil)
				return len(got) == 2, err
			})
			if err := e.ledger.Release(ctx, types.UID("r6"), nil); err != nil {
				t.Fatal(err)
			}
			if got := e.held(t, "r6"); len(got) != 0 {
				t.Errorf("still held after release: %v", got)
			}
		}},
		{"ConcurrentHoldersNeverShare", func(t *testing.T, space addressing.Space, _ string) {
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				seen = map[netip.Addr]string{}
				errs []error
			)
			for i := range 5 {
				wg.Go(func() {
					uid := fmt.Sprintf("c%d", i)
					got, err := e.ledger.Reserve(ctx, owner(uid), space, 1, nil)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
						return
					}
					for _, a := range got {
						if prev, ok := seen[a]; ok {
							errs = append(errs, fmt.Errorf("%s given to %s and %s", a, prev, uid))
						}
						seen[a] = uid
					}
				})
			}
			wg.Wait()
			if len(errs) > 0 || len(seen) != 5 {
				t.Errorf("errors %v, %d addresses for 5 holders of a 5-address space", errs, len(seen))
			}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			net := fmt.Sprintf("10.30.%d.", i)
			tc.run(t, cidrSpace(t, net+"0/29", net+"1"), net)
		})
	}
}
