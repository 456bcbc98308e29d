package wire

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

// compress streams size bytes produced by fill (called with a reusable
// chunk) through the encoder, so that tests can build bodies that expand
// to gigabytes without holding the expansion.
func compress(t testing.TB, encoding string, size int64, fill func(chunk []byte)) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch encoding {
	case EncodingZstd:
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	case EncodingGzip:
		w, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	default:
		t.Fatalf("encoding %q", encoding)
	}
	chunk := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(chunk)) {
		c := chunk[:min(int64(len(chunk)), left)]
		fill(c)
		if _, err := w.Write(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// allocated runs fn and returns the bytes it allocated on the heap. It is
// a count, not a timing: the same input allocates the same amount.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// testNow is the server clock of these tests; sampleReport's interval
// ends just before it.
var testNow = time.UnixMilli(sampleEndMs).Add(time.Second)

// A few bytes of zstd that expand to 16 MiB of empty flows entries (2
// bytes each on the wire) used to become 8 million pb.Flow structs before
// the flow limit was checked. Now the first entry is refused before any
// other is unmarshalled.
func TestEmptyFlowsBombRefusedBeforeUnmarshal(t *testing.T) {
	emptyFlow := []byte{6<<3 | 2, 0} // field 6 (flows), length 0
	for _, enc := range []string{EncodingZstd, EncodingGzip} {
		body := compress(t, enc, 16<<20, func(c []byte) {
			for i := 0; i+1 < len(c); i += 2 {
				copy(c[i:], emptyFlow)
			}
		})
		var err error
		n := allocated(func() { _, err = Decode(body, enc, 256<<20) })
		if err == nil || !strings.Contains(err.Error(), "flows[0]") {
			t.Errorf("%s: got %v, want the first flow refused", enc, err)
		}
		if n > 32<<20 {
			t.Errorf("%s: decoding the bomb allocated %d MiB, want under 32 MiB", enc, n>>20)
		}
	}
}

// minimalFlow is the smallest flow that validates (two IPv4 addresses).
func minimalFlow() []byte {
	f, _ := proto.Marshal(&pb.Flow{LocalIp: []byte{10, 0, 0, 1}, RemoteIp: []byte{10, 0, 0, 2}, Port: 443})
	return protowire.AppendBytes(protowire.AppendTag(nil, 6, protowire.BytesType), f)
}

// Valid minimal flows past the 50,000 limit are refused as too large
// (413, so the publisher splits) while they are counted, before the rest
// of the body is unmarshalled.
func TestTooManyFlowsRefusedWhileCounting(t *testing.T) {
	head, _ := proto.Marshal(sampleHeader())
	one := minimalFlow()
	raw := append([]byte(nil), head...)
	for range 2_000_000 {
		raw = append(raw, one...)
	}
	body, _ := zstdEncoder.EncodeAll(raw, nil), 0
	var err error
	n := allocated(func() { _, err = Decode(body, EncodingZstd, 256<<20) })
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "50000 flows") {
		t.Errorf("got %v, want ErrTooLarge naming the 50000 flows limit", err)
	}
	if n > 64<<20 {
		t.Errorf("refusing 2,000,000 flows allocated %d MiB, want under 64 MiB (the structs of at most 50,000)", n>>20)
	}
}

// A 32 KB zstd body of 1,000 MiB of zeros used to be decompressed whole
// (DecodeAll, up to 1 GiB) before the 256 MiB limit was checked. Zeros are
// not a protobuf field, so decoding now stops at the first byte; and a
// well-formed body that keeps going (flows padded with unknown fields)
// stops at the decoded limit while streaming.
func TestZstdZerosBombStopsAtLimit(t *testing.T) {
	padded := paddedFlow(60 << 10)
	for _, enc := range []string{EncodingZstd, EncodingGzip} {
		zeros := compress(t, enc, 1000<<20, func(c []byte) { clear(c) })
		var err error
		n := allocated(func() { _, err = Decode(zeros, enc, 256<<20) })
		if err == nil {
			t.Errorf("%s zeros: accepted", enc)
		}
		if n > 32<<20 {
			t.Errorf("%s zeros: allocated %d MiB, want under 32 MiB", enc, n>>20)
		}

		at := 0 // position in padded, across chunks
		flows := compress(t, enc, 600<<20, func(c []byte) {
			for i := 0; i < len(c); {
				n := copy(c[i:], padded[at:])
				i += n
				at = (at + n) % len(padded)
			}
		})
		n = allocated(func() { _, err = Decode(flows, enc, 64<<20) })
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "67108864") {
			t.Errorf("%s padded flows: got %v, want ErrTooLarge naming the 64 MiB limit", enc, err)
		}
		if n > 48<<20 {
			t.Errorf("%s padded flows: allocated %d MiB, want under 48 MiB", enc, n>>20)
		}
	}
}

// paddedFlow is a valid flow entry of about size bytes: the rest is an
// unknown field the server discards.
func paddedFlow(size int) []byte {
	f, _ := proto.Marshal(&pb.Flow{LocalIp: []byte{10, 0, 0, 1}, RemoteIp: []byte{10, 0, 0, 2}, Port: 443})
	f = protowire.AppendBytes(protowire.AppendTag(f, 1000, protowire.BytesType), make([]byte, size))
	return protowire.AppendBytes(protowire.AppendTag(nil, 6, protowire.BytesType), f)
}

// A report whose interval ends in the year 292,278,994 used to be stored
// and never expire; it could pre-fill a future monitor window.
func TestFutureIntervalEndRefused(t *testing.T) {
	nowMs := testNow.UnixMilli()
	cases := []struct {
		name       string
		start, end int64
		want       string // "" accepts
	}{
		{"now", nowMs - 5000, nowMs, ""},
		{"clock 9m ahead", nowMs + 9*60_000 - 5000, nowMs + 9*60_000, ""},
		{"11m ahead", nowMs + 11*60_000 - 5000, nowMs + 11*60_000, "interval_end_unix_ms"},
		{"year 292278994", math.MaxInt64 - 5000, math.MaxInt64, "interval_end_unix_ms"},
		{"start in 1970", 1, nowMs, "interval_start_unix_ms"},
		{"end 31 days old", nowMs - 31*24*3_600_000 - 5000, nowMs - 31*24*3_600_000, "interval_end_unix_ms"},
		{"end 29 days old", nowMs - 29*24*3_600_000 - 5000, nowMs - 29*24*3_600_000, ""},
	}
	for _, c := range cases {
		r := sampleReport()
		r.IntervalStartUnixMs, r.IntervalEndUnixMs = c.start, c.end
		err := Validate(r, testNow)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrBadTime)):
			t.Errorf("%s: got %v, want ErrBadTime naming %s", c.name, err, c.want)
		}
	}
}

// Host metadata beyond its field limits, or a megabyte of fields other
// than flows, is refused before it reaches the agent registry.
func TestHugeHostFieldsRefused(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*pb.Report)
		want   string
	}{
		{"8 MB hostname", func(r *pb.Report) { r.Host.Hostname = strings.Repeat("h", 8<<20) }, "field 3"},
		{"host_id", func(r *pb.Report) { r.Host.HostId = strings.Repeat("h", 300) }, "host.host_id is 300 bytes"},
		{"bad address", func(r *pb.Report) { r.Host.Addresses = [][]byte{{1, 2, 3}} }, "host.addresses[0] has 3 bytes"},
	}
	for _, c := range cases {
		r := sampleReport()
		c.mutate(r)
		body, _ := Encode(r, EncodingZstd)
		_, err := DecodeLimited(body, EncodingZstd, DefaultLimits(), testNow)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}
