// Package wire encodes and decodes agent reports (proto/flowlens/v1) and
// converts them to and from the flow model.
package wire

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	"github.com/flowlens/flowlens/flow"
	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

// ContentType is the media type of an encoded report.
const ContentType = "application/x-protobuf"

// Encodings a report body may be compressed with.
const (
	EncodingGzip = "gzip"
	EncodingZstd = "zstd"
)

// ErrTooLarge is wrapped by every refusal that a smaller report would
// avoid (decoded size, flow count, memory); the server answers 413.
var ErrTooLarge = errors.New("report too large")

// ErrBadTime is wrapped by refusals of a report's interval times.
var ErrBadTime = errors.New("bad interval time")

// Limits on what one report may hold.
const (
	MaxFlowsPerReport = 50_000
	MaxAgentIDLen     = 256
	// MaxHostIDLen bounds host.host_id, which is stored with every flow.
	MaxHostIDLen = 256
	// MaxHostAddresses bounds host.addresses.
	MaxHostAddresses = 1024
)

// Time limits: agents report closed intervals of at most 10 minutes
// (--interval), from a spool that may hold days of an outage.
const (
	// MaxFutureSkew is how far past the server's clock an interval may end
	// (clock skew between hosts).
	MaxFutureSkew = 10 * time.Minute
	// MaxReportAge is how far before the server's clock an interval may
	// end: older raw rows would be deleted at once (7 days) and only
	// rewrite month-old roll-ups.
	MaxReportAge = 30 * 24 * time.Hour
	// MaxIntervalLength bounds interval_end - interval_start.
	MaxIntervalLength = time.Hour
)

var zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))

// Encode marshals and compresses a report.
func Encode(r *pb.Report, encoding string) ([]byte, error) {
	raw, err := proto.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("marshal report: %w", err)
	}
	switch encoding {
	case EncodingZstd:
		return zstdEncoder.EncodeAll(raw, make([]byte, 0, len(raw)/4)), nil
	case EncodingGzip:
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write(raw)
		if err := zw.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case "", "identity":
		return raw, nil
	}
	return nil, fmt.Errorf("unknown content encoding %q (want gzip or zstd)", encoding)
}

// Decompress undoes Encode's compression, streaming, and stops with
// ErrTooLarge as soon as the output passes limit bytes.
func Decompress(body []byte, encoding string, limit int64) ([]byte, error) {
	src, release, err := decompressor(body, encoding)
	if err != nil {
		return nil, err
	}
	defer release()
	return io.ReadAll(&limitReader{r: src, left: limit, limit: limit})
}

// Decode decompresses, reads and validates a report body with the default
// limits, limit decoded bytes and the current time (see DecodeLimited).
func Decode(body []byte, encoding string, limit int64) (*pb.Report, error) {
	lim := DefaultLimits()
	lim.MaxDecodedBytes = limit
	return DecodeLimited(body, encoding, lim, time.Now())
}

// Validate checks what the server relies on, with now as the server's
// clock, and names the offending field.
func Validate(r *pb.Report, now time.Time) error {
	if err := validateHeader(r, now); err != nil {
		return err
	}
	if len(r.Flows) > MaxFlowsPerReport {
		return fmt.Errorf("%w: %d flows in one report, limit %d", ErrTooLarge, len(r.Flows), MaxFlowsPerReport)
	}
	for i, f := range r.Flows {
		if err := validateFlow(f); err != nil {
			return fmt.Errorf("flows[%d]: %w", i, err)
		}
	}
	return nil
}

// validateHeader checks everything but the flows.
func validateHeader(r *pb.Report, now time.Time) error {
	switch {
	case r.AgentId == "":
		return errors.New("agent_id is empty")
	case len(r.AgentId) > MaxAgentIDLen:
		return fmt.Errorf("agent_id is %d bytes, limit %d", len(r.AgentId), MaxAgentIDLen)
	}
	if err := validateHost(r.Host); err != nil {
		return err
	}
	return validateInterval(r.IntervalStartUnixMs, r.IntervalEndUnixMs, now)
}

func validateHost(h *pb.Host) error {
	if h == nil {
		return nil
	}
	if len(h.HostId) > MaxHostIDLen {
		return fmt.Errorf("host.host_id is %d bytes, limit %d", len(h.HostId), MaxHostIDLen)
	}
	if len(h.Addresses) > MaxHostAddresses {
		return fmt.Errorf("host.addresses has %d entries, limit %d", len(h.Addresses), MaxHostAddresses)
	}
	for i, a := range h.Addresses {
		if len(a) != 4 && len(a) != 16 {
			return fmt.Errorf("host.addresses[%d] has %d bytes, want 4 or 16", i, len(a))
		}
	}
	return nil
}

// validateInterval bounds a report's interval by the server's clock, so a
// report can neither pre-fill future windows nor claim a decade-long
// interval.
func validateInterval(startMs, endMs int64, now time.Time) error {
	nowMs := now.UnixMilli()
	switch {
	case startMs <= 0 || endMs <= 0:
		return errors.New("interval_start_unix_ms and interval_end_unix_ms must be set")
	case endMs < startMs:
		return fmt.Errorf("interval ends (%d) before it starts (%d)", endMs, startMs)
	case endMs > nowMs+MaxFutureSkew.Milliseconds():
		return fmt.Errorf("%w: interval_end_unix_ms %d is %s ahead of the server's clock, limit %s (check the agent's clock)",
			ErrBadTime, endMs, farAhead(endMs-nowMs), MaxFutureSkew)
	case endMs < nowMs-MaxReportAge.Milliseconds():
		return fmt.Errorf("%w: interval_end_unix_ms %d is %s old, limit %s",
			ErrBadTime, endMs, time.Duration(nowMs-endMs)*time.Millisecond, MaxReportAge)
	case endMs-startMs > MaxIntervalLength.Milliseconds():
		return fmt.Errorf("%w: interval_start_unix_ms %d is %s before interval_end_unix_ms, limit %s",
			ErrBadTime, startMs, farAhead(endMs-startMs), MaxIntervalLength)
	}
	return nil
}

// farAhead formats a millisecond span that may not fit a time.Duration.
func farAhead(ms int64) string {
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return fmt.Sprintf("%d days", ms/86_400_000)
	}
	return (time.Duration(ms) * time.Millisecond).String()
}

func validateFlow(f *pb.Flow) error {
	if _, ok := netip.AddrFromSlice(f.LocalIp); !ok {
		return fmt.Errorf("local_ip has %d bytes, want 4 or 16", len(f.LocalIp))
	}
	if _, ok := netip.AddrFromSlice(f.RemoteIp); !ok {
		return fmt.Errorf("remote_ip has %d bytes, want 4 or 16", len(f.RemoteIp))
	}
	if f.Port > 65535 {
		return fmt.Errorf("port %d out of range", f.Port)
	}
	if f.Protocol > 255 {
		return fmt.Errorf("protocol %d out of range", f.Protocol)
	}
	if f.MergedRemotePrefixLen > 128 {
		return fmt.Errorf("merged_remote_prefix_len %d out of range", f.MergedRemotePrefixLen)
	}
	if err := validateLatency(f.Rtt); err != nil {
		return fmt.Errorf("rtt: %w", err)
	}
	if err := validateLatency(f.Handshake); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	return nil
}

func validateLatency(l *pb.Latency) error {
	if l == nil {
		return nil
	}
	if len(l.BinIndex) != len(l.BinCount) {
		return fmt.Errorf("%d bin_index but %d bin_count", len(l.BinIndex), len(l.BinCount))
	}
	for i, b := range l.BinIndex {
		if b >= flow.NumBins {
			return fmt.Errorf("bin_index[%d]=%d out of range", i, b)
		}
		if i > 0 && b <= l.BinIndex[i-1] {
			return fmt.Errorf("bin_index not strictly increasing at %d", i)
		}
	}
	return nil
}

// ToRecord converts a validated wire flow to the flow model.
func ToRecord(f *pb.Flow, rec *flow.Record) {
	local, _ := netip.AddrFromSlice(f.LocalIp)
	remote, _ := netip.AddrFromSlice(f.RemoteIp)
	*rec = flow.Record{
		Key: flow.Key{
			LocalIP:   local.Unmap(),
			RemoteIP:  remote.Unmap(),
			Port:      uint16(f.Port),
			Direction: flow.Direction(f.Direction),
			Protocol:  uint8(f.Protocol),
		},
		Counters: flow.Counters{
			BytesSent:         f.BytesSent,
			BytesReceived:     f.BytesReceived,
			SegmentsSent:      f.SegmentsSent,
			SegmentsReceived:  f.SegmentsReceived,
			Retransmissions:   f.Retransmissions,
			Timeouts:          f.Timeouts,
			ConnectionsOpened: f.ConnectionsOpened,
			ConnectionsClosed: f.ConnectionsClosed,
			FailedRefused:     f.FailedRefused,
			FailedTimeout:     f.FailedTimeout,
			FailedReset:       f.FailedReset,
			RTT:               toLatency(f.Rtt),
			HandshakeLatency:  toLatency(f.Handshake),
		},
		Merged:     f.Merged,
		RemoteBits: uint8(f.MergedRemotePrefixLen),
	}
}

func toLatency(l *pb.Latency) flow.Latency {
	if l == nil {
		return flow.Latency{}
	}
	out := flow.Latency{Count: l.Count, SumUS: l.SumUs, MinUS: l.MinUs, MaxUS: l.MaxUs}
	if len(l.BinIndex) > 0 {
		out.Hist.Bins = make([]flow.Bin, len(l.BinIndex))
		for i := range l.BinIndex {
			out.Hist.Bins[i] = flow.Bin{Index: uint8(l.BinIndex[i]), Count: l.BinCount[i]}
		}
	}
	return out
}

// FromRecord converts a flow record to its wire form.
func FromRecord(rec *flow.Record) *pb.Flow {
	c := &rec.Counters
	return &pb.Flow{
		LocalIp:               rec.Key.LocalIP.AsSlice(),
		RemoteIp:              rec.Key.RemoteIP.AsSlice(),
		Port:                  uint32(rec.Key.Port),
		Direction:             pb.Direction(rec.Key.Direction),
		Protocol:              uint32(rec.Key.Protocol),
		BytesSent:             c.BytesSent,
		BytesReceived:         c.BytesReceived,
		SegmentsSent:          c.SegmentsSent,
		SegmentsReceived:      c.SegmentsReceived,
		Retransmissions:       c.Retransmissions,
		Timeouts:              c.Timeouts,
		ConnectionsOpened:     c.ConnectionsOpened,
		ConnectionsClosed:     c.ConnectionsClosed,
		FailedRefused:         c.FailedRefused,
		FailedTimeout:         c.FailedTimeout,
		FailedReset:           c.FailedReset,
		Rtt:                   fromLatency(&c.RTT),
		Handshake:             fromLatency(&c.HandshakeLatency),
		Merged:                rec.Merged,
		MergedRemotePrefixLen: uint32(rec.RemoteBits),
	}
}

func fromLatency(l *flow.Latency) *pb.Latency {
	if l.Count == 0 {
		return nil
	}
	out := &pb.Latency{Count: l.Count, SumUs: l.SumUS, MinUs: l.MinUS, MaxUs: l.MaxUS,
		BinIndex: make([]uint32, len(l.Hist.Bins)), BinCount: make([]uint64, len(l.Hist.Bins))}
	for i, b := range l.Hist.Bins {
		out.BinIndex[i] = uint32(b.Index)
		out.BinCount[i] = b.Count
	}
	return out
}
