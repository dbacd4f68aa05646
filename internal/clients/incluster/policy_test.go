package incluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	ipamv1alpha1 "github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/addressing"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/localplane"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// policyOwner is a Reservation of ns (that does not exist: a holder that
// is gone once it releases) drawing under cfg.
func policyOwner(ns, uid, cfg string) v1alpha1.AllocationOwner {
	return v1alpha1.AllocationOwner{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.ReservationKind, Namespace: ns, Name: uid, UID: uid, ProviderConfig: cfg}
}

// policy creates (or replaces) ClusterProviderConfig name and waits until
// the ledger's cache serves it.
func (e ledgerEnv) policy(t *testing.T, name string, allow ...v1alpha1.AddressAllowance) {
	t.Helper()
	ctx := context.Background()
	cpc := &v1alpha1.ClusterProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := e.kube.Get(ctx, client.ObjectKeyFromObject(cpc), cpc); client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
	cpc.Spec.Allow = allow
	var err error
	if cpc.ResourceVersion == "" {
		err = e.kube.Create(ctx, cpc)
	} else {
		err = e.kube.Update(ctx, cpc)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The ledger reads policies from its cache: wait until it has this one.
	deadline := time.Now().Add(30 * time.Second)
	for {
		cur := &v1alpha1.ClusterProviderConfig{}
		if err := e.cache.Get(ctx, client.ObjectKeyFromObject(cpc), cur); err == nil && cur.ResourceVersion == cpc.ResourceVersion {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache never served ClusterProviderConfig %s", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveOwner creates a Reservation ns/name (no provider runs here, so it is
// only there) and returns it as an owner drawing under cfg: a holder that
// exists, as every holder the provider acts for does.
func (e ledgerEnv) liveOwner(t *testing.T, ns, name, cfg string) v1alpha1.AllocationOwner {
	t.Helper()
	r := &v1alpha1.Reservation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.ReservationSpec{ForProvider: v1alpha1.ReservationParameters{Address: "10.255.255.1"}},
	}
	if err := e.kube.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	o := policyOwner(ns, name, cfg)
	o.UID = string(r.UID)
	return o
}

// livePool creates an IPPool ns/name and returns it as a lease holder.
func (e ledgerEnv) livePool(t *testing.T, ns, name string) v1alpha1.LeaseHolder {
	t.Helper()
	p := &ipamv1alpha1.IPPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       ipamv1alpha1.IPPoolSpec{Addresses: []string{"10.255.255.1"}, Prefix: 24},
	}
	if err := e.kube.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return v1alpha1.LeaseHolder{Name: name, UID: string(p.UID)}
}

func (e ledgerEnv) namespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	if err := e.kube.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}); err != nil {
		t.Fatal(err)
	}
}

func allowNS(ns string, quota *int64, addresses ...string) v1alpha1.AddressAllowance {
	return v1alpha1.AddressAllowance{
		NamespaceSelector:        metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
		Addresses:                addresses,
		MaxAddressesPerNamespace: quota,
	}
}

func wantPolicy(t *testing.T, err error, reason string) {
	t.Helper()
	var p *incluster.PolicyError
	if !errors.As(err, &p) || p.Reason != reason {
		t.Fatalf("error %v, want a PolicyError with reason %s", err, reason)
	}
}

// TestPolicy runs the ledger's address-space policy on a real API server:
// what a namespace may draw, through every way of drawing, and how much.
func TestPolicy(t *testing.T) {
	e := startLedger(t)
	ctx := context.Background()
	e.namespace(t, "team-a", nil)
	e.namespace(t, "team-b", nil)
	e.namespace(t, "tenant-x", map[string]string{"tenant": "true"})
	e.policy(t, "tenancy",
		allowNS("team-a", nil, "10.40.0.0/24", "10.40.1.10-10.40.1.20"),
		v1alpha1.AddressAllowance{NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tenant": "true"}}, Addresses: []string{"10.40.2.0/24"}},
	)

	t.Run("AdmissionRefusesBadPolicies", func(t *testing.T) {
		for name, c := range map[string]struct {
			cpc  *v1alpha1.ClusterProviderConfig
			says string
		}{
			"malformed address": {
				&v1alpha1.ClusterProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: "bad-address"}, Spec: v1alpha1.ClusterProviderConfigSpec{
					Allow: []v1alpha1.AddressAllowance{{Addresses: []string{"10.0.0.0/33"}}}}},
				"must be an IP address, a CIDR or a range first-last",
			},
			"no addresses": {
				&v1alpha1.ClusterProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: "no-addresses"}, Spec: v1alpha1.ClusterProviderConfigSpec{
					Allow: []v1alpha1.AddressAllowance{{}}}},
				"addresses",
			},
			"name too long for its QuotaUsage": {
				&v1alpha1.ClusterProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 190)}},
				"at most 189 characters",
			},
		} {
			if err := e.kube.Create(ctx, c.cpc); err == nil || !strings.Contains(err.Error(), c.says) {
				t.Errorf("%s: %v, want refused saying %q", name, err, c.says)
			}
		}
	})
	t.Run("ReserveOutsideTheAllowanceIsRefused", func(t *testing.T) {
		// team-b is selected by no allowance; team-a not for this space.
		for _, o := range []v1alpha1.AllocationOwner{policyOwner("team-b", "b1", "tenancy"), policyOwner("team-a", "a1", "tenancy")} {
			_, err := e.ledger.Reserve(ctx, o, cidrSpace(t, "10.40.2.0/28", "10.40.2.1"), 1, nil)
			wantPolicy(t, err, v1alpha1.ReasonAddressSpaceNotAllowed)
			if got := e.held(t, o.UID); len(got) != 0 {
				t.Errorf("a refused request of %s left %v held", o.Namespace, got)
			}
		}
		// A space only partly allowed is refused whole: any of its
		// addresses could be handed out.
		_, err := e.ledger.Reserve(ctx, policyOwner("team-a", "a2", "tenancy"), cidrSpace(t, "10.40.1.0/27", "10.40.1.1"), 1, nil)
		wantPolicy(t, err, v1alpha1.ReasonAddressSpaceNotAllowed)
	})
	t.Run("ReserveWithinTheAllowance", func(t *testing.T) {
		got, err := e.ledger.Reserve(ctx, policyOwner("team-a", "a3", "tenancy"), cidrSpace(t, "10.40.0.0/28", "10.40.0.1"), 2, nil)
		if err != nil || len(got) != 2 {
			t.Fatalf("Reserve = %v, %v; want 2 addresses", got, err)
		}
		got, err = e.ledger.Reserve(ctx, policyOwner("tenant-x", "x1", "tenancy"), cidrSpace(t, "10.40.2.0/28", "10.40.2.1"), 1, nil)
		if err != nil || len(got) != 1 {
			t.Fatalf("Reserve by a labelled namespace = %v, %v; want 1 address", got, err)
		}
	})
	t.Run("RelabelledNamespaceFollowsThePolicy", func(t *testing.T) {
		// team-b was refused above; labelled as a tenant it may draw the
		// tenants' space, and unlabelled it may not again.
		relabel := func(labels map[string]string) {
			t.Helper()
			n := &corev1.Namespace{}
			if err := e.kube.Get(ctx, types.NamespacedName{Name: "team-b"}, n); err != nil {
				t.Fatal(err)
			}
			n.Labels = labels
			if err := e.kube.Update(ctx, n); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				cur := &corev1.Namespace{}
				if err := e.cache.Get(ctx, types.NamespacedName{Name: "team-b"}, cur); err == nil && cur.ResourceVersion == n.ResourceVersion {
					return
				}
				if time.Now().After(deadline) {
					t.Fatal("the cache never served the relabelled namespace")
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		relabel(map[string]string{"tenant": "true"})
		if got, err := e.ledger.Reserve(ctx, policyOwner("team-b", "b2", "tenancy"), cidrSpace(t, "10.40.2.0/28", "10.40.2.1"), 1, nil); err != nil || len(got) != 1 {
			t.Fatalf("Reserve by the relabelled namespace = %v, %v; want 1 address", got, err)
		}
		relabel(nil)
		_, err := e.ledger.Reserve(ctx, policyOwner("team-b", "b3", "tenancy"), cidrSpace(t, "10.40.2.0/28", "10.40.2.1"), 1, nil)
		wantPolicy(t, err, v1alpha1.ReasonAddressSpaceNotAllowed)
	})
	t.Run("HoldOutsideTheAllowanceIsRefused", func(t *testing.T) {
		err := e.ledger.Hold(ctx, policyOwner("team-a", "a4", "tenancy"), addrs("10.40.1.15", "10.40.1.21"), incluster.RefuseOrphans)
		wantPolicy(t, err, v1alpha1.ReasonAddressSpaceNotAllowed)
		if got := e.held(t, "a4"); len(got) != 0 {
			t.Errorf("a refused set left %v held", got)
		}
		if err := e.ledger.Hold(ctx, policyOwner("team-a", "a4", "tenancy"), addrs("10.40.1.15", "10.40.1.20"), incluster.RefuseOrphans); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("MissingProviderConfigAllowsNothing", func(t *testing.T) {
		_, err := e.ledger.Reserve(ctx, policyOwner("team-a", "a5", "absent"), cidrSpace(t, "10.40.0.0/28", "10.40.0.1"), 1, nil)
		wantPolicy(t, err, v1alpha1.ReasonProviderConfigNotAllowed)
		if got := e.held(t, "a5"); len(got) != 0 {
			t.Errorf("a refused request left %v held", got)
		}
	})
	t.Run("AdoptionOnlyInTheNamespaceThatKeptThem", func(t *testing.T) {
		// Kept by a Reservation of team-a that is gone.
		e.hold(t, "team-a", "kept", "10.40.0.200")
		e.settled(t, cidrSpace(t, "10.40.0.192/26", "10.40.0.193"), 1)
		// team-b may draw 10.40.0.0/24 under this config, but not adopt
		// team-a's kept address.
		e.policy(t, "shared", v1alpha1.AddressAllowance{Addresses: []string{"10.40.0.0/24"}})
		err := e.ledger.Hold(ctx, policyOwner("team-b", "b2", "shared"), addrs("10.40.0.200"), incluster.AdoptOrphans)
		wantPolicy(t, err, v1alpha1.ReasonAdoptionNotAllowed)
		if al := e.allocation(t, "10.40.0.200"); al == nil || al.Spec.Owner.UID != "kept" {
			t.Fatalf("the kept address is now %+v, want still kept", al)
		}
		if err := e.ledger.Hold(ctx, policyOwner("team-a", "a6", "shared"), addrs("10.40.0.200"), incluster.AdoptOrphans); err != nil {
			t.Fatalf("adoption in the namespace that kept it: %v", err)
		}
	})
	t.Run("RefLessPoolOutsideTheAllowanceIsRefused", func(t *testing.T) {
		// Pools draw under default; this ledger's default allows the test
		// spaces to everyone, so narrow it for the test.
		e.policy(t, v1alpha1.DefaultProviderConfig, allowNS("team-a", nil, "10.41.0.0/24"))
		t.Cleanup(func() {
			e.policy(t, v1alpha1.DefaultProviderConfig, v1alpha1.AddressAllowance{Addresses: []string{"10.0.0.0/8"}})
		})
		req := func(ns string) incluster.LeaseRequest {
			return incluster.LeaseRequest{
				Namespace: ns, Pool: v1alpha1.LeaseHolder{Name: "p-" + ns, UID: "p-" + ns}, Claim: v1alpha1.LeaseHolder{Name: "c-" + ns, UID: "c-" + ns},
				Label: "IPPool p", Space: spaceOf(t, "10.41.0.10-10.41.0.20"), Draw: true,
			}
		}
		_, err := e.ledger.Lease(ctx, req("team-b"))
		wantPolicy(t, err, v1alpha1.ReasonAddressSpaceNotAllowed)
		if got := e.held(t, "p-team-b"); len(got) != 0 {
			t.Errorf("a refused lease left %v held", got)
		}
		// A requested address is no way around it.
		r := req("team-b")
		r.Want = addrs("10.41.0.11")[0]
		_, err = e.ledger.Lease(ctx, r)
		wantPolicy(t, err, v1alpha1.ReasonAddressSpaceNotAllowed)
		if a, err := e.ledger.Lease(ctx, req("team-a")); err != nil || a != addrs("10.41.0.10")[0] {
			t.Fatalf("Lease for team-a = %v, %v; want 10.41.0.10", a, err)
		}
	})
}

// TestQuotaUnderConcurrency races requests of one namespace for the last
// addresses of its quota: the QuotaUsage write fenced on its
// resourceVersion lets exactly as many through as the quota allows, and
// nothing is held for the others.
func TestQuotaUnderConcurrency(t *testing.T) {
	e := startLedger(t)
	ctx := context.Background()
	e.namespace(t, "team-q", nil)
	e.namespace(t, "team-r", nil)
	e.policy(t, "quota", allowNS("team-q", new(int64(5)), "10.42.0.0/24"), allowNS("team-r", new(int64(3)), "10.42.0.0/24"))

	// Eight Reservations of one address and two of three race for a
	// quota of five.
	type result struct {
		uid string
		n   int
		err error
	}
	var wg sync.WaitGroup
	results := make(chan result, 10)
	space := cidrSpace(t, "10.42.0.0/24", "10.42.0.1")
	owners := map[string]v1alpha1.AllocationOwner{}
	for i := range 10 {
		o := e.liveOwner(t, "team-q", fmt.Sprintf("q%d", i), "quota")
		owners[o.UID] = o
	}
	i := 0
	for _, o := range owners {
		n := 1
		if i >= 8 {
			n = 3
		}
		i++
		wg.Go(func() {
			_, err := e.ledger.Reserve(ctx, o, space, n, nil)
			results <- result{uid: o.UID, n: n, err: err}
		})
	}
	wg.Wait()
	close(results)
	granted := 0
	for r := range results {
		held := len(e.held(t, r.uid))
		if r.err != nil {
			wantPolicy(t, r.err, v1alpha1.ReasonQuotaExceeded)
			if held != 0 {
				t.Errorf("%s was refused but holds %d", r.uid, held)
			}
			continue
		}
		if held != r.n {
			t.Errorf("%s holds %d, want %d", r.uid, held, r.n)
		}
		granted += r.n
	}
	if granted > 5 {
		t.Fatalf("%d addresses granted under a quota of 5", granted)
	}
	usage := &v1alpha1.QuotaUsage{}
	if err := e.kube.Get(ctx, client.ObjectKey{Name: "quota.team-q"}, usage); err != nil {
		t.Fatal(err)
	}
	if usage.Spec.Total != int64(granted) {
		t.Errorf("QuotaUsage counts %d, %d were granted", usage.Spec.Total, granted)
	}

	// A holder that is gone stops counting once its Allocations are gone
	// (an orphaned Reservation's addresses once adopted, say): the next
	// request that would exceed the quota recounts it. One that is gone
	// but still holds addresses (kept) goes on counting them.
	after := e.liveOwner(t, "team-q", "q-after", "quota")
	for _, h := range usage.Spec.Holders {
		o := owners[h.UID]
		if err := e.kube.Delete(ctx, &v1alpha1.Reservation{ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: o.Name}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ledger.Reserve(ctx, after, space, 1, nil); err == nil {
		t.Fatal("a gone holder's kept addresses stopped counting")
	} else {
		wantPolicy(t, err, v1alpha1.ReasonQuotaExceeded)
	}
	for _, h := range usage.Spec.Holders {
		if err := e.ledger.Release(ctx, types.UID(h.UID), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ledger.Reserve(ctx, after, space, 5, nil); err != nil {
		t.Fatalf("Reserve after every holder released: %v", err)
	}

	// Pools drawing from the ledger count each lease: team-r's quota of
	// three (pools draw under default) admits three of six racing claims,
	// whatever their pools.
	e.policy(t, v1alpha1.DefaultProviderConfig, allowNS("team-r", new(int64(3)), "10.42.1.0/24"))
	type lease struct {
		claim string
		addr  netip.Addr
	}
	leases := make(chan lease, 6)
	pools := []v1alpha1.LeaseHolder{e.livePool(t, "team-r", "p0"), e.livePool(t, "team-r", "p1")}
	for i := range 6 {
		wg.Go(func() {
			claim := fmt.Sprintf("c%d", i)
			a, err := e.ledger.Lease(ctx, incluster.LeaseRequest{
				Namespace: "team-r", Pool: pools[i%2],
				Claim: v1alpha1.LeaseHolder{Name: claim, UID: claim},
				Label: "IPPool p", Space: spaceOf(t, "10.42.1.100-10.42.1.120"), Draw: true,
			})
			var p *incluster.PolicyError
			switch {
			case err == nil:
				leases <- lease{claim: claim, addr: a}
			case !errors.As(err, &p) || p.Reason != v1alpha1.ReasonQuotaExceeded:
				t.Errorf("Lease error %v, want QuotaExceeded", err)
			}
		})
	}
	wg.Wait()
	close(leases)
	var got []lease
	for l := range leases {
		got = append(got, l)
	}
	if len(got) != 3 {
		t.Fatalf("%d leases granted under a quota of 3, want 3", len(got))
	}
	// A lease that ends gives its address back to the quota.
	next := incluster.LeaseRequest{
		Namespace: "team-r", Pool: pools[0], Claim: v1alpha1.LeaseHolder{Name: "c9", UID: "c9"},
		Label: "IPPool p", Space: spaceOf(t, "10.42.1.100-10.42.1.120"), Draw: true,
	}
	_, err := e.ledger.Lease(ctx, next)
	wantPolicy(t, err, v1alpha1.ReasonQuotaExceeded)
	if err := e.ledger.Return(ctx, got[0].addr, types.UID(got[0].claim), false); err != nil {
		t.Fatal(err)
	}
	// The decrement reads the QuotaUsage from the cache first.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err = e.ledger.Lease(ctx, next); err == nil {
			break
		}
		wantPolicy(t, err, v1alpha1.ReasonQuotaExceeded)
		if time.Now().After(deadline) {
			t.Fatal("a lease that ended never gave its address back to the quota")
		}
		if err := e.ledger.Return(ctx, got[0].addr, types.UID(got[0].claim), false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestExamplePolicyAdmitsTheExamples: the ClusterProviderConfig of
// examples/incluster, which the demo applies first, lets team-a hold what
// every in-cluster Reservation of examples/ asks for, and refuses another
// namespace the same.
func TestExamplePolicyAdmitsTheExamples(t *testing.T) {
	e := startLedger(t)
	ctx := context.Background()
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	var policy *v1alpha1.ClusterProviderConfig
	var reservations []*v1alpha1.Reservation
	for _, dir := range []string{"incluster", "capi"} {
		objs, err := localplane.ReadObjects(filepath.Join(root, "examples", dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range objs {
			switch u.GetKind() {
			case v1alpha1.ClusterProviderConfigKind:
				policy = &v1alpha1.ClusterProviderConfig{}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, policy); err != nil {
					t.Fatal(err)
				}
			case v1alpha1.ReservationKind:
				r := &v1alpha1.Reservation{}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, r); err != nil {
					t.Fatal(err)
				}
				if len(r.Spec.ManagementPolicies) != 1 { // Observe-only ones draw nothing.
					reservations = append(reservations, r)
				}
			}
		}
	}
	if policy == nil || policy.Name != v1alpha1.DefaultProviderConfig || len(reservations) < 5 {
		t.Fatalf("examples/ have policy %v and %d Reservations, want the default policy and the Reservations", policy, len(reservations))
	}
	e.policy(t, v1alpha1.DefaultProviderConfig, policy.Spec.Allow...)
	e.namespace(t, "team-a", nil)
	e.namespace(t, "team-z", nil)
	for _, r := range reservations {
		space, err := addressing.ParseSpace(addressing.SpecOf(*r.Spec.ForProvider.Space))
		if err != nil {
			t.Fatal(err)
		}
		for _, ns := range []string{r.Namespace, "team-z"} {
			o := policyOwner(ns, ns+"-"+r.Name, "")
			p := r.Spec.ForProvider
			switch {
			case p.Address != "":
				err = e.ledger.Hold(ctx, o, addrs(p.Address), incluster.RefuseOrphans)
			case p.AllAddresses:
				var all []netip.Addr
				if all, err = space.Addrs(v1alpha1.MaxAddresses); err == nil {
					err = e.ledger.Hold(ctx, o, all, incluster.RefuseOrphans)
				}
			default:
				_, err = e.ledger.Reserve(ctx, o, space, 1, nil)
			}
			if ns == "team-z" {
				wantPolicy(t, err, v1alpha1.ReasonAddressSpaceNotAllowed)
			} else if err != nil {
				t.Errorf("example Reservation %s/%s: %v", r.Namespace, r.Name, err)
			}
		}
	}
}

// TestCheckPolicy: what admission cannot judge in a policy is found, with
// the field named, in any allowance, whichever namespaces it selects.
func TestCheckPolicy(t *testing.T) {
	in := func(op metav1.LabelSelectorOperator) metav1.LabelSelector {
		return metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: op, Values: []string{"a"}}}}
	}
	cases := map[string]struct {
		allow []v1alpha1.AddressAllowance
		err   string
	}{
		"NoAllowance":          {},
		"AddressesAndSelector": {allow: []v1alpha1.AddressAllowance{{NamespaceSelector: in(metav1.LabelSelectorOpIn), Addresses: []string{"10.30.0.0/24", "10.30.1.1", "10.30.2.10-10.30.2.20", "2001:db8:30::/64"}}}},
		"OneAddressRange":      {allow: []v1alpha1.AddressAllowance{{Addresses: []string{"10.30.2.10-10.30.2.10"}}}},
		"ReversedRange":        {allow: []v1alpha1.AddressAllowance{{Addresses: []string{"10.30.0.0/24"}}, {Addresses: []string{"10.30.1.0/24", "10.30.2.20-10.30.2.10"}}}, err: `allow[1].addresses[1] "10.30.2.20-10.30.2.10": range ends are reversed`},
		"MixedFamilyRange":     {allow: []v1alpha1.AddressAllowance{{Addresses: []string{"10.30.2.10-2001:db8:30::1"}}}, err: `allow[0].addresses[0] "10.30.2.10-2001:db8:30::1": range ends are of different families`},
		"UnknownOperator":      {allow: []v1alpha1.AddressAllowance{{NamespaceSelector: in("Resembles"), Addresses: []string{"10.30.0.0/24"}}}, err: `allow[0].namespaceSelector: "Resembles" is not a valid label selector operator`},
		"InWithoutValues": {allow: []v1alpha1.AddressAllowance{{NamespaceSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn}}},
			Addresses: []string{"10.30.0.0/24"}}}, err: "allow[0].namespaceSelector: "},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := incluster.CheckPolicy(&v1alpha1.ClusterProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1alpha1.ClusterProviderConfigSpec{Allow: tc.allow}})
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("got %v, want the policy valid", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("got %v, want an error saying %q", err, tc.err)
			}
		})
	}
}
