package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// An AdmissionCase is an object the API server must refuse: created as
// Obj, or, with Old, created as Old and then changed by the merge patch
// Patch.
type AdmissionCase struct {
	Obj, Old, Patch string
	// Name overrides the object's generated name.
	Name string
	Want string
}

// CheckAdmission runs the cases of one kind against the API server kube
// serves, each in namespace ns ("" for a cluster-scoped kind): each must be
// refused as Invalid with Want in the message (see Refused).
func CheckAdmission(t *testing.T, kube client.Client, ns string, cases map[string]AdmissionCase) {
	t.Helper()
	ctx := context.Background()
	suffix := fmt.Sprint(time.Now().UnixNano() % 1000000)
	i := 0
	for name, tc := range cases {
		i++
		objName := fmt.Sprintf("rel-%d-%s", i, suffix)
		if tc.Name != "" {
			objName = tc.Name
		}
		t.Run(name, func(t *testing.T) {
			src := tc.Obj
			if tc.Old != "" {
				src = tc.Old
			}
			u := FromYAML(t, src)
			u.SetName(objName)
			if ns != "" {
				u.SetNamespace(ns)
			}
			err := kube.Create(ctx, u)
			if tc.Old != "" {
				if err != nil {
					t.Fatalf("creating the object to change: %v", err)
				}
				t.Cleanup(func() { _ = kube.Delete(context.Background(), u) })
				err = kube.Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(tc.Patch)))
			}
			Refused(t, err, tc.Want)
		})
	}
}

// Refused fails the test unless err is the API server's Invalid error with
// want in its message, and not a CEL evaluation error (a rule reading a
// field another rule refuses): users must read a sentence naming the
// field.
func Refused(t testing.TB, err error, want string) {
	t.Helper()
	if !kerrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an Invalid error containing %q", err, want)
	}
	if strings.Contains(err.Error(), "evaluating rule") || strings.Contains(err.Error(), "no such key") {
		t.Fatalf("got %v, want no CEL evaluation error", err)
	}
	t.Logf("refused: %v", err)
}

// FromYAML is the object y describes, its integers decoded as int64 (as
// the API server decodes them), not as floats.
func FromYAML(t testing.TB, y string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatalf("%v:\n%s", err, y)
	}
	u := &unstructured.Unstructured{}
	if err := utiljson.Unmarshal(j, &u.Object); err != nil {
		t.Fatalf("%v:\n%s", err, y)
	}
	return u
}

// FlowList is n addresses of format (a %d verb) as a YAML flow sequence.
func FlowList(n int, format string) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`"`+format+`"`, i)
	}
	return "[" + strings.Join(items, ", ") + "]"
}
