package function

import (
	"errors"
	"fmt"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"k8s.io/apimachinery/pkg/runtime"

	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
)

// Names of composed resources in the pipeline (not metadata.name).
const (
	nameClusterIPAM resource.Name = "clusteripam"
	nameNode        resource.Name = "node"
	nameCluster     resource.Name = "cluster"
	nameExternal    resource.Name = "external"
	namePool        resource.Name = "ipPool"
)

// copiedSpec are the claim's fields its ClusterIPAM carries unchanged.
var copiedSpec = []string{"provider", "nodeNetwork", "clusterNetwork", "externalNetwork", "cluster", "providerConfigRef"}

// composeClaim composes a ClusterIPAMClaim's ClusterIPAM, named after the
// claim, and mirrors whether it is bound.
func composeClaim(oxr *resource.Composite, observed map[resource.Name]resource.ObservedComposed) (*result, error) {
	xr := oxr.Resource
	spec, _ := xr.Object["spec"].(map[string]any)
	provider, _ := spec["provider"].(string)
	if provider == "" {
		return nil, errors.New("spec.provider is required: in-cluster or ipam-infoblox")
	}

	child := newComposed(k0rdentv1beta1.ClusterIPAMGVK, xr.GetNamespace(), xr.GetName())
	cspec := map[string]any{}
	for _, k := range copiedSpec {
		if v, ok := spec[k]; ok {
			cspec[k] = runtime.DeepCopyJSONValue(v)
		}
	}
	cspec["clusterIPAMClaimRefs"] = xr.GetName()
	// The ClusterIPAM's Composition is the backend's: this is how
	// spec.provider picks in-cluster or Infoblox.
	cspec["crossplane"] = map[string]any{
		"compositionSelector": map[string]any{"matchLabels": map[string]any{ProviderLabel: provider}},
	}
	child.Object["spec"] = cspec

	out := &result{status: map[string]any{"bound": false}}
	phase := ""
	var msg string
	if oc, ok := observed[nameClusterIPAM]; ok && oc.Resource != nil {
		phase, _ = oc.Resource.GetString("status.phase")
		msg = oc.Resource.GetCondition(xpv1.ConditionType(ConditionBound)).Message
	}
	bound := phase == PhaseBound
	out.composed = map[resource.Name]*resource.DesiredComposed{nameClusterIPAM: {Resource: child, Ready: readiness(bound)}}
	out.status["bound"] = bound

	ref := fmt.Sprintf("ClusterIPAM %s/%s", xr.GetNamespace(), xr.GetName())
	switch phase {
	case PhaseBound:
		out.condition = condition{status: fnv1.Status_STATUS_CONDITION_TRUE, reason: ReasonBound, message: ref + " is bound"}
	case PhaseFailed:
		out.condition = condition{status: fnv1.Status_STATUS_CONDITION_FALSE, reason: ReasonClusterIPAMFailed, message: ref + " failed: " + msg}
	default:
		// Not the ClusterIPAM's own progress: that changes at each step, and
		// every change of the claim's condition costs Crossplane two status
		// writes and another reconcile of the claim. The ClusterIPAM's Bound
		// condition says what it waits for.
		out.condition = condition{status: fnv1.Status_STATUS_CONDITION_FALSE, reason: ReasonPending,
			message: "waiting for " + ref + " to be bound (its Bound condition says what it waits for)"}
	}
	return out, nil
}
