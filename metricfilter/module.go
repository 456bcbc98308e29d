package metricfilter

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/apierr"
	"github.com/flowlens/flowlens/internal/httpjson"
	"github.com/flowlens/flowlens/internal/promset"
	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/store"
)

// Config tunes the module; zero values take the defaults.
type Config struct {
	// FlushEvery is how often finished minutes are written (default 10 s).
	FlushEvery time.Duration
	// MaxPending bounds the points kept in memory; beyond it everything
	// pending is written at once (default 500,000).
	MaxPending int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.FlushEvery <= 0 {
		c.FlushEvery = 10 * time.Second
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 500_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// markRetention is how long the minutes a filter wrote are remembered
// (the metric store's default retention).
const markRetention = 400 * 24 * time.Hour

// ErrNotFound is returned for a filter that does not exist.
var ErrNotFound = apierr.NotFound("no such metric filter")

// Module applies metric filters to ingested log records and serves
//
//	GET    /api/v1/metric-filters[?group=G]       the filters
//	POST   /api/v1/metric-filters                 create or replace one
//	DELETE /api/v1/metric-filters/{group}/{name}  delete one
//	POST   /api/v1/metric-filters/test            run a pattern over sample lines
//
// The flow-log importer calls Ingested with every batch it stores.
type Module struct {
	cfg     Config
	log     *slog.Logger
	reg     prometheus.Registerer
	db      store.ComponentDB
	points  metricstore.Store
	metrics *metrics

	mu      sync.RWMutex // guards byGroup and tables
	byGroup map[string][]*Compiled
	tables  *sql.DB

	aggMu   sync.Mutex // guards pending
	pending map[aggKey]agg
	npend   atomic.Int64

	flushMu sync.Mutex // one flush at a time
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

// Dependencies are what the module uses of the server.
type Dependencies struct {
	Log      *slog.Logger
	Registry prometheus.Registerer
	// DB keeps the filters and the minutes each has written.
	DB store.ComponentDB
	// Metrics receives the filters' one-minute points.
	Metrics metricstore.Store
}

var _ module.Module = (*Module)(nil)

// New returns the module; it does nothing until Start. The flow-log
// importer takes it as its Ingester.
func New(cfg Config, d Dependencies) *Module {
	cfg.defaults()
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Module{cfg: cfg, log: log, reg: d.Registry, db: d.DB, points: d.Metrics, metrics: newMetrics(),
		byGroup: map[string][]*Compiled{}, pending: map[aggKey]agg{}, wake: make(chan struct{}, 1)}
}

// NewModule is New for the server: it refuses missing dependencies.
func NewModule(cfg Config, d Dependencies) (*Module, error) {
	if d.DB == nil || d.Metrics == nil {
		return nil, errors.New("metric filters need the component database and the metric store")
	}
	return New(cfg, d), nil
}

var migrations = []store.Migration{{Version: 1, Name: "metric filters", Stmts: []string{
	`CREATE TABLE metric_filters (
		grp        VARCHAR NOT NULL,
		name       VARCHAR NOT NULL,
		definition VARCHAR NOT NULL,
		PRIMARY KEY (grp, name)
	)`,
}}, {Version: 2, Name: "minutes each filter has written", Stmts: []string{
	`CREATE TABLE metric_filter_minutes (
		grp    VARCHAR NOT NULL,
		name   VARCHAR NOT NULL,
		minute BIGINT NOT NULL
	)`,
}}}

// Start loads the filters and starts the flush loop.
func (m *Module) Start(ctx context.Context) error {
	if err := m.db.MigrateComponent(ctx, "metricfilter", migrations); err != nil {
		return err
	}
	// Marks older than the longest metric retention serve no merge.
	if _, err := m.db.DB().ExecContext(ctx, `DELETE FROM metric_filter_minutes WHERE minute < ?`,
		m.cfg.Now().Add(-markRetention).Unix()); err != nil {
		return fmt.Errorf("prune written minutes: %w", err)
	}
	rows, err := m.db.DB().QueryContext(ctx, `SELECT definition FROM metric_filters ORDER BY grp, name`)
	if err != nil {
		return fmt.Errorf("load metric filters: %w", err)
	}
	defer rows.Close()
	byGroup := map[string][]*Compiled{}
	for rows.Next() {
		var def string
		if err := rows.Scan(&def); err != nil {
			return fmt.Errorf("load metric filters: %w", err)
		}
		var f Filter
		if err := json.Unmarshal([]byte(def), &f); err != nil {
			return fmt.Errorf("load metric filter %q: %w", def, err)
		}
		c, err := Compile(f)
		if err != nil {
			// A filter stored by an older version that this one refuses:
			// keep the server up, say which.
			m.log.Error("stored metric filter no longer valid, skipped", "group", f.Group, "name", f.Name, "err", err)
			continue
		}
		byGroup[f.Group] = append(byGroup[f.Group], c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load metric filters: %w", err)
	}
	if err := m.metrics.collect.Register(m.reg); err != nil {
		return fmt.Errorf("metric filter metrics: %w", err)
	}
	m.mu.Lock()
	m.byGroup, m.tables = byGroup, m.db.DB()
	m.mu.Unlock()
	m.metrics.filters.Set(float64(countFilters(byGroup)))
	loopCtx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan struct{})
	go m.loop(loopCtx)
	return nil
}

func countFilters(by map[string][]*Compiled) int {
	n := 0
	for _, fs := range by {
		n += len(fs)
	}
	return n
}

// Stop writes everything pending, finished minute or not, so nothing is
// lost.
func (m *Module) Stop(ctx context.Context) error {
	if m.cancel == nil {
		return nil
	}
	m.cancel()
	select {
	case <-m.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := m.Flush(ctx, true)
	m.metrics.collect.Unregister(m.reg)
	return err
}

func (m *Module) loop(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(m.cfg.FlushEvery)
	defer t.Stop()
	for {
		all := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.wake:
			all = true // too much pending: write it all
		}
		if err := m.Flush(ctx, all); err != nil && ctx.Err() == nil {
			m.log.Warn("metric filter flush failed; points kept for the next try", "err", err)
		}
	}
}

// Ingested applies the group's filters to a batch of stored records (time
// in Unix seconds, message the record line). It is cheap when the group
// has no filter.
func (m *Module) Ingested(group string, unixSec []int64, messages []string) {
	m.mu.RLock()
	filters := m.byGroup[group]
	m.mu.RUnlock()
	if len(filters) == 0 {
		return
	}
	local := make(map[aggKey]*agg)
	st := apply(filters, unixSec, messages, local)
	m.metrics.records.Add(float64(st.records))
	m.metrics.matched.Add(float64(st.matched))
	m.metrics.badValues.Add(float64(st.badValue))
	m.aggMu.Lock()
	for k, a := range local {
		cur := m.pending[k]
		cur.merge(*a)
		m.pending[k] = cur
	}
	n := len(m.pending)
	m.aggMu.Unlock()
	m.npend.Store(int64(n))
	if n > m.cfg.MaxPending {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

// Flush writes the points of finished minutes (every point when all is
// true), merged with what is already stored for those minutes. On failure
// the points go back to pending for the next try.
func (m *Module) Flush(ctx context.Context, all bool) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	cutoff := m.cfg.Now().Unix() / 60 * 60 // start of the current minute
	taken := map[aggKey]agg{}
	m.aggMu.Lock()
	for k, a := range m.pending {
		if all || k.minute < cutoff {
			taken[k] = a
			delete(m.pending, k)
		}
	}
	m.npend.Store(int64(len(m.pending)))
	m.aggMu.Unlock()
	if len(taken) == 0 {
		return nil
	}
	pts, keys := toPoints(taken)
	again, err := m.markWritten(ctx, keys)
	if err == nil && len(again) > 0 {
		late := make([]*metricstore.Point, len(again))
		for i, j := range again {
			late[i] = &pts[j]
		}
		m.metrics.merged.Add(float64(len(late)))
		err = mergeStored(ctx, m.points, late)
	}
	if err == nil {
		err = m.points.Put(ctx, pts)
	}
	if err != nil {
		m.metrics.flushErrors.Inc()
		m.aggMu.Lock()
		for k, a := range taken {
			cur := m.pending[k]
			cur.merge(a)
			m.pending[k] = cur
		}
		m.aggMu.Unlock()
		return err
	}
	m.metrics.points.Add(float64(len(pts)))
	return nil
}

// markWritten records in metric_filter_minutes that each key's filter
// wrote its minute, and returns the indexes of the keys whose minute it
// had written before: only those need the stored copy read and added. The
// mark is written before the points, so a crash in between leaves a mark
// without a point (a later merge finds nothing to add), never a point
// without a mark (which a later copy would silently replace).
func (m *Module) markWritten(ctx context.Context, keys []aggKey) ([]int, error) {
	type span struct{ lo, hi int64 }
	spans := map[*Compiled]*span{}
	for _, k := range keys {
		s, ok := spans[k.f]
		if !ok {
			spans[k.f] = &span{k.minute, k.minute}
			continue
		}
		s.lo, s.hi = min(s.lo, k.minute), max(s.hi, k.minute)
	}
	type fm struct {
		f      *Compiled
		minute int64
	}
	seen := map[fm]bool{}
	for f, s := range spans {
		rows, err := m.db.DB().QueryContext(ctx, `SELECT minute FROM metric_filter_minutes WHERE grp = ? AND name = ? AND minute BETWEEN ? AND ?`,
			f.Group, f.Name, s.lo, s.hi)
		if err != nil {
			return nil, fmt.Errorf("read written minutes of %s/%s: %w", f.Group, f.Name, err)
		}
		for rows.Next() {
			var minute int64
			if err := rows.Scan(&minute); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read written minutes: %w", err)
			}
			seen[fm{f, minute}] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read written minutes: %w", err)
		}
	}
	var again []int
	tx, err := m.db.DB().BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("mark written minutes: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO metric_filter_minutes VALUES (?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("mark written minutes: %w", err)
	}
	defer stmt.Close()
	marked := map[fm]bool{}
	for i, k := range keys {
		id := fm{k.f, k.minute}
		if seen[id] {
			again = append(again, i)
			continue
		}
		if marked[id] { // several dimension sets of one minute
			continue
		}
		marked[id] = true
		if _, err := stmt.ExecContext(ctx, k.f.Group, k.f.Name, k.minute); err != nil {
			return nil, fmt.Errorf("mark written minutes: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("mark written minutes: %w", err)
	}
	return again, nil
}

// List returns the filters (of one group when group is not empty),
// sorted by group and name.
func (m *Module) List(group string) []Filter {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := []Filter{}
	for g, fs := range m.byGroup {
		if group != "" && g != group {
			continue
		}
		for _, c := range fs {
			out = append(out, c.Filter)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Put creates or replaces a filter; created tells which.
func (m *Module) Put(ctx context.Context, f Filter) (Filter, bool, error) {
	f.Created = m.cfg.Now().UTC().Truncate(time.Second)
	c, err := Compile(f)
	if err != nil {
		return Filter{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tables == nil {
		return Filter{}, false, errors.New("metric filters not started")
	}
	if err := checkRegexQuota(m.byGroup[f.Group], c); err != nil {
		return Filter{}, false, err
	}
	def, _ := json.Marshal(c.Filter)
	if _, err := m.tables.ExecContext(ctx, `INSERT OR REPLACE INTO metric_filters VALUES (?, ?, ?)`, f.Group, f.Name, string(def)); err != nil {
		return Filter{}, false, fmt.Errorf("save metric filter %s/%s: %w", f.Group, f.Name, err)
	}
	// Copy on write: Ingested reads the group's slice without the lock.
	old := m.byGroup[f.Group]
	next := make([]*Compiled, 0, len(old)+1)
	created := true
	for _, o := range old {
		if o.Name == f.Name {
			created = false
			continue
		}
		next = append(next, o)
	}
	m.byGroup[f.Group] = append(next, c)
	m.metrics.filters.Set(float64(countFilters(m.byGroup)))
	return c.Filter, created, nil
}

// Delete removes a filter. Points it has already aggregated are still
// written.
func (m *Module) Delete(ctx context.Context, group, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tables == nil {
		return errors.New("metric filters not started")
	}
	old := m.byGroup[group]
	next := make([]*Compiled, 0, len(old))
	for _, o := range old {
		if o.Name != name {
			next = append(next, o)
		}
	}
	if len(next) == len(old) {
		return fmt.Errorf("%w: %s/%s", ErrNotFound, group, name)
	}
	if _, err := m.tables.ExecContext(ctx, `DELETE FROM metric_filters WHERE grp = ? AND name = ?`, group, name); err != nil {
		return fmt.Errorf("delete metric filter %s/%s: %w", group, name, err)
	}
	if len(next) == 0 {
		delete(m.byGroup, group)
	} else {
		m.byGroup[group] = next
	}
	m.metrics.filters.Set(float64(countFilters(m.byGroup)))
	return nil
}

// ---- HTTP API ----

// Routes mounts the API.
func (m *Module) Routes(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	h := func(pattern string, fn http.HandlerFunc) { mux.Handle(pattern, protect(fn)) }
	h("GET /api/v1/metric-filters", m.handleList)
	h("POST /api/v1/metric-filters", m.handlePut)
	h("POST /api/v1/metric-filters/test", m.handleTest)
	h("DELETE /api/v1/metric-filters/{group}/{name}", m.handleDelete)
}

// ListResponse is the body of GET /api/v1/metric-filters.
type ListResponse struct {
	Filters []Filter `json:"filters"`
}

func (m *Module) handleList(w http.ResponseWriter, r *http.Request) {
	httpjson.Write(w, http.StatusOK, ListResponse{Filters: m.List(r.URL.Query().Get("group"))})
}

func (m *Module) handlePut(w http.ResponseWriter, r *http.Request) {
	var f Filter
	if err := decode(r.Body, &f); err != nil {
		httpjson.Error(w, err)
		return
	}
	out, created, err := m.Put(r.Context(), f)
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	httpjson.Write(w, code, out)
}

func (m *Module) handleDelete(w http.ResponseWriter, r *http.Request) {
	group, name := r.PathValue("group"), r.PathValue("name")
	if err := m.Delete(r.Context(), group, name); err != nil {
		httpjson.Error(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"deleted": group + "/" + name})
}

func (m *Module) handleTest(w http.ResponseWriter, r *http.Request) {
	var req TestRequest
	if err := decode(r.Body, &req); err != nil {
		httpjson.Error(w, err)
		return
	}
	resp, err := RunTest(req)
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, resp)
}

func decode(body io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(body, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%w: %s: want a JSON %s", ErrInvalid, te.Field, te.Type)
		}
		return fmt.Errorf("%w: body: %s", ErrInvalid, strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// ---- metrics ----

type metrics struct {
	records, matched, badValues, points, merged, flushErrors prometheus.Counter
	filters                                                  prometheus.Gauge
	collect                                                  promset.Set
}

func newMetrics() *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &metrics{
		records:     c("flowlens_metricfilter_records_total", "Log records examined by metric filters (once per record, whatever the number of filters)."),
		matched:     c("flowlens_metricfilter_matches_total", "Filter matches (a record matched by two filters counts twice)."),
		badValues:   c("flowlens_metricfilter_bad_values_total", "Matches not counted because the value or a dimension field was missing or not a number."),
		points:      c("flowlens_metricfilter_points_written_total", "One-minute metric points written."),
		merged:      c("flowlens_metricfilter_minutes_merged_total", "Points of a minute written before (late records), added to the stored copy."),
		flushErrors: c("flowlens_metricfilter_flush_errors_total", "Flushes that failed (their points are retried)."),
		filters:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowlens_metricfilter_filters", Help: "Metric filters defined."}),
	}
	m.collect = promset.Set{m.records, m.matched, m.badValues, m.points, m.merged, m.flushErrors, m.filters}
	return m
}
