package incluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/addressing"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// ledgerEnv is a ledger on a real API server, with a client to arrange and
// inspect Allocations.
type ledgerEnv struct {
	kube   client.Client
	cache  cache.Cache
	ledger *incluster.Ledger
	// faulty is a second ledger on the same API server whose creates of
	// the Allocations named in refused fail, as on a lost connection.
	faulty  *incluster.Ledger
	refused *sync.Map
}

func startLedger(t *testing.T) ledgerEnv {
	t.Helper()
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kube, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l, err := incluster.New(ctx, kube, kube, ca)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ca.Start(ctx) }()
	refused := &sync.Map{}
	faultyCache, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	faulty, err := incluster.New(ctx, interceptor.NewClient(kube, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			if _, ok := refused.Load(o.GetName()); ok {
				return errors.New("connection reset by peer")
			}
			return c.Create(ctx, o, opts...)
		},
	}), kube, faultyCache)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = faultyCache.Start(ctx) }()
	if err := testenv.AllowTestAddressSpaces(ctx, kube); err != nil {
		t.Fatal(err)
	}
	// The ledger reads the policy from its cache: a test that reserves at
	// once must not race the informer that delivers it.
	testenv.Eventually(t, 30*time.Second, "the address-space policy in the ledgers' caches", func(ctx context.Context) (bool, error) {
		for _, c := range []cache.Cache{ca, faultyCache} {
			if err := c.Get(ctx, client.ObjectKey{Name: v1alpha1.DefaultProviderConfig}, &v1alpha1.ClusterProviderConfig{}); err != nil {
				return false, client.IgnoreNotFound(err)
			}
		}
		return true, nil
	})
	return ledgerEnv{kube: kube, cache: ca, ledger: l, faulty: faulty, refused: refused}
}

func (e ledgerEnv) allocation(t *testing.T, a string) *v1alpha1.Allocation {
	t.Helper()
	al := &v1alpha1.Allocation{}
	err := e.kube.Get(context.Background(), client.ObjectKey{Name: incluster.NameFor(netip.MustParseAddr(a))}, al)
	if kerrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return al
}

// hold makes an Allocation of a held by the in-cluster Reservation uid in
// ns.
func (e ledgerEnv) hold(t *testing.T, ns, uid, a string) {
	t.Helper()
	e.holdAs(t, v1alpha1.SchemeGroupVersion.String(), ns, uid, a)
}

// holdAs makes an Allocation of a held by the Reservation of apiVersion
// named uid in ns.
func (e ledgerEnv) holdAs(t *testing.T, apiVersion, ns, uid, a string) {
	t.Helper()
	if err := e.kube.Create(context.Background(), &v1alpha1.Allocation{
		ObjectMeta: metav1.ObjectMeta{Name: incluster.NameFor(netip.MustParseAddr(a))},
		Spec: v1alpha1.AllocationSpec{Address: a, Owner: v1alpha1.AllocationOwner{
			APIVersion: apiVersion, Kind: v1alpha1.ReservationKind, Namespace: ns, Name: uid, UID: uid,
		}},
	}); err != nil {
		t.Fatal(err)
	}
}

// settled waits until the ledger's index has seen addr held or not.
func (e ledgerEnv) settled(t *testing.T, space addressing.Space, held uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for e.ledger.HeldIn(space) != held {
		if time.Now().After(deadline) {
			t.Fatalf("the index holds %d in %s, want %d", e.ledger.HeldIn(space), space, held)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func spaceOf(t *testing.T, addrs ...string) addressing.Space {
	t.Helper()
	s, err := addressing.ParseSpace(addressing.SpaceSpec{IPAddresses: addrs, Prefix: 24})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLease runs each case in a space of its own on one API server: what
// is held beforehand, what the pool asks, and what the ledger answers.
func TestLease(t *testing.T) {
	e := startLedger(t)
	cases := []struct {
		name string
		// held are Reservation-held addresses, "owner=addr", of an
		// Infoblox Reservation with "infoblox/owner=addr".
		held  []string
		req   func(s addressing.Space) incluster.LeaseRequest
		want  string // the address leased, or "" with wantErr
		err   string // a part of the error, if it fails
		owner string // the holder of the Allocation afterwards: "pool" or a Reservation UID
	}{
		{
			name: "DrawLowest", held: []string{"r1=10.9.1.2"},
			req:  func(s addressing.Space) incluster.LeaseRequest { return incluster.LeaseRequest{Space: s, Draw: true} },
			want: "10.9.1.3", owner: "pool",
		},
		{
			name: "DrawExhausted", held: []string{"r1=10.9.2.2", "r1=10.9.2.3"},
			req: func(s addressing.Space) incluster.LeaseRequest { return incluster.LeaseRequest{Space: s, Draw: true} },
			err: "2 usable, 2 already held, 0 free",
		},
		{
			name: "FromItsReservationOnly", held: []string{"other=10.9.3.2", "r1=10.9.3.3"},
			req: func(s addressing.Space) incluster.LeaseRequest {
				return incluster.LeaseRequest{Space: s, Reservations: []types.UID{"r1"}}
			},
			want: "10.9.3.3", owner: "r1",
		},
		{
			name: "ReservationHoldsNothingInSpace", held: []string{"other=10.9.4.2"},
			req: func(s addressing.Space) incluster.LeaseRequest {
				return incluster.LeaseRequest{Space: s, Reservations: []types.UID{"r1"}}
			},
			err: "0 free",
		},
		{
			// What the grid confirmed, Attest recorded as the Infoblox
			// Reservation's: it is leased as an in-cluster one is.
			name: "FromAnInfobloxReservation", held: []string{"infoblox/ib1=10.9.5.3"},
			req: func(s addressing.Space) incluster.LeaseRequest {
				return incluster.LeaseRequest{Space: s, Reservations: []types.UID{"ib1"}}
			},
			want: "10.9.5.3", owner: "ib1",
		},
		{
			name: "InfobloxReservationHoldsNothingInTheLedger", held: []string{"other=10.9.6.3"},
			req: func(s addressing.Space) incluster.LeaseRequest {
				return incluster.LeaseRequest{Space: s, Reservations: []types.UID{"ib1"}}
			},
			err: "0 free",
		},
		{
			name: "WantGranted",
			req: func(s addressing.Space) incluster.LeaseRequest {
				return incluster.LeaseRequest{Space: s, Draw: true, Want: netip.MustParseAddr("10.9.7.3")}
			},
			want: "10.9.7.3", owner: "pool",
		},
		{
			name: "WantHeld", held: []string{"other=10.9.8.3"},
			req: func(s addressing.Space) incluster.LeaseRequest {
				return incluster.LeaseRequest{Space: s, Draw: true, Want: netip.MustParseAddr("10.9.8.3")}
			},
			err: "10.9.8.3 is in use",
		},
		{
			name: "WantOutside",
			req: func(s addressing.Space) incluster.LeaseRequest {
				return incluster.LeaseRequest{Space: s, Draw: true, Want: netip.MustParseAddr("10.9.99.3")}
			},
			err: "is not handed out by IPPool p",
		},
		{
			name: "WantNotTheReservations", held: []string{"other=10.9.10.3"},
			req: func(s addressing.Space) incluster.LeaseRequest {
				return incluster.LeaseRequest{Space: s, Reservations: []types.UID{"r1"}, Want: netip.MustParseAddr("10.9.10.2")}
			},
			err: "is not held by the reservations of IPPool p",
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			net := fmt.Sprintf("10.9.%d.", i+1)
			space := spaceOf(t, net+"2-"+net+"3")
			for _, h := range tc.held {
				owner, a, _ := strings.Cut(h, "=")
				if uid, ok := strings.CutPrefix(owner, "infoblox/"); ok {
					e.holdAs(t, infobloxv1alpha1.SchemeGroupVersion.String(), "ns", uid, a)
					continue
				}
				e.hold(t, "ns", owner, a)
			}
			e.settled(t, space, uint64(len(tc.held)))
			req := tc.req(space)
			req.Namespace, req.Label = "ns", "IPPool p"
			req.Pool = v1alpha1.LeaseHolder{Name: "p", UID: "pool"}
			req.Claim = v1alpha1.LeaseHolder{Name: "c", UID: fmt.Sprint("claim-", i)}
			got, err := e.ledger.Lease(ctx, req)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Lease = %s, %v; want an error with %q", got, err, tc.err)
				}
				var exhausted *addressing.ExhaustedError
				var refused *incluster.RefusedError
				if !errors.As(err, &exhausted) && !errors.As(err, &refused) {
					t.Errorf("error %v is neither exhausted nor refused", err)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("Lease = %s, %v; want %s", got, err, tc.want)
			}
			al := e.allocation(t, tc.want)
			if al == nil || al.Spec.Lease == nil || al.Spec.Lease.Claim == nil || al.Spec.Lease.Claim.UID != req.Claim.UID || al.Spec.Owner.UID != tc.owner {
				t.Fatalf("Allocation %+v, want leased to %s, held by %s", al, req.Claim.UID, tc.owner)
			}
			if marked := controllerutil.ContainsFinalizer(al, commonv1alpha1.FinalizerInUse); marked != (tc.owner != "pool") {
				t.Errorf("in-use finalizer %v, want it on a Reservation's Allocation only", marked)
			}
			// Asked again, the claim gets the same lease.
			if again, err := e.ledger.Lease(ctx, req); err != nil || again != got {
				t.Errorf("second Lease = %s, %v; want %s again", again, err, got)
			}
			// Given back at once: a Reservation keeps its address,
			// unmarked; one the pool held is gone.
			if err := e.ledger.Return(ctx, got, types.UID(req.Claim.UID), false); err != nil {
				t.Fatal(err)
			}
			al = e.allocation(t, tc.want)
			switch {
			case tc.owner == "pool" && al != nil:
				t.Errorf("the pool's Allocation stayed: %+v", al)
			case tc.owner != "pool" && (al == nil || al.Spec.Lease != nil || controllerutil.ContainsFinalizer(al, commonv1alpha1.FinalizerInUse)):
				t.Errorf("the Reservation's Allocation after return: %+v", al)
			}
		})
	}
}

// A lease given back with a grace period stays, without its claim, until
// the pool ends it; a lease of another claim is never given back.
func TestReturnCoolsAndEnds(t *testing.T) {
	e := startLedger(t)
	ctx := context.Background()
	space := spaceOf(t, "10.8.0.2-10.8.0.3")
	req := incluster.LeaseRequest{
		Namespace: "ns", Label: "IPPool p", Space: space, Draw: true,
		Pool: v1alpha1.LeaseHolder{Name: "p", UID: "pool"}, Claim: v1alpha1.LeaseHolder{Name: "c", UID: "claim"},
	}
	a, err := e.ledger.Lease(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ledger.Return(ctx, a, "someone-else", false); err != nil {
		t.Fatal(err)
	}
	if al := e.allocation(t, a.String()); al == nil || al.Spec.Lease.Claim == nil {
		t.Fatalf("another claim's return touched the lease: %+v", al)
	}
	if err := e.ledger.Return(ctx, a, "claim", true); err != nil {
		t.Fatal(err)
	}
	al := e.allocation(t, a.String())
	if al == nil || al.Spec.Lease == nil || al.Spec.Lease.Claim != nil || al.Spec.Lease.ReleasedAt == nil {
		t.Fatalf("cooling lease %+v, want no claim and releasedAt", al)
	}
	// While it cools, nobody gets it.
	next := req
	next.Claim = v1alpha1.LeaseHolder{Name: "d", UID: "claim-d"}
	next.Space = spaceOf(t, a.String())
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := e.ledger.LeaseOf("claim"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the index still has the claim's lease")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := e.ledger.Lease(ctx, next); err == nil {
		t.Fatalf("a cooling address was leased again: %s", got)
	}
	if err := e.ledger.End(ctx, a, "pool"); err != nil {
		t.Fatal(err)
	}
	if al := e.allocation(t, a.String()); al != nil {
		t.Fatalf("ended lease left %+v", al)
	}
}
