package internet

import (
	"net/netip"
	"testing"
	"time"

	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// BenchmarkObserveEvaluate is one period of a monitor over 1,000
// city-networks with 20 flow records each: the aggregation the flow
// subscription does, then the evaluation (judging, baselines, events).
func BenchmarkObserveEvaluate(b *testing.B) {
	mon := Monitor{Name: "b", PeriodSeconds: 60}
	mon.normalize(MinPeriod)
	rows := make([]store.FlowRow, 0, 20_000)
	for i := 0; i < 20_000; i++ {
		r := flowRow(100_000, 100, uint64(i%3), 4, 0, 20_000+uint64(i%50)*100)
		r.Remote = topology.Location{Kind: topology.KindInternet, City: string(rune('A' + i%40)), Country: "FR", ASN: uint32(i % 1000 / 40)}
		r.Key.RemoteIP = netip.AddrFrom4([4]byte{20, 0, byte(i / 256), byte(i)})
		rows = append(rows, *r)
	}
	st := newState(mon, timeAt(0))
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		end := timeAt(60*n + 30)
		for i := range rows {
			rows[i].End = end
			st.add(&rows[i], noDatabase)
		}
		for _, s := range st.due(timeAt(60*n+61), 0) {
			st.evaluate(s, nil, 20)
		}
	}
	b.ReportMetric(float64(len(rows)), "rows/op")
	_ = time.Second
}
