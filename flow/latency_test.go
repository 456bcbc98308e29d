package flow

import (
	"math"
	"testing"
)

func TestBinOfBounds(t *testing.T) {
	for _, us := range []uint64{0, 1, 2, 3, 4, 5, 7, 8, 100, 1000, 12345, 1 << 20, 1<<32 - 1} {
		b := BinOf(us)
		lo, hi := BinBounds(b)
		if float64(us) < lo || float64(us) >= hi {
			t.Errorf("BinOf(%d)=%d with bounds [%g,%g)", us, b, lo, hi)
		}
	}
	if BinOf(1<<40) != NumBins-1 {
		t.Error("huge samples must land in the last bin")
	}
}

func TestQuantileAccuracy(t *testing.T) {
	var l Latency
	for us := uint64(1000); us < 2000; us++ { // uniform 1000..1999 µs
		l.Observe(us)
	}
	cases := []struct{ q, want float64 }{{0.5, 1500}, {0.9, 1900}, {0.99, 1990}}
	for _, c := range cases {
		got := l.Quantile(c.q)
		if math.Abs(got-c.want)/c.want > 0.09 {
			t.Errorf("p%g = %g, want %g within 9%%", c.q*100, got, c.want)
		}
	}
	if l.AvgUS() != 1499.5 || l.MinUS != 1000 || l.MaxUS != 1999 {
		t.Errorf("summary wrong: %+v", l)
	}
}

func TestMergeEqualsObservingAll(t *testing.T) {
	var a, b, all Latency
	for i := uint64(1); i < 500; i++ {
		x := i * i % 9973
		all.Observe(x)
		if i%3 == 0 {
			a.Observe(x)
		} else {
			b.Observe(x)
		}
	}
	a.Merge(&b)
	if a.Count != all.Count || a.SumUS != all.SumUS || a.MinUS != all.MinUS || a.MaxUS != all.MaxUS {
		t.Fatalf("merged summary %+v != %+v", a, all)
	}
	if len(a.Hist.Bins) != len(all.Hist.Bins) {
		t.Fatalf("merged %d bins, want %d", len(a.Hist.Bins), len(all.Hist.Bins))
	}
	for i := range a.Hist.Bins {
		if a.Hist.Bins[i] != all.Hist.Bins[i] {
			t.Fatalf("bin %d: %+v != %+v", i, a.Hist.Bins[i], all.Hist.Bins[i])
		}
	}
}
