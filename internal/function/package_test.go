package function_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossplane/function-sdk-go/logging"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	extvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
	fn "github.com/provider-ipam/provider-ipam/internal/function"
)

const root = "../.."

// xrd is the part of a Crossplane v2 CompositeResourceDefinition the API
// server sees once Crossplane turns it into a CRD.
type xrd struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Scope                 string                              `json:"scope"`
		Group                 string                              `json:"group"`
		Names                 extv1.CustomResourceDefinitionNames `json:"names"`
		DefaultCompositionRef *struct {
			Name string `json:"name"`
		} `json:"defaultCompositionRef"`
		Versions []struct {
			Name                     string                                          `json:"name"`
			Served                   bool                                            `json:"served"`
			Referenceable            bool                                            `json:"referenceable"`
			AdditionalPrinterColumns []extv1.CustomResourceColumnDefinition          `json:"additionalPrinterColumns"`
			Schema                   struct{ OpenAPIV3Schema extv1.JSONSchemaProps } `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// crd is what Crossplane would create from x, in the API server's internal
// form (Crossplane's own spec.crossplane fields left out).
func crd(t *testing.T, x xrd) *apiextensions.CustomResourceDefinition {
	t.Helper()
	v1 := &extv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: x.Metadata.Name},
		Spec: extv1.CustomResourceDefinitionSpec{
			Group: x.Spec.Group, Names: x.Spec.Names, Scope: extv1.ResourceScope(x.Spec.Scope),
		},
	}
	for i, v := range x.Spec.Versions {
		s := v.Schema.OpenAPIV3Schema
		cols := append(v.AdditionalPrinterColumns, extv1.CustomResourceColumnDefinition{Name: "AGE", Type: "date", JSONPath: ".metadata.creationTimestamp"})
		v1.Spec.Versions = append(v1.Spec.Versions, extv1.CustomResourceDefinitionVersion{
			Name: v.Name, Served: v.Served, Storage: i == 0, AdditionalPrinterColumns: cols,
			Schema:       &extv1.CustomResourceValidation{OpenAPIV3Schema: &s},
			Subresources: &extv1.CustomResourceSubresources{Status: &extv1.CustomResourceSubresourceStatus{}},
		})
	}
	v1.Status.StoredVersions = []string{x.Spec.Versions[0].Name}
	out := &apiextensions.CustomResourceDefinition{}
	if err := extv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(v1, out, nil); err != nil {
		t.Fatalf("converting %s: %v", x.Metadata.Name, err)
	}
	return out
}

func loadXRDs(t *testing.T) map[string]xrd {
	t.Helper()
	out := map[string]xrd{}
	for _, f := range []string{"xrd-clusteripamclaim.yaml", "xrd-clusteripam.yaml", "xrd-clusterdeployment.yaml"} {
		var x xrd
		readYAML(t, filepath.Join(root, "package", "configuration", f), &x)
		out[x.Spec.Names.Kind] = x
	}
	return out
}

// The XRDs are valid CRDs for the API server: schemas structural, CEL rules
// compiling within the cost budget, transition rules where they may be.
func TestXRDsAreValidCRDs(t *testing.T) {
	for kind, x := range loadXRDs(t) {
		if x.APIVersion != "apiextensions.crossplane.io/v2" || x.Spec.Scope != "Namespaced" || x.Spec.Group != "k0rdent.mirantis.com" {
			t.Errorf("%s: %s scope %s group %s", kind, x.APIVersion, x.Spec.Scope, x.Spec.Group)
		}
		if errs := extvalidation.ValidateCustomResourceDefinition(context.Background(), crd(t, x)); len(errs) > 0 {
			t.Errorf("%s: %v", kind, errs.ToAggregate())
		}
	}
}

// Every network of both XRDs carries the Reservation's space schema: the
// same CEL rules as apis/common/v1alpha1/space.go.
// The most addresses one Reservation holds is written in Go once; the
// Reservation CRD and the ClusterDeployment XRD repeat it because their
// schemas cannot name a constant, and must agree with it.
func TestAddressLimitsAgree(t *testing.T) {
	const limit = inclusterv1alpha1.MaxAddresses
	var r extv1.CustomResourceDefinition
	readYAML(t, filepath.Join(root, "package", "crds", "incluster.ipam.provider-ipam.io_reservations.yaml"), &r)
	props := r.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties
	if m := props["spec"].Properties["forProvider"].Properties["count"].Maximum; m == nil || *m != limit {
		t.Errorf("Reservation spec.forProvider.count maximum = %v, want %d", m, limit)
	}
	if m := props["status"].Properties["atProvider"].Properties["releasing"].MaxItems; m == nil || *m != limit {
		t.Errorf("Reservation status.atProvider.releasing maxItems = %v, want %d", m, limit)
	}
	config := loadXRDs(t)["ClusterDeployment"].Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["config"]
	for _, f := range []string{"controlPlaneNumber", "workersNumber"} {
		if m := config.Properties[f].Maximum; m == nil || *m != limit {
			t.Errorf("ClusterDeployment spec.config.%s maximum = %v, want %d", f, m, limit)
		}
	}
	if rules := config.XValidations; len(rules) != 1 || !strings.HasSuffix(rules[0].Rule, fmt.Sprintf("<= %d", limit)) {
		t.Errorf("ClusterDeployment spec.config rules %v, want the sum bounded by %d", rules, limit)
	}
}

func TestXRDNetworksMatchAddressSpace(t *testing.T) {
	var r extv1.CustomResourceDefinition
	readYAML(t, filepath.Join(root, "package", "crds", "incluster.ipam.provider-ipam.io_reservations.yaml"), &r)
	space := r.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["forProvider"].Properties["space"]
	space.Description = ""
	for kind, x := range loadXRDs(t) {
		spec := x.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		if kind == "ClusterDeployment" {
			// The networks of an inline claim.
			spec = spec.Properties["ipamClaim"].Properties["spec"]
		}
		for _, n := range []string{"nodeNetwork", "clusterNetwork", "externalNetwork"} {
			got := spec.Properties[n]
			got.Description = ""
			if diff := cmp.Diff(space, got); diff != "" {
				t.Errorf("%s spec.%s differs from the Reservation's space (-want +got):\n%s", kind, n, diff)
			}
		}
	}
}

type composition struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		CompositeTypeRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		} `json:"compositeTypeRef"`
		Mode     string `json:"mode"`
		Pipeline []struct {
			Step        string `json:"step"`
			FunctionRef struct {
				Name string `json:"name"`
			} `json:"functionRef"`
			Input map[string]any `json:"input"`
		} `json:"pipeline"`
	} `json:"spec"`
}

// One Composition for the claim, one for the ClusterDeployment and one per
// backend for ClusterIPAM, each
// calling the function, labelled with the provider value the function
// selects it by.
func TestCompositions(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "package", "configuration", "composition-*.yaml"))
	byKind := map[string][]string{}
	for _, f := range files {
		var c composition
		readYAML(t, f, &c)
		if c.APIVersion != "apiextensions.crossplane.io/v1" || c.Kind != "Composition" || c.Spec.Mode != "Pipeline" {
			t.Errorf("%s: %s %s mode %s", f, c.APIVersion, c.Kind, c.Spec.Mode)
		}
		if c.Spec.CompositeTypeRef.APIVersion != "k0rdent.mirantis.com/v1beta1" {
			t.Errorf("%s: compositeTypeRef %s", f, c.Spec.CompositeTypeRef.APIVersion)
		}
		if len(c.Spec.Pipeline) != 1 || c.Spec.Pipeline[0].FunctionRef.Name != "provider-ipam-function-provider-ipam" {
			t.Errorf("%s: pipeline %+v", f, c.Spec.Pipeline)
		}
		byKind[c.Spec.CompositeTypeRef.Kind] = append(byKind[c.Spec.CompositeTypeRef.Kind], c.Metadata.Labels[fn.ProviderLabel])
		// What the function composes is the Composition's choice: a
		// ClusterIPAM Composition holds addresses in the backend its label
		// names, the ClusterDeployment one renders vSphere clusters.
		var in map[string]any
		if len(c.Spec.Pipeline) == 1 {
			in = c.Spec.Pipeline[0].Input
		}
		var want map[string]any
		switch c.Spec.CompositeTypeRef.Kind {
		case "ClusterIPAM":
			want = map[string]any{"apiVersion": "function.ipam.provider-ipam.io/v1beta1", "kind": "Input", "backend": c.Metadata.Labels[fn.ProviderLabel]}
		case "ClusterDeployment":
			want = map[string]any{"apiVersion": "function.ipam.provider-ipam.io/v1beta1", "kind": "Input", "infrastructure": "vsphere"}
		}
		if diff := cmp.Diff(want, in); diff != "" {
			t.Errorf("%s: function input (-want +got):\n%s", f, diff)
		}
	}
	want := map[string][]string{"ClusterIPAMClaim": {""}, "ClusterDeployment": {""}, "ClusterIPAM": {k0rdentv1beta1.ProviderInCluster, k0rdentv1beta1.ProviderInfoblox}}
	if diff := cmp.Diff(want, byKind); diff != "" {
		t.Errorf("compositions by kind and provider label (-want +got):\n%s", diff)
	}
}

// validator checks objects against an XRD's schema, CEL rules included, as
// the API server would.
type validator struct {
	schema  validation.SchemaValidator
	cel     *cel.Validator
	structl *schema.Structural
}

func newValidator(t *testing.T, x xrd) validator {
	t.Helper()
	// The internal form holds a schema shared by every version at the top.
	props := crd(t, x).Spec.Validation.OpenAPIV3Schema
	v, _, err := validation.NewSchemaValidator(props)
	if err != nil {
		t.Fatal(err)
	}
	s, err := schema.NewStructural(props)
	if err != nil {
		t.Fatal(err)
	}
	return validator{schema: v, cel: cel.NewValidator(s, true, celconfig.PerCallLimit), structl: s}
}

func (v validator) validate(obj, old map[string]any) field.ErrorList {
	var errs field.ErrorList
	if old == nil {
		errs = validation.ValidateCustomResource(nil, obj, v.schema)
	} else {
		errs = validation.ValidateCustomResourceUpdate(nil, obj, old, v.schema)
	}
	// The API server runs no CEL rule on an object with a missing required
	// field, a value of the wrong type, too long or too many.
	for _, e := range errs {
		switch e.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return errs
		}
	}
	var oldObj any
	if old != nil {
		oldObj = old
	}
	celErrs, _ := v.cel.Validate(context.Background(), nil, v.structl, obj, oldObj, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

func parse(t *testing.T, s string) map[string]any {
	t.Helper()
	// As the API server decodes: integers as int64.
	j, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := utiljson.Unmarshal(j, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// k0rdent's documented claims and deployments apply; bad input and changes
// to what is immutable are refused at admission.
func TestClaimAdmission(t *testing.T) {
	xrds := loadXRDs(t)
	v := newValidator(t, xrds["ClusterIPAMClaim"])

	files, _ := filepath.Glob(filepath.Join(root, "examples", "k0rdent", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(b), "\n---\n") {
			obj := parse(t, doc)
			x, ok := xrds[fmt.Sprint(obj["kind"])]
			if !ok {
				t.Errorf("%s: no XRD for kind %v", f, obj["kind"])
				continue
			}
			if errs := newValidator(t, x).validate(obj, nil); len(errs) > 0 {
				t.Errorf("%s: %v: %v", f, obj["kind"], errs.ToAggregate())
			}
		}
	}

	claim := func(spec string) map[string]any {
		return parse(t, "apiVersion: k0rdent.mirantis.com/v1beta1\nkind: ClusterIPAMClaim\nmetadata: {name: c, namespace: a}\nspec:\n"+spec)
	}
	base := "  provider: in-cluster\n  nodeNetwork: {cidr: 10.0.0.0/24, gateway: 10.0.0.1}\n"
	cases := map[string]struct {
		spec, old string
		want      string // "" for accepted
	}{
		"Accepted":            {spec: base + "  cluster: a\n"},
		"ClusterSetLater":     {spec: base + "  cluster: a\n", old: base},
		"ClusterChanged":      {spec: base + "  cluster: b\n", old: base + "  cluster: a\n", want: "cluster is immutable once set"},
		"ClusterRemoved":      {spec: base, old: base + "  cluster: a\n", want: "cluster is immutable once set"},
		"ProviderChanged":     {spec: strings.Replace(base, "in-cluster", "ipam-infoblox", 1), old: base, want: "provider is immutable"},
		"NodeNetworkChanged":  {spec: strings.Replace(base, "10.0.0.0/24", "10.0.1.0/24", 1), old: base, want: "nodeNetwork is immutable"},
		"UnknownProvider":     {spec: strings.Replace(base, "in-cluster", "dhcp", 1), want: "Unsupported value"},
		"GatewayOutside":      {spec: "  provider: in-cluster\n  nodeNetwork: {cidr: 10.0.0.0/24, gateway: 10.0.1.1}\n", want: "gateway is outside the network"},
		"BothCIDRAndList":     {spec: "  provider: in-cluster\n  nodeNetwork: {cidr: 10.0.0.0/24, ipAddresses: [10.0.0.5]}\n", want: "set exactly one of cidr or ipAddresses"},
		"NoNodeNetwork":       {spec: "  provider: in-cluster\n", want: "nodeNetwork: Required value"},
		"ExternalNetworkLate": {spec: base + "  externalNetwork: {ipAddresses: [10.0.2.5]}\n", old: base},
		"GatewayNetworkAddress": {spec: "  provider: in-cluster\n  nodeNetwork: {cidr: 203.0.113.0/28, gateway: 203.0.113.0}\n",
			want: "spec.nodeNetwork.gateway: Invalid value: 203.0.113.0 is the network address of 203.0.113.0/28, not a host address"},
		"GatewayBroadcastAddress": {spec: "  provider: in-cluster\n  nodeNetwork: {cidr: 203.0.113.0/28, gateway: 203.0.113.15}\n",
			want: "spec.nodeNetwork.gateway: Invalid value: 203.0.113.15 is the broadcast address of 203.0.113.0/28, not a host address"},
		"ClusterNetworkGatewayBroadcast": {spec: base + "  clusterNetwork: {ipAddresses: [10.0.1.5], prefix: 24, gateway: 10.0.1.255}\n",
			want: "spec.clusterNetwork.gateway: Invalid value: 10.0.1.255 is the broadcast address of its /24 network, not a host address"},
		"GatewayHost":        {spec: "  provider: in-cluster\n  nodeNetwork: {cidr: 203.0.113.0/28, gateway: 203.0.113.14}\n"},
		"BadCIDRAndGateway":  {spec: "  provider: in-cluster\n  nodeNetwork: {cidr: 10.0.0.0/33, gateway: 10.0.0.1}\n", want: "must be a CIDR without host bits"},
		"NeitherWithGateway": {spec: "  provider: in-cluster\n  nodeNetwork: {gateway: 10.0.0.1, prefix: 24}\n", want: "set exactly one of cidr or ipAddresses"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var old map[string]any
			if tc.old != "" {
				old = claim(tc.old)
			}
			errs := v.validate(claim(tc.spec), old)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("refused: %v", errs.ToAggregate())
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)):
				t.Errorf("errors %v, want one containing %q", errs.ToAggregate(), tc.want)
			case len(errs) > 0 && strings.Contains(errs.ToAggregate().Error(), "evaluating rule"):
				// A missing or malformed field gets its own message, not a
				// CEL evaluation error of a rule that reads it.
				t.Errorf("errors %v, want no CEL evaluation error", errs.ToAggregate())
			}
		})
	}
}

// A ClusterDeployment's node counts are bounded at admission, so that no
// count, nor their sum, overflows where the function adds them up.
func TestClusterDeploymentAdmission(t *testing.T) {
	v := newValidator(t, loadXRDs(t)["ClusterDeployment"])
	cases := map[string]struct {
		config string
		want   string // "" for accepted
	}{
		"Defaults":         {config: "{}"},
		"Counts":           {config: "{controlPlaneNumber: 3, workersNumber: 2, vsphere: {server: vc}}"},
		"AllWorkers":       {config: "{controlPlaneNumber: 1, workersNumber: 4095}"},
		"SumTooLarge":      {config: "{controlPlaneNumber: 3000, workersNumber: 2000}", want: "spec.config: Invalid value: controlPlaneNumber + workersNumber is more than the 4096 node addresses one network can reserve"},
		"DefaultPlusMax":   {config: "{workersNumber: 4096}", want: "controlPlaneNumber + workersNumber is more than the 4096"},
		"Huge":             {config: "{controlPlaneNumber: 9223372036854775807, workersNumber: 9223372036854775807}", want: "spec.config.controlPlaneNumber: Invalid value: 9223372036854775807: spec.config.controlPlaneNumber in body should be less than or equal to 4096"},
		"HalfOfInt64Twice": {config: "{controlPlaneNumber: 4611686018427387904, workersNumber: 4611686018427387904}", want: "workersNumber in body should be less than or equal to 4096"},
		"Negative":         {config: "{workersNumber: -9223372036854775808, controlPlaneNumber: -1}", want: "workersNumber in body should be greater than or equal to 0"},
		"NotAnInteger":     {config: "{workersNumber: two}", want: `spec.config.workersNumber: Invalid value: "string": spec.config.workersNumber in body must be of type integer`},
		"BeyondInt64":      {config: "{workersNumber: 1e30}", want: "spec.config.workersNumber in body must be of type integer"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj := parse(t, "apiVersion: k0rdent.mirantis.com/v1beta1\nkind: ClusterDeployment\nmetadata: {name: c, namespace: a}\n"+
				"spec:\n  template: vsphere-standalone-cp-1-0-0\n  config: "+tc.config+"\n")
			errs := v.validate(obj, nil)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("refused: %v", errs.ToAggregate())
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)):
				t.Errorf("errors %v, want one containing %q", errs.ToAggregate(), tc.want)
			case len(errs) > 0 && strings.Contains(errs.ToAggregate().Error(), "evaluating rule"):
				t.Errorf("errors %v, want no CEL evaluation error", errs.ToAggregate())
			}
		})
	}
}

// What the function writes fits the XRDs: the ClusterIPAM it composes for a
// documented claim, and a bound ClusterIPAM's status.
func TestFunctionOutputFitsXRDs(t *testing.T) {
	xrds := loadXRDs(t)
	f := &fn.Function{Log: logging.NewNopLogger()}
	runFn := func(xr map[string]any, observed map[string]map[string]any) *fnv1.RunFunctionResponse {
		t.Helper()
		req := &fnv1.RunFunctionRequest{Input: inputOf(t, xr), Observed: &fnv1.State{
			Composite: &fnv1.Resource{Resource: toStruct(t, xr)}, Resources: map[string]*fnv1.Resource{}}}
		for name, o := range observed {
			req.Observed.Resources[name] = &fnv1.Resource{Resource: toStruct(t, o)}
		}
		rsp, err := f.RunFunction(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rsp.GetResults() {
			if r.GetSeverity() == fnv1.Severity_SEVERITY_FATAL {
				t.Fatalf("fatal: %s", r.GetMessage())
			}
		}
		return rsp
	}

	b, err := os.ReadFile(filepath.Join(root, "examples", "k0rdent", "clusteripamclaim-in-cluster-cidr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rsp := runFn(parse(t, string(b)), nil)
	child := decoded(t, rsp.GetDesired().GetResources()["clusteripam"].GetResource().AsMap())
	if errs := newValidator(t, xrds["ClusterIPAM"]).validate(child, nil); len(errs) > 0 {
		t.Errorf("composed ClusterIPAM: %v", errs.ToAggregate())
	}

	ready := func(kind, name, atProvider string) map[string]any {
		return parse(t, "apiVersion: x/v1\nkind: "+kind+"\nmetadata: {name: "+name+", namespace: team-a}\n"+
			"status:\n  conditions: [{type: Ready, status: 'True'}]\n  atProvider: "+atProvider+"\n")
	}
	rsp = runFn(child, map[string]map[string]any{
		"node":   ready("Reservation", "cluster-a-ipam-node", "{addresses: [10.10.0.2, 10.10.0.3], prefix: 24, gateway: 10.10.0.1}"),
		"ipPool": ready("IPPool", "cluster-a-ipam-node", "{}"),
	})
	status := rsp.GetDesired().GetComposite().GetResource().AsMap()["status"].(map[string]any)
	if status["phase"] != fn.PhaseBound {
		t.Fatalf("phase = %v", status["phase"])
	}
	bound := map[string]any{"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterIPAM", "metadata": child["metadata"], "spec": child["spec"], "status": status}
	if errs := newValidator(t, xrds["ClusterIPAM"]).validate(decoded(t, bound), nil); len(errs) > 0 {
		t.Errorf("bound ClusterIPAM status: %v", errs.ToAggregate())
	}

	// The documented inline ClusterDeployment: its claim, and the status of
	// a dry run and of a bound deployment.
	b, err = os.ReadFile(filepath.Join(root, "examples", "k0rdent", "clusterdeployment-inline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cd := parse(t, string(b))
	rsp = runFn(cd, nil)
	claim := decoded(t, rsp.GetDesired().GetResources()["ipamClaim"].GetResource().AsMap())
	if errs := newValidator(t, xrds["ClusterIPAMClaim"]).validate(claim, nil); len(errs) > 0 {
		t.Errorf("composed ClusterIPAMClaim: %v", errs.ToAggregate())
	}
	withStatus := func(rsp *fnv1.RunFunctionResponse) map[string]any {
		out := map[string]any{"apiVersion": cd["apiVersion"], "kind": cd["kind"], "metadata": cd["metadata"], "spec": cd["spec"],
			"status": rsp.GetDesired().GetComposite().GetResource().AsMap()["status"]}
		return decoded(t, out)
	}
	dry := parse(t, string(b))
	dry["spec"].(map[string]any)["dryRun"] = true
	rsp = runFn(dry, nil)
	if errs := newValidator(t, xrds["ClusterDeployment"]).validate(withStatus(rsp), nil); len(errs) > 0 {
		t.Errorf("dry-run ClusterDeployment status: %v", errs.ToAggregate())
	}
	observedClaim := claim
	observedClaim["spec"].(map[string]any)["clusterIPAMRef"] = "cluster-e"
	observedClaim["status"] = map[string]any{"bound": true}
	req := &fnv1.RunFunctionRequest{
		Input: inputOf(t, cd),
		Observed: &fnv1.State{Composite: &fnv1.Resource{Resource: toStruct(t, cd)},
			Resources: map[string]*fnv1.Resource{"ipamClaim": {Resource: toStruct(t, observedClaim)}}},
		RequiredResources: map[string]*fnv1.Resources{"clusterIPAM": {Items: []*fnv1.Resource{{Resource: toStruct(t, parse(t,
			"apiVersion: k0rdent.mirantis.com/v1beta1\nkind: ClusterIPAM\nmetadata: {name: cluster-e, namespace: team-a}\n"+
				"status:\n  phase: Bound\n  providerData:\n  - {name: ipPool, ready: true, addresses: [10.30.0.10, 10.30.0.11], gateway: 10.30.0.1, prefix: 24,\n"+
				"     config: {apiGroup: ipam.provider-ipam.io, kind: IPPool, name: cluster-e-node}}\n"))}}}},
	}
	if rsp, err = f.RunFunction(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := len(rsp.GetDesired().GetResources()); got != 8 {
		t.Errorf("bound deployment composed %d resources, want the claim and 7 cluster objects", got)
	}
	if errs := newValidator(t, xrds["ClusterDeployment"]).validate(withStatus(rsp), nil); len(errs) > 0 {
		t.Errorf("bound ClusterDeployment status: %v", errs.ToAggregate())
	}
}

// inputOf is the function input of the configuration package's Composition
// that Crossplane picks for xr: by kind, and for a ClusterIPAM by the
// provider label its claim's Composition selects.
func inputOf(t *testing.T, xr map[string]any) *structpb.Struct {
	t.Helper()
	provider, _ := xr["spec"].(map[string]any)["provider"].(string)
	files, _ := filepath.Glob(filepath.Join(root, "package", "configuration", "composition-*.yaml"))
	for _, f := range files {
		var c composition
		readYAML(t, f, &c)
		if c.Spec.CompositeTypeRef.Kind != xr["kind"] {
			continue
		}
		if label, ok := c.Metadata.Labels[fn.ProviderLabel]; ok && label != provider {
			continue
		}
		if c.Spec.Pipeline[0].Input == nil {
			return nil
		}
		return toStruct(t, c.Spec.Pipeline[0].Input)
	}
	t.Fatalf("no Composition for %v %v", xr["kind"], provider)
	return nil
}

// decoded is m as the API server would decode it from Crossplane's JSON.
func decoded(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	j, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := utiljson.Unmarshal(j, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func toStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
