// Package bench measures the CAPI IPAM contract end to end on the local
// control plane: IPAddressClaims answered with IPAddresses, by provider-ipam
// (a pool that draws from the ledger, and a pool over in-cluster
// Reservations) and, on the same API server in the same run, by Cluster
// API's in-cluster IPAM provider. Run it with `make bench-e2e`.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	capiipamv1beta2 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "github.com/provider-ipam/provider-ipam/apis/common/v1alpha1"
	inclusterv1alpha1 "github.com/provider-ipam/provider-ipam/apis/incluster/v1alpha1"
	"github.com/provider-ipam/provider-ipam/apis/ipam/v1alpha1"
	"github.com/provider-ipam/provider-ipam/internal/localplane"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
)

// batch is how many claims one measured step creates at once.
const batch = 200

// fill is how many addresses are used before the second measured step.
const fill = 4000

// settle is how long a step waits after filling a pool.
const settle = 15 * time.Second

// peerModule is Cluster API's in-cluster IPAM provider, built by
// cluster/local/tool.sh capi-ipam-in-cluster from its own tools module.
const peerModule = "sigs.k8s.io/cluster-api-ipam-provider-in-cluster"

// A target is one provider's pool that claims are measured against.
type target struct {
	name    string // how the results call it
	ns      string
	poolRef capiipamv1beta2.IPPoolReference
	metrics string // the provider's /metrics URL
	// fillTo brings the pool to n used addresses, not measured.
	fillTo func(ctx context.Context, n int) error
	used   int
}

type stack struct {
	plane   *localplane.Plane
	pprof   string // host:port of the provider's pprof endpoints
	wc      client.WithWatch
	targets []*target
}

var (
	once   sync.Once
	shared *stack
	errSet error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.plane.Stop()
	}
	os.Exit(code)
}

// BenchmarkClaims creates batches of claims at once and measures claims per
// second until every claim of the batch has status.addressRef, at 0 and at
// 4,000 addresses used, for each target, with the API requests each
// provider sent per claim (from its own client metrics).
func BenchmarkClaims(b *testing.B) {
	once.Do(func() { shared, errSet = setUp(context.Background()) })
	if errSet != nil {
		b.Fatal(errSet)
	}
	s := shared
	rates := map[string]float64{}
	for _, level := range []int{0, fill} {
		for _, tg := range s.targets {
			b.Run(fmt.Sprintf("used=%d/%s", level, tg.name), func(b *testing.B) {
				ctx := context.Background()
				if tg.used < level {
					if err := tg.fillTo(ctx, level); err != nil {
						b.Fatal(err)
					}
					tg.used = level
					// What the fill set off (pool recounts, the garbage
					// collector's graph) settles before the clock starts.
					time.Sleep(settle)
				}
				var elapsed time.Duration
				before, err := scrape(tg.metrics)
				if err != nil {
					b.Fatal(err)
				}
				cpuBefore := s.cpu(tg)
				b.ResetTimer()
				for i := range b.N {
					d, err := s.measure(ctx, tg, fmt.Sprintf("%s-%d-%d", tg.name, level, i), batch)
					if err != nil {
						b.Fatal(err)
					}
					elapsed += d
					tg.used += batch
				}
				b.StopTimer()
				after, err := scrape(tg.metrics)
				if err != nil {
					b.Fatal(err)
				}
				n := float64(b.N * batch)
				rate := n / elapsed.Seconds()
				rates[fmt.Sprint(level, tg.name)] = rate
				b.ReportMetric(rate, "claims/s")
				b.ReportMetric(float64(after.all-before.all)/n, "requests/claim")
				b.ReportMetric(float64(after.writes-before.writes)/n, "writes/claim")
				b.ReportMetric(float64(after.conflicts-before.conflicts)/n, "conflicts/claim")
				if cpuAfter := s.cpu(tg); cpuAfter.ok && cpuBefore.ok {
					b.ReportMetric(1000*(cpuAfter.provider-cpuBefore.provider)/n, "provider-cpu-ms/claim")
					b.ReportMetric(1000*(cpuAfter.machine-cpuBefore.machine)/n, "machine-cpu-ms/claim")
				}
				if peer, ok := rates[fmt.Sprint(level, "capi-in-cluster")]; ok && tg.name != "capi-in-cluster" {
					b.ReportMetric(rate/peer, "x-peer")
				}
				if own, ok := rates[fmt.Sprint(0, tg.name)]; ok && level > 0 {
					b.ReportMetric(rate/own, "x-own-at-0")
				}
				if pid := s.plane.PID("provider"); pid > 0 && tg.name != "capi-in-cluster" {
					if rss, err := rssMiB(pid); err == nil {
						b.ReportMetric(rss, "provider-MiB")
					}
				}
			})
		}
	}
}

// measure creates n claims on tg's pool at once, labelled with step, and
// returns the time until all of them have an address. Claims are counted
// through a watch selected by that label, which costs the API server
// nothing per poll and sees no other claim; a watch the API server closes
// is taken up again after one list of the step's claims.
func (s *stack) measure(ctx context.Context, tg *target, step string, n int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	sel := client.MatchingLabels{"bench.provider-ipam.io/step": step}
	w, err := s.wc.Watch(ctx, &capiipamv1beta2.IPAddressClaimList{}, client.InNamespace(tg.ns), sel)
	if err != nil {
		return 0, err
	}
	defer func() { w.Stop() }()
	start := time.Now()
	if err := createClaims(ctx, s.plane.Kube, tg.ns, tg.poolRef, step, n); err != nil {
		return 0, err
	}
	bound := map[string]bool{}
	for len(bound) < n {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s: %d of %d claims bound: %w", step, len(bound), n, ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				l := &capiipamv1beta2.IPAddressClaimList{}
				if err := s.plane.Kube.List(ctx, l, client.InNamespace(tg.ns), sel); err != nil {
					return 0, err
				}
				for _, c := range l.Items {
					if c.Status.AddressRef.Name != "" {
						bound[c.Name] = true
					}
				}
				if w, err = s.wc.Watch(ctx, &capiipamv1beta2.IPAddressClaimList{}, client.InNamespace(tg.ns), sel,
					&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: l.ResourceVersion}}); err != nil {
					return 0, err
				}
				continue
			}
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			if c, ok := ev.Object.(*capiipamv1beta2.IPAddressClaim); ok && c.Status.AddressRef.Name != "" {
				bound[c.Name] = true
			}
		}
	}
	return time.Since(start), nil
}

// createClaims creates n claims of step on poolRef, 32 at a time.
func createClaims(ctx context.Context, kube client.Client, ns string, poolRef capiipamv1beta2.IPPoolReference, step string, n int) error {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return parallel(32, idx, func(i int) error {
		return kube.Create(ctx, &capiipamv1beta2.IPAddressClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", step, i), Labels: map[string]string{"bench.provider-ipam.io/step": step}},
			Spec:       capiipamv1beta2.IPAddressClaimSpec{PoolRef: poolRef},
		})
	})
}

// parallel calls fn on every item, workers at a time, and returns one of
// the errors, if any.
func parallel[T any](workers int, items []T, fn func(T) error) error {
	work := make(chan T)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for it := range work {
				if err := fn(it); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// fillWithClaims brings tg's pool to n used addresses with claims, as
// machines would.
func (s *stack) fillWithClaims(tg *target) func(ctx context.Context, n int) error {
	return func(ctx context.Context, n int) error {
		if n <= tg.used {
			return nil
		}
		if dir := os.Getenv("BENCH_PROFILE_DIR"); dir != "" {
			done := s.profile(filepath.Join(dir, tg.name+"-fill.pprof"))
			defer done()
		}
		_, err := s.measure(ctx, tg, fmt.Sprintf("%s-fill", tg.name), n-tg.used)
		return err
	}
}

// profileSeconds is how long a fill's CPU profile of the provider runs.
const profileSeconds = 30

// profile writes a CPU profile of the provider's next profileSeconds to
// file, in the background; the returned func waits for it.
func (s *stack) profile(file string) func() {
	var wg sync.WaitGroup
	wg.Go(func() {
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.pprof, profileSeconds)
		resp, err := http.Get(url) //nolint:noctx // Loopback, bounded by the seconds asked for.
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			return
		}
		defer func() { _ = resp.Body.Close() }()
		f, err := os.Create(file) //nolint:gosec // A path the person running the benchmark chose.
		if err == nil {
			_, err = io.Copy(f, resp.Body)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
		}
	})
	return wg.Wait
}

// fillPeer gives the peer's pool n-used more IPAddresses directly, at the
// lowest free addresses, as its own claims would have: it counts them like
// any other, without spending the minutes its one-claim-at-a-time
// reconciler would take to create 3,800.
func (s *stack) fillPeer(tg *target, pool string, first netip.Addr) func(ctx context.Context, n int) error {
	return func(ctx context.Context, n int) error {
		l := &capiipamv1beta2.IPAddressList{}
		if err := s.plane.Kube.List(ctx, l, client.InNamespace(tg.ns)); err != nil {
			return err
		}
		used := map[netip.Addr]bool{}
		for _, a := range l.Items {
			if ip, err := netip.ParseAddr(a.Spec.Address); err == nil {
				used[ip] = true
			}
		}
		var addrs []netip.Addr
		for a := first; len(addrs) < n-len(l.Items); a = a.Next() {
			if !used[a] {
				addrs = append(addrs, a)
			}
		}
		return parallel(16, addrs, func(a netip.Addr) error {
			name := "fill-" + strings.ReplaceAll(a.String(), ".", "-")
			return s.plane.Kube.Create(ctx, &capiipamv1beta2.IPAddress{
				ObjectMeta: metav1.ObjectMeta{Namespace: tg.ns, Name: name},
				Spec: capiipamv1beta2.IPAddressSpec{
					ClaimRef: capiipamv1beta2.IPAddressClaimReference{Name: name},
					PoolRef:  capiipamv1beta2.IPPoolReference{APIGroup: "ipam.cluster.x-k8s.io", Kind: "InClusterIPPool", Name: pool},
					Address:  a.String(), Prefix: ptr.To[int32](16), Gateway: "10.21.0.1",
				},
			})
		})
	}
}

// setUp starts the plane with provider-ipam and the peer, each with its
// metrics on loopback, and the three pools.
func setUp(ctx context.Context) (*stack, error) {
	root, err := testenv.Root()
	if err != nil {
		return nil, err
	}
	capi, err := testenv.CAPICRDDir()
	if err != nil {
		return nil, err
	}
	peerCRDs, err := peerCRDDir(root)
	if err != nil {
		return nil, err
	}
	ourPort, err := localplane.FreePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := localplane.FreePort()
	if err != nil {
		return nil, err
	}
	peerHealth, err := localplane.FreePort()
	if err != nil {
		return nil, err
	}
	pprofPort, err := localplane.FreePort()
	if err != nil {
		return nil, err
	}
	plane, err := localplane.Start(ctx, localplane.Options{
		Name: "bench", ExtraCRDDirs: []string{capi, peerCRDs}, Provider: true,
		ProviderArgs: []string{
			fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ourPort),
			fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", pprofPort),
		},
	})
	if err != nil {
		return nil, err
	}
	if err := plane.StartProcess("capi-ipam-in-cluster", "capi-ipam-in-cluster",
		"--webhook-port=0", "--insecure-diagnostics", fmt.Sprintf("--diagnostics-address=127.0.0.1:%d", peerPort),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", peerHealth)); err != nil {
		return nil, err
	}
	wc, err := client.NewWithWatch(plane.Env.Config, client.Options{Scheme: plane.Env.Scheme})
	if err != nil {
		return nil, err
	}
	s := &stack{plane: plane, wc: wc, pprof: fmt.Sprintf("127.0.0.1:%d", pprofPort)}
	for _, ns := range []string{"bench-peer", "bench-draw", "bench-reserved"} {
		if err := plane.Kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return nil, err
		}
	}

	// The peer: an InClusterIPPool over a /16.
	peerPool := &unstructured.Unstructured{}
	peerPool.SetGroupVersionKind(schema.GroupVersionKind{Group: "ipam.cluster.x-k8s.io", Version: "v1alpha2", Kind: "InClusterIPPool"})
	peerPool.SetNamespace("bench-peer")
	peerPool.SetName("nodes")
	peerPool.Object["spec"] = map[string]any{"addresses": []any{"10.21.0.0/16"}, "prefix": int64(16), "gateway": "10.21.0.1"}
	if err := plane.Kube.Create(ctx, peerPool); err != nil {
		return nil, err
	}
	peer := &target{
		name: "capi-in-cluster", ns: "bench-peer", metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", peerPort),
		poolRef: capiipamv1beta2.IPPoolReference{APIGroup: "ipam.cluster.x-k8s.io", Kind: "InClusterIPPool", Name: "nodes"},
	}
	peer.fillTo = s.fillPeer(peer, "nodes", netip.MustParseAddr("10.21.0.2"))

	// Ours, drawing from the ledger: an IPPool over a /16, no references.
	if err := plane.Kube.Create(ctx, &v1alpha1.IPPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench-draw", Name: "nodes"},
		Spec:       v1alpha1.IPPoolSpec{Addresses: []string{"10.20.0.0/16"}, Prefix: 16, Gateway: "10.20.0.1"},
	}); err != nil {
		return nil, err
	}
	draw := &target{
		name: "ipam-ledger", ns: "bench-draw", metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", ourPort),
		poolRef: capiipamv1beta2.IPPoolReference{APIGroup: v1alpha1.Group, Kind: v1alpha1.IPPoolKind, Name: "nodes"},
	}
	draw.fillTo = s.fillWithClaims(draw)

	// Ours, over two in-cluster Reservations of 4,096 addresses each, as a
	// ClusterIPAM composes it.
	reserved, err := s.reservedPool(ctx)
	if err != nil {
		return nil, err
	}
	reserved.metrics = draw.metrics
	reserved.fillTo = s.fillWithClaims(reserved)
	s.targets = []*target{peer, draw, reserved}
	return s, nil
}

// reservedPool creates two Reservations of 4,096 addresses and the pool
// over them once they hold their addresses.
func (s *stack) reservedPool(ctx context.Context) (*target, error) {
	var refs []v1alpha1.ReservationRef
	for _, name := range []string{"a", "b"} {
		r := &inclusterv1alpha1.Reservation{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bench-reserved", Name: name},
			Spec: inclusterv1alpha1.ReservationSpec{ForProvider: inclusterv1alpha1.ReservationParameters{
				Space: &commonv1alpha1.AddressSpace{CIDR: "10.22.0.0/16", Gateway: "10.22.0.1"},
				Count: ptr.To[int32](4096),
			}},
		}
		if err := s.plane.Kube.Create(ctx, r); err != nil {
			return nil, err
		}
		refs = append(refs, v1alpha1.ReservationRef{APIVersion: inclusterv1alpha1.SchemeGroupVersion.String(), Kind: inclusterv1alpha1.ReservationKind, Name: name})
	}
	var all []netip.Addr
	deadline := time.Now().Add(10 * time.Minute)
	for _, ref := range refs {
		for {
			r := &inclusterv1alpha1.Reservation{}
			if err := s.plane.Kube.Get(ctx, client.ObjectKey{Namespace: "bench-reserved", Name: ref.Name}, r); err != nil {
				return nil, err
			}
			if len(r.Status.AtProvider.Addresses) == 4096 {
				for _, a := range r.Status.AtProvider.Addresses {
					all = append(all, netip.MustParseAddr(a))
				}
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("reservation %s holds %d addresses, want 4096", ref.Name, len(r.Status.AtProvider.Addresses))
			}
			time.Sleep(time.Second)
		}
	}
	// As the ClusterIPAM composition writes it: the union of what the
	// Reservations hold, sorted, as ranges.
	slices.SortFunc(all, netip.Addr.Compare)
	ranges := compact(all)
	if err := s.plane.Kube.Create(ctx, &v1alpha1.IPPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench-reserved", Name: "nodes"},
		Spec:       v1alpha1.IPPoolSpec{Addresses: ranges, Prefix: 16, Gateway: "10.22.0.1", ReservationRefs: refs},
	}); err != nil {
		return nil, err
	}
	return &target{
		name: "ipam-reservations", ns: "bench-reserved",
		poolRef: capiipamv1beta2.IPPoolReference{APIGroup: v1alpha1.Group, Kind: v1alpha1.IPPoolKind, Name: "nodes"},
	}, nil
}

// compact writes sorted addresses as ranges "a-b".
func compact(addrs []netip.Addr) []string {
	var out []string
	var from, prev netip.Addr
	flush := func() {
		if !from.IsValid() {
			return
		}
		if from == prev {
			out = append(out, from.String())
		} else {
			out = append(out, from.String()+"-"+prev.String())
		}
	}
	for _, a := range addrs {
		if from.IsValid() && prev.Next() == a {
			prev = a
			continue
		}
		flush()
		from, prev = a, a
	}
	flush()
	return out
}

// peerCRDDir copies the peer's CRDs (v1alpha2 pools) into a temporary
// directory, from its module as its tools module pins it.
func peerCRDDir(root string) (string, error) {
	out, err := exec.Command("go", "-C", filepath.Join(root, "cluster", "local", "tools", "capi-ipam"), "list", "-m", "-f", "{{.Dir}}", peerModule).Output()
	if err != nil {
		return "", fmt.Errorf("cannot locate %s (go list -m in its tools module): %w", peerModule, err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "bases")
	dir, err := os.MkdirTemp("", "peer-crds-")
	if err != nil {
		return "", err
	}
	for _, f := range []string{"inclusterippools", "globalinclusterippools", "inclusterprefixpools", "globalinclusterprefixpools"} {
		b, err := os.ReadFile(filepath.Join(src, "ipam.cluster.x-k8s.io_"+f+".yaml"))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, f+".yaml"), b, 0o600)
		}
		if err != nil {
			return "", fmt.Errorf("cannot copy the peer's CRD %s: %w", f, err)
		}
	}
	return dir, nil
}

// counts are a provider's API requests so far, from client-go's
// rest_client_requests_total in its /metrics.
type counts struct{ all, writes, conflicts int64 }

func scrape(url string) (counts, error) {
	mf, err := scrapeFamilies(url)
	if err != nil {
		return counts{}, err
	}
	return clientCounts(mf), nil
}

// cpuTimes are CPU seconds spent so far by the provider that serves a
// target and by the whole machine (every process: the API server, etcd,
// the providers and this benchmark).
type cpuTimes struct {
	provider, machine float64
	ok                bool
}

// cpu reads the CPU seconds of the process serving tg and of the machine.
func (s *stack) cpu(tg *target) cpuTimes {
	proc := "provider"
	if tg.name == "capi-in-cluster" {
		proc = "capi-ipam-in-cluster"
	}
	p, err := processCPU(s.plane.PID(proc))
	if err != nil {
		return cpuTimes{}
	}
	m, err := machineCPU()
	if err != nil {
		return cpuTimes{}
	}
	return cpuTimes{provider: p, machine: m, ok: true}
}

// clockTicks is the unit of /proc's CPU times (USER_HZ), 100 on Linux.
const clockTicks = 100

// processCPU is the user and system CPU time of process pid, in seconds.
func processCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after it. utime and stime are fields 14 and 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	var sum float64
	for _, v := range f[11:13] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum / clockTicks, nil
}

// machineCPU is the CPU time all processes spent, in seconds: /proc/stat's
// user, nice, system, irq and softirq.
func machineCPU() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat: %q", line)
	}
	var sum float64
	for _, i := range []int{1, 2, 3, 6, 7} {
		n, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum / clockTicks, nil
}

// rssMiB is the resident memory of process pid.
func rssMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// BenchmarkHeld measures what holding many addresses costs: the ledger
// holds 10,000, then 100,000 addresses (Allocations of a Reservation that
// does not exist, created directly), and the benchmark reports the
// provider's resident memory, the API requests it sends while idle, and the
// size of etcd's database. Run after BenchmarkClaims, on the same plane.
func BenchmarkHeld(b *testing.B) {
	once.Do(func() { shared, errSet = setUp(context.Background()) })
	if errSet != nil {
		b.Fatal(errSet)
	}
	s := shared
	ctx := context.Background()
	next := netip.MustParseAddr("10.64.0.0")
	held := 0
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("held=%d", n), func(b *testing.B) {
			var addrs []netip.Addr
			for ; held+len(addrs) < n; next = next.Next() {
				addrs = append(addrs, next)
			}
			if err := s.holdAll(ctx, addrs); err != nil {
				b.Fatal(err)
			}
			held = n
			// The provider's watch takes them in; then it idles.
			time.Sleep(30 * time.Second)
			before, err := scrape(s.targets[1].metrics)
			if err != nil {
				b.Fatal(err)
			}
			const idle = 60 * time.Second
			time.Sleep(idle)
			after, err := scrape(s.targets[1].metrics)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(after.all-before.all)/idle.Minutes(), "idle-requests/min")
			if rss, err := rssMiB(s.plane.PID("provider")); err == nil {
				b.ReportMetric(rss, "provider-MiB")
			}
			if db, err := etcdDBSize(s.plane.Env.Environment.ControlPlane.Etcd.URL.String() + "/metrics"); err == nil {
				b.ReportMetric(db/(1<<20), "etcd-MiB")
			}
		})
	}
}

// holdAll creates an Allocation of each address, 64 at a time.
func (s *stack) holdAll(ctx context.Context, addrs []netip.Addr) error {
	return parallel(64, addrs, func(a netip.Addr) error {
		return s.plane.Kube.Create(ctx, &inclusterv1alpha1.Allocation{
			ObjectMeta: metav1.ObjectMeta{Name: a.String()},
			Spec: inclusterv1alpha1.AllocationSpec{Address: a.String(), Owner: inclusterv1alpha1.AllocationOwner{
				APIVersion: inclusterv1alpha1.SchemeGroupVersion.String(), Kind: inclusterv1alpha1.ReservationKind,
				Namespace: "bench-held", Name: "held", UID: "bench-held",
			}},
		})
	})
}

// etcdDBSize reads etcd's database size from its metrics.
func etcdDBSize(url string) (float64, error) {
	mf, err := scrapeFamilies(url)
	if err != nil {
		return 0, err
	}
	ms := mf["etcd_mvcc_db_total_size_in_bytes"].GetMetric()
	if len(ms) != 1 {
		return 0, fmt.Errorf("no etcd_mvcc_db_total_size_in_bytes at %s", url)
	}
	return value(ms[0]), nil
}
