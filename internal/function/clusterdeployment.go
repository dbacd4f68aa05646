package function

import (
	"fmt"
	"strings"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/crossplane-runtime/v2/pkg/fieldpath"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/request"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/resource/composed"
	"k8s.io/apimachinery/pkg/runtime"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
	"github.com/provider-ipam/provider-ipam/internal/addressing"
	"github.com/provider-ipam/provider-ipam/internal/function/infrastructure"
)

// Condition types of a ClusterDeployment.
const (
	// ConditionIPAMReady says whether the deployment's addresses are held
	// and, if not, why provisioning waits.
	ConditionIPAMReady = "IPAMReady"
	// ConditionTemplateReady says whether the template can be composed.
	ConditionTemplateReady = "TemplateReady"
	// ConditionDryRun reports a dry run's outcome.
	ConditionDryRun = "DryRun"
)

// Reasons of a ClusterDeployment's conditions.
const (
	ReasonIPAMNotUsed         = "IPAMNotUsed"
	ReasonClaimNotFound       = "ClaimNotFound"
	ReasonClaimMismatch       = "ClaimMismatch"
	ReasonWaitingForIPAM      = "WaitingForIPAM"
	ReasonIPAMFailed          = "IPAMFailed"
	ReasonNotEnoughAddresses  = "NotEnoughAddresses"
	ReasonReleasingAddresses  = "ReleasingAddresses"
	ReasonTemplateSupported   = "TemplateSupported"
	ReasonTemplateUnsupported = "TemplateUnsupported"
	ReasonInvalidConfig       = "InvalidConfig"
	ReasonFits                = "Fits"
	ReasonAddressesUnknown    = "AddressesUnknown"
)

const (
	// nameIPAMClaim is the composed ClusterIPAMClaim of an inline ipamClaim.
	nameIPAMClaim resource.Name = "ipamClaim"

	// Required resources of a ClusterDeployment.
	requiredClaim       = "ipamClaim"
	requiredClusterIPAM = "clusterIPAM"

	// unknown is a dry run's addressesAvailable when it cannot be told.
	unknown = "unknown"
)

// A deployment composes one ClusterDeployment XR.
type deployment struct {
	req       *fnv1.RunFunctionRequest
	rsp       *fnv1.RunFunctionResponse
	namespace string
	name      string
	observed  map[resource.Name]resource.ObservedComposed
	out       *result

	controlPlanes, workers int64
	// objects are the cluster objects its infrastructure renders.
	objects []infrastructure.Object
}

// ipamState is where a deployment's IPAM stands.
type ipamState struct {
	used  bool
	ready bool // bound, with a node pool big enough
	cond  condition
	pool  *infrastructure.Pool
	// poolSize counts the addresses the pool holds.
	poolSize int64
	// space is the node network as written (inline or in the referenced
	// claim), nil when unknown.
	space map[string]any
	// endpoints are control-plane endpoint candidates from the ClusterIPAM.
	endpoints []string
}

// composeClusterDeployment composes a ClusterDeployment: its inline
// ClusterIPAMClaim, and once the addresses are held, the cluster objects
// infra (its Composition's infrastructure, named infraName) renders from
// its template.
func composeClusterDeployment(req *fnv1.RunFunctionRequest, rsp *fnv1.RunFunctionResponse, oxr *resource.Composite, observed map[resource.Name]resource.ObservedComposed, infraName string, infra infrastructure.Template) (*result, error) {
	xr := oxr.Resource
	spec, _ := xr.Object["spec"].(map[string]any)
	template, _ := spec["template"].(string)
	dryRun, _ := spec["dryRun"].(bool)
	values, _ := runtime.DeepCopyJSONValue(spec["config"]).(map[string]any)
	if values == nil {
		values = map[string]any{}
	}

	d := &deployment{
		req: req, rsp: rsp, namespace: xr.GetNamespace(), name: xr.GetName(), observed: observed,
		out: &result{composed: map[resource.Name]*resource.DesiredComposed{}, status: map[string]any{}},
	}
	var err error
	if d.controlPlanes, d.workers, err = nodeCounts(values); err != nil {
		return nil, err
	}

	ipamClaim, _ := spec["ipamClaim"].(map[string]any)
	st, claim := d.ipam(ipamClaim, dryRun)
	supported := infra.Supports(template)

	values["ipamEnabled"] = st.used
	if st.pool != nil {
		values["ipPool"] = runtime.DeepCopyJSONValue(st.pool.Ref)
		d.out.status["ipPool"] = runtime.DeepCopyJSONValue(st.pool.Ref)
	}
	d.out.status["ipamBound"] = st.used && st.ready
	d.out.condition = st.cond
	d.out.condition.typ = ConditionIPAMReady

	cluster := infrastructure.Cluster{
		Namespace: d.namespace, Name: d.name, Values: values,
		ControlPlanes: d.controlPlanes, Workers: d.workers, Pool: st.pool, Endpoints: st.endpoints,
	}
	d.objects = infra.Objects(cluster)
	tmpl := condition{typ: ConditionTemplateReady, status: fnv1.Status_STATUS_CONDITION_TRUE, reason: ReasonTemplateSupported,
		message: fmt.Sprintf("template %q is composed as a %s cluster", template, infraName)}
	missing := infra.Missing(values)
	switch {
	case !supported:
		tmpl = condition{typ: ConditionTemplateReady, status: fnv1.Status_STATUS_CONDITION_FALSE, reason: ReasonTemplateUnsupported, warn: true,
			message: fmt.Sprintf("template %q is not supported: this Composition composes %s templates only (%s)", template, infraName, infra.Templates())}
	case len(missing) > 0:
		supported = false
		tmpl = condition{typ: ConditionTemplateReady, status: fnv1.Status_STATUS_CONDITION_FALSE, reason: ReasonInvalidConfig, warn: true,
			message: fmt.Sprintf("template %q needs %s: no cluster objects are composed without it", template, strings.Join(missing, " and "))}
	}
	d.out.extra = append(d.out.extra, tmpl)
	if !supported {
		// Crossplane counts an XR that composes nothing as ready; a cluster
		// that cannot be composed is not, whatever its IPAM says.
		d.out.ready = resource.ReadyFalse
	}

	if dryRun {
		d.dryRun(st, claim, supported)
		return d.out, nil
	}
	if claim != nil {
		d.out.composed[nameIPAMClaim] = claim
	}
	if supported && st.ready {
		for _, o := range d.objects {
			d.out.composed[o.Name] = &resource.DesiredComposed{Resource: o.Resource, Ready: readiness(d.objectReady(o))}
		}
	} else {
		// Nothing new is provisioned, but what exists stays as it is: a
		// resize or a backend hiccup must never delete running machines.
		d.keepObserved()
	}
	return d.out, nil
}

func (d *deployment) nodes() int64 { return d.controlPlanes + d.workers }

// ipam works out the deployment's IPAM: the inline claim to compose (nil
// otherwise) and whether the addresses are ready.
func (d *deployment) ipam(ipamClaim map[string]any, dryRun bool) (ipamState, *resource.DesiredComposed) {
	inline, hasInline := ipamClaim["spec"].(map[string]any)
	refName, _ := ipamClaim["ref"].(string)

	switch {
	case hasInline:
		claim := d.inlineClaim(inline)
		st := ipamState{used: true}
		st.space, _ = inline["nodeNetwork"].(map[string]any)
		var observedClaim *composed.Unstructured
		if oc, ok := d.observed[nameIPAMClaim]; ok && oc.Resource != nil {
			observedClaim = oc.Resource
		}
		ref := fmt.Sprintf("ClusterIPAMClaim %s/%s", d.namespace, d.name)
		if observedClaim == nil {
			what := "to be created"
			if dryRun {
				what = "(not created: dry run)"
			}
			st.cond = waiting(fmt.Sprintf("waiting for %s %s", ref, what))
		} else {
			d.bound(&st, ref, observedClaim)
		}
		dc := &resource.DesiredComposed{Resource: claim, Ready: readiness(st.ready)}
		return st, dc

	case refName != "":
		st := ipamState{used: true}
		ref := fmt.Sprintf("ClusterIPAMClaim %s/%s", d.namespace, refName)
		claim, resolved, err := d.require(requiredClaim, k0rdentv1beta1.ClusterIPAMClaimGVK.GroupVersion().String(), k0rdentv1beta1.ClusterIPAMClaimGVK.Kind, refName)
		switch {
		case err != nil:
			st.cond = waiting(fmt.Sprintf("cannot read %s: %v", ref, err))
		case !resolved:
			st.cond = waiting("waiting for " + ref + " to be read")
		case claim == nil:
			st.cond = condition{status: fnv1.Status_STATUS_CONDITION_FALSE, reason: ReasonClaimNotFound, warn: true,
				message: fmt.Sprintf("%s named in spec.ipamClaim.ref does not exist: create it with spec.cluster: %s", ref, d.name)}
		default:
			if v, err := claim.GetValue("spec.nodeNetwork"); err == nil {
				st.space, _ = v.(map[string]any)
			}
			if cluster, _ := claim.GetString("spec.cluster"); cluster != d.name {
				st.cond = condition{status: fnv1.Status_STATUS_CONDITION_FALSE, reason: ReasonClaimMismatch, warn: true,
					message: fmt.Sprintf("%s is for cluster %q (spec.cluster), not for this ClusterDeployment %q: the references must be mutual", ref, cluster, d.name)}
				break
			}
			d.bound(&st, ref, claim)
		}
		return st, nil
	}
	return ipamState{ready: true, cond: condition{status: fnv1.Status_STATUS_CONDITION_TRUE, reason: ReasonIPAMNotUsed,
		message: "no spec.ipamClaim: machines get their addresses by DHCP"}}, nil
}

// inlineClaim is the ClusterIPAMClaim of an inline ipamClaim: named after
// the deployment, whose name it carries in spec.cluster.
func (d *deployment) inlineClaim(inline map[string]any) *composed.Unstructured {
	cd := newComposed(k0rdentv1beta1.ClusterIPAMClaimGVK, d.namespace, d.name)
	spec := map[string]any{"cluster": d.name}
	for _, k := range []string{"provider", "nodeNetwork", "clusterNetwork", "externalNetwork"} {
		if v, ok := inline[k]; ok {
			spec[k] = runtime.DeepCopyJSONValue(v)
		}
	}
	cd.Object["spec"] = spec
	return cd
}

// bound reads the claim and its ClusterIPAM into st.
func (d *deployment) bound(st *ipamState, ref string, claim *composed.Unstructured) {
	claimBound, _ := claim.GetBool("status.bound")
	ipamName, _ := claim.GetString("spec.clusterIPAMRef")
	if ipamName == "" {
		st.cond = waiting(fmt.Sprintf("waiting for %s to create its ClusterIPAM (spec.clusterIPAMRef)", ref))
		return
	}
	ipamRef := fmt.Sprintf("ClusterIPAM %s/%s", d.namespace, ipamName)
	obj, resolved, err := d.require(requiredClusterIPAM, k0rdentv1beta1.ClusterIPAMGVK.GroupVersion().String(), k0rdentv1beta1.ClusterIPAMGVK.Kind, ipamName)
	switch {
	case err != nil:
		st.cond = waiting(fmt.Sprintf("cannot read %s: %v", ipamRef, err))
		return
	case !resolved:
		st.cond = waiting("waiting for " + ipamRef + " to be read")
		return
	case obj == nil:
		st.cond = waiting(fmt.Sprintf("waiting for %s (named by %s) to exist", ipamRef, ref))
		return
	}
	phase, _ := obj.GetString("status.phase")
	bc := obj.GetCondition(ConditionBound)
	reason, msg := string(bc.Reason), bc.Message
	switch {
	case phase == PhaseFailed:
		st.cond = condition{status: fnv1.Status_STATUS_CONDITION_FALSE, reason: ReasonIPAMFailed, warn: true,
			message: fmt.Sprintf("%s failed: %s", ipamRef, msg)}
		return
	case phase != PhaseBound || !claimBound:
		m := fmt.Sprintf("waiting for %s to be bound (claim bound: %t, ClusterIPAM phase: %q)", ref, claimBound, phase)
		if msg != "" {
			m += ": " + msg
		}
		st.cond = waiting(m)
		return
	}

	entries := map[string]map[string]any{}
	if v, err := obj.GetValue("status.providerData"); err == nil {
		data, _ := v.([]any)
		for _, e := range data {
			if m, ok := e.(map[string]any); ok {
				if n, _ := m["name"].(string); n != "" {
					entries[n] = m
				}
			}
		}
	}
	node := fieldpath.Pave(entries["ipPool"])
	kind, _ := node.GetString("config.kind")
	name, _ := node.GetString("config.name")
	if kind == "" || name == "" {
		st.cond = waiting(fmt.Sprintf("waiting for %s to publish its ipPool (status.providerData)", ipamRef))
		return
	}
	group, _ := node.GetString("config.apiGroup")
	gateway, _ := node.GetString("gateway")
	addresses, _ := node.GetStringArray("addresses")
	st.pool = &infrastructure.Pool{Ref: map[string]any{"apiGroup": group, "kind": kind, "name": name}, Gateway: gateway}
	st.poolSize = countAddresses(addresses)
	if cn, _ := fieldpath.Pave(entries["clusterNetwork"]).GetStringArray("addresses"); len(cn) > 0 {
		st.endpoints = append(st.endpoints, firstAddress(cn[0]))
	}
	if len(addresses) > 0 {
		st.endpoints = append(st.endpoints, firstAddress(addresses[0]))
	}
	poolRef := fmt.Sprintf("%s %s", kind, name)
	if st.poolSize < d.nodes() {
		st.cond = condition{status: fnv1.Status_STATUS_CONDITION_FALSE, reason: ReasonNotEnoughAddresses, warn: true,
			message: fmt.Sprintf("%s holds %d addresses, fewer than the %d nodes (%d control plane + %d workers): no machines are created until %s holds enough",
				poolRef, st.poolSize, d.nodes(), d.controlPlanes, d.workers, ipamRef)}
		return
	}
	st.ready = true
	st.cond = condition{status: fnv1.Status_STATUS_CONDITION_TRUE, reason: ReasonBound,
		message: fmt.Sprintf("%s is bound: %s holds %d addresses for %d nodes", ipamRef, poolRef, st.poolSize, d.nodes())}
	if reason == ReasonReleasingAddresses {
		// Scaled down: the addresses of machines still being removed are
		// kept until they go.
		st.cond.reason = ReasonReleasingAddresses
		st.cond.message += "; " + ipamRef + ": " + msg
	}
}

func waiting(msg string) condition {
	return condition{status: fnv1.Status_STATUS_CONDITION_FALSE, reason: ReasonWaitingForIPAM, message: msg}
}

// require asks Crossplane for the object of kind named name in the
// deployment's namespace. It returns nil when Crossplane found none;
// resolved is false until Crossplane has answered.
func (d *deployment) require(key, apiVersion, kind, name string) (*composed.Unstructured, bool, error) {
	if d.rsp.Requirements == nil {
		d.rsp.Requirements = &fnv1.Requirements{}
	}
	if d.rsp.Requirements.Resources == nil {
		d.rsp.Requirements.Resources = map[string]*fnv1.ResourceSelector{}
	}
	ns := d.namespace
	d.rsp.Requirements.Resources[key] = &fnv1.ResourceSelector{
		ApiVersion: apiVersion, Kind: kind,
		Match:     &fnv1.ResourceSelector_MatchName{MatchName: name},
		Namespace: &ns,
	}
	items, resolved, err := request.GetRequiredResource(d.req, key)
	if err != nil || !resolved || len(items) == 0 {
		return nil, resolved, err
	}
	// Crossplane answers a requirement that changed (another name) only on
	// the next call: never use an object of another name.
	if items[0].Resource.GetName() != name {
		return nil, false, nil
	}
	return &composed.Unstructured{Unstructured: *items[0].Resource}, true, nil
}

// objectReady tells whether an observed cluster object is ready: templates
// once they exist, the others once Available (CAPI v1beta2) or Ready.
func (d *deployment) objectReady(o infrastructure.Object) bool {
	oc, ok := d.observed[o.Name]
	if !ok || oc.Resource == nil {
		return false
	}
	if o.Template {
		return true
	}
	for _, t := range []string{"Available", "Ready"} {
		if oc.Resource.GetCondition(xpv1.ConditionType(t)).Status == "True" {
			return true
		}
	}
	return false
}

// keepObserved desires the existing cluster objects as they are.
func (d *deployment) keepObserved() {
	for _, obj := range d.objects {
		oc, ok := d.observed[obj.Name]
		if !ok || oc.Resource == nil {
			continue
		}
		o := oc.Resource
		cd := newComposed(o.GroupVersionKind(), o.GetNamespace(), o.GetName())
		cd.SetLabels(o.GetLabels())
		if spec, ok := o.Object["spec"]; ok {
			cd.Object["spec"] = runtime.DeepCopyJSONValue(spec)
		}
		d.out.composed[obj.Name] = &resource.DesiredComposed{Resource: cd, Ready: readiness(d.objectReady(obj))}
	}
}

// dryRun composes nothing new and reports what would be created and whether
// the addresses fit.
func (d *deployment) dryRun(st ipamState, claim *resource.DesiredComposed, supported bool) {
	var would []any
	if claim != nil {
		would = append(would, fmt.Sprintf("%s/%s", k0rdentv1beta1.ClusterIPAMClaimGVK.Kind, claim.Resource.GetName()))
	}
	if supported {
		for _, o := range d.objects {
			would = append(would, fmt.Sprintf("%s/%s", o.Resource.GetKind(), o.Resource.GetName()))
		}
	}

	needed := int64(0)
	if st.used {
		needed = d.nodes()
	}
	// available is -1 when it cannot be told.
	available, fits := int64(-1), false
	switch {
	case !st.used:
		available, fits = 0, true
	case st.pool != nil && st.poolSize >= needed:
		available, fits = st.poolSize, true
	default:
		if n, ok := spaceSize(st.space); ok {
			available, fits = n, n >= needed
		}
	}
	report := map[string]any{"wouldCreate": would, "addressesNeeded": needed, "fits": fits, "addressesAvailable": available}
	availableText := fmt.Sprint(available)
	if available < 0 {
		report["addressesAvailable"], availableText = unknown, unknown
	}
	d.out.status["dryRun"] = report

	names := make([]string, len(would))
	for i, w := range would {
		names[i] = w.(string)
	}
	msg := fmt.Sprintf("dry run: nothing is created; would create %s; %d addresses needed, %s available", strings.Join(names, ", "), needed, availableText)
	c := condition{typ: ConditionDryRun, status: fnv1.Status_STATUS_CONDITION_TRUE, reason: ReasonFits, message: msg}
	switch {
	case available < 0:
		c.status, c.reason = fnv1.Status_STATUS_CONDITION_FALSE, ReasonAddressesUnknown
	case !fits:
		c.status, c.reason = fnv1.Status_STATUS_CONDITION_FALSE, ReasonNotEnoughAddresses
	}
	d.out.extra = append(d.out.extra, c)
	d.keepObserved()
	if oc, ok := d.observed[nameIPAMClaim]; ok && oc.Resource != nil && claim != nil {
		// An inline claim made before dryRun was set stays.
		d.out.composed[nameIPAMClaim] = claim
	}
}

// spaceSize counts the usable addresses of a node network as written.
func spaceSize(raw map[string]any) (int64, bool) {
	if raw == nil {
		return 0, false
	}
	var s commonv1alpha1.AddressSpace
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &s); err != nil {
		return 0, false
	}
	sp, err := addressing.ParseSpace(addressing.SpecOf(s))
	if err != nil {
		return 0, false
	}
	return int64(min(sp.Size(), uint64(1)<<62)), true
}

// countAddresses counts a providerData address list whose entries are
// addresses, CIDRs or ranges; entries that do not parse count as none.
func countAddresses(addrs []string) int64 {
	var n uint64
	for _, a := range addrs {
		r, err := addressing.ParseRange("addresses", a)
		if err != nil {
			continue
		}
		n += min(addressing.RangeSize(r), uint64(1)<<40)
	}
	return int64(min(n, uint64(1)<<62))
}

// firstAddress is the first address of an address, CIDR or range entry.
func firstAddress(entry string) string {
	r, err := addressing.ParseRange("addresses", entry)
	if err != nil {
		return entry
	}
	return r.From().String()
}
