package flow

import "testing"

// BenchmarkAddTotals is the cost of summing one row's totals (the
// monitor does it for every stored row).
func BenchmarkAddTotals(b *testing.B) {
	var sum Counters
	o := Counters{BytesSent: 1, Retransmissions: 2, FailedReset: 3}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sum.AddTotals(&o)
	}
}
