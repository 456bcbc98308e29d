package web

import (
	"sync"
	"time"

	"github.com/flowlens/flowlens/store"
)

// ingestRate counts stored flows and reports in fixed time buckets, fed by
// the server's stored-flow subscription, so the overview can show what the
// server actually made durable (not what agents tried to send).
type ingestRate struct {
	mu      sync.Mutex
	width   time.Duration
	buckets []rateBucket // ring, indexed by bucket number modulo len
	now     func() time.Time
}

type rateBucket struct {
	n       int64 // bucket number (unix time / width); stale when not current
	flows   int64
	reports int64
	bytes   uint64
}

func newIngestRate(width time.Duration, n int) *ingestRate {
	return &ingestRate{width: width, buckets: make([]rateBucket, n), now: time.Now}
}

// observe is the subscription callback: quick, no allocation.
func (r *ingestRate) observe(batches []*store.Batch) {
	var flows int64
	var b uint64
	for _, bt := range batches {
		flows += int64(len(bt.Rows))
		for i := range bt.Rows {
			b += bt.Rows[i].Counters.BytesSent + bt.Rows[i].Counters.BytesReceived
		}
	}
	n := r.now().UnixNano() / int64(r.width)
	r.mu.Lock()
	defer r.mu.Unlock()
	bk := &r.buckets[n%int64(len(r.buckets))]
	if bk.n != n {
		*bk = rateBucket{n: n}
	}
	bk.flows += flows
	bk.reports += int64(len(batches))
	bk.bytes += b
}

// ratePoint is one bucket for the overview chart.
type ratePoint struct {
	Time           time.Time
	FlowsPerSecond float64
	Reports        int64
	BytesPerSecond float64
}

// series returns the complete buckets of the ring, oldest first (the
// current, partial bucket is left out so the last figure is not low).
func (r *ingestRate) series() []ratePoint {
	now := r.now().UnixNano() / int64(r.width)
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ratePoint, 0, len(r.buckets))
	secs := r.width.Seconds()
	for n := now - int64(len(r.buckets)) + 1; n < now; n++ {
		if n < 0 {
			continue
		}
		bk := r.buckets[n%int64(len(r.buckets))]
		p := ratePoint{Time: time.Unix(0, n*int64(r.width))}
		if bk.n == n {
			p.FlowsPerSecond = float64(bk.flows) / secs
			p.Reports = bk.reports
			p.BytesPerSecond = float64(bk.bytes) / secs
		}
		out = append(out, p)
	}
	return out
}

// recent averages the last k complete buckets.
func (r *ingestRate) recent(k int) ratePoint {
	s := r.series()
	if len(s) > k {
		s = s[len(s)-k:]
	}
	var p ratePoint
	for _, x := range s {
		p.FlowsPerSecond += x.FlowsPerSecond / float64(len(s))
		p.BytesPerSecond += x.BytesPerSecond / float64(len(s))
		p.Reports += x.Reports
	}
	return p
}
