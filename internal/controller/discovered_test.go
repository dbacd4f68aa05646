package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// lateMapper maps its kind only after the first misses calls, as the
// API server's discovery lists a CRD a moment after it is Established.
type lateMapper struct {
	meta.RESTMapper
	misses int
	err    error
}

func (m *lateMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	if m.err != nil {
		return nil, m.err
	}
	if m.misses > 0 {
		m.misses--
		return nil, &meta.NoKindMatchError{GroupKind: gk, SearchedVersions: versions}
	}
	return m.RESTMapper.RESTMapping(gk, versions...)
}

func TestDiscovered(t *testing.T) {
	gvk := schema.GroupVersionKind{Group: "incluster.ipam.provider-ipam.io", Version: "v1alpha1", Kind: "Allocation"}
	known := meta.NewDefaultRESTMapper(nil)
	known.Add(gvk, meta.RESTScopeRoot)
	broken := errors.New("connection refused")
	cases := map[string]struct {
		mapper  *lateMapper
		timeout time.Duration
		want    func(error) bool
	}{
		"ListedAtOnce": {mapper: &lateMapper{RESTMapper: known}, timeout: time.Second, want: func(err error) bool { return err == nil }},
		"ListedAfterAMoment": {mapper: &lateMapper{RESTMapper: known, misses: 3}, timeout: 5 * time.Second,
			want: func(err error) bool { return err == nil }},
		"NeverListed": {mapper: &lateMapper{RESTMapper: known, misses: 1 << 20}, timeout: 300 * time.Millisecond,
			want: func(err error) bool { return err != nil }},
		"DiscoveryFails": {mapper: &lateMapper{RESTMapper: known, err: broken}, timeout: 5 * time.Second,
			want: func(err error) bool { return errors.Is(err, broken) }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			if err := discovered(ctx, tc.mapper, []schema.GroupVersionKind{gvk}); !tc.want(err) {
				t.Errorf("discovered(...): unexpected error %v", err)
			}
		})
	}
}
