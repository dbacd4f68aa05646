package function

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/crossplane/function-sdk-go/logging"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/request"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/response"
	"google.golang.org/protobuf/types/known/durationpb"

	fnv1beta1 "github.com/provider-ipam/provider-ipam/apis/function/v1beta1"
	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
	"github.com/provider-ipam/provider-ipam/internal/function/infrastructure"
	"github.com/provider-ipam/provider-ipam/internal/function/infrastructure/vsphere"
)

// ProviderLabel selects the ClusterIPAM Composition of a backend: the
// function sets it in the composed ClusterIPAM's compositionSelector.
const ProviderLabel = "ipam.provider-ipam.io/provider"

// ConditionBound is the condition type both XRs carry: whether their
// addresses are allocated, and if not, why.
const ConditionBound = "Bound"

// Reasons of the Bound condition. ReasonNotAllowed: the address-space
// policy refuses a Reservation.
const (
	ReasonBound             = "Bound"
	ReasonPending           = "Pending"
	ReasonExhausted         = "AddressesExhausted"
	ReasonConflict          = "AddressConflict"
	ReasonNotAllowed        = "AddressSpaceNotAllowed"
	ReasonInvalidSpace      = "InvalidSpace"
	ReasonClusterIPAMFailed = "ClusterIPAMFailed"
	ReasonDeleting          = "Deleting"
)

// ClusterIPAM phases (status.phase).
const (
	PhasePending = "Pending"
	PhaseBound   = "Bound"
	PhaseFailed  = "Failed"
)

// How long Crossplane may wait before it calls the function again for an XR
// when nothing changed. With realtime compositions Crossplane watches the XR
// and everything it composes, and calls again on any change of those; it
// does not watch the resources a function requires (a ClusterIPAM's
// ClusterDeployment, a ClusterDeployment's claim and ClusterIPAM). Only XRs
// that read such resources need to be called again soon. Every other call is
// load on the API server for nothing: each costs several server-side applies,
// and with a minute for every XR a few hundred bound claims kept it busy.
const (
	// TTLRequired is for an XR that read a required resource.
	TTLRequired = time.Minute
	// TTLWatched is for an XR whose inputs are all watched: a safety net.
	TTLWatched = 10 * time.Minute
)

// Function composes k0rdent's ClusterIPAMClaim, ClusterIPAM and ClusterDeployment.
type Function struct {
	fnv1.UnimplementedFunctionRunnerServiceServer

	Log logging.Logger
}

// RunFunction dispatches on the observed composite's kind. Errors become
// fatal results: Crossplane then keeps what exists and reports the message.
func (f *Function) RunFunction(_ context.Context, req *fnv1.RunFunctionRequest) (*fnv1.RunFunctionResponse, error) {
	rsp := response.To(req, TTLRequired)

	oxr, err := request.GetObservedCompositeResource(req)
	if err != nil {
		response.Fatal(rsp, fmt.Errorf("cannot get the observed composite resource: %w", err))
		return rsp, nil
	}
	log := f.Log.WithValues("kind", oxr.Resource.GetKind(), "namespace", oxr.Resource.GetNamespace(), "name", oxr.Resource.GetName())
	log.Debug("Running function")

	observed, err := request.GetObservedComposedResources(req)
	if err != nil {
		response.Fatal(rsp, fmt.Errorf("cannot get the observed composed resources: %w", err))
		return rsp, nil
	}

	in, err := readInput(req)
	if err != nil {
		response.Fatal(rsp, err)
		return rsp, nil
	}

	var out *result
	switch gvk := oxr.Resource.GroupVersionKind(); gvk {
	case k0rdentv1beta1.ClusterIPAMClaimGVK:
		out, err = composeClaim(oxr, observed)
	case k0rdentv1beta1.ClusterIPAMGVK:
		if in.Backend == "" {
			response.Fatal(rsp, errors.New("cannot compose a ClusterIPAM: the Composition's function input sets no backend (in-cluster or ipam-infoblox)"))
			return rsp, nil
		}
		out, err = composeClusterIPAM(req, rsp, oxr, observed, in.Backend)
	case k0rdentv1beta1.ClusterDeploymentGVK:
		infra, ok := infrastructures[in.Infrastructure]
		if !ok {
			response.Fatal(rsp, fmt.Errorf("cannot compose a ClusterDeployment: the Composition's function input sets infrastructure %q, not one of %s", in.Infrastructure, strings.Join(slices.Sorted(maps.Keys(infrastructures)), ", ")))
			return rsp, nil
		}
		out, err = composeClusterDeployment(req, rsp, oxr, observed, in.Infrastructure, infra)
	default:
		response.Fatal(rsp, fmt.Errorf("cannot compose %s: this function composes only %s, %s and %s", gvk, k0rdentv1beta1.ClusterIPAMClaimGVK, k0rdentv1beta1.ClusterIPAMGVK, k0rdentv1beta1.ClusterDeploymentGVK))
		return rsp, nil
	}
	if err != nil {
		response.Fatal(rsp, fmt.Errorf("cannot compose %s %s/%s: %w", oxr.Resource.GetKind(), oxr.Resource.GetNamespace(), oxr.Resource.GetName(), err))
		return rsp, nil
	}

	if oxr.Resource.GetDeletionTimestamp() != nil {
		// Crossplane deletes what the XR composed; composing anything new now
		// would only race that.
		out.keepOnlyObserved(observed)
		out.condition = condition{typ: out.condition.typ, status: fnv1.Status_STATUS_CONDITION_FALSE, reason: ReasonDeleting, message: "being deleted: nothing new is composed"}
		out.extra = nil
	}
	if err := out.apply(req, rsp, oxr); err != nil {
		response.Fatal(rsp, err)
		return rsp, nil
	}
	if rsp.GetRequirements().GetResources() == nil {
		rsp.Meta.Ttl = durationpb.New(TTLWatched)
	}
	log.Debug("Composed", "resources", len(out.composed), "reason", out.condition.reason)
	return rsp, nil
}

// infrastructures are the cluster templates a ClusterDeployment Composition
// can name in its function input.
var infrastructures = map[string]infrastructure.Template{
	fnv1beta1.InfrastructureVSphere: vsphere.Template{},
}

// readInput reads the function input of the Composition's step. A Composition
// whose step has none gets the zero Input.
func readInput(req *fnv1.RunFunctionRequest) (*fnv1beta1.Input, error) {
	in := &fnv1beta1.Input{}
	if req.GetInput() == nil {
		return in, nil
	}
	if err := request.GetInput(req, in); err != nil {
		return nil, fmt.Errorf("cannot read the function input: %w", err)
	}
	if gvk := in.GroupVersionKind(); gvk != fnv1beta1.InputGroupVersionKind {
		return nil, fmt.Errorf("the function input is %s; it must be %s", gvk, fnv1beta1.InputGroupVersionKind)
	}
	return in, nil
}

// A condition is a condition to set on the XR: of type typ, Bound when
// empty. warn also reports it as a Warning event.
type condition struct {
	typ     string
	status  fnv1.Status
	reason  string
	message string
	warn    bool
}

// A result is what one XR composes and the status it gets.
type result struct {
	composed  map[resource.Name]*resource.DesiredComposed
	status    map[string]any // merged into the desired XR's status
	condition condition
	extra     []condition // further conditions of other types
	// ready overrides the readiness Crossplane derives from the composed
	// resources when set.
	ready resource.Ready
}

// keepOnlyObserved drops the desired resources that do not exist yet.
func (r *result) keepOnlyObserved(observed map[resource.Name]resource.ObservedComposed) {
	for name := range r.composed {
		if _, ok := observed[name]; !ok {
			delete(r.composed, name)
		}
	}
}

// apply writes r into the response on top of what earlier pipeline steps
// desired.
func (r *result) apply(req *fnv1.RunFunctionRequest, rsp *fnv1.RunFunctionResponse, oxr *resource.Composite) error {
	dxr, err := request.GetDesiredCompositeResource(req)
	if err != nil {
		return fmt.Errorf("cannot get the desired composite resource: %w", err)
	}
	dxr.Resource.SetAPIVersion(oxr.Resource.GetAPIVersion())
	dxr.Resource.SetKind(oxr.Resource.GetKind())
	status, _ := dxr.Resource.Object["status"].(map[string]any)
	if status == nil {
		status = map[string]any{}
	}
	for k, v := range r.status {
		status[k] = v
	}
	dxr.Resource.Object["status"] = status
	dxr.Ready = r.ready
	if err := response.SetDesiredCompositeResource(rsp, dxr); err != nil {
		return fmt.Errorf("cannot set the desired composite resource: %w", err)
	}

	desired, err := request.GetDesiredComposedResources(req)
	if err != nil {
		return fmt.Errorf("cannot get the desired composed resources: %w", err)
	}
	for name, dc := range r.composed {
		desired[name] = dc
	}
	if err := response.SetDesiredComposedResources(rsp, desired); err != nil {
		return fmt.Errorf("cannot set the desired composed resources: %w", err)
	}

	for _, cond := range append([]condition{r.condition}, r.extra...) {
		cond.set(rsp)
	}
	return nil
}

// set writes c into the response.
func (c condition) set(rsp *fnv1.RunFunctionResponse) {
	typ := c.typ
	if typ == "" {
		typ = ConditionBound
	}
	var o *response.ConditionOption
	switch c.status {
	case fnv1.Status_STATUS_CONDITION_TRUE:
		o = response.ConditionTrue(rsp, typ, c.reason)
	case fnv1.Status_STATUS_CONDITION_FALSE:
		o = response.ConditionFalse(rsp, typ, c.reason)
	default:
		o = response.ConditionUnknown(rsp, typ, c.reason)
	}
	if c.message != "" {
		o.WithMessage(c.message)
	}
	if c.warn || c.reason == ReasonExhausted || c.reason == ReasonConflict || c.reason == ReasonNotAllowed || c.reason == ReasonClusterIPAMFailed || c.reason == ReasonInvalidSpace {
		// A Warning result also becomes an event on the XR.
		response.Warning(rsp, errors.New(c.message)).TargetComposite()
	}
}
