package internet

import (
	"math"
	"testing"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// flowRow is one internet flow record of bytes, segments sent,
// retransmissions, connections opened/failed and an RTT.
func flowRow(bytes, segs, retrans, opened, failed uint64, rttUS uint64) *store.FlowRow {
	r := &store.FlowRow{Remote: topology.Location{Kind: topology.KindInternet}}
	c := &r.Counters
	c.BytesSent, c.SegmentsSent, c.Retransmissions = bytes, segs, retrans
	c.ConnectionsOpened, c.FailedTimeout = opened, failed
	if rttUS > 0 {
		for i := 0; i < 8; i++ {
			c.RTT.Observe(rttUS)
		}
	}
	return r
}

func accOf(rows ...*store.FlowRow) *acc {
	a := &acc{}
	for _, r := range rows {
		a.add(r)
	}
	return a
}

// healthyBaseline is three periods of 100 kB, 40 attempts, 0.02% loss,
// 20 ms p90.
func healthyBaseline() expected {
	var b baseline
	for i := 0; i < 6; i++ {
		b.add(observation{Bytes: 100_000, Attempts: 40, Segments: 1000, RetransRate: 0.0002, FailedRate: 0.001,
			RTTP90US: 20_000, Observations: 1}, false)
	}
	return b.expect()
}

func TestJudge(t *testing.T) {
	cases := []struct {
		name              string
		a                 *acc
		e                 expected
		perf, avail       float64 // expected scores, ±1
		missing, retransX bool
	}{
		{"healthy", accOf(flowRow(50_000, 500, 0, 20, 0, 15_000), flowRow(50_000, 500, 1, 20, 0, 16_000)),
			healthyBaseline(), 100, 100, false, false},
		{"one lossy flow of two", accOf(flowRow(50_000, 500, 0, 20, 0, 15_000), flowRow(50_000, 500, 25, 20, 0, 16_000)),
			healthyBaseline(), 50, 100, false, true},
		{"slow flow", accOf(flowRow(75_000, 500, 0, 20, 0, 15_000), flowRow(25_000, 500, 0, 20, 0, 90_000)),
			healthyBaseline(), 75, 100, false, false},
		{"small flows are not judged alone", accOf(flowRow(2_000, 5, 1, 1, 0, 15_000)), expected{rttP90US: math.NaN()}, 100, 100, false, false},
		{"no baseline: cold 2% threshold", accOf(flowRow(100_000, 1000, 60, 40, 0, 15_000)), expected{rttP90US: math.NaN()}, 0, 100, false, true},
		{"silence where 40 attempts are expected", accOf(), healthyBaseline(), 100, 0, true, false},
		{"failures far above baseline", accOf(flowRow(100_000, 1000, 0, 20, 20, 15_000)), healthyBaseline(), 100, 50, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := judge(c.a, c.e)
			if math.Abs(j.performance-c.perf) > 1 || math.Abs(j.availability-c.avail) > 1 {
				t.Errorf("scores perf %.1f avail %.1f, want %.1f %.1f (%+v)", j.performance, j.availability, c.perf, c.avail, j)
			}
			if j.missing != c.missing || j.retransExcess != c.retransX {
				t.Errorf("missing %v retrans excess %v, want %v %v", j.missing, j.retransExcess, c.missing, c.retransX)
			}
		})
	}
}

func TestBaselineFreezesDuringImpact(t *testing.T) {
	var b baseline
	ok := observation{Bytes: 100, RetransRate: 0.001, Observations: 1}
	bad := observation{Bytes: 100, RetransRate: 0.05, Observations: 1}
	for i := 0; i < 5; i++ {
		b.add(ok, false)
	}
	for i := 0; i < maxFrozen; i++ {
		b.add(bad, true)
	}
	if r := b.expect().retransRate; r != 0.001 {
		t.Fatalf("baseline moved during the incident: %g", r)
	}
	// A change that lasts past maxFrozen periods becomes the new normal.
	for i := 0; i < baselineWindow; i++ {
		b.add(bad, true)
	}
	if r := b.expect().retransRate; r != 0.05 {
		t.Fatalf("lasting change not accepted: %g", r)
	}
}

func TestSignificant(t *testing.T) {
	for _, c := range []struct {
		k, n, p float64
		want    bool
	}{{0, 100, 0.01, false}, {2, 100, 0.005, false}, {5, 100, 0.005, true}, {30, 1000, 0.02, false}, {70, 1000, 0.02, true}} {
		if got := significant(c.k, c.n, c.p); got != c.want {
			t.Errorf("significant(%g, %g, %g) = %v", c.k, c.n, c.p, got)
		}
	}
}

// TestOverallRTTTrafficWeighted checks the reference's example: 90% of
// traffic at 5 ms and 10% at 10 ms gives 5.5 ms.
func TestOverallRTTTrafficWeighted(t *testing.T) {
	st := minuteState(t)
	row := func(city string, bytes uint64, rtt uint64) *store.FlowRow {
		r := flowRow(bytes, bytes/1000, 0, 1, 0, rtt)
		r.Remote.City, r.End = city, timeAt(30)
		return r
	}
	st.add(row("A", 900_000, 5000), noDatabase)
	st.add(row("B", 100_000, 10_000), noDatabase)
	res := st.evaluate(st.due(timeAt(61), 0)[0], nil, 10)
	if got := res.overall.RTTP50MS; math.Abs(got-5.5) > 0.5 {
		t.Fatalf("overall p50 %.2f ms, want about 5.5", got)
	}
	if res.overall.CityNetworks != 2 || res.overall.BytesOut != 1_000_000 {
		t.Fatalf("overall %+v", res.overall)
	}
	if len(res.changed) != 0 {
		t.Fatalf("events without impact: %+v", res.changed)
	}
}

func TestTrackShareAndCap(t *testing.T) {
	mk := func(w ...float64) []judged {
		var out []judged
		for i, x := range w {
			out = append(out, judged{key: cityNet{City: string(rune('A' + i))}, j: judgement{weight: x}})
		}
		return out
	}
	for _, c := range []struct {
		share float64
		max   int
		want  int
	}{{100, 0, 4}, {60, 0, 1}, {70, 0, 2}, {100, 3, 3}, {95, 0, 3}} {
		st := &state{mon: Monitor{TrafficShare: c.share, MaxCityNetworks: c.max}}
		if got := len(st.track(mk(60, 30, 8, 2))); got != c.want {
			t.Errorf("share %g max %d: tracked %d, want %d", c.share, c.max, got, c.want)
		}
	}
}

var _ = flow.Latency{}

// TestPartlyImpactedProviderIsNamed: loss on one provider hurts a fifth of
// its flows in each of its two cities (scores about 80, above the local
// threshold of 60) and breaches the overall threshold; the event must
// list both city-networks and name the provider, not "unknown".
func TestPartlyImpactedProviderIsNamed(t *testing.T) {
	st := minuteState(t)
	row := func(city string, asn uint32, retrans uint64) *store.FlowRow {
		r := flowRow(50_000, 500, retrans, 1, 0, 15_000)
		r.Remote.City, r.Remote.Country, r.Remote.ASN, r.End = city, "FR", asn, timeAt(30)
		return r
	}
	for _, n := range []struct {
		city string
		asn  uint32
	}{{"Paris", 64500}, {"Lyon", 64500}, {"Paris", 64501}, {"Lyon", 64502}} {
		for i := 0; i < 10; i++ {
			retrans := uint64(0)
			if n.asn == 64500 && i < 2 {
				retrans = 40 // 8% of this flow's segments
			}
			st.add(row(n.city, n.asn, retrans), noDatabase)
		}
	}
	res := st.evaluate(st.due(timeAt(61), 0)[0], nil, 10)
	if res.overall.PerformanceScore >= st.mon.OverallThreshold {
		t.Fatalf("overall performance %.1f, want under %.0f", res.overall.PerformanceScore, st.mon.OverallThreshold)
	}
	if len(res.changed) != 1 {
		t.Fatalf("events: %+v", res.changed)
	}
	ev := res.changed[0]
	if ev.Type != TypePerformance || ev.Cause.Kind != CauseASN || ev.Cause.ASN != 64500 {
		t.Fatalf("event %s cause %+v", ev.Type, ev.Cause)
	}
	if len(ev.ImpactedLocations) != 2 {
		t.Fatalf("impacted locations %+v", ev.ImpactedLocations)
	}
}

// minuteState is the evaluator of a default monitor with one-minute
// periods, starting at timeAt(0).
func minuteState(t *testing.T) *state {
	t.Helper()
	mon := Monitor{Name: "m", PeriodSeconds: 60}
	if err := mon.normalize(MinPeriod); err != nil {
		t.Fatal(err)
	}
	return newState(mon, timeAt(0))
}
