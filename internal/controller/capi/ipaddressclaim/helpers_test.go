package ipaddressclaim

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/provider-ipam/provider-ipam/internal/addressing"
)

func TestWaiters(t *testing.T) {
	space := func(cidr string) addressing.Space {
		s, err := addressing.ParseSpace(addressing.SpaceSpec{CIDR: cidr})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	key := func(n string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: n} }
	cases := map[string]struct {
		wait  map[string]string // claim -> pool
		wake  func(w *waiters)
		woken []string
	}{
		"AddressInThePool": {
			wait:  map[string]string{"a": "p", "b": "q"},
			wake:  func(w *waiters) { w.wakeFor(netip.MustParseAddr("192.0.2.5")) },
			woken: []string{"a"},
		},
		"AddressElsewhere": {
			wait:  map[string]string{"a": "p"},
			wake:  func(w *waiters) { w.wakeFor(netip.MustParseAddr("203.0.113.5")) },
			woken: nil,
		},
		"PoolChanged": {
			wait:  map[string]string{"a": "p", "b": "p", "c": "q"},
			wake:  func(w *waiters) { w.wake(key("p")) },
			woken: []string{"a", "b"},
		},
		"Dropped": {
			wait:  map[string]string{"a": "p", "b": "p"},
			wake:  func(w *waiters) { w.drop(key("a")); w.wake(key("p")) },
			woken: []string{"b"},
		},
	}
	spaces := map[string]addressing.Space{"p": space("192.0.2.0/24"), "q": space("198.51.100.0/24")}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := newWaiters()
			for c, p := range tc.wait {
				w.add(key(p), key(c), spaces[p])
			}
			tc.wake(w)
			var got []string
			for range tc.woken {
				select {
				case e := <-w.events:
					got = append(got, e.Object.GetName())
				case <-time.After(5 * time.Second):
					t.Fatalf("woken %v, want %v", got, tc.woken)
				}
			}
			select {
			case e := <-w.events:
				t.Errorf("%s woken too", e.Object.GetName())
			case <-time.After(50 * time.Millisecond):
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.woken) {
				t.Errorf("woken %v, want %v", got, tc.woken)
			}
		})
	}
}

func TestClusterName(t *testing.T) {
	cases := map[string]struct {
		spec   string
		labels map[string]string
		want   string
	}{
		"None":      {"", nil, ""},
		"Spec":      {"c1", nil, "c1"},
		"Label":     {"", map[string]string{"cluster.x-k8s.io/cluster-name": "c2"}, "c2"},
		"SpecFirst": {"c1", map[string]string{"cluster.x-k8s.io/cluster-name": "c2"}, "c1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := &capiipamv1beta2.IPAddressClaim{ObjectMeta: metav1.ObjectMeta{Labels: tc.labels}, Spec: capiipamv1beta2.IPAddressClaimSpec{ClusterName: tc.spec}}
			if got := clusterName(c); got != tc.want {
				t.Errorf("clusterName = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSetReadyRecordsAnAddressOnce: a reconcile that still reads the claim
// as it was before its address was recorded (the IPAddress's watch event
// can beat the claim's) writes nothing; a newer copy without the address
// (someone cleared the status) gets it recorded again.
func TestSetReadyRecordsAnAddressOnce(t *testing.T) {
	s := runtime.NewScheme()
	if err := capiipamv1beta2.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	claim := &capiipamv1beta2.IPAddressClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: "uid-c"}}
	patches := 0
	kube := fake.NewClientBuilder().WithScheme(s).WithObjects(claim).WithStatusSubresource(claim).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			patches++
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		}}).Build()
	r := &Reconciler{kube: kube}
	ctx := context.Background()
	stale := &capiipamv1beta2.IPAddressClaim{}
	if err := kube.Get(ctx, client.ObjectKeyFromObject(claim), stale); err != nil {
		t.Fatal(err)
	}
	addr := &capiipamv1beta2.IPAddress{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}}
	for range 2 {
		if err := r.setReady(ctx, stale.DeepCopy(), addr, "Ready", ""); err != nil {
			t.Fatal(err)
		}
	}
	if patches != 1 {
		t.Fatalf("recording one address over the same copy patched %d times, want 1", patches)
	}
	cleared := &capiipamv1beta2.IPAddressClaim{}
	if err := kube.Get(ctx, client.ObjectKeyFromObject(claim), cleared); err != nil {
		t.Fatal(err)
	}
	cleared.Status = capiipamv1beta2.IPAddressClaimStatus{}
	if err := kube.Status().Update(ctx, cleared); err != nil {
		t.Fatal(err)
	}
	if err := r.setReady(ctx, cleared, addr, "Ready", ""); err != nil {
		t.Fatal(err)
	}
	got := &capiipamv1beta2.IPAddressClaim{}
	if err := kube.Get(ctx, client.ObjectKeyFromObject(claim), got); err != nil {
		t.Fatal(err)
	}
	if got.Status.AddressRef.Name != "c" {
		t.Errorf("after the status was cleared, addressRef = %q, want c", got.Status.AddressRef.Name)
	}
}
