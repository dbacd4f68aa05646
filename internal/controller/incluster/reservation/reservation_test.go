package reservation_test

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// createAll creates n Reservations from one space at once, from several
// goroutines, as a burst of claims would.
func createAll(t *testing.T, ns string, n int, space string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 10 {
				errs <- kube.Create(context.Background(), reservation(ns, fmt.Sprintf("r%03d", i), cidr(space)))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// tally lists every Reservation of ns: addresses of the ready ones, and the
// Synced messages of the others.
func tally(ctx context.Context, ns string) (addrs map[string]string, failed map[string]string, err error) {
	l := &v1alpha1.ReservationList{}
	if err := kube.List(ctx, l, client.InNamespace(ns)); err != nil {
		return nil, nil, err
	}
	addrs, failed = map[string]string{}, map[string]string{}
	for i := range l.Items {
		r := &l.Items[i]
		if ready(r) {
			addrs[r.Name] = meta.GetExternalName(r)
			continue
		}
		failed[r.Name] = r.GetCondition(xpv1.TypeSynced).Message
	}
	return addrs, failed, nil
}

// checkDistinct fails unless every ready Reservation holds one distinct
// usable address of space and the ledger holds exactly those.
func checkDistinct(t *testing.T, ns string, space netip.Prefix, addrs map[string]string) {
	t.Helper()
	seen := map[string]string{}
	for name, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			t.Fatalf("%s holds %q, not one address", name, a)
		}
		if !space.Contains(ip) || ip == space.Addr() || ip == space.Addr().Next().Prev() {
			t.Fatalf("%s holds %s, outside %s", name, a, space)
		}
		if other, dup := seen[a]; dup {
			t.Fatalf("%s and %s both hold %s", name, other, a)
		}
		seen[a] = name
	}
	ledger := allocations(t, ns)
	if len(ledger) != len(addrs) {
		t.Fatalf("ledger holds %d addresses for %d ready reservations (leak)", len(ledger), len(addrs))
	}
	for a, holder := range ledger {
		if holder != ns+"/"+seen[a] {
			t.Fatalf("ledger says %s is held by %s, the reservations say %q", a, holder, seen[a])
		}
	}
}

func TestBurstExhaustsSpaceExactly(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "burst")
	createAll(t, ns, 300, "10.1.0.0/24")

	var addrs, failed map[string]string
	testenv.Eventually(t, 3*time.Minute, "254 ready and 46 exhausted", func(ctx context.Context) (bool, error) {
		var err error
		addrs, failed, err = tally(ctx, ns)
		if err != nil {
			return false, err
		}
		exhausted := 0
		for _, msg := range failed {
			if strings.Contains(msg, "not enough free addresses in 10.1.0.0/24: 1 requested, 254 usable, 254 already held, 0 free") {
				exhausted++
			}
		}
		return len(addrs) == 254 && exhausted == 46, nil
	})
	checkDistinct(t, ns, netip.MustParsePrefix("10.1.0.0/24"), addrs)
}

func TestTwoReplicasNeverShareAnAddress(t *testing.T) {
	startProvider(t)
	startProvider(t)
	ns := namespace(t, "replicas")
	createAll(t, ns, 250, "10.2.0.0/24")

	var addrs map[string]string
	testenv.Eventually(t, 3*time.Minute, "250 ready, each with one address", func(ctx context.Context) (bool, error) {
		var err error
		addrs, _, err = tally(ctx, ns)
		if err != nil || len(addrs) != 250 {
			return false, err
		}
		// Two replicas reconciling one Reservation at once may both reserve
		// for it; it converges to one address. Wait for that.
		return len(allocations(t, ns)) == 250, nil
	})
	checkDistinct(t, ns, netip.MustParsePrefix("10.2.0.0/24"), addrs)
}

func TestRestartMidRunLosesNothing(t *testing.T) {
	ns := namespace(t, "restart")
	stop := startProvider(t)
	createAll(t, ns, 150, "10.3.0.0/24")
	testenv.Eventually(t, time.Minute, "some allocations made", func(context.Context) (bool, error) {
		return len(allocations(t, ns)) >= 20, nil
	})
	stop() // Mid-run: in-flight reconciles are cut off.
	startProvider(t)

	var addrs map[string]string
	testenv.Eventually(t, 3*time.Minute, "150 ready after restart", func(ctx context.Context) (bool, error) {
		var err error
		addrs, _, err = tally(ctx, ns)
		return len(addrs) == 150 && len(allocations(t, ns)) == 150, err
	})
	checkDistinct(t, ns, netip.MustParsePrefix("10.3.0.0/24"), addrs)
}

// A crash after the Allocation was created but before the Reservation
// recorded it: the Reservation must get that address, not a second one.
func TestCrashBeforeRecordingIsRecovered(t *testing.T) {
	ns := namespace(t, "crash")
	ctx := context.Background()
	r := reservation(ns, "web", cidr("10.4.0.0/24"))
	if err := kube.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	orphan := &v1alpha1.Allocation{
		ObjectMeta: metav1.ObjectMeta{Name: "10.4.0.77", Labels: map[string]string{v1alpha1.LabelOwnerUID: string(r.UID)}},
		Spec: v1alpha1.AllocationSpec{Address: "10.4.0.77", Owner: v1alpha1.AllocationOwner{
			APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.ReservationKind, Namespace: ns, Name: "web", UID: string(r.UID),
		}},
	}
	if err := kube.Create(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	startProvider(t)
	got := waitReady(t, ns, "web")
	if en := meta.GetExternalName(got); en != "10.4.0.77" {
		t.Fatalf("external name %q, want the address reserved before the crash, 10.4.0.77", en)
	}
	if a := allocations(t, ns); len(a) != 1 {
		t.Fatalf("ledger holds %v, want only 10.4.0.77", a)
	}
}

func TestDeleteReleasesAndOrphanKeeps(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "lifecycle")
	ctx := context.Background()

	del := reservation(ns, "deleted", cidr("10.5.0.0/24"))
	orphaned := reservation(ns, "orphaned", cidr("10.5.0.0/24"))
	// Crossplane v2's namespaced resources have no deletionPolicy: leaving
	// Delete out of the management policies is how they orphan.
	orphaned.Spec.ManagementPolicies = xpv1.ManagementPolicies{
		xpv1.ManagementActionObserve, xpv1.ManagementActionCreate, xpv1.ManagementActionUpdate, xpv1.ManagementActionLateInitialize,
	}
	for _, r := range []*v1alpha1.Reservation{del, orphaned} {
		if err := kube.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	delAddr := meta.GetExternalName(waitReady(t, ns, "deleted"))
	orphanAddr := meta.GetExternalName(waitReady(t, ns, "orphaned"))
	for _, name := range []string{"deleted", "orphaned"} {
		testenv.Eventually(t, 30*time.Second, name+"'s held-addresses series", func(context.Context) (bool, error) {
			return heldSeries(ns, name)
		})
	}

	for _, r := range []*v1alpha1.Reservation{del, orphaned} {
		if err := kube.Delete(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, time.Minute, "both reservations gone", func(ctx context.Context) (bool, error) {
		l := &v1alpha1.ReservationList{}
		err := kube.List(ctx, l, client.InNamespace(ns))
		return len(l.Items) == 0, err
	})
	// The orphan's finalizer goes without an Observe: its series goes too.
	for _, name := range []string{"deleted", "orphaned"} {
		if found, err := heldSeries(ns, name); err != nil || found {
			t.Errorf("%s: a held-addresses series outlives the Reservation (%v)", name, err)
		}
	}
	a := allocations(t, ns)
	if _, held := a[delAddr]; held {
		t.Errorf("%s still held after its reservation was deleted", delAddr)
	}
	if holder := a[orphanAddr]; holder != ns+"/orphaned" {
		t.Errorf("orphaned %s: held by %q, want it kept for %s/orphaned", orphanAddr, holder, ns)
	}

	// A new Reservation allocating from the space never gets the orphaned
	// address; one naming it in its external name adopts it.
	fresh := reservation(ns, "fresh", cidr("10.5.0.0/24"))
	adopter := reservation(ns, "adopter", cidr("10.5.0.0/24"))
	meta.SetExternalName(adopter, orphanAddr)
	for _, r := range []*v1alpha1.Reservation{fresh, adopter} {
		if err := kube.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if got := meta.GetExternalName(waitReady(t, ns, "fresh")); got == orphanAddr {
		t.Fatalf("fresh reservation was handed the orphaned address %s", got)
	}
	if got := meta.GetExternalName(waitReady(t, ns, "adopter")); got != orphanAddr {
		t.Fatalf("adopter holds %s, want the orphaned %s", got, orphanAddr)
	}
	if holder := allocations(t, ns)[orphanAddr]; holder != ns+"/adopter" {
		t.Fatalf("%s held by %q after adoption, want %s/adopter", orphanAddr, holder, ns)
	}
}

func TestObserveOnlyNeverTakesOrReleases(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "observe")
	ctx := context.Background()
	if err := kube.Create(ctx, reservation(ns, "owner", cidr("10.6.0.0/24"))); err != nil {
		t.Fatal(err)
	}
	addr := meta.GetExternalName(waitReady(t, ns, "owner"))

	watcher := reservation(ns, "watcher", nil)
	watcher.Spec.ForProvider.Address = addr
	watcher.Spec.ManagementPolicies = xpv1.ManagementPolicies{xpv1.ManagementActionObserve}
	meta.SetExternalName(watcher, addr)
	if err := kube.Create(ctx, watcher); err != nil {
		t.Fatal(err)
	}
	got := waitReady(t, ns, "watcher")
	if got.Status.AtProvider.HeldBy != ns+"/owner" {
		t.Fatalf("heldBy %q, want %s/owner", got.Status.AtProvider.HeldBy, ns)
	}
	if err := kube.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "watcher gone", func(ctx context.Context) (bool, error) {
		err := kube.Get(ctx, client.ObjectKeyFromObject(got), &v1alpha1.Reservation{})
		return kerrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if holder := allocations(t, ns)[addr]; holder != ns+"/owner" {
		t.Fatalf("%s held by %q after the observer was deleted, want %s/owner", addr, holder, ns)
	}
}

// collide has Reservation first take address of space and, once it is
// ready, creates Reservation second asking for the same address.
func collide(t *testing.T, first, second client.ObjectKey, space, address string) {
	t.Helper()
	ctx := context.Background()
	for i, key := range []client.ObjectKey{first, second} {
		r := reservation(key.Namespace, key.Name, cidr(space))
		r.Spec.ForProvider.Address = address
		if err := kube.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			waitReady(t, key.Namespace, key.Name)
		}
	}
}

func TestSpecificAddressConflictIsReported(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "conflict")
	collide(t, client.ObjectKey{Namespace: ns, Name: "first"}, client.ObjectKey{Namespace: ns, Name: "second"}, "10.7.0.0/24", "10.7.0.10")
	testenv.Eventually(t, time.Minute, "conflict reported", func(ctx context.Context) (bool, error) {
		r := get(t, ns, "second")
		c := r.GetCondition(xpv1.TypeSynced)
		return c.Status == corev1.ConditionFalse && strings.Contains(c.Message, "10.7.0.10 is already held by Reservation conflict/first"), nil
	})
	// Compositions read the conflict from the status, not the message.
	if diff := cmp.Diff(v1alpha1.ReservationObservation{Prefix: 24, Conflict: &commonv1alpha1.Conflict{Address: "10.7.0.10"}}, get(t, ns, "second").Status.AtProvider); diff != "" {
		t.Errorf("atProvider (-want +got):\n%s", diff)
	}
	if a := allocations(t, ns); len(a) != 1 || a["10.7.0.10"] != ns+"/first" {
		t.Fatalf("ledger %v, want only 10.7.0.10 held by first", a)
	}
}

// The conflict a Reservation publishes is why its last attempt failed: once
// a reconcile fails for another reason (here a hand-written external name
// that is not an address list), compositions must not read the old
// conflict as the cause.
func TestConflictIsNotKeptPastAnotherFailure(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "stale")
	ctx := context.Background()
	collide(t, client.ObjectKey{Namespace: ns, Name: "first"}, client.ObjectKey{Namespace: ns, Name: "second"}, "10.7.2.0/24", "10.7.2.10")
	testenv.Eventually(t, time.Minute, "conflict published", func(context.Context) (bool, error) {
		return get(t, ns, "second").Status.AtProvider.Conflict != nil, nil
	})
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := get(t, ns, "second")
		meta.SetExternalName(r, "not-an-address")
		return kube.Update(ctx, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the new failure reported without the old conflict", func(context.Context) (bool, error) {
		r := get(t, ns, "second")
		c := r.GetCondition(xpv1.TypeSynced)
		return c.Status == corev1.ConditionFalse && strings.Contains(c.Message, "invalid external name") && r.Status.AtProvider.Conflict == nil, nil
	})
}

// A tenant whose Reservation collides with another namespace's learns that
// the address is taken, never which namespace or object holds it.
func TestConflictWithAnotherNamespaceNamesNoHolder(t *testing.T) {
	startProvider(t)
	owner, other := namespace(t, "conflict-owner"), namespace(t, "conflict-other")
	collide(t, client.ObjectKey{Namespace: owner, Name: "secret-cluster"}, client.ObjectKey{Namespace: other, Name: "probe"}, "10.7.1.0/24", "10.7.1.10")
	var msg string
	testenv.Eventually(t, time.Minute, "conflict reported", func(ctx context.Context) (bool, error) {
		c := get(t, other, "probe").GetCondition(xpv1.TypeSynced)
		msg = c.Message
		return c.Status == corev1.ConditionFalse && strings.Contains(c.Message, "10.7.1.10 is already held"), nil
	})
	if strings.Contains(msg, owner) || strings.Contains(msg, "secret-cluster") {
		t.Errorf("Synced message %q names the other namespace's holder", msg)
	}
}

func TestCountGrowsAndShrinks(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "scale")
	ctx := context.Background()
	r := reservation(ns, "nodes", &commonv1alpha1.AddressSpace{CIDR: "10.8.0.0/29", Gateway: "10.8.0.1"})
	r.Spec.ForProvider.Count = ptr.To[int32](3)
	if err := kube.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := meta.GetExternalName(waitReady(t, ns, "nodes")); got != "10.8.0.2-10.8.0.4" {
		t.Fatalf("holds %q, want 10.8.0.2-10.8.0.4 (lowest, skipping network and gateway)", got)
	}
	setCount(t, ns, "nodes", 5)
	testenv.Eventually(t, time.Minute, "grown to 5", func(context.Context) (bool, error) {
		return meta.GetExternalName(get(t, ns, "nodes")) == "10.8.0.2-10.8.0.6" && len(allocations(t, ns)) == 5, nil
	})
	setCount(t, ns, "nodes", 6) // A /29 with a gateway has 5 usable addresses.
	testenv.Eventually(t, time.Minute, "growth beyond the space refused", func(context.Context) (bool, error) {
		c := get(t, ns, "nodes").GetCondition(xpv1.TypeSynced)
		return strings.Contains(c.Message, "not enough free addresses in 10.8.0.0/29: 1 requested, 5 usable, 5 already held"), nil
	})
	// The addresses held stay published beside the shortfall, in numbers.
	wantObs := v1alpha1.ReservationObservation{
		Addresses: []string{"10.8.0.2", "10.8.0.3", "10.8.0.4", "10.8.0.5", "10.8.0.6"}, Prefix: 29, Gateway: "10.8.0.1",
		Shortfall: &commonv1alpha1.Shortfall{Requested: 1, Usable: ptr.To[int64](5), Held: ptr.To[int64](5), Free: 0},
	}
	if diff := cmp.Diff(wantObs, get(t, ns, "nodes").Status.AtProvider); diff != "" {
		t.Errorf("atProvider (-want +got):\n%s", diff)
	}
	if a := allocations(t, ns); len(a) != 5 {
		t.Fatalf("failed growth left %d addresses held, want 5", len(a))
	}
	setCount(t, ns, "nodes", 2)
	testenv.Eventually(t, time.Minute, "shrunk to 2", func(context.Context) (bool, error) {
		return meta.GetExternalName(get(t, ns, "nodes")) == "10.8.0.2-10.8.0.3" && len(allocations(t, ns)) == 2, nil
	})
}

func TestIPv6AndConnectionDetails(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "ipv6")
	ctx := context.Background()
	r := reservation(ns, "v6", &commonv1alpha1.AddressSpace{CIDR: "2001:db8:9::/120", Gateway: "2001:db8:9::1"})
	r.Spec.WriteConnectionSecretToReference = &xpv1.LocalSecretReference{Name: "v6-conn"}
	if err := kube.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := meta.GetExternalName(waitReady(t, ns, "v6")); got != "2001:db8:9::2" {
		t.Fatalf("holds %q, want 2001:db8:9::2 (not the subnet-router anycast address nor the gateway)", got)
	}
	if _, ok := allocations(t, ns)["2001:db8:9::2"]; !ok {
		t.Fatal("no Allocation for 2001:db8:9::2")
	}
	if name := incluster.NameFor(netip.MustParseAddr("2001:db8:9::2")); name != "2001-0db8-0009-0000-0000-0000-0000-0002" {
		t.Fatalf("allocation name %q", name)
	}
	s := &corev1.Secret{}
	testenv.Eventually(t, time.Minute, "connection secret", func(ctx context.Context) (bool, error) {
		err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "v6-conn"}, s)
		return err == nil, client.IgnoreNotFound(err)
	})
	want := map[string]string{"address": "2001:db8:9::2", "addresses": "2001:db8:9::2", "prefix": "120", "gateway": "2001:db8:9::1"}
	for k, v := range want {
		if string(s.Data[k]) != v {
			t.Errorf("connection detail %s = %q, want %q", k, s.Data[k], v)
		}
	}
}

func TestInvalidSpaceReportedAsCondition(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "invalid")
	ctx := context.Background()
	// Admission cannot see that ranges overlap; the provider must say so.
	r := reservation(ns, "overlap", &commonv1alpha1.AddressSpace{IPAddresses: []string{"10.9.0.10-10.9.0.20", "10.9.0.15"}})
	if err := kube.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "overlap reported", func(context.Context) (bool, error) {
		c := get(t, ns, "overlap").GetCondition(xpv1.TypeSynced)
		return c.Status == corev1.ConditionFalse && strings.Contains(c.Message, `ipAddresses[1] "10.9.0.15": overlaps ipAddresses[0]`), nil
	})
	if a := allocations(t, ns); len(a) != 0 {
		t.Fatalf("invalid reservation holds %v", a)
	}
}

func TestAdmissionRejectsBadInput(t *testing.T) {
	ns := namespace(t, "admission")
	cases := map[string]struct {
		params v1alpha1.ReservationParameters
		want   string
	}{
		"bad cidr":          {v1alpha1.ReservationParameters{Space: cidr("10.0.0.0/33")}, "must be a CIDR without host bits"},
		"host bits":         {v1alpha1.ReservationParameters{Space: cidr("10.0.0.1/24")}, "must be a CIDR without host bits"},
		"both":              {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{CIDR: "10.0.0.0/24", IPAddresses: []string{"10.0.0.1"}}}, "set exactly one of cidr or ipAddresses"},
		"neither":           {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{Gateway: "10.0.0.1"}}, "set exactly one of cidr or ipAddresses"},
		"gateway outside":   {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{CIDR: "10.0.0.0/24", Gateway: "10.0.1.1"}}, "gateway is outside the network"},
		"gateway family":    {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{CIDR: "10.0.0.0/24", Gateway: "2001:db8::1"}}, "gateway is not of the same IP family"},
		"prefix too long":   {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{CIDR: "10.0.0.0/24", Prefix: 25}}, "prefix is longer than the cidr's"},
		"prefix v4 > 32":    {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{IPAddresses: []string{"10.0.0.1"}, Prefix: 33}}, "prefix is longer than the address family allows"},
		"mixed families":    {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{IPAddresses: []string{"10.0.0.1", "2001:db8::1"}}}, "all addresses must be of one IP family"},
		"duplicates":        {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{IPAddresses: []string{"10.0.0.1", "10.0.0.1"}}}, "Duplicate value"},
		"bad list entry":    {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{IPAddresses: []string{"10.0.0.300"}}}, "must be an IP address, a CIDR or a range"},
		"bad address":       {v1alpha1.ReservationParameters{Address: "not-an-ip"}, "must be an IP address"},
		"gateway no prefix": {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{IPAddresses: []string{"10.0.0.5"}, Gateway: "10.0.0.1"}}, "prefix is required with ipAddresses and a gateway"},
		"address and count": {v1alpha1.ReservationParameters{Address: "10.0.0.5", Count: ptr.To[int32](2)}, "address and count are exclusive"},
		"nothing":           {v1alpha1.ReservationParameters{}, "set space, address, or both"},

		// A gateway must be a host of its network.
		"gateway network address":   {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{CIDR: "203.0.113.0/28", Gateway: "203.0.113.0"}}, "spec.forProvider.space.gateway: Invalid value: 203.0.113.0 is the network address of 203.0.113.0/28, not a host address"},
		"gateway broadcast address": {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{CIDR: "203.0.113.0/28", Gateway: "203.0.113.15"}}, "203.0.113.15 is the broadcast address of 203.0.113.0/28, not a host address"},
		"gateway network of slice":  {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{CIDR: "203.0.113.16/28", Prefix: 24, Gateway: "203.0.113.0"}}, "203.0.113.0 is the network address of 203.0.113.0/24, not a host address"},
		"gateway broadcast of list": {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{IPAddresses: []string{"10.0.0.5"}, Prefix: 24, Gateway: "10.0.0.255"}}, "10.0.0.255 is the broadcast address of its /24 network, not a host address"},
		"gateway v6 anycast":        {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{CIDR: "2001:db8::/120", Gateway: "2001:db8::"}}, "2001:db8:: is the subnet-router anycast address of 2001:db8::/120, not a host address"},

		// A malformed field gets its own message, not a CEL evaluation
		// error of a rule that reads it.
		"bad cidr and gateway":    {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{CIDR: "10.0.0.0/33", Gateway: "10.0.0.1"}}, "must be a CIDR without host bits"},
		"bad cidr and prefix":     {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{CIDR: "nope", Prefix: 24}}, "must be a CIDR without host bits"},
		"bad gateway":             {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{CIDR: "10.0.0.0/24", Gateway: "nope"}}, "must be an IP address"},
		"neither, with prefix":    {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{Prefix: 24}}, "set exactly one of cidr or ipAddresses"},
		"gateway of other family": {v1alpha1.ReservationParameters{Space: &commonv1alpha1.AddressSpace{CIDR: "2001:db8::/64", Gateway: "10.0.0.0"}}, "gateway is not of the same IP family"},
	}
	i := 0
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			i++
			r := &v1alpha1.Reservation{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("bad-%d", i)},
				Spec:       v1alpha1.ReservationSpec{ForProvider: tc.params},
			}
			err := kube.Create(context.Background(), r)
			testenv.Refused(t, err, tc.want)
			if strings.Contains(err.Error(), "not a host address") != strings.Contains(tc.want, "not a host address") {
				t.Fatalf("got %v, want only %q", err, tc.want)
			}
		})
	}

	// Gateways that are hosts of their networks, including both addresses
	// of a point-to-point /31, pass.
	for _, space := range []*commonv1alpha1.AddressSpace{
		{CIDR: "203.0.113.0/28", Gateway: "203.0.113.14"},
		{CIDR: "203.0.113.0/31", Gateway: "203.0.113.0"},
		{CIDR: "203.0.113.16/28", Prefix: 24, Gateway: "203.0.113.1"},
		{IPAddresses: []string{"10.0.0.5"}, Prefix: 24, Gateway: "10.0.0.254"},
		{CIDR: "2001:db8::/64", Gateway: "2001:db8::ffff:ffff:ffff:ffff"},
	} {
		r := reservation(ns, "good", space)
		if err := kube.Create(context.Background(), r, client.DryRunAll); err != nil {
			t.Errorf("%+v: %v", *space, err)
		}
	}

	// The space of a Reservation cannot move once set.
	r := reservation(ns, "immutable", cidr("10.10.0.0/24"))
	if err := kube.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	r.Spec.ForProvider.Space = cidr("10.11.0.0/24")
	if err := kube.Update(context.Background(), r); !kerrors.IsInvalid(err) || !strings.Contains(err.Error(), "space is immutable") {
		t.Fatalf("got %v, want space is immutable", err)
	}
}

// A set that cannot be held whole is not held at all.
func TestAllAddressesIsAllOrNothing(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "allornothing")
	ctx := context.Background()
	blocker := reservation(ns, "blocker", nil)
	blocker.Spec.ForProvider.Address = "10.12.0.12"
	if err := kube.Create(ctx, blocker); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ns, "blocker")

	set := reservation(ns, "set", &commonv1alpha1.AddressSpace{IPAddresses: []string{"10.12.0.10-10.12.0.14"}, Gateway: "10.12.0.1", Prefix: 24})
	set.Spec.ForProvider.AllAddresses = true
	if err := kube.Create(ctx, set); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "conflict reported", func(context.Context) (bool, error) {
		c := get(t, ns, "set").GetCondition(xpv1.TypeSynced)
		return strings.Contains(c.Message, "10.12.0.12 is already held by Reservation allornothing/blocker"), nil
	})
	// The set is retried with backoff meanwhile: at no point may part of it
	// be held, not even for the length of a retry.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		if a := allocations(t, ns); len(a) != 1 {
			t.Fatalf("ledger %v: the set left part of itself held", a)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Once the blocker is gone the whole set is held.
	if err := kube.Delete(ctx, blocker); err != nil {
		t.Fatal(err)
	}
	if got := meta.GetExternalName(waitReady(t, ns, "set")); got != "10.12.0.10-10.12.0.14" {
		t.Fatalf("set holds %q, want 10.12.0.10-10.12.0.14", got)
	}
}

// While a pool hands the addresses to machines, deleting the Reservation
// releases nothing; once the pool lets go, it does.
func TestInUseAddressesAreNotReleased(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "inuse")
	ctx := context.Background()
	r := reservation(ns, "nodes", cidr("10.13.0.0/24"))
	r.Finalizers = []string{commonv1alpha1.FinalizerInUse}
	if err := kube.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	addr := meta.GetExternalName(waitReady(t, ns, "nodes"))

	// A Reservation without the finalizer, deleted at the same moment, is
	// released at once: when it is, the in-use one has had its chance too.
	free := reservation(ns, "free", cidr("10.13.0.0/24"))
	if err := kube.Create(ctx, free); err != nil {
		t.Fatal(err)
	}
	freeAddr := meta.GetExternalName(waitReady(t, ns, "free"))
	for _, o := range []*v1alpha1.Reservation{r, free} {
		if err := kube.Delete(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, time.Minute, "the other Reservation released", func(context.Context) (bool, error) {
		_, held := allocations(t, ns)[freeAddr]
		return !held, nil
	})
	if holder := allocations(t, ns)[addr]; holder != ns+"/nodes" {
		t.Fatalf("%s released while in use (holder %q)", addr, holder)
	}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := get(t, ns, "nodes")
		meta.RemoveFinalizer(cur, commonv1alpha1.FinalizerInUse)
		return kube.Update(ctx, cur)
	}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "released once no longer in use", func(context.Context) (bool, error) {
		return len(allocations(t, ns)) == 0, nil
	})
}

// setCount sets the count of Reservation ns/name. The provider writes the
// Reservation too: it retries on its writes.
func setCount(t *testing.T, ns, name string, n int32) {
	t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := get(t, ns, name)
		cur.Spec.ForProvider.Count = ptr.To(n)
		return kube.Update(context.Background(), cur)
	}); err != nil {
		t.Fatal(err)
	}
}

// markInUse puts or takes the in-use finalizer on the Allocation of addr, as
// the pool does for an address it hands to a machine.
func markInUse(t *testing.T, addr string, on bool) {
	t.Helper()
	ctx := context.Background()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		al := &v1alpha1.Allocation{}
		if err := kube.Get(ctx, client.ObjectKey{Name: addr}, al); err != nil {
			return err
		}
		if on {
			meta.AddFinalizer(al, commonv1alpha1.FinalizerInUse)
		} else {
			meta.RemoveFinalizer(al, commonv1alpha1.FinalizerInUse)
		}
		return kube.Update(ctx, al)
	}); err != nil {
		t.Fatal(err)
	}
}

// A shrink releases only addresses no machine holds, highest first; the
// others go as their machines release them, and Synced says so meanwhile.
func TestShrinkKeepsAddressesInUse(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "shrink")
	ctx := context.Background()
	r := reservation(ns, "nodes", &commonv1alpha1.AddressSpace{CIDR: "10.14.0.0/29", Gateway: "10.14.0.1"})
	r.Spec.ForProvider.Count = ptr.To[int32](4)
	if err := kube.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := meta.GetExternalName(waitReady(t, ns, "nodes")); got != "10.14.0.2-10.14.0.5" {
		t.Fatalf("holds %q, want 10.14.0.2-10.14.0.5", got)
	}
	markInUse(t, "10.14.0.2", true)
	markInUse(t, "10.14.0.5", true)
	setCount(t, ns, "nodes", 1)
	testenv.Eventually(t, time.Minute, "the two unused addresses released, the two in use kept and reported", func(context.Context) (bool, error) {
		cur := get(t, ns, "nodes")
		c := cur.GetCondition(xpv1.TypeSynced)
		return meta.GetExternalName(cur) == "10.14.0.2,10.14.0.5" && len(allocations(t, ns)) == 2 && ready(cur) &&
			c.Status == "False" && strings.Contains(c.Message, "holding 2 addresses, not 1: 10.14.0.2,10.14.0.5 still in use by machines"), nil
	})
	if got := get(t, ns, "nodes").Status.AtProvider; !slices.Equal(got.Addresses, []string{"10.14.0.2", "10.14.0.5"}) ||
		!slices.Equal(got.Releasing, []string{"10.14.0.2", "10.14.0.5"}) {
		t.Errorf("atProvider addresses %v, releasing %v: want what is still held, both releasing", got.Addresses, got.Releasing)
	}

	// The machine on the highest goes: released at once (the Allocation
	// watch), not at the next poll.
	markInUse(t, "10.14.0.5", false)
	testenv.Eventually(t, 20*time.Second, "shrunk to the address still in use", func(context.Context) (bool, error) {
		cur := get(t, ns, "nodes")
		_, held := allocations(t, ns)["10.14.0.5"]
		return meta.GetExternalName(cur) == "10.14.0.2" && !held && cur.GetCondition(xpv1.TypeSynced).Status == "True" &&
			len(cur.Status.AtProvider.Releasing) == 0, nil
	})
	markInUse(t, "10.14.0.2", false)
}

// A Reservation that held its whole space (allAddresses, before the node
// count was known) turns to a count: the addresses above it that no
// machine holds are released.
func TestAllAddressesTurnsToCount(t *testing.T) {
	startProvider(t)
	ns := namespace(t, "alltocount")
	ctx := context.Background()
	r := reservation(ns, "nodes", &commonv1alpha1.AddressSpace{CIDR: "10.15.0.0/29", Gateway: "10.15.0.1"})
	r.Spec.ForProvider.AllAddresses = true
	if err := kube.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := meta.GetExternalName(waitReady(t, ns, "nodes")); got != "10.15.0.2-10.15.0.6" {
		t.Fatalf("holds %q, want the whole space", got)
	}
	markInUse(t, "10.15.0.6", true)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := get(t, ns, "nodes")
		cur.Spec.ForProvider.AllAddresses = false
		cur.Spec.ForProvider.Count = ptr.To[int32](2)
		return kube.Update(ctx, cur)
	}); err != nil {
		t.Fatal(err)
	}
	// The lowest free ones and the one in use make the two.
	testenv.Eventually(t, time.Minute, "shrunk to 2, keeping the one in use", func(context.Context) (bool, error) {
		cur := get(t, ns, "nodes")
		return meta.GetExternalName(cur) == "10.15.0.2,10.15.0.6" && len(allocations(t, ns)) == 2 &&
			cur.GetCondition(xpv1.TypeSynced).Status == "True", nil
	})
	markInUse(t, "10.15.0.6", false)
}

// heldSeries reports whether the provider's registry has a held-addresses
// series for the in-cluster Reservation ns/name.
func heldSeries(ns, name string) (bool, error) {
	fams, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return false, err
	}
	want := map[string]string{"backend": "in-cluster", "namespace": ns, "name": name}
	for _, f := range fams {
		if f.GetName() != "provider_ipam_reservation_held_addresses" {
			continue
		}
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if maps.Equal(got, want) {
				return true, nil
			}
		}
	}
	return false, nil
}
