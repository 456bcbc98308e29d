package internet

import (
	"math"
	"net/netip"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/store"
)

// Thresholds of "impacted" (see ARCHITECTURE.md, Internet monitor).
const (
	// A retransmission rate is degraded above max(3x baseline, baseline +
	// 0.5 points); a city-network without a baseline yet uses 2%.
	retransFactor   = 3.0
	retransMargin   = 0.005
	coldRetransRate = 0.02
	// A failure rate is degraded above max(3x baseline, baseline + 1 point);
	// without a baseline, 5%.
	failFactor   = 3.0
	failMargin   = 0.01
	coldFailRate = 0.05
	// RTT is degraded when a flow's mean RTT exceeds 1.25x the baseline's
	// p90 plus 10 ms.
	rttFactor = 1.25
	rttMargin = 10_000.0 // µs
	// A flow needs this many segments sent before its own retransmission
	// rate is judged.
	minFlowSegments = 20
	// Missing traffic: connection attempts are judged missing when the
	// baseline expects at least this many.
	minExpectedAttempts = 16
	// Missing traffic by volume: below this share of the smallest recent
	// period.
	missingBytesShare = 0.1
	// maxSamples bounds the per-flow samples one city-network keeps per
	// period; beyond it samples merge into the last one.
	maxSamples = 20_000
)

// cityNet is a city-network: the client's city and the ASN its traffic
// comes through. ASN 0 is an unknown network, one per reason (private
// range, no database, not in database), so that unresolved clients are
// never mistaken for one provider.
type cityNet struct {
	City       string
	Country    string
	ASN        uint32
	Unresolved string
}

// sample is one flow record's contribution, kept until the period closes so
// that it is judged against the baseline as it stood before the period.
type sample struct {
	bytes    uint64
	segments uint64
	retrans  uint64
	rttUS    float64 // mean RTT of the record; 0 without samples
}

// acc accumulates one city-network's flows in one period.
type acc struct {
	bytesIn, bytesOut uint64 // in: received by our hosts
	opened, failed    uint64
	segments, retrans uint64
	rtt               flow.Latency
	samples           []sample
	ip                netip.Addr // a client address, to look the location up
	asName            string
}

func (a *acc) add(r *store.FlowRow) {
	c := &r.Counters
	a.bytesIn += c.BytesReceived
	a.bytesOut += c.BytesSent
	a.opened += c.ConnectionsOpened
	a.failed += c.ConnectionsFailed()
	a.segments += c.SegmentsSent
	a.retrans += c.Retransmissions
	a.rtt.Merge(&c.RTT)
	if !a.ip.IsValid() {
		a.ip = r.Key.RemoteIP
	}
	if a.asName == "" {
		a.asName = r.Remote.ASOrg
	}
	s := sample{bytes: c.BytesSent + c.BytesReceived, segments: c.SegmentsSent, retrans: c.Retransmissions,
		rttUS: c.RTT.AvgUS()}
	if len(a.samples) >= maxSamples {
		last := &a.samples[len(a.samples)-1]
		last.bytes += s.bytes
		last.segments += s.segments
		last.retrans += s.retrans
		return
	}
	a.samples = append(a.samples, s)
}

func (a *acc) bytes() uint64    { return a.bytesIn + a.bytesOut }
func (a *acc) attempts() uint64 { return a.opened + a.failed }

// observation is what the baseline keeps of this period.
func (a *acc) observation() observation {
	o := observation{Bytes: float64(a.bytes()), Attempts: float64(a.attempts()), Segments: float64(a.segments),
		RetransRate: math.NaN(), FailedRate: math.NaN(), RTTP90US: math.NaN()}
	if a.bytes() > 0 || a.attempts() > 0 {
		o.Observations = 1
	}
	if a.segments >= 100 {
		o.RetransRate = float64(a.retrans) / float64(a.segments)
	}
	if a.attempts() >= 10 {
		o.FailedRate = float64(a.failed) / float64(a.attempts())
	}
	if a.rtt.Count > 0 {
		o.RTTP90US = a.rtt.Quantile(0.9)
	}
	return o
}

// judgement is one city-network's scores for a period.
type judgement struct {
	weight         float64 // bytes the period should have carried: observed, or expected when traffic is missing
	perfImpacted   float64 // bytes impacted in performance
	availImpacted  float64 // bytes impacted in availability
	performance    float64 // percent not impacted
	availability   float64
	retransExcess  bool // the city-network's retransmission rate is significantly high
	rttExcess      bool
	failExcess     bool
	missing        bool    // traffic missing against the baseline
	missingShare   float64 // how much is missing, 0..1
	retransRateThr float64
}

// significant says whether k events out of n are too many for rate p: a
// Poisson upper bound of three standard deviations plus one, so that small
// counts never trigger on their own.
func significant(k, n, p float64) bool {
	mean := n * p
	return k > mean+3*math.Sqrt(mean)+1
}

// judge scores one city-network's period against its baseline.
func judge(a *acc, e expected) judgement {
	j := judgement{weight: float64(a.bytes()), performance: 100, availability: 100}

	// Performance: a flow is impacted when its retransmission rate or its
	// RTT is degraded against the city-network's own baseline.
	thr := coldRetransRate
	if e.ready {
		thr = math.Max(retransFactor*e.retransRate, e.retransRate+retransMargin)
	}
	j.retransRateThr = thr
	j.retransExcess = a.segments >= minFlowSegments && significant(float64(a.retrans), float64(a.segments), thr)
	rttLimit := math.Inf(1)
	if e.ready && !math.IsNaN(e.rttP90US) {
		rttLimit = rttFactor*e.rttP90US + rttMargin
	}
	for _, s := range a.samples {
		hit := false
		if s.segments > 0 {
			rate := float64(s.retrans) / float64(s.segments)
			if j.retransExcess {
				// The city-network is degraded: every flow above the
				// threshold took part.
				hit = rate > thr
			} else {
				hit = s.segments >= minFlowSegments && significant(float64(s.retrans), float64(s.segments), thr)
			}
		}
		if s.rttUS > rttLimit {
			hit = true
			j.rttExcess = true
		}
		if hit {
			j.perfImpacted += float64(s.bytes)
		}
	}

	// Availability: failed connections beyond the baseline, and traffic
	// that did not arrive at all (a blackhole shows as silence).
	var unavailable float64
	fthr := coldFailRate
	if e.ready {
		fthr = math.Max(failFactor*e.failedRate, e.failedRate+failMargin)
	}
	att := float64(a.attempts())
	if att > 0 && significant(float64(a.failed), att, fthr) {
		j.failExcess = true
		unavailable = math.Min(1, math.Max(0, (float64(a.failed)-att*e.failedRate)/att))
	}
	if e.ready {
		var missing float64
		if e.attempts >= minExpectedAttempts {
			half := e.attempts / 2
			if att < half-3*math.Sqrt(half) {
				missing = 1 - att/e.attempts
			}
		}
		if e.fullWindow && e.minBytes > 0 && float64(a.bytes()) < missingBytesShare*e.minBytes {
			missing = math.Max(missing, 1-float64(a.bytes())/e.bytes)
		}
		if missing > 0 {
			j.missing, j.missingShare = true, math.Min(1, missing)
			j.weight = math.Max(j.weight, e.bytes)
			unavailable = math.Max(unavailable, j.missingShare)
		}
	}
	j.availImpacted = unavailable * j.weight
	if j.weight > 0 {
		j.performance = 100 * (1 - math.Min(1, j.perfImpacted/j.weight))
		j.availability = 100 * (1 - math.Min(1, j.availImpacted/j.weight))
	}
	return j
}
