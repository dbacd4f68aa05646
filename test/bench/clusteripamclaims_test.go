package bench

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
	"github.com/provider-ipam/provider-ipam/internal/localplane"
	"github.com/provider-ipam/provider-ipam/internal/testenv"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

// claimsAtOnce is how many ClusterIPAMClaims BenchmarkClusterIPAMClaims
// applies at once, per backend: 500, or BENCH_CLAIMS for a quicker look at
// where the requests go.
func claimsAtOnce() (int, error) {
	v := os.Getenv("BENCH_CLAIMS")
	if v == "" {
		return 500, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("BENCH_CLAIMS=%q: want a positive number of claims", v)
	}
	return n, nil
}

// BenchmarkClusterIPAMClaims applies 500 ClusterIPAMClaims at once through
// Crossplane (the configuration's compositions and the function) and
// reports the time from the apply until each is bound: its status.bound
// set, and the ClusterIPAM it names Bound. Each claim is a /29 of its own
// (five node addresses besides the gateway), in-cluster, then Infoblox on
// the WAPI emulator. It runs on a plane of its own, with Crossplane, after
// the other benchmarks have stopped theirs.
func BenchmarkClusterIPAMClaims(b *testing.B) {
	if shared != nil {
		shared.plane.Stop()
		shared, errSet = nil, fmt.Errorf("stopped for BenchmarkClusterIPAMClaims")
	}
	ctx := context.Background()
	n, err := claimsAtOnce()
	if err != nil {
		b.Fatal(err)
	}
	// The composed IPPools are served only with the CAPI IPAM kinds.
	capi, err := testenv.CAPICRDDir()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(capi) }()
	// The provider polls at its default, not at the local plane's 30 s
	// (made for quick tests): over a run of minutes every Reservation and
	// pool would be re-read, and its status written, a dozen times.
	plane, err := localplane.Start(ctx, localplane.Options{Name: "bench-crossplane", ExtraCRDDirs: []string{capi}, Crossplane: true, Provider: true,
		ProviderArgs: []string{"--poll=10m"}})
	if err != nil {
		b.Fatal(err)
	}
	defer plane.Stop()
	if err := plane.UseEmulatorAsDefaultInfoblox(ctx); err != nil {
		b.Fatal(err)
	}
	wc, err := client.NewWithWatch(plane.Env.Config, client.Options{Scheme: plane.Env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	backends := []struct {
		provider string
		first    netip.Prefix // the claims' /29s follow one another from here
	}{
		{"in-cluster", netip.MustParsePrefix("10.100.0.0/29")},
		{"ipam-infoblox", netip.MustParsePrefix("10.110.0.0/29")},
	}
	for _, be := range backends {
		b.Run(be.provider, func(b *testing.B) {
			for i := range b.N {
				ns := fmt.Sprintf("bench-%s-%d", be.provider, i)
				if err := plane.Kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
					b.Fatal(err)
				}
				claims := make([]*unstructured.Unstructured, n)
				cidr := be.first
				for j := range claims {
					if be.provider == "ipam-infoblox" {
						if _, err := plane.WAPI.AddNetwork("default", cidr.String(), wapisim.NetworkOptions{Gateway: cidr.Addr().Next().String()}); err != nil {
							b.Fatal(err)
						}
					}
					claims[j] = clusterIPAMClaim(ns, fmt.Sprintf("c%d", j), be.provider, cidr)
					cidr = netip.PrefixFrom(nextPrefixAddr(cidr), cidr.Bits())
				}
				before, err := apiserverRequests(ctx, plane.Env.Config)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				times, err := applyAndTime(ctx, plane.Kube, wc, ns, claims)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				after, err := apiserverRequests(ctx, plane.Env.Config)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(reportRequests(b, before, after, len(claims)), "requests/claim")
				slices.Sort(times)
				b.ReportMetric(percentile(times, 50).Seconds(), "p50-s")
				b.ReportMetric(percentile(times, 99).Seconds(), "p99-s")
				b.ReportMetric(times[len(times)-1].Seconds(), "max-s")
			}
		})
	}
}

// nextPrefixAddr is the first address after p.
func nextPrefixAddr(p netip.Prefix) netip.Addr {
	a := p.Addr()
	for range 1 << (a.BitLen() - p.Bits()) {
		a = a.Next()
	}
	return a
}

// clusterIPAMClaim is a k0rdent ClusterIPAMClaim for a cluster that does
// not exist (yet): it holds its whole CIDR but the gateway.
func clusterIPAMClaim(ns, name, provider string, cidr netip.Prefix) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(k0rdentv1beta1.ClusterIPAMClaimGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	u.Object["spec"] = map[string]any{
		"provider": provider,
		"cluster":  name + "-cluster",
		"nodeNetwork": map[string]any{
			"cidr":    cidr.String(),
			"gateway": cidr.Addr().Next().String(),
			"prefix":  int64(cidr.Bits()),
		},
	}
	return u
}

// applyAndTime creates the claims at once and returns, per claim, the time
// from the start until it was bound. Claims and ClusterIPAMs are followed
// through watches of the namespace: no polling LIST.
func applyAndTime(ctx context.Context, kube client.Client, wc client.WithWatch, ns string, claims []*unstructured.Unstructured) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cw, err := follow(ctx, wc, ns, k0rdentv1beta1.ClusterIPAMClaimGVK)
	if err != nil {
		return nil, err
	}
	defer cw.stop()
	iw, err := follow(ctx, wc, ns, k0rdentv1beta1.ClusterIPAMGVK)
	if err != nil {
		return nil, err
	}
	defer iw.stop()

	start := time.Now()
	if err := parallel(32, claims, func(c *unstructured.Unstructured) error { return kube.Create(ctx, c) }); err != nil {
		return nil, err
	}
	ref := map[string]string{}         // claim -> its ClusterIPAM, once bound
	ipamBound := map[string]bool{}     // ClusterIPAM -> phase Bound
	done := map[string]time.Duration{} // claim -> time to bound
	check := func(claim string) {
		if r, ok := ref[claim]; ok && ipamBound[r] {
			if _, seen := done[claim]; !seen {
				done[claim] = time.Since(start)
			}
		}
	}
	for len(done) < len(claims) {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d claims bound: %w", len(done), len(claims), ctx.Err())
		case ev, ok := <-cw.w.ResultChan():
			if !ok {
				if err := cw.reopen(); err != nil {
					return nil, fmt.Errorf("%d of %d claims bound: %w", len(done), len(claims), err)
				}
				continue
			}
			u, err := present(ev, "claims", len(done), len(claims))
			if err != nil {
				return nil, err
			}
			if u == nil {
				continue
			}
			bound, _, _ := unstructured.NestedBool(u.Object, "status", "bound")
			r, _, _ := unstructured.NestedString(u.Object, "spec", "clusterIPAMRef")
			if bound && r != "" {
				ref[u.GetName()] = r
				check(u.GetName())
			}
		case ev, ok := <-iw.w.ResultChan():
			if !ok {
				if err := iw.reopen(); err != nil {
					return nil, fmt.Errorf("%d of %d claims bound: %w", len(done), len(claims), err)
				}
				continue
			}
			u, err := present(ev, "ClusterIPAMs", len(done), len(claims))
			if err != nil {
				return nil, err
			}
			if u == nil {
				continue
			}
			if phase, _, _ := unstructured.NestedString(u.Object, "status", "phase"); phase == "Bound" {
				ipamBound[u.GetName()] = true
				for c, r := range ref {
					if r == u.GetName() {
						check(c)
					}
				}
			}
		}
	}
	out := make([]time.Duration, 0, len(done))
	for _, d := range done {
		out = append(out, d)
	}
	return out, nil
}

// A watched kind in one namespace, watched again when the API server
// closes the watch: it does so whenever Crossplane updates the kind's CRD,
// which it does while the bench runs.
type watched struct {
	ctx     context.Context
	wc      client.WithWatch
	ns      string
	gvk     schema.GroupVersionKind
	w       watch.Interface
	reopens int
}

// maxReopens bounds how often a closed watch is opened again.
const maxReopens = 50

func follow(ctx context.Context, wc client.WithWatch, ns string, gvk schema.GroupVersionKind) (*watched, error) {
	w := &watched{ctx: ctx, wc: wc, ns: ns, gvk: gvk}
	return w, w.open()
}

// open watches from resource version 0, the API server's cache as it
// stands: every object present arrives first as an event, so nothing is
// missed across a reopen (a state seen late only delays its time), and a
// watch of "now" would time out while the cache of a kind just served
// catches up with etcd ("Too large resource version").
func (w *watched) open() error {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(w.gvk.GroupVersion().WithKind(w.gvk.Kind + "List"))
	var err error
	w.w, err = w.wc.Watch(w.ctx, l, client.InNamespace(w.ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: "0"}})
	return err
}

func (w *watched) reopen() error {
	if w.reopens++; w.reopens > maxReopens {
		return fmt.Errorf("the %s watch closed %d times", w.gvk.Kind, maxReopens)
	}
	return w.open()
}

func (w *watched) stop() { w.w.Stop() }

// present is the object a watch event of what carries, nil for a deletion
// or anything else; an error if the watch failed.
func present(ev watch.Event, what string, bound, all int) (*unstructured.Unstructured, error) {
	if ev.Type == watch.Error {
		return nil, fmt.Errorf("the %s' watch failed with %d of %d claims bound: %v", what, bound, all, apierrors.FromObject(ev.Object))
	}
	u, isU := ev.Object.(*unstructured.Unstructured)
	if !isU || ev.Type == watch.Deleted {
		return nil, nil
	}
	return u, nil
}

// apiserverRequests are the requests the API server has served so far, by
// verb and resource (with subresource), from apiserver_request_total.
func apiserverRequests(ctx context.Context, cfg *rest.Config) (map[string]float64, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot read the API server's metrics: %w", err)
	}
	mf, err := metricFamilies(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("cannot parse the API server's metrics: %w", err)
	}
	return requestsByResource(mf), nil
}

// reportRequests logs the requests served between before and after per
// claim, most first, and returns their total per claim.
func reportRequests(b *testing.B, before, after map[string]float64, claims int) float64 {
	type row struct {
		key string
		n   float64
	}
	var rows []row
	total := 0.0
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			rows = append(rows, row{k, d})
			total += d
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(b.n, a.n) })
	var sb strings.Builder
	fmt.Fprintf(&sb, "API server requests per claim: %.1f\n", total/float64(claims))
	for _, r := range rows[:min(len(rows), 20)] {
		fmt.Fprintf(&sb, "%8.2f  %s\n", r.n/float64(claims), r.key)
	}
	b.Log(sb.String())
	return total / float64(claims)
}

// percentile is the p-th percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (p*len(sorted) + 99) / 100
	return sorted[max(i-1, 0)]
}
