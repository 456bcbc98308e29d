package wire

import (
	"testing"
	"time"

	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

func TestEpochSurvivesStreamingDecode(t *testing.T) {
	now := time.Now()
	r := &pb.Report{AgentId: "a", Epoch: 0xdeadbeefcafef00d, Sequence: 7, Host: &pb.Host{HostId: "h"},
		IntervalStartUnixMs: now.Add(-time.Minute).UnixMilli(), IntervalEndUnixMs: now.UnixMilli()}
	for _, enc := range []string{EncodingZstd, EncodingGzip, ""} {
		body, err := Encode(r, enc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(body, enc, 1<<20)
		if err != nil || got.Epoch != r.Epoch || got.Sequence != 7 {
			t.Fatalf("%s: epoch %x seq %d err %v", enc, got.GetEpoch(), got.GetSequence(), err)
		}
	}
}
