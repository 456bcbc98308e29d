package seriesapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/store/duckdb"
)

// serve runs the module's routes over a real DuckDB metric store.
func serve(t *testing.T) (*httptest.Server, metricstore.Store) {
	t.Helper()
	be, err := duckdb.OpenBackend(duckdb.Config{Path: filepath.Join(t.TempDir(), "flowlens.duckdb")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Flows.Close() })
	mux := http.NewServeMux()
	New(Dependencies{Metrics: be.Metrics}).Routes(mux, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, be.Metrics
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsAPI(t *testing.T) {
	srv, metrics := serve(t)
	now := time.Now().Truncate(time.Second)
	dims := map[string]string{"monitor": "web"}
	if err := metrics.Put(context.Background(), []metricstore.Point{
		{Namespace: "FlowLens/Monitors", Metric: "retransmissions", Dimensions: dims, Time: now.Add(-time.Minute), Period: 10 * time.Second, Value: 42, Count: 1, Sum: 42, Min: 42, Max: 42},
		{Namespace: "FlowLens/Logs", Metric: "ssh_rejects", Time: now.Add(-2 * time.Hour), Period: time.Minute, Value: 3},
	}); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, srv.URL+"/api/v1/metrics?namespace=FlowLens/Monitors")
	var list struct{ Metrics []metricstore.ID }
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Metrics) != 1 || list.Metrics[0].Dimensions["monitor"] != "web" {
		t.Fatalf("list: %d %s", code, body)
	}
	q := url.Values{"namespace": {"FlowLens/Monitors"}, "metric": {"retransmissions"}, "dimension": {"monitor=web"}, "since": {"15m"}}
	code, body = get(t, srv.URL+"/api/v1/metrics/points?"+q.Encode())
	var pts PointsResponse
	if code != 200 || json.Unmarshal([]byte(body), &pts) != nil || len(pts.Points) != 1 || pts.Points[0].Value != 42 || pts.Points[0].PeriodSeconds != 10 {
		t.Fatalf("points: %d %s", code, body)
	}
	for _, bad := range []string{"metric=x", "namespace=a&metric=b&dimension=nodim", "namespace=a&metric=b&since=yesterday"} {
		if code, body := get(t, srv.URL+"/api/v1/metrics/points?"+bad); code != 400 {
			t.Errorf("%s: %d %s, want 400", bad, code, body)
		}
	}
}
