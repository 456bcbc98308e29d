package duckdb

import (
	"math"
	"strings"

	"github.com/flowlens/flowlens/flow"
)

// numCounters and numLatency size the value columns shared by flows and
// the roll-ups, in table order: counterColumns then latencyColumns.
const (
	numCounters = 11
	numLatency  = 8
	numValues   = numCounters + numLatency
)

var counterColumns = [numCounters]string{
	"bytes_sent", "bytes_received", "segments_sent", "segments_received",
	"retransmissions", "timeouts", "conns_opened", "conns_closed",
	"failed_refused", "failed_timeout", "failed_reset",
}

var latencyColumns = [numLatency]string{
	"rtt_count", "rtt_sum_us", "rtt_min_us", "rtt_max_us",
	"hs_count", "hs_sum_us", "hs_min_us", "hs_max_us",
}

// valueColumns is counterColumns followed by latencyColumns.
func valueColumns() []string {
	out := make([]string, 0, numValues)
	out = append(out, counterColumns[:]...)
	return append(out, latencyColumns[:]...)
}

// narrowValue marks the value columns that flows stores as UINTEGER: event
// counts and latency extremes, which no interval brings near 2^32 (the
// latency histogram itself stops at 2^32 µs). Bytes, segments and latency
// sums stay BIGINT. Halving those 13 columns made inserts about 20% faster;
// roll-ups, which sum many rows, keep BIGINT everywhere.
var narrowValue = [numValues]bool{
	false, false, false, false, // bytes and segments
	true, true, true, true, true, true, true, // retransmissions .. failed_reset
	true, false, true, true, // rtt count, sum, min, max
	true, false, true, true, // handshake count, sum, min, max
}

const (
	numNarrow = 13
	numWide   = numValues - numNarrow
)

// valueSlot maps a value column to its index in flowColumns.wide (>= 0) or
// flowColumns.narrow (-1-index).
var valueSlot = func() (slot [numValues]int) {
	w, n := 0, 0
	for i, narrow := range narrowValue {
		if narrow {
			slot[i] = -1 - n
			n++
		} else {
			slot[i] = w
			w++
		}
	}
	return slot
}()

// flowsColumnList is the column order of every insert into flows.
var flowsColumnList = strings.Join(append(append([]string{"end_ms", "dur_ms", "key_id"}, valueColumns()...), "latency_hist"), ", ")

// rollupColumnList is the column order of every insert into a roll-up.
var rollupColumnList = strings.Join(append(append([]string{"bucket_ms", "resource_id", "compacted", "flow_rows"}, valueColumns()...), "latency_hist"), ", ")

// countersOf flattens c in counterColumns order.
func countersOf(c *flow.Counters) [numCounters]uint64 {
	return [numCounters]uint64{
		c.BytesSent, c.BytesReceived, c.SegmentsSent, c.SegmentsReceived,
		c.Retransmissions, c.Timeouts, c.ConnectionsOpened, c.ConnectionsClosed,
		c.FailedRefused, c.FailedTimeout, c.FailedReset,
	}
}

// valuesOf flattens c in valueColumns order.
func valuesOf(c *flow.Counters) [numValues]uint64 {
	var v [numValues]uint64
	cs := countersOf(c)
	copy(v[:], cs[:])
	copy(v[numCounters:], []uint64{
		c.RTT.Count, c.RTT.SumUS, c.RTT.MinUS, c.RTT.MaxUS,
		c.HandshakeLatency.Count, c.HandshakeLatency.SumUS, c.HandshakeLatency.MinUS, c.HandshakeLatency.MaxUS,
	})
	return v
}

// storedValues returns c's values in valueColumns order as flows stores
// them: clamped to UINTEGER or BIGINT.
func storedValues(c *flow.Counters) [numValues]uint64 {
	vs := valuesOf(c)
	for i, v := range vs {
		if narrowValue[i] {
			vs[i] = uint64(clampUint32(v))
		} else {
			vs[i] = clampInt64(v)
		}
	}
	return vs
}

// clampInt64 keeps a value within a BIGINT column (see schemaV1); no real
// interval comes near 2^63.
func clampInt64(v uint64) uint64 { return min(v, math.MaxInt64) }

// clampUint32 keeps a value within a UINTEGER column of flows.
func clampUint32(v uint64) uint32 { return uint32(min(v, math.MaxUint32)) }

// flowColumns holds one chunk of rows for flows column by column, so the
// Arrow path can hand the slices to DuckDB without copying. The slices are
// reused from chunk to chunk. wide holds the BIGINT value columns (values
// clamped to 2^63-1, so the bits are valid int64), narrow the UINTEGER ones.
type flowColumns struct {
	endMs  []int64
	durMs  []uint32
	keyID  []uint32
	wide   [numWide][]uint64
	narrow [numNarrow][]uint32
	// latency_hist as Arrow binary: histData[histOff[i]:histOff[i+1]],
	// NULL where !histValid[i].
	histData  []byte
	histOff   []int32
	histValid []bool
	histNulls int
}

func (c *flowColumns) reset() {
	c.endMs = c.endMs[:0]
	c.durMs = c.durMs[:0]
	c.keyID = c.keyID[:0]
	for i := range c.wide {
		c.wide[i] = c.wide[i][:0]
	}
	for i := range c.narrow {
		c.narrow[i] = c.narrow[i][:0]
	}
	c.histData = c.histData[:0]
	c.histOff = append(c.histOff[:0], 0)
	c.histValid = c.histValid[:0]
	c.histNulls = 0
}

func (c *flowColumns) len() int { return len(c.endMs) }

// add appends one row; vs are storedValues(fc). The interval is stored as
// its end and its length (a negative length, End before Start, as 0).
func (c *flowColumns) add(endMs, startMs int64, keyID uint32, vs *[numValues]uint64, fc *flow.Counters) {
	c.endMs = append(c.endMs, endMs)
	c.durMs = append(c.durMs, uint32(min(max(endMs-startMs, 0), math.MaxUint32)))
	c.keyID = append(c.keyID, keyID)
	for i, v := range vs {
		if s := valueSlot[i]; s >= 0 {
			c.wide[s] = append(c.wide[s], v)
		} else {
			c.narrow[-1-s] = append(c.narrow[-1-s], uint32(v))
		}
	}
	if len(fc.RTT.Hist.Bins) == 0 && len(fc.HandshakeLatency.Hist.Bins) == 0 {
		c.histValid = append(c.histValid, false)
		c.histNulls++
	} else {
		c.histData = appendLatencyHist(c.histData, &fc.RTT.Hist, &fc.HandshakeLatency.Hist)
		c.histValid = append(c.histValid, true)
	}
	c.histOff = append(c.histOff, int32(len(c.histData)))
}

// value returns value column j of row i.
func (c *flowColumns) value(j, i int) uint64 {
	if s := valueSlot[j]; s >= 0 {
		return c.wide[s][i]
	}
	return uint64(c.narrow[-1-valueSlot[j]][i])
}

// hist returns row i's latency_hist, nil for NULL.
func (c *flowColumns) hist(i int) []byte {
	if !c.histValid[i] {
		return nil
	}
	return c.histData[c.histOff[i]:c.histOff[i+1]]
}
