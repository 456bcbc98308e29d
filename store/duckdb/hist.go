package duckdb

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/flowlens/flowlens/flow"
)

// The latency_hist BLOB holds two sparse histograms, RTT then handshake:
//
//	uvarint n, then n × (bin index byte, uvarint count)   -- RTT
//	uvarint m, then m × (bin index byte, uvarint count)   -- handshake
//
// Bins are in increasing index order. A row whose histograms are both empty
// stores NULL. One column instead of two saves about a tenth of the insert
// cost; a typical row needs 10 to 20 bytes.

// appendLatencyHist appends the encoding of rtt and hs to dst.
func appendLatencyHist(dst []byte, rtt, hs *flow.Histogram) []byte {
	dst = appendSparseHist(dst, rtt.Bins)
	return appendSparseHist(dst, hs.Bins)
}

func appendSparseHist(dst []byte, bins []flow.Bin) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(bins)))
	for _, b := range bins {
		dst = append(dst, b.Index)
		dst = binary.AppendUvarint(dst, b.Count)
	}
	return dst
}

var errBadHist = errors.New("malformed latency histogram")

// decodeLatencyHist is the inverse of appendLatencyHist; nil decodes to two
// empty histograms.
func decodeLatencyHist(b []byte) (rtt, hs flow.Histogram, err error) {
	if len(b) == 0 {
		return rtt, hs, nil
	}
	if rtt.Bins, b, err = decodeSparseHist(b); err != nil {
		return rtt, hs, err
	}
	if hs.Bins, b, err = decodeSparseHist(b); err != nil {
		return rtt, hs, err
	}
	if len(b) != 0 {
		return rtt, hs, fmt.Errorf("%w: %d trailing bytes", errBadHist, len(b))
	}
	return rtt, hs, nil
}

func decodeSparseHist(b []byte) ([]flow.Bin, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > 256 {
		return nil, nil, fmt.Errorf("%w: bad bin count", errBadHist)
	}
	b = b[k:]
	if n == 0 {
		return nil, b, nil
	}
	bins := make([]flow.Bin, 0, n)
	for range n {
		if len(b) < 2 {
			return nil, nil, fmt.Errorf("%w: truncated", errBadHist)
		}
		idx := b[0]
		c, k := binary.Uvarint(b[1:])
		if k <= 0 {
			return nil, nil, fmt.Errorf("%w: bad count", errBadHist)
		}
		bins = append(bins, flow.Bin{Index: idx, Count: c})
		b = b[1+k:]
	}
	return bins, b, nil
}

// denseHist accumulates many histograms without allocating: roll-up
// aggregation merges thousands of rows per bucket. Only bins lo..hi can be
// non-zero, so merging and encoding skip the empty ends of the array.
type denseHist struct {
	n      [256]uint64
	lo, hi int
	used   bool
}

func (d *denseHist) widen(lo, hi int) {
	if !d.used {
		d.lo, d.hi, d.used = lo, hi, true
		return
	}
	d.lo, d.hi = min(d.lo, lo), max(d.hi, hi)
}

func (d *denseHist) addBins(bins []flow.Bin) {
	if len(bins) == 0 {
		return
	}
	lo, hi := 255, 0
	for _, b := range bins {
		d.n[b.Index] += b.Count
		lo, hi = min(lo, int(b.Index)), max(hi, int(b.Index))
	}
	d.widen(lo, hi)
}

func (d *denseHist) addDense(o *denseHist) {
	if !o.used {
		return
	}
	for i := o.lo; i <= o.hi; i++ {
		d.n[i] += o.n[i]
	}
	d.widen(o.lo, o.hi)
}

// appendSparse encodes d like appendSparseHist.
func (d *denseHist) appendSparse(dst []byte) []byte {
	if !d.used {
		return append(dst, 0)
	}
	var nonzero uint64
	for _, c := range d.n[d.lo : d.hi+1] {
		if c != 0 {
			nonzero++
		}
	}
	dst = binary.AppendUvarint(dst, nonzero)
	for i := d.lo; i <= d.hi; i++ {
		if c := d.n[i]; c != 0 {
			dst = append(dst, byte(i))
			dst = binary.AppendUvarint(dst, c)
		}
	}
	return dst
}

// reset empties d for reuse.
func (d *denseHist) reset() {
	if d.used {
		clear(d.n[d.lo : d.hi+1])
		d.used = false
	}
}
