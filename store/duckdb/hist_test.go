package duckdb

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/flowlens/flowlens/flow"
)

func TestLatencyHistRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 200 {
		var rtt, hs flow.Latency
		for range rng.IntN(50) {
			rtt.Observe(rng.Uint64N(1 << uint(1+rng.IntN(40))))
		}
		for range rng.IntN(3) {
			hs.Observe(rng.Uint64N(1 << 20))
		}
		blob := appendLatencyHist(nil, &rtt.Hist, &hs.Hist)
		gotRTT, gotHS, err := decodeLatencyHist(blob)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !slices.Equal(gotRTT.Bins, rtt.Hist.Bins) || !slices.Equal(gotHS.Bins, hs.Hist.Bins) {
			t.Fatalf("case %d: round trip differs", i)
		}
	}
}

func TestDenseHistMatchesMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var merged flow.Histogram
	var d denseHist
	for range 100 {
		var l flow.Latency
		for range rng.IntN(20) {
			l.Observe(rng.Uint64N(1 << 30))
		}
		merged.Merge(&l.Hist)
		d.addBins(l.Hist.Bins)
	}
	want := appendSparseHist(nil, merged.Bins)
	if got := d.appendSparse(nil); !slices.Equal(got, want) {
		t.Errorf("dense encoding %x, want %x", got, want)
	}
}

func TestDecodeLatencyHistMalformed(t *testing.T) {
	for _, b := range [][]byte{
		{0x01},             // one bin announced, none present
		{0x01, 0x05},       // bin index without count
		{0x00},             // handshake part missing
		{0x00, 0x00, 0x00}, // trailing byte
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		if _, _, err := decodeLatencyHist(b); !errors.Is(err, errBadHist) {
			t.Errorf("decode %x: err = %v, want errBadHist", b, err)
		}
	}
	if rtt, hs, err := decodeLatencyHist(nil); err != nil || len(rtt.Bins)+len(hs.Bins) != 0 {
		t.Errorf("decode nil: %v %v %v", rtt, hs, err)
	}
}

func TestBucketOf(t *testing.T) {
	tests := []struct{ ms, width, want int64 }{
		{0, 60000, 0},
		{59999, 60000, 0},
		{60000, 60000, 60000},
		{-1, 60000, -60000},
		{-60000, 60000, -60000},
		{3_600_000*5 + 17, 3_600_000, 3_600_000 * 5},
	}
	for _, tt := range tests {
		if got := bucketOf(tt.ms, tt.width); got != tt.want {
			t.Errorf("bucketOf(%d, %d) = %d, want %d", tt.ms, tt.width, got, tt.want)
		}
	}
}
