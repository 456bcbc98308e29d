package ingest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/feed"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// TestSlowSubscriberDoesNotHoldIngest: a subscriber blocked in its handler
// neither delays acknowledgements nor the other subscriber, and its losses
// show on /metrics.
func TestSlowSubscriberDoesNotHoldIngest(t *testing.T) {
	st := &recordingStore{seen: map[string]bool{}}
	topo, _ := topology.Parse(examples.Topology, examples.TopologyName)
	var p atomic.Pointer[topology.Topology]
	p.Store(topo)
	reg := prometheus.NewRegistry()
	cfg := Config{Feed: feed.Config{MaxQueuedCommits: 2}}
	in := New(cfg, st, &p, NewAgents(), slog.New(slog.DiscardHandler), reg)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	if err := in.Subscribe("slow", func([]*store.Batch) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	fast := 0
	if err := in.Subscribe("fast", func(bs []*store.Batch) {
		mu.Lock()
		fast += len(bs)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	in.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		in.Stop(ctx)
	})

	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	fastSaw := func(want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := fast
			mu.Unlock()
			if n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("fast subscriber saw %d of %d reports\n%s", n, want, grepFeed(scrape(t, reg)))
			}
			time.Sleep(time.Millisecond)
		}
	}

	const reports = 20
	for seq := uint64(1); seq <= reports; seq++ {
		if w, _ := post(t, in, mustEncode(report(seq, "10.1.1.10", "10.1.11.10")), ""); w.Code != 200 {
			t.Fatalf("report %d while the slow subscriber blocks: %d", seq, w.Code)
		}
		if seq == 1 {
			<-entered // the slow subscriber now holds the first commit
		}
		// The fast subscriber keeps up with every report while the slow
		// one is stuck (waiting here keeps its own queue of 2 from
		// filling, so the figures below are exact).
		fastSaw(int(seq))
	}
	// Every report is acknowledged one at a time, so each is its own
	// commit: one held by the handler, two queued, the rest dropped.
	metrics := scrape(t, reg)
	for _, want := range []string{
		`flowlens_feed_dropped_batches_total{subscriber="slow"} 17`,
		`flowlens_feed_dropped_batches_total{subscriber="fast"} 0`,
		`flowlens_feed_queued_batches{subscriber="slow"} 2`,
		`flowlens_feed_dropped_rows_total{subscriber="slow"} 17`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %s:\n%s", want, grepFeed(metrics))
		}
	}
	unblock()
	if err := in.SyncFeed(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m := scrape(t, reg); !strings.Contains(m, `flowlens_feed_delivered_batches_total{subscriber="slow"} 3`+"\n") {
		t.Errorf("after release the slow subscriber should have handled 3 batches:\n%s", grepFeed(m))
	}
}

func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	w := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(w.Body)
	return string(b)
}

func grepFeed(metrics string) string {
	var out []string
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "flowlens_feed_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
