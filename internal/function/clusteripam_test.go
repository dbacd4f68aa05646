package function

import (
	"fmt"
	"strings"
	"testing"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/google/go-cmp/cmp"

	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
)

func TestClusterIPAMInCluster(t *testing.T) {
	nodeName := xrName + "-node"
	cases := map[string]struct {
		req          input
		wantNames    []string
		wantFP       string // node Reservation's forProvider, JSON
		wantRequired bool
		wantPhase    string
		wantReason   string
		wantMessage  string // substring
	}{
		"CIDRWithoutClusterHoldsWholeSpace": {
			req:         input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode)},
			wantNames:   []string{"node"},
			wantFP:      `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"allAddresses":true}`,
			wantPhase:   PhasePending,
			wantReason:  ReasonPending,
			wantMessage: "waiting for Reservation team-a/team-a-cluster-node to be ready",
		},
		"ClusterDeploymentNotFetchedYet": {
			req:          input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode+withC1)},
			wantNames:    nil,
			wantRequired: true,
			wantPhase:    PhasePending,
			wantReason:   ReasonPending,
		},
		"ClusterDeploymentGivesCount": {
			req: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode+withC1),
				required: map[string][]string{requiredClusterDeployment: {clusterDeployment(`"controlPlaneNumber":3,"workersNumber":2`)}}},
			wantNames:    []string{"node"},
			wantFP:       `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"count":5}`,
			wantRequired: true,
			wantPhase:    PhasePending,
			wantReason:   ReasonPending,
		},
		"ClusterDeploymentDefaults": {
			req: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode+withC1),
				required: map[string][]string{requiredClusterDeployment: {clusterDeployment(``)}}},
			wantNames:    []string{"node"},
			wantFP:       `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"count":2}`,
			wantRequired: true,
			wantPhase:    PhasePending,
			wantReason:   ReasonPending,
		},
		"ClusterDeploymentMissing": {
			req: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode+withC1),
				required: map[string][]string{requiredClusterDeployment: {}}},
			wantNames:    []string{"node"},
			wantFP:       `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"allAddresses":true}`,
			wantRequired: true,
			wantPhase:    PhasePending,
			wantReason:   ReasonPending,
		},
		"IPAddressesWithClusterDeployment": {
			req: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, listNode+withC1),
				required: map[string][]string{requiredClusterDeployment: {clusterDeployment(`"controlPlaneNumber":1,"workersNumber":1`)}}},
			wantNames:    []string{"node"},
			wantFP:       `{"space":{"ipAddresses":["10.0.0.10","10.0.0.20-10.0.0.21"],"gateway":"10.0.0.1","prefix":24},"count":2}`,
			wantRequired: true,
			wantPhase:    PhasePending,
			wantReason:   ReasonPending,
		},
		"IPAddressesWithoutCluster": {
			req:        input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, listNode)},
			wantNames:  []string{"node"},
			wantFP:     `{"space":{"ipAddresses":["10.0.0.10","10.0.0.20-10.0.0.21"],"gateway":"10.0.0.1","prefix":24},"allAddresses":true}`,
			wantPhase:  PhasePending,
			wantReason: ReasonPending,
		},
		"WholeSpaceShrinksToNodesOnceClusterKnown": {
			req: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode+withC1),
				observed: map[string]string{"node": reservation(inClusterAV, nodeName, `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"allAddresses":true}`, `{}`)},
				required: map[string][]string{requiredClusterDeployment: {clusterDeployment(`"controlPlaneNumber":3,"workersNumber":2`)}}},
			wantNames:    []string{"node"},
			wantFP:       `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"count":5}`,
			wantRequired: true,
			wantPhase:    PhasePending,
			wantReason:   ReasonPending,
			wantMessage:  "waiting for Reservation team-a/team-a-cluster-node to be ready",
		},
		"CountFollowsNodesDown": {
			req: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode+withC1),
				observed: map[string]string{"node": reservation(inClusterAV, nodeName, `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"count":5}`, `{}`)},
				required: map[string][]string{requiredClusterDeployment: {clusterDeployment(`"controlPlaneNumber":1,"workersNumber":2`)}}},
			wantNames:    []string{"node"},
			wantFP:       `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"count":3}`,
			wantRequired: true,
			wantPhase:    PhasePending,
			wantReason:   ReasonPending,
		},
		"CountKeptWhenDeploymentGone": {
			req: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode+withC1),
				observed: map[string]string{"node": reservation(inClusterAV, nodeName, `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"count":5}`, `{}`)},
				required: map[string][]string{requiredClusterDeployment: {}}},
			wantNames:    []string{"node"},
			wantFP:       `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"count":5}`,
			wantRequired: true,
			wantPhase:    PhasePending,
			wantReason:   ReasonPending,
		},
		"NoPoolBeforeReservationReady": {
			req: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode),
				observed: map[string]string{"node": reservation(inClusterAV, nodeName, `{}`,
					`{"conditions":[{"type":"Ready","status":"False","reason":"Creating"},{"type":"Synced","status":"False","reason":"ReconcileError","message":"connection refused"}]}`)}},
			wantNames:   []string{"node"},
			wantFP:      `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"allAddresses":true}`,
			wantPhase:   PhasePending,
			wantReason:  ReasonPending,
			wantMessage: "Reservation team-a/team-a-cluster-node to be ready (connection refused)",
		},
		"Exhausted": {
			req: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode),
				observed: map[string]string{"node": reservation(inClusterAV, nodeName, `{}`,
					failedStatus("create failed: not enough free addresses in 10.0.0.0/24: 253 requested, 253 usable, 3 already held, 250 free", shortfallAtProvider))}},
			wantNames:   []string{"node"},
			wantFP:      `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"allAddresses":true}`,
			wantPhase:   PhaseFailed,
			wantReason:  ReasonExhausted,
			wantMessage: "Reservation team-a/team-a-cluster-node: create failed: not enough free addresses in 10.0.0.0/24: 253 requested, 253 usable, 3 already held, 250 free",
		},
		"RefusedByThePolicy": {
			req: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode),
				observed: map[string]string{"node": reservation(inClusterAV, nodeName, `{}`,
					`{"conditions":[{"type":"Ready","status":"False","reason":"Creating"},{"type":"Synced","status":"False","reason":"ReconcileError","message":"create failed: refused"},
					{"type":"Allowed","status":"False","reason":"AddressSpaceNotAllowed","message":"10.0.0.0/24 is not within the address space that ClusterProviderConfig \"default\" allows namespace \"team-a\" (10.0.0.1 is outside it)"}]}`)}},
			wantNames:   []string{"node"},
			wantFP:      `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"allAddresses":true}`,
			wantPhase:   PhaseFailed,
			wantReason:  ReasonNotAllowed,
			wantMessage: `Reservation team-a/team-a-cluster-node: 10.0.0.0/24 is not within the address space that ClusterProviderConfig "default" allows namespace "team-a"`,
		},
		"Conflict": {
			req: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode+`,"clusterNetwork":{"cidr":"10.0.1.0/30"}`),
				observed: map[string]string{"node": reservation(inClusterAV, nodeName, `{}`,
					failedStatus("create failed: 10.0.0.2 is already held by Reservation team-b/other-node", conflictAtProvider))}},
			// The cluster network's Reservation did not exist yet: it is
			// not created for a claim that cannot be met.
			wantNames:   []string{"node"},
			wantFP:      `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"allAddresses":true}`,
			wantPhase:   PhaseFailed,
			wantReason:  ReasonConflict,
			wantMessage: "10.0.0.2 is already held by Reservation team-b/other-node",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := run(t, tc.req)
			if f := g.fatal(); f != "" {
				t.Fatalf("fatal result: %s", f)
			}
			if diff := cmp.Diff(tc.wantNames, g.names()); diff != "" {
				t.Fatalf("composed (-want +got):\n%s", diff)
			}
			if tc.wantFP != "" {
				if got := g.field(t, "node", "metadata.name"); got != nodeName {
					t.Errorf("name = %v, want %s", got, nodeName)
				}
				if got := g.field(t, "node", "apiVersion"); got != inClusterAV {
					t.Errorf("apiVersion = %v", got)
				}
				if diff := cmp.Diff(asJSON(t, tc.wantFP), g.field(t, "node", "spec.forProvider")); diff != "" {
					t.Errorf("forProvider (-want +got):\n%s", diff)
				}
			}
			sel := g.rsp.GetRequirements().GetResources()[requiredClusterDeployment]
			if (sel != nil) != tc.wantRequired {
				t.Errorf("ClusterDeployment required = %v, want %v", sel != nil, tc.wantRequired)
			}
			if sel != nil && (sel.GetMatchName() != "c1" || sel.GetNamespace() != xrNS || sel.GetKind() != "ClusterDeployment" || sel.GetApiVersion() != "k0rdent.mirantis.com/v1beta1") {
				t.Errorf("ClusterDeployment selector = %v", sel)
			}
			if g.status["phase"] != tc.wantPhase {
				t.Errorf("phase = %v, want %s", g.status["phase"], tc.wantPhase)
			}
			c := g.bound(t)
			if c.GetReason() != tc.wantReason {
				t.Errorf("reason = %s, want %s", c.GetReason(), tc.wantReason)
			}
			if !strings.Contains(c.GetMessage(), tc.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", c.GetMessage(), tc.wantMessage)
			}
			if tc.wantPhase == PhaseFailed && len(g.results) == 0 {
				t.Error("no warning result for a failed ClusterIPAM")
			}
		})
	}
}

func TestClusterIPAMPool(t *testing.T) {
	nodeName := xrName + "-node"
	nets := cidrNode + `,"clusterNetwork":{"cidr":"10.0.1.0/30"},"externalNetwork":{"ipAddresses":["10.0.2.5"]}`
	readyNode := reservation(inClusterAV, nodeName, `{}`, readyStatus(`{"addresses":["10.0.0.2","10.0.0.3"],"prefix":24,"gateway":"10.0.0.1"}`))
	readyCluster := reservation(inClusterAV, xrName+"-cluster", `{}`, readyStatus(`{"addresses":["10.0.1.1","10.0.1.2"],"prefix":30}`))
	readyExternal := reservation(inClusterAV, xrName+"-external", `{}`, readyStatus(`{"addresses":["10.0.2.5"]}`))

	t.Run("NetworksEachGetAReservation", func(t *testing.T) {
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, nets)})
		if diff := cmp.Diff([]string{"cluster", "external", "node"}, g.names()); diff != "" {
			t.Fatalf("composed (-want +got):\n%s", diff)
		}
		for _, n := range []string{"cluster", "external"} {
			if got := g.field(t, n, "spec.forProvider.allAddresses"); got != true {
				t.Errorf("%s allAddresses = %v", n, got)
			}
			if got := g.field(t, n, "metadata.name"); got != xrName+"-"+n {
				t.Errorf("%s name = %v", n, got)
			}
		}
		if got := g.field(t, "external", "spec.forProvider.space"); !cmp.Equal(got, asJSON(t, `{"ipAddresses":["10.0.2.5"]}`)) {
			t.Errorf("external space = %v", got)
		}
	})

	t.Run("PoolOnceNodeReservationReady", func(t *testing.T) {
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, nets), observed: map[string]string{"node": readyNode, "cluster": readyCluster}})
		if diff := cmp.Diff([]string{"cluster", "external", "ipPool", "node"}, g.names()); diff != "" {
			t.Fatalf("composed (-want +got):\n%s", diff)
		}
		// The pool lists runs: a whole /16 fits its 1024 entries.
		want := asJSON(t, fmt.Sprintf(`{"addresses":["10.0.0.2-10.0.0.3"],"prefix":24,"gateway":"10.0.0.1",
			"reservationRefs":[{"apiVersion":%q,"kind":"Reservation","name":%q}]}`, inClusterAV, nodeName))
		if diff := cmp.Diff(want, g.field(t, "ipPool", "spec")); diff != "" {
			t.Errorf("pool spec (-want +got):\n%s", diff)
		}
		if got := g.field(t, "ipPool", "metadata.name"); got != nodeName {
			t.Errorf("pool name = %v", got)
		}
		if g.ready["node"] != fnv1.Ready_READY_TRUE || g.ready["ipPool"] != fnv1.Ready_READY_FALSE {
			t.Errorf("ready node=%v pool=%v", g.ready["node"], g.ready["ipPool"])
		}
		if g.status["phase"] != PhasePending {
			t.Errorf("phase = %v", g.status["phase"])
		}
		if m := g.bound(t).GetMessage(); !strings.Contains(m, "Reservation team-a/team-a-cluster-external to be ready") || !strings.Contains(m, "IPPool team-a/team-a-cluster-node to be ready") {
			t.Errorf("message = %q", m)
		}
	})

	t.Run("UnreportedPoolSaysWhereItsControllerComesFrom", func(t *testing.T) {
		// Without Cluster API's IPAM CRDs no controller serves IPPools:
		// the pool has no status at all.
		bare := fmt.Sprintf(`{"apiVersion":"ipam.provider-ipam.io/v1alpha1","kind":"IPPool","metadata":{"name":%q,"namespace":%q},"spec":{}}`, nodeName, xrNS)
		notReady := fmt.Sprintf(`{"apiVersion":"ipam.provider-ipam.io/v1alpha1","kind":"IPPool","metadata":{"name":%q,"namespace":%q},"spec":{},
			"status":{"conditions":[{"type":"Ready","status":"False","reason":"InvalidSpec","message":"addresses[0]: not an address"}]}}`, nodeName, xrNS)
		for pool, want := range map[string]string{
			bare:     "IPPool team-a/team-a-cluster-node to be ready (nothing reports on it yet: provider-ipam's IPPool controller runs once Cluster API's IPAM CRDs, ipam.cluster.x-k8s.io, are installed)",
			notReady: "IPPool team-a/team-a-cluster-node to be ready (addresses[0]: not an address)",
		} {
			g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode), observed: map[string]string{"node": readyNode, "ipPool": pool}})
			if c := g.bound(t); c.GetReason() != ReasonPending || c.GetMessage() != "waiting for "+want {
				t.Errorf("condition %v, want Pending saying %q", c, want)
			}
		}
	})

	t.Run("BoundWhenAllReady", func(t *testing.T) {
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, nets), observed: map[string]string{
			"node": readyNode, "cluster": readyCluster, "external": readyExternal, "ipPool": pool(true)}})
		if g.status["phase"] != PhaseBound {
			t.Fatalf("phase = %v, condition %v", g.status["phase"], g.bound(t))
		}
		if c := g.bound(t); c.GetStatus() != fnv1.Status_STATUS_CONDITION_TRUE || c.GetReason() != ReasonBound {
			t.Errorf("condition = %v", c)
		}
		want := asJSON(t, fmt.Sprintf(`[
			{"name":"ipPool","ready":true,"config":{"apiGroup":"ipam.provider-ipam.io","kind":"IPPool","name":%q},
			 "addresses":["10.0.0.2","10.0.0.3"],"prefix":24,"gateway":"10.0.0.1"},
			{"name":"clusterNetwork","ready":true,"config":{"apiGroup":"incluster.ipam.provider-ipam.io","kind":"Reservation","names":[%q]},
			 "addresses":["10.0.1.1","10.0.1.2"],"prefix":30},
			{"name":"externalNetwork","ready":true,"config":{"apiGroup":"incluster.ipam.provider-ipam.io","kind":"Reservation","names":[%q]},
			 "addresses":["10.0.2.5"]}]`, nodeName, xrName+"-cluster", xrName+"-external"))
		if diff := cmp.Diff(want, g.status["providerData"]); diff != "" {
			t.Errorf("providerData (-want +got):\n%s", diff)
		}
	})

	t.Run("BoundWhileReleasing", func(t *testing.T) {
		// Scaled down to 1 node: the Reservation keeps 10.0.0.3 until its
		// machine goes.
		releasing := reservation(inClusterAV, nodeName, `{"count":1}`, `{"conditions":[{"type":"Ready","status":"True","reason":"Available"},`+
			`{"type":"Synced","status":"False","reason":"ReconcileError","message":"update failed: cannot release every address above the count yet: holding 2 addresses, not 1: 10.0.0.3 still in use by machines"}],`+
			`"atProvider":{"addresses":["10.0.0.2","10.0.0.3"],"prefix":24,"gateway":"10.0.0.1","releasing":["10.0.0.3"]}}`)
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode), observed: map[string]string{"node": releasing, "ipPool": pool(true)}})
		c := g.bound(t)
		if g.status["phase"] != PhaseBound || c.GetReason() != ReasonReleasingAddresses {
			t.Fatalf("phase = %v, condition %v", g.status["phase"], c)
		}
		if m := c.GetMessage(); !strings.Contains(m, releasingNote) || !strings.Contains(m, "10.0.0.3 still in use by machines") {
			t.Errorf("message = %q, want the release in progress", m)
		}
		if got := g.field(t, "ipPool", "spec.addresses"); !cmp.Equal(got, asJSON(t, `["10.0.0.2-10.0.0.3"]`)) {
			t.Errorf("pool addresses = %v, want both while a machine holds one", got)
		}
	})

	t.Run("PoolKeptWhenReservationGoesUnready", func(t *testing.T) {
		unready := reservation(inClusterAV, nodeName, `{}`, `{"conditions":[{"type":"Ready","status":"False","reason":"Unavailable"}],"atProvider":{"addresses":["10.0.0.2"]}}`)
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode), observed: map[string]string{"node": unready, "ipPool": pool(true)}})
		if got := g.field(t, "ipPool", "spec.addresses"); !cmp.Equal(got, asJSON(t, `["10.0.0.2","10.0.0.3"]`)) {
			t.Errorf("pool addresses = %v, want the existing ones", got)
		}
		if g.status["phase"] != PhasePending {
			t.Errorf("phase = %v", g.status["phase"])
		}
	})
}

func TestClusterIPAMInfoblox(t *testing.T) {
	cd3 := map[string][]string{requiredClusterDeployment: {clusterDeployment(`"controlPlaneNumber":1,"workersNumber":2`)}}
	ibName := func(i int) string { return fmt.Sprintf("%s-node-%d", xrName, i) }
	readyIB := func(i int, addr string) string {
		return reservation(infobloxAV, ibName(i), `{}`, readyStatus(fmt.Sprintf(`{"address":%q,"prefix":24,"gateway":"10.0.0.1","network":"10.0.0.0/24"}`, addr)))
	}

	t.Run("OneReservationPerNode", func(t *testing.T) {
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInfoblox, `,"nodeNetwork":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1","prefix":24}`+withC1), required: cd3})
		if diff := cmp.Diff([]string{"node-0", "node-1", "node-2"}, g.names()); diff != "" {
			t.Fatalf("composed (-want +got):\n%s", diff)
		}
		for i := range 3 {
			n := fmt.Sprintf("node-%d", i)
			want := asJSON(t, `{"forProvider":{"network":"10.0.0.0/24","exclude":["10.0.0.1"],"gateway":"10.0.0.1","prefix":24,"cluster":"c1","claim":"team-a/team-a-cluster"},
				"providerConfigRef":{"kind":"ClusterProviderConfig","name":"default"}}`)
			if diff := cmp.Diff(want, g.field(t, n, "spec")); diff != "" {
				t.Errorf("%s spec (-want +got):\n%s", n, diff)
			}
			if got := g.field(t, n, "metadata.name"); got != ibName(i) {
				t.Errorf("%s name = %v", n, got)
			}
			if got := g.field(t, n, "apiVersion"); got != infobloxAV {
				t.Errorf("%s apiVersion = %v", n, got)
			}
		}
	})

	t.Run("TemplateDefaultsWithoutClusterDeployment", func(t *testing.T) {
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInfoblox, cidrNode)})
		if diff := cmp.Diff([]string{"node-0", "node-1"}, g.names()); diff != "" {
			t.Fatalf("composed (-want +got):\n%s", diff)
		}
	})

	t.Run("OneReservationPerListedAddress", func(t *testing.T) {
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInfoblox, listNode+`,"providerConfigRef":{"kind":"ProviderConfig","name":"grid-a"}`)})
		if diff := cmp.Diff([]string{"node-0", "node-1", "node-2"}, g.names()); diff != "" {
			t.Fatalf("composed (-want +got):\n%s", diff)
		}
		for i, a := range []string{"10.0.0.10", "10.0.0.20", "10.0.0.21"} {
			n := fmt.Sprintf("node-%d", i)
			want := asJSON(t, fmt.Sprintf(`{"forProvider":{"address":%q,"gateway":"10.0.0.1","prefix":24,"claim":"team-a/team-a-cluster"},
				"providerConfigRef":{"kind":"ProviderConfig","name":"grid-a"}}`, a))
			if diff := cmp.Diff(want, g.field(t, n, "spec")); diff != "" {
				t.Errorf("%s spec (-want +got):\n%s", n, diff)
			}
		}
	})

	t.Run("ClusterNetworkOneAddress", func(t *testing.T) {
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInfoblox, cidrNode+`,"clusterNetwork":{"cidr":"10.0.1.0/28"}`)})
		if diff := cmp.Diff([]string{"cluster-0", "node-0", "node-1"}, g.names()); diff != "" {
			t.Fatalf("composed (-want +got):\n%s", diff)
		}
		if got := g.field(t, "cluster-0", "spec.forProvider.network"); got != "10.0.1.0/28" {
			t.Errorf("cluster-0 network = %v", got)
		}
	})

	t.Run("PoolFromAllAddresses", func(t *testing.T) {
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInfoblox, cidrNode+withC1), required: cd3, observed: map[string]string{
			"node-0": readyIB(0, "10.0.0.2"), "node-1": readyIB(1, "10.0.0.3"), "node-2": readyIB(2, "10.0.0.7")}})
		var refs []string
		for i := range 3 {
			refs = append(refs, fmt.Sprintf(`{"apiVersion":%q,"kind":"Reservation","name":%q}`, infobloxAV, ibName(i)))
		}
		want := asJSON(t, `{"addresses":["10.0.0.2-10.0.0.3","10.0.0.7"],"prefix":24,"gateway":"10.0.0.1","reservationRefs":[`+strings.Join(refs, ",")+`]}`)
		if diff := cmp.Diff(want, g.field(t, "ipPool", "spec")); diff != "" {
			t.Errorf("pool spec (-want +got):\n%s", diff)
		}
	})

	// Four node Reservations, the pool handing out inUse; the deployment
	// now has 2 nodes.
	poolInUse := func(used int, inUse string) string {
		return fmt.Sprintf(`{"apiVersion":"ipam.provider-ipam.io/v1alpha1","kind":"IPPool","metadata":{"name":%q,"namespace":%q},
			"spec":{"addresses":["10.0.0.2-10.0.0.5"],"prefix":24,"gateway":"10.0.0.1"},
			"status":{"used":%d%s,"conditions":[{"type":"Ready","status":"True"}]}}`, xrName+"-node", xrNS, used, inUse)
	}
	four := func(pool string) map[string]string {
		return map[string]string{"node-0": readyIB(0, "10.0.0.2"), "node-1": readyIB(1, "10.0.0.3"),
			"node-2": readyIB(2, "10.0.0.4"), "node-3": readyIB(3, "10.0.0.5"), "ipPool": pool}
	}
	cd2 := map[string][]string{requiredClusterDeployment: {clusterDeployment(`"controlPlaneNumber":1,"workersNumber":1`)}}
	shrinks := map[string]struct {
		pool          string
		want          []string
		wantReleasing bool
	}{
		"DropsUnusedHighestFirst": {pool: poolInUse(2, `,"inUse":["10.0.0.2","10.0.0.4"]`), want: []string{"ipPool", "node-0", "node-2"}},
		"KeepsWhatMachinesHold": {pool: poolInUse(3, `,"inUse":["10.0.0.3-10.0.0.5"]`), want: []string{"ipPool", "node-1", "node-2", "node-3"},
			wantReleasing: true},
		"KeepsAllWhenInUseUnknown": {pool: poolInUse(1, ``), want: []string{"ipPool", "node-0", "node-1", "node-2", "node-3"}, wantReleasing: true},
		"NothingInUse":             {pool: poolInUse(0, ``), want: []string{"ipPool", "node-0", "node-1"}},
	}
	for name, tc := range shrinks {
		t.Run("ScaleDown"+name, func(t *testing.T) {
			g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInfoblox, cidrNode+withC1), required: cd2, observed: four(tc.pool)})
			if diff := cmp.Diff(tc.want, g.names()); diff != "" {
				t.Fatalf("composed (-want +got):\n%s", diff)
			}
			refs, _ := g.field(t, "ipPool", "spec.reservationRefs").([]any)
			if len(refs) != len(tc.want)-1 {
				t.Errorf("pool references %d Reservations, want the %d kept", len(refs), len(tc.want)-1)
			}
			c := g.bound(t)
			if g.status["phase"] != PhaseBound || (c.GetReason() == ReasonReleasingAddresses) != tc.wantReleasing || strings.Contains(c.GetMessage(), releasingNote) != tc.wantReleasing {
				t.Errorf("phase %v, condition %v: want Bound, releasing %t", g.status["phase"], c, tc.wantReleasing)
			}
		})
	}

	t.Run("ScaleUpFillsGaps", func(t *testing.T) {
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInfoblox, cidrNode+withC1), required: cd3, observed: map[string]string{
			"node-0": readyIB(0, "10.0.0.2"), "node-3": readyIB(3, "10.0.0.5")}})
		if diff := cmp.Diff([]string{"node-0", "node-1", "node-3"}, g.names()); diff != "" {
			t.Fatalf("composed (-want +got):\n%s", diff)
		}
	})

	t.Run("NoPoolFromHalfReadySet", func(t *testing.T) {
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInfoblox, cidrNode+withC1), required: cd3, observed: map[string]string{
			"node-0": readyIB(0, "10.0.0.2"), "node-1": readyIB(1, "10.0.0.3")}})
		if _, ok := g.composed["ipPool"]; ok {
			t.Error("pool composed before every node Reservation is ready")
		}
		if m := g.bound(t).GetMessage(); !strings.Contains(m, "Reservation team-a/team-a-cluster-node-2 to be ready") {
			t.Errorf("message = %q", m)
		}
	})

	t.Run("ExhaustionStopsNewReservations", func(t *testing.T) {
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInfoblox, cidrNode+withC1), required: cd3, observed: map[string]string{
			"node-0": readyIB(0, "10.0.0.2"),
			"node-1": reservation(infobloxAV, ibName(1), `{}`, failedStatus("create failed: cannot reserve the next available address: NoFreeAddress: no free address in 10.0.0.0/24 (HTTP 400)", ibShortfall)),
		}})
		if diff := cmp.Diff([]string{"node-0", "node-1"}, g.names()); diff != "" {
			t.Errorf("composed (-want +got):\n%s", diff)
		}
		if g.status["phase"] != PhaseFailed {
			t.Errorf("phase = %v", g.status["phase"])
		}
		if c := g.bound(t); c.GetReason() != ReasonExhausted || !strings.Contains(c.GetMessage(), "team-a-cluster-node-1: create failed: cannot reserve the next available address: NoFreeAddress") {
			t.Errorf("condition = %v", c)
		}
	})

	t.Run("InvalidListedSpace", func(t *testing.T) {
		// The gateway listed as a node address is caught before anything is
		// asked of Infoblox.
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInfoblox, `,"nodeNetwork":{"ipAddresses":["10.0.0.1","10.0.0.2"],"gateway":"10.0.0.1","prefix":24}`)})
		if len(g.composed) != 0 {
			t.Errorf("composed %v for an invalid space", g.names())
		}
		if c := g.bound(t); c.GetReason() != ReasonInvalidSpace || !strings.Contains(c.GetMessage(), `spec.nodeNetwork: ipAddresses[0] "10.0.0.1": is the gateway`) {
			t.Errorf("condition = %v", c)
		}
		if g.status["phase"] != PhaseFailed {
			t.Errorf("phase = %v", g.status["phase"])
		}
	})
}

func TestNodeAddressListNeedsPrefix(t *testing.T) {
	g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, `,"nodeNetwork":{"ipAddresses":["10.0.0.10","10.0.0.11"]}`)})
	if len(g.composed) != 0 {
		t.Errorf("composed %v for a node network without a netmask", g.names())
	}
	if c := g.bound(t); c.GetReason() != ReasonInvalidSpace || !strings.Contains(c.GetMessage(), "spec.nodeNetwork: prefix is required with ipAddresses") {
		t.Errorf("condition = %v", c)
	}
}

func TestInvalidSpaceHoldsNothing(t *testing.T) {
	// Overlapping entries pass CEL; the function refuses them before any
	// network of the claim is reserved.
	g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode+`,"externalNetwork":{"ipAddresses":["10.0.2.5","10.0.2.0/29"]}`)})
	if len(g.composed) != 0 {
		t.Errorf("composed %v", g.names())
	}
	c := g.bound(t)
	if c.GetReason() != ReasonInvalidSpace || !strings.Contains(c.GetMessage(), `spec.externalNetwork: ipAddresses[1] "10.0.2.0/29": overlaps ipAddresses[0]`) {
		t.Errorf("condition = %v", c)
	}
	if g.status["phase"] != PhaseFailed {
		t.Errorf("phase = %v", g.status["phase"])
	}
}

func TestUnknownKindIsFatal(t *testing.T) {
	g := run(t, input{xr: `{"apiVersion":"example.org/v1","kind":"Database","metadata":{"name":"db","namespace":"a"}}`})
	want := "cannot compose example.org/v1, Kind=Database: this function composes only k0rdent.mirantis.com/v1beta1, Kind=ClusterIPAMClaim, k0rdent.mirantis.com/v1beta1, Kind=ClusterIPAM and k0rdent.mirantis.com/v1beta1, Kind=ClusterDeployment"
	if f := g.fatal(); f != want {
		t.Errorf("fatal = %q, want %q", f, want)
	}
	if len(g.composed) != 0 {
		t.Errorf("composed %v", g.names())
	}
}

func TestBadClusterDeploymentIsFatal(t *testing.T) {
	for cfg, want := range map[string]string{
		`"workersNumber":-1`:    "ClusterDeployment team-a/c1: spec.config.workersNumber is negative (-1)",
		`"workersNumber":"two"`: "ClusterDeployment team-a/c1: spec.config.workersNumber: two is not a number",
		`"workersNumber":4096`:  "ClusterDeployment team-a/c1: spec.config asks for 4097 nodes, more than the 4096 one network can reserve",
		`"workersNumber":5000`:  "ClusterDeployment team-a/c1: spec.config.workersNumber is 5000, more than the 4096 nodes one network can reserve",
		// Counts whose sum overflows int64 are refused one by one.
		`"controlPlaneNumber":4611686018427387904,"workersNumber":4611686018427387904`: "ClusterDeployment team-a/c1: spec.config.controlPlaneNumber is 4611686018427387904, more than the 4096 nodes",
		`"workersNumber":-1e30`: "ClusterDeployment team-a/c1: spec.config.workersNumber: -1e+30 is out of range",
	} {
		g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode+withC1), required: map[string][]string{requiredClusterDeployment: {clusterDeployment(cfg)}}})
		if f := g.fatal(); !strings.Contains(f, want) {
			t.Errorf("%s: fatal = %q, want it to contain %q", cfg, f, want)
		}
	}
}
