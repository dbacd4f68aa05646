package reservation_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// clusterProviderConfig creates an in-cluster ClusterProviderConfig for the
// test and deletes it afterwards.
func clusterProviderConfig(t *testing.T, name string, allow ...v1alpha1.AddressAllowance) {
	t.Helper()
	cpc := &v1alpha1.ClusterProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.ClusterProviderConfigSpec{Allow: allow}}
	if err := kube.Create(context.Background(), cpc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.Delete(context.Background(), cpc) })
}

func under(r *v1alpha1.Reservation, cfg string) *v1alpha1.Reservation {
	r.Spec.ProviderConfigReference = &xpv1.ProviderConfigReference{Kind: v1alpha1.ClusterProviderConfigKind, Name: cfg}
	return r
}

func onlyNamespace(ns string, quota *int64, addresses ...string) v1alpha1.AddressAllowance {
	return v1alpha1.AddressAllowance{
		NamespaceSelector:        metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
		Addresses:                addresses,
		MaxAddressesPerNamespace: quota,
	}
}

// waitRefused waits until ns/name reports Allowed=False with reason, and
// checks that it holds nothing.
func waitRefused(t *testing.T, ns, name, reason string, says ...string) {
	t.Helper()
	var c xpv1.Condition
	testenv.Eventually(t, time.Minute, fmt.Sprintf("%s/%s refused with %s", ns, name, reason), func(context.Context) (bool, error) {
		c = get(t, ns, name).GetCondition(v1alpha1.ConditionAllowed)
		return c.Status == corev1.ConditionFalse && string(c.Reason) == reason, nil
	})
	for _, s := range says {
		if !strings.Contains(c.Message, s) {
			t.Errorf("Allowed message %q does not say %q", c.Message, s)
		}
	}
	if r := get(t, ns, name); r.GetCondition(xpv1.TypeReady).Status == corev1.ConditionTrue || len(r.Status.AtProvider.Addresses) > 0 {
		t.Errorf("%s/%s was refused but reports %v held", ns, name, r.Status.AtProvider.Addresses)
	}
	for a, h := range allocations(t, ns) {
		if h == ns+"/"+name {
			t.Errorf("%s/%s was refused but the ledger says it holds %s", ns, name, a)
		}
	}
}

// TestPolicyGovernsReservations: a Reservation draws only what its
// ClusterProviderConfig allows its namespace, and says why not otherwise.
func TestPolicyGovernsReservations(t *testing.T) {
	startProvider(t)
	ctx := context.Background()
	a := namespace(t, "policy-a")
	b := namespace(t, "policy-b")
	clusterProviderConfig(t, "policy", onlyNamespace(a, nil, "10.60.0.0/24"))

	// Namespace b is selected by nothing; a may not draw 10.60.1.0/24.
	for _, r := range []*v1alpha1.Reservation{
		under(reservation(b, "outside", cidr("10.60.0.0/24")), "policy"),
		under(reservation(a, "outside", cidr("10.60.1.0/24")), "policy"),
		under(reservation(a, "absent", cidr("10.60.0.0/24")), "no-such-config"),
	} {
		if err := kube.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	waitRefused(t, b, "outside", v1alpha1.ReasonAddressSpaceNotAllowed, "10.60.0.0/24", `"policy-b"`, `"policy"`)
	waitRefused(t, a, "outside", v1alpha1.ReasonAddressSpaceNotAllowed, "10.60.1.0/24", `"policy-a"`)
	waitRefused(t, a, "absent", v1alpha1.ReasonProviderConfigNotAllowed, `"no-such-config"`)

	// Within the allowance it binds and says so.
	if err := kube.Create(ctx, under(reservation(a, "inside", cidr("10.60.0.0/24")), "policy")); err != nil {
		t.Fatal(err)
	}
	r := waitReady(t, a, "inside")
	if c := r.GetCondition(v1alpha1.ConditionAllowed); c.Status != corev1.ConditionTrue || c.Reason != v1alpha1.ReasonWithinPolicy {
		t.Errorf("Allowed condition %+v, want True/WithinPolicy", c)
	}

	// A tenant cannot name a namespaced ProviderConfig (its own), nor
	// move a Reservation to another policy.
	bad := reservation(a, "namespaced", cidr("10.60.0.0/24"))
	bad.Spec.ProviderConfigReference = &xpv1.ProviderConfigReference{Kind: "ProviderConfig", Name: "mine"}
	if err := kube.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), "must be ClusterProviderConfig") {
		t.Errorf("a Reservation naming a ProviderConfig: %v, want refused at admission", err)
	}
	orig := r.DeepCopy()
	r.Spec.ProviderConfigReference.Name = "no-such-config"
	if err := kube.Patch(ctx, r, client.MergeFrom(orig)); err == nil || !strings.Contains(err.Error(), "providerConfigRef is immutable") {
		t.Errorf("moving a Reservation to another ClusterProviderConfig: %v, want refused at admission", err)
	}
}

// TestAdoptionOnlyInTheKeepingNamespace: addresses kept by a Reservation
// of one namespace cannot be adopted from another, even one whose policy
// allows the address.
func TestAdoptionOnlyInTheKeepingNamespace(t *testing.T) {
	startProvider(t)
	ctx := context.Background()
	keeper := namespace(t, "adopt-keeper")
	thief := namespace(t, "adopt-thief")

	kept := reservation(keeper, "kept", cidr("10.61.0.0/24"))
	kept.Spec.ManagementPolicies = xpv1.ManagementPolicies{
		xpv1.ManagementActionObserve, xpv1.ManagementActionCreate, xpv1.ManagementActionUpdate, xpv1.ManagementActionLateInitialize,
	}
	if err := kube.Create(ctx, kept); err != nil {
		t.Fatal(err)
	}
	addr := meta.GetExternalName(waitReady(t, keeper, "kept"))
	if err := kube.Delete(ctx, kept); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the keeping Reservation gone", func(ctx context.Context) (bool, error) {
		err := kube.Get(ctx, client.ObjectKeyFromObject(kept), &v1alpha1.Reservation{})
		return client.IgnoreNotFound(err) == nil && err != nil, client.IgnoreNotFound(err)
	})

	steal := reservation(thief, "steal", cidr("10.61.0.0/24"))
	meta.SetExternalName(steal, addr)
	if err := kube.Create(ctx, steal); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, thief, "steal", v1alpha1.ReasonAdoptionNotAllowed, addr)
	if c := get(t, thief, "steal").GetCondition(v1alpha1.ConditionAllowed); strings.Contains(c.Message, keeper) {
		t.Errorf("the refusal names the keeping namespace: %q", c.Message)
	}
	if h := allocations(t, keeper)[addr]; h != keeper+"/kept" {
		t.Fatalf("%s held by %q, want still kept by %s/kept", addr, h, keeper)
	}

	adopt := reservation(keeper, "adopt", cidr("10.61.0.0/24"))
	meta.SetExternalName(adopt, addr)
	if err := kube.Create(ctx, adopt); err != nil {
		t.Fatal(err)
	}
	if got := meta.GetExternalName(waitReady(t, keeper, "adopt")); got != addr {
		t.Fatalf("adopter in the keeping namespace holds %q, want %s", got, addr)
	}
}

// TestQuotaRacingReservations: two Reservations of one namespace asking at
// once for more than the quota leaves room for: one binds, the other is
// refused with QuotaExceeded and holds nothing; deleting the first makes
// room for the second.
func TestQuotaRacingReservations(t *testing.T) {
	startProvider(t)
	ctx := context.Background()
	ns := namespace(t, "quota-race")
	clusterProviderConfig(t, "quota", onlyNamespace(ns, new(int64(4)), "10.62.0.0/24"))

	count := int32(3)
	rs := []*v1alpha1.Reservation{under(reservation(ns, "first", cidr("10.62.0.0/24")), "quota"), under(reservation(ns, "second", cidr("10.62.0.0/24")), "quota")}
	for _, r := range rs {
		r.Spec.ForProvider.Count = &count
	}
	for _, r := range rs {
		if err := kube.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var winner, loser string
	testenv.Eventually(t, time.Minute, "one bound and one refused", func(context.Context) (bool, error) {
		for i, r := range rs {
			cur := get(t, ns, r.Name)
			other := rs[1-i].Name
			if ready(cur) && get(t, ns, other).GetCondition(v1alpha1.ConditionAllowed).Reason == v1alpha1.ReasonQuotaExceeded {
				winner, loser = r.Name, other
				return true, nil
			}
		}
		return false, nil
	})
	waitRefused(t, ns, loser, v1alpha1.ReasonQuotaExceeded, `"quota-race"`, "may hold 4")
	if n := len(allocations(t, ns)); n != 3 {
		t.Fatalf("the namespace holds %d addresses, want 3 under a quota of 4", n)
	}

	if err := kube.Delete(ctx, get(t, ns, winner)); err != nil {
		t.Fatal(err)
	}
	// The refused one is retried with backoff and binds once the first's
	// addresses no longer count.
	testenv.Eventually(t, 3*time.Minute, loser+" bound once the first is gone", func(context.Context) (bool, error) {
		return ready(get(t, ns, loser)), nil
	})
	if n := len(allocations(t, ns)); n != 3 {
		t.Fatalf("the namespace holds %d addresses, want 3", n)
	}
}
