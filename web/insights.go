package web

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/flowlens/flowlens/insights"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// chartData is what app.js turns into a uPlot chart: one shared X axis
// (Unix seconds) and aligned series (nil where a bucket is empty).
type chartData struct {
	Title  string        `json:"title"`
	YLabel string        `json:"y_label"`
	Unit   string        `json:"unit,omitempty"` // bytes, us, count
	X      []int64       `json:"x"`
	Series []chartSeries `json:"series"`
	Bars   bool          `json:"bars,omitempty"`
	// XMin and XMax fix the time axis (Unix seconds) to the range asked
	// for, so that a chart with few points is not stretched over years.
	XMin int64 `json:"x_min,omitempty"`
	XMax int64 `json:"x_max,omitempty"`
}

type chartSeries struct {
	Label  string     `json:"label"`
	Values []*float64 `json:"values"`
}

// insightRow is a table row with the monitor it would create.
type insightRow struct {
	insights.Row
	Label  string // how the chart legend names it
	Local  string // monitor resource for the local side, "" if none fits
	Remote string
}

type insightsData struct {
	base
	Req        insights.Request
	Metrics    []string
	Categories []string
	Ranges     []string
	ByFlow     bool
	Rows       []insightRow
	Chart      chartData
	Err        string
	Step       time.Duration
	Monitors   bool
}

// insightRanges are the time ranges offered.
var insightRanges = []string{"15m", "1h", "6h", "24h", "7d", "30d"}

// chartSeriesMax is how many of the top rows get a line in the chart; the
// table shows all of them.
const chartSeriesMax = 8

func (u *UI) handleInsights(w http.ResponseWriter, r *http.Request) {
	req, err := insights.FromValues(r.URL.Query())
	d := insightsData{base: baseFor(r, "Workload insights", "insights"), Monitors: u.mods.monitors != nil,
		Metrics: []string{"data-transferred", "retransmissions", "timeouts", "round-trip-time"}}
	for _, c := range topology.Categories {
		d.Categories = append(d.Categories, c.String())
	}
	d.Ranges = insightRanges
	if req.Since == "" && req.Start == "" {
		req.Since = "1h"
	}
	if req.Metric == "" {
		req.Metric = "data-transferred"
	}
	d.Req, d.ByFlow = req, req.By == "flow"
	if err != nil {
		d.Err = err.Error()
		u.pages.render(w, http.StatusBadRequest, "insights", d)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	if err := u.fillInsights(ctx, &d); err != nil {
		d.Err = err.Error()
		u.pages.render(w, http.StatusBadRequest, "insights", d)
		return
	}
	u.pages.render(w, http.StatusOK, "insights", d)
}

func (u *UI) fillInsights(ctx context.Context, d *insightsData) error {
	now := time.Now()
	q, err := d.Req.Query(now)
	if err != nil {
		return err
	}
	step := stepFor(q.End.Sub(q.Start))
	sq := store.SeriesQuery{TopQuery: q, Step: step}
	sq.Limit = min(q.Limit, chartSeriesMax)
	// The table and the chart are two queries; run them side by side.
	var series []store.Series
	var serr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		series, serr = u.deps.Flows.Series(ctx, sq)
	}()
	rows, err := u.deps.Flows.Top(ctx, q)
	<-done
	if err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	for _, sr := range rows {
		d.Rows = append(d.Rows, toInsightRow(q.Metric, sr))
	}
	d.Step = step
	d.Chart = seriesChart(q.Metric, series, q.Start, q.End, step)
	return nil
}

// stepFor picks a chart step giving at most 200 buckets. Steps are whole
// minutes beyond the shortest ranges, so that the store can answer from
// its 1-minute (or coarser) roll-ups instead of raw flows.
func stepFor(span time.Duration) time.Duration {
	if span <= 30*time.Minute {
		return 10 * time.Second
	}
	for _, s := range []time.Duration{time.Minute, 5 * time.Minute,
		10 * time.Minute, 30 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour} {
		if span/s <= 200 {
			return s
		}
	}
	return 24 * time.Hour
}

func toInsightRow(m store.Metric, r store.TopRow) insightRow {
	row := insightRow{Row: insights.FromStore(m, r)}
	row.Label = contributorLabel(row.Row)
	if r.Local.Subnet != "" {
		row.Local = topology.ResourceSubnet + ":" + r.Local.Subnet
	}
	switch {
	case r.Remote.Subnet != "":
		row.Remote = topology.ResourceSubnet + ":" + r.Remote.Subnet
	case r.Remote.Service != "":
		row.Remote = topology.ResourceService + ":" + r.Remote.Service
	case r.Remote.Kind == topology.KindInternet:
		row.Remote = topology.ResourceInternet
	}
	return row
}

func contributorLabel(r insights.Row) string {
	if r.LocalIP != "" {
		return r.HostID + " " + r.LocalIP + " → " + r.RemoteIP
	}
	local := r.LocalSubnet
	if local == "" {
		local = "unknown"
	}
	return local + " → " + r.RemoteResource
}

// seriesChart aligns the contributors' points on one time axis covering
// [start, end) so that gaps show as gaps.
func seriesChart(m store.Metric, series []store.Series, start, end time.Time, step time.Duration) chartData {
	c := chartData{Title: metricTitle(m) + " over time", YLabel: metricUnitLabel(m), Unit: metricUnit(m),
		XMin: start.Unix(), XMax: end.Unix()}
	first := start.Truncate(step)
	n := int(end.Sub(first)/step) + 1
	c.X = make([]int64, n)
	for i := range c.X {
		c.X[i] = first.Add(time.Duration(i) * step).Unix()
	}
	for _, s := range series {
		cs := chartSeries{Label: contributorLabel(insights.FromStore(m, s.Row)), Values: make([]*float64, n)}
		for _, p := range s.Points {
			i := int(p.Time.Sub(first) / step)
			if i >= 0 && i < n {
				v := p.Value
				cs.Values[i] = &v
			}
		}
		c.Series = append(c.Series, cs)
	}
	return c
}

func metricTitle(m store.Metric) string {
	switch m {
	case store.MetricRetransmissions:
		return "Retransmissions"
	case store.MetricTimeouts:
		return "Timeouts"
	case store.MetricRoundTripTime:
		return "Round-trip time"
	}
	return "Data transferred"
}

func metricUnit(m store.Metric) string {
	switch m {
	case store.MetricDataTransferred:
		return "bytes"
	case store.MetricRoundTripTime:
		return "us"
	}
	return "count"
}

func metricUnitLabel(m store.Metric) string {
	switch m {
	case store.MetricDataTransferred:
		return "bytes"
	case store.MetricRoundTripTime:
		return "µs"
	case store.MetricTimeouts:
		return "RTO events"
	}
	return "segments"
}

// monitorFromRows is the query string of /monitors/new for the selected
// rows: their distinct local and remote resources.
func monitorFromRows(sel []string) url.Values {
	locals, remotes := map[string]bool{}, map[string]bool{}
	for _, s := range sel {
		l, rm, _ := strings.Cut(s, "|")
		if l != "" {
			locals[l] = true
		}
		if rm != "" {
			remotes[rm] = true
		}
	}
	v := url.Values{}
	for _, k := range sortedKeys(locals) {
		v.Add("local", k)
	}
	for _, k := range sortedKeys(remotes) {
		v.Add("remote", k)
	}
	return v
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
