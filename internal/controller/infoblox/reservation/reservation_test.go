package reservation_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	ibclient "github.com/provider-ipam/provider-ipam/internal/clients/infoblox"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

func TestReserve(t *testing.T) {
	cases := map[string]struct {
		params  v1alpha1.ReservationParameters
		address string
		prefix  string
		gateway string
		host    bool
	}{
		"NextAvailable": {
			params:  v1alpha1.ReservationParameters{Network: "192.0.2.0/24", Cluster: "c1", Claim: "claim1"},
			address: "192.0.2.2", prefix: "24", gateway: "192.0.2.1",
		},
		"SpecificAddress": {
			params:  v1alpha1.ReservationParameters{Address: "192.0.2.50", Network: "192.0.2.0/24"},
			address: "192.0.2.50", prefix: "24", gateway: "192.0.2.1",
		},
		"RangeAndExclude": {
			params:  v1alpha1.ReservationParameters{Network: "203.0.113.0/24", Range: "203.0.113.100-203.0.113.120", Exclude: []string{"203.0.113.100"}, Gateway: "203.0.113.254", Prefix: 23},
			address: "203.0.113.101", prefix: "23", gateway: "203.0.113.254",
		},
		"IPv6": {
			params:  v1alpha1.ReservationParameters{Network: "2001:db8:1::/64", Gateway: "2001:db8:1::ffff"},
			address: "2001:db8:1::1", prefix: "64", gateway: "2001:db8:1::ffff",
		},
		"HostRecord": {
			params:  v1alpha1.ReservationParameters{Network: "198.51.100.0/24", RecordType: v1alpha1.RecordTypeHostRecord, HostName: "node-1"},
			address: "198.51.100.2", prefix: "24", gateway: "198.51.100.1", host: true,
		},
	}
	srv := grid(t)
	ns := namespace(t)
	providerConfig(t, ns, srv, wapiPassword)
	ctx := context.Background()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rname := strings.ToLower(name)
			r := reservation(ns, rname, tc.params)
			r.SetWriteConnectionSecretToReference(&xpv1.LocalSecretReference{Name: rname + "-conn"})
			if err := kube.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
			r = waitReady(t, ns, rname, time.Minute)
			got := r.Status.AtProvider
			if got.Address != tc.address || got.Ref != meta.GetExternalName(r) || got.Gateway != tc.gateway {
				t.Errorf("atProvider %+v, want address %s gateway %s", got, tc.address, tc.gateway)
			}
			kind := "fixedaddress/"
			if tc.host {
				kind = "record:host/"
			}
			if !strings.HasPrefix(strings.TrimPrefix(meta.GetExternalName(r), "ipv6"), kind) {
				t.Errorf("external name %q, want a %s reference", meta.GetExternalName(r), kind)
			}
			var s corev1.Secret
			testenv.Eventually(t, 30*time.Second, "connection secret", func(ctx context.Context) (bool, error) {
				err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: rname + "-conn"}, &s)
				return err == nil, client.IgnoreNotFound(err)
			})
			if string(s.Data["address"]) != tc.address || string(s.Data["prefix"]) != tc.prefix || string(s.Data["gateway"]) != tc.gateway {
				t.Errorf("connection details %q", s.Data)
			}
			if tc.host {
				if hs := srv.HostRecords(); len(hs) != 1 || hs[0].Name != tc.params.HostName || hs[0].ExtAttrs["provider-ipam/reservation-uid"] != string(r.GetUID()) {
					t.Fatalf("host records: %+v", hs)
				}
				return
			}
			fas := byUID(srv, string(r.GetUID()))
			if len(fas) != 1 || fas[0].IPAddress != tc.address || fas[0].ExtAttrs["provider-ipam/owner"] != ns+"/"+rname {
				t.Fatalf("fixed addresses of %s: %+v", rname, fas)
			}
			if tc.params.Cluster != "" && (fas[0].ExtAttrs["provider-ipam/cluster"] != tc.params.Cluster || fas[0].ExtAttrs["provider-ipam/claim"] != tc.params.Claim) {
				t.Errorf("cluster/claim EAs: %v", fas[0].ExtAttrs)
			}
		})
	}
	// The ProviderConfig counts its users and cannot go while in use.
	testenv.Eventually(t, 30*time.Second, "ProviderConfig users", func(ctx context.Context) (bool, error) {
		pc := &v1alpha1.ProviderConfig{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: pcName}, pc); err != nil {
			return false, err
		}
		return pc.Status.Users == int64(len(cases)) && len(pc.GetFinalizers()) > 0, nil
	})
	pc := &v1alpha1.ProviderConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pcName}}
	if err := kube.Delete(ctx, pc); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := kube.Get(ctx, client.ObjectKeyFromObject(pc), pc); err != nil {
		t.Fatalf("ProviderConfig in use was deleted: %v", err)
	}
	if pc.GetDeletionTimestamp() == nil {
		t.Fatal("ProviderConfig not being deleted")
	}
}

func TestDeleteAndOrphan(t *testing.T) {
	srv := grid(t)
	ns := namespace(t)
	providerConfig(t, ns, srv, wapiPassword)
	ctx := context.Background()

	del := reservation(ns, "delete-me", v1alpha1.ReservationParameters{Network: "192.0.2.0/24"})
	orphan := reservation(ns, "orphan-me", v1alpha1.ReservationParameters{Network: "192.0.2.0/24"})
	// Namespaced managed resources have no deletionPolicy: management
	// policies without Delete orphan the external resource.
	orphan.SetManagementPolicies(xpv1.ManagementPolicies{xpv1.ManagementActionObserve, xpv1.ManagementActionCreate, xpv1.ManagementActionUpdate, xpv1.ManagementActionLateInitialize})
	for _, r := range []*v1alpha1.Reservation{del, orphan} {
		if err := kube.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	del = waitReady(t, ns, del.Name, time.Minute)
	orphan = waitReady(t, ns, orphan.Name, time.Minute)
	for _, r := range []*v1alpha1.Reservation{del, orphan} {
		if err := kube.Delete(ctx, r); err != nil {
			t.Fatal(err)
		}
		waitGone(t, ns, r.Name)
	}
	if fas := byUID(srv, string(del.GetUID())); len(fas) != 0 {
		t.Errorf("deleted Reservation's address still held: %+v", fas)
	}
	if fas := byUID(srv, string(orphan.GetUID())); len(fas) != 1 || fas[0].IPAddress != orphan.Status.AtProvider.Address {
		t.Errorf("orphaned Reservation's address released: %+v", fas)
	}
}

func TestAdoptObserveOnly(t *testing.T) {
	srv := grid(t)
	ns := namespace(t)
	providerConfig(t, ns, srv, wapiPassword)
	ctx := context.Background()

	// A fixed address made by someone else, outside Kubernetes.
	c := newClient(t, srv)
	existing, err := c.Reserve(ctx, ibclient.Request{Address: "192.0.2.77", MAC: "00:11:22:33:44:55", EAs: ibclientEA("Owner", "network team")})
	if err != nil {
		t.Fatal(err)
	}
	r := reservation(ns, "adopted", v1alpha1.ReservationParameters{Address: "192.0.2.77"})
	r.SetManagementPolicies(xpv1.ManagementPolicies{xpv1.ManagementActionObserve})
	meta.SetExternalName(r, existing.Ref)
	if err := kube.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	r = waitReady(t, ns, "adopted", time.Minute)
	if got := r.Status.AtProvider; got.Address != "192.0.2.77" || got.Network != "192.0.2.0/24" || got.Gateway != "192.0.2.1" || got.Prefix != 24 {
		t.Errorf("atProvider %+v", got)
	}
	if err := kube.Delete(ctx, r); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, "adopted")
	fas := srv.FixedAddresses()
	if len(fas) != 1 || fas[0].Ref != existing.Ref || fas[0].MAC != "00:11:22:33:44:55" || len(fas[0].ExtAttrs) != 1 {
		t.Fatalf("an Observe-only Reservation changed Infoblox: %+v", fas)
	}
}

func TestConcurrent(t *testing.T) {
	const n = 100
	srv := grid(t)
	ns := namespace(t)
	providerConfig(t, ns, srv, wapiPassword)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 10 {
		wg.Go(func() {
			for i := w; i < n; i += 10 {
				errs <- kube.Create(ctx, reservation(ns, fmt.Sprintf("r%03d", i), v1alpha1.ReservationParameters{Network: "198.51.100.0/24"}))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 3*time.Minute, "100 Reservations to be ready", func(ctx context.Context) (bool, error) {
		l := &v1alpha1.ReservationList{}
		if err := kube.List(ctx, l, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for i := range l.Items {
			if !ready(&l.Items[i]) {
				return false, nil
			}
		}
		return len(l.Items) == n, nil
	})
	t.Logf("WAPI round trips: %.2f per Reservation (%v)", float64(srv.RequestCount("", ""))/n, srv.RequestCounts())
	fas := srv.FixedAddresses()
	seen, uids := map[string]bool{}, map[any]bool{}
	for _, fa := range fas {
		if seen[fa.IPAddress] || uids[fa.ExtAttrs["provider-ipam/reservation-uid"]] {
			t.Fatalf("%s or its UID twice", fa.IPAddress)
		}
		if fa.IPAddress == "198.51.100.1" {
			t.Fatal("the gateway was handed out")
		}
		seen[fa.IPAddress], uids[fa.ExtAttrs["provider-ipam/reservation-uid"]] = true, true
	}
	if len(fas) != n {
		t.Fatalf("%d fixed addresses, want %d", len(fas), n)
	}
	l := &v1alpha1.ReservationList{}
	if err := kube.List(ctx, l, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range l.Items {
		r := &l.Items[i]
		if fa := byUID(srv, string(r.GetUID())); len(fa) != 1 || fa[0].IPAddress != r.Status.AtProvider.Address || fa[0].Ref != meta.GetExternalName(r) {
			t.Fatalf("%s: status %+v, Infoblox %+v", r.Name, r.Status.AtProvider, fa)
		}
	}
}

// The grid makes the fixed address but the answer never arrives, twice:
// the client's retry of the POST makes a second one, and both answers are
// lost. The Reservation must end with exactly one: found by its UID right
// away, or, when that search fails too, by the next Observe. When only the
// first answer is lost the retry's answer names the second object, and a
// search for duplicates that fails then leaves the next Observe to settle.
func TestLostResponse(t *testing.T) {
	cases := map[string][]wapisim.Fault{
		"RecoveredByCreate": {{Kind: wapisim.FaultLoseResponse, Method: "POST", Object: "fixedaddress", Count: 2}},
		"DuplicateRemovedAfterAFailedSearch": {
			{Kind: wapisim.FaultLoseResponse, Method: "POST", Object: "fixedaddress", Count: 1},
			{Kind: wapisim.FaultStatus, Status: 503, Method: "GET", Object: "fixedaddress", Count: 2},
		},
		"RecoveredByObserve": {
			{Kind: wapisim.FaultLoseResponse, Method: "POST", Object: "fixedaddress", Count: 2},
			{Kind: wapisim.FaultStatus, Status: 503, Method: "GET", Object: "fixedaddress", Count: 2},
		},
	}
	for name, faults := range cases {
		t.Run(name, func(t *testing.T) {
			srv := grid(t)
			ns := namespace(t)
			providerConfig(t, ns, srv, wapiPassword)
			ctx := context.Background()
			var ids []wapisim.FaultID
			for _, f := range faults {
				ids = append(ids, srv.AddFault(f))
			}
			r := reservation(ns, "lost", v1alpha1.ReservationParameters{Network: "192.0.2.0/24"})
			if err := kube.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 30*time.Second, "the faults to fire", func(context.Context) (bool, error) {
				for i, id := range ids {
					if srv.FaultHits(id) < faults[i].Count {
						return false, nil
					}
				}
				return true, nil
			})
			srv.ClearFaults()
			r = waitReady(t, ns, "lost", time.Minute)
			fas := byUID(srv, string(r.GetUID()))
			if len(fas) != 1 || fas[0].Ref != meta.GetExternalName(r) || fas[0].IPAddress != "192.0.2.2" {
				t.Fatalf("objects of the Reservation: %+v (external name %s)", fas, meta.GetExternalName(r))
			}
			if len(srv.FixedAddresses()) != 1 {
				t.Fatalf("fixed addresses: %+v", srv.FixedAddresses())
			}
		})
	}
}

func TestUnavailable(t *testing.T) {
	srv := grid(t)
	ns := namespace(t)
	providerConfig(t, ns, srv, wapiPassword)
	ctx := context.Background()
	srv.AddFault(wapisim.Fault{Kind: wapisim.FaultStatus, Status: 503})
	if err := kube.Create(ctx, reservation(ns, "flaky", v1alpha1.ReservationParameters{Network: "192.0.2.0/24"})); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "a transient error condition", func(ctx context.Context) (bool, error) {
		r := &v1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "flaky"}, r); err != nil {
			return false, err
		}
		c := r.GetCondition(xpv1.TypeSynced)
		return c.Status == corev1.ConditionFalse && strings.Contains(c.Message, string(ibclient.ReasonUnavailable)), nil
	})
	srv.ClearFaults()
	r := waitReady(t, ns, "flaky", 2*time.Minute)
	if fas := byUID(srv, string(r.GetUID())); len(fas) != 1 {
		t.Fatalf("objects of the Reservation: %+v", fas)
	}
}

func TestWrongCredentials(t *testing.T) {
	const wrong = "Wr0ng-Password-123"
	srv := grid(t)
	ns := namespace(t)
	providerConfig(t, ns, srv, wrong)
	ctx := context.Background()
	for i := range 5 {
		if err := kube.Create(ctx, reservation(ns, fmt.Sprintf("denied-%d", i), v1alpha1.ReservationParameters{Network: "192.0.2.0/24"})); err != nil {
			t.Fatal(err)
		}
	}
	var msg string
	testenv.Eventually(t, 30*time.Second, "an authentication failure condition", func(ctx context.Context) (bool, error) {
		r := &v1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "denied-0"}, r); err != nil {
			return false, err
		}
		c := r.GetCondition(xpv1.TypeSynced)
		msg = c.Message
		return c.Status == corev1.ConditionFalse && strings.Contains(c.Message, "authentication failed"), nil
	})
	start := srv.RequestCount("", "")
	time.Sleep(5 * time.Second)
	if n := srv.RequestCount("", "") - start; n > 5 {
		t.Errorf("%d WAPI requests in 5s with wrong credentials: a retry storm", n)
	}
	if strings.Contains(msg, wrong) || strings.Contains(msg, wapiPassword) {
		t.Errorf("condition leaks the password: %s", msg)
	}
	events := &corev1.EventList{}
	if err := kube.List(ctx, events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if strings.Contains(e.Message, wrong) {
			t.Errorf("event leaks the password: %s", e.Message)
		}
	}
	if len(srv.FixedAddresses()) != 0 {
		t.Fatal("reserved with wrong credentials")
	}
}

func TestOtherNamespaceProviderConfig(t *testing.T) {
	srv := grid(t)
	owner := namespace(t)
	providerConfig(t, owner, srv, wapiPassword)
	other := namespace(t)
	ctx := context.Background()
	// The reference has no namespace: "wapi" is looked up in the
	// Reservation's own namespace, where there is none.
	if err := kube.Create(ctx, reservation(other, "intruder", v1alpha1.ReservationParameters{Network: "192.0.2.0/24"})); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "a missing ProviderConfig condition", func(ctx context.Context) (bool, error) {
		r := &v1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: other, Name: "intruder"}, r); err != nil {
			return false, err
		}
		c := r.GetCondition(xpv1.TypeSynced)
		return c.Status == corev1.ConditionFalse && strings.Contains(c.Message, "cannot get the ProviderConfig"), nil
	})
	time.Sleep(time.Second)
	if n := srv.RequestCount("", ""); n != 0 {
		t.Fatalf("%d WAPI requests through another namespace's ProviderConfig", n)
	}
}

func newClient(t *testing.T, srv *wapisim.Server, mod ...func(*ibclient.Config)) *ibclient.Client {
	t.Helper()
	var port int
	fmt.Sscan(srv.Port(), &port) //nolint:errcheck // The emulator's port is a number.
	cfg := ibclient.Config{Host: srv.Host(), Port: port, Username: wapiUser, Password: wapiPassword, CABundle: srv.CACertPEM()}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := ibclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ibclientEA(k, v string) map[string]any { return map[string]any{k: v} }

// A grid that refuses a request says why in status.atProvider, which
// compositions read instead of the Synced message: no free address is a
// shortfall, an address another object holds is a conflict. Both clear
// once the request succeeds.
func TestRefusalsArePublished(t *testing.T) {
	srv := grid(t)
	if _, err := srv.AddNetwork("default", "198.18.0.0/30", wapisim.NetworkOptions{}); err != nil {
		t.Fatal(err)
	}
	ns := namespace(t)
	providerConfig(t, ns, srv, wapiPassword)
	ctx := context.Background()

	for _, name := range []string{"first", "second"} {
		if err := kube.Create(ctx, reservation(ns, name, v1alpha1.ReservationParameters{Network: "198.18.0.0/30"})); err != nil {
			t.Fatal(err)
		}
		waitReady(t, ns, name, time.Minute)
	}
	if err := kube.Create(ctx, reservation(ns, "third", v1alpha1.ReservationParameters{Network: "198.18.0.0/30"})); err != nil {
		t.Fatal(err)
	}
	holder := reservation(ns, "holder", v1alpha1.ReservationParameters{Address: "192.0.2.70", Network: "192.0.2.0/24"})
	if err := kube.Create(ctx, holder); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ns, "holder", time.Minute)
	if err := kube.Create(ctx, reservation(ns, "taken", v1alpha1.ReservationParameters{Address: "192.0.2.70", Network: "192.0.2.0/24"})); err != nil {
		t.Fatal(err)
	}

	want := map[string]v1alpha1.ReservationObservation{
		"third": {Shortfall: &commonv1alpha1.Shortfall{Requested: 1, Free: 0}},
		"taken": {Conflict: &commonv1alpha1.Conflict{Address: "192.0.2.70"}},
	}
	for name, obs := range want {
		testenv.Eventually(t, time.Minute, name+" refused", func(context.Context) (bool, error) {
			r := get(t, ns, name)
			return r.GetCondition(xpv1.TypeSynced).Status == corev1.ConditionFalse && cmp.Diff(obs, r.Status.AtProvider) == "", nil
		})
	}

	// A conflict is why the last attempt failed, not a fact kept for ever:
	// a reconcile that fails for another reason (an external name written
	// by hand that is no grid reference) publishes none.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := get(t, ns, "taken")
		meta.SetExternalName(r, "not-a-reference")
		return kube.Update(ctx, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the new failure reported without the old conflict", func(context.Context) (bool, error) {
		r := get(t, ns, "taken")
		c := r.GetCondition(xpv1.TypeSynced)
		return c.Status == corev1.ConditionFalse && strings.Contains(c.Message, "not-a-reference") && r.Status.AtProvider.Conflict == nil, nil
	})

	// The second's address goes back to the grid: the third gets it, and
	// its shortfall goes.
	if err := kube.Delete(ctx, reservation(ns, "second", v1alpha1.ReservationParameters{})); err != nil {
		t.Fatal(err)
	}
	if r := waitReady(t, ns, "third", 2*time.Minute); r.Status.AtProvider.Shortfall != nil || r.Status.AtProvider.Address == "" {
		t.Errorf("atProvider %+v, want an address and no shortfall", r.Status.AtProvider)
	}
}
