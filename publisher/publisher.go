// Package publisher delivers agent reports to the server's ingest endpoint:
// at least once, in order, one at a time, with sequence numbers that survive
// restarts and a random per-spool epoch as the idempotency key, and a
// bounded on-disk spool for when the server is away. The agent and the simulator share it.
package publisher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/flowlens/flowlens/wire/flowlensv1"
)

// Defaults for Config fields left zero.
const (
	DefaultSpoolMaxBytes = 256 << 20
	DefaultCompression   = "zstd"
	DefaultTimeout       = 30 * time.Second
	DefaultMinBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	DefaultQueueSize     = 64
	// DefaultMaxSplitPieces bounds how many pieces one report is cut into
	// after 413 answers: 64 pieces fit a report 64 times over the server's
	// limit, and a server that answers 413 to everything costs at most 127
	// requests and 63 rewrites of the split state per report.
	DefaultMaxSplitPieces = 64
)

// Sentinel errors callers may test with errors.Is.
var (
	// ErrStopped is returned by Publish and Flush once Stop was called.
	ErrStopped = errors.New("publisher stopped")
	// ErrInvalidReport is returned by Publish for a report that cannot be
	// keyed (nil, or no agent_id).
	ErrInvalidReport = errors.New("invalid report")
)

// Config configures a Publisher. Zero fields take the defaults above.
type Config struct {
	Server        string // base URL, e.g. http://127.0.0.1:8080
	Token         string // bearer token; never logged
	SpoolDir      string // required: holds the epoch, the sequence state and the spool
	SpoolMaxBytes int64
	Compression   string // "zstd" or "gzip"
	Timeout       time.Duration
	MinBackoff    time.Duration
	MaxBackoff    time.Duration
	// QueueSize is how many reports are held in memory before they spill to
	// the spool.
	QueueSize int
	// MaxSplitPieces is how many pieces one report may be cut into after
	// 413 answers; a piece still refused beyond it is dropped and counted
	// as failed (too_large).
	MaxSplitPieces int
	// TLSCAFile is an optional PEM bundle to verify an https server with.
	TLSCAFile          string
	InsecureSkipVerify bool
	// OnAck, if set, is called once per report the server acknowledged, from
	// the sender goroutine (so it should be quick). A report split after a
	// 413 is acknowledged as its pieces.
	OnAck func(r *flowlensv1.Report)
	// OnAckRaw, if set, is called like OnAck but with the marshalled report,
	// which spares high-rate callers (the load generator) an unmarshal.
	OnAckRaw func(seq uint64, report []byte)
}

// setDefaults fills zero fields and rejects impossible values.
func (c *Config) setDefaults() error {
	if c.SpoolDir == "" {
		return errors.New("publisher: SpoolDir is required")
	}
	if c.Server == "" {
		return errors.New("publisher: Server is required")
	}
	if c.SpoolMaxBytes < 0 || c.Timeout < 0 || c.MinBackoff < 0 || c.MaxBackoff < 0 || c.QueueSize < 0 || c.MaxSplitPieces < 0 {
		return errors.New("publisher: SpoolMaxBytes, Timeout, MinBackoff, MaxBackoff, QueueSize and MaxSplitPieces must not be negative")
	}
	c.Token = strings.TrimSpace(c.Token) // tokens often come from files with a newline
	c.Compression = strings.ToLower(c.Compression)
	setIfZero(&c.SpoolMaxBytes, DefaultSpoolMaxBytes)
	setIfZero(&c.Compression, DefaultCompression)
	setIfZero(&c.Timeout, DefaultTimeout)
	setIfZero(&c.MinBackoff, DefaultMinBackoff)
	setIfZero(&c.MaxBackoff, DefaultMaxBackoff)
	setIfZero(&c.QueueSize, DefaultQueueSize)
	setIfZero(&c.MaxSplitPieces, DefaultMaxSplitPieces)
	if c.Compression != "zstd" && c.Compression != "gzip" {
		return fmt.Errorf("publisher: Compression %q: want zstd or gzip", c.Compression)
	}
	if c.MaxBackoff < c.MinBackoff {
		return fmt.Errorf("publisher: MaxBackoff %v is below MinBackoff %v", c.MaxBackoff, c.MinBackoff)
	}
	return nil
}

func setIfZero[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Stats are the publisher's counters since New, and its current queue.
// Every published report ends up Acked (possibly as split pieces), Dropped,
// Failed, or is still Pending.
type Stats struct {
	Published    uint64 // reports handed to Publish
	Acked        uint64 // reports the server acknowledged (split pieces count one each)
	Retries      uint64 // send attempts that repeated a failed one
	Spooled      uint64 // reports written to the spool
	SpooledBytes uint64 // bytes of spooled reports not yet acknowledged
	Dropped      uint64 // reports discarded locally: spool full or corrupt
	Failed       uint64 // reports the server refused for good (400, or 413 on one flow)
	Pending      int    // reports not yet acknowledged, in memory and spool
	// UnexpectedDuplicates are reports this publisher numbered and sent
	// for the first time that the server answered duplicate:true: it
	// already had another report under the same key, so this one's data
	// was not stored (see unexpectedDuplicate).
	UnexpectedDuplicates uint64
}

// Publisher sends reports to the server; see the package doc.
type Publisher struct {
	cfg       Config
	log       *slog.Logger
	limit     *logLimiter
	m         *metrics
	tr        *transport
	reg       prometheus.Registerer
	splitPath string
	split     *splitState // owned by the sender goroutine
	// sleep waits between attempts; tests replace it to observe the waits.
	sleep func(ctx context.Context, d time.Duration) error

	published, acked, retries, spooled, dropped, failed, unexpectedDups atomic.Uint64

	// epoch is stamped on every report Publish numbers; see epoch.go.
	epoch uint64
	// firstNewSeq is the first sequence this process hands out: reports
	// below it come from an earlier run's spool and may have reached the
	// server before, those at or above it cannot have.
	firstNewSeq uint64

	wake chan struct{} // nudges the sender after Publish
	done chan struct{} // closed when the sender exits

	mu       sync.Mutex
	seq      *sequencer
	spool    *spool
	mem      []item // newer than everything in the spool
	degraded bool   // the last attempt failed: new reports go to disk
	lastSeq  uint64 // highest sequence given by Publish
	changed  chan struct{}
	started  bool
	stopping bool
	stopped  bool
	cancel   context.CancelFunc
}

// New prepares a publisher: it creates SpoolDir, loads the sequence state and
// the spool, and registers metrics on reg if non-nil. It sends nothing until
// Start.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Publisher, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("component", "publisher")
	if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("publisher: create spool dir: %w", err)
	}
	tr, err := newTransport(cfg)
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	p := &Publisher{
		cfg: cfg, log: log, limit: newLogLimiter(log, time.Minute), tr: tr,
		splitPath: filepath.Join(cfg.SpoolDir, spoolSplit),
		sleep:     sleepCtx,
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		changed:   make(chan struct{}),
	}
	p.m = newMetrics(p.spoolBytesMetric, p.pendingMetric)
	if err := p.loadState(); err != nil {
		tr.close()
		return nil, fmt.Errorf("publisher: %w", err)
	}
	if err := p.m.collect.Register(reg); err != nil {
		p.spool.close()
		tr.close()
		return nil, fmt.Errorf("publisher: register metrics: %w", err)
	}
	p.reg = reg
	return p, nil
}

// loadState opens the spool, the split state and the sequence reservation,
// and moves numbering past every sequence found on disk, in case the
// reservation file was lost.
func (p *Publisher) loadState() error {
	sp, err := openSpool(filepath.Join(p.cfg.SpoolDir, spoolSegments), p.cfg.SpoolMaxBytes, p.log, p.limit, p.countDropped)
	if err != nil {
		return err
	}
	p.spool = sp
	seq, err := loadSequencer(filepath.Join(p.cfg.SpoolDir, spoolSequence))
	if err != nil {
		sp.close()
		return err
	}
	p.seq = seq
	if p.epoch, err = loadEpoch(filepath.Join(p.cfg.SpoolDir, spoolEpoch), p.log); err != nil {
		sp.close()
		return err
	}
	highest := sp.maxSeq
	p.split, err = loadSplit(p.splitPath)
	if err != nil {
		p.log.Error("split state unreadable; a report split after a 413 may be sent again with new sequence numbers", "error", err)
		removeSplit(p.splitPath)
	}
	if p.split != nil {
		for _, it := range p.split.pieces {
			highest = max(highest, it.seq)
		}
	}
	seq.atLeast(highest + 1)
	p.firstNewSeq = seq.next
	p.lastSeq = sp.maxSeq // Flush and Stop wait for an earlier run's reports too
	if n := sp.len(); n > 0 {
		p.log.Info("spooled reports from an earlier run will be sent first", "reports", n, "bytes", sp.bytes())
	}
	return nil
}

// Start starts the sender goroutine. Calling it again, or after Stop, does
// nothing.
func (p *Publisher) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.stopping {
		return
	}
	p.started = true
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(ctx)
}

// Publish assigns r.Sequence and r.Epoch and queues r. It writes to disk when the memory
// queue is full or the server is unreachable, and at most fsyncs once per
// 1024 reports (the sequence reservation); it never waits for the network.
// r must not be modified concurrently with the call; after it returns, the
// publisher no longer refers to r.
func (p *Publisher) Publish(r *flowlensv1.Report) error {
	if r == nil || r.AgentId == "" {
		return fmt.Errorf("publish: %w: a report needs an agent_id", ErrInvalidReport)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return ErrStopped
	}
	seq, err := p.seq.take()
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	r.Sequence, r.Epoch = seq, p.epoch
	data, err := proto.Marshal(r)
	if err != nil {
		return fmt.Errorf("publish: marshal report %d: %w", seq, err)
	}
	p.lastSeq = seq
	p.published.Add(1)
	p.m.published.Inc()
	p.enqueueLocked(item{seq: seq, data: data})
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// Flush waits until every report published before the call is acknowledged
// or given up on (see Stats.Dropped and Stats.Failed), or ctx is done.
func (p *Publisher) Flush(ctx context.Context) error {
	p.mu.Lock()
	target, stopped := p.lastSeq, p.stopped
	p.mu.Unlock()
	if stopped {
		return ErrStopped
	}
	return p.waitDrained(ctx, target)
}

// waitDrained blocks until the queue head is past target.
func (p *Publisher) waitDrained(ctx context.Context, target uint64) error {
	for {
		p.mu.Lock()
		drained := p.drainedLocked(target)
		pending := len(p.mem) + p.spool.len()
		stopped, ch := p.stopped, p.changed
		p.mu.Unlock()
		switch {
		case drained:
			return nil
		case stopped:
			return ErrStopped
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("flush: %d reports not yet acknowledged: %w", pending, ctx.Err())
		}
	}
}

// Stop stops accepting reports, keeps delivering until everything queued is
// acknowledged or ctx is done, then stops the sender and writes whatever is
// left to the spool, fsynced, for a later publisher on the same SpoolDir.
// It returns an error only if reports could not be saved.
func (p *Publisher) Stop(ctx context.Context) error {
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		return ErrStopped
	}
	p.stopping = true
	started, target := p.started, p.lastSeq
	p.mu.Unlock()

	if started {
		if err := p.waitDrained(ctx, target); err != nil {
			p.log.Info("stopping before every report was delivered; the rest stays in the spool", "reason", err)
		}
		p.cancel()
		<-p.done
	}
	err := p.shutdown()
	p.tr.close()
	p.m.collect.Unregister(p.reg) // a new publisher in this process may register again
	return err
}

// shutdown spills memory to the spool and closes it.
func (p *Publisher) shutdown() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	lost := p.spillLocked()
	if lost > 0 {
		p.countDropped(lost, dropSpoolError)
		p.mem = nil
	}
	err := p.spool.close()
	p.stopped = true
	p.notifyLocked()
	if lost > 0 {
		err = errors.Join(err, fmt.Errorf("%d reports could not be spooled and are lost", lost))
	}
	if err != nil {
		return fmt.Errorf("publisher stop: %w", err)
	}
	if n := p.spool.len(); n > 0 {
		p.log.Info("publisher stopped with undelivered reports in the spool", "reports", n, "bytes", p.spool.bytes())
	}
	return nil
}

// Stats returns the counters and the current queue.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	pending, bytes := len(p.mem)+p.spool.len(), p.spool.pendingBytes()
	p.mu.Unlock()
	return Stats{
		Published:    p.published.Load(),
		Acked:        p.acked.Load(),
		Retries:      p.retries.Load(),
		Spooled:      p.spooled.Load(),
		SpooledBytes: uint64(bytes),
		Dropped:      p.dropped.Load(),
		Failed:       p.failed.Load(),
		Pending:      pending,

		UnexpectedDuplicates: p.unexpectedDups.Load(),
	}
}

// Epoch is the spool's epoch, stamped on every report Publish numbers.
func (p *Publisher) Epoch() uint64 { return p.epoch }

func (p *Publisher) spoolBytesMetric() float64 { return float64(p.Stats().SpooledBytes) }
func (p *Publisher) pendingMetric() float64    { return float64(p.Stats().Pending) }

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
