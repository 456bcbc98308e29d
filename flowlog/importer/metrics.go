package importer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/promset"
)

// metrics count what the importer does.
type metrics struct {
	files, duplicates, failed prometheus.Counter
	records, badLines, bytes  prometheus.Counter
	expired                   prometheus.Counter
	set                       promset.Set
}

func newMetrics() *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "flowlens", Subsystem: "flowlog", Name: name, Help: help})
	}
	m := &metrics{
		files:      c("files_imported_total", "Flow-log files (or uploads) stored."),
		duplicates: c("files_duplicate_total", "Files skipped because their content was already imported into the group."),
		failed:     c("files_failed_total", "Imports that failed and stored nothing."),
		records:    c("records_total", "Flow-log records stored."),
		badLines:   c("bad_lines_total", "Lines skipped because they did not parse."),
		bytes:      c("bytes_total", "Bytes read from imported files, as stored (compressed)."),
		expired:    c("records_expired_total", "Flow-log records deleted by their group's retention."),
	}
	m.set = promset.Set{m.files, m.duplicates, m.failed, m.records, m.badLines, m.bytes, m.expired}
	return m
}

func (m *metrics) register(reg prometheus.Registerer) error { return m.set.Register(reg) }
