package flow

import (
	"math"
	"math/bits"
	"sort"
)

// Latency summarizes samples in microseconds: count, sum, min, max and a
// log-linear histogram (4 bins per power of two, about ±9% error on a
// percentile) that merges exactly across hosts and intervals.
type Latency struct {
	Count uint64
	SumUS uint64
	MinUS uint64
	MaxUS uint64
	Hist  Histogram
}

// Observe adds one sample.
func (l *Latency) Observe(us uint64) {
	if l.Count == 0 || us < l.MinUS {
		l.MinUS = us
	}
	if us > l.MaxUS {
		l.MaxUS = us
	}
	l.Count++
	l.SumUS += us
	l.Hist.Add(BinOf(us), 1)
}

// Merge adds o's samples to l.
func (l *Latency) Merge(o *Latency) {
	if o.Count == 0 {
		return
	}
	if l.Count == 0 || o.MinUS < l.MinUS {
		l.MinUS = o.MinUS
	}
	if o.MaxUS > l.MaxUS {
		l.MaxUS = o.MaxUS
	}
	l.Count += o.Count
	l.SumUS += o.SumUS
	l.Hist.Merge(&o.Hist)
}

// AvgUS is the mean sample, 0 without samples.
func (l *Latency) AvgUS() float64 {
	if l.Count == 0 {
		return 0
	}
	return float64(l.SumUS) / float64(l.Count)
}

// Quantile estimates the q-quantile (0..1) from the histogram, clamped to
// the exact min and max.
func (l *Latency) Quantile(q float64) float64 {
	if l.Count == 0 {
		return 0
	}
	v := l.Hist.Quantile(q)
	return math.Min(math.Max(v, float64(l.MinUS)), float64(l.MaxUS))
}

// BinsPerOctave sets the histogram resolution.
const BinsPerOctave = 4

// NumBins covers 0 µs to 2^32 µs (about 71 minutes).
const NumBins = 32*BinsPerOctave + 1

// BinOf maps a sample to its histogram bin. Bin 0 holds 0 µs; bin
// 1+4k+j holds [2^k·(1+j/4), 2^k·(1+(j+1)/4)).
func BinOf(us uint64) uint8 {
	if us == 0 {
		return 0
	}
	if us >= 1<<32 {
		return NumBins - 1
	}
	k := bits.Len64(us) - 1 // 2^k <= us < 2^(k+1)
	var frac uint64
	if k >= 2 {
		frac = (us >> (k - 2)) & 3
	} else {
		frac = (us << (2 - k)) & 3
	}
	return uint8(1 + k*BinsPerOctave + int(frac))
}

// BinBounds returns the half-open range [lo, hi) of bin b in µs.
func BinBounds(b uint8) (lo, hi float64) {
	if b == 0 {
		return 0, 1
	}
	k := int(b-1) / BinsPerOctave
	j := int(b-1) % BinsPerOctave
	base := math.Ldexp(1, k)
	return base * (1 + float64(j)/BinsPerOctave), base * (1 + float64(j+1)/BinsPerOctave)
}

// Bin is one non-empty histogram bucket.
type Bin struct {
	Index uint8
	Count uint64
}

// Histogram is a sparse, sorted list of non-empty bins.
type Histogram struct {
	Bins []Bin
}

// Add adds n samples to bin b.
func (h *Histogram) Add(b uint8, n uint64) {
	i := sort.Search(len(h.Bins), func(i int) bool { return h.Bins[i].Index >= b })
	if i < len(h.Bins) && h.Bins[i].Index == b {
		h.Bins[i].Count += n
		return
	}
	h.Bins = append(h.Bins, Bin{})
	copy(h.Bins[i+1:], h.Bins[i:])
	h.Bins[i] = Bin{Index: b, Count: n}
}

// Merge adds o's bins to h in one linear pass.
func (h *Histogram) Merge(o *Histogram) {
	if len(o.Bins) == 0 {
		return
	}
	if len(h.Bins) == 0 {
		h.Bins = append(h.Bins[:0], o.Bins...)
		return
	}
	out := make([]Bin, 0, len(h.Bins)+len(o.Bins))
	i, j := 0, 0
	for i < len(h.Bins) || j < len(o.Bins) {
		switch {
		case j == len(o.Bins) || (i < len(h.Bins) && h.Bins[i].Index < o.Bins[j].Index):
			out = append(out, h.Bins[i])
			i++
		case i == len(h.Bins) || o.Bins[j].Index < h.Bins[i].Index:
			out = append(out, o.Bins[j])
			j++
		default:
			out = append(out, Bin{Index: h.Bins[i].Index, Count: h.Bins[i].Count + o.Bins[j].Count})
			i++
			j++
		}
	}
	h.Bins = out
}

// Total is the number of samples in the histogram.
func (h *Histogram) Total() uint64 {
	var n uint64
	for _, b := range h.Bins {
		n += b.Count
	}
	return n
}

// Quantile interpolates linearly inside the bin that holds the q-quantile.
func (h *Histogram) Quantile(q float64) float64 {
	total := h.Total()
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for _, b := range h.Bins {
		c := float64(b.Count)
		if seen+c >= rank {
			lo, hi := BinBounds(b.Index)
			return lo + (hi-lo)*(rank-seen)/c
		}
		seen += c
	}
	_, hi := BinBounds(h.Bins[len(h.Bins)-1].Index)
	return hi
}
