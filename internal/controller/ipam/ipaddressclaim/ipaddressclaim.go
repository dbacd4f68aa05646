// Package ipaddressclaim implements Cluster API's IPAM contract for
// IPPools: for every IPAddressClaim whose poolRef names an IPPool, it
// creates the IPAddress, and deletes it when the claim goes.
//
// No address is handed out twice: an IPAddress is named after its pool and
// its address (pool.AddressName), so the API server refuses a second one,
// whichever goroutine or replica creates it. CAPI suggests naming it like
// the claim; consumers (CAPV) follow the claim's status.addressRef, which
// is what the contract requires. A claim's own IPAddress is found by label
// (its UID) on the API server itself before anything is allocated, so a
// crash between creating the IPAddress and recording it never hands a claim
// a second address; two replicas racing on one claim both may create one,
// and the status write, fenced on resourceVersion, lets only one be
// recorded: the other is deleted once that record is read back.
package ipaddressclaim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/logging"

	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/controller/ipam/pool"
	"github.com/provider-ipam/provider-ipam/internal/ipam"
)

// FinalizerReleaseAddress keeps a claim until its IPAddress is deleted.
const FinalizerReleaseAddress = "ipam.provider-ipam.io/release-address"

// ReasonWaitingForCluster says the claim's Cluster does not exist (yet):
// the contract says not to allocate for it.
const ReasonWaitingForCluster = "WaitingForCluster"

// recheck is how often a claim waiting on something not watched looks
// again: its Cluster (paused or not found; Clusters are not watched since
// the provider must run where the Cluster CRD is absent too) or its pool's
// reservations (of any kind).
const recheck = 30 * time.Second

const (
	errGetClaim      = "cannot get IPAddressClaim"
	errGetCluster    = "cannot get the claim's Cluster"
	errGetPool       = "cannot get IPPool"
	errListAddrs     = "cannot list IPAddresses"
	errListClaims    = "cannot list IPAddressClaims"
	errCreateAddr    = "cannot create IPAddress"
	errDeleteAddr    = "cannot delete IPAddress"
	errGetAddr       = "cannot get IPAddress"
	errAddFinalizer  = "cannot add the claim's finalizer"
	errRemFinalizer  = "cannot remove a finalizer"
	errUpdateStatus  = "cannot update the claim's status"
	errPoolNotFound  = "IPPool %q not found"
	errPoolDeleting  = "IPPool %q is being deleted"
	errPoolInvalid   = "IPPool %q is invalid: %v"
	errPoolNotSecure = "IPPool %q cannot protect its reservations: %v"
)

// Setup adds a controller that reconciles IPAddressClaims on IPPools. The
// pool indexes must be registered (pool.SetupIndexes).
func Setup(mgr ctrl.Manager, o controller.Options, locks *pool.Locks) error {
	name := "ipaddressclaim/" + v1alpha1.Group
	r := &Reconciler{
		kube:  mgr.GetClient(),
		apis:  mgr.GetAPIReader(),
		fin:   pool.Finalizers{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()},
		marks: pool.Marks{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()},
		locks: locks,
		log:   o.Logger.WithValues("controller", name),
	}
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		c, ok := o.(*capiipamv1beta2.IPAddressClaim)
		return ok && pool.Ours(c.Spec.PoolRef)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		WithOptions(o.ForControllerRuntime()).
		For(&capiipamv1beta2.IPAddressClaim{}, builder.WithPredicates(ours)).
		Watches(&capiipamv1beta2.IPAddress{}, handler.EnqueueRequestsFromMapFunc(r.addressToClaims)).
		Watches(&v1alpha1.IPPool{}, handler.EnqueueRequestsFromMapFunc(r.poolToClaims)).
		Complete(r)
}

// Reconciler reconciles one IPAddressClaim.
type Reconciler struct {
	kube  client.Client
	apis  client.Reader // the API server itself, for reads that must not be stale
	fin   pool.Finalizers
	marks pool.Marks
	locks *pool.Locks
	log   logging.Logger
}

// addressToClaims wakes an IPAddress's claim (to clean up after it) and,
// since an address may have been freed, the claims of its pool still waiting
// for one.
func (r *Reconciler) addressToClaims(ctx context.Context, o client.Object) []reconcile.Request {
	a, ok := o.(*capiipamv1beta2.IPAddress)
	if !ok || !pool.Ours(a.Spec.PoolRef) {
		return nil
	}
	reqs := r.waiting(ctx, a.Namespace, a.Spec.PoolRef.Name)
	return append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: a.Namespace, Name: a.Spec.ClaimRef.Name}})
}

// poolToClaims wakes the claims waiting on a pool that changed.
func (r *Reconciler) poolToClaims(ctx context.Context, o client.Object) []reconcile.Request {
	return r.waiting(ctx, o.GetNamespace(), o.GetName())
}

// waiting lists the claims of a pool that have no address yet.
func (r *Reconciler) waiting(ctx context.Context, ns, poolName string) []reconcile.Request {
	l := &capiipamv1beta2.IPAddressClaimList{}
	if err := r.kube.List(ctx, l, client.InNamespace(ns), client.MatchingFields{pool.IndexPool: poolName}); err != nil {
		r.log.Info(errListClaims, "error", err)
		return nil
	}
	var out []reconcile.Request
	for _, c := range l.Items {
		if c.Status.AddressRef.Name == "" {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&c)})
		}
	}
	return out
}

// Reconcile hands the claim an address, or takes it back.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	c := &capiipamv1beta2.IPAddressClaim{}
	if err := r.kube.Get(ctx, req.NamespacedName, c); err != nil {
		if kerrors.IsNotFound(err) {
			return reconcile.Result{}, r.releaseOrphans(ctx, req.NamespacedName)
		}
		return reconcile.Result{}, fmt.Errorf("%s: %w", errGetClaim, err)
	}
	if !pool.Ours(c.Spec.PoolRef) {
		return reconcile.Result{}, nil
	}
	found, paused, err := r.cluster(ctx, c)
	if err != nil {
		return reconcile.Result{}, err
	}
	if paused {
		return reconcile.Result{RequeueAfter: recheck}, nil
	}
	if !c.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, r.release(ctx, c)
	}
	if !found {
		return reconcile.Result{RequeueAfter: recheck}, r.setReady(ctx, c, nil, ReasonWaitingForCluster,
			fmt.Sprintf("Cluster %q not found", clusterName(c)))
	}
	if !controllerutil.ContainsFinalizer(c, FinalizerReleaseAddress) {
		orig := c.DeepCopy()
		controllerutil.AddFinalizer(c, FinalizerReleaseAddress)
		if err := r.kube.Patch(ctx, c, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, fmt.Errorf("%s: %w", errAddFinalizer, err)
		}
	}

	// The claim's own IPAddresses, from the API server: the cache may not
	// have seen one created by the last reconcile.
	own := &capiipamv1beta2.IPAddressList{}
	if err := r.apis.List(ctx, own, client.InNamespace(c.Namespace), client.MatchingLabels{pool.LabelClaimUID: string(c.UID)}); err != nil {
		return reconcile.Result{}, fmt.Errorf("%s: %w", errListAddrs, err)
	}
	switch len(own.Items) {
	case 0:
		return r.allocate(ctx, c)
	case 1:
		return reconcile.Result{}, r.setReady(ctx, c, &own.Items[0], clusterv1.ReadyReason, "")
	default:
		return r.dedupe(ctx, c, own.Items)
	}
}

// dedupe resolves a race between replicas that each created an IPAddress
// for c. Only an IPAddress the claim does not record is deleted, and what it
// records is read from the API server: a stale copy could name none, and
// the one deleted could be the one another replica just recorded.
func (r *Reconciler) dedupe(ctx context.Context, c *capiipamv1beta2.IPAddressClaim, own []capiipamv1beta2.IPAddress) (reconcile.Result, error) {
	fresh := &capiipamv1beta2.IPAddressClaim{}
	if err := r.apis.Get(ctx, client.ObjectKeyFromObject(c), fresh); err != nil {
		return reconcile.Result{}, fmt.Errorf("%s: %w", errGetClaim, err)
	}
	keep, extra := pick(own, fresh.Status.AddressRef.Name)
	if keep.Name != fresh.Status.AddressRef.Name {
		// Record one first (fenced on resourceVersion); the extras go on
		// the reconcile that this status write triggers.
		return reconcile.Result{}, r.setReady(ctx, fresh, &keep, clusterv1.ReadyReason, "")
	}
	for i := range extra {
		if err := r.deleteAddress(ctx, &extra[i]); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, r.setReady(ctx, fresh, &keep, clusterv1.ReadyReason, "")
}

// allocate creates an IPAddress for c with the lowest free address of its
// pool.
func (r *Reconciler) allocate(ctx context.Context, c *capiipamv1beta2.IPAddressClaim) (reconcile.Result, error) {
	key := client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.PoolRef.Name}
	unlock := r.locks.Lock(key)
	defer unlock()
	// The pool as the API server has it, read under the pool's lock: from
	// a stale copy Protect could put the in-use finalizer back on a
	// reservation the pool controller has just let go, for good.
	p := &v1alpha1.IPPool{}
	if err := r.apis.Get(ctx, key, p); err != nil {
		if kerrors.IsNotFound(err) {
			return reconcile.Result{}, r.setReady(ctx, c, nil, capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason, fmt.Sprintf(errPoolNotFound, key.Name))
		}
		return reconcile.Result{}, fmt.Errorf("%s: %w", errGetPool, err)
	}
	if !p.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, r.setReady(ctx, c, nil, capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason, fmt.Sprintf(errPoolDeleting, key.Name))
	}
	space, err := ipam.ParseSpace(pool.Space(p))
	if err != nil {
		return reconcile.Result{}, r.setReady(ctx, c, nil, capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason, fmt.Sprintf(errPoolInvalid, key.Name, err))
	}

	// The reservations are protected before the address is handed out, so
	// that they can never be released under a machine.
	if err := r.fin.Protect(ctx, p); err != nil {
		if serr := r.setReady(ctx, c, nil, capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason, fmt.Sprintf(errPoolNotSecure, key.Name, err)); serr != nil {
			return reconcile.Result{}, serr
		}
		var ue *pool.UnavailableError
		if errors.As(err, &ue) {
			// Reported; the pool's status changing wakes the claim sooner.
			return reconcile.Result{RequeueAfter: recheck}, nil
		}
		return reconcile.Result{}, err
	}

	l := &capiipamv1beta2.IPAddressList{}
	if err := r.kube.List(ctx, l, client.InNamespace(c.Namespace), client.MatchingFields{pool.IndexPool: p.Name}); err != nil {
		return reconcile.Result{}, fmt.Errorf("%s: %w", errListAddrs, err)
	}
	held := ipam.NewIndex()
	for _, a := range l.Items {
		if ip, err := netip.ParseAddr(a.Spec.Address); err == nil {
			held.Add(ip)
		}
	}
	var unheld []netip.Addr
	for {
		free := held.Free(space, 1)
		if len(free) == 0 {
			e := &ipam.ExhaustedError{Space: "IPPool " + p.Name + " " + space.String(), Usable: space.Size(), Held: held.HeldIn(space), Requested: 1}
			msg := e.Error()
			if len(unheld) > 0 {
				msg += fmt.Sprintf(" (%s no longer held by its reservations: released, or not reserved yet)", ipam.FormatAddrs(unheld))
			}
			return reconcile.Result{}, r.setReady(ctx, c, nil, capiipamv1beta2.IPAddressClaimReadyPoolExhaustedReason, msg)
		}
		// Marked in use first, so that a shrinking Reservation can no longer
		// release it.
		ok, err := r.marks.Mark(ctx, p, free[0])
		if err != nil {
			return reconcile.Result{}, err
		}
		if !ok {
			unheld = append(unheld, free[0])
			held.Add(free[0])
			continue
		}
		a := newAddress(c, p, space, free[0])
		err = r.kube.Create(ctx, a)
		if kerrors.IsAlreadyExists(err) {
			// Held, though the cache has not seen it yet: next one.
			held.Add(free[0])
			continue
		}
		if err != nil {
			return reconcile.Result{}, fmt.Errorf("%s %s: %w", errCreateAddr, a.Name, err)
		}
		// Marked again, now that the IPAddress exists: another replica's
		// sweep may have taken the mark between the two, and a shrink the
		// address. Not held any more, it goes before anyone uses it.
		if ok, err := r.marks.Mark(ctx, p, free[0]); err != nil || !ok {
			if derr := r.deleteAddress(ctx, a); derr != nil {
				return reconcile.Result{}, errors.Join(err, derr)
			}
			if err != nil {
				return reconcile.Result{}, err
			}
			unheld = append(unheld, free[0])
			held.Add(free[0])
			continue
		}
		return reconcile.Result{}, r.setReady(ctx, c, a, clusterv1.ReadyReason, "")
	}
}

// newAddress is the IPAddress handing addr from p to c, as the contract
// describes it: owned by the claim (controller) and by the pool, protected
// by a finalizer.
func newAddress(c *capiipamv1beta2.IPAddressClaim, p *v1alpha1.IPPool, space ipam.Space, addr netip.Addr) *capiipamv1beta2.IPAddress {
	a := &capiipamv1beta2.IPAddress{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: c.Namespace,
			Name:      pool.AddressName(p.Name, addr),
			Labels: map[string]string{
				pool.LabelPoolUID:  string(p.UID),
				pool.LabelClaimUID: string(c.UID),
			},
			Finalizers: []string{pool.FinalizerProtectAddress},
			OwnerReferences: []metav1.OwnerReference{
				{
					APIVersion: capiipamv1beta2.GroupVersion.String(), Kind: "IPAddressClaim", Name: c.Name, UID: c.UID,
					Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
				},
				{
					APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.IPPoolKind, Name: p.Name, UID: p.UID,
					Controller: ptr.To(false), BlockOwnerDeletion: ptr.To(true),
				},
			},
		},
		Spec: capiipamv1beta2.IPAddressSpec{
			ClaimRef: capiipamv1beta2.IPAddressClaimReference{Name: c.Name},
			PoolRef:  pool.Ref(p),
			Address:  addr.String(),
			Prefix:   ptr.To(int32(space.Prefix())),
			Gateway:  p.Spec.Gateway,
		},
	}
	if cn, ok := c.Labels[clusterv1.ClusterNameLabel]; ok {
		a.Labels[clusterv1.ClusterNameLabel] = cn
	}
	return a
}

// pick chooses the IPAddress a claim keeps among those it holds: the one
// its status names, else the first by name. The others are extras from a
// race between replicas.
func pick(addrs []capiipamv1beta2.IPAddress, recorded string) (keep capiipamv1beta2.IPAddress, extra []capiipamv1beta2.IPAddress) {
	slices.SortFunc(addrs, func(a, b capiipamv1beta2.IPAddress) int {
		switch {
		case a.Name == recorded:
			return -1
		case b.Name == recorded:
			return 1
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return addrs[0], addrs[1:]
}

// setReady records the claim's Ready condition and address (addr nil: none
// yet). The write is fenced on resourceVersion: of two replicas that each
// created an IPAddress for the claim, only one records its own.
func (r *Reconciler) setReady(ctx context.Context, c *capiipamv1beta2.IPAddressClaim, addr *capiipamv1beta2.IPAddress, reason, msg string) error {
	want := c.DeepCopy()
	cond := metav1.Condition{
		Type: capiipamv1beta2.IPAddressClaimReadyCondition, Status: metav1.ConditionFalse,
		Reason: reason, Message: msg, ObservedGeneration: c.Generation,
	}
	if addr != nil {
		want.Status.AddressRef.Name = addr.Name
		cond.Status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&want.Status.Conditions, cond)
	if equality.Semantic.DeepEqual(c.Status, want.Status) {
		return nil
	}
	if err := r.kube.Status().Patch(ctx, want, client.MergeFromWithOptions(c, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("%s: %w", errUpdateStatus, err)
	}
	return nil
}

// release deletes the claim's IPAddresses, then lets the claim go.
func (r *Reconciler) release(ctx context.Context, c *capiipamv1beta2.IPAddressClaim) error {
	own := &capiipamv1beta2.IPAddressList{}
	if err := r.apis.List(ctx, own, client.InNamespace(c.Namespace), client.MatchingLabels{pool.LabelClaimUID: string(c.UID)}); err != nil {
		return fmt.Errorf("%s: %w", errListAddrs, err)
	}
	for i := range own.Items {
		if err := r.deleteAddress(ctx, &own.Items[i]); err != nil {
			return err
		}
	}
	if !controllerutil.ContainsFinalizer(c, FinalizerReleaseAddress) {
		return nil
	}
	orig := c.DeepCopy()
	controllerutil.RemoveFinalizer(c, FinalizerReleaseAddress)
	if err := r.kube.Patch(ctx, c, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("%s: %w", errRemFinalizer, err)
	}
	return nil
}

// releaseOrphans deletes the IPAddresses of a claim that is gone, e.g. one
// whose finalizer was removed by hand: their protecting finalizer would
// otherwise keep the address forever.
func (r *Reconciler) releaseOrphans(ctx context.Context, claim client.ObjectKey) error {
	l := &capiipamv1beta2.IPAddressList{}
	if err := r.kube.List(ctx, l, client.InNamespace(claim.Namespace), client.MatchingFields{pool.IndexClaim: claim.Name}); err != nil {
		return fmt.Errorf("%s: %w", errListAddrs, err)
	}
	if len(l.Items) == 0 {
		return nil
	}
	// The cache may lag behind a claim another replica just served: only
	// the API server may say it is gone.
	c := &metav1.PartialObjectMetadata{}
	c.SetGroupVersionKind(capiipamv1beta2.GroupVersion.WithKind("IPAddressClaim"))
	var live string
	switch err := r.apis.Get(ctx, claim, c); {
	case err == nil:
		live = string(c.UID)
	case !kerrors.IsNotFound(err):
		return fmt.Errorf("%s: %w", errGetClaim, err)
	}
	for i := range l.Items {
		if live != "" && l.Items[i].Labels[pool.LabelClaimUID] == live {
			continue
		}
		if err := r.deleteAddress(ctx, &l.Items[i]); err != nil {
			return err
		}
	}
	return nil
}

// deleteAddress takes the in-use mark off a's address, removes the
// protecting finalizer from a and deletes it. The mark goes first: a is
// kept until it is gone, so a crash in between only repeats it.
func (r *Reconciler) deleteAddress(ctx context.Context, a *capiipamv1beta2.IPAddress) error {
	// Only a's own mark: a copy from the cache may be of an IPAddress
	// already gone, whose name (pool and address) another claim holds now.
	live := &capiipamv1beta2.IPAddress{}
	switch err := r.apis.Get(ctx, client.ObjectKeyFromObject(a), live); {
	case kerrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("%s %s: %w", errGetAddr, a.Name, err)
	case live.UID != a.UID:
		return nil
	}
	a = live
	if ip, err := netip.ParseAddr(a.Spec.Address); err == nil {
		if err := r.marks.Unmark(ctx, a.Namespace, ip); err != nil {
			return err
		}
	}
	if controllerutil.ContainsFinalizer(a, pool.FinalizerProtectAddress) {
		orig := a.DeepCopy()
		controllerutil.RemoveFinalizer(a, pool.FinalizerProtectAddress)
		if err := r.kube.Patch(ctx, a, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("%s from IPAddress %s: %w", errRemFinalizer, a.Name, err)
		}
	}
	if err := r.kube.Delete(ctx, a, client.Preconditions{UID: &a.UID}); client.IgnoreNotFound(err) != nil && !kerrors.IsConflict(err) {
		return fmt.Errorf("%s %s: %w", errDeleteAddr, a.Name, err)
	}
	return nil
}

// clusterName is the claim's Cluster: spec.clusterName, else the
// (deprecated) cluster-name label.
func clusterName(c *capiipamv1beta2.IPAddressClaim) string {
	if c.Spec.ClusterName != "" {
		return c.Spec.ClusterName
	}
	return c.Labels[clusterv1.ClusterNameLabel]
}

// cluster applies the contract's rules on the claim's Cluster: a paused
// claim or Cluster is left alone, and nothing is allocated for a claim whose
// Cluster does not exist. A claim naming no Cluster proceeds.
func (r *Reconciler) cluster(ctx context.Context, c *capiipamv1beta2.IPAddressClaim) (found, paused bool, err error) {
	if _, ok := c.Annotations[clusterv1.PausedAnnotation]; ok {
		return true, true, nil
	}
	name := clusterName(c)
	if name == "" {
		return true, false, nil
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: clusterv1.GroupVersion.Group, Version: clusterv1.GroupVersion.Version, Kind: "Cluster"})
	if err := r.apis.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, u); err != nil {
		if kerrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return false, false, nil
		}
		return false, false, fmt.Errorf("%s %q: %w", errGetCluster, name, err)
	}
	_, annotated := u.GetAnnotations()[clusterv1.PausedAnnotation]
	spec, _, _ := unstructured.NestedBool(u.Object, "spec", "paused")
	return true, annotated || spec, nil
}
