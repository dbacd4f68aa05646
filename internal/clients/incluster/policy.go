package incluster

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"go4.org/netipx"
	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/addressing"
)

// maxQuotaTries bounds how often one request retries its QuotaUsage write
// after another request of the namespace wrote it first.
const maxQuotaTries = 16

// A PolicyError says the address-space policy refuses a request. Reason is
// one of v1alpha1's policy reasons; nothing is held for the request.
type PolicyError struct {
	Reason  string
	Message string
}

func (e *PolicyError) Error() string { return e.Message }

// An allowance is what one ClusterProviderConfig lets one namespace draw.
type allowance struct {
	config    string
	namespace string
	set       *netipx.IPSet
	// quota is the namespace's limit under config; nil: none.
	quota *int64
}

// allowanceKey names what an allowance was built from.
type allowanceKey struct {
	config, configRV, namespace, namespaceRV string
}

// allowances remembers, per config and namespace, the allowance last built
// and from which versions. An entry is replaced when either version
// changes, so it holds one allowance per namespace and config that drew.
type allowances struct {
	mu sync.Mutex
	m  map[[2]string]cachedAllowance
}

type cachedAllowance struct {
	key allowanceKey
	a   allowance
}

func (c *allowances) get(k allowanceKey) (allowance, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[[2]string{k.config, k.namespace}]
	if !ok || e.key != k {
		return allowance{}, false
	}
	return e.a, true
}

func (c *allowances) put(k allowanceKey, a allowance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[2]string]cachedAllowance{}
	}
	c.m[[2]string{k.config, k.namespace}] = cachedAllowance{key: k, a: a}
}

// configName is the ClusterProviderConfig an owner draws under.
func configName(o v1alpha1.AllocationOwner) string {
	if o.ProviderConfig == "" {
		return v1alpha1.DefaultProviderConfig
	}
	return o.ProviderConfig
}

// allowance reads, from the cache, what ClusterProviderConfig cfg lets
// namespace ns draw. A missing ClusterProviderConfig allows nothing: a
// fresh install hands out no address until the platform team says which.
func (l *Ledger) allowance(ctx context.Context, cfg, ns string) (allowance, error) {
	cpc := &v1alpha1.ClusterProviderConfig{}
	if err := l.cache.Get(ctx, types.NamespacedName{Name: cfg}, cpc); err != nil {
		if kerrors.IsNotFound(err) {
			return allowance{}, &PolicyError{Reason: v1alpha1.ReasonProviderConfigNotAllowed, Message: fmt.Sprintf(
				"there is no in-cluster ClusterProviderConfig %q: no address space is allowed to namespace %q until the platform team creates it", cfg, ns)}
		}
		return allowance{}, fmt.Errorf("cannot get the in-cluster ClusterProviderConfig %q: %w", cfg, err)
	}
	// The allowance depends only on the config and, when it selects
	// namespaces, the namespace's labels: reuse it while neither changed.
	// Every claim of a pool drawing from the ledger asks, and a policy of
	// many ranges costs parsing and an IPSet to build.
	var nsRV string
	nsLabels := labels.Set{}
	if selects(cpc) {
		n := &corev1.Namespace{}
		if err := l.cache.Get(ctx, types.NamespacedName{Name: ns}, n); err != nil {
			return allowance{}, fmt.Errorf("cannot read the labels of namespace %q: %w", ns, err)
		}
		nsRV = n.ResourceVersion
		if n.Labels != nil {
			nsLabels = labels.Set(n.Labels)
		}
	}
	key := allowanceKey{config: cfg, configRV: cpc.ResourceVersion, namespace: ns, namespaceRV: nsRV}
	if a, ok := l.allowances.get(key); ok {
		return a, nil
	}
	a, err := buildAllowance(cpc, ns, nsLabels)
	if err != nil {
		return allowance{}, err
	}
	l.allowances.put(key, a)
	return a, nil
}

// selects reports whether any allowance of cpc selects namespaces by
// label: only then does the namespace (its labels) matter.
func selects(cpc *v1alpha1.ClusterProviderConfig) bool {
	for _, al := range cpc.Spec.Allow {
		if len(al.NamespaceSelector.MatchLabels) > 0 || len(al.NamespaceSelector.MatchExpressions) > 0 {
			return true
		}
	}
	return false
}

// buildAllowance works out what cpc lets namespace ns, labelled nsLabels,
// draw. A policy with any part the ledger cannot apply allows nothing, to
// every namespace: it says what the platform team meant nowhere, and
// CheckPolicy reports it on the ClusterProviderConfig.
func buildAllowance(cpc *v1alpha1.ClusterProviderConfig, ns string, nsLabels labels.Set) (allowance, error) {
	cfg := cpc.Name
	a := allowance{config: cfg, namespace: ns}
	var b netipx.IPSetBuilder
	for i, al := range cpc.Spec.Allow {
		sel, ranges, err := parseAllowance(i, al)
		if err != nil {
			return allowance{}, fmt.Errorf("in-cluster ClusterProviderConfig %q: %w", cfg, err)
		}
		if !sel.Empty() && !sel.Matches(nsLabels) {
			continue
		}
		for _, r := range ranges {
			b.AddRange(r)
		}
		if q := al.MaxAddressesPerNamespace; q != nil && (a.quota == nil || *q < *a.quota) {
			a.quota = new(*q)
		}
	}
	set, err := b.IPSet()
	if err != nil {
		return allowance{}, fmt.Errorf("in-cluster ClusterProviderConfig %q: %w", cfg, err)
	}
	a.set = set
	return a, nil
}

// CheckPolicy returns the first part of cpc's allowances that the ledger
// cannot apply, naming its field, or nil when every part can be applied.
// Admission checks each address's form; what it cannot check (a range's
// order, a selector's operator) is found here.
func CheckPolicy(cpc *v1alpha1.ClusterProviderConfig) error {
	for i, al := range cpc.Spec.Allow {
		if _, _, err := parseAllowance(i, al); err != nil {
			return err
		}
	}
	return nil
}

// parseAllowance parses the i-th allowance's selector and addresses.
func parseAllowance(i int, al v1alpha1.AddressAllowance) (labels.Selector, []netipx.IPRange, error) {
	sel, err := metav1.LabelSelectorAsSelector(&al.NamespaceSelector)
	if err != nil {
		return nil, nil, fmt.Errorf("allow[%d].namespaceSelector: %w", i, err)
	}
	ranges := make([]netipx.IPRange, 0, len(al.Addresses))
	for j, s := range al.Addresses {
		r, err := addressing.ParseRange(fmt.Sprintf("allow[%d].addresses[%d]", i, j), s)
		if err != nil {
			return nil, nil, err
		}
		ranges = append(ranges, r)
	}
	return sel, ranges, nil
}

func (a allowance) refuse(what, why string) *PolicyError {
	return &PolicyError{Reason: v1alpha1.ReasonAddressSpaceNotAllowed, Message: fmt.Sprintf(
		"%s is not within the address space that ClusterProviderConfig %q allows namespace %q%s", what, a.config, a.namespace, why)}
}

// admits fails unless every address of addrs is allowed.
func (a allowance) admits(addrs []netip.Addr) error {
	for _, x := range addrs {
		if !a.set.Contains(x) {
			return a.refuse(x.String(), "")
		}
	}
	return nil
}

// admitsSpace fails unless every usable address of s is allowed: a request
// for "n addresses of s" may be given any of them.
func (a allowance) admitsSpace(s addressing.Space) error {
	if x, out := s.Outside(a.set); out {
		return a.refuse(s.String(), fmt.Sprintf(" (%s is outside it)", x))
	}
	return nil
}

// quotaName is the name of the QuotaUsage of ns under cfg. A namespace's
// name has no dot, so no two pairs share one; admission keeps
// ClusterProviderConfig names short enough for it to be a valid name.
func quotaName(cfg, ns string) string { return cfg + "." + ns }

// holderOf is how a QuotaUsage names an owner.
func holderOf(o v1alpha1.AllocationOwner) v1alpha1.HolderUsage {
	return v1alpha1.HolderUsage{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID}
}

// charge sets what holder h counts against a's quota to next(current),
// fenced on the QuotaUsage's resourceVersion: of two requests racing for the
// last addresses of a quota, the second reads the first's count and is
// refused. Raising is refused beyond the quota; lowering never is. Without
// a quota it does nothing. It must return before any Allocation the count
// covers is created.
func (l *Ledger) charge(ctx context.Context, a allowance, h v1alpha1.HolderUsage, next func(cur int64) int64) error {
	if a.quota == nil {
		return nil
	}
	for range maxQuotaTries {
		u, exists, err := l.usage(ctx, a.config, a.namespace)
		if err != nil {
			return err
		}
		i, cur, want := find(u, h.UID, next)
		if want == cur {
			return nil
		}
		if want > cur && u.Spec.Total-cur+want > *a.quota {
			// Holders that are gone may still be counted for addresses
			// released since (adopted, or the pool's leases ended): recount
			// them, and write that with this request's count.
			if err := l.recountGone(ctx, u); err != nil {
				return err
			}
			if i, cur, want = find(u, h.UID, next); u.Spec.Total-cur+want > *a.quota {
				return &PolicyError{Reason: v1alpha1.ReasonQuotaExceeded, Message: fmt.Sprintf(
					"namespace %q may hold %d addresses under ClusterProviderConfig %q: it holds or has asked for %d, and this request needs %d more",
					a.namespace, *a.quota, a.config, u.Spec.Total, want-cur)}
			}
		}
		switch {
		case i >= 0 && want == 0:
			u.Spec.Holders = slices.Delete(u.Spec.Holders, i, i+1)
		case i >= 0:
			u.Spec.Holders[i].Addresses = want
		default:
			h.Addresses = want
			u.Spec.Holders = append(u.Spec.Holders, h)
		}
		u.Spec.Total += want - cur
		if exists {
			err = l.client.Update(ctx, u)
		} else {
			err = l.client.Create(ctx, u)
		}
		switch {
		case err == nil:
			return nil
		case kerrors.IsConflict(err), kerrors.IsAlreadyExists(err), kerrors.IsNotFound(err):
			// Written by another request meanwhile: read it again.
		default:
			return fmt.Errorf("cannot count the addresses of namespace %q: %w", a.namespace, err)
		}
	}
	return fmt.Errorf("cannot count the addresses of namespace %q: %s", a.namespace, errChanging)
}

// find returns the index of holder uid in u (-1 if absent), what it counts,
// and what next would make that.
func find(u *v1alpha1.QuotaUsage, uid string, next func(int64) int64) (int, int64, int64) {
	i := slices.IndexFunc(u.Spec.Holders, func(x v1alpha1.HolderUsage) bool { return x.UID == uid })
	var cur int64
	if i >= 0 {
		cur = u.Spec.Holders[i].Addresses
	}
	return i, cur, next(cur)
}

// usage reads the QuotaUsage of ns under cfg from the API server. One that
// does not exist yet starts from what the namespace's holders hold now (a
// quota set on a namespace that already holds addresses counts them).
func (l *Ledger) usage(ctx context.Context, cfg, ns string) (*v1alpha1.QuotaUsage, bool, error) {
	u := &v1alpha1.QuotaUsage{}
	err := l.reader.Get(ctx, types.NamespacedName{Name: quotaName(cfg, ns)}, u)
	if err == nil {
		return u, true, nil
	}
	if !kerrors.IsNotFound(err) {
		return nil, false, fmt.Errorf("cannot read the addresses counted for namespace %q: %w", ns, err)
	}
	u = &v1alpha1.QuotaUsage{
		ObjectMeta: metav1.ObjectMeta{Name: quotaName(cfg, ns)},
		Spec:       v1alpha1.QuotaUsageSpec{ProviderConfig: cfg, Namespace: ns},
	}
	list := &v1alpha1.AllocationList{}
	if err := l.reader.List(ctx, list); err != nil {
		return nil, false, fmt.Errorf("cannot count the addresses of namespace %q: %w", ns, err)
	}
	for _, al := range list.Items {
		o := al.Spec.Owner
		if o.Namespace != ns || configName(o) != cfg {
			continue
		}
		i := slices.IndexFunc(u.Spec.Holders, func(x v1alpha1.HolderUsage) bool { return x.UID == o.UID })
		if i < 0 {
			u.Spec.Holders = append(u.Spec.Holders, holderOf(o))
			i = len(u.Spec.Holders) - 1
		}
		u.Spec.Holders[i].Addresses++
		u.Spec.Total++
	}
	return u, false, nil
}

// recountGone sets the count of every holder of u that no longer exists to
// the Allocations it still holds (addresses it kept), as the API server
// lists them: a holder that is gone never gains an Allocation, so this never
// counts too few.
func (l *Ledger) recountGone(ctx context.Context, u *v1alpha1.QuotaUsage) error {
	kept := u.Spec.Holders[:0]
	var total int64
	for _, h := range u.Spec.Holders {
		gone, err := l.holderGone(ctx, v1alpha1.AllocationOwner{APIVersion: h.APIVersion, Kind: h.Kind, Namespace: u.Spec.Namespace, Name: h.Name, UID: h.UID})
		if err != nil {
			return err
		}
		if gone {
			held, err := l.HeldNow(ctx, types.UID(h.UID))
			if err != nil {
				return err
			}
			h.Addresses = min(h.Addresses, int64(len(held)))
		}
		if h.Addresses > 0 {
			kept = append(kept, h)
			total += h.Addresses
		}
	}
	u.Spec.Holders = kept
	u.Spec.Total = total
	return nil
}

// Discharge stops counting owner against its namespace's quota, once
// everything it held has been released.
func (l *Ledger) Discharge(ctx context.Context, owner v1alpha1.AllocationOwner) error {
	return l.settle(ctx, owner, 0)
}

// settle lowers what owner counts against its namespace's quota to n, if it
// counts more: owner asks for fewer addresses now. Lowering is never
// refused, whatever the policy says now.
func (l *Ledger) settle(ctx context.Context, owner v1alpha1.AllocationOwner, n int64) error {
	return l.lower(ctx, owner, func(cur int64) int64 { return min(cur, n) })
}

// lower applies next, which never raises, to what owner counts against its
// namespace's quota, if the cache knows a QuotaUsage that counts owner:
// without a quota there is none, and no request is made. A QuotaUsage the
// cache does not show yet is left alone, which only counts too many.
func (l *Ledger) lower(ctx context.Context, owner v1alpha1.AllocationOwner, next func(int64) int64) error {
	cfg := configName(owner)
	u := &v1alpha1.QuotaUsage{}
	err := l.cache.Get(ctx, types.NamespacedName{Name: quotaName(cfg, owner.Namespace)}, u)
	if kerrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read the addresses counted for namespace %q: %w", owner.Namespace, err)
	}
	if !slices.ContainsFunc(u.Spec.Holders, func(x v1alpha1.HolderUsage) bool { return x.UID == owner.UID }) {
		return nil
	}
	// The quota's value does not matter when lowering; any non-nil one
	// makes charge write.
	a := allowance{config: cfg, namespace: owner.Namespace, quota: new(int64(0))}
	return l.charge(ctx, a, holderOf(owner), next)
}

// uncount takes one address off what a pool counts against its namespace's
// quota, after one of the Allocations it held is gone.
func (l *Ledger) uncount(ctx context.Context, pool v1alpha1.AllocationOwner) error {
	return l.lower(ctx, pool, func(cur int64) int64 { return max(cur-1, 0) })
}
