package reservation_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// The reliability tests of this file draw from 10.201.0.0/16, which no
// other test of this package uses.

// relNamespace creates a namespace named after prefix, unique so that the
// tests may run again in one process (-count).
func relNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := kube.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// TestInclusterAdmission: malformed in-cluster Reservations and
// ClusterProviderConfigs, and changes to what is immutable, are refused by
// the API server with a message naming the rule.
func TestInclusterAdmission(t *testing.T) {
	ns := relNamespace(t, "rel-admission")
	const res = "apiVersion: incluster.ipam.provider-ipam.io/v1alpha1\nkind: Reservation\n"
	const cpc = "apiVersion: incluster.ipam.provider-ipam.io/v1alpha1\nkind: ClusterProviderConfig\n"
	t.Run("Reservation", func(t *testing.T) {
		testenv.CheckAdmission(t, kube, ns, map[string]testenv.AdmissionCase{
			"CountZero": {Obj: res + "spec: {forProvider: {space: {cidr: 10.201.0.0/24}, count: 0}}",
				Want: "spec.forProvider.count in body should be greater than or equal to 1"},
			"CountAboveTheLimit": {Obj: res + "spec: {forProvider: {space: {cidr: 10.201.0.0/24}, count: 4097}}",
				Want: "spec.forProvider.count in body should be less than or equal to 4096"},
			"CountOfInt64Max": {Obj: res + "spec: {forProvider: {space: {cidr: 10.201.0.0/24}, count: 9223372036854775807}}",
				Want: "spec.forProvider.count in body should be less than or equal to 4096"},
			"CountNotAnInteger": {Obj: res + "spec: {forProvider: {space: {cidr: 10.201.0.0/24}, count: many}}",
				Want: "spec.forProvider.count in body must be of type integer"},
			"AllAddressesWithCount": {Obj: res + "spec: {forProvider: {space: {cidr: 10.201.0.0/24}, allAddresses: true, count: 2}}",
				Want: "allAddresses holds the whole space: it excludes address and count"},
			"AllAddressesWithAddress": {Obj: res + "spec: {forProvider: {space: {cidr: 10.201.0.0/24}, allAddresses: true, address: 10.201.0.5}}",
				Want: "allAddresses holds the whole space: it excludes address and count"},
			"AllAddressesWithoutSpace": {Obj: res + "spec: {forProvider: {allAddresses: true}}",
				Want: "allAddresses needs a space"},
			"NamespacedProviderConfig": {Obj: res + "spec: {forProvider: {space: {cidr: 10.201.0.0/24}}, providerConfigRef: {kind: ProviderConfig, name: mine}}",
				Want: "spec.providerConfigRef.kind: Invalid value: providerConfigRef.kind must be ClusterProviderConfig"},
			"PrefixBeyond128": {Obj: res + "spec: {forProvider: {space: {cidr: 2001:db8:201::/64, prefix: 129}}}",
				Want: "spec.forProvider.space.prefix in body should be less than or equal to 128"},
			"EmptyAddressList": {Obj: res + "spec: {forProvider: {space: {ipAddresses: []}}}",
				Want: "spec.forProvider.space.ipAddresses in body should have at least 1 items"},
			"TooManyListEntries": {Obj: res + "spec: {forProvider: {space: {ipAddresses: " + testenv.FlowList(1025, "10.201.%d.1") + "}}}",
				Want: "spec.forProvider.space.ipAddresses: Too many: 1025: must have at most 1024 items"},
			"CIDRTooLong": {Obj: res + "spec: {forProvider: {space: {cidr: \"" + strings.Repeat("1", 50) + "\"}}}",
				Want: "spec.forProvider.space.cidr: Too long: may not be more than 49 bytes"},
			"AddressTooLong": {Obj: res + "spec: {forProvider: {address: \"" + strings.Repeat("a", 46) + "\"}}",
				Want: "spec.forProvider.address: Too long: may not be more than 45 bytes"},
			"SpaceChanged": {Old: res + "spec: {forProvider: {space: {cidr: 10.201.0.0/24}}, managementPolicies: [Observe]}",
				Patch: `{"spec":{"forProvider":{"space":{"cidr":"10.201.1.0/24"}}}}`, Want: "space is immutable: create a new Reservation to move addresses"},
			"SpaceReplacedByAnAddress": {Old: res + "spec: {forProvider: {space: {cidr: 10.201.0.0/24}}, managementPolicies: [Observe]}",
				Patch: `{"spec":{"forProvider":{"space":null,"address":"10.201.0.5"}}}`, Want: "space is immutable"},
			"AddressChanged": {Old: res + "spec: {forProvider: {address: 10.201.0.5}, managementPolicies: [Observe]}",
				Patch: `{"spec":{"forProvider":{"address":"10.201.0.6"}}}`, Want: "address is immutable"},
			"ProviderConfigRefChanged": {Old: res + "spec: {forProvider: {address: 10.201.0.5}, managementPolicies: [Observe]}",
				Patch: `{"spec":{"providerConfigRef":{"kind":"ClusterProviderConfig","name":"other"}}}`, Want: "providerConfigRef is immutable"},
		})
	})
	t.Run("ClusterProviderConfig", func(t *testing.T) {
		testenv.CheckAdmission(t, kube, "", map[string]testenv.AdmissionCase{
			"MalformedAddress": {Obj: cpc + "spec: {allow: [{namespaceSelector: {}, addresses: [10.201.0.0/33]}]}",
				Want: "must be an IP address, a CIDR or a range first-last"},
			"NoAddresses": {Obj: cpc + "spec: {allow: [{namespaceSelector: {}}]}",
				Want: "spec.allow[0].addresses: Required value"},
			"EmptyAddresses": {Obj: cpc + "spec: {allow: [{namespaceSelector: {}, addresses: []}]}",
				Want: "spec.allow[0].addresses in body should have at least 1 items"},
			"NameTooLongForItsQuotaUsage": {Obj: cpc + "spec: {}", Name: strings.Repeat("a", 190),
				Want: "metadata.name may be at most 189 characters long"},
			"NegativeQuota": {Obj: cpc + "spec: {allow: [{namespaceSelector: {}, addresses: [10.201.0.0/24], maxAddressesPerNamespace: -1}]}",
				Want: "spec.allow[0].maxAddressesPerNamespace in body should be greater than or equal to 0"},
			"QuotaAboveTheLimit": {Obj: cpc + "spec: {allow: [{namespaceSelector: {}, addresses: [10.201.0.0/24], maxAddressesPerNamespace: 1000000001}]}",
				Want: "spec.allow[0].maxAddressesPerNamespace in body should be less than or equal to 1000000000"},
			"TooManyAllowances": {Obj: cpc + "spec: {allow: [" + strings.TrimSuffix(strings.Repeat("{namespaceSelector: {}, addresses: [10.201.0.1]}, ", 65), ", ") + "]}",
				Want: "spec.allow: Too many: 65: must have at most 64 items"},
			"TooManyAddresses": {Obj: cpc + "spec: {allow: [{namespaceSelector: {}, addresses: " + testenv.FlowList(257, "10.201.%d.1") + "}]}",
				Want: "spec.allow[0].addresses: Too many: 257: must have at most 256 items"},
			"CIDRWithHostBits": {Obj: cpc + "spec: {allow: [{namespaceSelector: {}, addresses: [10.201.4.1/24]}]}",
				Want: `spec.allow[0].addresses[0]: Invalid value: "10.201.4.1/24": a CIDR must not have host bits: use its network address`},
			"RangeOfTwoFamilies": {Obj: cpc + "spec: {allow: [{namespaceSelector: {}, addresses: [10.201.4.1-2001:db8::1]}]}",
				Want: "a range's two ends must be of one IP family"},
		})
	})
}

// refusal is what a hostile or malformed Reservation must end with: the
// Allowed condition False with reason (the address-space policy), or else
// Synced False with the reconcile error.
type refusal struct {
	reason string
	says   []string
	// never are fragments the messages must not hold: what the tenant
	// must not learn of another namespace.
	never []string
	// check, if set, checks the Reservation's status further.
	check func(t *testing.T, r *v1alpha1.Reservation)
}

// waitFailed waits until ns/name reports Synced False (ReconcileError)
// with every fragment of says in its message, and checks that it holds
// nothing.
func waitFailed(t *testing.T, ns, name string, says ...string) xpv1.Condition {
	t.Helper()
	var c xpv1.Condition
	testenv.Eventually(t, time.Minute, fmt.Sprintf("%s/%s to fail saying %q", ns, name, says), func(context.Context) (bool, error) {
		c = get(t, ns, name).GetCondition(xpv1.TypeSynced)
		if c.Status != corev1.ConditionFalse || c.Reason != xpv1.ReasonReconcileError {
			return false, nil
		}
		for _, s := range says {
			if !strings.Contains(c.Message, s) {
				return false, nil
			}
		}
		return true, nil
	})
	if r := get(t, ns, name); r.GetCondition(xpv1.TypeReady).Status == corev1.ConditionTrue || len(r.Status.AtProvider.Addresses) > 0 {
		t.Errorf("%s/%s failed but reports %v held", ns, name, r.Status.AtProvider.Addresses)
	}
	for a, h := range allocations(t, ns) {
		if h == ns+"/"+name {
			t.Errorf("%s/%s failed but the ledger says it holds %s", ns, name, a)
		}
	}
	return c
}

// TestHostileReservationsAreRefused: Reservations a tenant may write to
// get what it is not allowed, what another namespace holds, or to make the
// provider misbehave, and malformed input the API server cannot judge, are
// each refused with a condition saying why, and hold nothing.
func TestHostileReservationsAreRefused(t *testing.T) {
	startProvider(t)
	ctx := context.Background()
	tenant := relNamespace(t, "rel-tenant")
	other := relNamespace(t, "rel-other")
	suffix := fmt.Sprint(time.Now().UnixNano() % 1000000)
	cfg := func(name string) string { return "rel-" + name + "-" + suffix }
	clusterProviderConfig(t, cfg("policy"), onlyNamespace(tenant, nil, "10.201.1.0/24", "10.201.2.10-10.201.2.20"))
	clusterProviderConfig(t, cfg("quota"), onlyNamespace(tenant, ptr.To[int64](2), "10.201.3.0/24"))
	// Policies the API server admits but the ledger cannot read (a CIDR
	// with host bits is refused at admission).
	clusterProviderConfig(t, cfg("reversed"), v1alpha1.AddressAllowance{Addresses: []string{"10.201.4.20-10.201.4.10"}})
	// An allowance of another namespace with a reversed range: the tenant's
	// own allowance is fine, but a policy the ledger cannot read whole
	// grants nothing to anyone.
	clusterProviderConfig(t, cfg("elsewhere"), onlyNamespace(tenant, nil, "10.201.50.0/24"), onlyNamespace(other, nil, "10.201.51.20-10.201.51.10"))
	clusterProviderConfig(t, cfg("operator"), v1alpha1.AddressAllowance{
		NamespaceSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Resembles", Values: []string{"a"}}}},
		Addresses:         []string{"10.201.5.0/24"},
	})

	// Another namespace keeps 10.201.6.x (its Reservation orphaned it) and
	// holds 10.201.7.10.
	kept := reservation(other, "secret-keeper", cidr("10.201.6.0/24"))
	kept.Spec.ManagementPolicies = xpv1.ManagementPolicies{
		xpv1.ManagementActionObserve, xpv1.ManagementActionCreate, xpv1.ManagementActionUpdate, xpv1.ManagementActionLateInitialize,
	}
	live := reservation(other, "live-cluster", nil)
	live.Spec.ForProvider.Address = "10.201.7.10"
	for _, r := range []*v1alpha1.Reservation{kept, live} {
		if err := kube.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	keptAddr := meta.GetExternalName(waitReady(t, other, "secret-keeper"))
	waitReady(t, other, "live-cluster")
	if err := kube.Delete(ctx, kept); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the keeping Reservation gone", func(ctx context.Context) (bool, error) {
		err := kube.Get(ctx, client.ObjectKeyFromObject(kept), &v1alpha1.Reservation{})
		return kerrors.IsNotFound(err), client.IgnoreNotFound(err)
	})

	withAddress := func(r *v1alpha1.Reservation, a string) *v1alpha1.Reservation {
		r.Spec.ForProvider.Address = a
		return r
	}
	named := func(r *v1alpha1.Reservation, en string) *v1alpha1.Reservation {
		meta.SetExternalName(r, en)
		return r
	}
	space := func(s commonv1alpha1.AddressSpace) *commonv1alpha1.AddressSpace { return &s }
	secrets := []string{other, "live-cluster", "secret-keeper"}
	cases := []struct {
		name string
		r    *v1alpha1.Reservation
		want refusal
	}{
		{"NamespaceNotSelectedByThePolicy", under(reservation(other, "outside", cidr("10.201.1.0/24")), cfg("policy")),
			refusal{reason: v1alpha1.ReasonAddressSpaceNotAllowed, says: []string{"10.201.1.0/24 is not within the address space", `"` + other + `"`}}},
		{"SpaceOutsideTheAllowance", under(reservation(tenant, "elsewhere", cidr("10.201.9.0/24")), cfg("policy")),
			refusal{reason: v1alpha1.ReasonAddressSpaceNotAllowed, says: []string{"10.201.9.0/24 is not within the address space", `"` + tenant + `"`}}},
		{"SpacePartlyOutsideTheAllowance", under(reservation(tenant, "partly", space(commonv1alpha1.AddressSpace{IPAddresses: []string{"10.201.2.15-10.201.2.25"}})), cfg("policy")),
			refusal{reason: v1alpha1.ReasonAddressSpaceNotAllowed, says: []string{"(10.201.2.21 is outside it)"}}},
		{"AddressOutsideTheAllowance", under(withAddress(reservation(tenant, "one-outside", nil), "10.201.2.30"), cfg("policy")),
			refusal{reason: v1alpha1.ReasonAddressSpaceNotAllowed, says: []string{"10.201.2.30 is not within the address space"}}},
		{"NoSuchClusterProviderConfig", under(reservation(tenant, "absent", cidr("10.201.1.0/24")), cfg("absent")),
			refusal{reason: v1alpha1.ReasonProviderConfigNotAllowed, says: []string{`there is no in-cluster ClusterProviderConfig "` + cfg("absent") + `"`}}},
		{"CountAboveTheQuota", under(func() *v1alpha1.Reservation {
			r := reservation(tenant, "greedy", cidr("10.201.3.0/24"))
			r.Spec.ForProvider.Count = ptr.To[int32](3)
			return r
		}(), cfg("quota")),
			refusal{reason: v1alpha1.ReasonQuotaExceeded, says: []string{`namespace "` + tenant + `" may hold 2 addresses`, "this request needs 3 more"}}},
		{"AdoptKeptAddressOfAnotherNamespaceByExternalName", named(reservation(tenant, "adopt-by-name", cidr("10.201.6.0/24")), keptAddr),
			refusal{reason: v1alpha1.ReasonAdoptionNotAllowed, says: []string{keptAddr + " was kept by a Reservation of another namespace"}, never: secrets}},
		{"AdoptKeptAddressOfAnotherNamespaceByAddress", withAddress(reservation(tenant, "adopt-by-address", cidr("10.201.6.0/24")), keptAddr),
			refusal{reason: v1alpha1.ReasonAdoptionNotAllowed, says: []string{keptAddr + " was kept by a Reservation of another namespace"}, never: secrets}},
		{"ExternalNameHeldByAnotherNamespace", named(reservation(tenant, "claim-by-name", cidr("10.201.7.0/24")), "10.201.7.10"),
			refusal{says: []string{`10.201.7.10 is already held outside namespace "` + tenant + `"`}, never: secrets, check: conflictOn("10.201.7.10")}},
		{"AddressHeldByAnotherNamespace", withAddress(reservation(tenant, "claim-by-address", cidr("10.201.7.0/24")), "10.201.7.10"),
			refusal{says: []string{`10.201.7.10 is already held outside namespace "` + tenant + `"`}, never: secrets, check: conflictOn("10.201.7.10")}},
		{"ExternalNameNotAnAddressList", named(reservation(tenant, "garbage-name", cidr("10.201.8.0/24")), "../../allocations/10.201.8.5"),
			refusal{says: []string{"invalid external name (the addresses held)", `"../../allocations/10.201.8.5": not a CIDR`}}},
		{"ExternalNameOfTooManyAddresses", named(reservation(tenant, "huge-name", cidr("10.201.8.0/24")), "10.201.8.0-10.201.31.255"),
			refusal{says: []string{"invalid external name (the addresses held)", "more than 4096 addresses"}}},
		{"ExternalNameOutsideTheSpace", named(reservation(tenant, "name-outside", cidr("10.201.10.0/28")), "10.201.10.100"),
			refusal{says: []string{"held address cannot be handed out from the space: 10.201.10.100 is outside 10.201.10.0/28"}}},
		{"ExternalNameIsTheGateway", named(reservation(tenant, "name-gateway", space(commonv1alpha1.AddressSpace{CIDR: "10.201.11.0/28", Gateway: "10.201.11.1"})), "10.201.11.1"),
			refusal{says: []string{"held address cannot be handed out from the space: 10.201.11.1 is the gateway"}}},
		{"AddressIsTheGateway", withAddress(reservation(tenant, "address-gateway", space(commonv1alpha1.AddressSpace{CIDR: "10.201.12.0/28", Gateway: "10.201.12.1"})), "10.201.12.1"),
			refusal{says: []string{`invalid spec.forProvider: address "10.201.12.1": is the gateway`}}},
		{"AddressIsTheBroadcastAddress", withAddress(reservation(tenant, "address-broadcast", cidr("10.201.12.0/28")), "10.201.12.15"),
			refusal{says: []string{`address "10.201.12.15": is the broadcast address of 10.201.12.0/28`}}},
		{"OverlappingEntries", reservation(tenant, "overlap", space(commonv1alpha1.AddressSpace{IPAddresses: []string{"10.201.13.10-10.201.13.20", "10.201.13.15"}})),
			refusal{says: []string{`ipAddresses[1] "10.201.13.15": overlaps ipAddresses[0] (10.201.13.10-10.201.13.20)`}}},
		{"ReversedRange", reservation(tenant, "reversed", space(commonv1alpha1.AddressSpace{IPAddresses: []string{"10.201.14.20-10.201.14.10"}})),
			refusal{says: []string{`ipAddresses[0] "10.201.14.20-10.201.14.10": range ends are reversed`}}},
		{"EntryOutsideItsPrefixNetwork", reservation(tenant, "beyond-prefix", space(commonv1alpha1.AddressSpace{IPAddresses: []string{"10.201.15.5", "10.201.16.5"}, Prefix: 24})),
			refusal{says: []string{`ipAddresses[1] "10.201.16.5": is outside the network 10.201.15.0/24`}}},
		{"GatewayOutsideTheWiderNetwork", reservation(tenant, "gateway-beyond", space(commonv1alpha1.AddressSpace{CIDR: "10.201.17.16/28", Prefix: 24, Gateway: "10.201.18.1"})),
			refusal{says: []string{`gateway "10.201.18.1": is outside the network 10.201.17.0/24`}}},
		{"AllAddressesOfAHugeSpace", func() *v1alpha1.Reservation {
			r := reservation(tenant, "all-of-a-slash-19", cidr("10.201.32.0/19"))
			r.Spec.ForProvider.AllAddresses = true
			return r
		}(),
			refusal{says: []string{"holds 8190 usable addresses, more than the 4096 a reservation may hold"}}},
		{"CountLargerThanTheSpace", func() *v1alpha1.Reservation {
			r := reservation(tenant, "too-many", cidr("10.201.19.0/29"))
			r.Spec.ForProvider.Count = ptr.To[int32](7)
			return r
		}(),
			refusal{says: []string{"not enough free addresses in 10.201.19.0/29: 7 requested, 6 usable, 0 already held, 6 free"}, check: func(t *testing.T, r *v1alpha1.Reservation) {
				if s := r.Status.AtProvider.Shortfall; s == nil || s.Requested != 7 || s.Free != 6 {
					t.Errorf("shortfall %+v, want 7 requested, 6 free", s)
				}
			}}},
		{"PolicyWithAReversedRange", under(reservation(tenant, "under-reversed", cidr("10.201.4.0/28")), cfg("reversed")),
			refusal{says: []string{`in-cluster ClusterProviderConfig "` + cfg("reversed") + `": allow[0].addresses[0] "10.201.4.20-10.201.4.10": range ends are reversed`}}},
		{"PolicyWithAReversedRangeForAnotherNamespace", under(reservation(tenant, "under-elsewhere", cidr("10.201.50.0/28")), cfg("elsewhere")),
			refusal{says: []string{`allow[1].addresses[0] "10.201.51.20-10.201.51.10": range ends are reversed`}}},
		{"PolicyWithAnUnknownSelectorOperator", under(reservation(tenant, "under-operator", cidr("10.201.5.0/28")), cfg("operator")),
			refusal{says: []string{`allow[0].namespaceSelector`, `"Resembles" is not a valid label selector operator`}}},
	}
	for _, tc := range cases {
		if err := kube.Create(ctx, tc.r); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns, name := tc.r.Namespace, tc.r.Name
			var msg string
			if tc.want.reason != "" {
				waitRefused(t, ns, name, tc.want.reason, tc.want.says...)
				msg = get(t, ns, name).GetCondition(v1alpha1.ConditionAllowed).Message
			} else {
				msg = waitFailed(t, ns, name, tc.want.says...).Message
			}
			t.Logf("refused: %s", msg)
			for _, s := range tc.want.never {
				if strings.Contains(msg, s) {
					t.Errorf("message %q names %q of another namespace", msg, s)
				}
			}
			if tc.want.check != nil {
				tc.want.check(t, get(t, ns, name))
			}
		})
	}
	// Nothing the refused Reservations asked for changed hands.
	if h := allocations(t, other)["10.201.7.10"]; h != other+"/live-cluster" {
		t.Errorf("10.201.7.10 held by %q, want still %s/live-cluster", h, other)
	}
	if h := allocations(t, other)[keptAddr]; h != other+"/secret-keeper" {
		t.Errorf("%s held by %q, want still kept by %s/secret-keeper", keptAddr, h, other)
	}
}

// conflictOn checks that a Reservation publishes a conflict on addr.
func conflictOn(addr string) func(t *testing.T, r *v1alpha1.Reservation) {
	return func(t *testing.T, r *v1alpha1.Reservation) {
		t.Helper()
		if c := r.Status.AtProvider.Conflict; c == nil || c.Address != addr {
			t.Errorf("status.atProvider.conflict %+v, want %s", c, addr)
		}
	}
}

// TestCrashRecovery: the provider dies after the ledger accepted its
// request but before the Reservation recorded it (here: the Allocations a
// crashed reconcile created, made while the Reservation is paused). The
// restarted reconcile records what is held rather than reserving again.
func TestCrashRecovery(t *testing.T) {
	startProvider(t)
	ns := relNamespace(t, "rel-crash")
	ctx := context.Background()
	cases := []struct {
		name    string
		space   *commonv1alpha1.AddressSpace
		count   int32
		made    []string // Allocations made before the crash
		want    string   // external name afterwards
		wantLen int
	}{
		{name: "OneAddressCreatedNotRecorded", space: cidr("10.201.21.0/24"), made: []string{"10.201.21.77"},
			want: "10.201.21.77", wantLen: 1},
		{name: "PartOfACountCreatedNotRecorded", space: &commonv1alpha1.AddressSpace{CIDR: "10.201.22.0/24", Gateway: "10.201.22.1"}, count: 3,
			made: []string{"10.201.22.77"}, want: "10.201.22.2-10.201.22.3,10.201.22.77", wantLen: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ToLower(tc.name)
			r := reservation(ns, name, tc.space)
			if tc.count > 0 {
				r.Spec.ForProvider.Count = ptr.To(tc.count)
			}
			meta.AddAnnotations(r, map[string]string{meta.AnnotationKeyReconciliationPaused: "true"})
			if err := kube.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
			for _, a := range tc.made {
				al := &v1alpha1.Allocation{
					ObjectMeta: metav1.ObjectMeta{Name: a, Labels: map[string]string{v1alpha1.LabelOwnerUID: string(r.UID)}},
					Spec: v1alpha1.AllocationSpec{Address: a, Owner: v1alpha1.AllocationOwner{
						APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.ReservationKind, Namespace: ns, Name: name, UID: string(r.UID),
					}},
				}
				if err := kube.Create(ctx, al); err != nil {
					t.Fatal(err)
				}
			}
			if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				cur := get(t, ns, name)
				delete(cur.Annotations, meta.AnnotationKeyReconciliationPaused)
				return kube.Update(ctx, cur)
			}); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, time.Minute, name+" to record what it holds", func(context.Context) (bool, error) {
				cur := get(t, ns, name)
				return ready(cur) && meta.GetExternalName(cur) == tc.want, nil
			})
			held := 0
			for _, h := range allocations(t, ns) {
				if h == ns+"/"+name {
					held++
				}
			}
			if held != tc.wantLen {
				t.Errorf("the ledger holds %d addresses for %s, want %d (%s)", held, name, tc.wantLen, tc.want)
			}
		})
	}
}

// k0rdentXRD is the part of a Crossplane CompositeResourceDefinition the
// API server serves once Crossplane makes a CRD of it.
type k0rdentXRD struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Scope    string                                        `json:"scope"`
		Group    string                                        `json:"group"`
		Names    apiextensionsv1.CustomResourceDefinitionNames `json:"names"`
		Versions []struct {
			Name   string `json:"name"`
			Served bool   `json:"served"`
			Schema struct {
				OpenAPIV3Schema apiextensionsv1.JSONSchemaProps `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

// installK0rdentKinds serves the configuration package's XRDs
// (ClusterIPAMClaim, ClusterIPAM, ClusterDeployment) as the CRDs Crossplane
// makes of them, with their schemas and CEL rules as they are; the fields
// Crossplane adds to every composite resource are left out.
func installK0rdentKinds(t *testing.T) {
	t.Helper()
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range []string{"xrd-clusteripamclaim.yaml", "xrd-clusteripam.yaml", "xrd-clusterdeployment.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, "package", "configuration", f))
		if err != nil {
			t.Fatal(err)
		}
		var x k0rdentXRD
		if err := yaml.Unmarshal(b, &x); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: x.Metadata.Name},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: x.Spec.Group, Names: x.Spec.Names, Scope: apiextensionsv1.ResourceScope(x.Spec.Scope),
			},
		}
		for i, v := range x.Spec.Versions {
			s := v.Schema.OpenAPIV3Schema
			crd.Spec.Versions = append(crd.Spec.Versions, apiextensionsv1.CustomResourceDefinitionVersion{
				Name: v.Name, Served: v.Served, Storage: i == 0,
				Schema:       &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &s},
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
			})
		}
		crds = append(crds, crd)
	}
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{CRDs: crds}); err != nil {
		t.Fatal(err)
	}
}

// TestK0rdentAdmission: k0rdent's ClusterIPAMClaim, ClusterIPAM and
// ClusterDeployment, served from the configuration package's XRDs, refuse
// malformed networks, node counts that overflow, and changes to what is
// immutable.
func TestK0rdentAdmission(t *testing.T) {
	installK0rdentKinds(t)
	ns := relNamespace(t, "rel-k0rdent")
	const claim = "apiVersion: k0rdent.mirantis.com/v1beta1\nkind: ClusterIPAMClaim\n"
	const ipam = "apiVersion: k0rdent.mirantis.com/v1beta1\nkind: ClusterIPAM\n"
	const deployment = "apiVersion: k0rdent.mirantis.com/v1beta1\nkind: ClusterDeployment\n"
	const node = "nodeNetwork: {cidr: 10.201.40.0/24, gateway: 10.201.40.1}"
	t.Run("ClusterIPAMClaim", func(t *testing.T) {
		testenv.CheckAdmission(t, kube, ns, map[string]testenv.AdmissionCase{
			"UnknownProvider": {Obj: claim + "spec: {provider: dhcp, " + node + "}",
				Want: `spec.provider: Unsupported value: "dhcp": supported values: "in-cluster", "ipam-infoblox"`},
			"NoNodeNetwork": {Obj: claim + "spec: {provider: in-cluster}",
				Want: "spec.nodeNetwork: Required value"},
			"NodeNetworkWithHostBits": {Obj: claim + "spec: {provider: in-cluster, nodeNetwork: {cidr: 10.201.40.1/24}}",
				Want: `spec.nodeNetwork.cidr: Invalid value: "10.201.40.1/24": must be a CIDR without host bits`},
			"BothCIDRAndList": {Obj: claim + "spec: {provider: in-cluster, nodeNetwork: {cidr: 10.201.40.0/24, ipAddresses: [10.201.40.5]}}",
				Want: "set exactly one of cidr or ipAddresses"},
			"GatewayOutsideTheNetwork": {Obj: claim + "spec: {provider: in-cluster, nodeNetwork: {cidr: 10.201.40.0/24, gateway: 10.201.41.1}}",
				Want: "gateway is outside the network"},
			"GatewayOfTheOtherFamily": {Obj: claim + "spec: {provider: in-cluster, nodeNetwork: {cidr: 10.201.40.0/24, gateway: \"2001:db8:201::1\"}}",
				Want: "gateway is not of the same IP family as the addresses"},
			"GatewayIsTheNetworkAddress": {Obj: claim + "spec: {provider: in-cluster, nodeNetwork: {cidr: 10.201.40.0/28, gateway: 10.201.40.0}}",
				Want: "spec.nodeNetwork.gateway: Invalid value: 10.201.40.0 is the network address of 10.201.40.0/28, not a host address"},
			"ClusterNetworkGatewayIsTheBroadcastAddress": {Obj: claim + "spec: {provider: in-cluster, " + node + ", clusterNetwork: {ipAddresses: [10.201.42.5], prefix: 24, gateway: 10.201.42.255}}",
				Want: "10.201.42.255 is the broadcast address of its /24 network, not a host address"},
			"ExternalNetworkOfMixedFamilies": {Obj: claim + "spec: {provider: in-cluster, " + node + ", externalNetwork: {ipAddresses: [10.201.43.5, \"2001:db8:201::5\"]}}",
				Want: "all addresses must be of one IP family"},
			"PrefixLongerThanTheCIDR": {Obj: claim + "spec: {provider: in-cluster, nodeNetwork: {cidr: 10.201.40.0/24, prefix: 25}}",
				Want: "prefix is longer than the cidr's: the network must contain the cidr"},
			"ProviderConfigRefOfAnotherKind": {Obj: claim + "spec: {provider: ipam-infoblox, " + node + ", providerConfigRef: {kind: Secret, name: grid}}",
				Want: `spec.providerConfigRef.kind: Unsupported value: "Secret"`},
			"ProviderChanged": {Old: claim + "spec: {provider: in-cluster, " + node + "}",
				Patch: `{"spec":{"provider":"ipam-infoblox"}}`, Want: "provider is immutable: create a new claim to change backends"},
			"NodeNetworkChanged": {Old: claim + "spec: {provider: in-cluster, " + node + "}",
				Patch: `{"spec":{"nodeNetwork":{"cidr":"10.201.44.0/24","gateway":"10.201.44.1"}}}`, Want: "nodeNetwork is immutable: create a new claim to move the cluster"},
			"ClusterChanged": {Old: claim + "spec: {provider: in-cluster, cluster: a, " + node + "}",
				Patch: `{"spec":{"cluster":"b"}}`, Want: "cluster is immutable once set"},
			"ClusterNetworkChanged": {Old: claim + "spec: {provider: in-cluster, " + node + ", clusterNetwork: {cidr: 10.201.45.0/30}}",
				Patch: `{"spec":{"clusterNetwork":{"cidr":"10.201.46.0/30"}}}`, Want: "clusterNetwork is immutable once set"},
			"ExternalNetworkRemoved": {Old: claim + "spec: {provider: in-cluster, " + node + ", externalNetwork: {cidr: 10.201.47.0/30}}",
				Patch: `{"spec":{"externalNetwork":null}}`, Want: "externalNetwork is immutable once set"},
		})
	})
	t.Run("ClusterIPAM", func(t *testing.T) {
		testenv.CheckAdmission(t, kube, ns, map[string]testenv.AdmissionCase{
			"GatewayIsTheBroadcastAddress": {Obj: ipam + "spec: {provider: in-cluster, nodeNetwork: {cidr: 10.201.48.0/28, gateway: 10.201.48.15}}",
				Want: "10.201.48.15 is the broadcast address of 10.201.48.0/28, not a host address"},
			"ProviderChanged": {Old: ipam + "spec: {provider: in-cluster, " + node + "}",
				Patch: `{"spec":{"provider":"ipam-infoblox"}}`, Want: "provider is immutable"},
		})
	})
	t.Run("ClusterDeployment", func(t *testing.T) {
		cd := func(config string) string {
			return deployment + "spec: {template: vsphere-standalone-cp-1-0-0, config: " + config + "}"
		}
		testenv.CheckAdmission(t, kube, ns, map[string]testenv.AdmissionCase{
			"NodeCountsSumAboveTheLimit": {Obj: cd("{controlPlaneNumber: 3000, workersNumber: 2000}"),
				Want: "spec.config: Invalid value: controlPlaneNumber + workersNumber is more than the 4096 node addresses one network can reserve"},
			"DefaultControlPlanePlusMaximumWorkers": {Obj: cd("{workersNumber: 4096}"),
				Want: "controlPlaneNumber + workersNumber is more than the 4096 node addresses one network can reserve"},
			"NodeCountsWhoseSumOverflowsInt64": {Obj: cd("{controlPlaneNumber: 9223372036854775807, workersNumber: 9223372036854775807}"),
				Want: "spec.config.controlPlaneNumber in body should be less than or equal to 4096"},
			"NegativeNodeCount": {Obj: cd("{workersNumber: -1}"),
				Want: "spec.config.workersNumber in body should be greater than or equal to 0"},
			"NodeCountNotAnInteger": {Obj: cd("{workersNumber: two}"),
				Want: "spec.config.workersNumber in body must be of type integer"},
			"NodeCountBeyondInt64": {Obj: cd("{workersNumber: 1e30}"),
				Want: "spec.config.workersNumber in body must be of type integer"},
			"NoTemplate": {Obj: deployment + "spec: {template: \"\"}",
				Want: "spec.template in body should be at least 1 chars long"},
			"IPAMClaimByRefAndInline": {Obj: deployment + "spec: {template: t, ipamClaim: {ref: a, spec: {provider: in-cluster, " + node + "}}}",
				Want: "set exactly one of ipamClaim.ref and ipamClaim.spec"},
			"InlineClaimGatewayIsTheNetworkAddress": {Obj: deployment + "spec: {template: t, ipamClaim: {spec: {provider: in-cluster, nodeNetwork: {cidr: 10.201.49.0/28, gateway: 10.201.49.0}}}}",
				Want: "spec.ipamClaim.spec.nodeNetwork.gateway: Invalid value: 10.201.49.0 is the network address of 10.201.49.0/28, not a host address"},
		})
	})
}
