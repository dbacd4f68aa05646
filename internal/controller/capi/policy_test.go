package capi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// TestRefLessPoolFollowsThePolicy: a pool without reservationRefs draws
// from the ledger under the default ClusterProviderConfig, so a namespace
// it does not select gets nothing from it, with a reason saying so, and
// nothing is held in the ledger for it.
func TestRefLessPoolFollowsThePolicy(t *testing.T) {
	ctx := context.Background()
	// The suite's default policy lets every namespace draw the test spaces;
	// for this test, every namespace but those labelled outside-policy.
	cpc := &inclusterv1alpha1.ClusterProviderConfig{}
	if err := kube.Get(ctx, client.ObjectKey{Name: inclusterv1alpha1.DefaultProviderConfig}, cpc); err != nil {
		t.Fatal(err)
	}
	orig := cpc.DeepCopy()
	cpc.Spec.Allow = []inclusterv1alpha1.AddressAllowance{{
		NamespaceSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "outside-policy", Operator: metav1.LabelSelectorOpDoesNotExist}}},
		Addresses:         testenv.TestAddressSpaces,
	}}
	if err := kube.Patch(ctx, cpc, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A patch, not an update: the provider writes the policy's status,
		// and a stale resourceVersion would leave the suite's policy changed.
		cur := &inclusterv1alpha1.ClusterProviderConfig{}
		if err := kube.Get(ctx, client.ObjectKey{Name: inclusterv1alpha1.DefaultProviderConfig}, cur); err != nil {
			t.Errorf("cannot restore the default policy: %v", err)
			return
		}
		restored := cur.DeepCopy()
		restored.Spec = orig.Spec
		if err := kube.Patch(ctx, restored, client.MergeFrom(cur)); err != nil {
			t.Errorf("cannot restore the default policy: %v", err)
		}
	})
	startProvider(t)

	out := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "outside-", Labels: map[string]string{"outside-policy": "true"}}}
	if err := kube.Create(ctx, out); err != nil {
		t.Fatal(err)
	}
	in := namespace(t, "inside")
	for _, ns := range []string{out.Name, in} {
		create(t, ippool(ns, "draws", "10.63.0.1", 24, "10.63.0.10-10.63.0.20"))
		create(t, claim(ns, "m", "draws"))
	}
	eventually(t, 30*time.Second, "the claim outside the policy refused", func(ctx context.Context) (bool, error) {
		_, cond, err := claimCondition(ctx, out.Name, "m")
		return cond != nil && cond.Reason == inclusterv1alpha1.ReasonAddressSpaceNotAllowed, err
	})
	_, cond, err := claimCondition(ctx, out.Name, "m")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cond.Message, out.Name) || !strings.Contains(cond.Message, "10.63.0.10-10.63.0.20") {
		t.Errorf("condition message %q names neither the namespace nor the space", cond.Message)
	}
	eventually(t, 30*time.Second, "the claim inside the policy bound", func(ctx context.Context) (bool, error) {
		bound, _, err := claimsState(ctx, in)
		return bound["m"] != "", err
	})
	if got := addresses(t, out.Name); len(got) != 0 {
		t.Errorf("the namespace outside the policy got %v", got)
	}
	for a := 10; a <= 20; a++ {
		al, err := allocation(ctx, fmt.Sprintf("10.63.0.%d", a))
		if err != nil {
			t.Fatal(err)
		}
		if al != nil && al.Spec.Owner.Namespace == out.Name {
			t.Errorf("the ledger holds %s for the namespace outside the policy", al.Spec.Address)
		}
	}
}
