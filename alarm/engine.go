package alarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/apierr"
	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/store"
)

// Config tunes the engine; zero values take the defaults.
type Config struct {
	// MaxStep is the longest time between two evaluations of an alarm:
	// each alarm is evaluated every min(period, MaxStep), aligned to
	// multiples of that step. Default 10 s.
	MaxStep time.Duration
	// EvalDelay is how long after a step boundary the evaluation runs,
	// so that points of the period that just ended have been stored.
	// Default min(step/2, 3 s) per alarm; set it to override.
	EvalDelay time.Duration
	// ResendInterval is how often an alarm in ALARM is re-sent to
	// Alertmanager so that it does not expire there. Default 1 m; each
	// send asks Alertmanager to keep the alert 4 intervals.
	ResendInterval time.Duration
	// NotifyAttempts, NotifyBackoff (first wait, doubled each retry) and
	// NotifyTimeout (per attempt). Defaults 5, 500 ms, 10 s.
	NotifyAttempts int
	NotifyBackoff  time.Duration
	NotifyTimeout  time.Duration
	// NotifyAllowedHosts, when not empty, are the only places webhooks and
	// Alertmanagers may be (see Allowlist): checked when an alarm is
	// created or changed, and again on every connection.
	NotifyAllowedHosts []string
	// HistoryRetention is how long state history is kept. Default 90 days.
	HistoryRetention time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.MaxStep <= 0 {
		c.MaxStep = 10 * time.Second
	}
	if c.ResendInterval <= 0 {
		c.ResendInterval = time.Minute
	}
	if c.NotifyAttempts <= 0 {
		c.NotifyAttempts = 5
	}
	if c.NotifyBackoff <= 0 {
		c.NotifyBackoff = 500 * time.Millisecond
	}
	if c.NotifyTimeout <= 0 {
		c.NotifyTimeout = 10 * time.Second
	}
	if c.HistoryRetention <= 0 {
		c.HistoryRetention = 90 * 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// entry is an alarm with the engine's runtime bookkeeping.
type entry struct {
	status  Status
	version uint64    // bumped on every definition change
	nextDue time.Time // next scheduled evaluation
	amSent  time.Time // last firing alert sent to Alertmanager
	since   time.Time // when the alarm last entered ALARM (the alert's startsAt)
}

// ErrNotStarted is returned by changes before Start.
var ErrNotStarted = apierr.Unavailable("alarm engine not started")

// Engine evaluates alarms, keeps their state and history, and notifies.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	reg     prometheus.Registerer
	db      store.ComponentDB
	points  metricstore.Store
	metrics *metrics
	notify  *notifier
	allow   *Allowlist
	badCfg  error // a bad NotifyAllowedHosts, returned by Start

	mu      sync.Mutex // guards alarms and serializes table writes
	alarms  map[string]*entry
	version uint64
	tables  *tables

	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// Dependencies are what the engine uses of the server.
type Dependencies struct {
	Log      *slog.Logger
	Registry prometheus.Registerer
	// DB keeps the alarms, their state and history.
	DB store.ComponentDB
	// Metrics holds the series alarms evaluate.
	Metrics metricstore.Store
}

// New returns an engine over the component database and the metric
// store; it does nothing until Start.
func New(cfg Config, d Dependencies) *Engine {
	cfg.defaults()
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, log: log, reg: d.Registry, db: d.DB, points: d.Metrics, metrics: newMetrics(),
		alarms: map[string]*entry{}, wake: make(chan struct{}, 1)}
	e.allow, e.badCfg = ParseAllowlist(cfg.NotifyAllowedHosts)
	e.notify = newNotifier(cfg, e.allow, log, e.metrics, e.notified)
	return e
}

// Start migrates the tables, loads the alarms and starts the evaluation
// loop.
func (e *Engine) Start(ctx context.Context) error {
	if e.badCfg != nil {
		return e.badCfg
	}
	t, err := openTables(ctx, e.db)
	if err != nil {
		return err
	}
	loaded, err := t.load(ctx)
	if err != nil {
		return err
	}
	if err := e.metrics.collect.Register(e.reg); err != nil {
		return fmt.Errorf("alarm metrics: %w", err)
	}
	e.mu.Lock()
	e.tables = t
	for _, s := range loaded {
		e.version++
		e.alarms[s.Name] = &entry{status: *s, version: e.version, since: s.StateUpdated}
		e.metrics.setState(s.Name, s.State)
	}
	e.mu.Unlock()
	loopCtx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go e.loop(loopCtx)
	e.log.Info("alarm engine started", "alarms", len(loaded))
	return nil
}

// Stop ends the loop and the notification senders.
func (e *Engine) Stop(ctx context.Context) error {
	if e.cancel == nil {
		return nil
	}
	e.cancel()
	select {
	case <-e.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.notify.stop()
	e.metrics.collect.Unregister(e.reg)
	return nil
}

// step is how often an alarm is evaluated.
func (e *Engine) step(d *Definition) time.Duration {
	return min(time.Duration(d.Period), e.cfg.MaxStep)
}

func (e *Engine) delay(d *Definition) time.Duration {
	if e.cfg.EvalDelay > 0 {
		return e.cfg.EvalDelay
	}
	return min(e.step(d)/2, 3*time.Second)
}

// due is the first evaluation time after now: a step boundary plus delay.
func (e *Engine) due(d *Definition, now time.Time) time.Time {
	step, delay := e.step(d), e.delay(d)
	t := now.Add(-delay).Truncate(step).Add(step + delay)
	return t
}

// loop sleeps until the next alarm is due, evaluates every due alarm, and
// trims history once an hour.
func (e *Engine) loop(ctx context.Context) {
	defer close(e.done)
	lastTrim := time.Time{}
	for {
		now := e.cfg.Now()
		wait := e.evaluateDue(ctx, now)
		if now.Sub(lastTrim) > time.Hour {
			lastTrim = now
			e.mu.Lock()
			if err := e.tables.trimHistory(ctx, now.Add(-e.cfg.HistoryRetention)); err != nil && ctx.Err() == nil {
				e.log.Warn("alarm history retention", "err", err)
			}
			e.mu.Unlock()
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-e.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// evaluateDue evaluates the alarms due at now and returns how long to sleep
// until the next one.
func (e *Engine) evaluateDue(ctx context.Context, now time.Time) time.Duration {
	type task struct {
		def     Definition
		version uint64
	}
	var tasks []task
	next := now.Add(e.cfg.MaxStep)
	e.mu.Lock()
	for _, en := range e.alarms {
		if !en.nextDue.After(now) {
			tasks = append(tasks, task{en.status.Definition, en.version})
			en.nextDue = e.due(&en.status.Definition, now)
		}
		if en.nextDue.Before(next) {
			next = en.nextDue
		}
	}
	e.mu.Unlock()
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].def.Name < tasks[j].def.Name })
	for _, t := range tasks {
		if ctx.Err() != nil {
			break
		}
		if err := e.evaluate(ctx, t.def, t.version, now); err != nil && ctx.Err() == nil {
			e.log.Warn("alarm evaluation failed", "alarm", t.def.Name, "err", err)
		}
	}
	return max(next.Sub(e.cfg.Now()), 10*time.Millisecond)
}

// windowEnd is the end of the last complete period at evaluation time now.
func (e *Engine) windowEnd(d *Definition, now time.Time) time.Time {
	return now.Add(-e.delay(d)).Truncate(time.Duration(d.Period))
}

// evaluate reads the alarm's last N periods, decides its state and, on a
// transition, records it and notifies.
func (e *Engine) evaluate(ctx context.Context, d Definition, version uint64, now time.Time) error {
	e.metrics.evaluations.Inc()
	period := time.Duration(d.Period)
	end := e.windowEnd(&d, now)
	span := d.EvaluationPeriods + EvaluationRangeExtra
	start := end.Add(-time.Duration(span) * period)
	pts, err := e.points.Query(ctx, metricstore.Query{ID: metricstore.ID{Namespace: d.Namespace, Metric: d.Metric,
		Dimensions: d.Dimensions}, Start: start, End: end})
	if err != nil {
		e.metrics.evalErrors.Inc()
		return err
	}
	dps := Datapoints(pts, d.Statistic, period, span, end)

	e.mu.Lock()
	defer e.mu.Unlock()
	en, ok := e.alarms[d.Name]
	if !ok || en.version != version {
		return nil // deleted or changed meanwhile; the next evaluation uses the new definition
	}
	if now.Before(en.status.LastEvaluated) {
		return nil // a newer evaluation has already been applied
	}
	dec := Decide(d.Rule(), dps, en.status.State)
	s := &en.status
	s.LastEvaluated, s.Datapoints = now.UTC(), toJSONPoints(dps)
	old := s.State
	if dec.State == old {
		if old == Alarming {
			e.refreshAlertmanager(en, now)
		}
		return nil
	}
	s.State, s.StateReason, s.StateUpdated = dec.State, dec.Reason, now.UTC()
	h := &HistoryItem{Time: now.UTC(), Kind: "state", OldState: old, NewState: dec.State, Reason: dec.Reason, Datapoints: s.Datapoints}
	if err := e.tables.upsert(ctx, s, h); err != nil {
		// Keep the new state in memory (it is the truth) and retry the
		// write with the next transition; count it as an evaluation error.
		e.metrics.evalErrors.Inc()
		e.log.Warn("alarm state not saved", "alarm", d.Name, "err", err)
	}
	e.metrics.setState(d.Name, dec.State)
	e.metrics.transitions.WithLabelValues(string(dec.State)).Inc()
	e.log.Info("alarm state changed", "alarm", d.Name, "old", old, "new", dec.State, "reason", dec.Reason)
	e.transitionActions(en, old, now)
	return nil
}

// transitionActions notifies every webhook and, when entering or leaving
// ALARM, every Alertmanager. Called with e.mu held.
func (e *Engine) transitionActions(en *entry, old State, now time.Time) {
	s := &en.status
	var jobs []job
	payload := WebhookPayload{Alarm: s.Name, OldState: old, NewState: s.State, Reason: s.StateReason,
		Datapoints: s.Datapoints, Time: now.UTC(), Namespace: s.Namespace, Metric: s.Metric, Dimensions: s.Dimensions,
		Statistic: s.Statistic, Comparison: s.Comparison, Threshold: s.Threshold, Severity: s.Severity}
	for _, u := range s.Webhooks {
		jobs = append(jobs, webhookJob(u, payload))
	}
	switch {
	case s.State == Alarming:
		en.since = now
		jobs = append(jobs, e.firing(en, now)...)
	case old == Alarming:
		jobs = append(jobs, resolved(en, now)...)
	}
	e.send(en, jobs)
}

func (e *Engine) firing(en *entry, now time.Time) []job {
	en.amSent = now
	a := alertmanagerAlert(&en.status, en.since, now.Add(4*e.cfg.ResendInterval))
	jobs := make([]job, 0, len(en.status.Alertmanagers))
	for _, u := range en.status.Alertmanagers {
		jobs = append(jobs, alertmanagerJob(u, a))
	}
	return jobs
}

func resolved(en *entry, now time.Time) []job {
	s := &en.status
	a := alertmanagerAlert(s, en.since, now)
	jobs := make([]job, 0, len(s.Alertmanagers))
	for _, u := range s.Alertmanagers {
		jobs = append(jobs, alertmanagerJob(u, a))
	}
	return jobs
}

// refreshAlertmanager re-sends a firing alert every ResendInterval.
func (e *Engine) refreshAlertmanager(en *entry, now time.Time) {
	if len(en.status.Alertmanagers) == 0 || now.Sub(en.amSent) < e.cfg.ResendInterval {
		return
	}
	e.send(en, e.firing(en, now))
}

// notified records a delivery's outcome in the alarm's status.
func (e *Engine) notified(alarm string, _ job, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if en, ok := e.alarms[alarm]; ok {
		e.recordNotify(en, err)
	}
}

// send queues jobs for the alarm; called with e.mu held.
func (e *Engine) send(en *entry, jobs []job) {
	if len(jobs) == 0 {
		return
	}
	for _, err := range e.notify.enqueue(en.status.Name, jobs...) {
		e.recordNotify(en, err)
	}
}

// recordNotify counts one outcome; called with e.mu held.
func (e *Engine) recordNotify(en *entry, err error) {
	n := &en.status.Notifications
	if err == nil {
		n.Sent++
		return
	}
	n.Failed++
	n.LastError, n.LastErrAt = err.Error(), e.cfg.Now().UTC()
}

// Kick makes the loop evaluate due alarms now (after a change).
func (e *Engine) kick() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// List returns every alarm, sorted by name.
func (e *Engine) List() []Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Status, 0, len(e.alarms))
	for _, en := range e.alarms {
		out = append(out, en.status)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get returns one alarm.
func (e *Engine) Get(name string) (Status, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en, ok := e.alarms[name]
	if !ok {
		return Status{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return en.status, nil
}

// Put creates the alarm (create true: fails if it exists) or replaces its
// definition, keeping its state (as CloudWatch does). The alarm is
// evaluated right away.
func (e *Engine) Put(ctx context.Context, d Definition, create bool) (Status, error) {
	if err := d.Normalize(); err != nil {
		return Status{}, err
	}
	if err := e.checkTargets(ctx, &d); err != nil {
		return Status{}, err
	}
	now := e.cfg.Now().UTC()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tables == nil {
		return Status{}, ErrNotStarted
	}
	en, exists := e.alarms[d.Name]
	if exists && create {
		return Status{}, fmt.Errorf("%w: %s", ErrExists, d.Name)
	}
	var next entry
	h := &HistoryItem{Time: now, Kind: "config"}
	if exists {
		next = *en
		next.status.Definition = d
		h.Reason = "Alarm updated"
		h.OldState, h.NewState = en.status.State, en.status.State
	} else {
		next.status = Status{Definition: d, State: InsufficientData, StateReason: "Unchecked: initial alarm creation",
			StateUpdated: now, Created: now, Datapoints: []DatapointJSON{}}
		h.Reason = "Alarm created"
		h.NewState = InsufficientData
	}
	if err := e.tables.upsert(ctx, &next.status, h); err != nil {
		return Status{}, err
	}
	e.version++
	next.version, next.nextDue = e.version, time.Time{} // due now
	if exists && en.status.State == Alarming {
		e.reconcileAlertmanagers(en, &next, now)
	}
	e.alarms[d.Name] = &next
	e.metrics.setState(d.Name, next.status.State)
	e.kick()
	return next.status, nil
}

// checkTargets refuses webhooks and Alertmanagers outside the allowlist.
func (e *Engine) checkTargets(ctx context.Context, d *Definition) error {
	for i, u := range d.Webhooks {
		if err := e.allow.CheckURL(ctx, u); err != nil {
			return invalid(fmt.Sprintf("webhooks[%d]", i), "%v", err)
		}
	}
	for i, u := range d.Alertmanagers {
		if err := e.allow.CheckURL(ctx, u); err != nil {
			return invalid(fmt.Sprintf("alertmanagers[%d]", i), "%v", err)
		}
	}
	return nil
}

// reconcileAlertmanagers resolves a firing alert where an update changed
// its labels or removed its Alertmanager, so nothing is left firing.
func (e *Engine) reconcileAlertmanagers(old, next *entry, now time.Time) {
	keep := map[string]bool{}
	oa, na := alertmanagerAlert(&old.status, old.since, now), alertmanagerAlert(&next.status, old.since, now)
	sameLabels := fmt.Sprint(oa.Labels) == fmt.Sprint(na.Labels)
	for _, u := range next.status.Alertmanagers {
		keep[u] = sameLabels
	}
	var jobs []job
	for _, u := range old.status.Alertmanagers {
		if !keep[u] {
			jobs = append(jobs, alertmanagerJob(u, oa))
		}
	}
	e.send(old, jobs)
	next.amSent = time.Time{} // send the (new) firing alert at the next evaluation
}

// Delete removes the alarm and its history, resolving it in Alertmanager
// if it was firing.
func (e *Engine) Delete(ctx context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	en, ok := e.alarms[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if e.tables == nil {
		return ErrNotStarted
	}
	if err := e.tables.delete(ctx, name); err != nil {
		return err
	}
	delete(e.alarms, name)
	e.metrics.forget(name)
	if en.status.State == Alarming {
		e.send(en, resolved(en, e.cfg.Now()))
	}
	e.notify.forget(name)
	return nil
}

// History returns the alarm's newest history items, newest first.
func (e *Engine) History(ctx context.Context, name string, limit int) ([]HistoryItem, error) {
	if limit <= 0 || limit > 10000 {
		limit = 100
	}
	e.mu.Lock()
	_, ok := e.alarms[name]
	t := e.tables
	e.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if t == nil {
		return nil, ErrNotStarted
	}
	return t.history(ctx, name, limit)
}

// EvaluateAll evaluates every alarm at now, whatever its schedule (tests
// and the API's "evaluate now").
func (e *Engine) EvaluateAll(ctx context.Context, now time.Time) error {
	e.mu.Lock()
	type task struct {
		def     Definition
		version uint64
	}
	var tasks []task
	for _, en := range e.alarms {
		tasks = append(tasks, task{en.status.Definition, en.version})
	}
	e.mu.Unlock()
	var errs error
	for _, t := range tasks {
		errs = errors.Join(errs, e.evaluate(ctx, t.def, t.version, now))
	}
	return errs
}
