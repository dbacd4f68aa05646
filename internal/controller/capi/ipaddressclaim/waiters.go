package ipaddressclaim

import (
	"net/netip"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/provider-ipam/provider-ipam/internal/addressing"
)

type workqueueAdder = workqueue.TypedRateLimitingInterface[reconcile.Request]

// waiters remember, per pool, the claims that got no address, so that an
// address freed wakes only the claims of pools it could serve, without
// listing any pool's claims. A claim forgotten (a restart) is woken by its
// periodic recheck.
type waiters struct {
	mu     sync.Mutex
	pools  map[types.NamespacedName]*waiting
	events chan event.GenericEvent
}

type waiting struct {
	space  addressing.Space // empty: woken by a change of the pool only
	claims map[types.NamespacedName]struct{}
}

func newWaiters() *waiters {
	return &waiters{pools: map[types.NamespacedName]*waiting{}, events: make(chan event.GenericEvent, 1024)}
}

// add records that claim waits on pool, whose space an address freed must
// fall in to help (an invalid space: only a change of the pool helps).
func (w *waiters) add(pool, claim types.NamespacedName, space addressing.Space) {
	w.mu.Lock()
	defer w.mu.Unlock()
	x, ok := w.pools[pool]
	if !ok {
		x = &waiting{claims: map[types.NamespacedName]struct{}{}}
		w.pools[pool] = x
	}
	x.space = space
	x.claims[claim] = struct{}{}
}

// drop forgets claim, served or gone.
func (w *waiters) drop(claim types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, x := range w.pools {
		if _, ok := x.claims[claim]; ok {
			delete(x.claims, claim)
			if len(x.claims) == 0 {
				delete(w.pools, k)
			}
		}
	}
}

// wake requeues the claims waiting on pool.
func (w *waiters) wake(pool types.NamespacedName) {
	w.mu.Lock()
	x, ok := w.pools[pool]
	delete(w.pools, pool)
	w.mu.Unlock()
	if ok {
		w.send(x.claims)
	}
}

// wakeFor requeues the claims of the pools whose space holds a, which the
// ledger just freed.
func (w *waiters) wakeFor(a netip.Addr) {
	w.mu.Lock()
	woken := map[types.NamespacedName]struct{}{}
	for k, x := range w.pools {
		if x.space.Contains(a) {
			for c := range x.claims {
				woken[c] = struct{}{}
			}
			delete(w.pools, k)
		}
	}
	w.mu.Unlock()
	w.send(woken)
}

// send enqueues claims without blocking the caller (a watch handler).
func (w *waiters) send(claims map[types.NamespacedName]struct{}) {
	if len(claims) == 0 {
		return
	}
	go func() {
		for c := range claims {
			o := &metav1.PartialObjectMetadata{}
			o.SetNamespace(c.Namespace)
			o.SetName(c.Name)
			w.events <- event.GenericEvent{Object: o}
		}
	}()
}
