// Package chaos runs provider-ipam through faults: two replicas electing a
// leader, one SIGKILLed every few seconds, while the WAPI emulator answers
// with 5xx, drops connections, loses responses and adds latency. Claims of
// ten namespaces, IPv4 and IPv6, are bound and then deleted through it
// all, and afterwards the ledger, the grid and the IPAddresses must agree:
// no address twice, every claim answered, nothing left behind.
// `make test-chaos` runs it.
package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	ipamv1alpha1 "github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/localplane"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

// The workload: in each namespace, an in-cluster Reservation of 6
// addresses of one /24 every namespace draws from, with a pool over the
// whole /24; 5 Infoblox Reservations of one address each, with a pool over
// the grid's network; and a pool without Reservations over a range every
// namespace's such pool lists. The same again in IPv6 for the in-cluster
// Reservation (4 addresses of one shared /120) and the pool without
// Reservations. Claims: 5, 5, 2, 3 and 2 per namespace.
const (
	namespaces       = 10
	inclusterCount   = 6
	inclusterClaims  = 5
	infobloxCount    = 5
	infobloxClaims   = 5
	bareClaims       = 2
	incluster6Count  = 4
	incluster6Claims = 3
	bare6Claims      = 2
	claimsPerNS      = inclusterClaims + infobloxClaims + bareClaims + incluster6Claims + bare6Claims
	sharedCIDR       = "10.90.0.0/24"
	sharedGateway    = "10.90.0.1"
	shared6CIDR      = "2001:db8:90::/120"
	shared6Gateway   = "2001:db8:90::1"
	gridNetwork      = "198.51.100.0/24"
	gridGateway      = "198.51.100.1"
	bareRange        = "10.91.0.10-10.91.0.60"
	bare6Range       = "2001:db8:91::10-2001:db8:91::60"
	bare6Gateway     = "2001:db8:91::1"
	providerConfig   = "grid"
	chaosFor         = 60 * time.Second
	settleWithin     = 5 * time.Minute
	killEveryAtLeast = 3 * time.Second
)

func TestChaos(t *testing.T) {
	if os.Getenv("PROVIDER_IPAM_CHAOS") == "" {
		t.Skip("the fault suite runs with `make test-chaos` (PROVIDER_IPAM_CHAOS=1)")
	}
	ctx := context.Background()
	capi, err := testenv.CAPICRDDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(capi) })
	p, err := localplane.Start(ctx, localplane.Options{Name: "chaos", ExtraCRDDirs: []string{capi}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	if err := testenv.AllowTestAddressSpaces(ctx, p.Kube); err != nil {
		t.Fatal(err)
	}
	var replicas []*localplane.Replica
	for _, name := range []string{"provider-a", "provider-b"} {
		r, err := p.StartReplica(name, "--poll=15s")
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, r)
	}
	t.Logf("logs in %s", p.Dir)

	// The grid fails requests from the first create on.
	ids := faults(p)
	claims := 0
	for i := range namespaces {
		claims += workload(t, p, fmt.Sprintf("chaos-%d", i))
	}

	kills, leaders, fired := storm(t, p, replicas, ids)
	t.Logf("creating: %d kills, %d of the leader; %d faults of the grid", kills, leaders, fired)
	settle(t, settleWithin, "every claim bound", func(ctx context.Context) (string, error) { return unbound(ctx, p.Kube) })
	t.Logf("bound %d claims", claims)
	agree(t, p)

	// Everything is deleted through the same faults.
	ids = faults(p)
	for i := range namespaces {
		ns := fmt.Sprintf("chaos-%d", i)
		for _, o := range []client.Object{&capiipamv1beta2.IPAddressClaim{}, &ipamv1alpha1.IPPool{}, &inclusterv1alpha1.Reservation{}, &infobloxv1alpha1.Reservation{}} {
			if err := p.Kube.DeleteAllOf(ctx, o, client.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
		}
	}
	kills, leaders, fired = storm(t, p, replicas, ids)
	t.Logf("deleting: %d kills, %d of the leader; %d faults of the grid", kills, leaders, fired)
	settle(t, settleWithin, "everything deleted, nothing left behind", func(ctx context.Context) (string, error) { return left(ctx, p) })
}

// workload creates one namespace's Reservations, pools and claims, and
// returns the number of claims.
func workload(t *testing.T, p *localplane.Plane, ns string) int {
	t.Helper()
	ctx := context.Background()
	create := func(o client.Object) {
		t.Helper()
		if err := p.Kube.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if err := testenv.InfobloxProviderConfig(ctx, p.Kube, ns, providerConfig, p.WAPI, localplane.WAPIUsername, localplane.WAPIPassword); err != nil {
		t.Fatal(err)
	}
	create(inclusterReservation(ns, "nodes", sharedCIDR, sharedGateway, inclusterCount))
	create(pool(ns, "in-cluster", sharedGateway, sharedCIDR, 24, ref(inclusterv1alpha1.SchemeGroupVersion.String(), "nodes")))
	create(inclusterReservation(ns, "nodes6", shared6CIDR, shared6Gateway, incluster6Count))
	create(pool(ns, "in-cluster-6", shared6Gateway, shared6CIDR, 120, ref(inclusterv1alpha1.SchemeGroupVersion.String(), "nodes6")))
	var ibRefs []ipamv1alpha1.ReservationRef
	for i := range infobloxCount {
		r := &infobloxv1alpha1.Reservation{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("grid-%d", i)},
			Spec:       infobloxv1alpha1.ReservationSpec{ForProvider: infobloxv1alpha1.ReservationParameters{Network: gridNetwork}},
		}
		r.SetProviderConfigReference(&xpv1.ProviderConfigReference{Kind: infobloxv1alpha1.ProviderConfigKind, Name: providerConfig})
		create(r)
		ibRefs = append(ibRefs, ref(infobloxv1alpha1.SchemeGroupVersion.String(), r.Name))
	}
	create(pool(ns, "infoblox", gridGateway, gridNetwork, 24, ibRefs...))
	create(pool(ns, "bare", "10.91.0.1", bareRange, 24))
	create(pool(ns, "bare-6", bare6Gateway, bare6Range, 64))
	out := 0
	for _, c := range []struct {
		pool string
		n    int
	}{{"in-cluster", inclusterClaims}, {"infoblox", infobloxClaims}, {"bare", bareClaims}, {"in-cluster-6", incluster6Claims}, {"bare-6", bare6Claims}} {
		for i := range c.n {
			cl := &capiipamv1beta2.IPAddressClaim{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", c.pool, i)},
				Spec: capiipamv1beta2.IPAddressClaimSpec{PoolRef: capiipamv1beta2.IPPoolReference{
					APIGroup: ipamv1alpha1.Group, Kind: ipamv1alpha1.IPPoolKind, Name: c.pool,
				}},
			}
			create(cl)
			out++
		}
	}
	return out
}

// inclusterReservation asks for count addresses of cidr.
func inclusterReservation(ns, name, cidr, gateway string, count int32) *inclusterv1alpha1.Reservation {
	return &inclusterv1alpha1.Reservation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: inclusterv1alpha1.ReservationSpec{ForProvider: inclusterv1alpha1.ReservationParameters{
			Space: &commonv1alpha1.AddressSpace{CIDR: cidr, Gateway: gateway},
			Count: ptr.To(count),
		}},
	}
}

func pool(ns, name, gateway, addrs string, prefix int32, refs ...ipamv1alpha1.ReservationRef) *ipamv1alpha1.IPPool {
	return &ipamv1alpha1.IPPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       ipamv1alpha1.IPPoolSpec{Addresses: []string{addrs}, Gateway: gateway, Prefix: prefix, ReservationRefs: refs},
	}
}

func ref(apiVersion, name string) ipamv1alpha1.ReservationRef {
	return ipamv1alpha1.ReservationRef{APIVersion: apiVersion, Kind: inclusterv1alpha1.ReservationKind, Name: name}
}

// faultNames name what faults adds, in its order.
var faultNames = []string{"lost POST answers", "lost DELETE answers", "503", "dropped", "slow"}

// faults makes the grid fail requests: 5xx, dropped connections, lost
// responses of creates and deletes (the change made, the answer never
// sent), latency. It returns them, for counting.
func faults(p *localplane.Plane) []wapisim.FaultID {
	var ids []wapisim.FaultID
	// The first that matches fires (latency adds to any): lost answers
	// come first, as they are what leaves duplicates behind.
	for _, f := range []wapisim.Fault{
		{Kind: wapisim.FaultLoseResponse, Method: "POST", Probability: 0.3},
		{Kind: wapisim.FaultLoseResponse, Method: "DELETE", Probability: 0.3},
		{Kind: wapisim.FaultStatus, Status: 503, Probability: 0.1},
		{Kind: wapisim.FaultDrop, Probability: 0.05},
		{Kind: wapisim.FaultLatency, Delay: 300 * time.Millisecond, Probability: 0.3},
	} {
		ids = append(ids, p.WAPI.AddFault(f))
	}
	return ids
}

// storm, the grid's faults ids on, for chaosFor, every few seconds
// SIGKILLs the leader once it has led a moment (so that it dies in the
// middle of its work), or else, now and then, the replica waiting to lead;
// a killed replica starts again at once, as a kubelet restarts a pod. It
// returns the number of kills, of the leader among them, and of faults
// that fired. Both replicas run when it returns.
func storm(t *testing.T, p *localplane.Plane, replicas []*localplane.Replica, ids []wapisim.FaultID) (kills, leaders, fired int) {
	t.Helper()
	restart := func() {
		for _, r := range replicas {
			if r.Ended() {
				if err := r.Start(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	end := time.Now().Add(chaosFor)
	for time.Now().Before(end) {
		time.Sleep(killEveryAtLeast + rand.N(3*time.Second)) //nolint:gosec // Not for security.
		restart()
		victim := -1
		for i, r := range replicas {
			if r.Leads() {
				victim = i
				leaders++
			}
		}
		if victim < 0 && rand.Float64() < 0.3 { //nolint:gosec // Not for security.
			victim = rand.IntN(len(replicas)) //nolint:gosec // Not for security.
		}
		if victim >= 0 {
			replicas[victim].Kill()
			kills++
			restart()
		}
	}
	var hits []string
	for i, id := range ids {
		fired += p.WAPI.FaultHits(id)
		hits = append(hits, fmt.Sprintf("%s %d", faultNames[i], p.WAPI.FaultHits(id)))
	}
	t.Logf("faults fired: %s", strings.Join(hits, ", "))
	p.WAPI.ClearFaults()
	restart()
	return kills, leaders, fired
}

// settle polls cond every two seconds (a LIST of this workload is cheap at
// that rate, and does not load the API server the replicas work against)
// until it reports nothing left to wait for, and fails with what it last
// reported after timeout.
func settle(t *testing.T, timeout time.Duration, what string, cond func(context.Context) (string, error)) {
	t.Helper()
	ctx := context.Background()
	end := time.Now().Add(timeout)
	for {
		left, err := cond(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if left == "" {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not after %s: %s", what, timeout, left)
		}
		time.Sleep(2 * time.Second)
	}
}

// unbound lists the claims of this workload that have no address, each
// with its Ready condition (all of them fit, so each must be bound).
func unbound(ctx context.Context, kube client.Client) (string, error) {
	l := &capiipamv1beta2.IPAddressClaimList{}
	if err := kube.List(ctx, l); err != nil {
		return "", err
	}
	if want := namespaces * claimsPerNS; len(l.Items) != want {
		return "", fmt.Errorf("%d claims, want %d", len(l.Items), want)
	}
	var waiting []string
	for _, c := range l.Items {
		if c.Status.AddressRef.Name != "" {
			continue
		}
		k := c.Namespace + "/" + c.Name
		cond := meta.FindStatusCondition(c.Status.Conditions, capiipamv1beta2.IPAddressClaimReadyCondition)
		if cond == nil {
			waiting = append(waiting, k+": no Ready condition")
			continue
		}
		waiting = append(waiting, fmt.Sprintf("%s: Ready=%s %s: %s", k, cond.Status, cond.Reason, cond.Message))
	}
	if len(waiting) == 0 {
		return "", nil
	}
	sort.Strings(waiting)
	return fmt.Sprintf("%d claims not bound:\n%s", len(waiting), strings.Join(waiting, "\n")), nil
}

// agree checks the ledger, the grid and the IPAddresses against each
// other: each address handed to a machine once, recorded in the ledger for
// its own namespace, and each Infoblox Reservation holding exactly one
// grid object, the one the ledger records.
func agree(t *testing.T, p *localplane.Plane) {
	t.Helper()
	ctx := context.Background()
	ips := &capiipamv1beta2.IPAddressList{}
	if err := p.Kube.List(ctx, ips); err != nil {
		t.Fatal(err)
	}
	allocs := &inclusterv1alpha1.AllocationList{}
	if err := p.Kube.List(ctx, allocs); err != nil {
		t.Fatal(err)
	}
	byName := map[string]inclusterv1alpha1.Allocation{}
	for _, al := range allocs.Items {
		byName[al.Name] = al
	}
	want := namespaces * claimsPerNS
	if len(ips.Items) != want {
		t.Errorf("%d IPAddresses, want %d", len(ips.Items), want)
	}
	seen := map[string]string{}
	for _, ip := range ips.Items {
		who := ip.Namespace + "/" + ip.Name
		if prev, dup := seen[ip.Spec.Address]; dup {
			t.Errorf("%s handed to %s and %s", ip.Spec.Address, prev, who)
		}
		seen[ip.Spec.Address] = who
		a, err := netip.ParseAddr(ip.Spec.Address)
		if err != nil {
			t.Errorf("%s: address %q", who, ip.Spec.Address)
			continue
		}
		al, ok := byName[incluster.NameFor(a)]
		if !ok {
			t.Errorf("%s holds %s, which the ledger does not record", who, a)
			continue
		}
		if al.Spec.Owner.Namespace != ip.Namespace {
			t.Errorf("%s holds %s, which the ledger records for namespace %s", who, a, al.Spec.Owner.Namespace)
		}
	}

	grid := map[string][]wapisim.FixedAddress{}
	addrs := map[string]bool{}
	for _, fa := range p.WAPI.FixedAddresses() {
		uid := fmt.Sprint(fa.ExtAttrs["provider-ipam/reservation-uid"])
		grid[uid] = append(grid[uid], fa)
		if addrs[fa.IPAddress] {
			t.Errorf("the grid holds %s twice", fa.IPAddress)
		}
		addrs[fa.IPAddress] = true
	}
	if n, want := len(p.WAPI.FixedAddresses()), namespaces*infobloxCount; n != want {
		t.Errorf("the grid holds %d fixed addresses, want %d (one per Reservation)", n, want)
	}
	rs := &infobloxv1alpha1.ReservationList{}
	if err := p.Kube.List(ctx, rs); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs.Items {
		fas := grid[string(r.UID)]
		if len(fas) != 1 {
			t.Errorf("Infoblox Reservation %s/%s has %d grid objects, want 1", r.Namespace, r.Name, len(fas))
			continue
		}
		a := netip.MustParseAddr(fas[0].IPAddress)
		al, ok := byName[incluster.NameFor(a)]
		if !ok || al.Spec.Owner.UID != string(r.UID) {
			t.Errorf("Infoblox Reservation %s/%s: the grid holds %s for it, the ledger records %+v", r.Namespace, r.Name, a, al.Spec.Owner)
		}
	}
}

// left says what is not deleted yet of the workload, the ledger and the
// grid; "" once nothing is.
func left(ctx context.Context, p *localplane.Plane) (string, error) {
	n := map[string]int{}
	for name, l := range map[string]client.ObjectList{
		"IPAddressClaims":         &capiipamv1beta2.IPAddressClaimList{},
		"IPAddresses":             &capiipamv1beta2.IPAddressList{},
		"IPPools":                 &ipamv1alpha1.IPPoolList{},
		"in-cluster Reservations": &inclusterv1alpha1.ReservationList{},
		"Infoblox Reservations":   &infobloxv1alpha1.ReservationList{},
		"Allocations":             &inclusterv1alpha1.AllocationList{},
	} {
		if err := p.Kube.List(ctx, l); err != nil {
			return "", err
		}
		if c := meta.LenList(l); c > 0 {
			n[name] = c
		}
	}
	if c := len(p.WAPI.FixedAddresses()); c > 0 {
		n["grid fixed addresses"] = c
	}
	var s []string
	for k, v := range n {
		s = append(s, fmt.Sprintf("%d %s", v, k))
	}
	sort.Strings(s)
	return strings.Join(s, ", "), nil
}
