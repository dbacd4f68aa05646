package ipaddressclaim

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
)

func TestPick(t *testing.T) {
	addr := func(n string) capiipamv1beta2.IPAddress {
		return capiipamv1beta2.IPAddress{ObjectMeta: metav1.ObjectMeta{Name: n}}
	}
	cases := map[string]struct {
		addrs     []string
		recorded  string
		keep      string
		extraSize int
	}{
		"One":              {[]string{"p.192.0.2.3"}, "", "p.192.0.2.3", 0},
		"RecordedWins":     {[]string{"p.192.0.2.2", "p.192.0.2.3"}, "p.192.0.2.3", "p.192.0.2.3", 1},
		"FirstByName":      {[]string{"p.192.0.2.3", "p.192.0.2.2"}, "", "p.192.0.2.2", 1},
		"RecordedElsewise": {[]string{"p.192.0.2.3", "p.192.0.2.2"}, "p.192.0.2.9", "p.192.0.2.2", 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var in []capiipamv1beta2.IPAddress
			for _, n := range tc.addrs {
				in = append(in, addr(n))
			}
			keep, extra := pick(in, tc.recorded)
			if keep.Name != tc.keep || len(extra) != tc.extraSize {
				t.Errorf("pick = %s + %d extra, want %s + %d", keep.Name, len(extra), tc.keep, tc.extraSize)
			}
			for _, e := range extra {
				if e.Name == keep.Name {
					t.Errorf("kept %s is also an extra", keep.Name)
				}
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
