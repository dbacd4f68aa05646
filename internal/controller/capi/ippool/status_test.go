package ippool

import (
	"errors"
	"math"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"

	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/controller/capi/backing"
)

func TestSetStatus(t *testing.T) {
	now := metav1.Now()
	addrs := func(as ...string) []capiipamv1beta2.IPAddress {
		var out []capiipamv1beta2.IPAddress
		for _, a := range as {
			out = append(out, capiipamv1beta2.IPAddress{Spec: capiipamv1beta2.IPAddressSpec{Address: a}})
		}
		return out
	}
	cases := map[string]struct {
		spec              v1alpha1.IPPoolSpec
		deleting          bool
		addrs             []capiipamv1beta2.IPAddress
		problem           error
		total, used, free int64
		inUse             []string
		ready             metav1.ConditionStatus
		reason            string
	}{
		"Empty": {
			spec:  v1alpha1.IPPoolSpec{Addresses: []string{"192.0.2.1-192.0.2.6"}, Gateway: "192.0.2.1", Prefix: 24},
			total: 5, free: 5, ready: metav1.ConditionTrue, reason: v1alpha1.ReasonReady,
		},
		"SomeUsed": {
			spec:  v1alpha1.IPPoolSpec{Addresses: []string{"192.0.2.0/29"}, Gateway: "192.0.2.1", Prefix: 24},
			addrs: addrs("192.0.2.3", "192.0.2.2", "192.0.2.5"),
			total: 6, used: 3, free: 3, inUse: []string{"192.0.2.2-192.0.2.3", "192.0.2.5"}, ready: metav1.ConditionTrue, reason: v1alpha1.ReasonReady,
		},
		"UsedOutsideAfterShrink": {
			spec:  v1alpha1.IPPoolSpec{Addresses: []string{"192.0.2.2"}, Prefix: 24},
			addrs: addrs("192.0.2.2", "192.0.2.9"),
			total: 1, used: 2, free: 0, inUse: []string{"192.0.2.2", "192.0.2.9"}, ready: metav1.ConditionTrue, reason: v1alpha1.ReasonReady,
		},
		"HugeIPv6": {
			spec:  v1alpha1.IPPoolSpec{Addresses: []string{"2001:db8::/32"}, Prefix: 32},
			total: math.MaxInt64, free: math.MaxInt64, ready: metav1.ConditionTrue, reason: v1alpha1.ReasonReady,
		},
		"Invalid": {
			spec:  v1alpha1.IPPoolSpec{Addresses: []string{"192.0.2.10"}, Gateway: "198.51.100.1", Prefix: 24},
			ready: metav1.ConditionFalse, reason: v1alpha1.ReasonInvalidSpec,
		},
		"Deleting": {
			spec:     v1alpha1.IPPoolSpec{Addresses: []string{"192.0.2.10-192.0.2.11"}, Prefix: 24},
			deleting: true, addrs: addrs("192.0.2.10"),
			total: 2, used: 1, free: 1, inUse: []string{"192.0.2.10"}, ready: metav1.ConditionFalse, reason: v1alpha1.ReasonDeleting,
		},
		"FinalizerError": {
			spec:    v1alpha1.IPPoolSpec{Addresses: []string{"192.0.2.10"}, Prefix: 24},
			addrs:   addrs("192.0.2.10"),
			problem: errors.New("cannot update the finalizers of Reservation ns/r: forbidden"),
			total:   1, used: 1, inUse: []string{"192.0.2.10"}, ready: metav1.ConditionFalse, reason: v1alpha1.ReasonFinalizerError,
		},
		"ReservationUnavailable": {
			spec:    v1alpha1.IPPoolSpec{Addresses: []string{"192.0.2.10"}, Prefix: 24},
			problem: &backing.UnavailableError{Missing: []v1alpha1.ReservationRef{{Kind: "Reservation", Name: "r"}}},
			total:   1, free: 1, ready: metav1.ConditionFalse, reason: v1alpha1.ReasonReservationUnavailable,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := &v1alpha1.IPPool{Spec: tc.spec}
			if tc.deleting {
				p.DeletionTimestamp = &now
			}
			setStatus(p, tc.addrs, nil, tc.problem)
			s := p.Status
			if s.Total != tc.total || s.Used != tc.used || s.Free != tc.free {
				t.Errorf("total/used/free = %d/%d/%d, want %d/%d/%d", s.Total, s.Used, s.Free, tc.total, tc.used, tc.free)
			}
			if !slices.Equal(s.InUse, tc.inUse) {
				t.Errorf("inUse = %v, want %v", s.InUse, tc.inUse)
			}
			c := meta.FindStatusCondition(s.Conditions, v1alpha1.ConditionReady)
			if c == nil || c.Status != tc.ready || c.Reason != tc.reason {
				t.Errorf("Ready = %+v, want %s %s", c, tc.ready, tc.reason)
			}
		})
	}
}

func TestIsMissingOrNil(t *testing.T) {
	cases := map[string]struct {
		err  error
		want bool
	}{
		"Nil":     {nil, true},
		"Missing": {&backing.UnavailableError{}, true},
		"Other":   {errors.New("boom"), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := isUnavailableOrNil(tc.err); got != tc.want {
				t.Errorf("isUnavailableOrNil(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
