// Package reservation reconciles Infoblox Reservations: managed resources
// whose external resource is a fixed address or host record in NIOS.
package reservation

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

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
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/infoblox/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/clients/infoblox"
	"github.com/provider-ipam/provider-ipam/internal/conditions"
	"github.com/provider-ipam/provider-ipam/internal/metrics"
)

const (
	errNotReservation = "managed resource is not an Infoblox Reservation"
	errTrackUsage     = "cannot track ProviderConfig usage"
	errObserve        = "cannot observe the reservation in Infoblox"
	errSearch         = "cannot search Infoblox for this Reservation's object"
	errDedupe         = "cannot remove duplicate objects of this Reservation from Infoblox"
	errCreate         = "cannot reserve an address in Infoblox"
	errDelete         = "cannot release the address in Infoblox"
	errGateway        = "cannot read the network's gateway from Infoblox"
	errForeign        = "the object named by the external name belongs to another Reservation"
	errExternalName   = "the external name is not a valid fixed address or host record reference"
	errMismatch       = "the object named by the external name does not match spec.forProvider"
	errAttest         = "cannot record the address in the ledger"
	errLetGo          = "cannot let the address go in the ledger"
	errTakeOwnership  = "cannot tag the imported object as this Reservation's"
)

// Connection detail keys.
const (
	ConnAddress = "address"
	ConnPrefix  = "prefix"
	ConnGateway = "gateway"
)

// Setup adds a controller that reconciles Reservations. It records in l
// each address the grid confirms, which is what pools hand out.
func Setup(mgr ctrl.Manager, o controller.Options, l *incluster.Ledger) error {
	name := managed.ControllerName(v1alpha1.ReservationGroupKind)
	opts := []managed.ReconcilerOption{
		managed.WithExternalConnector(conditions.Connector(&connector{
			kube:    mgr.GetClient(),
			usage:   resource.NewProviderConfigUsageTracker(mgr.GetClient(), &v1alpha1.ProviderConfigUsage{}),
			secrets: newSecretCache(mgr.GetClient()),
			clients: &clientCache{},
			ledger:  l,
		})),
		managed.WithLogger(o.Logger.WithValues("controller", name)),
		managed.WithRecorder(event.NewAPIRecorder(mgr.GetEventRecorderFor(name))), //nolint:staticcheck // crossplane-runtime's recorder takes the legacy interface.
		managed.WithPollInterval(o.PollInterval),
		managed.WithManagementPolicies(),
		// The external name is the WAPI reference Infoblox assigns: it must
		// not default to the object's name.
		managed.WithInitializers(),
		// Not literally deterministic, but as safe: every object is tagged
		// with the Reservation's UID, so when a create's outcome is unknown
		// (crash, lost answer, failed annotation update) Observe searches
		// by that UID and adopts what it finds rather than creating again.
		// Proceeding cannot leak or duplicate an address.
		managed.WithDeterministicExternalName(true),
		// The grace period covers APIs that may not show a resource right
		// after creating it. WAPI reads on the Grid Master are consistent,
		// and waiting would only delay deleting a new Reservation by 30s.
		managed.WithCreationGracePeriod(0),
		managed.WithCriticalAnnotationUpdater(&statusKeepingUpdater{next: managed.NewRetryingCriticalAnnotationUpdater(mgr.GetClient())}),
		managed.WithFinalizer(&releasingFinalizer{next: metrics.ForgettingFinalizer("infoblox", resource.NewAPIFinalizer(mgr.GetClient(), managed.FinalizerName)), ledger: l}),
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
		// A machine letting go of the address of a Reservation being
		// deleted (the in-use finalizer removed from its Allocation) lets
		// the deletion finish at once.
		Watches(&inclusterv1alpha1.Allocation{}, incluster.EnqueueHolder(v1alpha1.SchemeGroupVersion.String()), builder.WithPredicates(incluster.MarkRemoved)).
		Complete(ratelimiter.NewReconciler(name, r, o.GlobalRateLimiter))
}

// owner is cr as the ledger records its holder.
func owner(cr *v1alpha1.Reservation) inclusterv1alpha1.AllocationOwner {
	return inclusterv1alpha1.AllocationOwner{
		APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.ReservationKind,
		Namespace: cr.GetNamespace(), Name: cr.GetName(), UID: string(cr.GetUID()),
	}
}

type connector struct {
	kube    client.Client
	usage   *resource.ProviderConfigUsageTracker
	secrets *secretCache
	clients *clientCache
	ledger  *incluster.Ledger
}

func (c *connector) Connect(ctx context.Context, mg resource.Managed) (managed.ExternalClient, error) {
	cr, ok := mg.(*v1alpha1.Reservation)
	if !ok {
		return nil, errors.New(errNotReservation)
	}
	if err := c.usage.Track(ctx, cr); err != nil {
		return nil, fmt.Errorf("%s: %w", errTrackUsage, err)
	}
	cfg, err := resolveConfig(ctx, c.kube, c.secrets, cr)
	if err != nil {
		return nil, err
	}
	cl, err := c.clients.get(cfg)
	if err != nil {
		return nil, err
	}
	return &external{client: cl, ledger: c.ledger}, nil
}

type external struct {
	client *infoblox.Client
	ledger *incluster.Ledger
}

func observeOnly(cr *v1alpha1.Reservation) bool {
	p := cr.GetManagementPolicies()
	return len(p) == 1 && p[0] == xpv1.ManagementActionObserve
}

// createAttempted reports whether the managed reconciler ever called
// Create for this object: it records external-create-pending (with an
// update that fails on conflict) before every call.
func createAttempted(cr *v1alpha1.Reservation) bool {
	return !meta.GetExternalCreatePending(cr).IsZero() ||
		!meta.GetExternalCreateSucceeded(cr).IsZero() ||
		!meta.GetExternalCreateFailed(cr).IsZero()
}

func kind(cr *v1alpha1.Reservation) infoblox.Kind {
	if cr.Spec.ForProvider.RecordType == v1alpha1.RecordTypeHostRecord {
		return infoblox.KindHostRecord
	}
	return infoblox.KindFixedAddress
}

func request(cr *v1alpha1.Reservation) infoblox.Request {
	p := cr.Spec.ForProvider
	return infoblox.Request{
		Kind:     kind(cr),
		Network:  p.Network,
		Range:    p.Range,
		Exclude:  p.Exclude,
		Address:  p.Address,
		HostName: p.HostName,
		MAC:      p.MAC,
		Gateway:  p.Gateway,
		EAs:      infoblox.EAs(string(cr.GetUID()), cr.GetNamespace(), cr.GetName(), p.Cluster, p.Claim),
	}
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
	if meta.WasDeleted(cr) {
		// Deleted or orphaned, it holds nothing of its own any more: the
		// ledger lets its address go first, once no machine holds it, so
		// that the grid object (deleted or kept next) never outlives a
		// record pools could still hand out, nor goes under a machine.
		if err := e.ledger.ReleaseUnused(ctx, cr.GetUID(), recorded(cr)); err != nil {
			return managed.ExternalObservation{}, fmt.Errorf("%s: %w", errLetGo, err)
		}
	}
	var (
		obj      *infoblox.Object
		lateInit bool
		err      error
	)
	if ref := meta.GetExternalName(cr); ref != "" {
		obj, err = e.named(ctx, cr, ref)
		var r *refusal
		switch {
		case errors.As(err, &r) && meta.WasDeleted(cr):
			// Never read through, or never this Reservation's: let it
			// go without touching the object.
			return managed.ExternalObservation{ResourceExists: false}, nil
		case err != nil:
			return managed.ExternalObservation{}, err
		case obj == nil:
			return managed.ExternalObservation{ResourceExists: false}, nil
		}
	} else {
		if observeOnly(cr) || !createAttempted(cr) {
			// Nothing was ever created for this Reservation: no need to
			// ask Infoblox.
			return managed.ExternalObservation{ResourceExists: false}, nil
		}
		// A create was attempted but its reference never recorded: find
		// the object by the Reservation's UID. More than one means the
		// client's retry of a create whose answer was lost made a second:
		// keep the lowest address, delete the rest.
		obj, err = e.client.Dedupe(ctx, kind(cr), request(cr).IPv6(), string(cr.GetUID()))
		if err != nil {
			return managed.ExternalObservation{}, fmt.Errorf("%s: %w", errSearch, err)
		}
		if obj == nil {
			return managed.ExternalObservation{ResourceExists: false}, nil
		}
		meta.SetExternalName(cr, obj.Ref)
		lateInit = true
	}
	if meta.WasDeleted(cr) {
		// Only an object tagged for cr is deleted with it: one it imported
		// without taking ownership is someone else's, and counts as gone.
		return managed.ExternalObservation{ResourceExists: obj.UID() == string(cr.GetUID()), ResourceUpToDate: true, ResourceLateInitialized: lateInit}, nil
	}
	cd, err := e.publish(ctx, cr, obj)
	if err != nil {
		return managed.ExternalObservation{}, err
	}
	if err := e.attest(ctx, cr, obj); err != nil {
		return managed.ExternalObservation{}, err
	}
	if err := e.takeOwnership(ctx, cr, obj); err != nil {
		return managed.ExternalObservation{}, err
	}
	cr.SetConditions(xpv1.Available())
	return managed.ExternalObservation{
		ResourceExists: true,
		// Everything that shapes the object is immutable (the API server
		// enforces it); gateway and prefix only shape what is published.
		ResourceUpToDate:        true,
		ResourceLateInitialized: lateInit,
		ConnectionDetails:       cd,
	}, nil
}

// A refusal says the external name may not be read, or names an object
// cr may not manage: a Reservation being deleted lets it go untouched.
type refusal struct{ error }

func (r *refusal) Unwrap() error { return r.error }

// named reads the object ref, cr's external name, names: nil if it does
// not exist, a *refusal if ref is not a reference of the kind cr asks for,
// or names an object of another network view or (unless cr only observes)
// one cr may not manage.
func (e *external) named(ctx context.Context, cr *v1alpha1.Reservation, ref string) (*infoblox.Object, error) {
	k, err := infoblox.KindOfRef(ref)
	if err != nil {
		return nil, &refusal{fmt.Errorf("%s: %w", errExternalName, err)}
	}
	if k != kind(cr) {
		return nil, &refusal{fmt.Errorf("%s: it names a %s, spec.forProvider.recordType asks for a %s", errMismatch, k, kind(cr))}
	}
	obj, err := e.client.Get(ctx, ref)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", errObserve, err)
	case obj == nil:
		return nil, nil
	}
	if v := obj.NetworkView; v != "" && v != e.client.NetworkView() {
		// Another view is another address space (often another site or
		// tenant): its objects are not the ProviderConfig's.
		return nil, &refusal{fmt.Errorf("%s: it is in network view %q, the ProviderConfig's is %q", errMismatch, v, e.client.NetworkView())}
	}
	if !observeOnly(cr) {
		if err := owned(cr, obj); err != nil {
			return nil, &refusal{err}
		}
	}
	return obj, nil
}

// owned checks that an object found by its reference may be managed (and
// deleted) by cr: it is not tagged for another Reservation (untagged objects
// may be imported), and it holds what cr asks for.
func owned(cr *v1alpha1.Reservation, obj *infoblox.Object) error {
	if uid := obj.UID(); uid != "" && uid != string(cr.GetUID()) {
		// Another Reservation of cr's namespace is named; one of another
		// namespace is not: a tenant learns nothing of another's objects.
		if o, _ := obj.EAs[infoblox.EAOwner].(string); strings.HasPrefix(o, cr.GetNamespace()+"/") {
			return fmt.Errorf("%s (%s)", errForeign, strings.TrimPrefix(o, cr.GetNamespace()+"/"))
		}
		return fmt.Errorf("%s of another namespace", errForeign)
	}
	p := cr.Spec.ForProvider
	a, err := netip.ParseAddr(obj.Address)
	if err != nil {
		return fmt.Errorf("%s: the object holds no address", errMismatch)
	}
	if want, err := netip.ParseAddr(p.Address); err == nil && want != a {
		return fmt.Errorf("%s: it holds %s, not %s", errMismatch, a, want)
	}
	if n, err := netip.ParsePrefix(p.Network); err == nil && !n.Contains(a) {
		return fmt.Errorf("%s: it holds %s, outside %s", errMismatch, a, n)
	}
	return nil
}

func (e *external) Create(ctx context.Context, mg resource.Managed) (managed.ExternalCreation, error) {
	cr, ok := mg.(*v1alpha1.Reservation)
	if !ok {
		return managed.ExternalCreation{}, errors.New(errNotReservation)
	}
	cr.SetConditions(xpv1.Creating())
	req := request(cr)
	obj, err := e.client.Reserve(ctx, req)
	if err != nil {
		// If the object was made but the answer lost, the next Observe
		// finds it by UID.
		setFailure(cr, err)
		return managed.ExternalCreation{}, fmt.Errorf("%s: %w", errCreate, err)
	}
	if obj.Suspect {
		// A failed attempt preceded the one that succeeded, and may have
		// made an object too: settle on one now.
		kept, err := e.client.Dedupe(ctx, req.Kind, req.IPv6(), string(cr.GetUID()))
		if err != nil {
			// The reference is not recorded: an Observe that finds one
			// looks no further, and the duplicate would stay on the grid.
			// Without it the next Observe searches by UID and settles.
			return managed.ExternalCreation{}, fmt.Errorf("%s: %w", errDedupe, err)
		}
		if kept != nil {
			obj = kept
		}
	}
	meta.SetExternalName(cr, obj.Ref)
	cd, err := e.publish(ctx, cr, obj)
	if err != nil {
		// The reference is recorded; the next Observe publishes.
		return managed.ExternalCreation{}, nil //nolint:nilerr // Recording the reference matters more.
	}
	// Recorded now, pools need not wait for the next Observe; if it
	// fails, that Observe records it or reports why not.
	_ = e.attest(ctx, cr, obj)
	return managed.ExternalCreation{ConnectionDetails: cd}, nil
}

// attest records in the ledger that cr holds the address of obj, which the
// grid confirmed: pools hand out only that, never what cr's status says,
// which anyone who may edit cr can write. An address the ledger says
// someone else holds is reported as cr's conflict.
func (e *external) attest(ctx context.Context, cr *v1alpha1.Reservation, obj *infoblox.Object) error {
	a, err := netip.ParseAddr(obj.Address)
	if err != nil {
		return fmt.Errorf("%s: the object holds no address", errAttest)
	}
	err = e.ledger.Attest(ctx, owner(cr), a)
	var conflict *incluster.ConflictError
	if errors.As(err, &conflict) {
		metrics.Refused("infoblox", string(infoblox.ReasonConflict))
		cr.Status.AtProvider.Conflict = &commonv1alpha1.Conflict{Address: a.String()}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", errAttest, err)
	}
	return nil
}

// takeOwnership tags obj, which cr imported, with cr's UID when cr asks
// to own it and may update it. It runs after attest: the ledger lets one
// holder have an address, so of two Reservations importing one object only
// one can take it.
func (e *external) takeOwnership(ctx context.Context, cr *v1alpha1.Reservation, obj *infoblox.Object) error {
	if cr.Status.AtProvider.Owned || !cr.Spec.ForProvider.TakeOwnership || observeOnly(cr) || !mayUpdate(cr) {
		return nil
	}
	if err := e.client.Tag(ctx, obj.Ref, request(cr).EAs); err != nil {
		return fmt.Errorf("%s: %w", errTakeOwnership, err)
	}
	cr.Status.AtProvider.Owned = true
	return nil
}

// mayUpdate reports whether cr's management policies allow changing its
// object.
func mayUpdate(cr *v1alpha1.Reservation) bool {
	p := cr.GetManagementPolicies()
	return slices.Contains(p, xpv1.ManagementActionAll) || slices.Contains(p, xpv1.ManagementActionUpdate)
}

// recorded is the address cr's status records, if any: a hint to the
// ledger, which checks it holds it.
func recorded(cr *v1alpha1.Reservation) []netip.Addr {
	if a, err := netip.ParseAddr(cr.Status.AtProvider.Address); err == nil {
		return []netip.Addr{a}
	}
	return nil
}

// Update has nothing to change: the spec fields that shape the object in
// Infoblox are immutable.
func (e *external) Update(context.Context, resource.Managed) (managed.ExternalUpdate, error) {
	return managed.ExternalUpdate{}, nil
}

func (e *external) Delete(ctx context.Context, mg resource.Managed) (managed.ExternalDelete, error) {
	cr, ok := mg.(*v1alpha1.Reservation)
	if !ok {
		return managed.ExternalDelete{}, errors.New(errNotReservation)
	}
	cr.SetConditions(xpv1.Deleting())
	// Observe reports an object not tagged for cr as gone once cr is
	// deleted, so this is only ever cr's own.
	if ref := meta.GetExternalName(cr); ref != "" {
		if err := e.client.Delete(ctx, ref); err != nil {
			return managed.ExternalDelete{}, fmt.Errorf("%s: %w", errDelete, err)
		}
	}
	return managed.ExternalDelete{}, nil
}

func (e *external) Disconnect(context.Context) error { return nil }

// setFailure publishes, in the fields compositions read, why the grid
// refused to reserve: no free address, or the address (or host name, or
// MAC) taken. Any other failure clears them: it is transient, or not about
// the addresses.
func setFailure(cr *v1alpha1.Reservation, err error) {
	cr.Status.AtProvider.Shortfall, cr.Status.AtProvider.Conflict = nil, nil
	switch reason := infoblox.ReasonOf(err); reason {
	case infoblox.ReasonExhausted:
		metrics.Refused("infoblox", string(reason))
		// One object holds one address; the grid found none free.
		cr.Status.AtProvider.Shortfall = &commonv1alpha1.Shortfall{Requested: 1, Free: 0}
	case infoblox.ReasonConflict:
		metrics.Refused("infoblox", string(reason))
		cr.Status.AtProvider.Conflict = &commonv1alpha1.Conflict{Address: cr.Spec.ForProvider.Address}
	}
}

// releasingFinalizer removes the managed finalizer like next, once the
// ledger has let go of what the Reservation holds. Observe lets go first
// when the grid object is to be deleted, but the managed reconciler removes
// the finalizer of a Reservation whose policies keep the object (orphan,
// observe-only) without observing it: the record of an address must not
// outlive its holder either way, and no machine may lose its address.
type releasingFinalizer struct {
	next   resource.Finalizer
	ledger *incluster.Ledger
}

func (f *releasingFinalizer) AddFinalizer(ctx context.Context, o resource.Object) error {
	return f.next.AddFinalizer(ctx, o)
}

func (f *releasingFinalizer) RemoveFinalizer(ctx context.Context, o resource.Object) error {
	cr, ok := o.(*v1alpha1.Reservation)
	if !ok {
		return errors.New(errNotReservation)
	}
	if err := f.ledger.ReleaseUnused(ctx, cr.GetUID(), recorded(cr)); err != nil {
		return fmt.Errorf("%s: %w", errLetGo, err)
	}
	return f.next.RemoveFinalizer(ctx, o)
}

// statusKeepingUpdater records critical annotations like next, but keeps
// the status this reconcile found: the API server answers an update with
// the status it stores, and the managed reconciler writes the object's
// status after this call, so a shortfall or conflict that Create met would
// otherwise be replaced by the stale copy.
type statusKeepingUpdater struct {
	next managed.CriticalAnnotationUpdater
}

func (u *statusKeepingUpdater) UpdateCriticalAnnotations(ctx context.Context, o client.Object) error {
	cr, ok := o.(*v1alpha1.Reservation)
	if !ok {
		return u.next.UpdateCriticalAnnotations(ctx, o)
	}
	status := *cr.Status.DeepCopy()
	err := u.next.UpdateCriticalAnnotations(ctx, o)
	cr.Status = status
	return err
}

// publish fills status.atProvider and returns the connection details:
// address, prefix (spec, else the network's) and gateway (spec, else the
// network's routers DHCP option).
func (e *external) publish(ctx context.Context, cr *v1alpha1.Reservation, obj *infoblox.Object) (managed.ConnectionDetails, error) {
	p := cr.Spec.ForProvider
	network := obj.Network
	if network == "" {
		network = p.Network
	}
	prefix := int(p.Prefix)
	if prefix == 0 && network != "" {
		if pfx, err := netip.ParsePrefix(network); err == nil {
			prefix = pfx.Bits()
		}
	}
	gateway := p.Gateway
	if gateway == "" && network != "" && !strings.Contains(network, ":") {
		gw, err := e.client.Gateway(ctx, network)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", errGateway, err)
		}
		gateway = gw
	}
	cr.Status.AtProvider = v1alpha1.ReservationObservation{
		Address: obj.Address, Ref: obj.Ref, Network: network,
		Prefix: int32(prefix), Gateway: gateway, //nolint:gosec // A prefix length fits.
		Owned: obj.UID() == string(cr.GetUID()),
	}
	metrics.SetReservation("infoblox", cr.GetNamespace(), cr.GetName(), 1)
	cd := managed.ConnectionDetails{ConnAddress: []byte(obj.Address)}
	if prefix > 0 {
		cd[ConnPrefix] = []byte(strconv.Itoa(prefix))
	}
	if gateway != "" {
		cd[ConnGateway] = []byte(gateway)
	}
	return cd, nil
}
