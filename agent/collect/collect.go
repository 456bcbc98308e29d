// Package collect is the contract between the agent's collectors (eBPF
// sock_ops, sock_diag) and its aggregator: collectors observe sockets and
// emit Events; the aggregator turns them into per-flow interval deltas.
// Both collectors emit the same events, so both modes produce the same
// records.
package collect

import (
	"context"
	"net/netip"

	"github.com/flowlens/flowlens/flow"
)

// Kind is what an Event reports.
type Kind uint8

const (
	// Snapshot: a socket's cumulative counters now (a sock_diag poll, or an
	// eBPF callback). The first snapshot of a socket that existed before the
	// agent started is a baseline: only growth after it counts.
	Snapshot Kind = iota + 1
	// Opened: a connection was established (active or passive); HandshakeUS
	// holds the handshake latency when known.
	Opened
	// Closed: the socket closed; Counters are final. With Opened set, the
	// connection's opening was not reported before and counts with it.
	Closed
	// Failed: a connection attempt failed or an established one was reset;
	// Reason says which. Counters are final; Opened as for Closed.
	Failed
	// RTTSample: RTT samples only (see Event.RTT).
	RTTSample
	// Synced: the collector has sent fresh counters of every socket after
	// a Sync request (see Syncer); the aggregator may close the interval.
	Synced
	// Aggregated: the ends of sockets the collector summed per flow
	// without reporting them one by one (Flow; Local, Remote and Passive
	// give the flow key, one of the ports being the service port). None
	// of those sockets was reported before, nor will be again.
	Aggregated
)

// MaxRTT is how many RTT samples one Event carries at most.
const MaxRTT = 8

// FailReason is why a connection failed.
type FailReason uint8

const (
	FailNone    FailReason = iota
	FailRefused            // connect answered by RST (no listener)
	FailTimeout            // connect never answered (SYN retries exhausted)
	FailReset              // reset while established
)

// Counters are a socket's cumulative TCP counters (from tcp_info or the
// sock_ops context).
type Counters struct {
	BytesAcked    uint64 // bytes sent and acknowledged
	BytesReceived uint64
	SegsOut       uint64
	SegsIn        uint64
	TotalRetrans  uint64 // retransmitted segments (tcpi_total_retrans)
	TotalRTO      uint64 // RTO events (tcpi_total_rto on kernels >= 6.7, else counted from callbacks)
	SRTTUS        uint32 // smoothed RTT in microseconds, 0 when unknown
}

// Event is one observation of one socket.
type Event struct {
	Kind     Kind
	Cookie   uint64 // socket cookie: unique per socket for the kernel's lifetime
	Local    netip.AddrPort
	Remote   netip.AddrPort
	Passive  bool // accepted by a listener (the local host is the server)
	Baseline bool // Snapshot of a socket that existed before the agent started
	Counters Counters
	// RTT holds NumRTT smoothed-RTT samples (µs) of the socket, taken
	// since its previous event; any kind of event may carry some.
	RTT         [MaxRTT]uint32
	NumRTT      uint8
	HandshakeUS uint32
	Reason      FailReason
	// Opened, on a Closed or Failed event, counts the connection opened
	// too: its opening was not reported by an earlier Opened event.
	Opened bool
	// Flow holds the sums of an Aggregated event.
	Flow *flow.Counters
}

// AddRTT appends one RTT sample, dropping it when the event is full.
func (e *Event) AddRTT(us uint32) {
	if int(e.NumRTT) < MaxRTT {
		e.RTT[e.NumRTT] = us
		e.NumRTT++
	}
}

// Stats are a collector's own counters, exported as agent metrics.
type Stats struct {
	SocketsTracked uint64
	SampledSockets uint64 // sockets not tracked because a map was full
	MapFullEvents  uint64
	LostEvents     uint64 // ring buffer or netlink ENOBUFS losses
	ENOBUFS        uint64
	RTTSkipped     uint64 // RTT callbacks skipped over the per-CPU budget (eBPF)
	Aggregated     uint64 // closed sockets summed per flow in the kernel or collector, not sent one by one
	FlowMapFull    uint64 // closed sockets sent one by one because the flow map was full (eBPF)
}

// Collector observes the sockets of a host (or a cgroup, or a network
// namespace) and sends Events until ctx is done.
type Collector interface {
	// Mode is "ebpf" or "sockdiag".
	Mode() string
	// Run seeds the sockets that already exist (as Baseline snapshots), then
	// streams events until ctx is done. It closes nothing it did not open
	// and detaches everything it attached before returning.
	// The caller reads events until Run has returned: a collector may
	// send its last observations after ctx is done.
	Run(ctx context.Context, events chan<- Event) error
	Stats() Stats
}

// Syncer is implemented by collectors that read counters on request
// rather than on their own clock (eBPF): the agent calls Sync before it
// closes an interval, and the collector answers by sending fresh counters
// of every socket that moved, then a Synced event. Sync does not block.
type Syncer interface {
	Sync()
}
