package alarm

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowlens/flowlens/store/duckdb"
)

// BenchmarkEvaluate measures one alarm evaluation (the metric query, the
// statistic, the state machine) against a metric store holding a day of
// 10 s points for 500 series (4.3 million points).
func BenchmarkEvaluate(b *testing.B) {
	ctx := context.Background()
	db, err := duckdb.Open(duckdb.Config{Path: filepath.Join(b.TempDir(), "bench.duckdb")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ms, err := duckdb.OpenMetricPoints(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	const series, perSeries = 500, 8640
	start := int64(1_800_000_000_000)
	if _, err := db.DB().ExecContext(ctx, fmt.Sprintf(`INSERT INTO metric_points
		SELECT 'FlowLens/Monitors', 'health_indicator', '{"monitor":"m' || (i %% %d) || '"}',
		       %d + (i // %d) * 10000, 10000, CASE WHEN i %% 7 = 0 THEN 1 ELSE 0 END, 0, 0, 0, 0
		FROM range(%d) t(i)`, series, start, series, series*perSeries)); err != nil {
		b.Fatal(err)
	}
	e := New(Config{}, Dependencies{DB: db, Metrics: ms})
	if err := e.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer e.Stop(ctx)
	def := Definition{Name: "m42", Namespace: "FlowLens/Monitors", Metric: "health_indicator", Dimensions: map[string]string{"monitor": "m42"},
		Statistic: Maximum, Period: Duration(10 * time.Second), EvaluationPeriods: 3, DatapointsToAlarm: 1, Comparison: GreaterOrEqual, Threshold: 1}
	if _, err := e.Put(ctx, def, true); err != nil {
		b.Fatal(err)
	}
	e.mu.Lock()
	version := e.alarms["m42"].version
	e.mu.Unlock()
	now := time.UnixMilli(start).Add(perSeries * 10 * time.Second).Add(3 * time.Second)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.evaluate(ctx, def, version, now.Add(time.Duration(i)*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if s, _ := e.Get("m42"); len(s.Datapoints) != 5 || s.Datapoints[4].Value == nil {
		b.Fatalf("the window must hold the series' last points: %+v", s.Datapoints)
	}
}
