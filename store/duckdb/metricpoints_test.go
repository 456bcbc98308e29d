package duckdb_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/storetest"
)

// TestMetricPointsConformance runs the metric-points suite every
// metricstore.Store passes.
func TestMetricPointsConformance(t *testing.T) {
	storetest.MetricPoints(t, func(t *testing.T) metricstore.Store {
		db, err := duckdb.Open(duckdb.Config{Path: filepath.Join(t.TempDir(), "m.duckdb")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := duckdb.OpenMetricPoints(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestPutQueryList(t *testing.T) {
	ctx := context.Background()
	db, err := duckdb.Open(duckdb.Config{Path: filepath.Join(t.TempDir(), "m.duckdb")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := duckdb.OpenMetricPoints(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	dims := map[string]string{"monitor": "web", "stat": "avg"}
	pts := []metricstore.Point{
		{Namespace: "FlowLens/Monitors", Metric: "round_trip_time", Dimensions: dims, Time: t0, Period: 10 * time.Second, Value: 5, Count: 2, Sum: 10, Min: 4, Max: 6},
		{Namespace: "FlowLens/Monitors", Metric: "round_trip_time", Dimensions: dims, Time: t0.Add(10 * time.Second), Period: 10 * time.Second, Value: 7},
		{Namespace: "FlowLens/Monitors", Metric: "round_trip_time", Dimensions: map[string]string{"monitor": "db", "stat": "avg"}, Time: t0, Value: 1},
		{Namespace: "FlowLens/Logs", Metric: "rejects", Time: t0, Value: 3},
	}
	if err := s.Put(ctx, pts); err != nil {
		t.Fatal(err)
	}
	got, err := s.Query(ctx, metricstore.Query{ID: metricstore.ID{Namespace: "FlowLens/Monitors", Metric: "round_trip_time",
		Dimensions: map[string]string{"stat": "avg", "monitor": "web"}}, Start: t0, End: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Value != 5 || got[0].Max != 6 || got[0].Period != 10*time.Second || got[1].Value != 7 {
		t.Fatalf("query: %+v", got)
	}
	ids, err := s.List(ctx, "")
	if err != nil || len(ids) != 3 || ids[0].Namespace != "FlowLens/Logs" || ids[0].Dimensions != nil {
		t.Fatalf("list: %+v %v", ids, err)
	}
	if err := s.Put(ctx, []metricstore.Point{{Metric: "x"}}); err == nil {
		t.Fatal("a point without namespace must be refused")
	}
	if err := s.DeleteBefore(ctx, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.List(ctx, "FlowLens/Monitors"); len(ids) != 1 {
		t.Fatalf("after retention: %+v", ids)
	}
}

func BenchmarkPut(b *testing.B) {
	ctx := context.Background()
	db, err := duckdb.Open(duckdb.Config{Path: filepath.Join(b.TempDir(), "m.duckdb")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := duckdb.OpenMetricPoints(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	pts := make([]metricstore.Point, 1000)
	for i := range pts {
		pts[i] = metricstore.Point{Namespace: "FlowLens/Logs", Metric: "m", Dimensions: map[string]string{"src": string(rune('a' + i%26))},
			Time: time.Unix(int64(i)*60, 0), Period: time.Minute, Value: float64(i), Count: 1}
	}
	b.ResetTimer()
	for range b.N {
		if err := s.Put(ctx, pts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(pts))/b.Elapsed().Seconds(), "points/s")
}
