// Package feed hands every newly stored flow batch to the features that
// follow the flow stream (monitors, the internet monitor, the web UI's
// ingest rate). Each subscriber has its own bounded queue and goroutine:
// publishing never blocks, and a subscriber that falls behind loses
// commits (counted on /metrics) instead of slowing ingest or the others.
package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/store"
)

// Handler receives newly stored batches, in commit order, on its
// subscriber's goroutine. The batches are shared with the other
// subscribers: a handler reads them and must not modify them. It may keep
// what it reads for as long as it needs (ingest never reuses a batch), but
// what it keeps is memory the server holds.
type Handler = func(stored []*store.Batch)

// Config bounds every subscriber's queue.
type Config struct {
	// MaxQueuedRows is how many stored rows may wait for one subscriber;
	// a commit that would go past it is dropped for that subscriber (a
	// commit larger than the limit still goes through an empty queue).
	// The queues share the batches, so the rows held for slow
	// subscribers never exceed this however many there are.
	MaxQueuedRows int
	// MaxQueuedCommits is how many commits may wait for one subscriber.
	MaxQueuedCommits int
}

// DefaultConfig holds about two seconds of a busy server's commits.
func DefaultConfig() Config {
	return Config{MaxQueuedRows: 500_000, MaxQueuedCommits: 1024}
}

// ErrSubscriber marks a subscription the feed refuses (bad or duplicate
// name); it is a wiring mistake.
var ErrSubscriber = errors.New("feed subscriber")

var validName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// Feed fans stored batches out to named subscribers.
type Feed struct {
	cfg     Config
	log     *slog.Logger
	metrics metrics

	mu      sync.Mutex // guards subscribing and the started state
	subs    atomic.Pointer[[]*subscriber]
	started bool
	stop    chan struct{}
}

type subscriber struct {
	name   string
	fn     Handler
	queue  chan delivery
	rows   atomic.Int64 // rows queued, not yet handled
	done   chan struct{}
	queued prometheus.Gauge
	drops  prometheus.Counter
	lost   prometheus.Counter
	served prometheus.Counter
}

// delivery is one commit, or a Sync marker (synced set, no batches).
type delivery struct {
	batches []*store.Batch
	rows    int
	synced  chan struct{}
}

// New builds an inert feed; Start runs the subscribers' goroutines.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) *Feed {
	def := DefaultConfig()
	if cfg.MaxQueuedRows <= 0 {
		cfg.MaxQueuedRows = def.MaxQueuedRows
	}
	if cfg.MaxQueuedCommits <= 0 {
		cfg.MaxQueuedCommits = def.MaxQueuedCommits
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Feed{cfg: cfg, log: log, metrics: newMetrics(reg), stop: make(chan struct{})}
	f.subs.Store(&[]*subscriber{})
	return f
}

// Subscribe registers fn under name (lower case, digits, '-', '_'; it is
// the subscriber label on /metrics). Subscribing after Start starts the
// subscriber's goroutine at once.
func (f *Feed) Subscribe(name string, fn Handler) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("%w: name %q: use lower-case letters, digits, '-' or '_' (up to 63)", ErrSubscriber, name)
	}
	if fn == nil {
		return fmt.Errorf("%w: %s: nil handler", ErrSubscriber, name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.subs.Load()
	for _, s := range old {
		if s.name == name {
			return fmt.Errorf("%w: %s subscribed twice", ErrSubscriber, name)
		}
	}
	s := &subscriber{name: name, fn: fn, queue: make(chan delivery, f.cfg.MaxQueuedCommits), done: make(chan struct{}),
		queued: f.metrics.queued.WithLabelValues(name), drops: f.metrics.dropped.WithLabelValues(name),
		lost: f.metrics.droppedRows.WithLabelValues(name), served: f.metrics.delivered.WithLabelValues(name)}
	next := append(append(make([]*subscriber, 0, len(old)+1), old...), s)
	f.subs.Store(&next)
	if f.started {
		go s.run(f.stop)
	}
	return nil
}

// Subscribers lists the subscribers' names, in subscription order.
func (f *Feed) Subscribers() []string {
	subs := *f.subs.Load()
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = s.name
	}
	return out
}

// Start runs one goroutine per subscriber.
func (f *Feed) Start() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started {
		return
	}
	f.started = true
	for _, s := range *f.subs.Load() {
		go s.run(f.stop)
	}
}

// Stop lets every subscriber handle what is queued, then returns; a
// subscriber still busy when ctx ends is left to finish on its own.
func (f *Feed) Stop(ctx context.Context) error {
	f.mu.Lock()
	started := f.started
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.mu.Unlock()
	if !started {
		return nil
	}
	for _, s := range *f.subs.Load() {
		select {
		case <-s.done:
		case <-ctx.Done():
			return fmt.Errorf("feed subscriber %s still busy: %w", s.name, ctx.Err())
		}
	}
	return nil
}

// Sync returns once every subscriber has handled (or dropped) everything
// published before the call, or when ctx ends. It is for tests and tools
// that must see the effect of an acknowledged report (the simulator's
// stepped clock); it waits for queue space, so never call it from the
// ingest writer.
func (f *Feed) Sync(ctx context.Context) error {
	subs := *f.subs.Load()
	marks := make([]chan struct{}, len(subs))
	for i, s := range subs {
		marks[i] = make(chan struct{})
		select {
		case s.queue <- delivery{synced: marks[i]}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i, m := range marks {
		select {
		case <-m:
		case <-ctx.Done():
			return fmt.Errorf("feed subscriber %s: %w", subs[i].name, ctx.Err())
		}
	}
	return nil
}

// Publish queues the batches for every subscriber. It never blocks: a
// subscriber whose queue is full loses them (counted). The ingest writer
// calls it after every commit, with the batches that were not duplicates.
func (f *Feed) Publish(batches []*store.Batch) {
	if len(batches) == 0 {
		return
	}
	subs := *f.subs.Load()
	if len(subs) == 0 {
		return
	}
	rows := 0
	for _, b := range batches {
		rows += len(b.Rows)
	}
	d := delivery{batches: batches, rows: rows}
	for _, s := range subs {
		s.offer(d, f.cfg.MaxQueuedRows)
	}
}

// offer queues d unless the subscriber's queue is full. Only the ingest
// writer offers, so the check and the add cannot race with another offer.
func (s *subscriber) offer(d delivery, maxRows int) {
	if waiting := s.rows.Load(); waiting > 0 && waiting+int64(d.rows) > int64(maxRows) {
		s.drop(d)
		return
	}
	s.rows.Add(int64(d.rows))
	select {
	case s.queue <- d:
		s.queued.Add(float64(len(d.batches)))
	default:
		s.rows.Add(-int64(d.rows))
		s.drop(d)
	}
}

func (s *subscriber) drop(d delivery) {
	s.drops.Add(float64(len(d.batches)))
	s.lost.Add(float64(d.rows))
}

func (s *subscriber) run(stop <-chan struct{}) {
	defer close(s.done)
	for {
		select {
		case d := <-s.queue:
			s.handle(d)
		case <-stop:
			for {
				select {
				case d := <-s.queue:
					s.handle(d)
				default:
					return
				}
			}
		}
	}
}

func (s *subscriber) handle(d delivery) {
	if d.synced != nil {
		close(d.synced)
		return
	}
	s.queued.Sub(float64(len(d.batches)))
	s.fn(d.batches)
	s.rows.Add(-int64(d.rows))
	s.served.Add(float64(len(d.batches)))
}

type metrics struct {
	queued      *prometheus.GaugeVec
	dropped     *prometheus.CounterVec
	droppedRows *prometheus.CounterVec
	delivered   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flowlens_feed_queued_batches",
			Help: "Stored batches (agent reports) waiting in a feed subscriber's queue."}, []string{"subscriber"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_feed_dropped_batches_total",
			Help: "Stored batches a feed subscriber lost because its queue was full (the subscriber fell behind; the flows are stored)."}, []string{"subscriber"}),
		droppedRows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_feed_dropped_rows_total",
			Help: "Flow rows of the batches counted in flowlens_feed_dropped_batches_total."}, []string{"subscriber"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_feed_delivered_batches_total",
			Help: "Stored batches a feed subscriber has handled."}, []string{"subscriber"}),
	}
	if reg != nil {
		reg.MustRegister(m.queued, m.dropped, m.droppedRows, m.delivered)
	}
	return m
}
