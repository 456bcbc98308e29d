// Package collect is the contract between the agent's collectors (eBPF
// sock_ops, sock_diag) and its aggregator: collectors observe sockets and
// emit Events; the aggregator turns them into per-flow interval deltas.
// Both collectors emit the same events, so both modes produce the same
// records.
package collect

import (
	"context"
	"net/netip"
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
	// Closed: the socket closed; Counters are final.
	Closed
	// Failed: a connection attempt failed or an established one was reset;
	// Reason says which. Counters are final.
	Failed
	// RTTSample: one RTT measurement (eBPF RTT callback); RTTUS holds it.
	RTTSample
)

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
	Kind        Kind
	Cookie      uint64 // socket cookie: unique per socket for the kernel's lifetime
	Local       netip.AddrPort
	Remote      netip.AddrPort
	Passive     bool // accepted by a listener (the local host is the server)
	Baseline    bool // Snapshot of a socket that existed before the agent started
	Counters    Counters
	RTTUS       uint32
	HandshakeUS uint32
	Reason      FailReason
}

// Stats are a collector's own counters, exported as agent metrics.
type Stats struct {
	SocketsTracked uint64
	SampledSockets uint64 // sockets not tracked because a map was full
	MapFullEvents  uint64
	LostEvents     uint64 // ring buffer or netlink ENOBUFS losses
	ENOBUFS        uint64
}

// Collector observes the sockets of a host (or a cgroup, or a network
// namespace) and sends Events until ctx is done.
type Collector interface {
	// Mode is "ebpf" or "sockdiag".
	Mode() string
	// Run seeds the sockets that already exist (as Baseline snapshots), then
	// streams events until ctx is done. It closes nothing it did not open
	// and detaches everything it attached before returning.
	Run(ctx context.Context, events chan<- Event) error
	Stats() Stats
}
