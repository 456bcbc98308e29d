package wire

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/flowlens/flowlens/flow"
	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

func sampleRecord() flow.Record {
	rec := flow.Record{Key: flow.Key{
		LocalIP: netip.MustParseAddr("10.1.1.10"), RemoteIP: netip.MustParseAddr("2001:db8::1"),
		Port: 443, Direction: flow.DirectionClient, Protocol: flow.ProtocolTCP,
	}}
	rec.Counters.BytesSent = 1234
	rec.Counters.BytesReceived = 99999
	rec.Counters.Retransmissions = 7
	rec.Counters.Timeouts = 1
	rec.Counters.ConnectionsOpened = 3
	rec.Counters.FailedRefused = 1
	for _, us := range []uint64{150, 900, 20000} {
		rec.Counters.RTT.Observe(us)
	}
	return rec
}

// sampleEndMs ends the sample report's interval a minute ago, so that
// Decode (which checks against the real clock) accepts it.
var sampleEndMs = time.Now().Add(-time.Minute).UnixMilli()

// sampleHeader is a report without flows.
func sampleHeader() *pb.Report {
	return &pb.Report{AgentId: "a1", Sequence: 9, IntervalStartUnixMs: sampleEndMs - 5000, IntervalEndUnixMs: sampleEndMs,
		Host: &pb.Host{HostId: "h1", Hostname: "h1.example", Addresses: [][]byte{{10, 1, 1, 10}}}}
}

func sampleReport() *pb.Report {
	rec := sampleRecord()
	r := sampleHeader()
	r.Flows = []*pb.Flow{FromRecord(&rec)}
	return r
}

func TestRoundTrip(t *testing.T) {
	for _, enc := range []string{EncodingZstd, EncodingGzip, ""} {
		body, err := Encode(sampleReport(), enc)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Decode(body, enc, 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		var got flow.Record
		ToRecord(r.Flows[0], &got)
		want := sampleRecord()
		if got.Key != want.Key || got.Counters.BytesReceived != want.Counters.BytesReceived ||
			got.Counters.RTT.Count != 3 || got.Counters.RTT.SumUS != want.Counters.RTT.SumUS ||
			len(got.Counters.RTT.Hist.Bins) != len(want.Counters.RTT.Hist.Bins) ||
			got.Counters.ConnectionsFailed() != 1 {
			t.Errorf("%s: round trip changed the record: got %+v want %+v", enc, got, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	big := sampleReport()
	body, _ := Encode(big, EncodingGzip)
	if _, err := Decode(body, EncodingGzip, 10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit: got %v, want ErrTooLarge", err)
	}
	cases := []struct {
		name   string
		mutate func(r *pb.Report)
		want   string
	}{
		{"no agent", func(r *pb.Report) { r.AgentId = "" }, "agent_id is empty"},
		{"no interval", func(r *pb.Report) { r.IntervalStartUnixMs = 0 }, "interval_start_unix_ms"},
		{"backwards", func(r *pb.Report) { r.IntervalEndUnixMs = 10 }, "ends"},
		{"bad ip", func(r *pb.Report) { r.Flows[0].LocalIp = []byte{1, 2, 3} }, "flows[0]: local_ip has 3 bytes"},
		{"bad port", func(r *pb.Report) { r.Flows[0].Port = 70000 }, "flows[0]: port 70000"},
		{"bins", func(r *pb.Report) { r.Flows[0].Rtt.BinCount = nil }, "flows[0]: rtt: 3 bin_index but 0 bin_count"},
		{"bin range", func(r *pb.Report) { r.Flows[0].Rtt.BinIndex[2] = 999 }, "out of range"},
	}
	for _, c := range cases {
		r := sampleReport()
		c.mutate(r)
		body, _ := Encode(r, EncodingZstd)
		_, err := Decode(body, EncodingZstd, 1<<20)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want error containing %q", c.name, err, c.want)
		}
	}
	if _, err := Decode([]byte("not zstd"), EncodingZstd, 1<<20); err == nil {
		t.Error("garbage zstd accepted")
	}
	if _, err := Decode([]byte{0xff, 0xff}, "", 1<<20); err == nil {
		t.Error("garbage protobuf accepted")
	}
	if _, err := Decode(nil, "br", 1<<20); err == nil || !strings.Contains(err.Error(), "Content-Encoding") {
		t.Errorf("unknown encoding: %v", err)
	}
}

// FuzzDecode: no body, however malformed, may panic the decoder, and every
// report it accepts must convert to records.
func FuzzDecode(f *testing.F) {
	for _, enc := range []string{EncodingZstd, EncodingGzip, ""} {
		body, _ := Encode(sampleReport(), enc)
		f.Add(body, enc)
	}
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, body []byte, enc string) {
		r, err := Decode(body, enc, 1<<20)
		if err != nil {
			return
		}
		if enc == "" {
			// The streaming reader builds what proto.Unmarshal builds.
			want := &pb.Report{}
			if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, want); err != nil || !proto.Equal(r, want) {
				t.Fatalf("streaming decode accepted what proto.Unmarshal gives differently (%v):\n%v\n%v", err, r, want)
			}
		}
		var rec flow.Record
		for _, fl := range r.Flows {
			ToRecord(fl, &rec)
			if !rec.Key.LocalIP.IsValid() || !rec.Key.RemoteIP.IsValid() {
				t.Fatalf("accepted flow with invalid address: %v", fl)
			}
		}
	})
}

// BenchmarkDecode decodes a zstd report of 10,000 flows with RTT
// histograms (the agent's default report cap).
func BenchmarkDecode(b *testing.B) {
	r := sampleHeader()
	for i := range 10_000 {
		rec := sampleRecord()
		rec.Key.Port = uint16(i)
		r.Flows = append(r.Flows, FromRecord(&rec))
	}
	body, err := Encode(r, EncodingZstd)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(body, EncodingZstd, 256<<20); err != nil {
			b.Fatal(err)
		}
	}
}
