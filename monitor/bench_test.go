package monitor

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/health"
	"github.com/flowlens/flowlens/periods"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// benchBatches is 100 agents x 1,000 flows with RTT histograms.
func benchBatches() []*store.Batch {
	var out []*store.Batch
	end := time.Now()
	for a := 0; a < 100; a++ {
		b := &store.Batch{AgentID: fmt.Sprint(a)}
		for f := 0; f < 1000; f++ {
			r := store.FlowRow{End: end, HostID: fmt.Sprintf("h%d", a),
				Local:  topology.Location{Kind: topology.KindSubnet, Subnet: "web-a", Zone: "zone-a"},
				Remote: topology.Location{Kind: topology.KindSubnet, Subnet: "web-b", Zone: "zone-b"}, Category: topology.CategoryInterZone}
			r.Key = flow.Key{LocalIP: netip.AddrFrom4([4]byte{10, 1, byte(a), 1}), RemoteIP: netip.AddrFrom4([4]byte{10, 2, byte(f >> 8), byte(f)}), Port: 443}
			r.Counters.BytesSent, r.Counters.SegmentsSent = 10000, 7
			for i := 0; i < 8; i++ {
				r.Counters.RTT.Observe(uint64(900 + 50*i))
			}
			b.Rows = append(b.Rows, r)
		}
		out = append(out, b)
	}
	return out
}

// BenchmarkFile is the feed subscriber's cost per row (one period in
// use), the window already holding the flows. It runs on the monitor's own
// feed goroutine; the ingest writer's cost is feed.BenchmarkPublish.
func BenchmarkFile(b *testing.B) {
	m := &Module{accs: map[time.Duration]*accumulator{}, now: time.Now, metrics: newModuleMetrics()}
	m.accs[time.Hour] = &accumulator{period: time.Hour,
		wins: periods.New(periods.Config{Period: time.Hour}, time.Now().Add(-time.Hour), newWindow)}
	batches := benchBatches()
	m.onFlows(batches)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.onFlows(batches)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100_000), "ns/row")
}

// BenchmarkEvaluate is the indicator over a window of 100,000 flows.
func BenchmarkEvaluate(b *testing.B) {
	w := &window{flows: map[flowID]*flowAgg{}}
	for _, bt := range benchBatches() {
		for i := range bt.Rows {
			w.add(&bt.Rows[i])
		}
	}
	flows := healthFlows(w)
	base := health.NewBaselines(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		health.Evaluate(health.Config{}, flows, base)
	}
}

// TestAddCountersMatchesAdd checks the fast path against flow.Counters.Add.
func TestAddCountersMatchesAdd(t *testing.T) {
	var fast, ref flow.Counters
	for i := 0; i < 50; i++ {
		var o flow.Counters
		o.BytesSent, o.Retransmissions, o.FailedReset = uint64(i), uint64(i%3), uint64(i%2)
		for j := 0; j < i%9; j++ {
			o.RTT.Observe(uint64(100 + (i*37+j*101)%5000))
		}
		addCounters(&fast, &o)
		ref.Add(&o)
	}
	ref.HandshakeLatency = flow.Latency{}
	if fmt.Sprint(fast) != fmt.Sprint(ref) {
		t.Errorf("fast path %+v\nwant %+v", fast, ref)
	}
}
