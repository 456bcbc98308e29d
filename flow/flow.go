// Package flow is the data model every other package shares: the flow key the
// agent aggregates on, the counters it measures per interval, and the latency
// histogram that lets percentiles be computed after merging.
package flow

import (
	"fmt"
	"net/netip"
)

// Direction says which side opened the connection, seen from the local host.
type Direction uint8

const (
	DirectionUnknown Direction = iota
	// DirectionClient: the local host connected out; Port is the remote port.
	DirectionClient
	// DirectionServer: the local host accepted; Port is the local port.
	DirectionServer
)

func (d Direction) String() string {
	switch d {
	case DirectionClient:
		return "client"
	case DirectionServer:
		return "server"
	}
	return "unknown"
}

// ParseDirection is the inverse of String.
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "client":
		return DirectionClient, nil
	case "server":
		return DirectionServer, nil
	case "unknown", "":
		return DirectionUnknown, nil
	}
	return 0, fmt.Errorf("unknown direction %q (want client or server)", s)
}

// ProtocolTCP is the only protocol the agent measures today.
const ProtocolTCP = 6

// Key identifies a flow. The ephemeral port is dropped, as every production
// agent does, so all connections between two hosts on one service port
// aggregate into one flow.
type Key struct {
	LocalIP   netip.Addr
	RemoteIP  netip.Addr
	Port      uint16 // the service port
	Direction Direction
	Protocol  uint8
}

func (k Key) String() string {
	return fmt.Sprintf("%s %s %s:%d/%d", k.LocalIP, k.Direction, k.RemoteIP, k.Port, k.Protocol)
}

// Counters are the deltas measured for one flow in one interval.
type Counters struct {
	BytesSent        uint64
	BytesReceived    uint64
	SegmentsSent     uint64
	SegmentsReceived uint64
	// Retransmissions counts retransmitted segments (the kernel's
	// tcpi_total_retrans, the figure iperf3 prints as Retr).
	Retransmissions uint64
	// Timeouts counts retransmission timeouts (RTO events).
	Timeouts          uint64
	ConnectionsOpened uint64
	ConnectionsClosed uint64
	FailedRefused     uint64 // connect answered by RST
	FailedTimeout     uint64 // connect never answered
	FailedReset       uint64 // reset while established
	RTT               Latency
	HandshakeLatency  Latency
}

// ConnectionsFailed is the sum of the failure reasons.
func (c *Counters) ConnectionsFailed() uint64 {
	return c.FailedRefused + c.FailedTimeout + c.FailedReset
}

// Add merges o into c: the totals add, the latencies merge.
func (c *Counters) Add(o *Counters) {
	c.AddTotals(o)
	c.RTT.Merge(&o.RTT)
	c.HandshakeLatency.Merge(&o.HandshakeLatency)
}

// TotalNames are the names of the total counters (every counter but the
// latencies), in the order of EachTotal: snake_case, as in JSON.
var TotalNames = [...]string{"bytes_sent", "bytes_received", "segments_sent", "segments_received",
	"retransmissions", "timeouts", "connections_opened", "connections_closed",
	"failed_refused", "failed_timeout", "failed_reset"}

// AddTotals adds o's total counters to c, leaving the latencies alone
// (callers that keep them merge them their own way). Field by field, not
// through totals: it runs for every stored row, and the loop over
// pointers cost 8 times as much (BenchmarkAddTotals).
// TestCountersOperationsCoverEveryField fails until a new counter is
// added here, in SubTotals and in totals.
func (c *Counters) AddTotals(o *Counters) {
	c.BytesSent += o.BytesSent
	c.BytesReceived += o.BytesReceived
	c.SegmentsSent += o.SegmentsSent
	c.SegmentsReceived += o.SegmentsReceived
	c.Retransmissions += o.Retransmissions
	c.Timeouts += o.Timeouts
	c.ConnectionsOpened += o.ConnectionsOpened
	c.ConnectionsClosed += o.ConnectionsClosed
	c.FailedRefused += o.FailedRefused
	c.FailedTimeout += o.FailedTimeout
	c.FailedReset += o.FailedReset
}

// SubTotals subtracts o's total counters from c (o a part of c's sum, as
// when a flow leaves a running window), leaving the latencies alone.
func (c *Counters) SubTotals(o *Counters) {
	c.BytesSent -= o.BytesSent
	c.BytesReceived -= o.BytesReceived
	c.SegmentsSent -= o.SegmentsSent
	c.SegmentsReceived -= o.SegmentsReceived
	c.Retransmissions -= o.Retransmissions
	c.Timeouts -= o.Timeouts
	c.ConnectionsOpened -= o.ConnectionsOpened
	c.ConnectionsClosed -= o.ConnectionsClosed
	c.FailedRefused -= o.FailedRefused
	c.FailedTimeout -= o.FailedTimeout
	c.FailedReset -= o.FailedReset
}

// totals are c's total counters in the order of TotalNames.
func (c *Counters) totals() [len(TotalNames)]*uint64 {
	return [...]*uint64{&c.BytesSent, &c.BytesReceived, &c.SegmentsSent, &c.SegmentsReceived,
		&c.Retransmissions, &c.Timeouts, &c.ConnectionsOpened, &c.ConnectionsClosed,
		&c.FailedRefused, &c.FailedTimeout, &c.FailedReset}
}

// EachTotal calls fn with every total counter's name and value.
func (c *Counters) EachTotal(fn func(name string, v uint64)) {
	for i, p := range c.totals() {
		fn(TotalNames[i], *p)
	}
}

// Record is one flow's counters for one agent interval.
type Record struct {
	Key      Key
	Counters Counters
	// Merged marks an overflow row: flows beyond the report cap merged by
	// remote prefix. RemoteIP is then the prefix's address and RemoteBits
	// its length, so totals stay exact.
	Merged     bool
	RemoteBits uint8
}
