package duckdb

import (
	"fmt"
	"time"

	"github.com/flowlens/flowlens/flow"
)

// tableSpec describes one table Top and Series can read.
type tableSpec struct {
	name    string
	timeCol string // end_ms for raw flows, bucket_ms for roll-ups
	width   int64  // bucket width in ms; 0 for raw flows
	level   int    // index into the retention horizons: 0 raw, 1..3 roll-ups
}

var (
	rawTable     = tableSpec{name: "flows", timeCol: "end_ms", level: 0}
	rollupTables = [3]tableSpec{
		{name: "rollup_1m", timeCol: "bucket_ms", width: time.Minute.Milliseconds(), level: 1},
		{name: "rollup_10m", timeCol: "bucket_ms", width: (10 * time.Minute).Milliseconds(), level: 2},
		{name: "rollup_1h", timeCol: "bucket_ms", width: time.Hour.Milliseconds(), level: 3},
	}
)

// floorDiv divides rounding toward minus infinity, so that buckets before
// 1970 are aligned like the others.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// bucketOf is the start of the width-ms bucket holding ms.
func bucketOf(ms, width int64) int64 { return floorDiv(ms, width) * width }

// latencySum is count/sum/min/max of one latency; min and max are 0 when
// count is 0, as in flow.Latency.
type latencySum struct{ count, sum, min, max uint64 }

func (l *latencySum) add(count, sum, lo, hi uint64) {
	if count == 0 {
		return
	}
	if l.count == 0 || lo < l.min {
		l.min = lo
	}
	if hi > l.max {
		l.max = hi
	}
	l.count += count
	l.sum += sum
}

// rollupAgg is the sum of the rows of one (bucket, resource key).
type rollupAgg struct {
	rows            uint64
	counters        [numCounters]uint64
	rtt, hs         latencySum
	rttHist, hsHist denseHist
}

func (a *rollupAgg) reset() {
	a.rows = 0
	a.counters = [numCounters]uint64{}
	a.rtt, a.hs = latencySum{}, latencySum{}
	a.rttHist.reset()
	a.hsHist.reset()
}

// addRow adds one raw row: vs are its values as stored in flows (see
// storedValues), so roll-ups sum exactly what raw rows hold.
func (a *rollupAgg) addRow(vs *[numValues]uint64, c *flow.Counters) {
	a.rows++
	for i := range numCounters {
		a.counters[i] += vs[i]
	}
	l := vs[numCounters:]
	a.rtt.add(l[0], l[1], l[2], l[3])
	a.hs.add(l[4], l[5], l[6], l[7])
	a.rttHist.addBins(c.RTT.Hist.Bins)
	a.hsHist.addBins(c.HandshakeLatency.Hist.Bins)
}

func (a *rollupAgg) addAgg(o *rollupAgg) {
	a.rows += o.rows
	for i, v := range o.counters {
		a.counters[i] += v
	}
	a.rtt.add(o.rtt.count, o.rtt.sum, o.rtt.min, o.rtt.max)
	a.hs.add(o.hs.count, o.hs.sum, o.hs.min, o.hs.max)
	a.rttHist.addDense(&o.rttHist)
	a.hsHist.addDense(&o.hsHist)
}

// addStored adds a row read back from a roll-up table: its flow_rows, the
// UBIGINT columns in u64Columns order and its latency_hist.
func (a *rollupAgg) addStored(rows uint64, u *[numValues]uint64, hist []byte) error {
	rtt, hs, err := decodeLatencyHist(hist)
	if err != nil {
		return err
	}
	a.rows += rows
	for i := range numCounters {
		a.counters[i] += u[i]
	}
	l := u[numCounters:]
	a.rtt.add(l[0], l[1], l[2], l[3])
	a.hs.add(l[4], l[5], l[6], l[7])
	a.rttHist.addBins(rtt.Bins)
	a.hsHist.addBins(hs.Bins)
	return nil
}

// addCompacted adds a group summed by compactSelect: its rows, values and
// the list of its histogram BLOBs (nil, or []any of []byte).
func (a *rollupAgg) addCompacted(rows uint64, u *[numValues]uint64, hists any) error {
	if err := a.addStored(rows, u, nil); err != nil {
		return err
	}
	list, _ := hists.([]any)
	for _, h := range list {
		b, ok := h.([]byte)
		if !ok {
			return fmt.Errorf("%w: histogram of type %T", errBadHist, h)
		}
		rtt, hs, err := decodeLatencyHist(b)
		if err != nil {
			return err
		}
		a.rttHist.addBins(rtt.Bins)
		a.hsHist.addBins(hs.Bins)
	}
	return nil
}

// latency flattens the latency summaries in latencyColumns order.
func (a *rollupAgg) latency() [numLatency]uint64 {
	return [numLatency]uint64{a.rtt.count, a.rtt.sum, a.rtt.min, a.rtt.max, a.hs.count, a.hs.sum, a.hs.min, a.hs.max}
}

// histBlob encodes the histograms, nil when both are empty.
func (a *rollupAgg) histBlob() []byte {
	if !a.rttHist.used && !a.hsHist.used {
		return nil
	}
	return a.hsHist.appendSparse(a.rttHist.appendSparse(nil))
}

// aggKey identifies one roll-up row.
type aggKey struct {
	bucket     int64
	resourceID uint32
}

// rollupSet aggregates one Write (or one compaction) per roll-up table.
// Entries come from a slab reused across calls, because each holds two
// 2 KiB dense histograms.
type rollupSet struct {
	tables [len(rollupTables)]map[aggKey]*rollupAgg
	slab   []*rollupAgg
	used   int
}

func newRollupSet() *rollupSet {
	s := &rollupSet{}
	for i := range s.tables {
		s.tables[i] = make(map[aggKey]*rollupAgg)
	}
	return s
}

func (s *rollupSet) reset() {
	for i := range s.tables {
		clear(s.tables[i])
	}
	s.used = 0
}

func (s *rollupSet) alloc() *rollupAgg {
	if s.used == len(s.slab) {
		s.slab = append(s.slab, &rollupAgg{})
	}
	a := s.slab[s.used]
	s.used++
	a.reset()
	return a
}

// get returns the aggregate of table t for k, creating it.
func (s *rollupSet) get(t int, k aggKey) *rollupAgg {
	a, ok := s.tables[t][k]
	if !ok {
		a = s.alloc()
		s.tables[t][k] = a
	}
	return a
}

// addRow adds one raw row to the finest table; deriveCoarser then fills
// the others, so each row costs one map lookup instead of three.
func (s *rollupSet) addRow(endMs int64, resourceID uint32, vs *[numValues]uint64, c *flow.Counters) {
	s.get(0, aggKey{bucketOf(endMs, rollupTables[0].width), resourceID}).addRow(vs, c)
}

// deriveCoarser sums the 1-minute aggregates into the 10-minute and 1-hour
// ones; the buckets nest because every width divides the next.
func (s *rollupSet) deriveCoarser() {
	for k, a := range s.tables[0] {
		for t := 1; t < len(rollupTables); t++ {
			s.get(t, aggKey{bucketOf(k.bucket, rollupTables[t].width), k.resourceID}).addAgg(a)
		}
	}
}
