package duckdb

import "github.com/prometheus/client_golang/prometheus"

// metrics counts what moves through the store. Store implements
// prometheus.Collector so the server registers it with its own registerer.
type metrics struct {
	writes          prometheus.Counter
	writeErrors     prometheus.Counter
	rows            prometheus.Counter
	batchesStored   prometheus.Counter
	batchesDup      prometheus.Counter
	writeSeconds    prometheus.Histogram
	maintainRuns    prometheus.Counter
	maintainErrors  prometheus.Counter
	maintainSeconds prometheus.Histogram
	rowsExpired     *prometheus.CounterVec
	flowKeys        prometheus.Gauge
	resourceKeys    prometheus.Gauge
}

func newMetrics() *metrics {
	const ns, sub = "flowlens", "store"
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	h := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help,
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)})
	}
	return &metrics{
		writes:          c("writes_total", "Write calls (one transaction each)."),
		writeErrors:     c("write_errors_total", "Write calls that failed and stored nothing."),
		rows:            c("flow_rows_written_total", "Raw flow rows committed."),
		batchesStored:   c("batches_stored_total", "Batches committed."),
		batchesDup:      c("batches_duplicate_total", "Batches skipped because their (agent, sequence) was already stored."),
		writeSeconds:    h("write_seconds", "Duration of Write calls, commit included."),
		maintainRuns:    c("maintain_runs_total", "Maintain calls."),
		maintainErrors:  c("maintain_errors_total", "Maintain calls that failed."),
		maintainSeconds: h("maintain_seconds", "Duration of Maintain calls."),
		rowsExpired: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "rows_expired_total", Help: "Rows dropped by retention, per table."}, []string{"table"}),
		flowKeys:     g("flow_keys", "Flow keys in the dictionary."),
		resourceKeys: g("resource_keys", "Resource keys in the dictionary."),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.writes, m.writeErrors, m.rows, m.batchesStored, m.batchesDup, m.writeSeconds,
		m.maintainRuns, m.maintainErrors, m.maintainSeconds, m.rowsExpired, m.flowKeys, m.resourceKeys}
}

// Describe implements prometheus.Collector.
func (s *Store) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range s.metrics.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	for _, c := range s.metrics.collectors() {
		c.Collect(ch)
	}
}
