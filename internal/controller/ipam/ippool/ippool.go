// Package ippool reconciles IPPools: it keeps the in-use finalizer on a pool
// and on the reservations it references while any of its addresses is
// handed out, and reports how many addresses are used and free.
package ippool

import (
	"context"
	"errors"
	"fmt"
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
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/logging"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	infobloxv1alpha1 "github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/controller/ipam/pool"
	"github.com/provider-ipam/provider-ipam/internal/ipam"
)

const (
	errGetPool      = "cannot get IPPool"
	errListPools    = "cannot list IPPools"
	errListAddrs    = "cannot list the pool's IPAddresses"
	errFinalizers   = "cannot update the in-use finalizers"
	errUpdateStatus = "cannot update the pool's status"
)

// Setup adds a controller that reconciles IPPools. The pool indexes must be
// registered (pool.SetupIndexes).
func Setup(mgr ctrl.Manager, o controller.Options, locks *pool.Locks) error {
	name := "ippool/" + v1alpha1.Group
	r := &Reconciler{
		kube:  mgr.GetClient(),
		apis:  mgr.GetAPIReader(),
		fin:   pool.Finalizers{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()},
		marks: pool.Marks{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()},
		locks: locks,
		log:   o.Logger.WithValues("controller", name),
		poll:  o.PollInterval,
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named(name).
		WithOptions(o.ForControllerRuntime()).
		For(&v1alpha1.IPPool{}).
		Watches(&capiipamv1beta2.IPAddress{}, handler.EnqueueRequestsFromMapFunc(addressToPool))
	// A reservation going away makes its pools unavailable at once; other
	// kinds are noticed at the next poll.
	for _, gvk := range []schema.GroupVersionKind{inclusterv1alpha1.ReservationGroupVersionKind, infobloxv1alpha1.ReservationGroupVersionKind} {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(gvk)
		b = b.Watches(m, handler.EnqueueRequestsFromMapFunc(r.reservationToPools(gvk.GroupKind())), builder.OnlyMetadata)
	}
	return b.Complete(r)
}

// reservationToPools wakes the pools that reference a reservation of kind gk.
func (r *Reconciler) reservationToPools(gk schema.GroupKind) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		l := &v1alpha1.IPPoolList{}
		if err := r.kube.List(ctx, l, client.InNamespace(o.GetNamespace()), client.MatchingFields{pool.IndexReservation: pool.RefKey(gk.Group, gk.Kind, o.GetName())}); err != nil {
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

// addressToPool wakes the pool an IPAddress was handed out from.
func addressToPool(_ context.Context, o client.Object) []reconcile.Request {
	a, ok := o.(*capiipamv1beta2.IPAddress)
	if !ok || !pool.Ours(a.Spec.PoolRef) {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: a.Namespace, Name: a.Spec.PoolRef.Name}}}
}

// Reconciler reconciles one IPPool.
type Reconciler struct {
	kube  client.Client
	apis  client.Reader // the API server itself, for decisions that must not be stale
	fin   pool.Finalizers
	marks pool.Marks
	locks *pool.Locks
	log   logging.Logger
	poll  time.Duration
}

// Reconcile protects or releases the pool's reservations and writes its
// status.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	p := &v1alpha1.IPPool{}
	if err := r.kube.Get(ctx, req.NamespacedName, p); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("%s: %w", errGetPool, err))
	}
	unlock := r.locks.Lock(req.NamespacedName)
	defer unlock()

	addrs := &capiipamv1beta2.IPAddressList{}
	if err := r.kube.List(ctx, addrs, client.InNamespace(p.Namespace), client.MatchingFields{pool.IndexPool: p.Name}); err != nil {
		return reconcile.Result{}, fmt.Errorf("%s: %w", errListAddrs, err)
	}
	used := len(addrs.Items)
	if used == 0 {
		// The cache may not have seen an IPAddress created a moment ago:
		// the API server decides whether the reservations may go.
		l, err := r.live(ctx, p)
		if err != nil {
			return reconcile.Result{}, err
		}
		addrs, used = l, len(l.Items)
	}

	if err := r.marks.Sweep(ctx, p, addressesOf(addrs.Items), r.fresh(p)); err != nil {
		return reconcile.Result{}, err
	}

	want := p.DeepCopy()
	var problem error
	switch {
	case used > 0:
		kept, err := r.unprotectDropped(ctx, p)
		if err != nil {
			return reconcile.Result{}, fmt.Errorf("%s: %w", errFinalizers, err)
		}
		// A pool being deleted cannot take new finalizers; it still has
		// its own, set before its first address was handed out.
		if p.DeletionTimestamp.IsZero() {
			problem = r.fin.Protect(ctx, p)
		}
		want.Status.ProtectedRefs = append(slices.Clone(p.Spec.ReservationRefs), kept...)
	default:
		problem = r.fin.Release(ctx, p, p.Status.ProtectedRefs)
		if isUnavailableOrNil(problem) {
			if !p.DeletionTimestamp.IsZero() {
				// Released: the pool goes now.
				return reconcile.Result{}, nil
			}
			want.Status.ProtectedRefs = nil
		}
	}

	setStatus(want, addrs.Items, problem)
	if !equality.Semantic.DeepEqual(p.Status, want.Status) {
		if err := r.kube.Status().Patch(ctx, want, client.MergeFrom(p)); err != nil && !kerrors.IsNotFound(err) {
			return reconcile.Result{}, fmt.Errorf("%s: %w", errUpdateStatus, err)
		}
	}
	if !isUnavailableOrNil(problem) {
		// Reported; retried with backoff.
		return reconcile.Result{}, fmt.Errorf("%s: %w", errFinalizers, problem)
	}
	// Polled: references of kinds not watched change unseen.
	return reconcile.Result{RequeueAfter: r.poll}, nil
}

// unprotectDropped takes the in-use finalizer off the reservations dropped
// from p's spec (a cluster scaled down), except those holding an address
// one of p's IPAddresses still has: a machine created from a pool read just
// before the drop. Those are returned, and kept until that machine goes.
func (r *Reconciler) unprotectDropped(ctx context.Context, p *v1alpha1.IPPool) ([]v1alpha1.ReservationRef, error) {
	dropped := pool.Dropped(p, p.Status.ProtectedRefs)
	if len(dropped) == 0 {
		return nil, nil
	}
	live, err := r.fresh(p)(ctx)
	if err != nil {
		return nil, err
	}
	var kept, gone []v1alpha1.ReservationRef
	for _, ref := range dropped {
		held, err := r.fin.Addresses(ctx, p.Namespace, ref)
		if err != nil {
			return nil, err
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
	if err := r.apis.List(ctx, l, client.InNamespace(p.Namespace), client.MatchingLabels{pool.LabelPoolUID: string(p.UID)}); err != nil {
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
func setStatus(p *v1alpha1.IPPool, addrs []capiipamv1beta2.IPAddress, problem error) {
	cond := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonReady, ObservedGeneration: p.Generation}
	p.Status.Used = int64(len(addrs))
	inUse := addressesOf(addrs)
	slices.SortFunc(inUse, netip.Addr.Compare)
	inUse = slices.Compact(inUse)
	p.Status.InUse = nil
	if len(inUse) > 0 {
		p.Status.InUse = strings.Split(ipam.FormatAddrs(inUse), ",")
	}
	sp, err := ipam.ParseSpace(pool.Space(p))
	if err != nil {
		p.Status.Total, p.Status.Free = 0, 0
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec, err.Error()
	} else {
		held := ipam.NewIndex()
		for _, ip := range inUse {
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
	meta.SetStatusCondition(&p.Status.Conditions, cond)
}

func clamp(n uint64) int64 {
	return int64(min(n, math.MaxInt64))
}

// isUnavailableOrNil reports whether err is nil or only says references are
// gone or going, which is a condition to report, not a failure to retry.
func isUnavailableOrNil(err error) bool {
	var me *pool.UnavailableError
	return err == nil || errors.As(err, &me)
}
