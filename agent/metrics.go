package agent

import (
	"sync/atomic"

	"github.com/flowlens/flowlens/internal/promset"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/flowlens/flowlens/agent/aggregate"
)

// metrics are the agent's own Prometheus metrics. Report delivery (sent =
// acked, failed, spooled, dropped) is counted by the publisher under
// flowlens_publisher_*, on the same registry. Collector counters are read
// at scrape time from Collector.Stats, which is safe to call concurrently;
// aggregator counters are copied at each report, because the aggregator
// belongs to the interval loop.
type metrics struct {
	reports       prometheus.Counter
	publishErrors prometheus.Counter
	syncTimeouts  prometheus.Counter
	flows         prometheus.Gauge
	// privilegesDropped is 1 once the process runs unprivileged.
	privilegesDropped prometheus.Gauge
	sockets           atomic.Uint64
	merged            atomic.Uint64
	late              atomic.Uint64
	collect           promset.Set
}

func newMetrics(a *Agent) *metrics {
	const ns, sub = "flowlens", "agent"
	m := &metrics{
		reports: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "reports_built_total",
			Help: "Interval reports built and handed to the publisher (see flowlens_publisher_* for delivery)."}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "report_queue_errors_total",
			Help: "Interval reports the publisher refused to queue (they are lost)."}),
		syncTimeouts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sync_timeouts_total",
			Help: "Interval reports sent without the collector's fresh counters (it did not answer a sync in time; they count in the next interval)."}),
		flows: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "flows_tracked",
			Help: "Flows (rows) in the last interval's report."}),
		privilegesDropped: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "privileges_dropped",
			Help: "1 when the agent runs as an unprivileged user with only its collector's capabilities and no_new_privs; 0 with --no-drop-privileges."}),
	}
	coll := a.coll
	counterFunc := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help},
			func() float64 { return float64(f()) })
	}
	gaugeFunc := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help},
			func() float64 { return float64(f()) })
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "collector_info",
		Help: "The collector mode that runs (value 1).", ConstLabels: prometheus.Labels{"mode": coll.Mode()}})
	info.Set(1)
	m.collect = promset.Set{
		m.reports, m.publishErrors, m.syncTimeouts, m.flows, m.privilegesDropped, info,
		gaugeFunc("sockets_tracked", "Sockets the collector tracks now.", func() uint64 { return coll.Stats().SocketsTracked }),
		gaugeFunc("sockets_aggregated", "Sockets with a live baseline in the aggregator at the last report.", m.sockets.Load),
		counterFunc("sampled_sockets_total", "Sockets not tracked because a collector map was full.", func() uint64 { return coll.Stats().SampledSockets }),
		counterFunc("map_full_events_total", "Times a collector map was full.", func() uint64 { return coll.Stats().MapFullEvents }),
		counterFunc("lost_events_total", "Collector events lost (ring buffer overruns, netlink ENOBUFS, sockets closed without a final message).", func() uint64 { return coll.Stats().LostEvents }),
		counterFunc("rtt_callbacks_skipped_total", "RTT callbacks the sock_ops program skipped over its per-CPU budget (their samples are a random subset).", func() uint64 { return coll.Stats().RTTSkipped }),
		counterFunc("sockets_summed_total", "Closed sockets the collector summed per flow (in the kernel in eBPF mode) instead of handling them one by one.", func() uint64 { return coll.Stats().Aggregated }),
		counterFunc("flow_map_full_total", "Closed sockets sent one by one through the ring buffer because the in-kernel flow map (--max-flows) was full; totals stay exact.", func() uint64 { return coll.Stats().FlowMapFull }),
		counterFunc("netlink_enobufs_total", "ENOBUFS errors on the sock_diag destroy socket.", func() uint64 { return coll.Stats().ENOBUFS }),
		counterFunc("merged_flows_total", "Flows merged into per-remote-prefix overflow rows by the report cap.", m.merged.Load),
		counterFunc("late_snapshots_total", "Snapshots ignored because their socket had already closed (counted once).", m.late.Load),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	}
	return m
}

// observeReport records one built report.
func (m *metrics) observeReport(flows int, as *aggregate.Stats) {
	m.reports.Inc()
	m.flows.Set(float64(flows))
	m.sockets.Store(as.SocketsTracked)
	m.merged.Store(as.MergedFlows)
	m.late.Store(as.LateSnapshots)
}
