package function

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/request"
	"github.com/crossplane/function-sdk-go/resource"
	"go4.org/netipx"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	ipamv1alpha1 "github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
	"github.com/provider-ipam/provider-ipam/internal/addressing"
	"github.com/provider-ipam/provider-ipam/internal/function/infrastructure"
)

const (
	// requiredClusterDeployment names the required resource that carries
	// the node count.
	requiredClusterDeployment = "clusterDeployment"

	// defaultNodeNumber is k0rdent's vSphere template default for both the
	// control-plane and the worker count.
	defaultNodeNumber = 1

	// maxInfobloxObjects bounds the Infoblox Reservations of one network: an
	// IPPool references at most 64 reservations.
	maxInfobloxObjects = 64
)

// releasingNote tells people why a Bound ClusterIPAM holds more addresses
// than its cluster needs; the Bound reason ReasonReleasingAddresses says it
// to the ClusterDeployment.
const releasingNote = "releasing the addresses the cluster no longer needs as their machines go"

// A network is one address space of a ClusterIPAM and how it is composed.
type network struct {
	field string        // spec field, e.g. nodeNetwork
	key   resource.Name // composed-resource name (prefix), e.g. node
	entry string        // its status.providerData entry
	raw   map[string]any
	space commonv1alpha1.AddressSpace
	gvk   schema.GroupVersionKind // of its Reservations
	parts []resource.Name         // its Reservations, in order
	// releasing says why it keeps more Reservations than asked.
	releasing []string
}

var networkFields = []struct {
	field string
	key   resource.Name
	entry string
}{
	{"nodeNetwork", nameNode, "ipPool"},
	{"clusterNetwork", nameCluster, "clusterNetwork"},
	{"externalNetwork", nameExternal, "externalNetwork"},
}

// A clusterIPAM composes one ClusterIPAM XR.
type clusterIPAM struct {
	namespace, name string
	spec            map[string]any
	observed        map[resource.Name]resource.ObservedComposed
	nodes           int64 // node addresses the cluster needs, 0 when unknown
	out             *result
}

// composeClusterIPAM composes a ClusterIPAM's Reservations in backend (its
// Composition's, from the function input) and, once the node addresses are
// held, the CAPI pool that machines claim them from.
func composeClusterIPAM(req *fnv1.RunFunctionRequest, rsp *fnv1.RunFunctionResponse, oxr *resource.Composite, observed map[resource.Name]resource.ObservedComposed, backend string) (*result, error) {
	xr := oxr.Resource
	spec, _ := xr.Object["spec"].(map[string]any)
	provider, _ := spec["provider"].(string)
	cluster, _ := spec["cluster"].(string)

	var gvk schema.GroupVersionKind
	switch backend {
	case k0rdentv1beta1.ProviderInCluster:
		gvk = inclusterv1alpha1.ReservationGroupVersionKind
	case k0rdentv1beta1.ProviderInfoblox:
		gvk = infobloxv1alpha1.ReservationGroupVersionKind
	default:
		return nil, fmt.Errorf("the Composition's function input sets backend %q, not one of %s, %s", backend, k0rdentv1beta1.ProviderInCluster, k0rdentv1beta1.ProviderInfoblox)
	}
	if provider != backend {
		// A ClusterIPAM reaches this Composition through the selector its
		// claim's Composition sets from spec.provider, or through a
		// compositionRef written by hand: never draw addresses from a
		// backend other than the one asked for.
		return nil, fmt.Errorf("spec.provider is %q but this Composition holds addresses in %s: select the Composition labelled %s=%s", provider, backend, ProviderLabel, provider)
	}

	nodes, resolved, err := nodeCount(req, rsp, xr.GetNamespace(), cluster)
	if err != nil {
		return nil, err
	}

	c := &clusterIPAM{
		namespace: xr.GetNamespace(), name: xr.GetName(), spec: spec, observed: observed, nodes: nodes,
		out: &result{composed: map[resource.Name]*resource.DesiredComposed{}},
	}
	var nets []*network
	for _, f := range networkFields {
		raw, ok := spec[f.field].(map[string]any)
		if !ok {
			continue
		}
		n := &network{field: f.field, key: f.key, entry: f.entry, raw: raw, gvk: gvk}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &n.space); err != nil {
			return nil, fmt.Errorf("cannot read spec.%s: %w", f.field, err)
		}
		nets = append(nets, n)
	}
	if len(nets) == 0 || nets[0].key != nameNode {
		return nil, errors.New("spec.nodeNetwork is required")
	}

	var invalid []string
	if node := nets[0].space; node.CIDR == "" && node.Prefix == 0 {
		invalid = append(invalid, "spec.nodeNetwork: prefix is required with ipAddresses: machines get their netmask from it")
	}
	for _, n := range nets {
		// What CEL cannot afford at admission (ranges inside the network,
		// overlaps, a listed gateway) is refused before anything is held.
		sp, err := addressing.ParseSpace(addressing.SpecOf(n.space))
		if err != nil {
			invalid = append(invalid, fmt.Sprintf("spec.%s: %v", n.field, err))
			continue
		}
		if backend == k0rdentv1beta1.ProviderInCluster {
			c.inCluster(n)
		} else if err := c.infoblox(n, sp); err != nil {
			invalid = append(invalid, fmt.Sprintf("spec.%s: %v", n.field, err))
		}
	}
	c.status(nets, invalid)

	if !resolved {
		// Crossplane calls again with the ClusterDeployment; until then
		// create nothing whose size depends on it.
		c.out.keepOnlyObserved(observed)
	}
	return c.out, nil
}

// nodeCount asks Crossplane for the XR's ClusterDeployment and reads how
// many nodes it has: controlPlaneNumber + workersNumber (k0rdent's vSphere
// template values), 0 when there is none. resolved is false until
// Crossplane has answered the requirement.
func nodeCount(req *fnv1.RunFunctionRequest, rsp *fnv1.RunFunctionResponse, namespace, cluster string) (nodes int64, resolved bool, err error) {
	if cluster == "" {
		return 0, true, nil
	}
	if rsp.Requirements == nil {
		rsp.Requirements = &fnv1.Requirements{}
	}
	if rsp.Requirements.Resources == nil {
		rsp.Requirements.Resources = map[string]*fnv1.ResourceSelector{}
	}
	rsp.Requirements.Resources[requiredClusterDeployment] = &fnv1.ResourceSelector{
		ApiVersion: k0rdentv1beta1.ClusterDeploymentGVK.GroupVersion().String(),
		Kind:       k0rdentv1beta1.ClusterDeploymentGVK.Kind,
		Match:      &fnv1.ResourceSelector_MatchName{MatchName: cluster},
		Namespace:  &namespace,
	}
	items, resolved, err := request.GetRequiredResource(req, requiredClusterDeployment)
	if err != nil {
		return 0, false, fmt.Errorf("cannot read ClusterDeployment %s/%s: %w", namespace, cluster, err)
	}
	if !resolved || len(items) == 0 {
		return 0, resolved, nil
	}
	spec, _ := items[0].Resource.Object["spec"].(map[string]any)
	config, _ := spec["config"].(map[string]any)
	cp, workers, err := nodeCounts(config)
	if err != nil {
		return 0, true, fmt.Errorf("ClusterDeployment %s/%s: %w", namespace, cluster, err)
	}
	return max(cp+workers, 1), true, nil
}

// nodeCounts reads a ClusterDeployment's node counts from its spec.config
// (k0rdent's vSphere template values controlPlaneNumber and workersNumber):
// each is the template default when unset, and neither alone nor together
// may they exceed what one network can reserve.
func nodeCounts(config map[string]any) (controlPlanes, workers int64, err error) {
	counts := [2]int64{}
	for i, key := range []string{"controlPlaneNumber", "workersNumber"} {
		v, found, err := infrastructure.Integer(config, key)
		switch {
		case err != nil:
			return 0, 0, fmt.Errorf("spec.config.%s: %w", key, err)
		case !found:
			v = defaultNodeNumber
		case v < 0:
			return 0, 0, fmt.Errorf("spec.config.%s is negative (%d)", key, v)
		case v > inclusterv1alpha1.MaxAddresses:
			// Bounded alone, two counts cannot overflow when added.
			return 0, 0, fmt.Errorf("spec.config.%s is %d, more than the %d nodes one network can reserve", key, v, inclusterv1alpha1.MaxAddresses)
		}
		counts[i] = v
	}
	if total := counts[0] + counts[1]; total > inclusterv1alpha1.MaxAddresses {
		return 0, 0, fmt.Errorf("spec.config asks for %d nodes, more than the %d one network can reserve", total, inclusterv1alpha1.MaxAddresses)
	}
	return counts[0], counts[1], nil
}

// inCluster composes one in-cluster Reservation for n: the whole space, or
// for the node network the cluster's node count when it is known. Both are
// all or nothing in the provider, so a network is never half held.
func (c *clusterIPAM) inCluster(n *network) {
	fp := map[string]any{"space": runtime.DeepCopyJSONValue(n.raw)}
	switch count := c.observedCount(n.key); {
	case n.key != nameNode:
		fp["allAddresses"] = true
	case c.nodes > 0:
		// One address per node. A shrink (fewer nodes, or the whole space
		// held before the deployment was known) releases only addresses no
		// machine holds; the provider gives back the others as their
		// machines go.
		fp["count"] = c.nodes
	case count > 0:
		// The deployment is gone or not known any more: keep what is held.
		fp["count"] = count
	default:
		// Unknown node count: the whole space, as k0rdent's in-cluster pool
		// does; two claims of one space then conflict instead of sharing.
		fp["allAddresses"] = true
	}
	cd := newComposed(n.gvk, c.namespace, c.objectName(n.key))
	cd.Object["spec"] = map[string]any{"forProvider": fp}
	n.parts = []resource.Name{n.key}
	c.out.composed[n.key] = &resource.DesiredComposed{Resource: cd, Ready: readiness(observe(c.observed, n.key).ready)}
}

// observedCount is the count the existing in-cluster Reservation of key
// holds, 0 if none.
func (c *clusterIPAM) observedCount(key resource.Name) int64 {
	oc, ok := c.observed[key]
	if !ok || oc.Resource == nil {
		return 0
	}
	count, _ := oc.Resource.GetInteger("spec.forProvider.count")
	return count
}

// infoblox composes one Infoblox Reservation per address n needs: with
// ipAddresses, one per listed address; with cidr, the node count (k0rdent's
// template defaults when unknown) for the node network and one address for
// the others. A network never loses a Reservation it already has.
func (c *clusterIPAM) infoblox(n *network, sp addressing.Space) error {
	base := map[string]any{"claim": c.claim()}
	if cluster, _ := c.spec["cluster"].(string); cluster != "" {
		base["cluster"] = cluster
	}
	if n.space.Gateway != "" {
		base["gateway"] = n.space.Gateway
	}
	if n.space.Prefix > 0 {
		base["prefix"] = int64(n.space.Prefix)
	}

	// params by Reservation index: a network's Reservations are numbered
	// from 0, with gaps once a scale-down dropped some.
	params := map[int]map[string]any{}
	if n.space.CIDR != "" {
		want := 1
		if n.key == nameNode {
			want = int(c.nodes)
			if c.nodes == 0 {
				want = max(2*defaultNodeNumber, len(c.observedParts(n.key)))
			}
		}
		base["network"] = n.space.CIDR
		// The gateway is never handed out.
		if gw := sp.Gateway(); gw.IsValid() && netip.MustParsePrefix(n.space.CIDR).Contains(gw) {
			base["exclude"] = []any{n.space.Gateway}
		}
		for _, i := range c.keepParts(n, want) {
			params[i] = cloneMap(base)
		}
	} else {
		addrs, err := sp.Addrs(maxInfobloxObjects)
		if err != nil {
			return err
		}
		for i, a := range addrs {
			p := cloneMap(base)
			p["address"] = a.String()
			params[i] = p
		}
	}

	pcr := map[string]any{"kind": "ClusterProviderConfig", "name": "default"}
	if ref, ok := c.spec["providerConfigRef"].(map[string]any); ok {
		pcr = runtime.DeepCopyJSONValue(ref).(map[string]any)
	}
	indices := slices.Sorted(maps.Keys(params))
	for _, i := range indices {
		p := params[i]
		key := resource.Name(fmt.Sprintf("%s-%d", n.key, i))
		cd := newComposed(n.gvk, c.namespace, c.objectName(key))
		cd.Object["spec"] = map[string]any{"forProvider": p, "providerConfigRef": runtime.DeepCopyJSONValue(pcr)}
		n.parts = append(n.parts, key)
		c.out.composed[key] = &resource.DesiredComposed{Resource: cd, Ready: readiness(observe(c.observed, key).ready)}
	}
	return nil
}

// observedParts lists, sorted, the indices of the existing Infoblox
// Reservations of key ("<key>-<index>") that are not being deleted.
func (c *clusterIPAM) observedParts(key resource.Name) []int {
	var out []int
	prefix := string(key) + "-"
	for name, oc := range c.observed {
		i, err := strconv.Atoi(strings.TrimPrefix(string(name), prefix))
		if !strings.HasPrefix(string(name), prefix) || err != nil || i < 0 || oc.Resource == nil || oc.Resource.GetDeletionTimestamp() != nil {
			continue
		}
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// keepParts picks the indices of the want Reservations n is made of. It
// keeps the existing ones; to grow it adds the lowest free indices, and to
// shrink it drops, highest first, those whose address no machine holds (by
// the pool's status.inUse). Those a machine holds stay, noted as releasing,
// until it lets go.
func (c *clusterIPAM) keepParts(n *network, want int) []int {
	have := c.observedParts(n.key)
	if len(have) <= want {
		for i := 0; len(have) < want; i++ {
			if !slices.Contains(have, i) {
				have = append(have, i)
			}
		}
		slices.Sort(have)
		return have
	}
	inUse, known := c.poolInUse()
	keep := slices.Clone(have)
	for j := len(have) - 1; j >= 0 && len(keep) > want; j-- {
		key := resource.Name(fmt.Sprintf("%s-%d", n.key, have[j]))
		addrs := observe(c.observed, key).addresses
		if !known || slices.ContainsFunc(addrs, func(a string) bool { return inUse.Contains(parseAddr(a)) }) {
			continue
		}
		keep = slices.DeleteFunc(keep, func(i int) bool { return i == have[j] })
	}
	if extra := len(keep) - want; extra > 0 {
		n.releasing = append(n.releasing, fmt.Sprintf("%d of the %d Reservations of spec.%s hold addresses still in use by machines", extra, len(keep), n.field))
	}
	return keep
}

// poolInUse reads the addresses the node pool has handed out; known is
// false when it cannot be told (a pool with addresses in use that does not
// list them).
func (c *clusterIPAM) poolInUse() (set *netipx.IPSet, known bool) {
	var b netipx.IPSetBuilder
	oc, ok := c.observed[namePool]
	if !ok || oc.Resource == nil {
		s, _ := b.IPSet()
		return s, true
	}
	used, _ := oc.Resource.GetInteger("status.used")
	list, err := oc.Resource.GetStringArray("status.inUse")
	if err != nil && used > 0 {
		return nil, false
	}
	for _, e := range list {
		r, err := addressing.ParseRange("inUse", e)
		if err != nil {
			return nil, false
		}
		b.AddRange(r)
	}
	s, err := b.IPSet()
	return s, err == nil
}

func parseAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

func (c *clusterIPAM) claim() string {
	claim, _ := c.spec["clusterIPAMClaimRefs"].(string)
	if claim == "" {
		claim = c.name
	}
	return c.namespace + "/" + claim
}

func (c *clusterIPAM) objectName(key resource.Name) string {
	return c.name + "-" + string(key)
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// A netState sums up the Reservations of one network.
type netState struct {
	ready     bool // every Reservation is ready and holds its addresses
	failures  []string
	releasing []string // Reservations giving back addresses as machines go
	reason    string
	waiting   []string
	addresses []string
	prefix    int64
	gateway   string
}

func (c *clusterIPAM) observeNetwork(n *network) netState {
	s := netState{ready: len(n.parts) > 0}
	for _, key := range n.parts {
		o := observe(c.observed, key)
		ref := fmt.Sprintf("Reservation %s/%s", c.namespace, c.objectName(key))
		switch {
		case o.reason != "":
			s.failures = append(s.failures, ref+": "+o.message)
			if s.reason == "" {
				s.reason = o.reason
			}
		// Created or not, the XR waits for the same thing: one message for
		// both keeps its condition from changing (and costing Crossplane
		// status writes and reconciles) when a read of the Reservation lags.
		case !o.exists, !o.ready || len(o.addresses) == 0:
			w := ref + " to be ready"
			if o.message != "" {
				w += " (" + o.message + ")"
			}
			s.waiting = append(s.waiting, w)
		}
		if !o.ready || len(o.addresses) == 0 {
			s.ready = false
		}
		if len(o.releasing) > 0 {
			s.releasing = append(s.releasing, fmt.Sprintf("%s: %s still in use by machines", ref, strings.Join(o.releasing, ",")))
		}
		s.addresses = append(s.addresses, o.addresses...)
		if s.prefix == 0 {
			s.prefix = o.prefix
		}
		if s.gateway == "" {
			s.gateway = o.gateway
		}
	}
	// Fall back to what the user wrote when the provider publishes none.
	if s.prefix == 0 {
		s.prefix = int64(n.space.Prefix)
		if pfx, err := netip.ParsePrefix(n.space.CIDR); err == nil && s.prefix == 0 {
			s.prefix = int64(pfx.Bits())
		}
	}
	if s.gateway == "" {
		s.gateway = n.space.Gateway
	}
	return s
}

// status composes the pool once the node addresses are held, and sets the
// phase, the providerData and the Bound condition. invalid lists networks
// that cannot be composed at all.
func (c *clusterIPAM) status(nets []*network, invalid []string) {
	var (
		failures  = invalid
		reason    string
		waiting   []string
		releasing []string
		data      []any
	)
	if len(invalid) > 0 {
		reason = ReasonInvalidSpace
	}
	for _, n := range nets {
		s := c.observeNetwork(n)
		failures = append(failures, s.failures...)
		if reason == "" {
			reason = s.reason
		}
		waiting = append(waiting, s.waiting...)
		releasing = append(releasing, s.releasing...)
		releasing = append(releasing, n.releasing...)

		entry := map[string]any{"name": n.entry, "ready": s.ready}
		if len(s.addresses) > 0 && s.ready {
			entry["addresses"] = anySlice(s.addresses)
		}
		if s.prefix > 0 {
			entry["prefix"] = s.prefix
		}
		if s.gateway != "" {
			entry["gateway"] = s.gateway
		}
		if n.key == nameNode {
			ready, w := c.pool(n, s)
			entry["ready"] = ready && s.ready
			entry["config"] = map[string]any{"apiGroup": ipamv1alpha1.IPPoolGroupVersionKind.Group, "kind": ipamv1alpha1.IPPoolGroupVersionKind.Kind, "name": c.objectName(nameNode)}
			if w != "" && len(s.waiting) == 0 && len(s.failures) == 0 {
				waiting = append(waiting, w)
			}
		} else {
			names := make([]string, len(n.parts))
			for i, k := range n.parts {
				names[i] = c.objectName(k)
			}
			entry["config"] = map[string]any{"apiGroup": n.gvk.Group, "kind": n.gvk.Kind, "names": anySlice(names)}
		}
		data = append(data, entry)
	}

	out := c.out
	out.status = map[string]any{"providerData": data}
	switch {
	case len(failures) > 0:
		// Nothing new is created for a claim that cannot be met; what is
		// held stays held until the claim is deleted or the failing
		// Reservation succeeds (the provider keeps retrying it).
		out.keepOnlyObserved(c.observed)
		out.status["phase"] = PhaseFailed
		out.condition = condition{status: fnv1.Status_STATUS_CONDITION_FALSE, reason: reason, message: strings.Join(failures, "; ")}
	case len(waiting) > 0:
		out.status["phase"] = PhasePending
		out.condition = condition{status: fnv1.Status_STATUS_CONDITION_FALSE, reason: ReasonPending, message: "waiting for " + strings.Join(waiting, ", ")}
	default:
		out.status["phase"] = PhaseBound
		out.condition = condition{status: fnv1.Status_STATUS_CONDITION_TRUE, reason: ReasonBound, message: "all addresses are held and the IPPool is ready"}
		if len(releasing) > 0 {
			out.condition.reason = ReasonReleasingAddresses
			out.condition.message += "; " + releasingNote + ": " + strings.Join(releasing, "; ")
		}
	}
}

// pool composes the node network's IPPool once every node Reservation is
// ready, and keeps it afterwards. It returns whether the pool is ready and,
// if not, what the XR waits for.
func (c *clusterIPAM) pool(n *network, s netState) (bool, string) {
	ref := fmt.Sprintf("IPPool %s/%s", c.namespace, c.objectName(nameNode))
	existing, exists := c.observed[namePool]
	if !s.ready && !exists {
		return false, ref + " to be ready"
	}

	var spec map[string]any
	if s.ready {
		refs := make([]any, len(n.parts))
		for i, k := range n.parts {
			refs[i] = map[string]any{"apiVersion": n.gvk.GroupVersion().String(), "kind": n.gvk.Kind, "name": c.objectName(k)}
		}
		spec = map[string]any{"addresses": anySlice(compact(s.addresses)), "reservationRefs": refs}
		if s.prefix > 0 {
			spec["prefix"] = s.prefix
		}
		if s.gateway != "" {
			spec["gateway"] = s.gateway
		}
	} else {
		// A Reservation went unready after the pool was made: keep the
		// pool as it is rather than publish a partial address list.
		spec, _ = runtime.DeepCopyJSONValue(existing.Resource.Object["spec"]).(map[string]any)
	}
	cd := newComposed(ipamv1alpha1.IPPoolGroupVersionKind, c.namespace, c.objectName(nameNode))
	cd.Object["spec"] = spec
	ready := observe(c.observed, namePool).ready
	c.out.composed[namePool] = &resource.DesiredComposed{Resource: cd, Ready: readiness(ready)}
	if !ready {
		return false, ref + " to be ready" + poolNote(existing, exists)
	}
	return true, ""
}

// poolNote says, for people, why an existing pool is not ready: its Ready
// condition's message, or, when nothing has reported on it, where its
// controller comes from. The provider serves IPPools only once Cluster
// API's IPAM kinds are installed; without them a pool would wait with no
// word.
func poolNote(pool resource.ObservedComposed, exists bool) string {
	if !exists || pool.Resource == nil {
		return ""
	}
	c := pool.Resource.GetCondition(xpv1.TypeReady)
	switch {
	case c.Status == "":
		return " (nothing reports on it yet: provider-ipam's IPPool controller runs once Cluster API's IPAM CRDs, ipam.cluster.x-k8s.io, are installed)"
	case c.Message != "":
		return " (" + c.Message + ")"
	}
	return ""
}

// compact writes addresses as sorted runs ("10.0.0.2-10.0.0.254"): an
// IPPool lists at most 1024 entries, and a whole /16 is one range. Anything
// that does not parse is passed through for the pool to report.
func compact(addrs []string) []string {
	parsed := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return addrs
		}
		parsed = append(parsed, ip)
	}
	slices.SortFunc(parsed, netip.Addr.Compare)
	parsed = slices.Compact(parsed)
	return strings.Split(addressing.FormatAddrs(parsed), ",")
}
