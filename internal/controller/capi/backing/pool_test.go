package backing

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"

	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
)

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

func TestGuards(t *testing.T) {
	g := NewGuards()
	const uid = types.UID("pool")
	// Claims share a pool's guard.
	u1, st := g.Shared(uid)
	u2, _ := g.Shared(uid)
	if st != (GuardState{}) {
		t.Errorf("a new guard says %+v", st)
	}
	// The pool controller waits for them.
	acquired := make(chan struct{})
	go func() {
		unlock, _, set := g.Exclusive(uid)
		set(GuardState{Released: true})
		unlock()
		close(acquired)
	}()
	select {
	case <-acquired:
		t.Fatal("exclusive guard taken while claims held it shared")
	case <-time.After(50 * time.Millisecond):
	}
	u1()
	u2()
	<-acquired
	unlock, st := g.Shared(uid)
	unlock()
	if !st.Released {
		t.Error("released not remembered")
	}
	// Another pool is not held up.
	unlockX, _, _ := g.Exclusive(uid)
	u, _ := g.Shared("other")
	u()
	unlockX()
	g.Forget(uid)
	unlock, st = g.Shared(uid)
	unlock()
	if st.Released {
		t.Error("a forgotten guard still says released")
	}
}

func TestProtectKey(t *testing.T) {
	p := &v1alpha1.IPPool{}
	p.UID = "u"
	a := ProtectKey(p)
	p.Spec.ReservationRefs = []v1alpha1.ReservationRef{{APIVersion: "incluster.ipam.provider-ipam.io/v1alpha1", Kind: "Reservation", Name: "r"}}
	b := ProtectKey(p)
	p.Spec.ReservationRefs[0].Name = "s"
	if c := ProtectKey(p); a == b || b == c {
		t.Errorf("keys %q %q %q: a change of references must change the key", a, b, c)
	}
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
			err := e.OrNil()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
