package internet

import (
	"math"
	"slices"
)

// baselineWindow is how many past periods a city-network's baseline holds.
const baselineWindow = 12

// baselineReady is how many past periods a baseline needs before it judges.
const baselineReady = 3

// maxFrozen is how many impacted periods in a row keep the baseline frozen;
// past it the new level is accepted as normal (a lasting change of route,
// not an incident).
const maxFrozen = baselineWindow

// observation is one period of one city-network, as the baseline keeps it.
type observation struct {
	Bytes        float64
	Attempts     float64 // connection attempts (opened + failed)
	Segments     float64 // segments sent by our hosts
	RetransRate  float64 // retransmitted / sent segments; NaN without traffic
	FailedRate   float64 // failed / attempted connections; NaN without attempts
	RTTP90US     float64 // NaN without samples
	Observations int     // 1, or 0 for a period without any traffic
}

// baseline is a city-network's own recent normal: medians over the last
// baselineWindow healthy periods. Medians ignore the odd bad period without
// a model of the distribution.
type baseline struct {
	ring   []observation
	frozen int // impacted periods in a row not added
	idle   int // periods in a row without traffic, to retire the entry
}

func (b *baseline) ready() bool { return len(b.ring) >= baselineReady }

// add records a period. Impacted periods are left out (up to maxFrozen in
// a row) so that an incident does not become its own baseline.
func (b *baseline) add(o observation, impacted bool) {
	if o.Observations == 0 {
		b.idle++
	} else {
		b.idle = 0
	}
	if impacted {
		if b.frozen++; b.frozen <= maxFrozen {
			return
		}
	} else {
		b.frozen = 0
	}
	b.ring = append(b.ring, o)
	if len(b.ring) > baselineWindow {
		b.ring = b.ring[1:]
	}
}

// median of f over the ring, skipping NaN; NaN when nothing is left.
func (b *baseline) median(f func(observation) float64) float64 {
	vals := make([]float64, 0, len(b.ring))
	for _, o := range b.ring {
		if v := f(o); !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	return median(vals)
}

// minimum of f over the ring (NaN when empty).
func (b *baseline) minimum(f func(observation) float64) float64 {
	m := math.NaN()
	for _, o := range b.ring {
		if v := f(o); math.IsNaN(m) || v < m {
			m = v
		}
	}
	return m
}

func median(vals []float64) float64 {
	if len(vals) == 0 {
		return math.NaN()
	}
	slices.Sort(vals)
	n := len(vals)
	if n%2 == 1 {
		return vals[n/2]
	}
	return (vals[n/2-1] + vals[n/2]) / 2
}

// expected is what a baseline predicts for a period.
type expected struct {
	ready       bool
	bytes       float64 // median bytes
	minBytes    float64 // smallest bytes of a window period
	attempts    float64 // median connection attempts
	retransRate float64
	failedRate  float64
	rttP90US    float64 // NaN: no RTT history
	fullWindow  bool    // the ring is full
}

func (b *baseline) expect() expected {
	if b == nil || !b.ready() {
		return expected{rttP90US: math.NaN()}
	}
	return expected{
		ready:       true,
		bytes:       b.median(func(o observation) float64 { return o.Bytes }),
		minBytes:    b.minimum(func(o observation) float64 { return o.Bytes }),
		attempts:    b.median(func(o observation) float64 { return o.Attempts }),
		retransRate: nanZero(b.median(func(o observation) float64 { return o.RetransRate })),
		failedRate:  nanZero(b.median(func(o observation) float64 { return o.FailedRate })),
		rttP90US:    b.median(func(o observation) float64 { return o.RTTP90US }),
		fullWindow:  len(b.ring) >= baselineWindow/2,
	}
}

func nanZero(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}
