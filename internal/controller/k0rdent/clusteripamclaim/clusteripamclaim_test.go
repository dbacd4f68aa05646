package clusteripamclaim

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestComposedIPAM(t *testing.T) {
	cases := map[string]struct {
		refs []any
		want string
	}{
		"none yet": {nil, ""},
		"the ClusterIPAM": {[]any{
			map[string]any{"apiVersion": "incluster.ipam.provider-ipam.io/v1alpha1", "kind": "Reservation", "name": "x"},
			map[string]any{"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterIPAM", "name": "claim-a"},
		}, "claim-a"},
		"same kind, other group": {[]any{
			map[string]any{"apiVersion": "example.org/v1", "kind": "ClusterIPAM", "name": "other"},
		}, ""},
		"malformed entry": {[]any{"not a map"}, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
			if tc.refs != nil {
				_ = unstructured.SetNestedSlice(u.Object, tc.refs, "spec", "crossplane", "resourceRefs")
			}
			if got := ComposedIPAM(u); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
