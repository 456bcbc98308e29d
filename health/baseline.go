package health

import "net/netip"

// Baselines are the trailing history the indicator judges a window against:
// per segment the retransmission rate, the RTO rate and the median RTT of
// its host pairs in each recent window, and per host pair its RTT. Medians
// and MADs over the last Windows windows make them robust: a few odd
// windows move neither, and windows in which a segment was degraded (or
// pairs blamed on a host) are not learned at all, so a long fault does not
// become the new normal.
//
// Baselines are not safe for concurrent use; the monitor module keeps one
// per evaluation period and touches it from one goroutine.
type Baselines struct {
	windows  int
	tick     uint64
	segments map[string]*segmentHistory
	pairs    map[pairKey]*pairHistory
}

type segmentHistory struct {
	retrans, rto, rtt, rttP90 ring
	seen                      uint64
}

type pairHistory struct {
	rtt  ring
	seen uint64
}

// ring keeps the last cap values.
type ring struct {
	vals []float64
	next int
}

func (r *ring) add(v float64, capacity int) {
	if len(r.vals) < capacity {
		r.vals = append(r.vals, v)
		return
	}
	r.vals[r.next] = v
	r.next = (r.next + 1) % capacity
}

type pairKey struct{ local, remote netip.Addr }

// DefaultWindows is how many trailing windows a baseline spans.
const DefaultWindows = 30

// NewBaselines keeps the last windows windows (DefaultWindows when <= 0).
func NewBaselines(windows int) *Baselines {
	if windows <= 0 {
		windows = DefaultWindows
	}
	return &Baselines{windows: windows, segments: map[string]*segmentHistory{}, pairs: map[pairKey]*pairHistory{}}
}

// SegmentBaseline is what a segment normally looks like.
type SegmentBaseline struct {
	RetransRate, RetransSigma float64
	RTORate, RTOSigma         float64
	RTTUS, RTTSigma           float64
	// RTTP90US is the usual 90th percentile of the segment's pair RTTs:
	// the bar a pair without its own history is held to.
	RTTP90US float64
	// Windows counts the windows behind each figure.
	RetransWindows, RTTWindows int
}

// Segment returns the baseline of a segment id.
func (b *Baselines) Segment(id string) (SegmentBaseline, bool) {
	if b == nil {
		return SegmentBaseline{}, false
	}
	h, ok := b.segments[id]
	if !ok {
		return SegmentBaseline{}, false
	}
	var s SegmentBaseline
	s.RetransRate, s.RetransSigma = robust(h.retrans.vals)
	s.RTORate, s.RTOSigma = robust(h.rto.vals)
	s.RTTUS, s.RTTSigma = robust(h.rtt.vals)
	s.RTTP90US, _ = robust(h.rttP90.vals)
	s.RetransWindows, s.RTTWindows = len(h.retrans.vals), len(h.rtt.vals)
	return s, true
}

// pairRTT returns a pair's RTT median and σ and how many windows back them.
func (b *Baselines) pairRTT(k pairKey) (med, sigma float64, n int) {
	if b == nil {
		return 0, 0, 0
	}
	h, ok := b.pairs[k]
	if !ok {
		return 0, 0, 0
	}
	med, sigma = robust(h.rtt.vals)
	return med, sigma, len(h.rtt.vals)
}

// Learn adds a window's healthy figures (Result.learned) to the history
// and forgets segments and pairs unseen for twice the history length.
func (b *Baselines) Learn(r *Result) {
	b.tick++
	for id, w := range r.learn.segments {
		h := b.segments[id]
		if h == nil {
			h = &segmentHistory{}
			b.segments[id] = h
		}
		h.seen = b.tick
		if w.hasLoss {
			h.retrans.add(w.retransRate, b.windows)
			h.rto.add(w.rtoRate, b.windows)
		}
		if w.hasRTT {
			h.rtt.add(w.rttUS, b.windows)
			h.rttP90.add(w.rttP90, b.windows)
		}
	}
	for k, v := range r.learn.pairs {
		h := b.pairs[k]
		if h == nil {
			h = &pairHistory{}
			b.pairs[k] = h
		}
		h.seen = b.tick
		h.rtt.add(v, b.windows)
	}
	horizon := uint64(2 * b.windows)
	if b.tick > horizon {
		for id, h := range b.segments {
			if h.seen+horizon < b.tick {
				delete(b.segments, id)
			}
		}
		for k, h := range b.pairs {
			if h.seen+horizon < b.tick {
				delete(b.pairs, k)
			}
		}
	}
}

// Size is the number of segments and pairs remembered.
func (b *Baselines) Size() (segments, pairs int) { return len(b.segments), len(b.pairs) }
