package capi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// TestExamples applies examples/capi as the demo does (file by file, in
// kubectl's order) and checks that the claim is served and the Reservation
// protected.
func TestExamples(t *testing.T) {
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "examples", "capi", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	startProvider(t)
	ctx := context.Background()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := d.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			// Applied: what exists already (a rerun, the namespace) is kept.
			if err := kube.Create(ctx, u); client.IgnoreAlreadyExists(err) != nil {
				t.Fatalf("%s: %s %s: %v", filepath.Base(f), u.GetKind(), u.GetName(), err)
			}
		}
	}
	eventually(t, 30*time.Second, "example claim bound, Reservation protected", func(ctx context.Context) (bool, error) {
		b, _, err := claimsState(ctx, "team-a")
		if err != nil {
			return false, err
		}
		if a := addresses(t, "team-a")["capi-nodes/10.0.2.10"]; b["cluster-a-cp-0-0-0"] == "" || a.Spec.ClaimRef.Name != "cluster-a-cp-0-0-0" {
			return false, fmt.Errorf("bound: %v", b)
		}
		r := &inclusterv1alpha1.Reservation{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "capi-nodes"}, r); err != nil {
			return false, err
		}
		return hasFinalizer(r, commonv1alpha1.FinalizerInUse), nil
	})
}
