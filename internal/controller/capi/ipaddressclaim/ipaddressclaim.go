// Package ipaddressclaim implements Cluster API's IPAM contract for
// IPPools: for every IPAddressClaim whose poolRef names an IPPool, it leases
// an address in the in-cluster ledger and creates the IPAddress, and gives
// both back when the claim goes.
//
// The ledger is the one arbiter: every address handed out is an Allocation
// named after the address, leased to the claim's UID, so no two pools in any
// namespaces hand out one address, whichever goroutine or replica tries.
// The IPAddress is named like its claim, so a claim can never get two: of
// two replicas racing on one claim, one creates it and the other gives its
// lease back. A crash between leasing and creating the IPAddress loses
// nothing: the claim's next reconcile finds its lease by UID.
//
// Each claim costs three writes (the lease, the IPAddress, the claim's
// status) and reads only the cache: the pool, its Reservations, the
// Cluster, and the ledger's index, fed by a watch.
package ipaddressclaim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	xpevent "github.com/crossplane/crossplane-runtime/v2/pkg/event"
	"github.com/crossplane/crossplane-runtime/v2/pkg/logging"
	"github.com/crossplane/crossplane-runtime/v2/pkg/ratelimiter"

	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/addressing"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/conditions"
	"github.com/provider-ipam/provider-ipam/internal/controller/capi/backing"
	"github.com/provider-ipam/provider-ipam/internal/metrics"
)

// FinalizerReleaseAddress was put on claims by earlier versions; it is
// removed when such a claim goes. The IPAddress's protecting finalizer and
// its owner reference to the claim now guarantee the release: the address
// cannot vanish unseen, and nothing else needs the claim to linger.
const FinalizerReleaseAddress = "ipam.provider-ipam.io/release-address"

// ReasonWaitingForCluster says the claim's Cluster does not exist (yet):
// the contract says not to allocate for it.
const ReasonWaitingForCluster = "WaitingForCluster"

// recheck is how often a claim waiting on something not watched looks
// again (a paused or missing Cluster), and how long a claim waiting for an
// address waits at most for a wake-up.
const recheck = 30 * time.Second

const (
	errGetClaim      = "cannot get IPAddressClaim"
	errGetCluster    = "cannot get the claim's Cluster"
	errGetPool       = "cannot get IPPool"
	errListAddrs     = "cannot list IPAddresses"
	errCreateAddr    = "cannot create IPAddress"
	errDeleteAddr    = "cannot delete IPAddress"
	errGetAddr       = "cannot get IPAddress"
	errRemFinalizer  = "cannot remove a finalizer"
	errUpdateStatus  = "cannot update the claim's status"
	errReturn        = "cannot give the address back to the ledger"
	errPoolNotFound  = "IPPool %q not found"
	errPoolDeleting  = "IPPool %q is being deleted"
	errPoolInvalid   = "IPPool %q is invalid: %v"
	errPoolNotSecure = "IPPool %q cannot protect its reservations: %v"
	errRequested     = "annotation " + v1alpha1.AnnotationRequestedAddress + ": %v"
	errNameTaken     = "IPAddress %q of an earlier claim of this name is still being deleted"
)

// errCacheLags says the claim's recorded IPAddress is not in the cache yet.
var errCacheLags = errors.New("the cache has not seen the claim's IPAddress yet")

// Setup adds a controller that reconciles IPAddressClaims on IPPools. The
// pool indexes must be registered (backing.SetupIndexes).
func Setup(mgr ctrl.Manager, o controller.Options, l *incluster.Ledger, guards *backing.Guards) error {
	name := "ipaddressclaim/" + v1alpha1.Group
	w := newWaiters()
	r := &Reconciler{
		kube:    mgr.GetClient(),
		apis:    mgr.GetAPIReader(),
		fin:     backing.Finalizers{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()},
		ledger:  l,
		guards:  guards,
		waiters: w,
		log:     o.Logger.WithValues("controller", name),
		record:  xpevent.NewAPIRecorder(mgr.GetEventRecorderFor(name)), //nolint:staticcheck // crossplane-runtime's recorder takes the legacy interface.
	}
	l.OnFree(w.wakeFor)
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		c, ok := o.(*capiipamv1beta2.IPAddressClaim)
		return ok && backing.Ours(c.Spec.PoolRef)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		WithOptions(o.ForControllerRuntime()).
		For(&capiipamv1beta2.IPAddressClaim{}, builder.WithPredicates(ours)).
		Watches(&capiipamv1beta2.IPAddress{}, handler.EnqueueRequestsFromMapFunc(addressToClaim)).
		Watches(&v1alpha1.IPPool{}, handler.Funcs{
			CreateFunc: func(_ context.Context, e event.CreateEvent, _ workqueueAdder) {
				w.wake(client.ObjectKeyFromObject(e.Object))
			},
			UpdateFunc: func(_ context.Context, e event.UpdateEvent, _ workqueueAdder) {
				w.wake(client.ObjectKeyFromObject(e.ObjectNew))
			},
		}).
		WatchesRawSource(source.Channel(w.events, &handler.EnqueueRequestForObject{})).
		Complete(ratelimiter.NewReconciler(name, r, o.GlobalRateLimiter))
}

// Reconciler reconciles one IPAddressClaim.
type Reconciler struct {
	kube    client.Client
	apis    client.Reader // the API server itself, for reads that must not be stale
	fin     backing.Finalizers
	ledger  *incluster.Ledger
	guards  *backing.Guards
	waiters *waiters
	log     logging.Logger
	// record emits events. Allocations and releases are recorded on the
	// pool, where client-go's spam filter bounds them (a burst, then one
	// per five minutes): an event per claim would be a fourth write on
	// the hot path. Refusals are recorded on the claim.
	record xpevent.Recorder
	// bound remembers, per claim, the resourceVersion its status was
	// patched over when its address was recorded. A reconcile that still
	// reads that version from the cache (woken by the IPAddress's watch
	// event, which can beat the claim's own) knows the address is
	// recorded and writes nothing.
	bound sync.Map // types.UID -> string
}

// addressToClaim wakes an IPAddress's claim: to record it, or to clean up
// after a claim that is gone.
func addressToClaim(_ context.Context, o client.Object) []reconcile.Request {
	a, ok := o.(*capiipamv1beta2.IPAddress)
	if !ok || !backing.Ours(a.Spec.PoolRef) {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: a.Namespace, Name: a.Spec.ClaimRef.Name}}}
}

// Reconcile hands the claim an address, or takes it back.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	c := &capiipamv1beta2.IPAddressClaim{}
	if err := r.kube.Get(ctx, req.NamespacedName, c); err != nil {
		if kerrors.IsNotFound(err) {
			r.waiters.drop(req.NamespacedName)
			return r.releaseOrphans(ctx, req.NamespacedName)
		}
		return reconcile.Result{}, fmt.Errorf("%s: %w", errGetClaim, err)
	}
	if !backing.Ours(c.Spec.PoolRef) {
		return reconcile.Result{}, nil
	}
	found, paused, err := r.cluster(ctx, c.Namespace, clusterName(c), c.Annotations)
	if err != nil {
		return reconcile.Result{}, err
	}
	if paused {
		return reconcile.Result{RequeueAfter: recheck}, nil
	}
	if !c.DeletionTimestamp.IsZero() {
		r.waiters.drop(req.NamespacedName)
		r.bound.Delete(c.UID)
		return reconcile.Result{}, r.release(ctx, c)
	}
	if !found {
		return reconcile.Result{RequeueAfter: recheck}, r.setReady(ctx, c, nil, ReasonWaitingForCluster,
			fmt.Sprintf("Cluster %q not found", clusterName(c)))
	}
	a, err := r.own(ctx, c)
	if errors.Is(err, errCacheLags) {
		return reconcile.Result{RequeueAfter: time.Second}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if a != nil {
		r.waiters.drop(req.NamespacedName)
		return reconcile.Result{}, r.setReady(ctx, c, a, clusterv1.ReadyReason, "")
	}
	return r.allocate(ctx, c)
}

// own returns the claim's IPAddress: the one its status records (an
// earlier version named them after the pool and the address), else the one
// named like the claim; nil if it has none. An IPAddress of the claim's name
// that belongs to an earlier claim of that name is an error to retry: it
// goes once its claim is released.
func (r *Reconciler) own(ctx context.Context, c *capiipamv1beta2.IPAddressClaim) (*capiipamv1beta2.IPAddress, error) {
	names := []string{c.Name}
	if n := c.Status.AddressRef.Name; n != "" && n != c.Name {
		names = []string{n, c.Name}
	}
	for _, name := range names {
		a := &capiipamv1beta2.IPAddress{}
		key := client.ObjectKey{Namespace: c.Namespace, Name: name}
		err := r.kube.Get(ctx, key, a)
		if kerrors.IsNotFound(err) && name == c.Status.AddressRef.Name {
			if _, leased := r.ledger.LeaseOf(c.UID); leased {
				// Recorded and leased: the cache has not seen the
				// IPAddress yet, and its watch wakes the claim.
				return nil, errCacheLags
			}
			// Recorded, perhaps before leases: ask the API server.
			err = r.apis.Get(ctx, key, a)
		}
		switch {
		case kerrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("%s %s: %w", errGetAddr, name, err)
		case a.Labels[backing.LabelClaimUID] == string(c.UID):
			return a, nil
		}
	}
	return nil, nil
}

// allocate leases an address for c from its pool and creates the
// IPAddress.
func (r *Reconciler) allocate(ctx context.Context, c *capiipamv1beta2.IPAddressClaim) (reconcile.Result, error) {
	key := client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.PoolRef.Name}
	ck := client.ObjectKeyFromObject(c)
	p := &v1alpha1.IPPool{}
	if err := r.kube.Get(ctx, key, p); err != nil {
		if kerrors.IsNotFound(err) {
			r.waiters.add(key, ck, addressing.Space{})
			return reconcile.Result{}, r.setReady(ctx, c, nil, capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason, fmt.Sprintf(errPoolNotFound, key.Name))
		}
		return reconcile.Result{}, fmt.Errorf("%s: %w", errGetPool, err)
	}
	if !p.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, r.setReady(ctx, c, nil, capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason, fmt.Sprintf(errPoolDeleting, key.Name))
	}
	space, err := addressing.ParseSpace(backing.Space(p))
	if err != nil {
		r.waiters.add(key, ck, addressing.Space{})
		return reconcile.Result{}, r.setReady(ctx, c, nil, capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason, fmt.Sprintf(errPoolInvalid, key.Name, err))
	}
	var want netip.Addr
	if s, ok := c.Annotations[v1alpha1.AnnotationRequestedAddress]; ok {
		if want, err = addressing.ParseAddr(v1alpha1.AnnotationRequestedAddress, s); err != nil {
			return reconcile.Result{}, r.setReady(ctx, c, nil, capiipamv1beta2.IPAddressClaimReadyAllocationFailedReason, fmt.Sprintf(errRequested, err))
		}
	}
	b, err := backing.Resolve(ctx, r.kube, p)
	if err != nil {
		return reconcile.Result{}, err
	}
	if b.Unavailable != nil {
		r.waiters.add(key, ck, addressing.Space{})
		return reconcile.Result{RequeueAfter: recheck}, r.setReady(ctx, c, nil, capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason, fmt.Sprintf(errPoolNotSecure, key.Name, b.Unavailable))
	}
	unlock, err := r.protect(ctx, p, b)
	if err != nil {
		if serr := r.setReady(ctx, c, nil, capiipamv1beta2.IPAddressClaimReadyPoolNotReadyReason, fmt.Sprintf(errPoolNotSecure, key.Name, err)); serr != nil {
			return reconcile.Result{}, serr
		}
		var ue *backing.UnavailableError
		if errors.As(err, &ue) {
			r.waiters.add(key, ck, addressing.Space{})
			return reconcile.Result{RequeueAfter: recheck}, nil
		}
		return reconcile.Result{}, err
	}
	defer unlock()

	addr, err := r.ledger.Lease(ctx, incluster.LeaseRequest{
		Namespace: p.Namespace,
		Pool:      inclusterv1alpha1.LeaseHolder{Name: p.Name, UID: string(p.UID)},
		Claim:     inclusterv1alpha1.LeaseHolder{Name: c.Name, UID: string(c.UID)},
		Label:     "IPPool " + p.Name, Space: space,
		Reservations: b.Reservations, Draw: b.Draw, Want: want,
	})
	var exhausted *addressing.ExhaustedError
	var refused *incluster.RefusedError
	var policy *incluster.PolicyError
	switch {
	case errors.As(err, &policy):
		// The platform team's ClusterProviderConfig changing is not
		// watched: the claim looks again after a while.
		return reconcile.Result{RequeueAfter: recheck}, r.refuse(ctx, c, policy.Reason, "IPPool "+p.Name+": "+policy.Message)
	case errors.As(err, &exhausted):
		r.waiters.add(key, ck, space)
		return reconcile.Result{RequeueAfter: recheck}, r.refuse(ctx, c, capiipamv1beta2.IPAddressClaimReadyPoolExhaustedReason, exhausted.Error())
	case errors.As(err, &refused):
		r.waiters.add(key, ck, space)
		return reconcile.Result{RequeueAfter: recheck}, r.refuse(ctx, c, capiipamv1beta2.IPAddressClaimReadyAllocationFailedReason, refused.Error())
	case err != nil:
		return reconcile.Result{}, err
	}

	a := newAddress(c, p, space, addr)
	err = r.kube.Create(ctx, a)
	if kerrors.IsAlreadyExists(err) {
		return r.raced(ctx, c, a)
	}
	if err != nil {
		// The lease stays: the next attempt finds it.
		return reconcile.Result{}, fmt.Errorf("%s %s: %w", errCreateAddr, a.Name, err)
	}
	r.waiters.drop(ck)
	backed := "reservations"
	if b.Draw {
		backed = "ledger"
	}
	metrics.Allocated(backed, time.Since(c.CreationTimestamp.Time))
	r.record.Event(p, xpevent.Normal(reasonAllocated, fmt.Sprintf("%s to IPAddressClaim %s", addr, c.Name)))
	return reconcile.Result{}, r.setReady(ctx, c, a, clusterv1.ReadyReason, "")
}

// Reasons of the events on a pool.
const (
	reasonAllocated xpevent.Reason = "Allocated"
	reasonReleased  xpevent.Reason = "Released"
)

// refuse reports on the claim, as its Ready condition, a Warning event
// and a count, why it gets no address.
func (r *Reconciler) refuse(ctx context.Context, c *capiipamv1beta2.IPAddressClaim, reason, msg string) error {
	metrics.Refused("capi", reason)
	r.record.Event(c, xpevent.Warning(xpevent.Reason(reason), errors.New(conditions.Message(msg))))
	return r.setReady(ctx, c, nil, reason, msg)
}

// raced handles an IPAddress of c's name that exists already: created by
// another replica for c (c keeps that one and gives its own lease back), or
// left by an earlier claim of the same name that is still being released.
func (r *Reconciler) raced(ctx context.Context, c *capiipamv1beta2.IPAddressClaim, mine *capiipamv1beta2.IPAddress) (reconcile.Result, error) {
	cur := &capiipamv1beta2.IPAddress{}
	if err := r.apis.Get(ctx, client.ObjectKeyFromObject(mine), cur); err != nil {
		return reconcile.Result{}, fmt.Errorf("%s %s: %w", errGetAddr, mine.Name, err)
	}
	if cur.Labels[backing.LabelClaimUID] != string(c.UID) {
		// Its deletion wakes this claim; the lease waits for it.
		return reconcile.Result{RequeueAfter: recheck}, r.setReady(ctx, c, nil, capiipamv1beta2.IPAddressClaimReadyAllocationFailedReason, fmt.Sprintf(errNameTaken, cur.Name))
	}
	if cur.Spec.Address != mine.Spec.Address {
		if err := r.ledger.Return(ctx, netip.MustParseAddr(mine.Spec.Address), c.UID, false); err != nil {
			return reconcile.Result{}, fmt.Errorf("%s: %w", errReturn, err)
		}
	}
	return reconcile.Result{}, r.setReady(ctx, c, cur, clusterv1.ReadyReason, "")
}

// protect makes sure p and its Reservations carry the in-use finalizer
// before an address is handed out, so that none can be released under a
// machine. It returns with p's guard held shared, until the IPAddress
// exists. The cache answers for most claims; the first claim of a pool, or
// one after the pool controller let its Reservations go, protects them on
// the API server.
func (r *Reconciler) protect(ctx context.Context, p *v1alpha1.IPPool, b backing.Backing) (func(), error) {
	key := backing.ProtectKey(p)
	done := func(st backing.GuardState) bool {
		return st.ProtectedFor == key || b.Protected && !st.Released
	}
	unlock, st := r.guards.Shared(p.UID)
	if done(st) {
		return unlock, nil
	}
	unlock()
	unlockX, st, set := r.guards.Exclusive(p.UID)
	var err error
	if st.ProtectedFor != key {
		// From the API server: a stale copy could put the finalizer back
		// on a reservation the pool controller has just let go, for good.
		fresh := &v1alpha1.IPPool{}
		if err = r.apis.Get(ctx, client.ObjectKeyFromObject(p), fresh); err == nil {
			err = r.fin.Protect(ctx, fresh)
		}
		if err == nil {
			set(backing.GuardState{ProtectedFor: key})
		}
	}
	unlockX()
	if err != nil {
		return nil, err
	}
	unlock, st = r.guards.Shared(p.UID)
	if st.ProtectedFor != key {
		// Released again in between: the caller retries.
		unlock()
		return nil, errors.New("the pool's reservations were released meanwhile")
	}
	return unlock, nil
}

// newAddress is the IPAddress handing addr from p to c, as the contract
// describes it: named like the claim, owned by the claim (controller) and by
// the pool, protected by a finalizer.
func newAddress(c *capiipamv1beta2.IPAddressClaim, p *v1alpha1.IPPool, space addressing.Space, addr netip.Addr) *capiipamv1beta2.IPAddress {
	a := &capiipamv1beta2.IPAddress{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: c.Namespace,
			Name:      c.Name,
			Labels: map[string]string{
				backing.LabelPoolUID:  string(p.UID),
				backing.LabelClaimUID: string(c.UID),
			},
			Finalizers: []string{backing.FinalizerProtectAddress},
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
			PoolRef:  backing.Ref(p),
			Address:  addr.String(),
			Prefix:   ptr.To(int32(space.Prefix())), //nolint:gosec // A prefix length fits.
			Gateway:  p.Spec.Gateway,
		},
	}
	if cn := clusterName(c); cn != "" {
		a.Labels[clusterv1.ClusterNameLabel] = cn
	}
	return a
}

// setReady records the claim's Ready condition and address (addr nil: none
// yet). Recording an address needs no fence: a claim has one IPAddress,
// named like it (or recorded before), so whoever records it records the
// same. Any other condition is fenced on resourceVersion, so that a stale
// copy never overwrites the address another reconcile recorded.
func (r *Reconciler) setReady(ctx context.Context, c *capiipamv1beta2.IPAddressClaim, addr *capiipamv1beta2.IPAddress, reason, msg string) error {
	want := c.DeepCopy()
	cond := metav1.Condition{
		Type: capiipamv1beta2.IPAddressClaimReadyCondition, Status: metav1.ConditionFalse,
		Reason: reason, Message: conditions.Message(msg), ObservedGeneration: c.Generation,
	}
	if addr != nil {
		want.Status.AddressRef.Name = addr.Name
		cond.Status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&want.Status.Conditions, cond)
	if equality.Semantic.DeepEqual(c.Status, want.Status) {
		r.bound.Delete(c.UID)
		return nil
	}
	if rv, ok := r.bound.Load(c.UID); ok && addr != nil && rv == c.ResourceVersion {
		return nil
	}
	patch := client.MergeFromWithOptions(c, client.MergeFromWithOptimisticLock{})
	if addr != nil {
		patch = client.MergeFrom(c)
	}
	if err := r.kube.Status().Patch(ctx, want, patch); err != nil {
		return fmt.Errorf("%s: %w", errUpdateStatus, err)
	}
	if addr != nil {
		r.bound.Store(c.UID, c.ResourceVersion)
	} else {
		r.bound.Delete(c.UID)
	}
	return nil
}

// release gives back the claim's address and deletes its IPAddress, then
// removes the finalizer earlier versions put on claims.
func (r *Reconciler) release(ctx context.Context, c *capiipamv1beta2.IPAddressClaim) error {
	l := &capiipamv1beta2.IPAddressList{}
	if err := r.kube.List(ctx, l, client.InNamespace(c.Namespace), client.MatchingFields{backing.IndexClaim: c.Name}); err != nil {
		return fmt.Errorf("%s: %w", errListAddrs, err)
	}
	a, err := r.own(ctx, c)
	if err != nil {
		return err
	}
	if a != nil {
		l.Items = append(l.Items, *a)
	}
	for i := range l.Items {
		if l.Items[i].Labels[backing.LabelClaimUID] != string(c.UID) {
			continue
		}
		if err := r.deleteAddress(ctx, &l.Items[i]); err != nil {
			return err
		}
		a := &l.Items[i]
		if pool := (&v1alpha1.IPPool{}); r.kube.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: a.Spec.PoolRef.Name}, pool) == nil {
			r.record.Event(pool, xpevent.Normal(reasonReleased, fmt.Sprintf("%s from IPAddressClaim %s", a.Spec.Address, c.Name)))
		}
	}
	// A lease with no IPAddress (a crash in between): no machine used it.
	if addr, ok := r.ledger.LeaseOf(c.UID); ok {
		if err := r.ledger.Return(ctx, addr, c.UID, false); err != nil {
			return fmt.Errorf("%s: %w", errReturn, err)
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

// releaseOrphans releases the IPAddresses of a claim that is gone: deleted
// with no finalizer left, or whose finalizer was removed by hand. Their
// protecting finalizer keeps them until then. A paused Cluster keeps them
// too, as the contract asks.
func (r *Reconciler) releaseOrphans(ctx context.Context, claim client.ObjectKey) (reconcile.Result, error) {
	l := &capiipamv1beta2.IPAddressList{}
	if err := r.kube.List(ctx, l, client.InNamespace(claim.Namespace), client.MatchingFields{backing.IndexClaim: claim.Name}); err != nil {
		return reconcile.Result{}, fmt.Errorf("%s: %w", errListAddrs, err)
	}
	if len(l.Items) == 0 {
		return reconcile.Result{}, nil
	}
	// The cache may lag behind a claim another replica just served: only
	// the API server may say it is gone.
	c := &metav1.PartialObjectMetadata{}
	c.SetGroupVersionKind(capiipamv1beta2.GroupVersion.WithKind("IPAddressClaim"))
	var live types.UID
	switch err := r.apis.Get(ctx, claim, c); {
	case err == nil:
		live = c.UID
	case !kerrors.IsNotFound(err):
		return reconcile.Result{}, fmt.Errorf("%s: %w", errGetClaim, err)
	}
	for i := range l.Items {
		a := &l.Items[i]
		if live != "" && a.Labels[backing.LabelClaimUID] == string(live) {
			continue
		}
		_, paused, err := r.cluster(ctx, a.Namespace, a.Labels[clusterv1.ClusterNameLabel], nil)
		if err != nil {
			return reconcile.Result{}, err
		}
		if paused {
			return reconcile.Result{RequeueAfter: recheck}, nil
		}
		if err := r.deleteAddress(ctx, a); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, nil
}

func (r *Reconciler) deleteAddress(ctx context.Context, a *capiipamv1beta2.IPAddress) error {
	return backing.DeleteAddress(ctx, r.kube, r.apis, r.ledger, a)
}

// clusterName is the claim's Cluster: spec.clusterName, else the
// (deprecated) cluster-name label.
func clusterName(c *capiipamv1beta2.IPAddressClaim) string {
	if c.Spec.ClusterName != "" {
		return c.Spec.ClusterName
	}
	return c.Labels[clusterv1.ClusterNameLabel]
}

// cluster applies the contract's rules on a claim's Cluster, read from the
// cache: a paused claim (annotations) or Cluster is left alone, and nothing
// is allocated for a claim whose Cluster does not exist. A claim naming no
// Cluster proceeds, and so does one where the Cluster kind is not installed
// (found false).
func (r *Reconciler) cluster(ctx context.Context, ns, name string, annotations map[string]string) (found, paused bool, err error) {
	if _, ok := annotations[clusterv1.PausedAnnotation]; ok {
		return true, true, nil
	}
	if name == "" {
		return true, false, nil
	}
	cl := &clusterv1.Cluster{}
	if err := r.kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cl); err != nil {
		if kerrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return false, false, nil
		}
		return false, false, fmt.Errorf("%s %q: %w", errGetCluster, name, err)
	}
	_, annotated := cl.Annotations[clusterv1.PausedAnnotation]
	return true, annotated || ptr.Deref(cl.Spec.Paused, false), nil
}
