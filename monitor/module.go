package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/health"
	"github.com/flowlens/flowlens/internal/promset"
	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/periods"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// Config tunes the monitor module.
type Config struct {
	// Grace is how long after a window ends its evaluation waits for late
	// agent reports (default 3 s). Rows whose interval ends in a window
	// already evaluated are counted as late and dropped.
	Grace time.Duration
	// Retention is how long evaluations (evidence, contributors: ~10-20 kB
	// of JSON each) are kept (default 24 h); metric points follow the
	// metric store's retention.
	Retention time.Duration
	// BaselineWindows is the health baselines' trailing length in windows
	// (default health.DefaultWindows).
	BaselineWindows int
	Health          health.Config
	// Monitors come from the server's config file; Start applies them.
	Monitors []ConfigMonitor
}

// ConfigMonitor is a monitor declared in the config file, with where.
type ConfigMonitor struct {
	Spec
	Where string // "file:line", for messages
}

func (c *Config) defaults() {
	if c.Grace <= 0 {
		c.Grace = 3 * time.Second
	}
	if c.Retention <= 0 {
		c.Retention = 24 * time.Hour
	}
}

// Dependencies are what the module uses of the server.
type Dependencies struct {
	Log      *slog.Logger
	Registry prometheus.Registerer
	// DB keeps the monitors and their evaluations.
	DB store.ComponentDB
	// Metrics receives the monitors' metric points.
	Metrics metricstore.Store
	// Topology returns the topology in force.
	Topology func() *topology.Topology
	// SubscribeFlows registers the module for every stored flow batch
	// (ingest.Ingester.Subscribe).
	SubscribeFlows func(name string, fn func(stored []*store.Batch)) error
}

var _ module.Module = (*Module)(nil)

// Module is the monitor feature inside the server.
type Module struct {
	cfg  Config
	deps Dependencies
	log  *slog.Logger
	db   *db

	mu       sync.Mutex
	monitors map[string]*Record
	accs     map[time.Duration]*accumulator
	last     map[string]*Evaluation

	now     func() time.Time
	stop    chan struct{}
	done    chan struct{}
	metrics moduleMetrics
}

// accumulator collects the windows of one period length, shared by every
// monitor with that period, and keeps that period's health baselines.
type accumulator struct {
	period time.Duration
	wins   *periods.Accumulator[window]
	base   *health.Baselines
}

func newWindow(start time.Time) *window { return &window{start: start, flows: map[flowID]*flowAgg{}} }

// New migrates the module's tables and subscribes to stored flows. It runs
// nothing; Start does.
func New(cfg Config, d Dependencies) (*Module, error) {
	cfg.defaults()
	if d.DB == nil || d.Metrics == nil || d.Topology == nil || d.SubscribeFlows == nil {
		return nil, errors.New("monitor: the server's store, metric store, topology and flow subscription are needed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mdb, err := openDB(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	m := &Module{cfg: cfg, deps: d, log: d.Log, db: mdb, monitors: map[string]*Record{},
		accs: map[time.Duration]*accumulator{}, last: map[string]*Evaluation{}, now: time.Now,
		stop: make(chan struct{}), done: make(chan struct{}), metrics: newModuleMetrics()}
	if m.log == nil {
		m.log = slog.Default()
	}
	if err := d.SubscribeFlows("monitor", m.onFlows); err != nil {
		return nil, err
	}
	return m, nil
}

// Start loads the monitors, applies the config file's, registers the
// metrics and runs the evaluator.
func (m *Module) Start(ctx context.Context) error {
	recs, err := m.db.list(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	for i := range recs {
		m.monitors[recs[i].Name] = &recs[i]
	}
	m.mu.Unlock()
	if err := m.applyConfig(ctx); err != nil {
		return err
	}
	for _, r := range m.List() {
		if evs, err := m.db.evaluations(ctx, r.Name, 1); err == nil && len(evs) > 0 {
			m.mu.Lock()
			m.last[r.Name] = evs[0]
			m.mu.Unlock()
		}
	}
	m.mu.Lock()
	for _, r := range m.monitors {
		m.ensureAccLocked(r.Period)
	}
	m.mu.Unlock()
	if err := m.metrics.set.Register(m.deps.Registry); err != nil {
		return fmt.Errorf("monitor metrics: %w", err)
	}
	go m.run()
	return nil
}

// Stop ends the evaluator.
func (m *Module) Stop(ctx context.Context) error {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	select {
	case <-m.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	m.metrics.set.Unregister(m.deps.Registry)
	return nil
}

// applyConfig creates or updates the config file's monitors and deletes
// monitors a previous config file declared that this one no longer does.
// Monitors created through the API are left alone.
func (m *Module) applyConfig(ctx context.Context) error {
	topo := m.deps.Topology()
	declared := map[string]bool{}
	for _, cm := range m.cfg.Monitors {
		spec := cm.Spec
		if err := spec.Validate(topo); err != nil {
			return fmt.Errorf("%s: monitor %s: %w", cm.Where, spec.Name, err)
		}
		if declared[spec.Name] {
			return fmt.Errorf("%s: monitor %s is declared twice", cm.Where, spec.Name)
		}
		declared[spec.Name] = true
		if _, err := m.Get(spec.Name); err == nil {
			if _, err := m.update(ctx, spec, SourceConfig); err != nil {
				return err
			}
		} else if _, err := m.create(ctx, spec, SourceConfig); err != nil {
			return err
		}
	}
	for _, r := range m.List() {
		if r.Source == SourceConfig && !declared[r.Name] {
			if err := m.Delete(ctx, r.Name); err != nil {
				return err
			}
			m.log.Info("deleted monitor no longer in the config file", "monitor", r.Name)
		}
	}
	return nil
}

// List returns the monitors, by name.
func (m *Module) List() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Record, 0, len(m.monitors))
	for _, r := range m.monitors {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get returns one monitor.
func (m *Module) Get(name string) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.monitors[name]
	if !ok {
		return Record{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return *r, nil
}

// Last returns a monitor's latest evaluation, nil before the first.
func (m *Module) Last(name string) *Evaluation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last[name]
}

// Evaluations returns a monitor's latest evaluations, newest first.
func (m *Module) Evaluations(ctx context.Context, name string, limit int) ([]*Evaluation, error) {
	if _, err := m.Get(name); err != nil {
		return nil, err
	}
	return m.db.evaluations(ctx, name, limit)
}

// Create adds a monitor through the API.
func (m *Module) Create(ctx context.Context, s Spec) (Record, error) {
	if err := s.Validate(m.deps.Topology()); err != nil {
		return Record{}, err
	}
	return m.create(ctx, s, SourceAPI)
}

func (m *Module) create(ctx context.Context, s Spec, source string) (Record, error) {
	now := m.now().UTC()
	r := Record{Spec: s, Source: source, Status: StatusPending, Created: now, Updated: now}
	if err := m.db.insert(ctx, r); err != nil {
		return Record{}, err
	}
	m.mu.Lock()
	m.monitors[s.Name] = &r
	m.ensureAccLocked(s.Period)
	m.mu.Unlock()
	m.log.Info("monitor created", "monitor", s.Name, "source", source, "period", s.Period)
	return r, nil
}

// Update replaces a monitor's resources and period through the API.
func (m *Module) Update(ctx context.Context, s Spec) (Record, error) {
	if err := s.Validate(m.deps.Topology()); err != nil {
		return Record{}, err
	}
	return m.update(ctx, s, SourceAPI)
}

func (m *Module) update(ctx context.Context, s Spec, source string) (Record, error) {
	old, err := m.Get(s.Name)
	if err != nil {
		return Record{}, err
	}
	r := old
	r.Spec, r.Source, r.Updated = s, source, m.now().UTC()
	if old.Period != s.Period {
		r.Status, r.StatusMessage = StatusPending, ""
	}
	if err := m.db.update(ctx, r); err != nil {
		return Record{}, err
	}
	m.mu.Lock()
	m.monitors[s.Name] = &r
	m.ensureAccLocked(s.Period)
	m.dropUnusedAccsLocked()
	m.mu.Unlock()
	return r, nil
}

// Delete removes a monitor, its evaluations and its gauges.
func (m *Module) Delete(ctx context.Context, name string) error {
	if err := m.db.remove(ctx, name); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.monitors, name)
	delete(m.last, name)
	m.dropUnusedAccsLocked()
	m.mu.Unlock()
	m.metrics.forget(name)
	m.log.Info("monitor deleted", "monitor", name)
	return nil
}

func (m *Module) ensureAccLocked(p time.Duration) {
	if _, ok := m.accs[p]; ok {
		return
	}
	// The window in progress started before this accumulator: it would be
	// partial, so the first one evaluated is the next (SkipCurrent).
	wins := periods.New(periods.Config{Period: p, Grace: m.cfg.Grace, SkipCurrent: true, MaxCatchUp: maxCatchUp}, m.now(), newWindow)
	m.accs[p] = &accumulator{period: p, wins: wins, base: health.NewBaselines(m.cfg.BaselineWindows)}
}

func (m *Module) dropUnusedAccsLocked() {
	used := map[time.Duration]bool{}
	for _, r := range m.monitors {
		used[r.Period] = true
	}
	for p := range m.accs {
		if !used[p] {
			delete(m.accs, p)
		}
	}
}

// onFlows is the module's feed subscriber: it runs on its own goroutine
// (see package feed) and files every stored row into the open window of
// every period in use. The batches are shared with other subscribers and
// only read; windows keep sums, never the rows.
func (m *Module) onFlows(batches []*store.Batch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range batches {
		m.fileLocked(b.Rows)
	}
}

func (m *Module) fileLocked(rows []store.FlowRow) {
	for _, a := range m.accs {
		for i := range rows {
			r := &rows[i]
			w, placed := a.wins.Window(r.End)
			if placed == periods.Late {
				m.metrics.late.Inc()
				continue
			}
			w.add(r)
		}
	}
}

// run evaluates every window once its grace has passed.
func (m *Module) run() {
	defer close(m.done)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	prune := time.NewTicker(10 * time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
			m.evaluateDue()
		case <-prune.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := m.db.prune(ctx, m.now().Add(-m.cfg.Retention)); err != nil {
				m.log.Warn("prune monitor evaluations", "err", err)
			}
			cancel()
		}
	}
}

// due is one window ready for evaluation.
type due struct {
	acc      *accumulator
	w        *window
	monitors []Spec
}

// maxCatchUp bounds how many past windows one tick evaluates (after a
// pause, older ones are skipped rather than replayed).
const maxCatchUp = 10

// evaluateDue takes every window whose end + grace has passed out of the
// accumulators and evaluates it.
func (m *Module) evaluateDue() {
	now := m.now()
	var work []due
	m.mu.Lock()
	for _, a := range m.accs {
		for _, c := range a.wins.Due(now) {
			d := due{acc: a, w: c.Window}
			for _, r := range m.monitors {
				if r.Period == a.period {
					d.monitors = append(d.monitors, r.Spec)
				}
			}
			work = append(work, d)
		}
	}
	m.mu.Unlock()
	sort.Slice(work, func(i, j int) bool { return work[i].w.start.Before(work[j].w.start) })
	for _, d := range work {
		m.evaluateWindow(d)
	}
}

// evaluateWindow judges one window for every monitor of its period and
// publishes the results. Baselines are only touched here, from the one
// evaluator goroutine.
func (m *Module) evaluateWindow(d due) {
	started := time.Now()
	period := d.acc.period
	var res *health.Result
	if len(d.w.flows) > 0 {
		res = health.Evaluate(m.cfg.Health, healthFlows(d.w), d.acc.base)
		d.acc.base.Learn(res)
	}
	topo := m.deps.Topology()
	var evs []*Evaluation
	var pts []metricstore.Point
	for i := range d.monitors {
		spec := &d.monitors[i]
		if err := spec.Validate(topo); err != nil {
			m.setStatus(spec.Name, StatusError, err.Error())
			continue
		}
		ev := evaluate(spec, d.w, period, res)
		evs = append(evs, ev)
		pts = append(pts, points(ev, period)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.deps.Metrics.Put(ctx, pts); err != nil {
		m.metrics.errors.Inc()
		m.log.Warn("store monitor metrics", "err", err)
	}
	if err := m.db.saveEvaluations(ctx, evs); err != nil {
		m.metrics.errors.Inc()
		m.log.Warn("store monitor evaluations", "err", err)
	}
	for _, ev := range evs {
		m.metrics.publish(ev)
		m.mu.Lock()
		if _, ok := m.monitors[ev.Monitor]; ok {
			m.last[ev.Monitor] = ev
		}
		m.mu.Unlock()
		m.setStatus(ev.Monitor, StatusActive, "")
		if ev.Health.State == health.Degraded {
			m.log.Info("monitor degraded", "monitor", ev.Monitor, "window", ev.WindowStart, "summary", ev.Health.Evidence.Summary)
		}
	}
	m.metrics.evaluations.Add(float64(len(evs)))
	m.metrics.seconds.Observe(time.Since(started).Seconds())
}

func (m *Module) setStatus(name, status, msg string) {
	m.mu.Lock()
	r, ok := m.monitors[name]
	changed := ok && (r.Status != status || r.StatusMessage != msg)
	if changed {
		r.Status, r.StatusMessage = status, msg
	}
	m.mu.Unlock()
	if !changed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.db.setStatus(ctx, name, status, msg); err != nil {
		m.log.Warn("monitor status", "monitor", name, "err", err)
	}
	if status == StatusError {
		m.log.Warn("monitor cannot be evaluated", "monitor", name, "reason", msg)
	}
}

// moduleMetrics are the module's Prometheus collectors: the monitors'
// figures as flowlens_monitor_* gauges, and the module's own counters.
type moduleMetrics struct {
	set         promset.Set
	gauges      map[string]*prometheus.GaugeVec
	rtt         *prometheus.GaugeVec
	evaluations prometheus.Counter
	late        prometheus.Counter
	errors      prometheus.Counter
	seconds     prometheus.Histogram
}

var gaugeHelp = map[string]string{
	MetricDataTransferred:    "Bytes sent and received by the monitor's flows in its last period.",
	MetricRetransmissions:    "Retransmitted segments of the monitor's flows in its last period.",
	MetricTimeouts:           "Retransmission timeouts (RTO events) of the monitor's flows in its last period.",
	MetricFailedConnections:  "Failed connections (refused, timed out, reset) of the monitor's flows in its last period.",
	MetricRetransmissionRate: "Retransmissions per segment sent by the monitor's flows in its last period.",
	MetricHealthIndicator:    "Network health indicator of the monitor's last period: 1 degraded, 0 healthy; absent when unknown.",
}

func newModuleMetrics() moduleMetrics {
	mm := moduleMetrics{gauges: map[string]*prometheus.GaugeVec{}}
	for metric, help := range gaugeHelp {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flowlens_monitor_" + metric, Help: help}, []string{"monitor"})
		mm.gauges[metric] = g
		mm.set = append(mm.set, g)
	}
	mm.rtt = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flowlens_monitor_round_trip_time_microseconds",
		Help: "Round-trip time of the monitor's flows in its last period (stat: avg, p50, p90, p99)."}, []string{"monitor", "stat"})
	mm.evaluations = prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_monitor_evaluations_total",
		Help: "Monitor evaluations (one per monitor and period)."})
	mm.late = prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_monitor_late_rows_total",
		Help: "Flow rows that arrived after their window was evaluated (dropped from monitors, still stored)."})
	mm.errors = prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_monitor_store_errors_total",
		Help: "Failures to store monitor metric points or evaluations."})
	mm.seconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flowlens_monitor_evaluation_seconds",
		Help: "Time to evaluate one window for every monitor of its period.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)})
	mm.set = append(mm.set, mm.rtt, mm.evaluations, mm.late, mm.errors, mm.seconds)
	return mm
}

func (mm *moduleMetrics) publish(ev *Evaluation) {
	me := &ev.Metrics
	mm.gauges[MetricDataTransferred].WithLabelValues(ev.Monitor).Set(float64(me.DataTransferred))
	mm.gauges[MetricRetransmissions].WithLabelValues(ev.Monitor).Set(float64(me.Retransmissions))
	mm.gauges[MetricTimeouts].WithLabelValues(ev.Monitor).Set(float64(me.Timeouts))
	mm.gauges[MetricFailedConnections].WithLabelValues(ev.Monitor).Set(float64(me.FailedConnections))
	mm.gauges[MetricRetransmissionRate].WithLabelValues(ev.Monitor).Set(me.RetransmissionRate)
	if r := me.RoundTripTime; r != nil {
		mm.rtt.WithLabelValues(ev.Monitor, "avg").Set(r.Avg)
		mm.rtt.WithLabelValues(ev.Monitor, "p50").Set(r.P50)
		mm.rtt.WithLabelValues(ev.Monitor, "p90").Set(r.P90)
		mm.rtt.WithLabelValues(ev.Monitor, "p99").Set(r.P99)
	} else {
		mm.rtt.DeletePartialMatch(prometheus.Labels{"monitor": ev.Monitor})
	}
	hi := mm.gauges[MetricHealthIndicator]
	switch ev.Health.State {
	case health.Degraded:
		hi.WithLabelValues(ev.Monitor).Set(1)
	case health.Healthy:
		hi.WithLabelValues(ev.Monitor).Set(0)
	default:
		hi.DeleteLabelValues(ev.Monitor)
	}
}

func (mm *moduleMetrics) forget(name string) {
	for _, g := range mm.gauges {
		g.DeleteLabelValues(name)
	}
	mm.rtt.DeletePartialMatch(prometheus.Labels{"monitor": name})
}
