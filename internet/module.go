// Package internet is the internet monitor: for the internet-facing flows
// of chosen local resources, per city-network (client city + ASN) and per
// period, traffic, RTT percentiles, retransmission and failed-connection
// rates, availability and performance scores against each city-network's
// own baseline, and health events that say whose network is at fault.
package internet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/geoip"
	"github.com/flowlens/flowlens/internal/promset"
	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// Config tunes the evaluator.
type Config struct {
	// Grace is how long after a period ends its evaluation waits for late
	// agent reports (default 40 s: agents report every 30 s).
	Grace time.Duration
	// MinPeriod is the shortest monitor period accepted (default 1 min;
	// tests lower it to run the lab in seconds).
	MinPeriod time.Duration
	// Tick is how often due periods are looked for (default 1 s).
	Tick time.Duration
	// MetricLocations is how many of the largest city-networks get their
	// own metric series per period (default 20).
	MetricLocations int
	// Now is the evaluator's clock (default time.Now); the simulator's
	// tests run it faster than the wall clock.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Grace <= 0 {
		c.Grace = 40 * time.Second
	}
	if c.MinPeriod <= 0 {
		c.MinPeriod = MinPeriod
	}
	if c.Tick <= 0 {
		c.Tick = time.Second
	}
	if c.MetricLocations <= 0 {
		c.MetricLocations = 20
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Module is the internet monitor inside the server.
type Module struct {
	cfg     Config
	log     *slog.Logger
	tables  *tables
	metrics metricstore.Store
	topo    func() *topology.Topology
	geo     GeoLookup
	prom    *promMetrics
	reg     prometheus.Registerer

	evalMu sync.Mutex // serializes EvaluateDue
	mu     sync.Mutex
	states map[string]*state
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

// GeoLookup describes an internet address (the geoip module's DB): the
// coordinates and AS name of the city-networks the monitor reports, and
// why an address has no network.
type GeoLookup interface {
	Lookup(ip netip.Addr) geoip.Info
	Unresolved(ip netip.Addr) string
}

// unresolved says why a remote address has no ASN.
func (m *Module) unresolved(ip netip.Addr) string {
	if m.geo == nil {
		if geoip.NotRouted(ip) {
			return geoip.ReasonPrivate
		}
		return geoip.ReasonNoDatabase
	}
	if r := m.geo.Unresolved(ip); r != "" {
		return r
	}
	// The databases know it now, but the flow was stored without a
	// network (enriched before a database was loaded).
	return geoip.ReasonNotInDatabase
}

// Dependencies are what the module uses of the server.
type Dependencies struct {
	Log      *slog.Logger
	Registry prometheus.Registerer
	// DB keeps the monitors, measurements and health events.
	DB store.ComponentDB
	// Metrics receives the scores and city-network metric points.
	Metrics metricstore.Store
	// Topology returns the topology in force.
	Topology func() *topology.Topology
	// SubscribeFlows registers the module for every stored flow batch
	// (ingest.Ingester.Subscribe); nil: the module sees no flows.
	SubscribeFlows func(name string, fn func(stored []*store.Batch)) error
	// GeoIP, when not nil, completes the locations the monitor reports.
	GeoIP GeoLookup
}

var _ module.Module = (*Module)(nil)

// New migrates the tables and subscribes to stored flows; Start runs the
// evaluator.
func New(cfg Config, d Dependencies) (*Module, error) {
	cfg.defaults()
	ctx := context.Background()
	t, err := openTables(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	m := &Module{cfg: cfg, log: d.Log, tables: t, metrics: d.Metrics, topo: d.Topology, prom: newPromMetrics(),
		reg: d.Registry, states: map[string]*state{}, wake: make(chan struct{}, 1)}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.geo = d.GeoIP
	if err := promset.Set(m.prom.all()).Register(d.Registry); err != nil {
		return nil, fmt.Errorf("internet metrics: %w", err)
	}
	mons, err := t.monitors(ctx)
	if err != nil {
		return nil, err
	}
	now := cfg.Now()
	for _, mon := range mons {
		st := newState(mon, now)
		// Rebuild the baselines from the stored measurements, so that a
		// restart does not leave the monitor blind for three periods.
		past, err := t.measurements(ctx, MeasurementQuery{Monitor: mon.Name, Start: now.Add(-baselineWindow * mon.Period()),
			End: now, Limit: 100_000})
		if err != nil {
			return nil, err
		}
		st.seed(past)
		m.states[mon.Name] = st
	}
	active, err := t.activeEvents(ctx)
	if err != nil {
		return nil, err
	}
	for i := range active {
		e := active[i]
		if st := m.states[e.Monitor]; st != nil {
			st.active[dimensionOf(e.Type)] = &e
		}
	}
	if d.SubscribeFlows != nil {
		if err := d.SubscribeFlows("internet", m.observe); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func dimensionOf(typ string) string {
	if strings.HasSuffix(typ, "AVAILABILITY") {
		return dimAvailability
	}
	return dimPerformance
}

// observe is the module's feed subscriber, on its own goroutine (see
// package feed): it files every internet flow into its monitors' open
// periods. The lock it takes is the evaluator's, never the ingest writer's.
func (m *Module) observe(batches []*store.Batch) {
	late, future := 0, 0
	m.mu.Lock()
	if len(m.states) == 0 {
		m.mu.Unlock()
		return
	}
	horizon := m.cfg.Now().Add(10 * time.Minute)
	for _, b := range batches {
		for i := range b.Rows {
			r := &b.Rows[i]
			if r.Remote.Kind != topology.KindInternet {
				continue
			}
			if r.End.After(horizon) {
				future++
				continue
			}
			for _, st := range m.states {
				if st.mon.matches(r) && !st.add(r, m.unresolved) {
					late++
				}
			}
		}
	}
	m.mu.Unlock()
	if late > 0 {
		m.prom.late.Add(float64(late))
	}
	if future > 0 {
		m.prom.future.Add(float64(future))
	}
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Start runs the evaluator.
func (m *Module) Start(context.Context) error {
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	go m.loop()
	return nil
}

// Stop ends the evaluator; open periods are not evaluated (their flows are
// stored, and the next start begins with the current period).
func (m *Module) Stop(ctx context.Context) error {
	if m.stop != nil {
		close(m.stop)
		select {
		case <-m.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	promset.Set(m.prom.all()).Unregister(m.reg)
	return nil
}

func (m *Module) loop() {
	defer close(m.done)
	t := time.NewTicker(m.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		case <-m.wake:
		}
		if err := m.EvaluateDue(context.Background()); err != nil {
			m.prom.errors.Inc()
			m.log.Error("internet monitor evaluation failed", "err", err)
		}
	}
}

// EvaluateDue evaluates every period that has ended (plus the grace) by
// the module's clock, stores the results and updates events.
func (m *Module) EvaluateDue(ctx context.Context) error {
	// One evaluation at a time: the loop (woken by new flows) and callers
	// such as tests on simulated time would otherwise store the same
	// events concurrently.
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	type job struct {
		mon string
		res periodResult
	}
	var jobs []job
	m.mu.Lock()
	now := m.cfg.Now()
	names := make([]string, 0, len(m.states))
	for n := range m.states {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		st := m.states[n]
		for _, start := range st.due(now, m.cfg.Grace) {
			res := st.evaluate(start, m.geo, m.cfg.MetricLocations)
			// Events are shared with the state; store copies.
			for i, e := range res.changed {
				c := *e
				res.changed[i] = &c
			}
			jobs = append(jobs, job{n, res})
		}
	}
	m.mu.Unlock()
	var errs []error
	for _, j := range jobs {
		if err := m.tables.putPeriod(ctx, j.res.overall, j.res.measurements, j.res.changed); err != nil {
			errs = append(errs, err)
			continue
		}
		if m.metrics != nil {
			if err := m.metrics.Put(ctx, j.res.points); err != nil {
				errs = append(errs, err)
			}
		}
		m.prom.observe(j.mon, j.res)
		for _, e := range j.res.changed {
			m.log.Info("internet health event", "monitor", e.Monitor, "id", e.ID, "status", e.Status, "type", e.Type,
				"cause", e.Cause.Kind, "asn", e.Cause.ASN, "city", e.Cause.City, "score", e.OverallScore, "summary", e.Cause.Summary)
		}
	}
	m.mu.Lock()
	for n, st := range m.states {
		m.prom.active.WithLabelValues(n).Set(float64(len(st.active)))
	}
	m.mu.Unlock()
	return errors.Join(errs...)
}

// CreateMonitor checks, stores and starts a monitor.
func (m *Module) CreateMonitor(ctx context.Context, mon Monitor) (Monitor, error) {
	if err := mon.normalize(m.cfg.MinPeriod); err != nil {
		return mon, err
	}
	if m.topo != nil {
		if err := mon.check(m.topo()); err != nil {
			return mon, err
		}
	}
	mon.CreatedAt = m.cfg.Now().UTC().Truncate(time.Second)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.states[mon.Name]; ok {
		return mon, fmt.Errorf("%w: %s", ErrExists, mon.Name)
	}
	if err := m.tables.putMonitor(ctx, mon); err != nil {
		return mon, err
	}
	m.states[mon.Name] = newState(mon, m.cfg.Now())
	return mon, nil
}

// DeleteMonitor stops and removes a monitor; its measurements and events
// stay.
func (m *Module) DeleteMonitor(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.tables.deleteMonitor(ctx, name); err != nil {
		return err
	}
	delete(m.states, name)
	m.prom.forget(name)
	return nil
}

// Monitors lists the monitors.
func (m *Module) Monitors() []Monitor {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Monitor, 0, len(m.states))
	for _, st := range m.states {
		out = append(out, st.mon)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Monitor returns one monitor.
func (m *Module) Monitor(name string) (Monitor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.states[name]
	if !ok {
		return Monitor{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return st.mon, nil
}

// Measurements lists stored measurements.
func (m *Module) Measurements(ctx context.Context, q MeasurementQuery) ([]Measurement, error) {
	return m.tables.measurements(ctx, q)
}

// TopLocations ranks city-networks over a range.
func (m *Module) TopLocations(ctx context.Context, q MeasurementQuery) ([]TopLocation, error) {
	return m.tables.topLocations(ctx, q)
}

// OverallSeries lists a monitor's overall figures over a range.
func (m *Module) OverallSeries(ctx context.Context, monitor string, start, end time.Time) ([]Overall, error) {
	return m.tables.overall(ctx, monitor, start, end)
}

// Events lists health events.
func (m *Module) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	return m.tables.events(ctx, q)
}

// Now is the module's clock (the simulator's tests run it fast).
func (m *Module) Now() time.Time { return m.cfg.Now() }

type promMetrics struct {
	availability, performance, cityNetworks, active *prometheus.GaugeVec
	bytes                                           *prometheus.CounterVec
	periods                                         *prometheus.CounterVec
	late, future, errors                            prometheus.Counter
}

func newPromMetrics() *promMetrics {
	g := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"monitor"})
	}
	return &promMetrics{
		availability: g("flowlens_internet_availability_score", "Overall availability score of the last evaluated period (percent of traffic not impacted)."),
		performance:  g("flowlens_internet_performance_score", "Overall performance score of the last evaluated period (percent of traffic not impacted)."),
		cityNetworks: g("flowlens_internet_city_networks", "City-networks monitored in the last evaluated period."),
		active:       g("flowlens_internet_events_active", "Internet health events currently active."),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_internet_bytes_total",
			Help: "Bytes of monitored internet traffic, by direction (in: received by our hosts)."}, []string{"monitor", "direction"}),
		periods: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_internet_periods_evaluated_total",
			Help: "Periods evaluated."}, []string{"monitor"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_internet_late_flows_total",
			Help: "Flow records that arrived after their period was evaluated (raise the grace if this grows)."}),
		future: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_internet_future_flows_total",
			Help: "Flow records dated more than 10 minutes ahead of the server clock, ignored."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_internet_evaluation_errors_total",
			Help: "Evaluations whose results could not be stored."}),
	}
}

func (p *promMetrics) all() []prometheus.Collector {
	return []prometheus.Collector{p.availability, p.performance, p.cityNetworks, p.active, p.bytes, p.periods, p.late, p.future, p.errors}
}

func (p *promMetrics) observe(mon string, r periodResult) {
	p.availability.WithLabelValues(mon).Set(r.overall.AvailabilityScore)
	p.performance.WithLabelValues(mon).Set(r.overall.PerformanceScore)
	p.cityNetworks.WithLabelValues(mon).Set(float64(r.overall.CityNetworks))
	p.bytes.WithLabelValues(mon, "in").Add(float64(r.overall.BytesIn))
	p.bytes.WithLabelValues(mon, "out").Add(float64(r.overall.BytesOut))
	p.periods.WithLabelValues(mon).Inc()
}

func (p *promMetrics) forget(mon string) {
	for _, v := range []*prometheus.GaugeVec{p.availability, p.performance, p.cityNetworks, p.active} {
		v.DeleteLabelValues(mon)
	}
	p.bytes.DeleteLabelValues(mon, "in")
	p.bytes.DeleteLabelValues(mon, "out")
	p.periods.DeleteLabelValues(mon)
}
