package function

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/crossplane/function-sdk-go/logging"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/google/go-cmp/cmp"

	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
)

const (
	xrName = "team-a-cluster"
	xrNS   = "team-a"
)

// claimXR and ipamXR build observed composites; extra is merged into spec.
func claimXR(provider string, extra string) string {
	return fmt.Sprintf(`{"apiVersion":"k0rdent.mirantis.com/v1beta1","kind":"ClusterIPAMClaim",
		"metadata":{"name":%q,"namespace":%q},
		"spec":{"provider":%q,"nodeNetwork":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1","prefix":24},"cluster":"c1"%s}}`,
		xrName, xrNS, provider, extra)
}

func ipamXR(provider, spec string) string {
	return fmt.Sprintf(`{"apiVersion":"k0rdent.mirantis.com/v1beta1","kind":"ClusterIPAM",
		"metadata":{"name":%q,"namespace":%q},
		"spec":{"provider":%q,"clusterIPAMClaimRefs":%q%s}}`, xrName, xrNS, provider, xrName, spec)
}

const (
	cidrNode = `,"nodeNetwork":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"}`
	listNode = `,"nodeNetwork":{"ipAddresses":["10.0.0.10","10.0.0.20-10.0.0.21"],"gateway":"10.0.0.1","prefix":24}`
	withC1   = `,"cluster":"c1"`
)

// clusterDeployment is a k0rdent ClusterDeployment with config (JSON object
// members) e.g. `"controlPlaneNumber":3,"workersNumber":2`.
func clusterDeployment(config string) string {
	return fmt.Sprintf(`{"apiVersion":"k0rdent.mirantis.com/v1beta1","kind":"ClusterDeployment",
		"metadata":{"name":"c1","namespace":%q},"spec":{"template":"vsphere","config":{%s}}}`, xrNS, config)
}

// reservation is an observed Reservation; status holds its conditions and
// atProvider, spec its forProvider.
func reservation(gvk, name, forProvider, status string) string {
	return fmt.Sprintf(`{"apiVersion":%q,"kind":"Reservation","metadata":{"name":%q,"namespace":%q},
		"spec":{"forProvider":%s},"status":%s}`, gvk, name, xrNS, forProvider, status)
}

const (
	inClusterAV = "incluster.ipam.provider-ipam.io/v1alpha1"
	infobloxAV  = "infoblox.ipam.provider-ipam.io/v1alpha1"
)

func readyStatus(atProvider string) string {
	return fmt.Sprintf(`{"conditions":[{"type":"Ready","status":"True","reason":"Available"},{"type":"Synced","status":"True","reason":"ReconcileSuccess"}],"atProvider":%s}`, atProvider)
}

// failedStatus is the status of a Reservation whose create failed with msg;
// atProvider says why in the fields the function reads.
func failedStatus(msg, atProvider string) string {
	return fmt.Sprintf(`{"conditions":[{"type":"Ready","status":"False","reason":"Creating"},{"type":"Synced","status":"False","reason":"ReconcileError","message":%q}],"atProvider":%s}`, msg, atProvider)
}

// Why a Reservation cannot be satisfied, as the provider publishes it.
const (
	shortfallAtProvider = `{"prefix":24,"gateway":"10.0.0.1","shortfall":{"requested":253,"usable":253,"held":3,"free":250}}`
	conflictAtProvider  = `{"prefix":24,"gateway":"10.0.0.1","conflict":{"address":"10.0.0.2"}}`
	ibShortfall         = `{"shortfall":{"requested":1,"free":0}}`
)

func pool(ready bool) string {
	st := "False"
	if ready {
		st = "True"
	}
	return fmt.Sprintf(`{"apiVersion":"ipam.provider-ipam.io/v1alpha1","kind":"IPPool","metadata":{"name":%q,"namespace":%q},
		"spec":{"addresses":["10.0.0.2","10.0.0.3"],"prefix":24,"gateway":"10.0.0.1"},
		"status":{"conditions":[{"type":"Ready","status":%q}]}}`, xrName+"-node", xrNS, st)
}

type input struct {
	xr       string
	observed map[string]string
	required map[string][]string // nil: nothing resolved yet
	// fnInput is the Composition step's function input as JSON; empty
	// gives what the configuration package's Composition for the XR sets
	// (the backend of spec.provider, the vsphere infrastructure), noInput
	// none at all.
	fnInput string
}

const noInput = "-"

func (r input) build() *fnv1.RunFunctionRequest {
	req := &fnv1.RunFunctionRequest{
		Meta:     &fnv1.RequestMeta{Tag: "test"},
		Observed: &fnv1.State{Composite: &fnv1.Resource{Resource: resource.MustStructJSON(r.xr)}, Resources: map[string]*fnv1.Resource{}},
	}
	switch in := r.fnInput; in {
	case noInput:
	case "":
		req.Input = resource.MustStructJSON(compositionInput(req.GetObserved().GetComposite().GetResource().AsMap()))
	default:
		req.Input = resource.MustStructJSON(in)
	}
	for name, o := range r.observed {
		req.Observed.Resources[name] = &fnv1.Resource{Resource: resource.MustStructJSON(o)}
	}
	if r.required != nil {
		req.RequiredResources = map[string]*fnv1.Resources{}
		for name, items := range r.required {
			rs := &fnv1.Resources{}
			for _, i := range items {
				rs.Items = append(rs.Items, &fnv1.Resource{Resource: resource.MustStructJSON(i)})
			}
			req.RequiredResources[name] = rs
		}
	}
	return req
}

// compositionInput is the function input of the configuration package's
// Composition for xr.
func compositionInput(xr map[string]any) string {
	const head = `"apiVersion":"function.ipam.provider-ipam.io/v1beta1","kind":"Input"`
	switch xr["kind"] {
	case "ClusterIPAM":
		provider, _ := xr["spec"].(map[string]any)["provider"].(string)
		return fmt.Sprintf(`{%s,"backend":%q}`, head, provider)
	case "ClusterDeployment":
		return `{` + head + `,"infrastructure":"vsphere"}`
	}
	return `{` + head + `}`
}

// got is a response in plain maps, for comparisons.
type got struct {
	composed   map[string]map[string]any
	ready      map[string]fnv1.Ready
	status     map[string]any
	conditions []*fnv1.Condition
	results    []*fnv1.Result
	rsp        *fnv1.RunFunctionResponse
}

func run(t *testing.T, r input) got {
	t.Helper()
	f := &Function{Log: logging.NewNopLogger()}
	rsp, err := f.RunFunction(context.Background(), r.build())
	if err != nil {
		t.Fatalf("RunFunction: %v", err)
	}
	g := got{composed: map[string]map[string]any{}, ready: map[string]fnv1.Ready{}, conditions: rsp.GetConditions(), results: rsp.GetResults(), rsp: rsp}
	for name, res := range rsp.GetDesired().GetResources() {
		g.composed[name] = res.GetResource().AsMap()
		g.ready[name] = res.GetReady()
	}
	if xr := rsp.GetDesired().GetComposite().GetResource(); xr != nil {
		g.status, _ = xr.AsMap()["status"].(map[string]any)
	}
	return g
}

func (g got) names() []string {
	var out []string
	for n := range g.composed {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// field reads a dotted path from a composed resource, e.g. "spec.forProvider.count".
func (g got) field(t *testing.T, name, path string) any {
	t.Helper()
	obj, ok := g.composed[name]
	if !ok {
		t.Fatalf("resource %q not composed; have %v", name, g.names())
	}
	var cur any = obj
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func (g got) bound(t *testing.T) *fnv1.Condition {
	t.Helper()
	for _, c := range g.conditions {
		if c.GetType() == ConditionBound {
			return c
		}
	}
	t.Fatalf("no %s condition in %v", ConditionBound, g.conditions)
	return nil
}

func (g got) fatal() string {
	for _, r := range g.results {
		if r.GetSeverity() == fnv1.Severity_SEVERITY_FATAL {
			return r.GetMessage()
		}
	}
	return ""
}

func TestDeletionComposesNothingNew(t *testing.T) {
	xr := strings.Replace(ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode+`,"clusterNetwork":{"cidr":"10.0.1.0/30"}`),
		`"metadata":{`, `"metadata":{"deletionTimestamp":"2026-01-01T00:00:00Z",`, 1)
	g := run(t, input{xr: xr, observed: map[string]string{
		"node": reservation(inClusterAV, xrName+"-node", `{}`, readyStatus(`{"addresses":["10.0.0.2"]}`))}})
	if diff := cmp.Diff([]string{"node"}, g.names()); diff != "" {
		t.Errorf("composed (-want +got):\n%s", diff)
	}
	if c := g.bound(t); c.GetReason() != ReasonDeleting {
		t.Errorf("condition = %v", c)
	}
}

// The Composition decides what the function composes, through its typed
// input; an input that does not say, or that disagrees with the XR, is a
// fatal error that names the field, and nothing is composed.
func TestInputChoosesWhatIsComposed(t *testing.T) {
	const head = `"apiVersion":"function.ipam.provider-ipam.io/v1beta1","kind":"Input"`
	cases := map[string]struct {
		in   input
		want string
	}{
		"UnknownProvider": {
			input{xr: ipamXR("dhcp", cidrNode), fnInput: `{` + head + `,"backend":"in-cluster"}`},
			`spec.provider is "dhcp" but this Composition holds addresses in in-cluster`,
		},
		"ProviderOfAnotherComposition": {
			input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode), fnInput: `{` + head + `,"backend":"ipam-infoblox"}`},
			`spec.provider is "in-cluster" but this Composition holds addresses in ipam-infoblox: select the Composition labelled ipam.provider-ipam.io/provider=in-cluster`,
		},
		"UnknownBackend": {
			input{xr: ipamXR("dhcp", cidrNode), fnInput: `{` + head + `,"backend":"dhcp"}`},
			`the Composition's function input sets backend "dhcp", not one of in-cluster, ipam-infoblox`,
		},
		"ClusterIPAMWithoutInput": {
			input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode), fnInput: noInput},
			"cannot compose a ClusterIPAM: the Composition's function input sets no backend",
		},
		"ClusterDeploymentWithoutInfrastructure": {
			input{xr: clusterDeployment(`"workersNumber":1`), fnInput: `{` + head + `}`},
			`cannot compose a ClusterDeployment: the Composition's function input sets infrastructure "", not one of vsphere`,
		},
		"UnknownInfrastructure": {
			input{xr: clusterDeployment(`"workersNumber":1`), fnInput: `{` + head + `,"infrastructure":"openstack"}`},
			`sets infrastructure "openstack", not one of vsphere`,
		},
		"InputOfAnotherKind": {
			input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode), fnInput: `{"apiVersion":"pt.fn.crossplane.io/v1beta1","kind":"Resources","backend":"in-cluster"}`},
			"the function input is pt.fn.crossplane.io/v1beta1, Kind=Resources; it must be function.ipam.provider-ipam.io/v1beta1, Kind=Input",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := run(t, tc.in)
			if f := g.fatal(); !strings.Contains(f, tc.want) {
				t.Errorf("fatal = %q, want it to contain %q", f, tc.want)
			}
			if len(g.composed) > 0 {
				t.Errorf("composed %v", g.names())
			}
		})
	}
}
