package bench

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricFamilies parses a Prometheus text exposition, with the parser the
// servers' own libraries pair with, not by splitting lines: label values
// may hold commas, quotes and escapes.
func metricFamilies(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// scrapeFamilies reads the metrics a loopback server serves at url.
func scrapeFamilies(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url) //nolint:noctx // Loopback, bounded by the benchmark.
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	return metricFamilies(resp.Body)
}

// label is the value of a metric's label, "" if it has none of that name.
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// value is a counter's, gauge's or untyped metric's value.
func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	default:
		return m.GetUntyped().GetValue()
	}
}

// requestsByResource sums apiserver_request_total by verb and resource
// (with subresource). Long running requests (WATCH) are left out: they are
// not work per claim.
func requestsByResource(mf map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mf["apiserver_request_total"].GetMetric() {
		if label(m, "verb") == "WATCH" {
			continue
		}
		key := label(m, "verb") + " " + label(m, "resource")
		if s := label(m, "subresource"); s != "" {
			key += "/" + s
		}
		out[key] += value(m)
	}
	return out
}

// clientCounts sums client-go's rest_client_requests_total: every request,
// the writes, and the conflicts.
func clientCounts(mf map[string]*dto.MetricFamily) counts {
	var c counts
	for _, m := range mf["rest_client_requests_total"].GetMetric() {
		v := int64(value(m))
		c.all += v
		if label(m, "code") == "409" {
			c.conflicts += v
		}
		if slices.Contains([]string{"POST", "PUT", "PATCH", "DELETE"}, label(m, "method")) {
			c.writes += v
		}
	}
	return c
}

func TestMetricParsing(t *testing.T) {
	const exposition = `# HELP apiserver_request_total Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="GET",version="v1"} 12
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="GET",version="v1",extra="a,b=\"c\""} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="k0rdent.mirantis.com",resource="clusteripams",scope="resource",subresource="status",verb="APPLY",version="v1beta1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="secrets",scope="namespace",subresource="",verb="WATCH",version="v1"} 99
# HELP rest_client_requests_total Number of HTTP requests.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="GET"} 40
rest_client_requests_total{code="201",host="127.0.0.1:6443",method="POST"} 5
rest_client_requests_total{code="409",host="127.0.0.1:6443",method="PUT"} 2
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="PATCH"} 1
# HELP etcd_mvcc_db_total_size_in_bytes Total size of the underlying database physically allocated in bytes.
# TYPE etcd_mvcc_db_total_size_in_bytes gauge
etcd_mvcc_db_total_size_in_bytes 2.5e+06
`
	mf, err := metricFamilies(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]float64{"GET secrets": 15, "APPLY clusteripams/status": 7}, requestsByResource(mf)); diff != "" {
		t.Errorf("requests by resource (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(counts{all: 48, writes: 8, conflicts: 2}, clientCounts(mf), cmp.AllowUnexported(counts{})); diff != "" {
		t.Errorf("client counts (-want +got):\n%s", diff)
	}
	if got := value(mf["etcd_mvcc_db_total_size_in_bytes"].GetMetric()[0]); got != 2.5e6 {
		t.Errorf("etcd size %v, want 2.5e6", got)
	}
}
