// Package reservation reconciles in-cluster Reservations: managed resources
// whose external resource is a set of Allocations in the in-cluster ledger.
package reservation

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/event"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"
	"github.com/crossplane/crossplane-runtime/v2/pkg/ratelimiter"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	"github.com/crossplane/crossplane-runtime/v2/pkg/resource"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/addressing"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/conditions"
	"github.com/provider-ipam/provider-ipam/internal/metrics"
)

const (
	errNotReservation = "managed resource is not an in-cluster Reservation"
	errSpec           = "invalid spec.forProvider"
	errExternalName   = "invalid external name (the addresses held)"
	errObserve        = "cannot observe the ledger"
	errReserve        = "cannot reserve addresses"
	errRelease        = "cannot release addresses"
	errPersist        = "cannot record the addresses held"
	errOutsideSpace   = "held address cannot be handed out from the space"
	errShrink         = "cannot release every address above the count yet"
)

// Connection detail keys.
const (
	ConnAddress   = "address"
	ConnAddresses = "addresses"
	ConnPrefix    = "prefix"
	ConnGateway   = "gateway"
)

// Setup adds a controller that reconciles Reservations.
func Setup(mgr ctrl.Manager, o controller.Options, l *incluster.Ledger) error {
	name := managed.ControllerName(v1alpha1.ReservationGroupKind)
	opts := []managed.ReconcilerOption{
		managed.WithExternalConnector(conditions.Connector(&connector{ledger: l, kube: mgr.GetClient()})),
		managed.WithLogger(o.Logger.WithValues("controller", name)),
		managed.WithRecorder(event.NewAPIRecorder(mgr.GetEventRecorderFor(name))), //nolint:staticcheck // crossplane-runtime's recorder takes the legacy interface.
		managed.WithPollInterval(o.PollInterval),
		managed.WithManagementPolicies(),
		// The external name is the addresses held, chosen by the ledger: it
		// must not default to the object's name.
		managed.WithInitializers(),
		// Allocations carry their holder's UID, so a crash between creating
		// them and recording the external name loses nothing: Observe finds
		// them again. Proceeding is safe.
		managed.WithDeterministicExternalName(true),
		managed.WithCriticalAnnotationUpdater(&fencedUpdater{kube: mgr.GetClient(), ledger: l}),
		// The ledger confirms every miss with the API server, so "gone" is
		// never eventual consistency: the default 30s grace after creation
		// only delayed the deletion of a young Reservation by a poll.
		managed.WithCreationGracePeriod(0),
		managed.WithFinalizer(metrics.ForgettingFinalizer("in-cluster", resource.NewAPIFinalizer(mgr.GetClient(), managed.FinalizerName))),
	}
	mo, err := metrics.ManagedOptions(mgr, o, &v1alpha1.ReservationList{})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	opts = append(opts, mo...)
	r := managed.NewReconciler(mgr, resource.ManagedKind(v1alpha1.ReservationGroupVersionKind), opts...)
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		WithOptions(o.ForControllerRuntime()).
		For(&v1alpha1.Reservation{}).
		// A machine releasing an address its Reservation wants to give back
		// (the in-use finalizer removed) lets the shrink finish at once.
		Watches(&v1alpha1.Allocation{}, incluster.EnqueueHolder(v1alpha1.SchemeGroupVersion.String()), builder.WithPredicates(incluster.MarkRemoved)).
		Complete(ratelimiter.NewReconciler(name, r, o.GlobalRateLimiter))
}

type connector struct {
	ledger *incluster.Ledger
	kube   client.Client
}

func (c *connector) Connect(_ context.Context, mg resource.Managed) (managed.ExternalClient, error) {
	if _, ok := mg.(*v1alpha1.Reservation); !ok {
		return nil, errors.New(errNotReservation)
	}
	return &external{ledger: c.ledger, annotations: &fencedUpdater{kube: c.kube, ledger: c.ledger}}, nil
}

type external struct {
	ledger      *incluster.Ledger
	annotations managed.CriticalAnnotationUpdater
}

// request is what a Reservation asks the ledger for.
type request struct {
	space addressing.Space // invalid (zero) when only an address is given
	exact []netip.Addr     // a specific address or the whole space, or nil
	count int              // when exact is nil
}

func parse(cr *v1alpha1.Reservation) (request, error) {
	p := cr.Spec.ForProvider
	var r request
	if p.Space != nil {
		s, err := addressing.ParseSpace(addressing.SpecOf(*p.Space))
		if err != nil {
			return request{}, err
		}
		r.space = s
	}
	switch {
	case p.Address != "":
		a, err := addressing.ParseAddr("address", p.Address)
		if err != nil {
			return request{}, err
		}
		if p.Space != nil {
			if why := r.space.Why(a); why != "" {
				return request{}, &addressing.InvalidError{Reason: addressing.ReasonAddressReserved, Field: "address", Value: p.Address, Detail: "is " + why}
			}
		}
		r.exact = []netip.Addr{a}
	case p.AllAddresses:
		if p.Space == nil {
			return request{}, &addressing.InvalidError{Reason: addressing.ReasonEmptySpace, Field: "allAddresses", Detail: "needs a space"}
		}
		all, err := r.space.Addrs(v1alpha1.MaxAddresses)
		if err != nil {
			return request{}, err
		}
		r.exact = all
	default:
		if p.Space == nil {
			return request{}, &addressing.InvalidError{Reason: addressing.ReasonEmptySpace, Field: "space", Detail: "is required unless address is set"}
		}
		r.count = 1
		if p.Count != nil {
			r.count = int(*p.Count)
		}
	}
	return r, nil
}

func owner(cr *v1alpha1.Reservation) v1alpha1.AllocationOwner {
	o := v1alpha1.AllocationOwner{
		APIVersion: v1alpha1.SchemeGroupVersion.String(),
		Kind:       v1alpha1.ReservationKind,
		Namespace:  cr.GetNamespace(),
		Name:       cr.GetName(),
		UID:        string(cr.GetUID()),
	}
	if ref := cr.GetProviderConfigReference(); ref != nil && ref.Name != v1alpha1.DefaultProviderConfig {
		o.ProviderConfig = ref.Name
	}
	return o
}

// checkProviderConfig refuses a Reservation that names a namespaced
// ProviderConfig: tenants write those, so they cannot grant address space.
// Admission refuses it too; this covers objects stored before it did.
func checkProviderConfig(cr *v1alpha1.Reservation) error {
	if ref := cr.GetProviderConfigReference(); ref != nil && ref.Kind != v1alpha1.ClusterProviderConfigKind {
		return &incluster.PolicyError{Reason: v1alpha1.ReasonProviderConfigNotAllowed, Message: fmt.Sprintf(
			"providerConfigRef names a %s: in-cluster Reservations draw under a ClusterProviderConfig, the platform team's address-space policy", ref.Kind)}
	}
	return nil
}

func observeOnly(cr *v1alpha1.Reservation) bool {
	p := cr.GetManagementPolicies()
	return len(p) == 1 && p[0] == xpv1.ManagementActionObserve
}

// named parses the external name: the addresses this Reservation recorded.
func named(cr *v1alpha1.Reservation) ([]netip.Addr, error) {
	en := meta.GetExternalName(cr)
	if en == "" {
		return nil, nil
	}
	addrs, err := addressing.ParseAddrList("external name", en, v1alpha1.MaxAddresses)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", errExternalName, err)
	}
	return addrs, nil
}

func (e *external) Observe(ctx context.Context, mg resource.Managed) (managed.ExternalObservation, error) {
	cr, ok := mg.(*v1alpha1.Reservation)
	if !ok {
		return managed.ExternalObservation{}, errors.New(errNotReservation)
	}
	// Shortfall and conflict say why the last create failed; this
	// reconcile finds anew whether they hold (Create sets them again),
	// so an error below is never read as an earlier exhaustion.
	cr.Status.AtProvider.Shortfall, cr.Status.AtProvider.Conflict = nil, nil
	req, err := parse(cr)
	if err != nil && !observeOnly(cr) {
		return managed.ExternalObservation{}, fmt.Errorf("%s: %w", errSpec, err)
	}
	recorded, err := named(cr)
	if err != nil {
		return managed.ExternalObservation{}, err
	}
	if observeOnly(cr) {
		return e.observeOnly(ctx, cr, req, recorded)
	}

	held, err := e.ledger.Held(ctx, cr.GetUID(), recorded)
	if err != nil {
		return managed.ExternalObservation{}, fmt.Errorf("%s: %w", errObserve, err)
	}
	if meta.WasDeleted(cr) {
		return managed.ExternalObservation{ResourceExists: len(held) > 0}, nil
	}
	if len(held) == 0 || len(recorded) > 0 && !subset(recorded, held) && !enough(req, held) {
		// Nothing held, or the recorded addresses must be (re)claimed: Create
		// takes them back or reports who holds them.
		return managed.ExternalObservation{ResourceExists: false}, nil
	}
	for _, a := range held {
		if req.space.Size() > 0 && !req.space.Contains(a) && !slices.Contains(req.exact, a) {
			return managed.ExternalObservation{}, fmt.Errorf("%s: %s is %s", errOutsideSpace, a, req.space.Why(a))
		}
	}
	lateInit := false
	if !slices.Equal(recorded, held) {
		// Held but not recorded: a crash came between reserving and
		// recording. Record now rather than reserve again.
		meta.SetExternalName(cr, addressing.FormatAddrs(held))
		lateInit = true
	}
	setObservation(cr, req.space, held, "")
	cr.SetConditions(xpv1.Available())
	return managed.ExternalObservation{
		ResourceExists:          true,
		ResourceUpToDate:        upToDate(req, held),
		ResourceLateInitialized: lateInit,
		ConnectionDetails:       connectionDetails(req.space, held),
	}, nil
}

// observeOnly reports the addresses named by the external name, whoever
// holds them, and never changes the ledger.
func (e *external) observeOnly(ctx context.Context, cr *v1alpha1.Reservation, req request, recorded []netip.Addr) (managed.ExternalObservation, error) {
	if len(recorded) == 0 {
		return managed.ExternalObservation{ResourceExists: false}, nil
	}
	holder := ""
	for _, a := range recorded {
		al, err := e.ledger.Get(ctx, a)
		if err != nil {
			return managed.ExternalObservation{}, fmt.Errorf("%s: %w", errObserve, err)
		}
		if al == nil {
			return managed.ExternalObservation{ResourceExists: false}, nil
		}
		if al.Spec.Owner.UID != string(cr.GetUID()) && holder == "" {
			holder = al.Spec.Owner.Namespace + "/" + al.Spec.Owner.Name
		}
	}
	setObservation(cr, req.space, recorded, holder)
	cr.SetConditions(xpv1.Available())
	return managed.ExternalObservation{
		ResourceExists:    true,
		ResourceUpToDate:  true,
		ConnectionDetails: connectionDetails(req.space, recorded),
	}, nil
}

func (e *external) Create(ctx context.Context, mg resource.Managed) (managed.ExternalCreation, error) {
	cr, ok := mg.(*v1alpha1.Reservation)
	if !ok {
		return managed.ExternalCreation{}, errors.New(errNotReservation)
	}
	cr.SetConditions(xpv1.Creating())
	req, err := parse(cr)
	if err != nil {
		return managed.ExternalCreation{}, fmt.Errorf("%s: %w", errSpec, err)
	}
	recorded, err := named(cr)
	if err != nil {
		return managed.ExternalCreation{}, err
	}
	held, err := e.reserve(ctx, cr, req, recorded)
	if err != nil {
		// Nothing is held: say so, and why, in the fields compositions read.
		setObservation(cr, req.space, nil, "")
		setFailure(cr, err)
		return managed.ExternalCreation{}, err
	}
	meta.SetExternalName(cr, addressing.FormatAddrs(held))
	setObservation(cr, req.space, held, "")
	cr.SetConditions(allowed())
	return managed.ExternalCreation{ConnectionDetails: connectionDetails(req.space, held)}, nil
}

// reserve makes the ledger hold what cr asks for. Recorded addresses (an
// external name set by a user to adopt them, or by an earlier reconcile)
// win over the spec: they are taken back, or adopted from a deleted holder.
func (e *external) reserve(ctx context.Context, cr *v1alpha1.Reservation, req request, recorded []netip.Addr) ([]netip.Addr, error) {
	if err := checkProviderConfig(cr); err != nil {
		return nil, err
	}
	o := owner(cr)
	want := req.exact
	if len(recorded) > 0 {
		for _, a := range recorded {
			if req.space.Size() > 0 && !req.space.Contains(a) && !slices.Contains(req.exact, a) {
				return nil, fmt.Errorf("%s: %s is %s", errOutsideSpace, a, req.space.Why(a))
			}
		}
		want = recorded
	}
	if want != nil {
		if err := e.ledger.Hold(ctx, o, want, incluster.AdoptOrphans); err != nil {
			return nil, fmt.Errorf("%s: %w", errReserve, err)
		}
		return want, nil
	}
	held, err := e.ledger.Reserve(ctx, o, req.space, req.count, recorded)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", errReserve, err)
	}
	return held, nil
}

func (e *external) Update(ctx context.Context, mg resource.Managed) (managed.ExternalUpdate, error) {
	cr, ok := mg.(*v1alpha1.Reservation)
	if !ok {
		return managed.ExternalUpdate{}, errors.New(errNotReservation)
	}
	req, err := parse(cr)
	if err != nil {
		return managed.ExternalUpdate{}, fmt.Errorf("%s: %w", errSpec, err)
	}
	recorded, err := named(cr)
	if err != nil {
		return managed.ExternalUpdate{}, err
	}
	if err := checkProviderConfig(cr); err != nil {
		setFailure(cr, err)
		return managed.ExternalUpdate{}, err
	}
	var held []netip.Addr
	var inUse *incluster.InUseError
	if req.exact != nil {
		if err := e.ledger.Hold(ctx, owner(cr), req.exact, incluster.AdoptOrphans); err != nil {
			// The addresses held before stay held, as Observe published.
			setFailure(cr, err)
			return managed.ExternalUpdate{}, fmt.Errorf("%s: %w", errReserve, err)
		}
		held = req.exact
	} else if held, err = e.ledger.Reserve(ctx, owner(cr), req.space, req.count, recorded); err != nil && !errors.As(err, &inUse) {
		setFailure(cr, err)
		return managed.ExternalUpdate{}, fmt.Errorf("%s: %w", errReserve, err)
	}
	if en := addressing.FormatAddrs(held); en != meta.GetExternalName(cr) {
		meta.SetExternalName(cr, en)
		if err := e.annotations.UpdateCriticalAnnotations(ctx, cr); err != nil {
			return managed.ExternalUpdate{}, fmt.Errorf("%s: %w", errPersist, err)
		}
	}
	setObservation(cr, req.space, held, "")
	cr.SetConditions(allowed())
	if inUse != nil {
		for _, a := range inUse.InUse {
			cr.Status.AtProvider.Releasing = append(cr.Status.AtProvider.Releasing, a.String())
		}
		// What could be released is, and recorded; the rest is retried,
		// and an Allocation losing its in-use finalizer wakes this one.
		return managed.ExternalUpdate{ConnectionDetails: connectionDetails(req.space, held)}, fmt.Errorf("%s: %w", errShrink, inUse)
	}
	return managed.ExternalUpdate{ConnectionDetails: connectionDetails(req.space, held)}, nil
}

func (e *external) Delete(ctx context.Context, mg resource.Managed) (managed.ExternalDelete, error) {
	cr, ok := mg.(*v1alpha1.Reservation)
	if !ok {
		return managed.ExternalDelete{}, errors.New(errNotReservation)
	}
	cr.SetConditions(xpv1.Deleting())
	recorded, err := named(cr)
	if err != nil {
		recorded = nil // Release by UID still finds every address held.
	}
	if err := e.ledger.Release(ctx, cr.GetUID(), recorded); err != nil {
		return managed.ExternalDelete{}, fmt.Errorf("%s: %w", errRelease, err)
	}
	// Everything is released: the Reservation no longer counts against
	// its namespace's quota. (Orphaned, Delete never runs, and what it
	// kept goes on counting.)
	if err := e.ledger.Discharge(ctx, owner(cr)); err != nil {
		return managed.ExternalDelete{}, fmt.Errorf("%s: %w", errRelease, err)
	}
	return managed.ExternalDelete{}, nil
}

func (e *external) Disconnect(context.Context) error { return nil }

func upToDate(req request, held []netip.Addr) bool {
	if req.exact != nil {
		return subset(req.exact, held)
	}
	return len(held) == req.count
}

// enough reports whether held has the count req asks for. Recorded
// addresses missing then were released by a shrink that ended before
// recording it: they are not taken back, since another holder may have
// them by now.
func enough(req request, held []netip.Addr) bool {
	if req.exact != nil {
		return false
	}
	n := 0
	for _, a := range held {
		if req.space.Contains(a) {
			n++
		}
	}
	return n >= req.count
}

// subset reports whether every address of a is in b (b sorted).
func subset(a, b []netip.Addr) bool {
	for _, x := range a {
		if _, ok := slices.BinarySearchFunc(b, x, netip.Addr.Compare); !ok {
			return false
		}
	}
	return true
}

func setObservation(cr *v1alpha1.Reservation, s addressing.Space, held []netip.Addr, heldBy string) {
	obs := v1alpha1.ReservationObservation{HeldBy: heldBy, Prefix: int32(s.Prefix())} //nolint:gosec // A prefix length fits.
	for _, a := range held {
		obs.Addresses = append(obs.Addresses, a.String())
	}
	if s.Gateway().IsValid() {
		obs.Gateway = s.Gateway().String()
	}
	cr.Status.AtProvider = obs
	metrics.SetReservation("in-cluster", cr.GetNamespace(), cr.GetName(), len(held))
}

// Reasons of refusals in metrics, as compositions name them.
const (
	reasonExhausted = "AddressesExhausted"
	reasonConflict  = "AddressConflict"
)

// setFailure publishes why a request cannot be met when the ledger says
// so: too few free addresses, or an address held by someone else. Other
// errors (the API server unreachable, a stale copy) are transient and set
// nothing.
func setFailure(cr *v1alpha1.Reservation, err error) {
	var (
		exhausted *addressing.ExhaustedError
		conflict  *incluster.ConflictError
		policy    *incluster.PolicyError
	)
	switch {
	case errors.As(err, &policy):
		metrics.Refused("in-cluster", policy.Reason)
		cr.SetConditions(xpv1.Condition{
			Type: v1alpha1.ConditionAllowed, Status: corev1.ConditionFalse, Reason: xpv1.ConditionReason(policy.Reason),
			Message: policy.Message, LastTransitionTime: metav1.Now(),
		})
	case errors.As(err, &exhausted):
		metrics.Refused("in-cluster", reasonExhausted)
		usable, held := clamp(exhausted.Usable), clamp(min(exhausted.Held, exhausted.Usable))
		cr.Status.AtProvider.Shortfall = &commonv1alpha1.Shortfall{
			Requested: clamp(exhausted.Requested), Usable: &usable, Held: &held, Free: usable - held,
		}
	case errors.As(err, &conflict):
		metrics.Refused("in-cluster", reasonConflict)
		cr.Status.AtProvider.Conflict = &commonv1alpha1.Conflict{Address: conflict.Address.String()}
	}
}

// allowed says the address-space policy let the Reservation hold what it
// asked for.
func allowed() xpv1.Condition {
	return xpv1.Condition{
		Type: v1alpha1.ConditionAllowed, Status: corev1.ConditionTrue, Reason: v1alpha1.ReasonWithinPolicy,
		LastTransitionTime: metav1.Now(),
	}
}

// clamp converts an address count for the API: an IPv6 space may have more
// addresses than an int64 counts.
func clamp(n uint64) int64 {
	return int64(min(n, math.MaxInt64))
}

func connectionDetails(s addressing.Space, held []netip.Addr) managed.ConnectionDetails {
	cd := managed.ConnectionDetails{ConnAddresses: []byte(addressing.FormatAddrs(held))}
	if len(held) > 0 {
		cd[ConnAddress] = []byte(held[0].String())
	}
	if p := s.Prefix(); p > 0 {
		cd[ConnPrefix] = []byte(strconv.Itoa(p))
	}
	if s.Gateway().IsValid() {
		cd[ConnGateway] = []byte(s.Gateway().String())
	}
	return cd
}
