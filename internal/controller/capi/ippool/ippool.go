// Package ippool reconciles IPPools: it keeps the ledger's leases in line
// with the pool's IPAddresses (ending those a crash left, cooled-down ones
// after the reuse grace period, and leasing again what lost its lease), it
// keeps the in-use finalizer on a pool and on the reservations it
// references while any of its addresses is handed out, and it reports how
// many addresses are used, cooling and free.
package ippool

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/logging"
	"github.com/crossplane/crossplane-runtime/v2/pkg/ratelimiter"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/addressing"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/conditions"
	"github.com/provider-ipam/provider-ipam/internal/controller/capi/backing"
	"github.com/provider-ipam/provider-ipam/internal/metrics"
)

const (
	errGetClaim     = "cannot get IPAddressClaim"
	errGetAddr      = "cannot get IPAddress"
	errGetPool      = "cannot get IPPool"
	errListPools    = "cannot list IPPools"
	errListClaims   = "cannot list the pool's IPAddressClaims"
	errListAddrs    = "cannot list the pool's IPAddresses"
	errFinalizers   = "cannot update the in-use finalizers"
	errUpdateStatus = "cannot update the pool's status"
)

// debounce is how long the pool waits after an IPAddress changed before
// it recounts: a burst of claims costs one status write per second, not
// one per claim.
const debounce = time.Second

// Setup adds a controller that reconciles IPPools. The pool indexes must be
// registered (backing.SetupIndexes), and o.Gate must be fed by the CRD gate.
func Setup(mgr ctrl.Manager, o controller.Options, l *incluster.Ledger, guards *backing.Guards) error {
	name := "ippool/" + v1alpha1.Group
	r := &Reconciler{
		kube:   mgr.GetClient(),
		apis:   mgr.GetAPIReader(),
		fin:    backing.Finalizers{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()},
		ledger: l,
		guards: guards,
		log:    o.Logger.WithValues("controller", name),
		poll:   o.PollInterval,
	}
	later := func(ctx context.Context, o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		for _, req := range addressToPool(ctx, o) {
			q.AddAfter(req, debounce)
		}
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named(name).
		WithOptions(o.ForControllerRuntime()).
		// Not its own status writes: they change nothing the pool acts on,
		// and reacting to them would recount a pool of thousands in a loop.
		For(&v1alpha1.IPPool{}, builder.WithPredicates(predicate.Funcs{UpdateFunc: specOrMetaChanged})).
		Watches(&capiipamv1beta2.IPAddress{}, handler.Funcs{
			CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				later(ctx, e.Object, q)
			},
			UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				later(ctx, e.ObjectNew, q)
			},
			DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				later(ctx, e.Object, q)
			},
			GenericFunc: func(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				later(ctx, e.Object, q)
			},
		})
	// A lease of a pool that is not there (listed at start, after the pool
	// went while no provider ran) wakes a reconcile of the pool's name,
	// which ends it. Leases of pools that exist are left to their pool.
	b = b.Watches(&inclusterv1alpha1.Allocation{}, handler.EnqueueRequestsFromMapFunc(r.leaseOfGonePool))
	c, err := b.Build(ratelimiter.NewReconciler(name, r, o.GlobalRateLimiter))
	if err != nil {
		return err
	}
	// A reservation going away makes its pools unavailable at once. Whole
	// objects, from the informers the Reservation controllers share: the
	// pool reads them from there, and a separate metadata watch could run
	// ahead of what it reads. Each kind is watched once it is served
	// (o.Gate): either may be inactive, and a pool of the other works.
	for _, w := range []struct {
		obj client.Object
		gvk schema.GroupVersionKind
	}{
		{&inclusterv1alpha1.Reservation{}, inclusterv1alpha1.ReservationGroupVersionKind},
		{&infobloxv1alpha1.Reservation{}, infobloxv1alpha1.ReservationGroupVersionKind},
	} {
		o.Gate.Register(func() {
			if err := c.Watch(source.Kind(mgr.GetCache(), w.obj, handler.EnqueueRequestsFromMapFunc(r.reservationToPools(w.gvk.GroupKind())))); err != nil {
				r.log.Info("Cannot watch Reservations: pools learn of their going away at their next poll", "kind", w.gvk.GroupKind().String(), "error", err)
			}
		}, w.gvk)
	}
	return nil
}

// specOrMetaChanged reports whether an update changed more than a pool's
// status: its spec (generation), deletion, finalizers, labels or
// annotations.
func specOrMetaChanged(e event.UpdateEvent) bool {
	o, n := e.ObjectOld, e.ObjectNew
	return o.GetGeneration() != n.GetGeneration() || !o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp()) ||
		!slices.Equal(o.GetFinalizers(), n.GetFinalizers()) || !maps.Equal(o.GetLabels(), n.GetLabels()) ||
		!maps.Equal(o.GetAnnotations(), n.GetAnnotations())
}

// reservationToPools wakes the pools that reference a reservation of kind gk.
func (r *Reconciler) reservationToPools(gk schema.GroupKind) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		l := &v1alpha1.IPPoolList{}
		if err := r.kube.List(ctx, l, client.InNamespace(o.GetNamespace()), client.MatchingFields{backing.IndexReservation: backing.RefKey(gk.Group, gk.Kind, o.GetName())}); err != nil {
			r.log.Info(errListPools, "error", err)
			return nil
		}
		out := make([]reconcile.Request, 0, len(l.Items))
		for _, p := range l.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
		}
		return out
	}
}

// leaseOfGonePool wakes the pool's name of an Allocation leased by a pool
// the cache does not hold under that UID.
func (r *Reconciler) leaseOfGonePool(ctx context.Context, o client.Object) []reconcile.Request {
	al, ok := o.(*inclusterv1alpha1.Allocation)
	if !ok || al.Spec.Lease == nil {
		return nil
	}
	ls := al.Spec.Lease
	key := client.ObjectKey{Namespace: ls.Namespace, Name: ls.Pool.Name}
	p := &v1alpha1.IPPool{}
	if err := r.kube.Get(ctx, key, p); err == nil && string(p.UID) == ls.Pool.UID {
		return nil
	}
	return []reconcile.Request{{NamespacedName: key}}
}

// addressToPool wakes the pool an IPAddress was handed out from.
func addressToPool(_ context.Context, o client.Object) []reconcile.Request {
	a, ok := o.(*capiipamv1beta2.IPAddress)
	if !ok || !backing.Ours(a.Spec.PoolRef) {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: a.Namespace, Name: a.Spec.PoolRef.Name}}}
}

// Reconciler reconciles one IPPool.
type Reconciler struct {
	kube   client.Client
	apis   client.Reader // the API server itself, for decisions that must not be stale
	fin    backing.Finalizers
	ledger *incluster.Ledger
	guards *backing.Guards
	log    logging.Logger
	poll   time.Duration
}

// Reconcile brings the ledger in line with the pool's IPAddresses, protects
// or releases the pool's reservations, and writes its status.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	p := &v1alpha1.IPPool{}
	if err := r.kube.Get(ctx, req.NamespacedName, p); err != nil {
		if !kerrors.IsNotFound(err) {
			return reconcile.Result{}, fmt.Errorf("%s: %w", errGetPool, err)
		}
		metrics.ForgetPool(req.Namespace, req.Name)
		return reconcile.Result{}, r.endGone(ctx, req.Namespace, req.Name, "")
	}
	if err := r.endGone(ctx, p.Namespace, p.Name, p.UID); err != nil {
		return reconcile.Result{}, err
	}
	// Read only, so not copied out of the cache: a pool may have thousands.
	addrs := &capiipamv1beta2.IPAddressList{}
	if err := r.kube.List(ctx, addrs, client.InNamespace(p.Namespace), client.MatchingFields{backing.IndexPool: p.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Result{}, fmt.Errorf("%s: %w", errListAddrs, err)
	}
	b, err := backing.Resolve(ctx, r.kube, p)
	if err != nil {
		return reconcile.Result{}, err
	}
	if addrs.Items, err = r.strays(ctx, p, addrs.Items); err != nil {
		return reconcile.Result{}, err
	}
	next, err := r.sweep(ctx, p, b, addrs.Items)
	if err != nil {
		return reconcile.Result{}, err
	}

	want := p.DeepCopy()
	var problem error
	if r.busy(p, addrs.Items) {
		kept, err := r.unprotectDropped(ctx, p)
		if err != nil {
			return reconcile.Result{}, fmt.Errorf("%s: %w", errFinalizers, err)
		}
		unlock, st := r.guards.Shared(p.UID)
		unlock()
		// A pool being deleted cannot take new finalizers; it still has
		// its own, set before its first address was handed out.
		if p.DeletionTimestamp.IsZero() && (!b.Protected || st.Released) {
			problem = r.fin.Protect(ctx, p)
		} else if b.Unavailable != nil {
			problem = b.Unavailable
		}
		want.Status.ProtectedRefs = append(slices.Clone(p.Spec.ReservationRefs), kept...)
	} else {
		live, done, err := r.release(ctx, p)
		if err != nil {
			return reconcile.Result{}, err
		}
		if done {
			metrics.ForgetPool(p.Namespace, p.Name)
			return reconcile.Result{}, nil
		}
		if live != nil {
			addrs = live
		} else {
			problem = b.Unavailable.OrNil()
			want.Status.ProtectedRefs = nil
		}
	}

	setStatus(want, addrs.Items, r.cooling(p), problem)
	if !equality.Semantic.DeepEqual(p.Status, want.Status) {
		if err := r.kube.Status().Patch(ctx, want, client.MergeFrom(p)); err != nil && !kerrors.IsNotFound(err) {
			return reconcile.Result{}, fmt.Errorf("%s: %w", errUpdateStatus, err)
		}
	}
	metrics.SetPool(want.Namespace, want.Name, want.Status.Total, want.Status.Used, want.Status.Free)
	if !isUnavailableOrNil(problem) {
		// Reported; retried with backoff.
		return reconcile.Result{}, fmt.Errorf("%s: %w", errFinalizers, problem)
	}
	// Polled: references of kinds not watched change unseen.
	after := r.poll
	if next > 0 && next < after {
		after = next
	}
	return reconcile.Result{RequeueAfter: after}, nil
}

// busy reports whether p hands anything out: an IPAddress, or a lease
// (of a claim in flight, or cooling down).
func (r *Reconciler) busy(p *v1alpha1.IPPool, addrs []capiipamv1beta2.IPAddress) bool {
	return len(addrs) > 0 || len(r.ledger.Leases(p.UID)) > 0
}

// release lets p's reservations go once nothing is handed out, as the API
// server says, with p's guard held alone so that no claim of this process
// is between checking their protection and creating its IPAddress. It
// returns the live IPAddresses if there turn out to be some, and done when
// p, being deleted, may now go.
func (r *Reconciler) release(ctx context.Context, p *v1alpha1.IPPool) (*capiipamv1beta2.IPAddressList, bool, error) {
	unlock, _, set := r.guards.Exclusive(p.UID)
	defer unlock()
	live, err := r.live(ctx, p)
	if err != nil {
		return nil, false, err
	}
	if len(live.Items) > 0 || len(r.ledger.Leases(p.UID)) > 0 {
		return live, false, nil
	}
	err = r.fin.Release(ctx, p, p.Status.ProtectedRefs)
	if !isUnavailableOrNil(err) {
		return nil, false, fmt.Errorf("%s: %w", errFinalizers, err)
	}
	set(backing.GuardState{Released: true})
	if !p.DeletionTimestamp.IsZero() {
		r.guards.Forget(p.UID)
		return nil, true, nil
	}
	return nil, false, nil
}

// sweep brings the ledger's leases of p in line with its IPAddresses. A
// pool being deleted with no IPAddress left ends its cooling leases at once.
func (r *Reconciler) sweep(ctx context.Context, p *v1alpha1.IPPool, b backing.Backing, addrs []capiipamv1beta2.IPAddress) (time.Duration, error) {
	space, err := addressing.ParseSpace(backing.Space(p))
	if err != nil {
		return 0, nil // Reported by the status; nothing is handed out from it.
	}
	grace := time.Duration(p.Spec.ReuseGracePeriodSeconds) * time.Second
	if !p.DeletionTimestamp.IsZero() && len(addrs) == 0 {
		grace = 0
	}
	inUse := make(map[netip.Addr]incluster.Use, len(addrs))
	for _, a := range addrs {
		if ip, err := netip.ParseAddr(a.Spec.Address); err == nil && a.DeletionTimestamp.IsZero() {
			inUse[ip] = incluster.Use{
				Claim: inclusterv1alpha1.LeaseHolder{Name: a.Spec.ClaimRef.Name, UID: a.Labels[backing.LabelClaimUID]},
				Since: a.CreationTimestamp.Time,
			}
		}
	}
	return incluster.Sweep{
		Namespace: p.Namespace, Pool: inclusterv1alpha1.LeaseHolder{Name: p.Name, UID: string(p.UID)},
		Label: "IPPool " + p.Name, Space: space, Grace: grace,
		Reservations: b.Reservations, Draw: b.Draw,
		InUse: inUse, Claim: r.claimState(p.Namespace), Now: time.Now(),
	}.Run(ctx, r.ledger)
}

// claimState asks the API server about a lease's claim in namespace ns.
func (r *Reconciler) claimState(ns string) func(context.Context, inclusterv1alpha1.LeaseHolder) (incluster.ClaimState, error) {
	return func(ctx context.Context, h inclusterv1alpha1.LeaseHolder) (incluster.ClaimState, error) {
		c := &capiipamv1beta2.IPAddressClaim{}
		switch err := r.apis.Get(ctx, client.ObjectKey{Namespace: ns, Name: h.Name}, c); {
		case kerrors.IsNotFound(err):
			return incluster.ClaimState{}, nil
		case err != nil:
			return incluster.ClaimState{}, fmt.Errorf("%s: %w", errGetClaim, err)
		case string(c.UID) != h.UID || !c.DeletionTimestamp.IsZero():
			return incluster.ClaimState{}, nil
		}
		st := incluster.ClaimState{Exists: true}
		if c.Status.AddressRef.Name == "" {
			return st, nil
		}
		a := &capiipamv1beta2.IPAddress{}
		switch err := r.apis.Get(ctx, client.ObjectKey{Namespace: ns, Name: c.Status.AddressRef.Name}, a); {
		case kerrors.IsNotFound(err):
			return st, nil
		case err != nil:
			return incluster.ClaimState{}, fmt.Errorf("%s: %w", errGetAddr, err)
		}
		st.Address, _ = netip.ParseAddr(a.Spec.Address)
		return st, nil
	}
}

// strays deletes IPAddresses of the pool that their claim, which exists,
// does not record while it records another: left by a crash or a race in
// versions that named IPAddresses after the pool and the address. Their
// addresses go back to the ledger. The API server confirms each first. It
// returns the other IPAddresses.
func (r *Reconciler) strays(ctx context.Context, p *v1alpha1.IPPool, addrs []capiipamv1beta2.IPAddress) ([]capiipamv1beta2.IPAddress, error) {
	stray := func(c *capiipamv1beta2.IPAddressClaim, a *capiipamv1beta2.IPAddress) bool {
		return string(c.UID) == a.Labels[backing.LabelClaimUID] && c.Status.AddressRef.Name != "" && c.Status.AddressRef.Name != a.Name
	}
	claims := &capiipamv1beta2.IPAddressClaimList{}
	if err := r.kube.List(ctx, claims, client.InNamespace(p.Namespace), client.MatchingFields{backing.IndexPool: p.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("%s: %w", errListClaims, err)
	}
	byName := make(map[string]*capiipamv1beta2.IPAddressClaim, len(claims.Items))
	for i := range claims.Items {
		byName[claims.Items[i].Name] = &claims.Items[i]
	}
	out := addrs[:0]
	for i := range addrs {
		a := &addrs[i]
		c, ok := byName[a.Spec.ClaimRef.Name]
		if !ok || !stray(c, a) {
			out = append(out, *a)
			continue
		}
		// The API server confirms what the cache says.
		live := &capiipamv1beta2.IPAddressClaim{}
		if err := r.apis.Get(ctx, client.ObjectKeyFromObject(c), live); err != nil || !stray(live, a) {
			out = append(out, *a)
			continue
		}
		if err := backing.DeleteAddress(ctx, r.kube, r.apis, r.ledger, a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// endGone ends the leases of pools named name in ns that are gone: their
// finalizer was removed by hand, or a pool of the same name (current)
// replaced them. Their own sweep never runs again, so without this their
// addresses would stay leased for good. A lease whose claim still holds
// its address stays: its machine runs, and the claim's release ends it.
// A cooling lease ends at once: the grace period was the gone pool's.
func (r *Reconciler) endGone(ctx context.Context, ns, name string, current types.UID) error {
	claimState := r.claimState(ns)
	for _, uid := range r.ledger.PoolsNamed(ns, name, current) {
		live := &metav1.PartialObjectMetadata{}
		live.SetGroupVersionKind(v1alpha1.IPPoolGroupVersionKind)
		switch err := r.apis.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, live); {
		case err != nil && !kerrors.IsNotFound(err):
			return fmt.Errorf("%s: %w", errGetPool, err)
		case err == nil && live.UID == uid:
			continue // The cache lags behind the pool: it is not gone.
		}
		for _, ls := range r.ledger.Leases(uid) {
			if !ls.Cooling() {
				st, err := claimState(ctx, ls.Claim)
				if err != nil {
					return err
				}
				if st.Holds(ls.Address) {
					continue
				}
			}
			if err := r.ledger.End(ctx, ls.Address, uid); err != nil {
				return fmt.Errorf("cannot end a lease of a pool that is gone: %w", err)
			}
		}
	}
	return nil
}

// cooling lists the addresses of p's leases that cool down.
func (r *Reconciler) cooling(p *v1alpha1.IPPool) []netip.Addr {
	var out []netip.Addr
	for _, ls := range r.ledger.Leases(p.UID) {
		if ls.Cooling() {
			out = append(out, ls.Address)
		}
	}
	return out
}

// unprotectDropped takes the in-use finalizer off the reservations dropped
// from p's spec (a cluster scaled down), except those holding an address
// one of p's IPAddresses still has: a machine created from a pool read just
// before the drop. Those are returned, and kept until that machine goes.
// What a reservation holds is what the ledger records for it, not its
// status, which anyone who may edit it can write.
func (r *Reconciler) unprotectDropped(ctx context.Context, p *v1alpha1.IPPool) ([]v1alpha1.ReservationRef, error) {
	dropped := backing.Dropped(p, p.Status.ProtectedRefs)
	if len(dropped) == 0 {
		return nil, nil
	}
	live, err := r.fresh(p)(ctx)
	if err != nil {
		return nil, err
	}
	var kept, gone []v1alpha1.ReservationRef
	for _, ref := range dropped {
		uid, err := r.fin.Holder(ctx, p.Namespace, ref)
		if err != nil {
			return nil, err
		}
		var held []netip.Addr
		if uid != "" {
			if held, err = r.ledger.HeldNow(ctx, uid); err != nil {
				return nil, err
			}
		}
		if slices.ContainsFunc(held, func(a netip.Addr) bool { return slices.Contains(live, a) }) {
			kept = append(kept, ref)
			continue
		}
		gone = append(gone, ref)
	}
	return kept, r.fin.Unprotect(ctx, p.Namespace, gone)
}

// live lists p's IPAddresses on the API server itself.
func (r *Reconciler) live(ctx context.Context, p *v1alpha1.IPPool) (*capiipamv1beta2.IPAddressList, error) {
	l := &capiipamv1beta2.IPAddressList{}
	if err := r.apis.List(ctx, l, client.InNamespace(p.Namespace), client.MatchingLabels{backing.LabelPoolUID: string(p.UID)}); err != nil {
		return nil, fmt.Errorf("%s: %w", errListAddrs, err)
	}
	return l, nil
}

// fresh lists the addresses of p's IPAddresses on the API server.
func (r *Reconciler) fresh(p *v1alpha1.IPPool) func(context.Context) ([]netip.Addr, error) {
	return func(ctx context.Context) ([]netip.Addr, error) {
		l, err := r.live(ctx, p)
		if err != nil {
			return nil, err
		}
		return addressesOf(l.Items), nil
	}
}

func addressesOf(addrs []capiipamv1beta2.IPAddress) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if ip, err := netip.ParseAddr(a.Spec.Address); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

// setStatus computes p's counts and Ready condition from the IPAddresses
// handed out from it and the problem met putting or removing the in-use
// finalizer.
func setStatus(p *v1alpha1.IPPool, addrs []capiipamv1beta2.IPAddress, cooling []netip.Addr, problem error) {
	cond := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonReady, ObservedGeneration: p.Generation}
	p.Status.Used = int64(len(addrs))
	p.Status.Cooling = int64(len(cooling))
	inUse := addressesOf(addrs)
	slices.SortFunc(inUse, netip.Addr.Compare)
	inUse = slices.Compact(inUse)
	p.Status.InUse = nil
	if len(inUse) > 0 {
		p.Status.InUse = strings.Split(addressing.FormatAddrs(inUse), ",")
	}
	sp, err := addressing.ParseSpace(backing.Space(p))
	if err != nil {
		p.Status.Total, p.Status.Free = 0, 0
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec, err.Error()
	} else {
		held := addressing.NewIndex()
		for _, ip := range inUse {
			held.Add(ip)
		}
		for _, ip := range cooling {
			held.Add(ip)
		}
		total := sp.Size()
		p.Status.Total = clamp(total)
		p.Status.Free = clamp(total - min(held.HeldIn(sp), total))
	}
	switch {
	case cond.Status == metav1.ConditionFalse:
	case !p.DeletionTimestamp.IsZero():
		cond.Status, cond.Reason = metav1.ConditionFalse, v1alpha1.ReasonDeleting
		cond.Message = fmt.Sprintf("waiting for %d IPAddresses to be released", len(addrs))
	case isUnavailableOrNil(problem) && problem != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, v1alpha1.ReasonReservationUnavailable, problem.Error()
	case problem != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, v1alpha1.ReasonFinalizerError, problem.Error()
	}
	cond.Message = conditions.Message(cond.Message)
	meta.SetStatusCondition(&p.Status.Conditions, cond)
}

func clamp(n uint64) int64 {
	return int64(min(n, math.MaxInt64))
}

// isUnavailableOrNil reports whether err is nil or only says references are
// gone or going, which is a condition to report, not a failure to retry.
func isUnavailableOrNil(err error) bool {
	var me *backing.UnavailableError
	return err == nil || errors.As(err, &me)
}
