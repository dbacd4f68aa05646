package function

import (
	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/resource/composed"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
)

// state is what an observed composed resource says about its addresses.
// It is read from the fields the provider publishes for compositions
// (status.atProvider's shortfall, conflict and releasing); condition
// messages are carried to people, never interpreted.
type state struct {
	exists    bool
	ready     bool
	reason    string // ReasonExhausted, ReasonConflict or ReasonNotAllowed when it cannot be satisfied
	message   string // the Synced condition's message when not synced
	releasing []string
	addresses []string
	prefix    int64
	gateway   string
}

func observe(observed map[resource.Name]resource.ObservedComposed, name resource.Name) state {
	oc, ok := observed[name]
	if !ok || oc.Resource == nil {
		return state{}
	}
	cd := oc.Resource
	s := state{exists: true, ready: cd.GetCondition(xpv1.TypeReady).Status == corev1.ConditionTrue}
	if c := cd.GetCondition(xpv1.TypeSynced); c.Status == corev1.ConditionFalse {
		s.message = c.Message
	}
	if c := cd.GetCondition(xpv1.ConditionType(inclusterv1alpha1.ConditionAllowed)); c.Status == corev1.ConditionFalse {
		// The platform team's address-space policy refuses it: nothing is
		// held, and only a change of policy or claim helps.
		s.reason, s.message = ReasonNotAllowed, c.Message
	} else if short, err := cd.GetValue("status.atProvider.shortfall"); err == nil && short != nil {
		s.reason = ReasonExhausted
	} else if conflict, err := cd.GetValue("status.atProvider.conflict"); err == nil && conflict != nil {
		s.reason = ReasonConflict
	}
	if rel, err := cd.GetStringArray("status.atProvider.releasing"); err == nil {
		s.releasing = rel
	}
	if as, err := cd.GetStringArray("status.atProvider.addresses"); err == nil {
		s.addresses = as
	} else if a, err := cd.GetString("status.atProvider.address"); err == nil && a != "" {
		s.addresses = []string{a}
	}
	if p, err := cd.GetInteger("status.atProvider.prefix"); err == nil {
		s.prefix = p
	}
	if g, err := cd.GetString("status.atProvider.gateway"); err == nil {
		s.gateway = g
	}
	return s
}

// readiness is how Crossplane should count a desired resource towards the
// XR's Ready condition.
func readiness(ready bool) resource.Ready {
	if ready {
		return resource.ReadyTrue
	}
	return resource.ReadyFalse
}

// newComposed starts a composed object of kind gvk named name in namespace.
func newComposed(gvk schema.GroupVersionKind, namespace, name string) *composed.Unstructured {
	cd := composed.New()
	cd.SetGroupVersionKind(gvk)
	cd.SetNamespace(namespace)
	cd.SetName(name)
	return cd
}

// anySlice converts for structpb, which takes []any but not []string.
func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
