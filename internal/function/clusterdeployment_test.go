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

const cdName = "c1"

// cdXR is an observed ClusterDeployment; spec holds its members after
// template, e.g. `,"config":{...},"ipamClaim":{...}`.
func cdXR(template, spec string) string {
	return fmt.Sprintf(`{"apiVersion":"k0rdent.mirantis.com/v1beta1","kind":"ClusterDeployment",
		"metadata":{"name":%q,"namespace":%q},"spec":{"template":%q%s}}`, cdName, xrNS, template, spec)
}

const (
	vsphereTemplate = "vsphere-standalone-cp-1-0-0"
	inlineClaim     = `,"ipamClaim":{"spec":{"provider":"in-cluster","nodeNetwork":{"ipAddresses":["10.0.0.10-10.0.0.19"],"gateway":"10.0.0.1","prefix":24}}}`
	refClaim        = `,"ipamClaim":{"ref":"c1-ipam"}`
	vsphereConfig   = `"vsphere":{"server":"vc.example.com","thumbprint":"AA:BB","network":"Nodes"},"nameservers":["10.0.0.53"],"controlPlane":{"vmTemplate":"ubuntu"},"worker":{"vmTemplate":"ubuntu"}`
)

func cdConfig(members string) string {
	if members == "" {
		return `,"config":{` + vsphereConfig + `}`
	}
	return `,"config":{` + vsphereConfig + `,` + members + `}`
}

// claimObj is a ClusterIPAMClaim named name for cluster, bound or not,
// whose ClusterIPAM is ipam ("" for none yet).
func claimObj(name, cluster string, bound bool, ipam string) string {
	ref := ""
	if ipam != "" {
		ref = fmt.Sprintf(`,"clusterIPAMRef":%q`, ipam)
	}
	return fmt.Sprintf(`{"apiVersion":"k0rdent.mirantis.com/v1beta1","kind":"ClusterIPAMClaim","metadata":{"name":%q,"namespace":%q},
		"spec":{"provider":"in-cluster","nodeNetwork":{"cidr":"10.0.0.0/28","gateway":"10.0.0.1"},"cluster":%q%s},"status":{"bound":%t}}`,
		name, xrNS, cluster, ref, bound)
}

// ipamObj is a ClusterIPAM named name in phase with the node addresses held
// and the Bound condition's message.
func ipamObj(name, phase, addresses, reason, msg string) string {
	status := "False"
	if phase == PhaseBound {
		status = "True"
	}
	return fmt.Sprintf(`{"apiVersion":"k0rdent.mirantis.com/v1beta1","kind":"ClusterIPAM","metadata":{"name":%q,"namespace":%q},
		"status":{"phase":%q,"conditions":[{"type":"Bound","status":%q,"reason":%q,"message":%q}],
		"providerData":[{"name":"ipPool","ready":true,"addresses":%s,"prefix":24,"gateway":"10.0.0.1",
			"config":{"apiGroup":"ipam.provider-ipam.io","kind":"IPPool","name":%q}}]}}`,
		name, xrNS, phase, status, reason, msg, addresses, name+"-node")
}

var poolRef = map[string]any{"apiGroup": "ipam.provider-ipam.io", "kind": "IPPool", "name": "c1-ipam-node"}

var allClusterObjects = []string{
	"capiCluster", "controlPlane", "controlPlaneMachineTemplate", "machineDeployment",
	"vsphereCluster", "workerBootstrapTemplate", "workerMachineTemplate",
}

// boundRef is a ref-mode request whose claim and ClusterIPAM are bound with
// addresses.
func boundRef(template, config, addresses string) input {
	return input{
		xr: cdXR(template, config+refClaim),
		required: map[string][]string{
			requiredClaim:       {claimObj("c1-ipam", cdName, true, "c1-ipam")},
			requiredClusterIPAM: {ipamObj("c1-ipam", PhaseBound, addresses, ReasonBound, "")},
		},
	}
}

func (g got) condition(t *testing.T, typ string) *fnv1.Condition {
	t.Helper()
	for _, c := range g.conditions {
		if c.GetType() == typ {
			return c
		}
	}
	t.Fatalf("no %s condition in %v", typ, g.conditions)
	return nil
}

func TestClusterDeployment(t *testing.T) {
	cases := map[string]struct {
		req          input
		wantNames    []string
		wantReason   string // of IPAMReady
		wantStatus   fnv1.Status
		wantMessage  []string // substrings of IPAMReady's message
		wantBound    bool
		wantTemplate string // reason of TemplateReady
	}{
		"InlineComposesOnlyTheClaim": {
			req:         input{xr: cdXR(vsphereTemplate, cdConfig("")+inlineClaim)},
			wantNames:   []string{"ipamClaim"},
			wantReason:  ReasonWaitingForIPAM,
			wantStatus:  fnv1.Status_STATUS_CONDITION_FALSE,
			wantMessage: []string{"waiting for ClusterIPAMClaim team-a/c1 to be created"},
		},
		"InlineWaitsForClusterIPAM": {
			req: input{xr: cdXR(vsphereTemplate, cdConfig("")+inlineClaim),
				observed: map[string]string{"ipamClaim": claimObj(cdName, cdName, false, cdName)},
				required: map[string][]string{requiredClusterIPAM: {ipamObj(cdName, PhasePending, `[]`, ReasonPending, "waiting for Reservation team-a/c1-node to be ready")}}},
			wantNames:   []string{"ipamClaim"},
			wantReason:  ReasonWaitingForIPAM,
			wantStatus:  fnv1.Status_STATUS_CONDITION_FALSE,
			wantMessage: []string{"ClusterIPAM phase: \"Pending\"", "Reservation team-a/c1-node to be ready"},
		},
		"InlineBound": {
			req: input{xr: cdXR(vsphereTemplate, cdConfig("")+inlineClaim),
				observed: map[string]string{"ipamClaim": claimObj(cdName, cdName, true, cdName)},
				required: map[string][]string{requiredClusterIPAM: {ipamObj(cdName, PhaseBound, `["10.0.0.10","10.0.0.11"]`, ReasonBound, "")}}},
			wantNames:  []string{"capiCluster", "controlPlane", "controlPlaneMachineTemplate", "ipamClaim", "machineDeployment", "vsphereCluster", "workerBootstrapTemplate", "workerMachineTemplate"},
			wantReason: ReasonBound,
			wantStatus: fnv1.Status_STATUS_CONDITION_TRUE,
			wantBound:  true,
		},
		"RefNotReadYet": {
			req:         input{xr: cdXR(vsphereTemplate, cdConfig("")+refClaim)},
			wantReason:  ReasonWaitingForIPAM,
			wantStatus:  fnv1.Status_STATUS_CONDITION_FALSE,
			wantMessage: []string{"waiting for ClusterIPAMClaim team-a/c1-ipam to be read"},
		},
		"RefMissing": {
			req:         input{xr: cdXR(vsphereTemplate, cdConfig("")+refClaim), required: map[string][]string{requiredClaim: {}}},
			wantReason:  ReasonClaimNotFound,
			wantStatus:  fnv1.Status_STATUS_CONDITION_FALSE,
			wantMessage: []string{"ClusterIPAMClaim team-a/c1-ipam named in spec.ipamClaim.ref does not exist"},
		},
		"RefMismatch": {
			req: input{xr: cdXR(vsphereTemplate, cdConfig("")+refClaim),
				required: map[string][]string{requiredClaim: {claimObj("c1-ipam", "other", true, "c1-ipam")}}},
			wantReason:  ReasonClaimMismatch,
			wantStatus:  fnv1.Status_STATUS_CONDITION_FALSE,
			wantMessage: []string{`"other"`, `"c1"`},
		},
		"RefClaimNotBound": {
			req: input{xr: cdXR(vsphereTemplate, cdConfig("")+refClaim),
				required: map[string][]string{requiredClaim: {claimObj("c1-ipam", cdName, false, "")}}},
			wantReason:  ReasonWaitingForIPAM,
			wantStatus:  fnv1.Status_STATUS_CONDITION_FALSE,
			wantMessage: []string{"to create its ClusterIPAM"},
		},
		"RefBound": {
			req:        boundRef(vsphereTemplate, cdConfig(""), `["10.0.0.2","10.0.0.3"]`),
			wantNames:  allClusterObjects,
			wantReason: ReasonBound,
			wantStatus: fnv1.Status_STATUS_CONDITION_TRUE,
			wantBound:  true,
		},
		"IPAMFailedCarriesMessage": {
			req: input{xr: cdXR(vsphereTemplate, cdConfig("")+refClaim),
				required: map[string][]string{
					requiredClaim:       {claimObj("c1-ipam", cdName, false, "c1-ipam")},
					requiredClusterIPAM: {ipamObj("c1-ipam", PhaseFailed, `[]`, ReasonExhausted, "Reservation team-a/c1-ipam-node: not enough free addresses in 10.0.0.0/28: 3 requested, 13 usable, 12 already held, 1 free")},
				}},
			wantReason:  ReasonIPAMFailed,
			wantStatus:  fnv1.Status_STATUS_CONDITION_FALSE,
			wantMessage: []string{"ClusterIPAM team-a/c1-ipam failed", "3 requested, 13 usable, 12 already held, 1 free"},
		},
		"NotEnoughAddresses": {
			req:         boundRef(vsphereTemplate, cdConfig(`"controlPlaneNumber":1,"workersNumber":2`), `["10.0.0.2","10.0.0.3"]`),
			wantReason:  ReasonNotEnoughAddresses,
			wantStatus:  fnv1.Status_STATUS_CONDITION_FALSE,
			wantMessage: []string{"IPPool c1-ipam-node holds 2 addresses, fewer than the 3 nodes (1 control plane + 2 workers)"},
		},
		"ScaledDownReleasing": {
			req: input{
				xr: cdXR(vsphereTemplate, cdConfig(`"controlPlaneNumber":1,"workersNumber":1`)+refClaim),
				required: map[string][]string{
					requiredClaim: {claimObj("c1-ipam", cdName, true, "c1-ipam")},
					requiredClusterIPAM: {ipamObj("c1-ipam", PhaseBound, `["10.0.0.2-10.0.0.4"]`, ReasonReleasingAddresses,
						"all addresses are held and the IPPool is ready; "+releasingNote+": Reservation team-a/c1-ipam-node: 10.0.0.4 still in use by machines")},
				}},
			wantNames:   allClusterObjects,
			wantReason:  ReasonReleasingAddresses,
			wantStatus:  fnv1.Status_STATUS_CONDITION_TRUE,
			wantBound:   true,
			wantMessage: []string{"holds 3 addresses for 2 nodes", "10.0.0.4 still in use by machines"},
		},
		"NoIPAMClaim": {
			req:        input{xr: cdXR(vsphereTemplate, cdConfig(""))},
			wantNames:  allClusterObjects,
			wantReason: ReasonIPAMNotUsed,
			wantStatus: fnv1.Status_STATUS_CONDITION_TRUE,
		},
		"MissingVMTemplate": {
			req:          boundRef(vsphereTemplate, `,"config":{"worker":{"vmTemplate":"u"}}`, `["10.0.0.2","10.0.0.3"]`),
			wantReason:   ReasonBound,
			wantStatus:   fnv1.Status_STATUS_CONDITION_TRUE,
			wantBound:    true,
			wantTemplate: ReasonInvalidConfig,
		},
		"UnsupportedTemplate": {
			req:          boundRef("aws-standalone-cp-1-0-0", cdConfig(""), `["10.0.0.2","10.0.0.3"]`),
			wantReason:   ReasonBound,
			wantStatus:   fnv1.Status_STATUS_CONDITION_TRUE,
			wantBound:    true,
			wantTemplate: ReasonTemplateUnsupported,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := run(t, tc.req)
			if f := g.fatal(); f != "" {
				t.Fatalf("fatal result: %s", f)
			}
			if diff := cmp.Diff(tc.wantNames, g.names()); diff != "" {
				t.Errorf("composed (-want +got):\n%s", diff)
			}
			c := g.condition(t, ConditionIPAMReady)
			if c.GetReason() != tc.wantReason || c.GetStatus() != tc.wantStatus {
				t.Errorf("IPAMReady = %s %s %q, want %s %s", c.GetStatus(), c.GetReason(), c.GetMessage(), tc.wantStatus, tc.wantReason)
			}
			for _, m := range tc.wantMessage {
				if !strings.Contains(c.GetMessage(), m) {
					t.Errorf("IPAMReady message %q does not contain %q", c.GetMessage(), m)
				}
			}
			if g.status["ipamBound"] != tc.wantBound {
				t.Errorf("status.ipamBound = %v, want %v", g.status["ipamBound"], tc.wantBound)
			}
			if tc.wantBound {
				if diff := cmp.Diff(poolRef, g.status["ipPool"]); diff != "" && !strings.HasPrefix(name, "Inline") {
					t.Errorf("status.ipPool (-want +got):\n%s", diff)
				}
			}
			wantTemplate := tc.wantTemplate
			if wantTemplate == "" {
				wantTemplate = ReasonTemplateSupported
			}
			if r := g.condition(t, ConditionTemplateReady).GetReason(); r != wantTemplate {
				t.Errorf("TemplateReady reason = %s, want %s", r, wantTemplate)
			}
		})
	}
}

func TestClusterDeploymentRequirements(t *testing.T) {
	g := run(t, input{xr: cdXR(vsphereTemplate, cdConfig("")+refClaim),
		required: map[string][]string{requiredClaim: {claimObj("c1-ipam", cdName, true, "c1-ipam-x")}}})
	rs := g.rsp.GetRequirements().GetResources()
	if s := rs[requiredClaim]; s.GetKind() != "ClusterIPAMClaim" || s.GetMatchName() != "c1-ipam" || s.GetNamespace() != xrNS {
		t.Errorf("claim requirement = %v", s)
	}
	if s := rs[requiredClusterIPAM]; s.GetKind() != "ClusterIPAM" || s.GetMatchName() != "c1-ipam-x" || s.GetNamespace() != xrNS {
		t.Errorf("ClusterIPAM requirement = %v", s)
	}
}

func TestClusterDeploymentInlineClaim(t *testing.T) {
	g := run(t, input{xr: cdXR(vsphereTemplate, cdConfig("")+
		`,"ipamClaim":{"spec":{"provider":"ipam-infoblox","nodeNetwork":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"externalNetwork":{"ipAddresses":["10.0.9.5"]}}}`)})
	want := asJSON(t, `{"apiVersion":"k0rdent.mirantis.com/v1beta1","kind":"ClusterIPAMClaim","metadata":{"name":"c1","namespace":"team-a"},
		"spec":{"provider":"ipam-infoblox","cluster":"c1","nodeNetwork":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"externalNetwork":{"ipAddresses":["10.0.9.5"]}}}`)
	if diff := cmp.Diff(want, any(g.composed["ipamClaim"])); diff != "" {
		t.Errorf("claim (-want +got):\n%s", diff)
	}
	if g.ready["ipamClaim"] != fnv1.Ready_READY_FALSE {
		t.Errorf("claim ready = %v", g.ready["ipamClaim"])
	}
}

// Once bound, the cluster objects reference each other and the machines take
// their addresses from the pool.
func TestClusterDeploymentVSphereObjects(t *testing.T) {
	g := run(t, boundRef(vsphereTemplate, cdConfig(`"controlPlaneNumber":1,"workersNumber":2,"kubernetesVersion":"v1.34.1"`), `["10.0.0.2-10.0.0.4"]`))
	if f := g.fatal(); f != "" {
		t.Fatal(f)
	}
	checks := []struct {
		name, path string
		want       string // JSON
	}{
		{"capiCluster", "apiVersion", `"cluster.x-k8s.io/v1beta2"`},
		{"capiCluster", "metadata.name", `"c1"`},
		{"capiCluster", "spec.infrastructureRef", `{"apiGroup":"infrastructure.cluster.x-k8s.io","kind":"VSphereCluster","name":"c1"}`},
		{"capiCluster", "spec.controlPlaneRef", `{"apiGroup":"controlplane.cluster.x-k8s.io","kind":"KubeadmControlPlane","name":"c1-cp"}`},
		{"vsphereCluster", "apiVersion", `"infrastructure.cluster.x-k8s.io/v1beta1"`},
		{"vsphereCluster", "spec", `{"controlPlaneEndpoint":{"host":"10.0.0.2","port":6443},"server":"vc.example.com","thumbprint":"AA:BB"}`},
		{"controlPlane", "apiVersion", `"controlplane.cluster.x-k8s.io/v1beta2"`},
		{"controlPlane", "spec.replicas", `1`},
		{"controlPlane", "spec.version", `"v1.34.1"`},
		{"controlPlane", "spec.machineTemplate", `{"spec":{"infrastructureRef":{"apiGroup":"infrastructure.cluster.x-k8s.io","kind":"VSphereMachineTemplate","name":"c1-cp"}}}`},
		{"controlPlaneMachineTemplate", "metadata.name", `"c1-cp"`},
		{"controlPlaneMachineTemplate", "spec.template.spec.template", `"ubuntu"`},
		{"controlPlaneMachineTemplate", "spec.template.spec.network.devices", `[{"networkName":"Nodes","dhcp4":false,
			"addressesFromPools":[{"apiGroup":"ipam.provider-ipam.io","kind":"IPPool","name":"c1-ipam-node"}],"gateway4":"10.0.0.1","nameservers":["10.0.0.53"]}]`},
		{"workerMachineTemplate", "metadata.name", `"c1-md"`},
		{"workerMachineTemplate", "spec.template.spec.network.devices", `[{"networkName":"Nodes","dhcp4":false,
			"addressesFromPools":[{"apiGroup":"ipam.provider-ipam.io","kind":"IPPool","name":"c1-ipam-node"}],"gateway4":"10.0.0.1","nameservers":["10.0.0.53"]}]`},
		{"machineDeployment", "apiVersion", `"cluster.x-k8s.io/v1beta2"`},
		{"machineDeployment", "spec.replicas", `2`},
		{"machineDeployment", "spec.clusterName", `"c1"`},
		{"machineDeployment", "spec.template.spec.bootstrap", `{"configRef":{"apiGroup":"bootstrap.cluster.x-k8s.io","kind":"KubeadmConfigTemplate","name":"c1-md"}}`},
		{"machineDeployment", "spec.template.spec.infrastructureRef", `{"apiGroup":"infrastructure.cluster.x-k8s.io","kind":"VSphereMachineTemplate","name":"c1-md"}`},
		{"workerBootstrapTemplate", "apiVersion", `"bootstrap.cluster.x-k8s.io/v1beta2"`},
		{"workerBootstrapTemplate", "metadata.name", `"c1-md"`},
	}
	for _, c := range checks {
		if diff := cmp.Diff(asJSON(t, c.want), g.field(t, c.name, c.path)); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", c.name, c.path, diff)
		}
	}
	if got := g.field(t, "machineDeployment", "spec.selector.matchLabels"); cmp.Diff(got, g.field(t, "machineDeployment", "spec.template.metadata.labels")) != "" {
		t.Errorf("selector %v does not match the template's labels", got)
	}
	// A configured endpoint wins over the pool's first address.
	g = run(t, boundRef(vsphereTemplate, cdConfig(`"controlPlaneEndpointIP":"10.0.0.250"`), `["10.0.0.2","10.0.0.3"]`))
	if diff := cmp.Diff(asJSON(t, `{"host":"10.0.0.250","port":6443}`), g.field(t, "vsphereCluster", "spec.controlPlaneEndpoint")); diff != "" {
		t.Errorf("endpoint (-want +got):\n%s", diff)
	}
}

func TestClusterDeploymentWithoutIPAMUsesDHCP(t *testing.T) {
	g := run(t, input{xr: cdXR(vsphereTemplate, `,"config":{"controlPlaneNumber":3,"workersNumber":4,"controlPlane":{"vmTemplate":"u"},"worker":{"vmTemplate":"u"}}`)})
	if diff := cmp.Diff(asJSON(t, `[{"networkName":"VM Network","dhcp4":true}]`), g.field(t, "workerMachineTemplate", "spec.template.spec.network.devices")); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
	if g.field(t, "controlPlane", "spec.replicas") != float64(3) || g.field(t, "machineDeployment", "spec.replicas") != float64(4) {
		t.Errorf("replicas %v/%v", g.field(t, "controlPlane", "spec.replicas"), g.field(t, "machineDeployment", "spec.replicas"))
	}
	if g.field(t, "vsphereCluster", "spec.controlPlaneEndpoint") != nil {
		t.Errorf("endpoint without an address: %v", g.field(t, "vsphereCluster", "spec.controlPlaneEndpoint"))
	}
}

// Scaling up changes the MachineDeployment once the pool holds the new
// node's address; until then what exists is kept as it is.
func TestClusterDeploymentScaleUp(t *testing.T) {
	observed := map[string]string{}
	g := run(t, boundRef(vsphereTemplate, cdConfig(`"workersNumber":1`), `["10.0.0.2","10.0.0.3"]`))
	for name, obj := range g.composed {
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		observed[name] = string(b)
	}

	// workersNumber 1 → 2 while the pool still holds 2 addresses.
	req := boundRef(vsphereTemplate, cdConfig(`"workersNumber":2`), `["10.0.0.2","10.0.0.3"]`)
	req.observed = observed
	g = run(t, req)
	if c := g.condition(t, ConditionIPAMReady); c.GetReason() != ReasonNotEnoughAddresses {
		t.Errorf("IPAMReady = %v", c)
	}
	if diff := cmp.Diff(allClusterObjects, g.names()); diff != "" {
		t.Fatalf("existing objects must be kept (-want +got):\n%s", diff)
	}
	if r := g.field(t, "machineDeployment", "spec.replicas"); r != float64(1) {
		t.Errorf("replicas = %v before the pool grew", r)
	}

	// The ClusterIPAM has grown the reservation.
	req = boundRef(vsphereTemplate, cdConfig(`"workersNumber":2`), `["10.0.0.2","10.0.0.3","10.0.0.4"]`)
	req.observed = observed
	g = run(t, req)
	if r := g.field(t, "machineDeployment", "spec.replicas"); r != float64(2) {
		t.Errorf("replicas = %v after the pool grew", r)
	}
}

// The ClusterIPAM branch reads the ClusterDeployment: a scale-up grows the
// in-cluster node reservation.
func TestClusterIPAMGrowsWithClusterDeployment(t *testing.T) {
	g := run(t, input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode+withC1),
		observed: map[string]string{"node": reservation(inClusterAV, xrName+"-node", `{"space":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"count":2}`, `{}`)},
		required: map[string][]string{requiredClusterDeployment: {clusterDeployment(`"controlPlaneNumber":1,"workersNumber":2`)}}})
	if c := g.field(t, "node", "spec.forProvider.count"); c != float64(3) {
		t.Errorf("count = %v, want 3", c)
	}
}

func TestClusterDeploymentDryRun(t *testing.T) {
	cases := map[string]struct {
		req        input
		wantReport string
		wantReason string
	}{
		"InlineFits": {
			req: input{xr: cdXR(vsphereTemplate, `,"dryRun":true`+cdConfig(`"controlPlaneNumber":3,"workersNumber":2`)+inlineClaim)},
			wantReport: `{"wouldCreate":["ClusterIPAMClaim/c1","Cluster/c1","VSphereCluster/c1","KubeadmControlPlane/c1-cp","VSphereMachineTemplate/c1-cp",
				"MachineDeployment/c1-md","VSphereMachineTemplate/c1-md","KubeadmConfigTemplate/c1-md"],"addressesNeeded":5,"addressesAvailable":10,"fits":true}`,
			wantReason: ReasonFits,
		},
		"RefDoesNotFit": {
			req: input{xr: cdXR(vsphereTemplate, `,"dryRun":true`+cdConfig(`"controlPlaneNumber":3,"workersNumber":20`)+refClaim),
				required: map[string][]string{requiredClaim: {claimObj("c1-ipam", cdName, false, "")}}},
			wantReport: `{"wouldCreate":["Cluster/c1","VSphereCluster/c1","KubeadmControlPlane/c1-cp","VSphereMachineTemplate/c1-cp",
				"MachineDeployment/c1-md","VSphereMachineTemplate/c1-md","KubeadmConfigTemplate/c1-md"],"addressesNeeded":23,"addressesAvailable":13,"fits":false}`,
			wantReason: ReasonNotEnoughAddresses,
		},
		"RefMissingUnknown": {
			req:        input{xr: cdXR("aws-standalone-cp", `,"dryRun":true`+cdConfig("")+refClaim), required: map[string][]string{requiredClaim: {}}},
			wantReport: `{"wouldCreate":[],"addressesNeeded":2,"addressesAvailable":"unknown","fits":false}`,
			wantReason: ReasonAddressesUnknown,
		},
		"WithoutIPAM": {
			req: input{xr: cdXR(vsphereTemplate, `,"dryRun":true`+cdConfig(""))},
			wantReport: `{"wouldCreate":["Cluster/c1","VSphereCluster/c1","KubeadmControlPlane/c1-cp","VSphereMachineTemplate/c1-cp",
				"MachineDeployment/c1-md","VSphereMachineTemplate/c1-md","KubeadmConfigTemplate/c1-md"],"addressesNeeded":0,"addressesAvailable":0,"fits":true}`,
			wantReason: ReasonFits,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := run(t, tc.req)
			if f := g.fatal(); f != "" {
				t.Fatal(f)
			}
			if len(g.composed) != 0 {
				t.Errorf("dry run composed %v", g.names())
			}
			if diff := cmp.Diff(asJSON(t, tc.wantReport), g.status["dryRun"]); diff != "" {
				t.Errorf("status.dryRun (-want +got):\n%s", diff)
			}
			if c := g.condition(t, ConditionDryRun); c.GetReason() != tc.wantReason || !strings.Contains(c.GetMessage(), "dry run: nothing is created") {
				t.Errorf("DryRun = %v", c)
			}
		})
	}
}

func TestClusterDeploymentBadConfigIsFatal(t *testing.T) {
	for cfg, want := range map[string]string{
		`"workersNumber":-1`:                             "spec.config.workersNumber is negative (-1)",
		`"controlPlaneNumber":"three"`:                   "spec.config.controlPlaneNumber: three is not a number",
		`"controlPlaneNumber":3000,"workersNumber":2000`: "spec.config asks for 5000 nodes, more than the 4096",
		// Counts whose sum overflows int64 are refused one by one.
		`"controlPlaneNumber":4611686018427387904,"workersNumber":4611686018427387904`: "spec.config.controlPlaneNumber is 4611686018427387904, more than the 4096 nodes one network can reserve",
		`"workersNumber":1e30`: "spec.config.workersNumber: 1e+30 is out of range",
	} {
		g := run(t, input{xr: cdXR(vsphereTemplate, cdConfig(cfg))})
		if f := g.fatal(); !strings.Contains(f, want) {
			t.Errorf("%s: fatal = %q, want it to contain %q", cfg, f, want)
		}
	}
}

func TestClusterDeploymentDeletionComposesNothingNew(t *testing.T) {
	xr := strings.Replace(cdXR(vsphereTemplate, cdConfig("")+inlineClaim), `"metadata":{`, `"metadata":{"deletionTimestamp":"2026-01-01T00:00:00Z",`, 1)
	g := run(t, input{xr: xr})
	if len(g.composed) != 0 {
		t.Errorf("composed %v", g.names())
	}
	if c := g.condition(t, ConditionIPAMReady); c.GetReason() != ReasonDeleting {
		t.Errorf("IPAMReady = %v", c)
	}
}
