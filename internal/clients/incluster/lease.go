package incluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	ipamv1alpha1 "github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/addressing"
)

const (
	errLease    = "cannot lease"
	errEndLease = "cannot end the lease of"
)

// maxAttempts bounds how many candidates one Lease call tries: each failed
// attempt is one write refused by the API server because another process
// took the address a moment before, and teaches the index that it did.
const maxAttempts = 8

// settling is how young a lease or IPAddress may be before the sweep looks
// at it: a claim is between leasing an address and creating its IPAddress
// for one API round trip, and the cache trails the API server by less. It
// saves reads, not correctness: the sweep never ends the lease of a claim
// that still exists and has recorded no other address.
const settling = 10 * time.Second

// ErrContended says every candidate address was taken by someone else
// between the pick and the write. The caller retries.
var ErrContended = errors.New("every candidate address was taken by another process meanwhile; retrying")

// A RefusedError says a requested address cannot be handed out.
type RefusedError struct {
	Address netip.Addr
	Why     string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("requested address %s %s", e.Address, e.Why)
}

// A Lease is the ledger's record that a pool handed an address to a claim.
type Lease struct {
	Address   netip.Addr
	Namespace string
	Pool      v1alpha1.LeaseHolder
	// Claim is zero while the address cools down after its claim let go.
	Claim      v1alpha1.LeaseHolder
	LeasedAt   time.Time
	ReleasedAt time.Time
	// PoolHeld says the pool holds the Allocation itself: it drew the
	// address from the ledger.
	PoolHeld bool
	// Marked says the Allocation carries the in-use finalizer, as the
	// lease of a Reservation's address must.
	Marked bool
}

// Cooling reports whether the lease's claim has let the address go.
func (l Lease) Cooling() bool { return !l.ReleasedAt.IsZero() }

// A LeaseRequest asks the ledger for an address for one claim.
type LeaseRequest struct {
	Namespace string
	Pool      v1alpha1.LeaseHolder
	Claim     v1alpha1.LeaseHolder
	// Label names the pool in messages, e.g. "IPPool nodes".
	Label string
	// Space is what the pool may hand out.
	Space addressing.Space
	// Reservations are the Reservations (by UID, of either backend) whose
	// addresses the pool hands out: an address is leased by marking the
	// Reservation's Allocation. An Infoblox Reservation's Allocation is
	// there once the grid confirmed its address (Attest).
	Reservations []types.UID
	// Draw says the pool draws addresses of Space from the ledger itself,
	// as their holder.
	Draw bool
	// Want is the one address the claim asks for, if valid.
	Want netip.Addr
	// Heal allows leasing Want while its Allocation carries an in-use
	// mark with no lease, as versions before leases left them: the pool
	// records the IPAddress that already holds it.
	Heal bool
}

// entry is what the ledger's indexes know of one Allocation.
type entry struct {
	owner       types.UID
	reservation bool // held by a Reservation, of either backend
	deleting    bool
	marked      bool // carries the in-use finalizer
	lease       *Lease
}

// available reports whether a pool may lease the address from its
// Reservation.
func (e entry) available() bool {
	return e.reservation && !e.deleting && !e.marked && e.lease == nil
}

func entryOf(al *v1alpha1.Allocation) entry {
	o := al.Spec.Owner
	e := entry{
		owner:       types.UID(o.UID),
		reservation: holdsForPools(o),
		deleting:    !al.DeletionTimestamp.IsZero(),
		marked:      controllerutil.ContainsFinalizer(al, commonv1alpha1.FinalizerInUse),
	}
	if ls := al.Spec.Lease; ls != nil {
		a, _ := netip.ParseAddr(al.Spec.Address)
		l := &Lease{
			Address: a, Namespace: ls.Namespace, Pool: ls.Pool, LeasedAt: ls.LeasedAt.Time, Marked: e.marked,
			PoolHeld: o.APIVersion == ipamv1alpha1.SchemeGroupVersion.String() && o.Kind == ipamv1alpha1.IPPoolKind,
		}
		if ls.Claim != nil {
			l.Claim = *ls.Claim
		}
		if ls.ReleasedAt != nil {
			l.ReleasedAt = ls.ReleasedAt.Time
		}
		e.lease = l
	}
	return e
}

// remember records e as the state of a; the caller holds l.mu and has
// forgotten a's previous state.
func (l *Ledger) remember(a netip.Addr, e entry) {
	l.state[a] = e
	if e.available() {
		x, ok := l.avail[e.owner]
		if !ok {
			x = addressing.NewIndex()
			l.avail[e.owner] = x
		}
		x.Add(a)
	}
	if e.marked && e.lease == nil {
		l.bare[a] = e.owner
	}
	if ls := e.lease; ls != nil {
		m, ok := l.byPool[types.UID(ls.Pool.UID)]
		if !ok {
			m = map[netip.Addr]Lease{}
			l.byPool[types.UID(ls.Pool.UID)] = m
		}
		m[a] = *ls
		if ls.Claim.UID != "" {
			l.byClaim[types.UID(ls.Claim.UID)] = a
		}
	}
}

// forget drops what the indexes knew of a and returns it; the caller holds
// l.mu.
func (l *Ledger) forget(a netip.Addr) entry {
	e, ok := l.state[a]
	if !ok {
		return entry{}
	}
	delete(l.state, a)
	delete(l.bare, a)
	if x, ok := l.avail[e.owner]; ok {
		x.Remove(a)
		if x.Runs() == 0 {
			delete(l.avail, e.owner)
		}
	}
	if ls := e.lease; ls != nil {
		pool := types.UID(ls.Pool.UID)
		delete(l.byPool[pool], a)
		if len(l.byPool[pool]) == 0 {
			delete(l.byPool, pool)
		}
		if cur, ok := l.byClaim[types.UID(ls.Claim.UID)]; ok && cur == a {
			delete(l.byClaim, types.UID(ls.Claim.UID))
		}
	}
	return e
}

// OnFree registers fn, called with every address that becomes available
// to a pool: its Allocation deleted, its lease ended, or a Reservation
// holding it afresh. It is called outside the ledger's lock, from the
// watch, and must not block.
func (l *Ledger) OnFree(fn func(netip.Addr)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.onFree = append(l.onFree, fn)
}

// LeaseOf returns the address leased to claim, if any.
func (l *Ledger) LeaseOf(claim types.UID) (netip.Addr, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.byClaim[claim]
	return a, ok
}

// Leases returns the leases of pool, cooling ones included, sorted by
// address.
func (l *Ledger) Leases(pool types.UID) []Lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Lease, 0, len(l.byPool[pool]))
	for _, ls := range l.byPool[pool] {
		out = append(out, ls)
	}
	slices.SortFunc(out, func(a, b Lease) int { return a.Address.Compare(b.Address) })
	return out
}

// PoolsNamed returns the UIDs of the pools named name in ns the ledger
// records leases of, other than current: pools deleted (their finalizer
// removed by hand, perhaps) or replaced by a pool of the same name, whose
// own sweep no longer runs.
func (l *Ledger) PoolsNamed(ns, name string, current types.UID) []types.UID {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []types.UID
	for uid, leases := range l.byPool {
		if uid == current {
			continue
		}
		// Every lease of one pool names the same pool: one says which,
		// and a pool reconcile costs one look per pool, not per lease.
		for _, ls := range leases {
			if ls.Namespace == ns && ls.Pool.Name == name {
				out = append(out, uid)
			}
			break
		}
	}
	return out
}

// candidate is an address picked for a lease: from the Reservation owner,
// or held by the pool itself when owner is empty.
type candidate struct {
	addr  netip.Addr
	owner types.UID
	heal  bool
}

// Lease hands claim an address from what req's pool may hand out, and
// records it in the ledger: the Allocation of a Reservation's address is
// marked (in-use finalizer and lease, fenced on its resourceVersion), any
// other address gets an Allocation held by the pool. The API server is the
// arbiter: of two processes leasing one address only one write succeeds.
// A claim that already holds a lease gets it again. The address is the
// lowest the pool may hand out, or req.Want. It fails with an
// *addressing.ExhaustedError, a *RefusedError (Want) or ErrContended.
func (l *Ledger) Lease(ctx context.Context, req LeaseRequest) (netip.Addr, error) {
	if err := l.ready(ctx); err != nil {
		return netip.Addr{}, err
	}
	if a, ok := l.LeaseOf(types.UID(req.Claim.UID)); ok {
		return a, nil
	}
	if req.Draw {
		return l.draw(ctx, req)
	}
	return l.lease(ctx, req)
}

// draw leases from the ledger itself, for a pool with no Reservations: the
// default ClusterProviderConfig must allow the pool's namespace the whole
// space, and the lease counts against the namespace's quota from before the
// Allocation is created until the lease ends (a lease that could not be
// made is uncounted again).
func (l *Ledger) draw(ctx context.Context, req LeaseRequest) (netip.Addr, error) {
	al, err := l.allowance(ctx, v1alpha1.DefaultProviderConfig, req.Namespace)
	if err != nil {
		return netip.Addr{}, err
	}
	if err := al.admitsSpace(req.Space); err != nil {
		return netip.Addr{}, err
	}
	h := v1alpha1.HolderUsage{APIVersion: ipamv1alpha1.SchemeGroupVersion.String(), Kind: ipamv1alpha1.IPPoolKind, Name: req.Pool.Name, UID: req.Pool.UID}
	if err := l.charge(ctx, al, h, func(cur int64) int64 { return cur + 1 }); err != nil {
		return netip.Addr{}, err
	}
	a, err := l.lease(ctx, req)
	if err != nil {
		return netip.Addr{}, errors.Join(err, l.charge(ctx, al, h, func(cur int64) int64 { return max(cur-1, 0) }))
	}
	return a, nil
}

// lease tries candidates until one is leased.
func (l *Ledger) lease(ctx context.Context, req LeaseRequest) (netip.Addr, error) {
	for range maxAttempts {
		c, err := l.candidate(req)
		if err != nil {
			return netip.Addr{}, err
		}
		ok, err := l.take(ctx, req, c)
		l.mu.Lock()
		delete(l.pending, c.addr)
		l.mu.Unlock()
		if err != nil {
			return netip.Addr{}, fmt.Errorf("%s %s: %w", errLease, c.addr, err)
		}
		if ok {
			return c.addr, nil
		}
	}
	return netip.Addr{}, ErrContended
}

// candidate picks the address to lease and keeps it from other goroutines
// of this process until the write is done: a Reservation's is put in
// pending, any other is added to the held index, as Reserve does.
func (l *Ledger) candidate(req LeaseRequest) (candidate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if req.Want.IsValid() {
		return l.wanted(req)
	}
	skip := func(a netip.Addr) bool {
		_, p := l.pending[a]
		return p
	}
	var best candidate
	better := func(a netip.Addr) bool { return !best.addr.IsValid() || a.Less(best.addr) }
	for _, r := range req.Reservations {
		if x, ok := l.avail[r]; ok {
			if a, ok := x.First(req.Space, skip); ok && better(a) {
				best = candidate{addr: a, owner: r}
			}
		}
	}
	if req.Draw {
		if free := l.index.Free(req.Space, 1); len(free) > 0 && better(free[0]) {
			best = candidate{addr: free[0]}
		}
	}
	if !best.addr.IsValid() {
		return candidate{}, l.exhausted(req)
	}
	if best.owner == "" {
		l.index.Add(best.addr)
	} else {
		l.pending[best.addr] = struct{}{}
	}
	return best, nil
}

// wanted checks req.Want; the caller holds l.mu.
func (l *Ledger) wanted(req LeaseRequest) (candidate, error) {
	a := req.Want
	if !req.Space.Contains(a) {
		return candidate{}, &RefusedError{Address: a, Why: "is not handed out by " + req.Label + ": it is " + req.Space.Why(a)}
	}
	if _, p := l.pending[a]; p {
		return candidate{}, &RefusedError{Address: a, Why: "is being handed to another claim"}
	}
	e, held := l.state[a]
	if held && slices.Contains(req.Reservations, e.owner) {
		switch {
		case e.available():
			l.pending[a] = struct{}{}
			return candidate{addr: a, owner: e.owner}, nil
		case req.Heal && e.marked && e.lease == nil && !e.deleting:
			l.pending[a] = struct{}{}
			return candidate{addr: a, owner: e.owner, heal: true}, nil
		case e.deleting:
			return candidate{}, &RefusedError{Address: a, Why: "is being released by its Reservation"}
		}
		return candidate{}, &RefusedError{Address: a, Why: "is in use"}
	}
	if !l.index.Contains(a) && req.Draw {
		l.index.Add(a)
		return candidate{addr: a}, nil
	}
	if l.index.Contains(a) {
		return candidate{}, &RefusedError{Address: a, Why: "is in use"}
	}
	return candidate{}, &RefusedError{Address: a, Why: "is not held by the reservations of " + req.Label}
}

// exhausted says how full req's pool is; the caller holds l.mu.
func (l *Ledger) exhausted(req LeaseRequest) error {
	e := &addressing.ExhaustedError{Space: req.Label + " " + req.Space.String(), Requested: 1}
	if req.Draw {
		e.Usable, e.Held = req.Space.Size(), l.index.HeldIn(req.Space)
		return e
	}
	// What the pool's reservations hold: free (none, or this would not
	// be called) and leased by this pool.
	for _, ls := range l.byPool[types.UID(req.Pool.UID)] {
		if req.Space.Contains(ls.Address) {
			e.Usable++
		}
	}
	e.Held = e.Usable
	return e
}

// take writes the lease of c. It reports false when someone else got the
// address first; the indexes then know.
func (l *Ledger) take(ctx context.Context, req LeaseRequest, c candidate) (bool, error) {
	lease := &v1alpha1.AllocationLease{Namespace: req.Namespace, Pool: req.Pool, Claim: &req.Claim, LeasedAt: metav1.Now()}
	if c.owner == "" {
		al := &v1alpha1.Allocation{
			ObjectMeta: metav1.ObjectMeta{Name: NameFor(c.addr), Labels: map[string]string{v1alpha1.LabelOwnerUID: req.Pool.UID}},
			Spec: v1alpha1.AllocationSpec{Address: c.addr.String(), Lease: lease, Owner: v1alpha1.AllocationOwner{
				APIVersion: ipamv1alpha1.SchemeGroupVersion.String(), Kind: ipamv1alpha1.IPPoolKind,
				Namespace: req.Namespace, Name: req.Pool.Name, UID: req.Pool.UID,
			}},
		}
		switch err := l.client.Create(ctx, al); {
		case err == nil:
			// Known at once, before the watch says so: the claim's next
			// reconcile finds its lease.
			l.observe(al, true)
			return true, nil
		case kerrors.IsAlreadyExists(err):
			return false, nil
		default:
			l.unmark(c.addr)
			return false, err
		}
	}
	for _, r := range []client.Reader{l.cache, l.reader} {
		al := &v1alpha1.Allocation{}
		if err := r.Get(ctx, types.NamespacedName{Name: NameFor(c.addr)}, al); err != nil {
			if kerrors.IsNotFound(err) {
				continue
			}
			return false, err
		}
		e := entryOf(al)
		if e.owner != c.owner || !(e.available() || c.heal && e.marked && e.lease == nil && !e.deleting) {
			l.observe(al, true)
			return false, nil
		}
		orig := al.DeepCopy()
		controllerutil.AddFinalizer(al, commonv1alpha1.FinalizerInUse)
		al.Spec.Lease = lease
		switch err := l.client.Patch(ctx, al, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); {
		case err == nil:
			l.observe(al, true)
			return true, nil
		case kerrors.IsConflict(err), kerrors.IsNotFound(err):
			// Changed since read: read it afresh.
		default:
			return false, err
		}
	}
	return false, nil
}

// Return ends the lease claim holds on a: the claim let the address go.
// With cool, the lease stays, without its claim, so that nobody gets the
// address before the pool's grace period is over (End then ends it).
// Without, a Reservation's Allocation loses its mark and an Allocation the
// pool held goes. A lease of another claim is left alone.
func (l *Ledger) Return(ctx context.Context, a netip.Addr, claim types.UID, cool bool) error {
	return l.end(ctx, a, func(ls *v1alpha1.AllocationLease) bool {
		return ls.Claim != nil && ls.Claim.UID == string(claim)
	}, cool)
}

// End ends pool's lease on a, cooling or not.
func (l *Ledger) End(ctx context.Context, a netip.Addr, pool types.UID) error {
	return l.end(ctx, a, func(ls *v1alpha1.AllocationLease) bool { return ls.Pool.UID == string(pool) }, false)
}

// Unmark takes a lease-less in-use mark off the Allocation of a, as
// versions before leases left them once no IPAddress holds the address.
func (l *Ledger) Unmark(ctx context.Context, a netip.Addr) error {
	return l.end(ctx, a, nil, false)
}

// end ends the lease of a that match accepts (with match nil: a lease-less
// mark). Each write is fenced on the Allocation's resourceVersion, and a
// conflict reads it afresh from the API server.
func (l *Ledger) end(ctx context.Context, a netip.Addr, match func(*v1alpha1.AllocationLease) bool, cool bool) error {
	key := types.NamespacedName{Name: NameFor(a)}
	for i, r := range []client.Reader{l.cache, l.reader, l.reader, l.reader} {
		al := &v1alpha1.Allocation{}
		if err := r.Get(ctx, key, al); err != nil {
			if kerrors.IsNotFound(err) {
				if i == 0 {
					continue
				}
				return nil
			}
			return fmt.Errorf("%s %s: %w", errEndLease, a, err)
		}
		ours := match == nil && al.Spec.Lease == nil && controllerutil.ContainsFinalizer(al, commonv1alpha1.FinalizerInUse) ||
			match != nil && al.Spec.Lease != nil && match(al.Spec.Lease)
		if !ours {
			if i == 0 {
				continue // Perhaps the cache lags a lease just written.
			}
			return nil
		}
		e := entryOf(al)
		orig := al.DeepCopy()
		var err error
		switch {
		case cool:
			al.Spec.Lease.Claim = nil
			al.Spec.Lease.ReleasedAt = ptrTo(metav1.Now())
			err = l.client.Patch(ctx, al, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
		case e.lease != nil && e.lease.PoolHeld:
			err = l.client.Delete(ctx, al, client.Preconditions{UID: &al.UID, ResourceVersion: &al.ResourceVersion})
		default:
			controllerutil.RemoveFinalizer(al, commonv1alpha1.FinalizerInUse)
			al.Spec.Lease = nil
			err = l.client.Patch(ctx, al, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
		}
		switch {
		case err == nil:
			if cool || !(e.lease != nil && e.lease.PoolHeld) {
				l.observe(al, true)
				return nil
			}
			// The pool held the Allocation: if it drew the address from the
			// ledger, it counted against the namespace's quota until now.
			return l.uncount(ctx, al.Spec.Owner)
		case kerrors.IsNotFound(err):
			return nil
		case kerrors.IsConflict(err):
			continue
		default:
			return fmt.Errorf("%s %s: %w", errEndLease, a, err)
		}
	}
	return fmt.Errorf("%s %s: %s", errEndLease, a, errChanging)
}

// remark puts the in-use finalizer back on the Allocation of a, leased by
// pool, fenced on its resourceVersion.
func (l *Ledger) remark(ctx context.Context, a netip.Addr, pool types.UID) error {
	for _, r := range []client.Reader{l.cache, l.reader} {
		al := &v1alpha1.Allocation{}
		if err := r.Get(ctx, types.NamespacedName{Name: NameFor(a)}, al); err != nil {
			return client.IgnoreNotFound(err)
		}
		if al.Spec.Lease == nil || al.Spec.Lease.Pool.UID != string(pool) || controllerutil.ContainsFinalizer(al, commonv1alpha1.FinalizerInUse) || !al.DeletionTimestamp.IsZero() {
			return nil
		}
		orig := al.DeepCopy()
		controllerutil.AddFinalizer(al, commonv1alpha1.FinalizerInUse)
		switch err := l.client.Patch(ctx, al, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); {
		case err == nil:
			l.observe(al, true)
			return nil
		case kerrors.IsConflict(err):
		default:
			return client.IgnoreNotFound(err)
		}
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }

// A Use is an address an IPAddress of the pool holds, as the cache has it.
type Use struct {
	Claim v1alpha1.LeaseHolder
	Since time.Time
}

// ClaimState is what the API server says of a lease's claim: whether it
// exists, and which address its recorded IPAddress holds (invalid: none
// recorded yet).
type ClaimState struct {
	Exists  bool
	Address netip.Addr
}

// Holds reports whether the claim may still hold a: it exists, and its
// IPAddress holds a or is not recorded yet (in flight, or the cache lags).
func (s ClaimState) Holds(a netip.Addr) bool {
	return s.Exists && (!s.Address.IsValid() || s.Address == a)
}

// A Sweep brings the ledger in line with one pool's IPAddresses.
type Sweep struct {
	Namespace string
	Pool      v1alpha1.LeaseHolder
	Label     string
	Space     addressing.Space
	Grace     time.Duration
	// Reservations are the pool's Reservations, of either backend, whose
	// lease-less marks are swept too.
	Reservations []types.UID
	Draw         bool
	// InUse are the addresses the pool's IPAddresses hold.
	InUse map[netip.Addr]Use
	// Claim asks the API server about a lease's claim.
	Claim func(context.Context, v1alpha1.LeaseHolder) (ClaimState, error)
	// Now is the time the sweep runs at.
	Now time.Time
}

// Run ends the leases that are over (cooled down, or of a claim that is
// gone or holds another address), leases again the addresses IPAddresses
// hold without a lease (a mark lost, or made before leases), and takes
// lease-less marks off addresses no IPAddress holds. It returns how long
// until it should run again: the next cooling lease ends, or a young lease
// or IPAddress it passed over settles (0: never).
func (s Sweep) Run(ctx context.Context, l *Ledger) (time.Duration, error) {
	var next time.Duration
	leased := map[netip.Addr]bool{}
	for _, ls := range l.Leases(types.UID(s.Pool.UID)) {
		leased[ls.Address] = true
		if ls.Cooling() {
			if left := ls.ReleasedAt.Add(s.Grace).Sub(s.Now); left > 0 {
				next = sooner(next, left)
				continue
			}
			if err := l.End(ctx, ls.Address, types.UID(s.Pool.UID)); err != nil {
				return 0, err
			}
			continue
		}
		if !ls.PoolHeld && !ls.Marked {
			// The mark was lost (taken off by hand): a shrink could
			// release the address under its machine.
			if err := l.remark(ctx, ls.Address, types.UID(ls.Pool.UID)); err != nil {
				return 0, err
			}
		}
		if u, ok := s.InUse[ls.Address]; ok && u.Claim.UID == ls.Claim.UID {
			continue
		}
		if age := s.Now.Sub(ls.LeasedAt); age < settling {
			next = sooner(next, settling-age)
			continue
		}
		st, err := s.Claim(ctx, ls.Claim)
		if err != nil {
			return 0, err
		}
		if st.Holds(ls.Address) {
			continue
		}
		if err := l.Return(ctx, ls.Address, types.UID(ls.Claim.UID), s.Grace > 0 && st.Exists); err != nil {
			return 0, err
		}
	}
	for a, u := range s.InUse {
		if leased[a] {
			continue
		}
		if age := s.Now.Sub(u.Since); age < settling {
			next = sooner(next, settling-age)
			continue
		}
		if cur, ok := l.LeaseOf(types.UID(u.Claim.UID)); ok && cur != a {
			continue // The claim holds another lease: that one is swept above.
		}
		req := LeaseRequest{
			Namespace: s.Namespace, Pool: s.Pool, Claim: u.Claim, Label: s.Label, Space: s.Space,
			Reservations: s.Reservations, Draw: s.Draw, Want: a, Heal: true,
		}
		if _, err := l.Lease(ctx, req); err != nil {
			var refused *RefusedError
			var policy *PolicyError
			if errors.As(err, &refused) || errors.As(err, &policy) || errors.Is(err, ErrContended) {
				continue // Reported by the pool's status: the address is not leased.
			}
			return 0, err
		}
	}
	for _, a := range l.marked(s.Reservations) {
		if _, used := s.InUse[a]; used {
			continue // Leased above.
		}
		if err := l.Unmark(ctx, a); err != nil {
			return 0, err
		}
	}
	return next, nil
}

// sooner is the shorter of two waits, 0 meaning none.
func sooner(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

// marked lists the addresses of owners whose Allocation carries an in-use
// mark with no lease.
func (l *Ledger) marked(owners []types.UID) []netip.Addr {
	if len(owners) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []netip.Addr
	for a, owner := range l.bare {
		if slices.Contains(owners, owner) {
			out = append(out, a)
		}
	}
	return out
}
