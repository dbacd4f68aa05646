package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/feature"
	"github.com/crossplane/crossplane-runtime/v2/pkg/logging"
	"github.com/crossplane/crossplane-runtime/v2/pkg/ratelimiter"

	"github.com/provider-ipam/provider-ipam/internal/manager"
)

// SetupFunc adds controllers to a manager, as internal/controller.Setup does.
type SetupFunc func(ctx context.Context, mgr ctrl.Manager, o controller.Options) error

// StartManager runs the controllers setup adds as one provider replica
// would, until ctx ends; the channel receives the manager's result.
func (e *Env) StartManager(ctx context.Context, setup SetupFunc) (<-chan error, error) {
	mgr, err := ctrl.NewManager(e.Config, ctrl.Options{
		Scheme:                 e.Scheme,
		Client:                 manager.ClientOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller: config.Controller{
			// Several replicas run in one test process.
			SkipNameValidation: ptr.To(true),
			// controller-runtime v0.23.3's priority queue can hang on
			// shutdown (controller-runtime#3538), as in cmd/provider.
			UsePriorityQueue: ptr.To(false),
		},
	})
	if err != nil {
		return nil, err
	}
	log := logging.NewNopLogger()
	if os.Getenv("PROVIDER_IPAM_TEST_LOG") != "" {
		// For debugging a test: the controllers' logs on stderr.
		zl := zap.New(zap.UseDevMode(true))
		ctrl.SetLogger(zl)
		log = logging.NewLogrLogger(zl)
	}
	o := controller.Options{
		Logger:                  log,
		GlobalRateLimiter:       ratelimiter.NewGlobal(1000),
		PollInterval:            time.Minute,
		MaxConcurrentReconciles: 10,
		Features:                &feature.Flags{},
	}
	if err := setup(ctx, mgr, o); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return done, nil
}

// RunManager runs the controllers setup adds, as StartManager does, until
// the returned stop is called or the test ends, whichever is first; stop
// waits for the manager and fails the test if it ended with an error.
func (e *Env) RunManager(t testing.TB, setup SetupFunc) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done, err := e.StartManager(ctx, setup)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("provider stopped with error: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// Eventually polls cond every 100ms until it holds or timeout passes, and
// fails the test at once if cond returns an error.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
