package incluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/addressing"
)

const (
	errGetInformer = "cannot get the Allocation informer"
	errIndex       = "cannot index Allocations by owner"
	errNotSynced   = "the Allocation cache has not synced"
	errListHeld    = "cannot list the owner's Allocations"
	errGet         = "cannot get Allocation"
	errCreate      = "cannot create Allocation"
	errDelete      = "cannot delete Allocation"
	errAdopt       = "cannot adopt orphaned Allocation"
	errGetOwner    = "cannot check whether the holder still exists"
	errChanging    = "it kept changing while being released, try again"
	errClaimRace   = "it was released or taken while being claimed, try again"
)

// indexOwnerUID indexes the Allocation cache by holder UID.
const indexOwnerUID = "spec.owner.uid"

// A ConflictError says an address is held by someone else. Its message
// names the holder only to a requester of the holder's own namespace: a
// tenant learns that an address of another namespace is taken, never by
// whom.
type ConflictError struct {
	Address netip.Addr
	Holder  v1alpha1.AllocationOwner
	// Requester is the namespace of the owner that asked for Address.
	Requester string
}

func (e *ConflictError) Error() string {
	if e.Holder.Namespace == "" || e.Holder.Namespace != e.Requester {
		return fmt.Sprintf("%s is already held outside namespace %q", e.Address, e.Requester)
	}
	return fmt.Sprintf("%s is already held by %s %s/%s", e.Address, e.Holder.Kind, e.Holder.Namespace, e.Holder.Name)
}

// errInUse says an Allocation carries the in-use finalizer.
var errInUse = errors.New("in use")

// An InUseError says a holder keeps more addresses than it asked for
// because machines still hold them.
type InUseError struct {
	Held, Want int
	InUse      []netip.Addr
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("holding %d addresses, not %d: %s still in use by machines (%s finalizer on their Allocations); released once their IPAddresses are gone",
		e.Held, e.Want, addressing.FormatAddrs(e.InUse), commonv1alpha1.FinalizerInUse)
}

// NameFor is the name of the Allocation of a: the address itself for IPv4,
// the expanded address with dashes for IPv6 (colons are not allowed in
// names). The two forms cannot collide.
func NameFor(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	return strings.ReplaceAll(a.StringExpanded(), ":", "-")
}

// A Ledger reserves and releases addresses. It is safe for concurrent use.
type Ledger struct {
	client client.Client // writes
	reader client.Reader // reads that must not be stale: the API server itself
	cache  cache.Cache
	synced func() bool

	mu    sync.Mutex
	index *addressing.Index // every held address
	// What the watch says of each Allocation, and indexes of it for pools:
	// per Reservation the addresses a pool may lease, the leases by claim
	// and by pool, and the marks without a lease.
	state   map[netip.Addr]entry
	avail   map[types.UID]*addressing.Index
	byClaim map[types.UID]netip.Addr
	byPool  map[types.UID]map[netip.Addr]Lease
	bare    map[netip.Addr]types.UID
	// pending are Reservation addresses this process is leasing now.
	pending map[netip.Addr]struct{}
	onFree  []func(netip.Addr)
	// allowances caches what the address-space policy allows.
	allowances allowances
}

// New returns a Ledger that writes with c, confirms with r (uncached) and
// keeps its index from ca's Allocation informer. It must be called before ca
// starts: the owner index is registered here.
func New(ctx context.Context, c client.Client, r client.Reader, ca cache.Cache) (*Ledger, error) {
	if err := ca.IndexField(ctx, &v1alpha1.Allocation{}, indexOwnerUID, func(o client.Object) []string {
		return []string{o.(*v1alpha1.Allocation).Spec.Owner.UID} //nolint:forcetypeassert // The informer is for Allocations only.
	}); err != nil {
		return nil, fmt.Errorf("%s: %w", errIndex, err)
	}
	inf, err := ca.GetInformer(ctx, &v1alpha1.Allocation{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", errGetInformer, err)
	}
	// The address-space policy is read from the cache on every request:
	// started with the cache, the first request does not wait for an
	// informer to sync (an address given back would wait for it too).
	for _, o := range []client.Object{&v1alpha1.ClusterProviderConfig{}, &v1alpha1.QuotaUsage{}, &corev1.Namespace{}} {
		if _, err := ca.GetInformer(ctx, o); err != nil {
			return nil, fmt.Errorf("cannot watch %T for the address-space policy: %w", o, err)
		}
	}
	l := &Ledger{
		client: c, reader: r, cache: ca, index: addressing.NewIndex(),
		state: map[netip.Addr]entry{}, avail: map[types.UID]*addressing.Index{}, byClaim: map[types.UID]netip.Addr{},
		byPool: map[types.UID]map[netip.Addr]Lease{}, bare: map[netip.Addr]types.UID{}, pending: map[netip.Addr]struct{}{},
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { l.observe(o, true) },
		UpdateFunc: func(_, o any) { l.observe(o, true) },
		DeleteFunc: func(o any) {
			if t, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			l.observe(o, false)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", errGetInformer, err)
	}
	l.synced = reg.HasSynced
	return l, nil
}

// observe records what the watch (or a write of this process) says of an
// Allocation: held, or gone.
func (l *Ledger) observe(o any, held bool) {
	al, ok := o.(*v1alpha1.Allocation)
	if !ok {
		return
	}
	a, err := netip.ParseAddr(al.Spec.Address)
	if err != nil {
		return // Not written by this package; never a candidate either way.
	}
	l.mu.Lock()
	was := l.forget(a)
	free := !held
	if held {
		l.index.Add(a)
		e := entryOf(al)
		l.remember(a, e)
		free = e.available() && !was.available() || was.lease != nil && e.lease == nil
	} else {
		l.index.Remove(a)
	}
	fns := l.onFree
	l.mu.Unlock()
	if free {
		for _, fn := range fns {
			fn(a)
		}
	}
}

// ready waits until the index holds every Allocation that existed when the
// process started: picking from a partial index would only cost refused
// creates, but reporting exhaustion from one would be wrong.
func (l *Ledger) ready(ctx context.Context) error {
	if l.synced() {
		return nil
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), l.synced) {
		return errors.New(errNotSynced)
	}
	return nil
}

// Get returns the Allocation of a, or nil if a is free. It reads the cache
// and confirms a miss with the API server, so a fresh Allocation is seen.
func (l *Ledger) Get(ctx context.Context, a netip.Addr) (*v1alpha1.Allocation, error) {
	al := &v1alpha1.Allocation{}
	err := l.cache.Get(ctx, types.NamespacedName{Name: NameFor(a)}, al)
	if kerrors.IsNotFound(err) {
		err = l.reader.Get(ctx, types.NamespacedName{Name: NameFor(a)}, al)
	}
	if kerrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", errGet, a, err)
	}
	return al, nil
}

// Held returns, sorted, the addresses held by uid: those the cache knows of
// and those of hint (addresses the holder recorded) that the API server
// confirms, so that the answer is right even while the cache lags.
func (l *Ledger) Held(ctx context.Context, uid types.UID, hint []netip.Addr) ([]netip.Addr, error) {
	if err := l.ready(ctx); err != nil {
		return nil, err
	}
	out, err := l.cachedHeld(ctx, uid)
	if err != nil {
		return nil, err
	}
	for _, a := range hint {
		if slices.Contains(out, a) {
			continue
		}
		al, err := l.Get(ctx, a)
		if err != nil {
			return nil, err
		}
		if al != nil && al.Spec.Owner.UID == string(uid) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// cachedHeld lists the addresses the cache knows uid to hold.
func (l *Ledger) cachedHeld(ctx context.Context, uid types.UID) ([]netip.Addr, error) {
	list := &v1alpha1.AllocationList{}
	if err := l.cache.List(ctx, list, client.MatchingFields{indexOwnerUID: string(uid)}); err != nil {
		return nil, fmt.Errorf("%s: %w", errListHeld, err)
	}
	out := make([]netip.Addr, 0, len(list.Items))
	for _, al := range list.Items {
		if a, err := netip.ParseAddr(al.Spec.Address); err == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// Orphans says what to do with an address whose holder no longer exists
// (it was deleted without the Delete management policy).
type Orphans int

const (
	// RefuseOrphans counts such an address as held, so that it is never
	// handed out to someone who did not ask for it by name.
	RefuseOrphans Orphans = iota
	// AdoptOrphans takes such an address over: a holder that names it
	// adopts it.
	AdoptOrphans
)

// Hold makes owner hold every address of addrs, all or none. An address
// already held by owner is kept; one orphaned on deletion is taken over
// with AdoptOrphans.
//
// The address-space policy (owner's ClusterProviderConfig) must allow
// every address owner does not hold yet, and the namespace's quota must
// have room for them; kept addresses are adopted only by an owner of the
// namespace that kept them.
func (l *Ledger) Hold(ctx context.Context, owner v1alpha1.AllocationOwner, addrs []netip.Addr, orphans Orphans) error {
	if err := l.ready(ctx); err != nil {
		return err
	}
	mine, err := l.cachedHeld(ctx, types.UID(owner.UID))
	if err != nil {
		return err
	}
	slices.SortFunc(mine, netip.Addr.Compare)
	var fresh []netip.Addr
	for _, a := range addrs {
		if _, held := slices.BinarySearchFunc(mine, a, netip.Addr.Compare); !held {
			fresh = append(fresh, a)
		}
	}
	if len(fresh) > 0 {
		al, err := l.allowance(ctx, configName(owner), owner.Namespace)
		if err != nil {
			return err
		}
		if err := al.admits(fresh); err != nil {
			return err
		}
		if err := l.refuseHeld(ctx, owner, fresh, orphans); err != nil {
			return err
		}
		// What owner asks for counts from now: the addresses it keeps and
		// those it takes.
		want := int64(len(mine) + len(fresh))
		if err := l.charge(ctx, al, holderOf(owner), func(cur int64) int64 { return max(cur, want) }); err != nil {
			return err
		}
	}
	// A failure releases only what this call created: what owner held, or
	// adopted, it keeps.
	var made []netip.Addr
	for _, a := range addrs {
		did, cur, err := l.claim(ctx, owner, a, orphans)
		if err == nil && did == heldElsewhere {
			if cur != nil {
				err = &ConflictError{Address: a, Holder: cur.Spec.Owner, Requester: owner.Namespace}
			} else {
				err = fmt.Errorf("%s %s: %s", errCreate, a, errClaimRace)
			}
		}
		if err != nil {
			return errors.Join(err, l.release(ctx, types.UID(owner.UID), made))
		}
		if did == created {
			made = append(made, a)
		}
	}
	return nil
}

// refuseHeld fails if an address of addrs is known to be held by someone
// else (who still exists, with AdoptOrphans). Without it a set that cannot
// be held whole would be created in part and rolled back on every retry,
// visible meanwhile as a partial holding. Only addresses the index holds
// are looked up, so a free set costs no request.
func (l *Ledger) refuseHeld(ctx context.Context, owner v1alpha1.AllocationOwner, addrs []netip.Addr, orphans Orphans) error {
	for _, a := range addrs {
		l.mu.Lock()
		held := l.index.Contains(a)
		l.mu.Unlock()
		if !held {
			continue
		}
		al, err := l.Get(ctx, a)
		if err != nil {
			return err
		}
		if al == nil || al.Spec.Owner.UID == owner.UID {
			continue
		}
		if orphans == AdoptOrphans {
			gone, err := l.holderGone(ctx, al.Spec.Owner)
			if err != nil {
				return err
			}
			if gone && al.Spec.Owner.Namespace != owner.Namespace {
				return adoptionRefused(a, owner.Namespace)
			}
			if gone {
				continue
			}
		}
		return &ConflictError{Address: a, Holder: al.Spec.Owner, Requester: owner.Namespace}
	}
	return nil
}

// Reserve makes owner hold n addresses of space and returns them, sorted.
// Addresses owner already holds in space are kept; the missing ones are the
// lowest free addresses of space, all or none. If owner holds more than n,
// those it has not recorded in hint go first, then the highest, but never
// one a machine holds (its Allocation carries the in-use finalizer): if
// those keep owner above n, Reserve returns what owner still holds with an
// *InUseError, and a later call releases them once the machines are gone.
// Addresses owner holds outside space are left alone.
func (l *Ledger) Reserve(ctx context.Context, owner v1alpha1.AllocationOwner, space addressing.Space, n int, hint []netip.Addr) ([]netip.Addr, error) {
	if n < 1 || n > v1alpha1.MaxAddresses {
		return nil, fmt.Errorf("cannot reserve %d addresses: between 1 and %d may be reserved at once", n, v1alpha1.MaxAddresses)
	}
	held, err := l.Held(ctx, types.UID(owner.UID), hint)
	if err != nil {
		return nil, err
	}
	var have []netip.Addr
	for _, a := range held {
		if space.Contains(a) {
			have = append(have, a)
		}
	}
	if len(have) > n {
		// Released first: what the holder has not recorded (extras two
		// replicas racing on one holder can leave), then the highest; what
		// it recorded, and may have published, is kept longest.
		slices.SortStableFunc(have, func(a, b netip.Addr) int {
			if c := boolCmp(slices.Contains(hint, a), slices.Contains(hint, b)); c != 0 {
				return c
			}
			return b.Compare(a)
		})
		kept, err := l.shrink(ctx, types.UID(owner.UID), have, n)
		if serr := l.settle(ctx, owner, int64(len(held)-len(have)+len(kept))); serr != nil && err == nil {
			return kept, serr
		}
		return kept, err
	}
	if len(have) < n {
		al, err := l.allowance(ctx, configName(owner), owner.Namespace)
		if err != nil {
			return nil, err
		}
		if err := al.admitsSpace(space); err != nil {
			return nil, err
		}
		// What owner asks for counts from now, whether or not the space has
		// room: the n addresses, and any it holds outside the space.
		want := int64(len(held) - len(have) + n)
		if err := l.charge(ctx, al, holderOf(owner), func(cur int64) int64 { return max(cur, want) }); err != nil {
			return nil, err
		}
	}
	// A failure releases only what this call created. An address the
	// cache did not show owner holding yet counts as held, and is kept.
	var made []netip.Addr
	for len(have)+len(made) < n {
		need := n - len(have) - len(made)
		cands, err := l.pick(space, need)
		if err != nil {
			return nil, errors.Join(err, l.release(ctx, types.UID(owner.UID), made))
		}
		for i, a := range cands {
			did, _, err := l.claim(ctx, owner, a, RefuseOrphans)
			if err != nil {
				l.unmark(cands[i:]...)
				return nil, errors.Join(err, l.release(ctx, types.UID(owner.UID), made))
			}
			switch did {
			case created:
				made = append(made, a)
			case alreadyHeld:
				have = append(have, a)
			case heldElsewhere, adopted:
			}
		}
	}
	out := append(have, made...)
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// shrink releases addresses of have, first to last, until n remain, passing
// over those in use. It returns what remains, sorted.
func (l *Ledger) shrink(ctx context.Context, uid types.UID, have []netip.Addr, n int) ([]netip.Addr, error) {
	var kept, inUse []netip.Addr
	for i, a := range have {
		if len(have)-i+len(kept) <= n {
			kept = append(kept, have[i:]...)
			break
		}
		err := l.releaseOne(ctx, uid, a, true)
		switch {
		case errors.Is(err, errInUse):
			kept = append(kept, a)
			inUse = append(inUse, a)
		case err != nil:
			return nil, err
		}
	}
	slices.SortFunc(kept, netip.Addr.Compare)
	if len(kept) > n {
		slices.SortFunc(inUse, netip.Addr.Compare)
		return kept, &InUseError{Held: len(kept), Want: n, InUse: inUse}
	}
	return kept, nil
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// pick marks the n lowest free addresses of space held in the index, so that
// concurrent reservations in this process do not pick them too.
func (l *Ledger) pick(space addressing.Space, n int) ([]netip.Addr, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cands := l.index.Free(space, n)
	if len(cands) < n {
		return nil, &addressing.ExhaustedError{Space: space.String(), Usable: space.Size(), Held: l.index.HeldIn(space), Requested: uint64(n)}
	}
	for _, a := range cands {
		l.index.Add(a)
	}
	return cands, nil
}

// HeldIn counts the addresses of space the index knows to be held.
func (l *Ledger) HeldIn(space addressing.Space) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.index.HeldIn(space)
}

func (l *Ledger) unmark(addrs ...netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range addrs {
		l.index.Remove(a)
	}
}

// A claimed says what claim did with an address.
type claimed int

const (
	// heldElsewhere: someone else holds the address, or it changed under
	// claim; nothing was written.
	heldElsewhere claimed = iota
	// created: claim created the Allocation, so a rollback deletes it.
	created
	// alreadyHeld: the owner held it before, so a rollback keeps it.
	alreadyHeld
	// adopted: the owner took over a kept address of its namespace; a
	// rollback keeps it, or the address kept on purpose would be freed.
	adopted
)

// claim creates the Allocation of a for owner, or adopts it with
// AdoptOrphans. With heldElsewhere it also returns the Allocation it read
// (nil if a was released or changed meanwhile), so that the caller can say
// who holds a, or take it over, without reading it again.
func (l *Ledger) claim(ctx context.Context, owner v1alpha1.AllocationOwner, a netip.Addr, orphans Orphans) (claimed, *v1alpha1.Allocation, error) {
	al := &v1alpha1.Allocation{
		ObjectMeta: metav1.ObjectMeta{Name: NameFor(a), Labels: map[string]string{v1alpha1.LabelOwnerUID: owner.UID}},
		Spec:       v1alpha1.AllocationSpec{Address: a.String(), Owner: owner},
	}
	err := l.client.Create(ctx, al)
	if err == nil {
		return created, nil, nil
	}
	if !kerrors.IsAlreadyExists(err) {
		return heldElsewhere, nil, fmt.Errorf("%s %s: %w", errCreate, a, err)
	}
	cur := &v1alpha1.Allocation{}
	if err := l.reader.Get(ctx, types.NamespacedName{Name: al.Name}, cur); err != nil {
		if kerrors.IsNotFound(err) {
			return heldElsewhere, nil, nil // Released in between: the next pick may find it.
		}
		return heldElsewhere, nil, fmt.Errorf("%s %s: %w", errGet, a, err)
	}
	if cur.Spec.Owner.UID == owner.UID {
		return alreadyHeld, nil, nil
	}
	if orphans != AdoptOrphans {
		return heldElsewhere, cur, nil
	}
	gone, err := l.holderGone(ctx, cur.Spec.Owner)
	if err != nil || !gone {
		return heldElsewhere, cur, err
	}
	if cur.Spec.Owner.Namespace != owner.Namespace {
		return heldElsewhere, cur, adoptionRefused(a, owner.Namespace)
	}
	switch ok, err := l.takeOver(ctx, cur, owner); {
	case err != nil:
		return heldElsewhere, nil, fmt.Errorf("%s %s: %w", errAdopt, a, err)
	case !ok:
		return heldElsewhere, nil, nil
	}
	return adopted, nil, nil
}

// takeOver records owner as the holder of cur, fenced on cur's
// resourceVersion: it reports false, and writes nothing, if anyone changed
// cur since it was read (another adopted it, or its holder let it go).
func (l *Ledger) takeOver(ctx context.Context, cur *v1alpha1.Allocation, owner v1alpha1.AllocationOwner) (bool, error) {
	cur.Spec.Owner = owner
	cur.Labels = map[string]string{v1alpha1.LabelOwnerUID: owner.UID}
	if err := l.client.Update(ctx, cur); err != nil {
		if kerrors.IsConflict(err) {
			return false, nil
		}
		return false, err
	}
	l.observe(cur, true)
	return true, nil
}

// adoptionRefused says a kept address belongs to another namespace. It
// does not say which: a tenant learns nothing of another's objects.
func adoptionRefused(a netip.Addr, ns string) *PolicyError {
	return &PolicyError{Reason: v1alpha1.ReasonAdoptionNotAllowed, Message: fmt.Sprintf(
		"%s was kept by a Reservation of another namespace: kept addresses may only be adopted in the namespace that kept them, not in %q", a, ns)}
}

// holderGone reports whether the holder of an Allocation no longer exists,
// which is what an Allocation left behind by an orphaning deletion is.
func (l *Ledger) holderGone(ctx context.Context, o v1alpha1.AllocationOwner) (bool, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(schema.FromAPIVersionAndKind(o.APIVersion, o.Kind))
	err := l.reader.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: o.Name}, m)
	if kerrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", errGetOwner, err)
	}
	return string(m.GetUID()) != o.UID, nil
}

// Release frees every address held by uid, including hint's.
func (l *Ledger) Release(ctx context.Context, uid types.UID, hint []netip.Addr) error {
	held, err := l.Held(ctx, uid, hint)
	if err != nil {
		return err
	}
	return l.release(ctx, uid, held)
}

// release deletes the Allocations of addrs that uid holds, in use or not:
// one in use stays, being deleted, until its in-use finalizer is removed.
func (l *Ledger) release(ctx context.Context, uid types.UID, addrs []netip.Addr) error {
	var errs []error
	for _, a := range addrs {
		if err := l.releaseOne(ctx, uid, a, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// releaseOne deletes the Allocation of a if uid holds it; with unusedOnly,
// only if no machine holds it, else it returns errInUse. It trusts the
// cached copy first, which saves a request: the UID and resourceVersion
// preconditions make a stale copy (re-created, adopted by another holder,
// or just marked in use) fail the delete instead of freeing what it must
// not, and the fresh copy is then read and checked again.
func (l *Ledger) releaseOne(ctx context.Context, uid types.UID, a netip.Addr, unusedOnly bool) error {
	key := types.NamespacedName{Name: NameFor(a)}
	for i, r := range []client.Reader{l.cache, l.reader, l.reader} {
		al := &v1alpha1.Allocation{}
		err := r.Get(ctx, key, al)
		if kerrors.IsNotFound(err) {
			if i == 0 {
				continue
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", errGet, a, err)
		}
		if al.Spec.Owner.UID != string(uid) {
			if i == 0 {
				continue // Perhaps adopted by uid a moment ago: ask the API server.
			}
			return nil
		}
		if unusedOnly && slices.Contains(al.Finalizers, commonv1alpha1.FinalizerInUse) {
			if i == 0 {
				continue // Perhaps released by its machine a moment ago.
			}
			return errInUse
		}
		if !al.DeletionTimestamp.IsZero() {
			return nil // Released already; it goes once no machine holds it.
		}
		err = l.client.Delete(ctx, al, client.Preconditions{UID: &al.UID, ResourceVersion: &al.ResourceVersion})
		switch {
		case err == nil, kerrors.IsNotFound(err):
			return nil
		case kerrors.IsConflict(err):
			continue
		default:
			return fmt.Errorf("%s %s: %w", errDelete, a, err)
		}
	}
	return fmt.Errorf("%s %s: %s", errDelete, a, errChanging)
}
