package testenv

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
)

// TestAddressSpaces are the ranges tests draw addresses from: 10.0.0.0/8
// and the documentation ranges of both families.
var TestAddressSpaces = []string{"10.0.0.0/8", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"}

// AllowTestAddressSpaces creates the default in-cluster
// ClusterProviderConfig, letting every namespace draw, without a quota,
// from TestAddressSpaces. Tests of anything but the address-space policy
// need it: a fresh install allows nothing.
func AllowTestAddressSpaces(ctx context.Context, c client.Client) error {
	cpc := &v1alpha1.ClusterProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.DefaultProviderConfig},
		Spec: v1alpha1.ClusterProviderConfigSpec{Allow: []v1alpha1.AddressAllowance{{
			NamespaceSelector: metav1.LabelSelector{}, Addresses: TestAddressSpaces,
		}}},
	}
	if err := c.Create(ctx, cpc); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("cannot allow the test address spaces: %w", err)
	}
	return nil
}
