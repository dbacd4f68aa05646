package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	ipamv1alpha1 "github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
)

// IPAddressClaims created as CAPV creates them for each machine get
// distinct addresses of the claim's pool, never the gateway; one more than
// the pool holds is refused with the numbers.
func TestMachinesGetDistinctAddressesFromTheClaim(t *testing.T) {
	ns := namespace(t, "e2e-capi")
	ctx := context.Background()
	claim := example(t, "clusteripamclaim-in-cluster-ipaddresses.yaml", ns)
	_ = unstructured.SetNestedStringSlice(claim.Object, []string{"10.23.0.10-10.23.0.12"}, "spec", "nodeNetwork", "ipAddresses")
	_ = unstructured.SetNestedField(claim.Object, "10.23.0.1", "spec", "nodeNetwork", "gateway")
	if err := plane.Kube.Create(ctx, claim); err != nil {
		t.Fatal(err)
	}
	cfg, _ := nodePool(t, waitBound(t, claim))["config"].(map[string]any)
	pool := fmt.Sprint(cfg["name"])

	for i := range 4 {
		c := &capiipamv1beta2.IPAddressClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("machine-%d-eth0", i)},
			Spec: capiipamv1beta2.IPAddressClaimSpec{PoolRef: capiipamv1beta2.IPPoolReference{
				APIGroup: fmt.Sprint(cfg["apiGroup"]), Kind: fmt.Sprint(cfg["kind"]), Name: pool,
			}},
		}
		if err := plane.Kube.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	var got []capiipamv1beta2.IPAddress
	eventually(t, 2*time.Minute, "three IPAddresses and one exhausted claim", func(ctx context.Context) (bool, error) {
		l := &capiipamv1beta2.IPAddressList{}
		if err := plane.Kube.List(ctx, l, client.InNamespace(ns)); err != nil {
			return false, err
		}
		claims := &capiipamv1beta2.IPAddressClaimList{}
		if err := plane.Kube.List(ctx, claims, client.InNamespace(ns)); err != nil {
			return false, err
		}
		exhausted := 0
		for _, c := range claims.Items {
			for _, cond := range c.Status.Conditions {
				if cond.Type == "Ready" && cond.Status == metav1.ConditionFalse && strings.Contains(cond.Message, "3 usable") {
					exhausted++
				}
			}
		}
		got = l.Items
		return len(l.Items) == 3 && exhausted == 1, nil
	})
	seen := map[string]bool{}
	for _, a := range got {
		ip, err := netip.ParseAddr(a.Spec.Address)
		if err != nil || seen[a.Spec.Address] || a.Spec.Address == "10.23.0.1" ||
			ip.Less(netip.MustParseAddr("10.23.0.10")) || netip.MustParseAddr("10.23.0.12").Less(ip) {
			t.Fatalf("IPAddress %s = %q: want distinct addresses of 10.23.0.10-10.23.0.12", a.Name, a.Spec.Address)
		}
		seen[a.Spec.Address] = true
		if a.Spec.Gateway != "10.23.0.1" || a.Spec.Prefix == nil || *a.Spec.Prefix != 24 {
			t.Errorf("IPAddress %s: gateway %q prefix %v, want 10.23.0.1/24", a.Name, a.Spec.Gateway, a.Spec.Prefix)
		}
	}

	// What the provider's /metrics says matches `kubectl get ippools` and
	// what happened: three allocations, one refusal, three addresses held.
	p := &ipamv1alpha1.IPPool{}
	if err := plane.Kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: pool}, p); err != nil {
		t.Fatal(err)
	}
	if p.Status.Total != 3 || p.Status.Used != 3 || p.Status.Free != 0 {
		t.Fatalf("IPPool status total %d used %d free %d, want 3/3/0", p.Status.Total, p.Status.Used, p.Status.Free)
	}
	for state, want := range map[string]int64{"total": p.Status.Total, "used": p.Status.Used, "free": p.Status.Free} {
		waitMetric(t, "provider_ipam_pool_addresses", map[string]string{"namespace": ns, "pool": pool, "state": state}, float64(want), true)
	}
	waitMetric(t, "provider_ipam_reservation_held_addresses", map[string]string{"backend": "in-cluster", "namespace": ns, "name": pool}, 3, true)
	waitMetric(t, "provider_ipam_allocation_seconds", map[string]string{"backing": "reservations"}, 3, false)
	waitMetric(t, "provider_ipam_refusals_total", map[string]string{"backend": "capi", "reason": capiipamv1beta2.IPAddressClaimReadyPoolExhaustedReason}, 1, false)
	waitMetric(t, "crossplane_managed_resource_exists", map[string]string{"gvk": inclusterv1alpha1.ReservationGroupVersionKind.String()}, 1, false)
	eventually(t, time.Minute, "an Allocated event on the pool", func(ctx context.Context) (bool, error) {
		evs := &corev1.EventList{}
		if err := plane.Kube.List(ctx, evs, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == "IPPool" && e.InvolvedObject.Name == pool && e.Reason == "Allocated" {
				return true, nil
			}
		}
		return false, nil
	})

	// A pool that is gone has no series left.
	if err := plane.Kube.DeleteAllOf(ctx, &capiipamv1beta2.IPAddressClaim{}, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if err := plane.Kube.Delete(ctx, claim); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "the pool's series removed with it", func(ctx context.Context) (bool, error) {
		fams, err := scrape(ctx)
		if err != nil {
			return false, err
		}
		_, found := value(fams, "provider_ipam_pool_addresses", map[string]string{"namespace": ns, "pool": pool})
		return !found, nil
	})
}

func TestInfobloxClaimBinds(t *testing.T) {
	ns := namespace(t, "e2e-infoblox")
	ctx := context.Background()
	claim := example(t, "clusteripamclaim-infoblox.yaml", ns)
	if err := plane.Kube.Create(ctx, claim); err != nil {
		t.Fatal(err)
	}
	ipam := waitBound(t, claim)
	addrs, _ := nodePool(t, ipam)["addresses"].([]any)
	fixed := fixedAddressesIn("10.12.0.0/24", ns)
	if len(addrs) == 0 || len(fixed) != len(addrs) {
		t.Fatalf("pool lists %v, the grid holds %v: want one fixed address per pool address", addrs, fixed)
	}
	for _, a := range addrs {
		if _, ok := fixed[fmt.Sprint(a)]; !ok {
			t.Errorf("%v is in the pool but not fixed in the grid (%v)", a, fixed)
		}
		if a == "10.12.0.1" {
			t.Errorf("the gateway was handed out")
		}
	}

	if err := plane.Kube.Delete(ctx, claim); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, "fixed addresses released in the grid", func(ctx context.Context) (bool, error) {
		_, err := get(ctx, claim)
		return kerrors.IsNotFound(err) && len(fixedAddressesIn("10.12.0.0/24", ns)) == 0, nil
	})
}

// fixedAddressesIn maps the grid's fixed addresses in network ("": any)
// made for Reservations of namespace ns to that owner extensible
// attribute ("<namespace>/<claim>").
func fixedAddressesIn(network, ns string) map[string]string {
	out := map[string]string{}
	for _, fa := range plane.WAPI.FixedAddresses() {
		if network != "" && fa.Network != network {
			continue
		}
		for k, v := range fa.ExtAttrs {
			if owner := fmt.Sprint(v); strings.HasSuffix(k, "owner") && strings.HasPrefix(owner, ns+"/") {
				out[fa.IPAddress] = owner
			}
		}
	}
	return out
}
