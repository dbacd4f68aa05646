package function

import (
	"context"
	"testing"

	"github.com/crossplane/function-sdk-go/logging"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
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

// A gateway that no host of its network may have holds nothing: the
// ClusterIPAM fails with a sentence naming the field.
func TestGatewayNotAHostHoldsNothing(t *testing.T) {
	got := runResponse(t, input{xr: ipamXR(ProviderInCluster, `,"nodeNetwork":{"cidr":"203.0.113.0/28","gateway":"203.0.113.0"}`)})
	want := wantResponse(t, `{"meta": {"tag": "test", "ttl": "60s"},
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
