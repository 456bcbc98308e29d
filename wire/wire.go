// Package wire encodes and decodes agent reports (proto/flowlens/v1) and
// converts them to and from the flow model.
package wire

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"

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

// ErrTooLarge is returned when a body decompresses to more than the limit.
var ErrTooLarge = errors.New("report too large")

// Limits bound what one report may hold; the server answers 400 beyond them.
const (
	MaxFlowsPerReport = 200_000
	MaxAgentIDLen     = 256
)

var (
	zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	zstdDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
	gzipReaders    sync.Pool
)

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

// Decompress undoes Encode's compression, refusing output beyond limit bytes.
func Decompress(body []byte, encoding string, limit int64) ([]byte, error) {
	switch encoding {
	case EncodingZstd:
		out, err := zstdDecoder.DecodeAll(body, nil)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if int64(len(out)) > limit {
			return nil, ErrTooLarge
		}
		return out, nil
	case EncodingGzip:
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(body))
		} else {
			err = zr.Reset(bytes.NewReader(body))
		}
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer gzipReaders.Put(zr)
		out, err := io.ReadAll(io.LimitReader(zr, limit+1))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if int64(len(out)) > limit {
			return nil, ErrTooLarge
		}
		return out, nil
	case "", "identity":
		if int64(len(body)) > limit {
			return nil, ErrTooLarge
		}
		return body, nil
	}
	return nil, fmt.Errorf("unsupported Content-Encoding %q (want gzip or zstd)", encoding)
}

// Decode decompresses, unmarshals and validates a report body.
func Decode(body []byte, encoding string, limit int64) (*pb.Report, error) {
	raw, err := Decompress(body, encoding, limit)
	if err != nil {
		return nil, err
	}
	r := &pb.Report{}
	if err := proto.Unmarshal(raw, r); err != nil {
		return nil, fmt.Errorf("not a flowlens.v1.Report: %w", err)
	}
	if err := Validate(r); err != nil {
		return nil, err
	}
	return r, nil
}

// Validate checks what the server relies on and names the offending field.
func Validate(r *pb.Report) error {
	switch {
	case r.AgentId == "":
		return errors.New("agent_id is empty")
	case len(r.AgentId) > MaxAgentIDLen:
		return fmt.Errorf("agent_id is %d bytes, limit %d", len(r.AgentId), MaxAgentIDLen)
	case r.IntervalStartUnixMs <= 0 || r.IntervalEndUnixMs <= 0:
		return errors.New("interval_start_unix_ms and interval_end_unix_ms must be set")
	case r.IntervalEndUnixMs < r.IntervalStartUnixMs:
		return fmt.Errorf("interval ends (%d) before it starts (%d)", r.IntervalEndUnixMs, r.IntervalStartUnixMs)
	case len(r.Flows) > MaxFlowsPerReport:
		return fmt.Errorf("%d flows in one report, limit %d", len(r.Flows), MaxFlowsPerReport)
	}
	for i, f := range r.Flows {
		if err := validateFlow(f); err != nil {
			return fmt.Errorf("flows[%d]: %w", i, err)
		}
	}
	return nil
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
