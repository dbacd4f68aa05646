package pool

import (
	"net/netip"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"

	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
)

func TestAddressName(t *testing.T) {
	long := ""
	for range 200 {
		long += "p"
	}
	cases := map[string]struct {
		pool, addr, want string
	}{
		"IPv4":      {"nodes", "192.0.2.10", "nodes.192.0.2.10"},
		"IPv6":      {"v6", "2001:db8::2", "v6.2001-0db8-0000-0000-0000-0000-0000-0002"},
		"IPv6Zeros": {"v6", "::", "v6.0000-0000-0000-0000-0000-0000-0000-0000"},
		"Longest":   {long, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", long + ".2001-0db8-ffff-ffff-ffff-ffff-ffff-ffff"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := AddressName(tc.pool, netip.MustParseAddr(tc.addr))
			if got != tc.want {
				t.Errorf("AddressName(%q, %s) = %q, want %q", tc.pool, tc.addr, got, tc.want)
			}
			if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
				t.Errorf("%q is not a valid object name: %v", got, errs)
			}
		})
	}
}

func TestOurs(t *testing.T) {
	cases := map[string]struct {
		ref  capiipamv1beta2.IPPoolReference
		want bool
	}{
		"Ours":       {capiipamv1beta2.IPPoolReference{APIGroup: v1alpha1.Group, Kind: "IPPool", Name: "p"}, true},
		"OtherGroup": {capiipamv1beta2.IPPoolReference{APIGroup: "ipam.cluster.x-k8s.io", Kind: "InClusterIPPool", Name: "p"}, false},
		"OtherKind":  {capiipamv1beta2.IPPoolReference{APIGroup: v1alpha1.Group, Kind: "GlobalIPPool", Name: "p"}, false},
		"NoName":     {capiipamv1beta2.IPPoolReference{APIGroup: v1alpha1.Group, Kind: "IPPool"}, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Ours(tc.ref); got != tc.want {
				t.Errorf("Ours(%+v) = %v, want %v", tc.ref, got, tc.want)
			}
		})
	}
}

func TestDropped(t *testing.T) {
	ref := func(n string) v1alpha1.ReservationRef {
		return v1alpha1.ReservationRef{APIVersion: "incluster.ipam.provider-ipam.io/v1alpha1", Kind: "Reservation", Name: n}
	}
	cases := map[string]struct {
		spec, protected []v1alpha1.ReservationRef
		want            int
	}{
		"Same":      {[]v1alpha1.ReservationRef{ref("a")}, []v1alpha1.ReservationRef{ref("a")}, 0},
		"Dropped":   {[]v1alpha1.ReservationRef{ref("a")}, []v1alpha1.ReservationRef{ref("a"), ref("b")}, 1},
		"AllGone":   {nil, []v1alpha1.ReservationRef{ref("a"), ref("b")}, 2},
		"OnlyAdded": {[]v1alpha1.ReservationRef{ref("a"), ref("b")}, nil, 0},
		"KindDiff":  {[]v1alpha1.ReservationRef{ref("a")}, []v1alpha1.ReservationRef{{APIVersion: "infoblox.ipam.provider-ipam.io/v1alpha1", Kind: "Reservation", Name: "a"}}, 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := &v1alpha1.IPPool{Spec: v1alpha1.IPPoolSpec{ReservationRefs: tc.spec}}
			if got := Dropped(p, tc.protected); len(got) != tc.want {
				t.Errorf("Dropped = %v, want %d", got, tc.want)
			}
		})
	}
}

func TestLocks(t *testing.T) {
	l := NewLocks()
	k := types.NamespacedName{Namespace: "ns", Name: "p"}
	var (
		wg      sync.WaitGroup
		inside  int
		maxSeen int
		mu      sync.Mutex
	)
	for range 20 {
		wg.Go(func() {
			unlock := l.Lock(k)
			defer unlock()
			mu.Lock()
			inside++
			maxSeen = max(maxSeen, inside)
			mu.Unlock()
			mu.Lock()
			inside--
			mu.Unlock()
		})
	}
	wg.Wait()
	if maxSeen != 1 {
		t.Errorf("%d holders of one pool's lock at once", maxSeen)
	}
	// Another pool is not blocked by a held lock.
	unlock := l.Lock(k)
	defer unlock()
	l.Lock(types.NamespacedName{Namespace: "ns", Name: "other"})()
}

func TestUnavailableError(t *testing.T) {
	ref := func(n string) v1alpha1.ReservationRef { return v1alpha1.ReservationRef{Kind: "Reservation", Name: n} }
	cases := map[string]struct {
		states map[string]state
		want   string // "" for no error
	}{
		"AllPresent": {map[string]state{"a": present}, ""},
		"Missing":    {map[string]state{"a": absent}, "reservations unavailable: Reservation a not found"},
		"Leaving":    {map[string]state{"a": leaving}, "reservations unavailable: Reservation a is being deleted"},
		"Both":       {map[string]state{"a": absent, "b": leaving, "c": present}, "reservations unavailable: Reservation a not found, Reservation b is being deleted"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := &UnavailableError{}
			for _, n := range []string{"a", "b", "c"} {
				if st, ok := tc.states[n]; ok {
					e.add(ref(n), st)
				}
			}
			err := e.orNil()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
