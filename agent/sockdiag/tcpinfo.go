package sockdiag

import (
	"encoding/binary"

	"github.com/flowlens/flowlens/agent/collect"
)

// TCPInfo is the part of the kernel's struct tcp_info the agent uses.
// Fields the running kernel does not provide (its struct is shorter) stay
// zero and their Has flag says so.
type TCPInfo struct {
	State        uint8
	Retransmits  uint8  // SYN or data retransmissions since the last ACK (icsk_retransmits)
	Backoff      uint8  // RTO backoff exponent
	RTTUS        uint32 // smoothed RTT (tcpi_rtt), microseconds
	TotalRetrans uint32 // retransmitted segments over the socket's life
	BytesAcked   uint64 // kernel >= 4.1
	BytesRecv    uint64 // kernel >= 4.1
	SegsOut      uint32 // kernel >= 4.2
	SegsIn       uint32 // kernel >= 4.2
	Delivered    uint32 // kernel >= 4.18: segments delivered, the SYN included
	TotalRTO     uint16 // kernel >= 6.7: RTO events

	HasBytes     bool
	HasSegs      bool
	HasDelivered bool
	HasTotalRTO  bool
}

// Offsets into struct tcp_info (include/uapi/linux/tcp.h). The struct only
// ever grows at its end, so a field is present iff the attribute is long
// enough to hold it; this is how one binary reads every kernel's layout.
const (
	offState        = 0
	offRetransmits  = 2
	offBackoff      = 4
	offRTT          = 68
	offTotalRetrans = 100
	offBytesAcked   = 120
	offBytesRecv    = 128
	offSegsOut      = 136
	offSegsIn       = 140
	offDelivered    = 192
	offTotalRTO     = 240
)

// ParseTCPInfo decodes a tcp_info attribute of any length. It returns false
// if b is too short to hold even the fields every kernel has had since 2.6
// (through tcpi_total_retrans).
func ParseTCPInfo(b []byte) (TCPInfo, bool) {
	var t TCPInfo
	if len(b) < offTotalRetrans+4 {
		return t, false
	}
	le := binary.NativeEndian
	t.State = b[offState]
	t.Retransmits = b[offRetransmits]
	t.Backoff = b[offBackoff]
	t.RTTUS = le.Uint32(b[offRTT:])
	t.TotalRetrans = le.Uint32(b[offTotalRetrans:])
	if len(b) >= offBytesRecv+8 {
		t.HasBytes = true
		t.BytesAcked = le.Uint64(b[offBytesAcked:])
		t.BytesRecv = le.Uint64(b[offBytesRecv:])
	}
	if len(b) >= offSegsIn+4 {
		t.HasSegs = true
		t.SegsOut = le.Uint32(b[offSegsOut:])
		t.SegsIn = le.Uint32(b[offSegsIn:])
	}
	if len(b) >= offDelivered+4 {
		t.HasDelivered = true
		t.Delivered = le.Uint32(b[offDelivered:])
	}
	if len(b) >= offTotalRTO+2 {
		t.HasTotalRTO = true
		t.TotalRTO = le.Uint16(b[offTotalRTO:])
	}
	return t, true
}

// Counters returns the socket's cumulative counters as collectors report
// them (fields the kernel does not provide stay zero).
func (t *TCPInfo) Counters() collect.Counters {
	return collect.Counters{
		BytesAcked:    t.BytesAcked,
		BytesReceived: t.BytesRecv,
		SegsOut:       uint64(t.SegsOut),
		SegsIn:        uint64(t.SegsIn),
		TotalRetrans:  uint64(t.TotalRetrans),
		TotalRTO:      uint64(t.TotalRTO),
		SRTTUS:        t.RTTUS,
	}
}
