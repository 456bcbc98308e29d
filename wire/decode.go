package wire

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unsafe"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

// Limits bound what DecodeLimited accepts and what decoding one report may
// cost. Beyond MaxDecodedBytes, MaxFlows or MaxMemoryBytes the error wraps
// ErrTooLarge (the server answers 413 and the publisher splits the report).
type Limits struct {
	// MaxDecodedBytes bounds the decompressed report; decompression stops
	// there, it never runs to the end first.
	MaxDecodedBytes int64
	// MaxFlows bounds the flows of one report; they are counted as they
	// are read, so the one past the limit is never unmarshalled.
	MaxFlows int
	// MaxMemoryBytes bounds the estimated memory of the decoded flows
	// (their structs and histogram bins, see flowMemory).
	MaxMemoryBytes int64
}

// DefaultLimits are the server's defaults.
func DefaultLimits() Limits {
	return Limits{MaxDecodedBytes: 256 << 20, MaxFlows: MaxFlowsPerReport, MaxMemoryBytes: DefaultMaxReportMemory}
}

// Structural limits of the decoder; they are not configurable because no
// agent comes near them.
const (
	// DefaultMaxReportMemory fits 50,000 flows with a few histogram
	// bins each (about 21 MB); full histograms on every flow need
	// splitting, which the publisher does on 413.
	DefaultMaxReportMemory = 32 << 20
	// MaxFlowBytes bounds one encoded flow: a flow with both histograms
	// full is about 3.5 KiB.
	MaxFlowBytes = 64 << 10
	// MaxHeaderBytes bounds every field of a report but its flows (agent
	// id, host, interval, stats).
	MaxHeaderBytes = 1 << 20
	// MaxZstdWindow bounds the window a zstd frame may declare: the
	// decoder keeps a window of history. Our encoder uses 4 MiB; the
	// reference encoder stays within 8 MiB up to level 19.
	MaxZstdWindow = 8 << 20
)

// Memory of a decoded flow: the struct, its pointer in Report.Flows and the
// two address slices (rounded to the allocator's 16-byte class).
var (
	flowStructBytes    = int64(unsafe.Sizeof(pb.Flow{})) + 8 + 2*16
	latencyStructBytes = int64(unsafe.Sizeof(pb.Latency{}))
)

// flowMemory estimates what a decoded flow holds on the heap.
func flowMemory(f *pb.Flow) int64 {
	n := flowStructBytes
	for _, l := range [...]*pb.Latency{f.Rtt, f.Handshake} {
		if l != nil {
			n += latencyStructBytes + 4*int64(cap(l.BinIndex)) + 8*int64(cap(l.BinCount))
		}
	}
	return n
}

// DecodeLimited decompresses, reads and validates a report body within lim,
// checking its times against now. It streams: the decompressed report is
// never held whole, each flow is unmarshalled and validated as it is read,
// and unknown fields are discarded.
func DecodeLimited(body []byte, encoding string, lim Limits, now time.Time) (*pb.Report, error) {
	src, release, err := decompressor(body, encoding)
	if err != nil {
		return nil, err
	}
	defer release()
	r, err := readReport(&limitReader{r: src, left: lim.MaxDecodedBytes, limit: lim.MaxDecodedBytes}, lim)
	if err != nil {
		return nil, err
	}
	if err := validateHeader(r, now); err != nil {
		return nil, err
	}
	return r, nil
}

var unmarshal = proto.UnmarshalOptions{DiscardUnknown: true}

// readReport reads a Report field by field. Flows (field 6) are
// unmarshalled one at a time, counted and their memory estimated before the
// next is read; every other field is gathered (at most MaxHeaderBytes) and
// unmarshalled at the end. Protobuf allows fields in any order and
// repeated, so this is the same message proto.Unmarshal would build.
func readReport(src io.Reader, lim Limits) (*pb.Report, error) {
	br := bufio.NewReaderSize(src, 32<<10)
	var head, buf []byte
	var flows []*pb.Flow
	var mem int64
	for {
		tag, err := binary.ReadUvarint(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, truncated(err, "a field tag")
		}
		num, typ := protowire.DecodeTag(tag)
		if num < protowire.MinValidNumber {
			return nil, fmt.Errorf("not a flowlens.v1.Report: invalid field number %d", num)
		}
		if num == flowsField {
			if typ != protowire.BytesType {
				return nil, fmt.Errorf("flows[%d]: wire type %d, want length-delimited", len(flows), typ)
			}
			if len(flows) >= lim.MaxFlows {
				return nil, fmt.Errorf("%w: more than %d flows in one report", ErrTooLarge, lim.MaxFlows)
			}
			if buf, err = readBytes(br, buf, MaxFlowBytes); err != nil {
				return nil, fmt.Errorf("flows[%d]: %w", len(flows), err)
			}
			f := &pb.Flow{}
			if err := unmarshal.Unmarshal(buf, f); err != nil {
				return nil, fmt.Errorf("flows[%d]: %w", len(flows), err)
			}
			if err := validateFlow(f); err != nil {
				return nil, fmt.Errorf("flows[%d]: %w", len(flows), err)
			}
			if mem += flowMemory(f); mem > lim.MaxMemoryBytes {
				return nil, fmt.Errorf("%w: %d flows already take about %d MiB in memory, limit %d MiB",
					ErrTooLarge, len(flows)+1, mem>>20, lim.MaxMemoryBytes>>20)
			}
			flows = append(flows, f)
			continue
		}
		if head, err = appendField(br, head, tag, num, typ); err != nil {
			return nil, err
		}
	}
	r := &pb.Report{}
	if err := unmarshal.Unmarshal(head, r); err != nil {
		return nil, fmt.Errorf("not a flowlens.v1.Report: %w", err)
	}
	r.Flows = flows
	return r, nil
}

const flowsField = 6

// appendField copies one non-flow field (tag already read) to head.
func appendField(br *bufio.Reader, head []byte, tag uint64, num protowire.Number, typ protowire.Type) ([]byte, error) {
	head = protowire.AppendVarint(head, tag)
	switch typ {
	case protowire.VarintType:
		v, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, truncated(err, fmt.Sprintf("field %d", num))
		}
		head = protowire.AppendVarint(head, v)
	case protowire.Fixed32Type, protowire.Fixed64Type:
		size := 4
		if typ == protowire.Fixed64Type {
			size = 8
		}
		var b [8]byte
		if _, err := io.ReadFull(br, b[:size]); err != nil {
			return nil, truncated(err, fmt.Sprintf("field %d", num))
		}
		head = append(head, b[:size]...)
	case protowire.BytesType:
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, truncated(err, fmt.Sprintf("field %d", num))
		}
		if n > uint64(MaxHeaderBytes-len(head)) {
			return nil, fmt.Errorf("field %d is %d bytes; the fields other than flows may take %d bytes in all", num, n, MaxHeaderBytes)
		}
		head = protowire.AppendVarint(head, n)
		start := len(head)
		head = append(head, make([]byte, n)...)
		if _, err := io.ReadFull(br, head[start:]); err != nil {
			return nil, truncated(err, fmt.Sprintf("field %d", num))
		}
	default:
		return nil, fmt.Errorf("field %d: wire type %d is not supported", num, typ)
	}
	if len(head) > MaxHeaderBytes {
		return nil, fmt.Errorf("the fields other than flows take over %d bytes", MaxHeaderBytes)
	}
	return head, nil
}

// readBytes reads a length-prefixed value of at most max bytes into buf.
func readBytes(br *bufio.Reader, buf []byte, max int) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, truncated(err, "length")
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%d bytes, limit %d", n, max)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, truncated(err, "value")
	}
	return buf, nil
}

// truncated names what a body ended inside of; other errors (the limit,
// the decompressor's) pass through.
func truncated(err error, what string) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("body ends inside %s", what)
	}
	return err
}

// limitReader fails with ErrTooLarge as soon as more than limit bytes come
// out of r.
type limitReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), fmt.Errorf("%w: decompresses to over %d bytes", ErrTooLarge, l.limit)
	}
	return n, err
}

// decompressor returns a stream of the decompressed body and a function
// that returns its decoder to the pool.
func decompressor(body []byte, encoding string) (io.Reader, func(), error) {
	// The struct hides bytes.Reader's Len and Bytes: given those, the zstd
	// decoder would decompress the whole body at once.
	in := struct{ io.Reader }{bytes.NewReader(body)}
	switch encoding {
	case EncodingZstd:
		d, err := getZstd(in)
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return errPrefix{d, "zstd"}, func() { putZstd(d) }, nil
	case EncodingGzip:
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(in)
		} else {
			err = zr.Reset(in)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return errPrefix{zr, "gzip"}, func() { gzipReaders.Put(zr) }, nil
	case "", "identity":
		return in, func() {}, nil
	}
	return nil, nil, fmt.Errorf("unsupported Content-Encoding %q (want gzip or zstd)", encoding)
}

// errPrefix names the decompressor in its errors.
type errPrefix struct {
	r    io.Reader
	name string
}

func (e errPrefix) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	switch {
	case err == nil || err == io.EOF:
		return n, err
	case errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return n, fmt.Errorf("zstd: a frame declares a window over %d MiB: %w", MaxZstdWindow>>20, err)
	}
	return n, fmt.Errorf("%s: %w", e.name, err)
}

// Streaming zstd decoders, synchronous (no goroutines), reused. Each keeps
// a window of history (at most MaxZstdWindow) between uses.
var (
	zstdFree    = make(chan *zstd.Decoder, 16)
	gzipReaders sync.Pool
)

func getZstd(r io.Reader) (*zstd.Decoder, error) {
	select {
	case d := <-zstdFree:
		if err := d.Reset(r); err != nil {
			d.Close()
			return nil, err
		}
		return d, nil
	default:
		return zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(MaxZstdWindow),
			zstd.WithDecodeBuffersBelow(0))
	}
}

func putZstd(d *zstd.Decoder) {
	d.Reset(nil) // drop the body
	select {
	case zstdFree <- d:
	default:
		d.Close()
	}
}
