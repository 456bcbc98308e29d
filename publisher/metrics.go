package publisher

import (
	"github.com/flowlens/flowlens/internal/promset"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics mirrors Stats for Prometheus. The gauges are functions of the
// queue, read at scrape time, so they cannot drift from it.
type metrics struct {
	published prometheus.Counter
	acked     prometheus.Counter
	retries   prometheus.Counter
	spooled   prometheus.Counter
	dropped   *prometheus.CounterVec
	failed    *prometheus.CounterVec
	// unexpectedDups: see Publisher.unexpectedDuplicate.
	unexpectedDups prometheus.Counter
	collect        promset.Set
}

func newMetrics(spoolBytes, pending func() float64) *metrics {
	const ns, sub = "flowlens", "publisher"
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	m := &metrics{
		published: counter("reports_published_total", "Reports handed to the publisher."),
		acked:     counter("reports_acked_total", "Reports the server acknowledged as durable (split pieces count one each)."),
		retries:   counter("retries_total", "Send attempts that repeated an earlier failed one."),
		spooled:   counter("reports_spooled_total", "Reports written to the on-disk spool."),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "reports_dropped_total",
			Help: "Reports discarded locally without delivery: spool full or corrupt, or a report larger than the spool."}, []string{"reason"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "reports_failed_total",
			Help: "Reports the server permanently refused: malformed (400), or still too large (413) as a single flow or after MaxSplitPieces pieces."}, []string{"reason"}),
		unexpectedDups: counter("unexpected_duplicates_total",
			"Reports sent for the first time that the server answered duplicate:true: their data was not stored (another agent with the same agent id and spool epoch?)."),
	}
	spool := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "spool_bytes",
		Help: "Bytes of spooled reports not yet acknowledged."}, spoolBytes)
	pend := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "reports_pending",
		Help: "Reports published but not yet acknowledged or given up on, in memory and in the spool."}, pending)
	// Every reason shows from the first scrape, at 0, so that alerts on
	// increase() see the first drop.
	for _, r := range []string{dropSpoolFull, dropSpoolCorrupt, dropTooBig, dropSpoolError} {
		m.dropped.WithLabelValues(r)
	}
	for _, r := range []string{failRejected, failTooLarge} {
		m.failed.WithLabelValues(r)
	}
	m.collect = promset.Set{m.published, m.acked, m.retries, m.spooled, m.dropped, m.failed, m.unexpectedDups, spool, pend}
	return m
}
