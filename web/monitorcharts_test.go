package web

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/store/duckdb"
)

// openPoints opens a real metric store in a temporary DuckDB file.
func openPoints(t *testing.T) (*duckdb.Store, metricstore.Store) {
	t.Helper()
	db, err := duckdb.Open(duckdb.Config{Path: filepath.Join(t.TempDir(), "w.duckdb")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ms, err := duckdb.OpenMetricPoints(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return db, ms
}

func TestMonitorChartsAndHealthFromMetricPoints(t *testing.T) {
	_, ms := openPoints(t)
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	point := func(metric string, i int, v float64, dims map[string]string) metricstore.Point {
		return metricstore.Point{Namespace: "FlowLens/Monitors", Metric: metric, Dimensions: dims,
			Time: t0.Add(time.Duration(i) * 10 * time.Second), Period: 10 * time.Second, Value: v}
	}
	mon := map[string]string{"monitor": "web"}
	var pts []metricstore.Point
	// Windows 0-2 healthy, 3-4 degraded, 5 missing, 6 healthy.
	for i, h := range map[int]float64{0: 0, 1: 0, 2: 0, 3: 1, 4: 1, 6: 0} {
		pts = append(pts, point("health_indicator", i, h, mon), point("data_transferred", i, float64(1000*(i+1)), mon),
			point("round_trip_time", i, 1500, map[string]string{"monitor": "web", "stat": "p90"}))
	}
	pts = append(pts, point("health_indicator", 3, 0, map[string]string{"monitor": "other"}))
	if err := ms.Put(ctx, pts); err != nil {
		t.Fatal(err)
	}
	end := t0.Add(70 * time.Second)
	charts, err := monitorCharts(ctx, ms, "FlowLens/Monitors", "web", t0, end)
	if err != nil {
		t.Fatal(err)
	}
	if len(charts) != 2 || charts[0].Title != "Data transferred" || charts[1].Title != "Round-trip time" {
		t.Fatalf("charts %+v", charts)
	}
	if len(charts[0].X) != 6 || *charts[0].Series[0].Values[5] != 7000 {
		t.Fatalf("data transferred %+v", charts[0])
	}
	rtt := charts[1].Series
	if len(rtt) != 4 || rtt[2].Label != "p90" || rtt[0].Values[0] != nil || *rtt[2].Values[0] != 1500 {
		t.Fatalf("rtt series %+v", rtt)
	}

	slots, err := healthStates(ctx, ms, "FlowLens/Monitors", "web", t0, end)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		state      string
		start, end int
	}{{"HEALTHY", 0, 30}, {"DEGRADED", 30, 50}, {"UNKNOWN", 50, 60}, {"HEALTHY", 60, 70}}
	if len(slots) != len(want) {
		t.Fatalf("slots %+v", slots)
	}
	for i, w := range want {
		s := slots[i]
		if s.State != w.state || s.Start != t0.Add(time.Duration(w.start)*time.Second) || s.End != t0.Add(time.Duration(w.end)*time.Second) {
			t.Errorf("slot %d = %s %v-%v, want %+v", i, s.State, s.Start.Sub(t0), s.End.Sub(t0), w)
		}
	}
	events, err := healthChanges(ctx, ms, "FlowLens/Monitors", "web", t0, end)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 || events[0].Detail != "from HEALTHY to DEGRADED" || events[2].Detail != "from UNKNOWN to HEALTHY" {
		t.Fatalf("events %+v", events)
	}
}

func TestDownsample(t *testing.T) {
	c := chartData{Series: []chartSeries{{Label: "a"}}}
	for i := 0; i < 10; i++ {
		c.X = append(c.X, int64(100+10*i))
		v := float64(i)
		if i == 4 || i == 5 {
			c.Series[0].Values = append(c.Series[0].Values, nil)
			continue
		}
		c.Series[0].Values = append(c.Series[0].Values, &v)
	}
	if got := downsample(c, 10); len(got.X) != 10 {
		t.Fatal("a chart within the limit must not change")
	}
	got := downsample(c, 5)
	if len(got.X) > 5 || got.X[0] != 100 {
		t.Fatalf("x %v", got.X)
	}
	var vals []any
	for _, v := range got.Series[0].Values {
		if v == nil {
			vals = append(vals, nil)
		} else {
			vals = append(vals, *v)
		}
	}
	// Buckets of 20 s: {0,1} {2,3} {4,5 missing} {6,7} {8,9}.
	want := []any{0.5, 2.5, nil, 6.5, 8.5}
	if fmt.Sprint(vals) != fmt.Sprint(want) {
		t.Fatalf("values %v, want %v", vals, want)
	}
}
