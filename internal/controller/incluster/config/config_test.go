package config_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/conditions"
	ipamcontroller "github.com/provider-ipam/provider-ipam/internal/controller"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

var (
	env  *testenv.Env
	kube client.Client
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	kube, err = client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// waitValid waits until the ClusterProviderConfig's Valid condition, for
// its current generation, has the status and reason wanted, and returns it.
func waitValid(t *testing.T, name string, status metav1.ConditionStatus, reason string) metav1.Condition {
	t.Helper()
	var c metav1.Condition
	testenv.Eventually(t, time.Minute, fmt.Sprintf("ClusterProviderConfig %s Valid=%s (%s)", name, status, reason), func(ctx context.Context) (bool, error) {
		cpc := &v1alpha1.ClusterProviderConfig{}
		if err := kube.Get(ctx, client.ObjectKey{Name: name}, cpc); err != nil {
			return false, err
		}
		got := meta.FindStatusCondition(cpc.Status.Conditions, v1alpha1.ConditionValid)
		if got == nil || got.ObservedGeneration != cpc.Generation {
			return false, nil
		}
		c = *got
		return got.Status == status && got.Reason == reason, nil
	})
	return c
}

// TestValidity: every ClusterProviderConfig says on itself whether its
// allowances can be applied, naming the field of the first that cannot,
// and says so again once it is fixed.
func TestValidity(t *testing.T) {
	ctx := context.Background()
	env.RunManager(t, ipamcontroller.Setup)

	selector := func(op metav1.LabelSelectorOperator) metav1.LabelSelector {
		return metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: op, Values: []string{"a"}}}}
	}
	cases := []struct {
		name   string
		allow  []v1alpha1.AddressAllowance
		reason string
		says   string
	}{
		{"valid", []v1alpha1.AddressAllowance{{Addresses: []string{"10.61.0.0/24", "10.61.1.10-10.61.1.20", "2001:db8:61::1"}}, {NamespaceSelector: selector(metav1.LabelSelectorOpIn), Addresses: []string{"10.61.2.0/24"}}},
			v1alpha1.ReasonPolicyValid, "every allowance can be applied"},
		{"none", nil, v1alpha1.ReasonPolicyValid, "every allowance can be applied"},
		{"reversed", []v1alpha1.AddressAllowance{{Addresses: []string{"10.61.3.0/24", "10.61.4.20-10.61.4.10"}}},
			v1alpha1.ReasonPolicyInvalid, `allow[0].addresses[1] "10.61.4.20-10.61.4.10": range ends are reversed: requests under this ClusterProviderConfig are refused until it is fixed`},
		{"long-operator", []v1alpha1.AddressAllowance{{NamespaceSelector: selector(metav1.LabelSelectorOperator(strings.Repeat("x", 40000))), Addresses: []string{"10.61.7.0/24"}}},
			v1alpha1.ReasonPolicyInvalid, `allow[0].namespaceSelector: "xxxx`},
		{"operator", []v1alpha1.AddressAllowance{{Addresses: []string{"10.61.5.0/24"}}, {NamespaceSelector: selector("Resembles"), Addresses: []string{"10.61.6.0/24"}}},
			v1alpha1.ReasonPolicyInvalid, `allow[1].namespaceSelector: "Resembles" is not a valid label selector operator`},
	}
	for _, tc := range cases {
		cpc := &v1alpha1.ClusterProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: "validity-" + tc.name}, Spec: v1alpha1.ClusterProviderConfigSpec{Allow: tc.allow}}
		if err := kube.Create(ctx, cpc); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status := metav1.ConditionTrue
			if tc.reason == v1alpha1.ReasonPolicyInvalid {
				status = metav1.ConditionFalse
			}
			c := waitValid(t, "validity-"+tc.name, status, tc.reason)
			if !strings.Contains(c.Message, tc.says) {
				t.Errorf("message %q, want it to say %q", conditions.Cut(c.Message, 200), tc.says)
			}
			if len(c.Message) > conditions.MaxMessage+100 {
				t.Errorf("message of %d bytes, want it cut near %d", len(c.Message), conditions.MaxMessage)
			}
		})
	}

	// The platform team fixes the reversed range: the policy is valid again.
	cpc := &v1alpha1.ClusterProviderConfig{}
	if err := kube.Get(ctx, client.ObjectKey{Name: "validity-reversed"}, cpc); err != nil {
		t.Fatal(err)
	}
	cpc.Spec.Allow[0].Addresses[1] = "10.61.4.10-10.61.4.20"
	if err := kube.Update(ctx, cpc); err != nil {
		t.Fatal(err)
	}
	waitValid(t, "validity-reversed", metav1.ConditionTrue, v1alpha1.ReasonPolicyValid)

	// A refusal is also an event on the policy, for `kubectl describe`.
	testenv.Eventually(t, time.Minute, "a PolicyInvalid event on validity-operator", func(ctx context.Context) (bool, error) {
		evs := &corev1.EventList{}
		if err := kube.List(ctx, evs); err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "validity-operator" && e.Reason == v1alpha1.ReasonPolicyInvalid && e.Type == corev1.EventTypeWarning {
				return true, nil
			}
		}
		return false, nil
	})
}
