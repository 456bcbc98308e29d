package monitor

import (
	"sort"
	"time"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/health"
	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// Namespace is where monitor metrics are published.
const Namespace = "FlowLens/Monitors"

// Metric names (DESIGN.md), shared by metric points and Prometheus.
const (
	MetricDataTransferred    = "data_transferred"
	MetricRetransmissions    = "retransmissions"
	MetricTimeouts           = "timeouts"
	MetricRoundTripTime      = "round_trip_time"
	MetricRetransmissionRate = "retransmission_rate"
	MetricFailedConnections  = "failed_connections"
	MetricHealthIndicator    = "health_indicator"
)

// flowID identifies one flow of one agent within a window.
type flowID struct {
	host   string
	key    flow.Key
	merged bool
	bits   uint8
}

// flowAgg is one flow's counters summed over a window.
type flowAgg struct {
	hostID        string
	key           flow.Key
	local, remote topology.Location
	cat           topology.Category
	c             flow.Counters
}

// window accumulates the flows whose interval ends in [start, start+period).
type window struct {
	start time.Time
	flows map[flowID]*flowAgg
}

func (w *window) add(r *store.FlowRow) {
	id := flowID{host: r.HostID, key: r.Key, merged: r.Merged, bits: r.RemoteBits}
	a := w.flows[id]
	if a == nil {
		a = &flowAgg{hostID: r.HostID, key: r.Key, local: r.Local, remote: r.Remote, cat: r.Category}
		w.flows[id] = a
	}
	addCounters(&a.c, &r.Counters)
}

// addCounters is flow.Counters.Add for a window's running totals, made
// cheap because it runs on the ingest writer for every stored row: the RTT
// histogram merges in place when it already has every bin of the new row
// (the common case after a flow's first interval), and the handshake
// latency, which monitors do not publish, is not merged.
func addCounters(c, o *flow.Counters) {
	c.AddTotals(o)
	l, ol := &c.RTT, &o.RTT
	if ol.Count == 0 {
		return
	}
	if l.Count == 0 || !hasBins(&l.Hist, &ol.Hist) {
		l.Merge(ol)
		return
	}
	if ol.MinUS < l.MinUS {
		l.MinUS = ol.MinUS
	}
	if ol.MaxUS > l.MaxUS {
		l.MaxUS = ol.MaxUS
	}
	l.Count += ol.Count
	l.SumUS += ol.SumUS
	i := 0
	for _, b := range ol.Hist.Bins {
		for l.Hist.Bins[i].Index < b.Index {
			i++
		}
		l.Hist.Bins[i].Count += b.Count
	}
}

// hasBins says whether h has a bin for every bin of o (both sorted).
func hasBins(h, o *flow.Histogram) bool {
	i := 0
	for _, b := range o.Bins {
		for i < len(h.Bins) && h.Bins[i].Index < b.Index {
			i++
		}
		if i == len(h.Bins) || h.Bins[i].Index != b.Index {
			return false
		}
	}
	return true
}

// RTT is the round-trip time of a window, in microseconds, from the merged
// histograms of its flows.
type RTT struct {
	Samples uint64  `json:"samples"`
	Avg     float64 `json:"avg"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
}

// Metrics are a monitor's figures for one window.
type Metrics struct {
	DataTransferred   uint64 `json:"data_transferred"`
	Retransmissions   uint64 `json:"retransmissions"`
	Timeouts          uint64 `json:"timeouts"`
	FailedConnections uint64 `json:"failed_connections"`
	SegmentsSent      uint64 `json:"segments_sent"`
	// RetransmissionRate is retransmissions per segment sent (segments
	// estimated from bytes at 1448 per segment where an agent does not
	// report them).
	RetransmissionRate float64 `json:"retransmission_rate"`
	RoundTripTime      *RTT    `json:"round_trip_time,omitempty"`
}

// Contributor is one flow among a window's top contributors.
type Contributor struct {
	LocalIP   string       `json:"local_ip"`
	LocalHost string       `json:"local_host"`
	RemoteIP  string       `json:"remote_ip"`
	Port      uint16       `json:"port"`
	Direction string       `json:"direction"`
	Category  string       `json:"category"`
	Value     float64      `json:"value"`
	Path      []health.Hop `json:"path"`
}

// Evaluation is one monitor's result for one window.
type Evaluation struct {
	Monitor       string                   `json:"monitor"`
	WindowStart   time.Time                `json:"window_start"`
	WindowEnd     time.Time                `json:"window_end"`
	PeriodSeconds int                      `json:"period_seconds"`
	Flows         int                      `json:"flows"`
	Health        health.Health            `json:"health"`
	Metrics       Metrics                  `json:"metrics"`
	Contributors  map[string][]Contributor `json:"contributors"`
}

// TopContributors is how many flows are kept per metric.
const TopContributors = 10

// contributorMetrics are the metrics contributors are ranked by.
var contributorMetrics = []string{MetricDataTransferred, MetricRetransmissions, MetricTimeouts,
	MetricRoundTripTime, MetricFailedConnections}

// evaluate computes one monitor's metrics and contributors over the
// window's flows that match it; the health comes from the fleet-wide result.
func evaluate(spec *Spec, w *window, period time.Duration, res *health.Result) *Evaluation {
	ev := &Evaluation{Monitor: spec.Name, WindowStart: w.start.UTC(), WindowEnd: w.start.Add(period).UTC(),
		PeriodSeconds: int(period / time.Second), Contributors: map[string][]Contributor{}}
	var tot flow.Counters
	var matched []*flowAgg
	for _, a := range w.flows {
		if !spec.Matches(a.local, a.remote) {
			continue
		}
		matched = append(matched, a)
		tot.Add(&a.c)
	}
	ev.Flows = len(matched)
	m := &ev.Metrics
	m.DataTransferred = tot.BytesSent + tot.BytesReceived
	m.Retransmissions, m.Timeouts, m.FailedConnections = tot.Retransmissions, tot.Timeouts, tot.ConnectionsFailed()
	m.SegmentsSent = tot.SegmentsSent
	for _, a := range matched { // agents that report no segments: estimate from bytes
		if a.c.SegmentsSent == 0 && a.c.BytesSent > 0 {
			m.SegmentsSent += (a.c.BytesSent + 1447) / 1448
		}
	}
	if m.SegmentsSent > 0 {
		m.RetransmissionRate = float64(m.Retransmissions) / float64(m.SegmentsSent)
	}
	if tot.RTT.Count > 0 {
		m.RoundTripTime = &RTT{Samples: tot.RTT.Count, Avg: tot.RTT.AvgUS(), P50: tot.RTT.Quantile(0.5),
			P90: tot.RTT.Quantile(0.9), P99: tot.RTT.Quantile(0.99)}
	}
	for _, metric := range contributorMetrics {
		ev.Contributors[metric] = top(matched, metric)
	}
	if res != nil {
		ev.Health = res.View(spec.Matches)
	} else {
		ev.Health = health.Health{State: health.Unknown, Evidence: health.Evidence{Summary: "no flows", Segments: []health.SegmentEvidence{}}}
	}
	return ev
}

func contributorValue(a *flowAgg, metric string) float64 {
	switch metric {
	case MetricDataTransferred:
		return float64(a.c.BytesSent + a.c.BytesReceived)
	case MetricRetransmissions:
		return float64(a.c.Retransmissions)
	case MetricTimeouts:
		return float64(a.c.Timeouts)
	case MetricRoundTripTime:
		return a.c.RTT.AvgUS()
	case MetricFailedConnections:
		return float64(a.c.ConnectionsFailed())
	}
	return 0
}

// top ranks flows by one metric, dropping zeros.
func top(flows []*flowAgg, metric string) []Contributor {
	type ranked struct {
		a *flowAgg
		v float64
	}
	var rs []ranked
	for _, a := range flows {
		if v := contributorValue(a, metric); v > 0 {
			rs = append(rs, ranked{a, v})
		}
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].v != rs[j].v {
			return rs[i].v > rs[j].v
		}
		ki, kj := rs[i].a.key, rs[j].a.key
		if ki.LocalIP != kj.LocalIP {
			return ki.LocalIP.Less(kj.LocalIP)
		}
		if ki.RemoteIP != kj.RemoteIP {
			return ki.RemoteIP.Less(kj.RemoteIP)
		}
		return ki.Port < kj.Port
	})
	if len(rs) > TopContributors {
		rs = rs[:TopContributors]
	}
	out := make([]Contributor, len(rs))
	for i, r := range rs {
		a := r.a
		path := append([]health.Hop{{ID: "host:" + a.hostID, Kind: "host"}}, health.Path(a.local, a.remote, a.cat)...)
		out[i] = Contributor{LocalIP: a.key.LocalIP.String(), LocalHost: a.hostID, RemoteIP: a.key.RemoteIP.String(),
			Port: a.key.Port, Direction: a.key.Direction.String(), Category: a.cat.String(), Value: r.v, Path: path}
	}
	return out
}

// healthFlows is the window's flows as the indicator reads them.
func healthFlows(w *window) []health.Flow {
	out := make([]health.Flow, 0, len(w.flows))
	for _, a := range w.flows {
		rec := flow.Record{Key: a.key, Counters: a.c}
		out = append(out, health.FromRecord(a.hostID, &rec, a.local, a.remote, a.cat))
	}
	return out
}

// points are the metric points of one evaluation.
func points(ev *Evaluation, period time.Duration) []metricstore.Point {
	dims := func(extra ...string) map[string]string {
		d := map[string]string{"monitor": ev.Monitor}
		if len(extra) == 2 {
			d[extra[0]] = extra[1]
		}
		return d
	}
	simple := func(metric string, v float64, d map[string]string) metricstore.Point {
		return metricstore.Point{Namespace: Namespace, Metric: metric, Dimensions: d, Time: ev.WindowStart,
			Period: period, Value: v, Count: 1, Sum: v, Min: v, Max: v}
	}
	m := &ev.Metrics
	pts := []metricstore.Point{
		simple(MetricDataTransferred, float64(m.DataTransferred), dims()),
		simple(MetricRetransmissions, float64(m.Retransmissions), dims()),
		simple(MetricTimeouts, float64(m.Timeouts), dims()),
		simple(MetricFailedConnections, float64(m.FailedConnections), dims()),
		simple(MetricRetransmissionRate, m.RetransmissionRate, dims()),
	}
	if r := m.RoundTripTime; r != nil {
		avg := simple(MetricRoundTripTime, r.Avg, dims("stat", "avg"))
		avg.Count, avg.Sum = r.Samples, r.Avg*float64(r.Samples)
		pts = append(pts, avg,
			simple(MetricRoundTripTime, r.P50, dims("stat", "p50")),
			simple(MetricRoundTripTime, r.P90, dims("stat", "p90")),
			simple(MetricRoundTripTime, r.P99, dims("stat", "p99")))
	}
	switch ev.Health.State {
	case health.Degraded:
		pts = append(pts, simple(MetricHealthIndicator, 1, dims()))
	case health.Healthy:
		pts = append(pts, simple(MetricHealthIndicator, 0, dims()))
	}
	return pts
}
