package web

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/alarm"
	"github.com/flowlens/flowlens/metricstore"
)

// TestAlarmPagesOverTheRealEngine runs the alarm module on a real DuckDB
// file, drives one alarm into ALARM with metric points and reads it back
// through the adapter the pages use.
func TestAlarmPagesOverTheRealEngine(t *testing.T) {
	db, ms := openPoints(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	mod, err := alarm.NewModule(alarm.Config{Now: func() time.Time { return now }}, alarm.Dependencies{DB: db, Metrics: ms, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := mod.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer mod.Stop(ctx)
	api := alarmAdapter(mod)
	if api == nil {
		t.Fatal("the alarm module does not satisfy the pages' interface")
	}
	eng := mod
	def := alarm.Definition{Name: "retrans-high", Namespace: "FlowLens/Monitors", Metric: "retransmissions",
		Dimensions: map[string]string{"monitor": "web"}, Statistic: alarm.Sum, Period: alarm.Duration(time.Minute),
		EvaluationPeriods: 1, DatapointsToAlarm: 1, Comparison: alarm.GreaterOrEqual, Threshold: 10}
	if _, err := eng.Put(ctx, def, true); err != nil {
		t.Fatal(err)
	}
	pt := metricstore.Point{Namespace: def.Namespace, Metric: def.Metric, Dimensions: def.Dimensions,
		Time: now.Add(-2 * time.Minute).Truncate(time.Minute), Period: time.Minute, Value: 50, Count: 1, Sum: 50, Min: 50, Max: 50}
	pt2 := pt
	pt2.Time = pt.Time.Add(time.Minute)
	if err := ms.Put(ctx, []metricstore.Point{pt, pt2}); err != nil {
		t.Fatal(err)
	}
	if err := eng.EvaluateAll(ctx, now); err != nil {
		t.Fatal(err)
	}
	rows, err := api.list(ctx)
	if err != nil || len(rows) != 1 {
		t.Fatalf("list: %v %+v", err, rows)
	}
	r := rows[0]
	if r.State != "ALARM" || !strings.Contains(r.Condition, ">= 10") || !strings.Contains(r.Metric, "monitor=web") {
		t.Fatalf("row %+v", r)
	}
	row, hist, err := api.history(ctx, "retrans-high")
	if err != nil || row.Name != "retrans-high" || len(hist) == 0 {
		t.Fatalf("history: %v %+v %+v", err, row, hist)
	}
	var toAlarm bool
	for _, h := range hist {
		toAlarm = toAlarm || h.To == "ALARM"
	}
	if !toAlarm {
		t.Fatalf("no transition to ALARM in %+v", hist)
	}
	if _, _, err := api.history(ctx, "nope"); !errors.Is(err, errNotFound) {
		t.Fatalf("unknown alarm: %v", err)
	}
}
