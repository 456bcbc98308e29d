// Package ingest receives agent reports over HTTP, places every flow in the
// topology and writes them to the store with group commit. It acknowledges a
// report only once the store has made it durable.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/enrich"
	"github.com/flowlens/flowlens/feed"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
	"github.com/flowlens/flowlens/wire"
	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

// Config bounds what the ingest path accepts and holds.
type Config struct {
	// MaxBodyBytes is the largest compressed body accepted (413 beyond).
	MaxBodyBytes int64
	// MaxDecodedBytes is the largest decompressed report (413 beyond).
	MaxDecodedBytes int64
	// MaxPendingRows is how many decoded rows may wait for the store before
	// new reports are turned away with 503 and Retry-After.
	MaxPendingRows int
	// MaxWriteRows caps the rows of one group commit.
	MaxWriteRows int
	// RetryAfter is what overloaded answers tell clients to wait.
	RetryAfter time.Duration
	// MaxReportMemory bounds the estimated memory of one decoded report's
	// flows (413 beyond; see wire.Limits).
	MaxReportMemory int64
	// MaxConcurrentDecodes bounds the reports being decoded and enriched
	// at once; each may hold up to MaxReportMemory.
	MaxConcurrentDecodes int
	// DecodeWait is how long a report waits for a decode slot before it is
	// turned away with 503 and Retry-After.
	DecodeWait time.Duration
	// Agents bounds the agent registry (see NewAgentsWith; the server
	// builds the registry from it).
	Agents AgentsConfig
	// Feed bounds each stored-flow subscriber's queue (see feed.Config).
	Feed feed.Config
	// SlowSubscriber, when set, attaches a feed subscriber that sleeps this
	// long per commit: flowlens-bench --slow-subscriber measures that a
	// subscriber that falls behind does not slow ingest.
	SlowSubscriber time.Duration
}

// DefaultConfig is sized for the embedded store on a small machine.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:    32 << 20,
		MaxDecodedBytes: 256 << 20,
		MaxPendingRows:  1_000_000,
		MaxWriteRows:    200_000,
		RetryAfter:      time.Second,
		MaxReportMemory: wire.DefaultMaxReportMemory,
		// Decoding and enrichment are CPU work: more at once would not
		// finish sooner, only hold more memory.
		MaxConcurrentDecodes: 2 * runtime.GOMAXPROCS(0),
		DecodeWait:           5 * time.Second,
		Agents:               DefaultAgentsConfig(),
		Feed:                 feed.DefaultConfig(),
	}
}

// Ingester is the HTTP handler for POST /api/v1/ingest and its writer.
type Ingester struct {
	cfg      Config
	store    store.Store
	topology *atomic.Pointer[topology.Topology]
	agents   *Agents
	log      *slog.Logger
	metrics  *metrics

	// decodeSlots holds a token per report being decoded and enriched.
	decodeSlots chan struct{}
	queue       chan *pending
	pending     atomic.Int64 // rows queued or being written
	// feed hands every newly stored batch to the subscribers; see Subscribe.
	feed *feed.Feed
	// enrichment runs after the topology placement; see Enrich.
	enrichment enrich.Chain
	stop       chan struct{}
	done       chan struct{}
	once       sync.Once
}

// pending is one decoded report waiting for its group commit.
type pending struct {
	batch  *store.Batch
	result chan writeResult
}

type writeResult struct {
	duplicate bool
	err       error
}

// New builds an inert ingester; Start runs its writer.
func New(cfg Config, st store.Store, topo *atomic.Pointer[topology.Topology], agents *Agents,
	log *slog.Logger, reg prometheus.Registerer) *Ingester {
	def := DefaultConfig()
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = def.MaxBodyBytes
	}
	if cfg.MaxDecodedBytes <= 0 {
		cfg.MaxDecodedBytes = def.MaxDecodedBytes
	}
	if cfg.MaxPendingRows <= 0 {
		cfg.MaxPendingRows = def.MaxPendingRows
	}
	if cfg.MaxWriteRows <= 0 {
		cfg.MaxWriteRows = def.MaxWriteRows
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = def.RetryAfter
	}
	if cfg.MaxReportMemory <= 0 {
		cfg.MaxReportMemory = def.MaxReportMemory
	}
	if cfg.MaxConcurrentDecodes <= 0 {
		cfg.MaxConcurrentDecodes = def.MaxConcurrentDecodes
	}
	if cfg.DecodeWait <= 0 {
		cfg.DecodeWait = def.DecodeWait
	}
	in := &Ingester{
		cfg: cfg, store: st, topology: topo, agents: agents, log: log,
		metrics:     newMetrics(reg),
		feed:        feed.New(cfg.Feed, log, reg),
		decodeSlots: make(chan struct{}, cfg.MaxConcurrentDecodes),
		queue:       make(chan *pending, 4096),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	if cfg.SlowSubscriber > 0 {
		in.feed.Subscribe("slow-test", func([]*store.Batch) { time.Sleep(cfg.SlowSubscriber) }) //nolint:errcheck // the name is valid and first
	}
	return in
}

// Subscribe registers fn, under a name unique among subscribers (the
// label of its flowlens_feed_* metrics), to receive every batch once it is
// durable, in commit order; duplicates (already stored) are not passed
// again. fn runs on its own goroutine behind its own bounded queue (see
// package feed): it never delays ingest or the other subscribers, and
// when it falls behind it loses commits, counted on /metrics. It must not
// modify the batches. Monitors and the internet monitor evaluate from this
// stream, which is why they see a flow within one commit of its arrival.
func (in *Ingester) Subscribe(name string, fn feed.Handler) error {
	return in.feed.Subscribe(name, fn)
}

// Enrich registers an enrichment provider (see package enrich): after the
// topology has placed both ends of a flow, the providers run in their
// order in the handler goroutines, before the store write, so the stored
// flows carry what they add. Call it before Start.
func (in *Ingester) Enrich(p enrich.Provider) error { return in.enrichment.Register(p) }

// SyncFeed returns once every feed subscriber has handled what was
// published before the call (see feed.Feed.Sync): tests that drive
// simulated time use it to evaluate after the acknowledged reports.
func (in *Ingester) SyncFeed(ctx context.Context) error { return in.feed.Sync(ctx) }

// Start runs the writer goroutine and the feed's subscribers.
func (in *Ingester) Start() {
	in.feed.Start()
	go in.writeLoop()
}

// Stop lets the writer finish what is queued, then the feed's subscribers
// handle what was published, then returns.
func (in *Ingester) Stop(ctx context.Context) error {
	in.once.Do(func() { close(in.stop) })
	select {
	case <-in.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return in.feed.Stop(ctx)
}

// ingestResponse is the JSON body of every ingest answer.
type ingestResponse struct {
	Status    string `json:"status"`
	Flows     int    `json:"flows,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Error     string `json:"error,omitempty"`
}

func (in *Ingester) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		in.answer(w, http.StatusMethodNotAllowed, ingestResponse{Error: "use POST"})
		return
	}
	body, err := in.readBody(w, r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			in.metrics.refused.WithLabelValues("body_too_large").Inc()
			in.reject(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes; send smaller reports", in.cfg.MaxBodyBytes))
			return
		}
		in.reject(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	batch, ok := in.decode(w, r, body)
	if !ok {
		return
	}
	rows := len(batch.Rows)
	p := &pending{batch: batch, result: make(chan writeResult, 1)}
	select {
	case in.queue <- p:
	case <-r.Context().Done():
		in.pending.Add(-int64(rows))
		return
	case <-in.stop:
		in.pending.Add(-int64(rows))
		in.overloaded(w, "server shutting down")
		return
	}
	select {
	case res := <-p.result:
		if res.err != nil {
			in.overloaded(w, "store unavailable")
			return
		}
		if res.duplicate {
			in.metrics.reports.WithLabelValues("duplicate").Inc()
		} else {
			in.metrics.reports.WithLabelValues("stored").Inc()
			in.metrics.flows.Add(float64(rows))
		}
		in.answer(w, http.StatusOK, ingestResponse{Status: "stored", Flows: rows, Duplicate: res.duplicate})
	case <-r.Context().Done():
		// The client gave up; the batch may still commit, and its retry
		// will then be acknowledged as a duplicate.
	}
}

// readBody reads the compressed body, at most MaxBodyBytes, into one
// buffer sized by Content-Length when the client sent it.
func (in *Ingester) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, in.cfg.MaxBodyBytes)
	if r.ContentLength <= 0 || r.ContentLength > in.cfg.MaxBodyBytes {
		return io.ReadAll(body)
	}
	buf := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// decode turns a body into an enriched batch within a decode slot, or
// answers the refusal and returns false.
func (in *Ingester) decode(w http.ResponseWriter, r *http.Request, body []byte) (*store.Batch, bool) {
	if !in.acquireDecodeSlot(r.Context()) {
		in.metrics.refused.WithLabelValues("decoders_busy").Inc()
		in.overloaded(w, "every decoder busy")
		return nil, false
	}
	defer func() { <-in.decodeSlots }()
	lim := wire.Limits{MaxDecodedBytes: in.cfg.MaxDecodedBytes, MaxFlows: wire.MaxFlowsPerReport, MaxMemoryBytes: in.cfg.MaxReportMemory}
	report, err := wire.DecodeLimited(body, r.Header.Get("Content-Encoding"), lim, time.Now())
	switch {
	case errors.Is(err, wire.ErrTooLarge):
		in.metrics.refused.WithLabelValues("too_large").Inc()
		in.reject(w, http.StatusRequestEntityTooLarge, err.Error()+"; send smaller reports")
		return nil, false
	case errors.Is(err, wire.ErrBadTime):
		in.metrics.refused.WithLabelValues("bad_time").Inc()
		in.reject(w, http.StatusBadRequest, "malformed report: "+err.Error())
		return nil, false
	case err != nil:
		in.metrics.refused.WithLabelValues("malformed").Inc()
		in.reject(w, http.StatusBadRequest, "malformed report: "+err.Error())
		return nil, false
	}
	if !AgentAllowed(r.Context(), report.AgentId) {
		in.metrics.reports.WithLabelValues("forbidden").Inc()
		in.answer(w, http.StatusForbidden, ingestResponse{Status: "rejected",
			Error: fmt.Sprintf("this token may not report as agent_id %q", report.AgentId)})
		return nil, false
	}
	in.metrics.bytesIn.Add(float64(len(body)))
	if !in.agents.Seen(report, time.Now()) {
		in.metrics.agentsUnlisted.Inc()
	}
	rows := len(report.Flows)
	if in.pending.Add(int64(rows)) > int64(in.cfg.MaxPendingRows) && rows > 0 {
		in.pending.Add(-int64(rows))
		in.overloaded(w, "ingest queue full")
		return nil, false
	}
	return in.enrich(report), true
}

// acquireDecodeSlot waits for a decode slot until the request ends, the
// server stops or DecodeWait passes.
func (in *Ingester) acquireDecodeSlot(ctx context.Context) bool {
	select {
	case in.decodeSlots <- struct{}{}:
		return true
	default:
	}
	wait := time.NewTimer(in.cfg.DecodeWait)
	defer wait.Stop()
	select {
	case in.decodeSlots <- struct{}{}:
		return true
	case <-ctx.Done():
	case <-wait.C:
	case <-in.stop:
	}
	return false
}

func (in *Ingester) reject(w http.ResponseWriter, code int, msg string) {
	in.metrics.reports.WithLabelValues("rejected").Inc()
	in.answer(w, code, ingestResponse{Status: "rejected", Error: msg})
}

func (in *Ingester) overloaded(w http.ResponseWriter, msg string) {
	in.metrics.reports.WithLabelValues("overloaded").Inc()
	w.Header().Set("Retry-After", strconv.Itoa(int((in.cfg.RetryAfter+time.Second-1)/time.Second)))
	in.answer(w, http.StatusServiceUnavailable, ingestResponse{Status: "retry", Error: msg})
}

func (in *Ingester) answer(w http.ResponseWriter, code int, body ingestResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

// writeLoop is the single store writer. It takes whatever reports are
// waiting, up to MaxWriteRows, and commits them in one transaction: under
// load, batches grow and the per-commit cost is shared.
func (in *Ingester) writeLoop() {
	defer close(in.done)
	for {
		select {
		case p := <-in.queue:
			in.writeGroup(in.collect(p))
		case <-in.stop:
			in.drain()
			return
		}
	}
}

func (in *Ingester) collect(first *pending) []*pending {
	group := []*pending{first}
	rows := len(first.batch.Rows)
	for rows < in.cfg.MaxWriteRows {
		select {
		case p := <-in.queue:
			group = append(group, p)
			rows += len(p.batch.Rows)
		default:
			return group
		}
	}
	return group
}

func (in *Ingester) drain() {
	for {
		select {
		case p := <-in.queue:
			in.writeGroup(in.collect(p))
		default:
			return
		}
	}
}

func (in *Ingester) writeGroup(group []*pending) {
	batches := make([]*store.Batch, len(group))
	rows := 0
	for i, p := range group {
		batches[i] = p.batch
		rows += len(p.batch.Rows)
	}
	start := time.Now()
	dup, err := in.store.Write(context.Background(), batches)
	in.metrics.writeSeconds.Observe(time.Since(start).Seconds())
	in.metrics.writeRows.Observe(float64(rows))
	if err != nil {
		in.metrics.writeErrors.Inc()
		in.log.Error("store write failed; reports will be retried by their agents", "reports", len(group), "rows", rows, "err", err)
	}
	if err == nil {
		in.publish(batches, dup)
	}
	for i, p := range group {
		res := writeResult{err: err}
		if err == nil {
			res.duplicate = dup[i]
		}
		p.result <- res
	}
	in.pending.Add(-int64(rows))
}

// publish hands the newly stored batches to the feed; it never blocks.
func (in *Ingester) publish(batches []*store.Batch, dup []bool) {
	fresh := make([]*store.Batch, 0, len(batches))
	for i, b := range batches {
		if !dup[i] {
			fresh = append(fresh, b)
		}
	}
	in.feed.Publish(fresh)
}

// enrich converts a report to a store batch, placing both ends of every flow
// in the current topology and classifying it.
func (in *Ingester) enrich(r *pb.Report) *store.Batch {
	topo := in.topology.Load()
	hostID := r.GetHost().GetHostId()
	if hostID == "" {
		hostID = r.AgentId
	}
	start := time.UnixMilli(r.IntervalStartUnixMs)
	end := time.UnixMilli(r.IntervalEndUnixMs)
	hostGroup := topo.HostGroupOf(hostID)
	providers := in.enrichment.Runner()
	b := &store.Batch{AgentID: r.AgentId, Epoch: r.Epoch, Sequence: r.Sequence, Rows: make([]store.FlowRow, len(r.Flows))}
	for i, f := range r.Flows {
		row := &b.Rows[i]
		row.Start, row.End = start, end
		row.AgentID, row.HostID = r.AgentId, hostID
		wire.ToRecord(f, &row.Record)
		row.Local = topo.Lookup(row.Key.LocalIP)
		if hostGroup != "" {
			row.Local.HostGroup = hostGroup
		}
		row.Remote = topo.Lookup(row.Key.RemoteIP)
		if len(providers) > 0 {
			f := enrich.Flow{HostID: hostID, Local: enrich.Endpoint{IP: row.Key.LocalIP, Loc: &row.Local},
				Remote: enrich.Endpoint{IP: row.Key.RemoteIP, Loc: &row.Remote}}
			for _, fn := range providers {
				fn(&f)
			}
		}
		row.Category = topology.Classify(row.Local, row.Remote)
	}
	return b
}

type metrics struct {
	reports        *prometheus.CounterVec
	refused        *prometheus.CounterVec
	agentsUnlisted prometheus.Counter
	flows          prometheus.Counter
	bytesIn        prometheus.Counter
	writeSeconds   prometheus.Histogram
	writeRows      prometheus.Histogram
	writeErrors    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowlens_ingest_reports_total", Help: "Agent reports received, by result (stored, duplicate, rejected, forbidden, overloaded).",
		}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowlens_ingest_refused_total",
			Help: "Reports refused, by reason (body_too_large, too_large: decoded size, flows or memory past the limits, bad_time, malformed, decoders_busy).",
		}, []string{"reason"}),
		agentsUnlisted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flowlens_ingest_agents_unlisted_total", Help: "Reports from new agents the full agent registry did not list (their flows are stored).",
		}),
		flows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flowlens_ingest_flows_total", Help: "Flow records stored.",
		}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flowlens_ingest_body_bytes_total", Help: "Compressed report bytes received.",
		}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "flowlens_ingest_commit_seconds", Help: "Duration of one group commit.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		writeRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "flowlens_ingest_commit_rows", Help: "Rows in one group commit.",
			Buckets: prometheus.ExponentialBuckets(10, 4, 9),
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flowlens_ingest_commit_errors_total", Help: "Group commits the store refused.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.reports, m.refused, m.agentsUnlisted, m.flows, m.bytesIn, m.writeSeconds, m.writeRows, m.writeErrors)
	}
	return m
}
