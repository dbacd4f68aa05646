package incluster_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/addressing"
	"github.com/provider-ipam/provider-ipam/internal/clients/incluster"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// countingTransport counts the requests sent to the API server.
type countingTransport struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// BenchmarkReserve reserves and releases one address at a time from spaces
// of 256, 4,096 and 65,536 addresses that are 0%, 50% and 95% held (held
// addresses scattered at random, the worst case for the index), on a real
// kube-apiserver and etcd. Each iteration reserves one address for a new
// holder and releases it, so the fill level stays put.
func BenchmarkReserve(b *testing.B) {
	env, err := testenv.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = env.Stop() }()

	var requests atomic.Int64
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt: rt, n: &requests} }
	kube, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	ca, err := cache.New(cfg, cache.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := incluster.New(ctx, kube, kube, ca)
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = ca.Start(ctx) }()
	if err := testenv.AllowTestAddressSpaces(ctx, kube); err != nil {
		b.Fatal(err)
	}
	testenv.Eventually(b, 30*time.Second, "the address-space policy in the ledger's cache", func(ctx context.Context) (bool, error) {
		err := ca.Get(ctx, client.ObjectKey{Name: v1alpha1.DefaultProviderConfig}, &v1alpha1.ClusterProviderConfig{})
		return err == nil, client.IgnoreNotFound(err)
	})

	for _, bits := range []int{24, 20, 16} {
		for _, fill := range []int{0, 50, 95} {
			space, err := addressing.ParseSpace(addressing.SpaceSpec{CIDR: fmt.Sprintf("10.%d.0.0/%d", 100+bits, bits)})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("size=%d/held=%d%%", 1<<(32-bits), fill), func(b *testing.B) {
				prefill(ctx, b, kube, space, fill)
				waitHeld(ctx, b, l, space, uint64(fill)*space.Size()/100)
				requests.Store(0)
				b.ResetTimer()
				start := time.Now()
				var reserveRequests int64
				for i := range b.N {
					owner := v1alpha1.AllocationOwner{APIVersion: "v1", Kind: "ConfigMap", Namespace: "bench", Name: fmt.Sprint(i), UID: fmt.Sprintf("bench-%d-%d", bits, i)}
					before := requests.Load()
					got, err := l.Reserve(ctx, owner, space, 1, nil)
					if err != nil {
						b.Fatal(err)
					}
					reserveRequests += requests.Load() - before
					if err := l.Release(ctx, types.UID(owner.UID), got); err != nil {
						b.Fatal(err)
					}
				}
				elapsed := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "reserve+release/s")
				b.ReportMetric(float64(reserveRequests)/float64(b.N), "requests/reserve")
				b.ReportMetric(float64(requests.Load()-reserveRequests)/float64(b.N), "requests/release")
				clear(ctx, b, kube)
				waitHeld(ctx, b, l, space, 0)
			})
		}
	}
}

// prefill holds fill% of space's addresses, chosen at random, as Allocations
// of a holder that does not exist.
func prefill(ctx context.Context, b *testing.B, kube client.Client, space addressing.Space, fill int) {
	b.Helper()
	all, err := space.Addrs(1 << 17)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, uint64(fill)))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	held := all[:len(all)*fill/100]
	work := make(chan netip.Addr)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				al := &v1alpha1.Allocation{
					ObjectMeta: metav1.ObjectMeta{Name: incluster.NameFor(a)},
					Spec: v1alpha1.AllocationSpec{Address: a.String(), Owner: v1alpha1.AllocationOwner{
						APIVersion: "v1", Kind: "ConfigMap", Namespace: "bench", Name: "prefill", UID: "prefill",
					}},
				}
				if err := kube.Create(ctx, al); err != nil {
					failed.Store(err)
				}
			}
		}()
	}
	for _, a := range held {
		work <- a
	}
	close(work)
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
}

// clear deletes every Allocation. Deleting tens of thousands outlasts one
// request's time limit (the server gives up on the response, or resets the
// stream, and goes on deleting), so ask again until none is left.
func clear(ctx context.Context, b *testing.B, kube client.Client) {
	b.Helper()
	var err error
	for range 20 {
		err = kube.DeleteAllOf(ctx, &v1alpha1.Allocation{})
		left := &v1alpha1.AllocationList{}
		if lerr := kube.List(ctx, left, client.Limit(1)); lerr == nil && len(left.Items) == 0 {
			return
		}
	}
	b.Fatalf("Allocations left after 20 deletecollection calls: %v", err)
}

// waitHeld waits until the ledger's index has seen n held addresses in space.
func waitHeld(ctx context.Context, b *testing.B, l *incluster.Ledger, space addressing.Space, n uint64) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for l.HeldIn(space) != n {
		if time.Now().After(deadline) || ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "index holds %d of %d\n", l.HeldIn(space), n)
			b.Fatal("the ledger's index did not catch up")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
