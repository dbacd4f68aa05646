package function

import (
	"context"
	"testing"
	"time"

	"github.com/crossplane/function-sdk-go/logging"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"

	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
)

// runResponse runs the function on in and returns its whole response.
func runResponse(t *testing.T, in input) *fnv1.RunFunctionResponse {
	t.Helper()
	f := &Function{Log: logging.NewNopLogger()}
	rsp, err := f.RunFunction(context.Background(), in.build())
	if err != nil {
		t.Fatalf("RunFunction: %v", err)
	}
	return rsp
}

func wantResponse(t *testing.T, js string) *fnv1.RunFunctionResponse {
	t.Helper()
	want := &fnv1.RunFunctionResponse{}
	if err := protojson.Unmarshal([]byte(js), want); err != nil {
		t.Fatalf("want: %v", err)
	}
	return want
}

// A ClusterDeployment whose template cannot be composed is not ready, even
// though its IPAM is bound and nothing it composes is unready: Crossplane
// would otherwise count an XR that composes nothing as ready.
func TestTemplateNotComposedIsNotReady(t *testing.T) {
	const requirements = `"requirements": {"resources": {
		"clusterIPAM": {"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterIPAM", "matchName": "c1-ipam", "namespace": "team-a"},
		"ipamClaim": {"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterIPAMClaim", "matchName": "c1-ipam", "namespace": "team-a"}}}`
	const ipamReady = `{"type": "IPAMReady", "status": "STATUS_CONDITION_TRUE", "reason": "Bound",
		"message": "ClusterIPAM team-a/c1-ipam is bound: IPPool c1-ipam-node holds 2 addresses for 2 nodes", "target": "TARGET_COMPOSITE"}`
	const composite = `"composite": {"ready": "READY_FALSE", "resource": {"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterDeployment",
		"status": {"ipPool": {"apiGroup": "ipam.provider-ipam.io", "kind": "IPPool", "name": "c1-ipam-node"}, "ipamBound": true}}}`
	cases := map[string]struct {
		in   input
		want string
	}{
		"OnlyNodeCounts": {
			in: boundRef(vsphereTemplate, `,"config":{"controlPlaneNumber":1,"workersNumber":1}`, `["10.0.0.2","10.0.0.3"]`),
			want: `{"meta": {"tag": "test", "ttl": "60s"}, "desired": {` + composite + `},
				"results": [{"severity": "SEVERITY_WARNING", "target": "TARGET_COMPOSITE",
					"message": "template \"vsphere-standalone-cp-1-0-0\" needs spec.config.controlPlane.vmTemplate and spec.config.worker.vmTemplate: no cluster objects are composed without it"}],
				` + requirements + `,
				"conditions": [` + ipamReady + `,
					{"type": "TemplateReady", "status": "STATUS_CONDITION_FALSE", "reason": "InvalidConfig", "target": "TARGET_COMPOSITE",
					 "message": "template \"vsphere-standalone-cp-1-0-0\" needs spec.config.controlPlane.vmTemplate and spec.config.worker.vmTemplate: no cluster objects are composed without it"}]}`,
		},
		"UnsupportedTemplate": {
			in: boundRef("aws-standalone-cp-1-0-0", `,"config":{"controlPlaneNumber":1,"workersNumber":1}`, `["10.0.0.2","10.0.0.3"]`),
			want: `{"meta": {"tag": "test", "ttl": "60s"}, "desired": {` + composite + `},
				"results": [{"severity": "SEVERITY_WARNING", "target": "TARGET_COMPOSITE",
					"message": "template \"aws-standalone-cp-1-0-0\" is not supported: this Composition composes vsphere templates only (names containing \"vsphere\")"}],
				` + requirements + `,
				"conditions": [` + ipamReady + `,
					{"type": "TemplateReady", "status": "STATUS_CONDITION_FALSE", "reason": "TemplateUnsupported", "target": "TARGET_COMPOSITE",
					 "message": "template \"aws-standalone-cp-1-0-0\" is not supported: this Composition composes vsphere templates only (names containing \"vsphere\")"}]}`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(wantResponse(t, tc.want), runResponse(t, tc.in), protocmp.Transform()); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

// A deployment whose cluster is composed leaves its readiness to what it
// composes.
func TestComposedTemplateReadinessIsDerived(t *testing.T) {
	rsp := runResponse(t, boundRef(vsphereTemplate, cdConfig(""), `["10.0.0.2","10.0.0.3"]`))
	if r := rsp.GetDesired().GetComposite().GetReady(); r != fnv1.Ready_READY_UNSPECIFIED {
		t.Errorf("desired composite ready = %s, want it unspecified", r)
	}
}

// A gateway that no host of its network may have holds nothing: the
// ClusterIPAM fails with a sentence naming the field.
func TestGatewayNotAHostHoldsNothing(t *testing.T) {
	got := runResponse(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, `,"nodeNetwork":{"cidr":"203.0.113.0/28","gateway":"203.0.113.0"}`)})
	want := wantResponse(t, `{"meta": {"tag": "test", "ttl": "600s"},
		"desired": {"composite": {"resource": {"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterIPAM",
			"status": {"phase": "Failed", "providerData": [{"name": "ipPool", "ready": false, "gateway": "203.0.113.0", "prefix": 28,
				"config": {"apiGroup": "ipam.provider-ipam.io", "kind": "IPPool", "name": "team-a-cluster-node"}}]}}}},
		"results": [{"severity": "SEVERITY_WARNING", "target": "TARGET_COMPOSITE",
			"message": "spec.nodeNetwork: gateway \"203.0.113.0\": is the network address of 203.0.113.0/28, not a host address"}],
		"conditions": [{"type": "Bound", "status": "STATUS_CONDITION_FALSE", "reason": "InvalidSpace", "target": "TARGET_COMPOSITE",
			"message": "spec.nodeNetwork: gateway \"203.0.113.0\": is the network address of 203.0.113.0/28, not a host address"}]}`)
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}

// TestTTLFollowsWhatIsWatched checks that only XRs that read a resource
// Crossplane does not watch are called again within a minute: the rest
// wait for an event, with a long safety net.
func TestTTLFollowsWhatIsWatched(t *testing.T) {
	cases := map[string]struct {
		req  input
		want time.Duration
	}{
		"ClaimReadsOnlyItsClusterIPAM": {
			req:  input{xr: claimXR(k0rdentv1beta1.ProviderInCluster, "")},
			want: TTLWatched,
		},
		"ClusterIPAMWithoutClusterReadsNothingElse": {
			req:  input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode)},
			want: TTLWatched,
		},
		"ClusterIPAMFollowsItsClusterDeployment": {
			req:  input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode+withC1)},
			want: TTLRequired,
		},
		"ClusterDeploymentFollowsTheClaimItNames": {
			req:  input{xr: cdXR(vsphereTemplate, cdConfig("")+refClaim)},
			want: TTLRequired,
		},
		"FatalIsRetriedSoon": {
			req:  input{xr: ipamXR("nfs", cidrNode)},
			want: TTLRequired,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := run(t, tc.req)
			if got := g.rsp.GetMeta().GetTtl().AsDuration(); got != tc.want {
				t.Errorf("TTL = %s, want %s", got, tc.want)
			}
		})
	}
}
