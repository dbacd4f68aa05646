// Package pool holds what the IPPool and IPAddressClaim controllers share:
// how an IPPool's IPAddresses are named, labelled and indexed, the per-pool
// lock, and the in-use finalizer on the pool and its reservations.
package pool

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/ipam"
)

// Labels on every IPAddress the provider creates. UIDs, not names: names may
// be longer than a label value, and a UID tells a recreated object apart.
const (
	// LabelPoolUID lets the pool controller count its IPAddresses on the
	// API server itself before releasing its reservations.
	LabelPoolUID = "ipam.provider-ipam.io/pool-uid"
	// LabelClaimUID lets the claim controller find the IPAddress it created
	// even if it crashed before recording it in the claim's status.
	LabelClaimUID = "ipam.provider-ipam.io/claim-uid"
)

// FinalizerProtectAddress keeps an IPAddress until its claim goes, as CAPI's
// IPAM contract suggests.
const FinalizerProtectAddress = "ipam.cluster.x-k8s.io/protect-address"

// Cache field indexes.
const (
	// IndexPool indexes IPAddresses and IPAddressClaims by the name of the
	// IPPool (of this provider) they reference.
	IndexPool = "provider-ipam.poolRef.name"
	// IndexClaim indexes IPAddresses by the name of their claim.
	IndexClaim = "provider-ipam.claimRef.name"
	// IndexReservation indexes IPPools by the objects they reference
	// (RefKey).
	IndexReservation = "provider-ipam.reservationRefs"
)

const errIndex = "cannot index %s by %s: %w"

// Ours reports whether ref names an IPPool of this provider.
func Ours(ref capiipamv1beta2.IPPoolReference) bool {
	return ref.APIGroup == v1alpha1.Group && ref.Kind == v1alpha1.IPPoolKind && ref.Name != ""
}

// Ref is the poolRef of p, as IPAddressClaims and IPAddresses write it.
func Ref(p *v1alpha1.IPPool) capiipamv1beta2.IPPoolReference {
	return capiipamv1beta2.IPPoolReference{APIGroup: v1alpha1.Group, Kind: v1alpha1.IPPoolKind, Name: p.Name}
}

// AddressName is the name of the IPAddress holding a in pool: the API server
// refuses a second object of one name, which is what makes an address
// impossible to hand out twice, whichever goroutine or replica tries.
// It is "<pool>.<address>" (IPv6 expanded with dashes), at most 240
// characters since a pool name has at most 200.
func AddressName(pool string, a netip.Addr) string {
	return pool + "." + incluster.NameFor(a)
}

// Space is the address space p hands out from.
func Space(p *v1alpha1.IPPool) ipam.SpaceSpec {
	return ipam.SpaceSpec{IPAddresses: p.Spec.Addresses, Gateway: p.Spec.Gateway, Prefix: int(p.Spec.Prefix)}
}

// RefKey identifies a referenced object within a namespace, whatever the
// version it is referenced at.
func RefKey(group, kind, name string) string {
	return group + "/" + kind + "/" + name
}

// SetupIndexes registers the field indexes both controllers use. It must run
// once per manager, before it starts.
func SetupIndexes(ctx context.Context, fi client.FieldIndexer) error {
	if err := fi.IndexField(ctx, &capiipamv1beta2.IPAddress{}, IndexPool, func(o client.Object) []string {
		if a := o.(*capiipamv1beta2.IPAddress); Ours(a.Spec.PoolRef) {
			return []string{a.Spec.PoolRef.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf(errIndex, "IPAddresses", "pool", err)
	}
	if err := fi.IndexField(ctx, &capiipamv1beta2.IPAddress{}, IndexClaim, func(o client.Object) []string {
		if a := o.(*capiipamv1beta2.IPAddress); Ours(a.Spec.PoolRef) && a.Spec.ClaimRef.Name != "" {
			return []string{a.Spec.ClaimRef.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf(errIndex, "IPAddresses", "claim", err)
	}
	if err := fi.IndexField(ctx, &capiipamv1beta2.IPAddressClaim{}, IndexPool, func(o client.Object) []string {
		if c := o.(*capiipamv1beta2.IPAddressClaim); Ours(c.Spec.PoolRef) {
			return []string{c.Spec.PoolRef.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf(errIndex, "IPAddressClaims", "pool", err)
	}
	if err := fi.IndexField(ctx, &v1alpha1.IPPool{}, IndexReservation, func(o client.Object) []string {
		var keys []string
		for _, r := range o.(*v1alpha1.IPPool).Spec.ReservationRefs {
			if gv, err := schema.ParseGroupVersion(r.APIVersion); err == nil {
				keys = append(keys, RefKey(gv.Group, r.Kind, r.Name))
			}
		}
		return keys
	}); err != nil {
		return fmt.Errorf(errIndex, "IPPools", "reservation", err)
	}
	return nil
}

// Locks serialize work on one pool within a process: allocations then
// rarely collide (a collision costs one refused create), and the pool
// controller never releases reservations while a claim of this process is
// between protecting them and creating its IPAddress. Across replicas the
// API server remains the arbiter.
type Locks struct {
	mu sync.Mutex
	m  map[types.NamespacedName]*sync.Mutex
}

// NewLocks returns an empty set of pool locks.
func NewLocks() *Locks {
	return &Locks{m: map[types.NamespacedName]*sync.Mutex{}}
}

// Lock locks pool k and returns its unlock function.
func (l *Locks) Lock(k types.NamespacedName) (unlock func()) {
	l.mu.Lock()
	m, ok := l.m[k]
	if !ok {
		m = &sync.Mutex{}
		l.m[k] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}
