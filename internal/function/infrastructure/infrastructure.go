// Package infrastructure is what the composition function asks of an
// infrastructure's cluster template: which ClusterDeployment templates it
// renders, which values it cannot do without, and the Cluster API objects
// of one cluster whose machines take their addresses from the IPAM pool.
// Each infrastructure is a package beside this one (vsphere); another is
// added by implementing Template and naming it in the function's input.
package infrastructure

import (
	"fmt"
	"math"

	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/resource/composed"
)

// A Template renders the cluster objects of one infrastructure.
type Template interface {
	// Supports reports whether a ClusterDeployment's spec.template names
	// a template of this infrastructure.
	Supports(template string) bool
	// Templates says, for people, which templates Supports takes.
	Templates() string
	// Missing lists the spec.config values (as "spec.config.<path>")
	// without which no cluster object can be rendered.
	Missing(values map[string]any) []string
	// Objects renders every cluster object of c, in the order a dry run
	// lists them. Their composed names do not depend on c's values.
	Objects(c Cluster) []Object
}

// A Cluster is what one ClusterDeployment's cluster objects are rendered
// from.
type Cluster struct {
	Namespace, Name string
	// Values are the ClusterDeployment's spec.config, with ipamEnabled and
	// ipPool merged as k0rdent does for its templates.
	Values        map[string]any
	ControlPlanes int64
	Workers       int64
	// Pool is the node network's CAPI pool; nil without IPAM (machines
	// then use DHCP).
	Pool *Pool
	// Endpoints are control-plane endpoint candidates from the IPAM, in
	// order, used when spec.config sets none.
	Endpoints []string
}

// A Pool is the CAPI pool of a bound ClusterIPAM's node network.
type Pool struct {
	// Ref is the pool's typed reference {apiGroup, kind, name}, as
	// k0rdent's ipPool value and CAPV's addressesFromPools take it.
	Ref     map[string]any
	Gateway string
}

// An Object is one rendered cluster object.
type Object struct {
	Name     resource.Name
	Resource *composed.Unstructured
	// Template is true for objects that only describe machines
	// (machine and bootstrap templates): they are ready once they exist.
	// Others are ready once Available (CAPI v1beta2) or Ready.
	Template bool
}

// Integer reads an integer at path in values. Values that came through the
// function's protobuf request are float64, those from JSON int64; a
// fraction or a number beyond int64 is an error, not a silent rounding.
func Integer(values map[string]any, path ...string) (int64, bool, error) {
	var cur any = values
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return 0, false, nil
		}
		if cur, ok = m[p]; !ok {
			return 0, false, nil
		}
	}
	switch v := cur.(type) {
	case int64:
		return v, true, nil
	case float64:
		// Converting a float beyond int64 gives an arbitrary integer.
		if v >= math.MaxInt64 || v < math.MinInt64 {
			return 0, true, fmt.Errorf("%v is out of range", v)
		}
		if v != float64(int64(v)) {
			return 0, true, fmt.Errorf("%v is not an integer", v)
		}
		return int64(v), true, nil
	}
	return 0, true, fmt.Errorf("%v is not a number", cur)
}
