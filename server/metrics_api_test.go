package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/flowlens/flowlens/metricstore"
)

func TestMetricsAPI(t *testing.T) {
	s := startTestServer(t, Config{})
	now := time.Now().Truncate(time.Second)
	dims := map[string]string{"monitor": "web"}
	if err := s.metrics.Put(context.Background(), []metricstore.Point{
		{Namespace: "FlowLens/Monitors", Metric: "retransmissions", Dimensions: dims, Time: now.Add(-time.Minute), Period: 10 * time.Second, Value: 42, Count: 1, Sum: 42, Min: 42, Max: 42},
		{Namespace: "FlowLens/Logs", Metric: "ssh_rejects", Time: now.Add(-2 * time.Hour), Period: time.Minute, Value: 3},
	}); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, http.DefaultClient, s.URL()+"/api/v1/metrics?namespace=FlowLens/Monitors", s.Token())
	var list struct{ Metrics []metricstore.ID }
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Metrics) != 1 || list.Metrics[0].Dimensions["monitor"] != "web" {
		t.Fatalf("list: %d %s", code, body)
	}
	q := url.Values{"namespace": {"FlowLens/Monitors"}, "metric": {"retransmissions"}, "dimension": {"monitor=web"}, "since": {"15m"}}
	code, body = get(t, http.DefaultClient, s.URL()+"/api/v1/metrics/points?"+q.Encode(), s.Token())
	var pts metricPointsResponse
	if code != 200 || json.Unmarshal([]byte(body), &pts) != nil || len(pts.Points) != 1 || pts.Points[0].Value != 42 || pts.Points[0].PeriodSeconds != 10 {
		t.Fatalf("points: %d %s", code, body)
	}
	for _, bad := range []string{"metric=x", "namespace=a&metric=b&dimension=nodim", "namespace=a&metric=b&since=yesterday"} {
		if code, body := get(t, http.DefaultClient, s.URL()+"/api/v1/metrics/points?"+bad, s.Token()); code != 400 {
			t.Errorf("%s: %d %s, want 400", bad, code, body)
		}
	}
}
