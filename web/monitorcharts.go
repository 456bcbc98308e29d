package web

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/flowlens/flowlens/metricstore"
)

// Monitor metrics as the monitor module publishes them (DESIGN.md names).
var monitorChartSpecs = []struct {
	Title, Metric, Unit, YLabel string
	Stats                       []string // round_trip_time's "stat" dimension values; nil: none
}{
	{"Data transferred", "data_transferred", "bytes", "bytes", nil},
	{"Retransmissions", "retransmissions", "count", "segments", nil},
	{"Retransmission rate", "retransmission_rate", "ratio", "retransmitted / sent", nil},
	{"Timeouts", "timeouts", "count", "RTO events", nil},
	{"Round-trip time", "round_trip_time", "us", "µs", []string{"avg", "p50", "p90", "p99"}},
	{"Failed connections", "failed_connections", "count", "connections", nil},
}

// monitorCharts reads a monitor's metric points over [start, end) into one
// chart per metric, all on the same time axis (the union of the windows).
func monitorCharts(ctx context.Context, ms metricstore.Store, namespace, name string, start, end time.Time) ([]chartData, error) {
	var charts []chartData
	for _, spec := range monitorChartSpecs {
		stats := spec.Stats
		if stats == nil {
			stats = []string{""}
		}
		type series struct {
			label string
			pts   []metricstore.Point
		}
		var all []series
		times := map[int64]bool{}
		for _, st := range stats {
			dims := map[string]string{"monitor": name}
			label := spec.Title
			if st != "" {
				dims["stat"], label = st, st
			}
			pts, err := ms.Query(ctx, metricstore.Query{ID: metricstore.ID{Namespace: namespace, Metric: spec.Metric, Dimensions: dims},
				Start: start, End: end})
			if err != nil {
				return nil, fmt.Errorf("monitor %s: %s: %w", name, spec.Metric, err)
			}
			for _, p := range pts {
				times[p.Time.Unix()] = true
			}
			all = append(all, series{label, pts})
		}
		if len(times) == 0 {
			continue
		}
		c := chartData{Title: spec.Title, Unit: spec.Unit, YLabel: spec.YLabel, XMin: start.Unix(), XMax: end.Unix()}
		for t := range times {
			c.X = append(c.X, t)
		}
		sort.Slice(c.X, func(i, j int) bool { return c.X[i] < c.X[j] })
		at := make(map[int64]int, len(c.X))
		for i, t := range c.X {
			at[t] = i
		}
		for _, s := range all {
			cs := chartSeries{Label: s.label, Values: make([]*float64, len(c.X))}
			for _, p := range s.pts {
				v := p.Value
				cs.Values[at[p.Time.Unix()]] = &v
			}
			c.Series = append(c.Series, cs)
		}
		charts = append(charts, downsample(c, maxChartPoints))
	}
	return charts, nil
}

// maxChartPoints bounds what a chart sends to the browser: a week of 10 s
// windows would be 60,480 points per line.
const maxChartPoints = 2000

// downsample averages a chart's points into at most max buckets of equal
// width (nil values are skipped; a bucket without values stays nil), so
// long ranges keep their shape at a size the browser draws quickly.
func downsample(c chartData, max int) chartData {
	if len(c.X) <= max {
		return c
	}
	lo, hi := c.X[0], c.X[len(c.X)-1]
	width := (hi - lo + int64(max)) / int64(max)
	if width < 1 {
		width = 1
	}
	n := int((hi-lo)/width) + 1
	out := c
	out.X = make([]int64, n)
	for i := range out.X {
		out.X[i] = lo + int64(i)*width
	}
	out.Series = make([]chartSeries, len(c.Series))
	for si, s := range c.Series {
		sum, cnt := make([]float64, n), make([]int, n)
		for i, v := range s.Values {
			if v != nil {
				b := int((c.X[i] - lo) / width)
				sum[b] += *v
				cnt[b]++
			}
		}
		vals := make([]*float64, n)
		for b := range vals {
			if cnt[b] > 0 {
				avg := sum[b] / float64(cnt[b])
				vals[b] = &avg
			}
		}
		out.Series[si] = chartSeries{Label: s.Label, Values: vals}
	}
	return out
}

// healthStates reads the health indicator (1 degraded, 0 healthy) of a
// monitor; a window without a point is UNKNOWN (too little traffic).
func healthStates(ctx context.Context, ms metricstore.Store, namespace, name string, start, end time.Time) ([]healthSlot, error) {
	pts, err := ms.Query(ctx, metricstore.Query{ID: metricstore.ID{Namespace: namespace, Metric: "health_indicator",
		Dimensions: map[string]string{"monitor": name}}, Start: start, End: end})
	if err != nil {
		return nil, fmt.Errorf("monitor %s: health: %w", name, err)
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].Time.Before(pts[j].Time) })
	var out []healthSlot
	for _, p := range pts {
		st := "HEALTHY"
		if p.Value >= 1 {
			st = "DEGRADED"
		}
		s := healthSlot{Start: p.Time, End: p.Time.Add(p.Period), State: st}
		// Merge runs of one state; a gap between windows is UNKNOWN.
		if n := len(out); n > 0 {
			last := &out[n-1]
			if s.Start.After(last.End) {
				out = append(out, healthSlot{Start: last.End, End: s.Start, State: "UNKNOWN"})
			} else if last.State == st {
				last.End = s.End
				continue
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// healthTimeline lays the states out on the page's bar.
func healthTimeline(ctx context.Context, ms metricstore.Store, namespace, name string, start, end time.Time) ([]healthSlot, error) {
	slots, err := healthStates(ctx, ms, namespace, name, start, end)
	if err != nil {
		return nil, err
	}
	return layoutTimeline(slots, start, end), nil
}

// healthChanges are the overview's events: each change of a monitor's
// health between windows.
func healthChanges(ctx context.Context, ms metricstore.Store, namespace, name string, start, end time.Time) ([]healthEvent, error) {
	slots, err := healthStates(ctx, ms, namespace, name, start, end)
	if err != nil {
		return nil, err
	}
	var out []healthEvent
	for i, s := range slots {
		if i == 0 && s.State == "HEALTHY" {
			continue // the steady state is not an event
		}
		detail := "became " + s.State
		if i > 0 {
			detail = "from " + slots[i-1].State + " to " + s.State
		}
		out = append(out, healthEvent{Time: s.Start, Source: "monitor", Subject: name, State: s.State, Detail: detail,
			Href: "/monitors/" + name})
	}
	return out, nil
}

// metricValueText formats a contributor's value for its metric.
func metricValueText(metric string, v float64) string {
	switch metric {
	case "data_transferred":
		return humanBytes(v)
	case "round_trip_time":
		return fmt.Sprintf("%.1f ms", v/1000)
	}
	return humanNumber(v)
}
