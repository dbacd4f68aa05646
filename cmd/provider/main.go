// Command provider runs provider-ipam's controllers: in-cluster and Infoblox
// Reservations as Crossplane managed resources, the address-space policy's
// ledger, Cluster API's IPAM contract (IPPool, IPAddressClaim) and the
// k0rdent claim's clusterIPAMRef (package internal/controller).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/feature"
	"github.com/crossplane/crossplane-runtime/v2/pkg/logging"
	"github.com/crossplane/crossplane-runtime/v2/pkg/ratelimiter"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	"github.com/crossplane/crossplane-runtime/v2/pkg/statemetrics"

	"github.com/provider-ipam/provider-ipam/apis"
	"github.com/provider-ipam/provider-ipam/internal/clients/infoblox"
	ipamcontroller "github.com/provider-ipam/provider-ipam/internal/controller"
	"github.com/provider-ipam/provider-ipam/internal/manager"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "provider-ipam:", err)
		os.Exit(1)
	}
}

func run() error {
	ns := podNamespace(os.Getenv, os.ReadFile)
	electDefault, err := leaderElectionDefault(os.Getenv, ns)
	if err != nil {
		return err
	}
	var (
		debug               = flag.Bool("debug", false, "Log at debug level.")
		syncInterval        = flag.Duration("sync", time.Hour, "How often every resource is re-read from the API server.")
		pollInterval        = flag.Duration("poll", 10*time.Minute, "How often each managed resource is checked against its backend.")
		leaderElection      = flag.Bool("leader-election", electDefault, "Elect a leader among replicas, so that one reconciles. Default: LEADER_ELECTION if set, else on when running in a pod (POD_NAMESPACE or a service account namespace), off otherwise.")
		electionNS          = flag.String("leader-election-namespace", ns, "Namespace of the leader election Lease. Default: the pod's namespace.")
		maxReconcile        = flag.Int("max-reconcile-rate", 500, "Reconciles per second across all controllers, and concurrent reconciles per controller.")
		metricsAddr         = flag.String("metrics-bind-address", ":8080", "Where to serve Prometheus metrics (0 to disable).")
		probeAddr           = flag.String("health-probe-bind-address", ":8081", "Where to serve health probes (0 to disable).")
		pprofAddr           = flag.String("pprof-bind-address", "", "Where to serve Go's pprof profiles (empty to disable, the default).")
		stateMetricInterval = flag.Duration("poll-state-metric", 5*time.Second, "How often the managed-resource state metrics are recounted.")
	)
	flag.Parse()
	if err := checkFlags(*leaderElection, *electionNS, *maxReconcile); err != nil {
		return err
	}

	zl := zap.New(zap.UseDevMode(*debug), zap.Level(zapLevel(*debug)))
	ctrl.SetLogger(zl)
	log := logging.NewLogrLogger(zl.WithName("provider-ipam"))
	infoblox.RouteLibraryLogs(log)

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("cannot get API server config: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := apis.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                     scheme,
		Client:                     manager.ClientOptions(),
		LeaderElection:             *leaderElection,
		LeaderElectionID:           "crossplane-leader-election-provider-ipam",
		LeaderElectionNamespace:    *electionNS,
		LeaderElectionResourceLock: "leases",
		// run returns, and the process exits, as soon as the manager has
		// stopped: handing the Lease over at once is safe, and a rolling
		// update's new pod takes over without waiting for it to expire.
		LeaderElectionReleaseOnCancel: true,
		// Managed fields are a large part of the small objects the ledger
		// watches by the hundred thousand, and nothing reads them.
		Cache:                  cache.Options{SyncPeriod: syncInterval, DefaultTransform: cache.TransformStripManagedFields()},
		Metrics:                metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress: *probeAddr,
		PprofBindAddress:       *pprofAddr,
		// controller-runtime v0.23.3's priority queue can hang the manager's
		// shutdown past its grace period (kubernetes-sigs/controller-runtime#3538).
		Controller: config.Controller{UsePriorityQueue: ptr.To(false)},
	})
	if err != nil {
		return fmt.Errorf("cannot create controller manager: %w", err)
	}

	// The probes answer once the manager serves: Crossplane's Deployment
	// runtime, a DeploymentRuntimeConfig or the local harness can wait on
	// them.
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}

	ctx := ctrl.SetupSignalHandler()
	// crossplane-runtime's managed-resource metrics (time to first
	// observation, to ready, drift) and state metrics (how many exist,
	// are ready, are synced), served with ours on /metrics.
	mrMetrics, mrStateMetrics := managed.NewMRMetricRecorder(), statemetrics.NewMRStateMetrics()
	ctrlmetrics.Registry.MustRegister(mrMetrics, mrStateMetrics)
	o := controller.Options{
		Logger:                  log,
		GlobalRateLimiter:       ratelimiter.NewGlobal(*maxReconcile),
		PollInterval:            *pollInterval,
		MaxConcurrentReconciles: *maxReconcile,
		Features:                &feature.Flags{},
		MetricOptions: &controller.MetricOptions{
			PollStateMetricInterval: *stateMetricInterval,
			MRMetrics:               mrMetrics,
			MRStateMetrics:          mrStateMetrics,
		},
	}
	if err := ipamcontroller.Setup(ctx, mgr, o); err != nil {
		return fmt.Errorf("cannot set up controllers: %w", err)
	}
	log.Info("Starting", "sync-interval", syncInterval.String(), "poll-interval", pollInterval.String(), "max-reconcile-rate", *maxReconcile, "leader-election", *leaderElection)
	return mgr.Start(ctx)
}

func zapLevel(debug bool) zapcore.Level {
	if debug {
		return zapcore.DebugLevel
	}
	return zapcore.InfoLevel
}

// serviceAccountNamespace is where Kubernetes tells a pod its namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// podNamespace is the namespace of the pod the provider runs in, "" outside
// a pod. Crossplane's provider Deployments set POD_NAMESPACE.
func podNamespace(getenv func(string) string, readFile func(string) ([]byte, error)) string {
	if ns := getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	b, err := readFile(serviceAccountNamespace)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// leaderElectionDefault is --leader-election's default: LEADER_ELECTION if
// set, else on in a pod (namespace not empty). Crossplane tells a provider
// nothing of how many replicas its DeploymentRuntimeConfig asks for, so
// the provider cannot elect a leader only when there are several. With one
// replica, electing costs a Lease renewal every few seconds, and a
// replacement after a crash waits for the Lease to expire (15 seconds).
func leaderElectionDefault(getenv func(string) string, namespace string) (bool, error) {
	if v := getenv("LEADER_ELECTION"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("LEADER_ELECTION=%q is not true or false", v)
		}
		return b, nil
	}
	return namespace != "", nil
}

// checkFlags refuses flags the manager would take and then misbehave on: a
// Lease with no namespace, a rate that lets nothing through.
func checkFlags(leaderElection bool, namespace string, maxReconcileRate int) error {
	if leaderElection && namespace == "" {
		return errors.New("--leader-election needs --leader-election-namespace outside a pod")
	}
	if maxReconcileRate < 1 {
		return fmt.Errorf("--max-reconcile-rate must be at least 1, not %d", maxReconcileRate)
	}
	return nil
}
