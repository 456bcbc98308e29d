package applogs_test

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/flowlens/flowlens/applog"
	"github.com/flowlens/flowlens/logquery"
	"github.com/flowlens/flowlens/store/duckdb/applogs"
)

// genAppLog is n lines of an application log: JSON lines (json) or plain
// text, 5% ERROR, 8 services, times one per millisecond from the start.
func genAppLog(n int, json bool) []byte {
	services := []string{"api", "web", "auth", "db", "cache", "queue", "search", "billing"}
	levels := []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "INFO", "INFO", "INFO", "INFO", "INFO", "INFO", "INFO", "INFO", "INFO", "INFO", "INFO", "INFO", "INFO", "INFO", "ERROR"}
	var b bytes.Buffer
	b.Grow(n * 170)
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		ts := start.Add(time.Duration(i) * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		svc, lvl := services[i%len(services)], levels[(i*7+i/8)%len(levels)]
		if json {
			fmt.Fprintf(&b, `{"timestamp":"%s","level":"%s","service":"%s","msg":"request %d done","http":{"status":%d,"path":"/v1/items/%d"},"latency_ms":%d}`+"\n",
				ts, lvl, svc, i, 200+(i%5)*100, i%977, i%250)
		} else {
			fmt.Fprintf(&b, "%s %s %s request %d done status=%d path=/v1/items/%d latency_ms=%d\n", ts, lvl, svc, i, 200+(i%5)*100, i%977, i%250)
		}
	}
	return b.Bytes()
}

// BenchmarkImport1M puts 1M generated lines (JSON lines, then plain text)
// into a fresh group and reports lines/s.
func BenchmarkImport1M(b *testing.B) {
	for _, kind := range []struct {
		name string
		json bool
	}{{"json", true}, {"text", false}} {
		body := genAppLog(1_000_000, kind.json)
		b.Run(kind.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			var total time.Duration
			cpu0 := cpuTime()
			for i := range b.N {
				b.StopTimer()
				_, st := open(b)
				b.StartTimer()
				began := time.Now()
				sum := importBody(b, st, fmt.Sprintf("g%d", i), body)
				total += time.Since(began)
				if sum.Events != 1_000_000 {
					b.Fatalf("%d events", sum.Events)
				}
			}
			b.ReportMetric(float64(b.N)*1e6/total.Seconds(), "lines/s")
			b.ReportMetric((cpuTime()-cpu0).Seconds()*1e6/float64(b.N)/1e6, "cpu-µs/line")
		})
	}
}

// importBody reads body the way the server does (parallel parse, one
// transaction) into group.
func importBody(tb testing.TB, st *applogs.Store, group string, body []byte) applog.Summary {
	tb.Helper()
	ctx := context.Background()
	w, err := st.Begin(ctx, group, ingestMs)
	if err != nil {
		tb.Fatal(err)
	}
	var sum applog.Summary
	if err := applog.Read(ctx, bytes.NewReader(body), applog.ReadOptions{Options: applog.Options{IngestionMs: ingestMs}}, &sum,
		func(b *applog.Batch) error { return w.Write(ctx, b) }); err != nil {
		w.Rollback()
		tb.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		tb.Fatal(err)
	}
	return sum
}

// cpuTime is the process's user+system CPU time (DuckDB's threads
// included): a figure the other processes on a loaded machine do not
// inflate, unlike wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkQueryErrorsByService runs `filter level = "ERROR" | stats
// count(*) by service` over 1M JSON lines.
func BenchmarkQueryErrorsByService(b *testing.B) {
	db, st := open(b)
	flowlogsOpen(b, db)
	importBody(b, st, "app", genAppLog(1_000_000, true))
	eng := logquery.NewEngine(db.DB(), sources())
	req := logquery.Request{Query: `filter level = "ERROR" | stats count(*) by service`, Groups: []string{"app"},
		Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() { b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/query") }()
	for range b.N {
		res, err := eng.Run(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Rows) != 8 {
			b.Fatalf("%d rows", len(res.Rows))
		}
	}
}
