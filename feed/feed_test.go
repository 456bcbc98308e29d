package feed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/flowlens/flowlens/store"
)

func commit(rows int) []*store.Batch {
	return []*store.Batch{{AgentID: "a", Rows: make([]store.FlowRow, rows)}}
}

// TestSubscribeRefusesBadNames: names become metric labels and must be
// unique.
func TestSubscribeRefusesBadNames(t *testing.T) {
	f := New(Config{}, nil, nil)
	if err := f.Subscribe("monitor", func([]*store.Batch) {}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		fn   Handler
	}{
		{"monitor", func([]*store.Batch) {}}, // twice
		{"", func([]*store.Batch) {}},
		{"Upper", func([]*store.Batch) {}},
		{"with space", func([]*store.Batch) {}},
		{"ok-name", nil},
	} {
		if err := f.Subscribe(tc.name, tc.fn); !errors.Is(err, ErrSubscriber) {
			t.Errorf("Subscribe(%q) = %v, want ErrSubscriber", tc.name, err)
		}
	}
	if got := fmt.Sprint(f.Subscribers()); got != "[monitor]" {
		t.Errorf("subscribers %s", got)
	}
}

// TestQueueBoundsDropOnlyForTheFullSubscriber: the row bound and the
// commit bound each drop for the blocked subscriber only; a commit larger
// than the row bound still reaches an empty queue.
func TestQueueBoundsDropOnlyForTheFullSubscriber(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cfg         Config
		commits     []int // rows per published commit
		wantDropped float64
		wantQueued  float64
	}{
		// the first commit is in the handler, not queued
		{"commit bound", Config{MaxQueuedCommits: 2, MaxQueuedRows: 1000}, []int{1, 1, 1, 1, 1}, 2, 2},
		// the rows in the handler count until it returns: 4 + 4, then full
		{"row bound", Config{MaxQueuedCommits: 100, MaxQueuedRows: 10}, []int{4, 4, 4, 4}, 2, 1},
		{"oversized commit into an empty queue", Config{MaxQueuedCommits: 100, MaxQueuedRows: 10}, []int{1, 50, 1}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			f := New(tc.cfg, nil, reg)
			release, entered := make(chan struct{}), make(chan struct{})
			var once sync.Once
			f.Subscribe("slow", func([]*store.Batch) {
				once.Do(func() { close(entered) })
				<-release
			})
			fast := make(chan int, len(tc.commits))
			f.Subscribe("fast", func(bs []*store.Batch) { fast <- len(bs[0].Rows) })
			f.Start()
			f.Publish(commit(tc.commits[0]))
			<-entered
			<-fast
			for _, n := range tc.commits[1:] {
				f.Publish(commit(n))
				// The fast subscriber keeps up (waiting here keeps its
				// own queue from filling, so the figures are exact).
				if got := <-fast; got != n {
					t.Fatalf("fast got %d rows, want %d", got, n)
				}
			}
			if got := value(f.metrics.dropped.WithLabelValues("slow")); got != tc.wantDropped {
				t.Errorf("slow dropped %v, want %v", got, tc.wantDropped)
			}
			if got := value(f.metrics.queued.WithLabelValues("slow")); got != tc.wantQueued {
				t.Errorf("slow queued %v, want %v", got, tc.wantQueued)
			}
			close(release)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := f.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if d := value(f.metrics.dropped.WithLabelValues("fast")); d != 0 {
				t.Errorf("fast dropped %v", d)
			}
			want := float64(len(tc.commits)) - tc.wantDropped
			if got := value(f.metrics.delivered.WithLabelValues("slow")); got != want {
				t.Errorf("slow handled %v after release, want %v", got, want)
			}
			if err := f.Stop(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestStopHandlesWhatIsQueued: Stop returns after the subscribers have
// handled every published commit, in order.
func TestStopHandlesWhatIsQueued(t *testing.T) {
	f := New(Config{}, nil, nil)
	var got []int
	gate := make(chan struct{})
	f.Subscribe("s", func(bs []*store.Batch) {
		<-gate
		got = append(got, len(bs[0].Rows))
	})
	f.Start()
	for i := 1; i <= 5; i++ {
		f.Publish(commit(i))
	}
	close(gate)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Errorf("handled %v", got)
	}
}

// TestSubscribeAfterStartRuns: a late subscriber gets its goroutine.
func TestSubscribeAfterStartRuns(t *testing.T) {
	f := New(Config{}, nil, nil)
	f.Start()
	done := make(chan int, 1)
	if err := f.Subscribe("late", func(bs []*store.Batch) { done <- len(bs[0].Rows) }); err != nil {
		t.Fatal(err)
	}
	f.Publish(commit(3))
	select {
	case n := <-done:
		if n != 3 {
			t.Errorf("got %d rows", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("late subscriber never ran")
	}
}

// BenchmarkPublish is what the feed costs the ingest writer per commit
// with three subscribers that keep up.
func BenchmarkPublish(b *testing.B) {
	f := New(Config{}, nil, prometheus.NewRegistry())
	for _, n := range []string{"a", "b", "c"} {
		f.Subscribe(n, func([]*store.Batch) {})
	}
	f.Start()
	defer f.Stop(context.Background())
	c := commit(1000)
	for b.Loop() {
		f.Publish(c)
	}
}

// value reads a counter's or gauge's current value.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
