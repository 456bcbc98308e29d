// Package store defines what FlowLens keeps and how it is read back: the
// flow store's contract, split by role (FlowWriter, FlowQuerier,
// Maintainer), the component database features keep their tables in
// (ComponentDB), and the query types shared by every implementation. The
// embedded DuckDB store (store/duckdb) implements them and passes the
// conformance suite (store/storetest) that any other store must pass too.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/topology"
)

// FlowRow is one enriched flow record: an agent's counters for one flow in
// one interval, placed in the topology.
type FlowRow struct {
	Start, End time.Time // the agent interval; rows are bucketed by End
	AgentID    string
	HostID     string
	flow.Record
	Local    topology.Location
	Remote   topology.Location
	Category topology.Category
}

// Batch is one agent report: the unit of idempotency, keyed by (AgentID,
// Epoch, Sequence). Epoch is the agent's random per-spool key space (0 for
// agents that predate it), so that an agent whose spool was lost and whose
// sequences restart at 1 is not taken for a replay of its earlier life.
type Batch struct {
	AgentID  string
	Epoch    uint64
	Sequence uint64
	Rows     []FlowRow
}

// Metric names what insights rank by.
type Metric uint8

const (
	MetricDataTransferred Metric = iota // bytes sent + received
	MetricRetransmissions               // retransmitted segments
	MetricTimeouts                      // RTO events
	MetricRoundTripTime                 // mean RTT in microseconds
)

var metricNames = [...]string{"data-transferred", "retransmissions", "timeouts", "round-trip-time"}

func (m Metric) String() string {
	if int(m) < len(metricNames) {
		return metricNames[m]
	}
	return fmt.Sprintf("metric(%d)", m)
}

// ParseMetric accepts the kebab-case CLI names and the snake_case metric names.
func ParseMetric(s string) (Metric, error) {
	for i, n := range metricNames {
		if s == n {
			return Metric(i), nil
		}
	}
	switch s {
	case "data_transferred":
		return MetricDataTransferred, nil
	case "round_trip_time":
		return MetricRoundTripTime, nil
	}
	return 0, fmt.Errorf("unknown metric %q (want data-transferred, retransmissions, timeouts or round-trip-time)", s)
}

// Grouping selects the rows of a top-contributors answer.
type Grouping uint8

const (
	// ByResource groups by local region/zone/network/subnet, remote resource
	// and category, like the cloud's workload insights.
	ByResource Grouping = iota
	// ByFlow groups by flow key (local IP, remote IP, port, direction,
	// protocol) with its resources and category.
	ByFlow
	// ByAttribute groups by the value of one enrichment attribute of one
	// end (TopQuery.Attribute); flows without it form one group with an
	// empty value. Top only (Series refuses it).
	ByAttribute
)

// End names one end of a flow.
type End uint8

const (
	EndLocal End = iota
	EndRemote
)

// AttrRef names one enrichment attribute of one end.
type AttrRef struct {
	End  End
	Name string
}

// TopQuery asks for the top contributors of Metric over [Start, End).
type TopQuery struct {
	Metric   Metric
	Category *topology.Category // nil: all categories
	Start    time.Time
	End      time.Time
	Limit    int // 1..500
	By       Grouping
	// Attribute is what ByAttribute groups by.
	Attribute AttrRef
}

// Totals are the summed counters of a group.
type Totals struct {
	BytesSent         uint64
	BytesReceived     uint64
	Retransmissions   uint64
	Timeouts          uint64
	ConnectionsOpened uint64
	ConnectionsClosed uint64
	ConnectionsFailed uint64
	RTTCount          uint64
	RTTSumUS          uint64
}

// TopRow is one contributor. Flow fields are zero for ByResource rows, and
// only the resource fields of Local and Remote are set (with their
// attributes). ByAttribute rows set only the grouped attribute (in
// Local.Attrs or Remote.Attrs; none for the group of flows without it),
// the value and the totals.
type TopRow struct {
	Value     float64
	Category  topology.Category
	Local     topology.Location
	Remote    topology.Location
	LocalIP   netip.Addr
	RemoteIP  netip.Addr
	Port      uint16
	Direction flow.Direction
	Protocol  uint8
	HostID    string
	Totals    Totals
}

// SeriesQuery asks for Metric over time for the top Limit contributors.
type SeriesQuery struct {
	TopQuery
	Step time.Duration // bucket width, default 5 minutes
}

// Point is one bucket of a series; Time is the bucket start.
type Point struct {
	Time  time.Time
	Value float64
}

// Series is one contributor's points, in time order, empty buckets omitted.
type Series struct {
	Row    TopRow // identifies the contributor; Value and Totals cover the range
	Points []Point
}

// Retention says how long each resolution is kept.
type Retention struct {
	Raw   time.Duration
	Min1  time.Duration
	Min10 time.Duration
	Hour1 time.Duration
}

// DefaultRetention is raw 7 days, 1 min 30 days, 10 min 90 days, 1 h 400 days.
var DefaultRetention = Retention{
	Raw:   7 * 24 * time.Hour,
	Min1:  30 * 24 * time.Hour,
	Min10: 90 * 24 * time.Hour,
	Hour1: 400 * 24 * time.Hour,
}

// ErrClosed is returned by a store after Close.
var ErrClosed = errors.New("store closed")

// FlowWriter stores agent reports; the ingest writer is its one user.
type FlowWriter interface {
	// Write stores the batches in one transaction and returns only when it
	// is durable. A batch whose (AgentID, Epoch, Sequence) is already stored is not
	// stored again; dup[i] reports that for batches[i].
	Write(ctx context.Context, batches []*Batch) (dup []bool, err error)
}

// FlowQuerier answers insights over stored flows.
type FlowQuerier interface {
	// Top ranks contributors. It reads the coarsest table whose buckets
	// still answer the range (raw flows for ByFlow).
	Top(ctx context.Context, q TopQuery) ([]TopRow, error)
	// Series is Top broken into Step buckets.
	Series(ctx context.Context, q SeriesQuery) ([]Series, error)
}

// Maintainer applies retention and compacts roll-ups; the server calls it
// periodically.
type Maintainer interface {
	Maintain(ctx context.Context, now time.Time) error
}

// Store is a whole flow store: what the server opens and closes.
type Store interface {
	FlowWriter
	FlowQuerier
	Maintainer
	// Close flushes and releases the store.
	Close() error
}

// Add sums one flow record's counters into the totals.
func (t *Totals) Add(c *flow.Counters) {
	t.BytesSent += c.BytesSent
	t.BytesReceived += c.BytesReceived
	t.Retransmissions += c.Retransmissions
	t.Timeouts += c.Timeouts
	t.ConnectionsOpened += c.ConnectionsOpened
	t.ConnectionsClosed += c.ConnectionsClosed
	t.ConnectionsFailed += c.ConnectionsFailed()
	t.RTTCount += c.RTT.Count
	t.RTTSumUS += c.RTT.SumUS
}
