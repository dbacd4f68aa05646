package function

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/google/go-cmp/cmp"

	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
)

// asJSON normalises a value the way structpb sees it.
func asJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return v
}

func TestClaim(t *testing.T) {
	child := func(phase, msg string) string {
		return fmt.Sprintf(`{"apiVersion":"k0rdent.mirantis.com/v1beta1","kind":"ClusterIPAM","metadata":{"name":%q,"namespace":%q},
			"status":{"phase":%q,"conditions":[{"type":"Bound","status":"False","reason":"AddressesExhausted","message":%q}]}}`, xrName, xrNS, phase, msg)
	}
	cases := map[string]struct {
		req         input
		wantLabel   string
		wantBound   bool
		wantReady   fnv1.Ready
		wantReason  string
		wantMessage string
	}{
		"InClusterNewClaim": {
			req:         input{xr: claimXR(k0rdentv1beta1.ProviderInCluster, `,"clusterNetwork":{"cidr":"10.0.1.0/30"}`)},
			wantLabel:   k0rdentv1beta1.ProviderInCluster,
			wantReady:   fnv1.Ready_READY_FALSE,
			wantReason:  ReasonPending,
			wantMessage: "waiting for ClusterIPAM team-a/team-a-cluster to be bound (its Bound condition says what it waits for)",
		},
		"InfobloxNewClaim": {
			req:        input{xr: claimXR(k0rdentv1beta1.ProviderInfoblox, "")},
			wantLabel:  k0rdentv1beta1.ProviderInfoblox,
			wantReady:  fnv1.Ready_READY_FALSE,
			wantReason: ReasonPending,
		},
		"PendingChildProgressIsNotCopied": {
			req: input{xr: claimXR(k0rdentv1beta1.ProviderInCluster, ""), observed: map[string]string{"clusteripam": child(PhasePending,
				"waiting for IPPool team-a/team-a-cluster-node to be ready")}},
			wantLabel:   k0rdentv1beta1.ProviderInCluster,
			wantReady:   fnv1.Ready_READY_FALSE,
			wantReason:  ReasonPending,
			wantMessage: "waiting for ClusterIPAM team-a/team-a-cluster to be bound (its Bound condition says what it waits for)",
		},
		"BoundChildBindsClaim": {
			req:         input{xr: claimXR(k0rdentv1beta1.ProviderInCluster, ""), observed: map[string]string{"clusteripam": child(PhaseBound, "")}},
			wantLabel:   k0rdentv1beta1.ProviderInCluster,
			wantBound:   true,
			wantReady:   fnv1.Ready_READY_TRUE,
			wantReason:  ReasonBound,
			wantMessage: "ClusterIPAM team-a/team-a-cluster is bound",
		},
		"FailedChildExplains": {
			req: input{xr: claimXR(k0rdentv1beta1.ProviderInCluster, ""), observed: map[string]string{"clusteripam": child(PhaseFailed,
				"not enough free addresses in 10.0.0.0/24: 5 requested, 253 usable, 251 already held, 2 free")}},
			wantLabel:   k0rdentv1beta1.ProviderInCluster,
			wantReady:   fnv1.Ready_READY_FALSE,
			wantReason:  ReasonClusterIPAMFailed,
			wantMessage: "ClusterIPAM team-a/team-a-cluster failed: not enough free addresses in 10.0.0.0/24: 5 requested, 253 usable, 251 already held, 2 free",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := run(t, tc.req)
			if f := g.fatal(); f != "" {
				t.Fatalf("fatal result: %s", f)
			}
			if diff := cmp.Diff([]string{"clusteripam"}, g.names()); diff != "" {
				t.Fatalf("composed (-want +got):\n%s", diff)
			}
			if got := g.field(t, "clusteripam", "metadata.name"); got != xrName {
				t.Errorf("name = %v, want %s", got, xrName)
			}
			if got := g.field(t, "clusteripam", "spec.crossplane.compositionSelector.matchLabels"); !cmp.Equal(got, map[string]any{ProviderLabel: tc.wantLabel}) {
				t.Errorf("compositionSelector = %v, want %s=%s", got, ProviderLabel, tc.wantLabel)
			}
			for path, want := range map[string]any{
				"spec.provider":             tc.wantLabel,
				"spec.clusterIPAMClaimRefs": xrName,
				"spec.cluster":              "c1",
				"spec.nodeNetwork":          asJSON(t, `{"cidr":"10.0.0.0/24","gateway":"10.0.0.1","prefix":24}`),
			} {
				if got := g.field(t, "clusteripam", path); !cmp.Equal(got, want) {
					t.Errorf("%s = %v, want %v", path, got, want)
				}
			}
			if g.ready["clusteripam"] != tc.wantReady {
				t.Errorf("ready = %v, want %v", g.ready["clusteripam"], tc.wantReady)
			}
			if g.status["bound"] != tc.wantBound {
				t.Errorf("status.bound = %v, want %v", g.status["bound"], tc.wantBound)
			}
			c := g.bound(t)
			if c.GetReason() != tc.wantReason {
				t.Errorf("reason = %s, want %s", c.GetReason(), tc.wantReason)
			}
			if tc.wantMessage != "" && c.GetMessage() != tc.wantMessage {
				t.Errorf("message = %q, want %q", c.GetMessage(), tc.wantMessage)
			}
		})
	}
	t.Run("ClusterNetworkCopied", func(t *testing.T) {
		g := run(t, input{xr: claimXR(k0rdentv1beta1.ProviderInCluster, `,"clusterNetwork":{"cidr":"10.0.1.0/30"}`)})
		if got := g.field(t, "clusteripam", "spec.clusterNetwork.cidr"); got != "10.0.1.0/30" {
			t.Errorf("clusterNetwork.cidr = %v", got)
		}
	})
	t.Run("NoProviderIsFatal", func(t *testing.T) {
		g := run(t, input{xr: strings.Replace(claimXR("", ""), `"provider":"",`, "", 1)})
		if f := g.fatal(); !strings.Contains(f, "spec.provider is required") {
			t.Errorf("fatal = %q, want spec.provider is required", f)
		}
	})
}
