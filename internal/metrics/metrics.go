// Package metrics is provider-ipam's own Prometheus metrics. They are
// registered in controller-runtime's registry, so the manager serves them
// on /metrics beside controller-runtime's and crossplane-runtime's
// managed-resource metrics. Series of a pool or a Reservation are removed
// when it goes, so the registry stays as large as what exists.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

const namespace = "provider_ipam"

// States of a pool's addresses, the state label of PoolAddresses.
const (
	StateTotal = "total"
	StateUsed  = "used"
	StateFree  = "free"
)

var (
	// poolAddresses is what `kubectl get ippools` shows, per pool.
	poolAddresses = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "pool_addresses",
		Help: "Addresses of an IPPool by state: total (usable by machines), used (handed out as IPAddresses), free.",
	}, []string{"namespace", "pool", "state"})

	// reservationAddresses is what each Reservation holds.
	reservationAddresses = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "reservation_held_addresses",
		Help: "Addresses a Reservation holds, by backend (in-cluster or infoblox).",
	}, []string{"backend", "namespace", "name"})

	// allocationSeconds is how long a machine waits for its address.
	allocationSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "allocation_seconds",
		Help:    "Time from an IPAddressClaim's creation until its IPAddress exists, by the pool's backing (ledger or reservations).",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
	}, []string{"backing"})

	// refusals counts requests for addresses that were refused, by why.
	refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "refusals_total",
		Help: "Requests for addresses refused, by backend and reason (e.g. PoolExhausted, AddressesExhausted, AddressConflict, AddressSpaceNotAllowed, QuotaExceeded).",
	}, []string{"backend", "reason"})

	// wapiRequests and wapiSeconds are the Infoblox WAPI traffic; code is
	// the HTTP status, or "error" when no answer came.
	wapiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "wapi_requests_total",
		Help: "Infoblox WAPI requests by HTTP method and status code (\"error\": no answer).",
	}, []string{"method", "code"})
	wapiErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "wapi_errors_total",
		Help: "Failed Infoblox WAPI requests by error class (Unavailable, AuthenticationFailed, NoFreeAddress, Conflict, ...).",
	}, []string{"class"})
	wapiSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "wapi_request_seconds",
		Help:    "Latency of Infoblox WAPI requests by HTTP method.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	}, []string{"method"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(poolAddresses, reservationAddresses, allocationSeconds, refusals, wapiRequests, wapiErrors, wapiSeconds)
}

// SetPool records a pool's address counts.
func SetPool(ns, pool string, total, used, free int64) {
	poolAddresses.WithLabelValues(ns, pool, StateTotal).Set(float64(total))
	poolAddresses.WithLabelValues(ns, pool, StateUsed).Set(float64(used))
	poolAddresses.WithLabelValues(ns, pool, StateFree).Set(float64(free))
}

// ForgetPool removes the series of a pool that is gone.
func ForgetPool(ns, pool string) {
	poolAddresses.DeletePartialMatch(prometheus.Labels{"namespace": ns, "pool": pool})
}

// SetReservation records how many addresses a Reservation holds.
func SetReservation(backend, ns, name string, held int) {
	reservationAddresses.WithLabelValues(backend, ns, name).Set(float64(held))
}

// ForgetReservation removes the series of a Reservation that is gone.
func ForgetReservation(backend, ns, name string) {
	reservationAddresses.DeleteLabelValues(backend, ns, name)
}

// Allocated records how long a claim waited for its address.
func Allocated(backing string, waited time.Duration) {
	allocationSeconds.WithLabelValues(backing).Observe(waited.Seconds())
}

// Refused counts a refused request for addresses.
func Refused(backend, reason string) {
	refusals.WithLabelValues(backend, reason).Inc()
}

// WAPIRequest records one WAPI request: its status code (0 when no answer
// came), its error class when it failed ("" otherwise) and its latency.
func WAPIRequest(method string, code int, class string, took time.Duration) {
	c := "error"
	if code > 0 {
		c = strconv.Itoa(code)
	}
	wapiRequests.WithLabelValues(method, c).Inc()
	if class != "" {
		wapiErrors.WithLabelValues(class).Inc()
	}
	wapiSeconds.WithLabelValues(method).Observe(took.Seconds())
}
