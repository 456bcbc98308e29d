package alarm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/store/duckdb"
)

// hook is a webhook receiver that records payloads and can fail on demand.
type hook struct {
	mu       sync.Mutex
	got      []WebhookPayload
	failures int // answer 503 this many times first
	srv      *httptest.Server
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.failures > 0 {
			h.failures--
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		var p WebhookPayload
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("webhook body %s: %v", b, err)
		}
		h.got = append(h.got, p)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) payloads() []WebhookPayload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]WebhookPayload(nil), h.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

type testEngine struct {
	*Engine
	points metricstore.Store
	reg    *prometheus.Registry
	db     *duckdb.Store
	path   string
	clock  atomic.Value
}

// evalAt moves the clock to now and evaluates every alarm.
func (te *testEngine) evalAt(t *testing.T, now time.Time) {
	t.Helper()
	te.clock.Store(now)
	if err := te.EvaluateAll(context.Background(), now); err != nil {
		t.Fatal(err)
	}
}

func openTestEngine(t *testing.T, path string) *testEngine {
	t.Helper()
	return openTestEngineWith(t, path, Config{}, nil)
}

// openTestEngineWith opens an engine with cfg (its clock and backoff are
// the test's) logging to log (nil: nowhere).
func openTestEngineWith(t *testing.T, path string, cfg Config, log *slog.Logger) *testEngine {
	t.Helper()
	ctx := context.Background()
	db, err := duckdb.Open(duckdb.Config{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := duckdb.OpenMetricPoints(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	// The engine's loop and the test share one clock the test moves, so
	// that the loop's own evaluations agree with the test's.
	te := &testEngine{points: ms, reg: reg, db: db, path: path}
	te.clock.Store(time.Unix(1_800_000_000, 0))
	cfg.NotifyBackoff, cfg.Now = time.Millisecond, func() time.Time { return te.clock.Load().(time.Time) }
	e := New(cfg, Dependencies{Log: log, Registry: reg, DB: db, Metrics: ms})
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	te.Engine = e
	t.Cleanup(te.close)
	return te
}

func (te *testEngine) close() {
	if te.db == nil {
		return
	}
	te.Engine.Stop(context.Background())
	te.db.Close()
	te.db = nil
}

func TestEngineTransitionsHistoryAndWebhook(t *testing.T) {
	ctx := context.Background()
	te := openTestEngine(t, filepath.Join(t.TempDir(), "a.duckdb"))
	h := newHook(t)
	h.failures = 2 // the first transition's webhook succeeds on the third attempt
	def := Definition{Name: "web-degraded", Namespace: "FlowLens/Monitors", Metric: "health_indicator",
		Dimensions: map[string]string{"monitor": "web"}, Statistic: Maximum, Period: Duration(10 * time.Second),
		EvaluationPeriods: 3, DatapointsToAlarm: 1, Comparison: GreaterOrEqual, Threshold: 1,
		TreatMissingData: Missing, Webhooks: []string{h.srv.URL}}
	st, err := te.Put(ctx, def, true)
	if err != nil || st.State != InsufficientData {
		t.Fatalf("create: %+v %v", st, err)
	}
	if _, err := te.Put(ctx, def, true); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	t0 := time.Unix(1_800_000_000, 0) // multiple of 10 s
	put := func(off time.Duration, v float64) {
		t.Helper()
		if err := te.points.Put(ctx, []metricstore.Point{{Namespace: def.Namespace, Metric: def.Metric, Dimensions: def.Dimensions,
			Time: t0.Add(off), Period: 10 * time.Second, Value: v}}); err != nil {
			t.Fatal(err)
		}
	}
	// Evaluations run 3 s after a boundary and judge the periods before it.
	eval := func(boundary time.Duration) State {
		t.Helper()
		te.evalAt(t, t0.Add(boundary+3*time.Second))
		s, _ := te.Get(def.Name)
		return s.State
	}
	put(0, 0)
	if s := eval(10 * time.Second); s != OK {
		t.Fatalf("healthy point: %s", s)
	}
	put(10*time.Second, 1)
	if s := eval(20 * time.Second); s != Alarming {
		t.Fatalf("degraded point: %s", s)
	}
	put(20*time.Second, 0)
	put(30*time.Second, 0)
	if s := eval(40 * time.Second); s != Alarming {
		t.Fatalf("1 of 3 still inside the window: %s", s)
	}
	put(40*time.Second, 0)
	if s := eval(50 * time.Second); s != OK {
		t.Fatalf("recovered: %s", s)
	}
	if s := eval(100 * time.Second); s != InsufficientData {
		t.Fatalf("no data: %s", s)
	}
	waitFor(t, "3 webhooks", func() bool { return len(h.payloads()) == 4 })
	got := h.payloads()
	wantSeq := [][2]State{{InsufficientData, OK}, {OK, Alarming}, {Alarming, OK}, {OK, InsufficientData}}
	for i, p := range got {
		if p.OldState != wantSeq[i][0] || p.NewState != wantSeq[i][1] || p.Alarm != def.Name || p.Reason == "" || len(p.Datapoints) != 5 {
			t.Errorf("webhook %d: %+v", i, p)
		}
	}
	if v := got[1].Datapoints[4].Value; v == nil || *v != 1 {
		t.Errorf("ALARM webhook datapoints: %+v", got[1].Datapoints)
	}
	hist, err := te.History(ctx, def.Name, 100)
	if err != nil || len(hist) != 5 || hist[0].NewState != InsufficientData || hist[4].Kind != "config" {
		t.Fatalf("history: %+v %v", hist, err)
	}
	s, _ := te.Get(def.Name)
	if s.Notifications.Sent != 4 || s.Notifications.Failed != 0 {
		t.Errorf("notifications: %+v", s.Notifications)
	}
	if v := value(te.metrics.state.WithLabelValues(def.Name, "INSUFFICIENT_DATA")); v != 1 {
		t.Errorf("state gauge: %v", v)
	}
	if v := value(te.metrics.retries.WithLabelValues(KindWebhook)); v != 2 {
		t.Errorf("retries: %v", v)
	}

	// State and history survive a restart.
	te.close()
	te2 := openTestEngine(t, te.path)
	s2, err := te2.Get(def.Name)
	if err != nil || s2.State != InsufficientData || s2.Webhooks[0] != h.srv.URL {
		t.Fatalf("after reopen: %+v %v", s2, err)
	}
	if hist, _ := te2.History(ctx, def.Name, 2); len(hist) != 2 {
		t.Fatalf("history after reopen: %+v", hist)
	}
	if err := te2.Delete(ctx, def.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := te2.Get(def.Name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestEngineNotificationFailuresAreCounted(t *testing.T) {
	ctx := context.Background()
	te := openTestEngine(t, filepath.Join(t.TempDir(), "a.duckdb"))
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	defer down.Close()
	refused := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad alert", http.StatusBadRequest)
	}))
	defer refused.Close()
	def := Definition{Name: "n", Namespace: "FlowLens/Logs", Metric: "rejects", Statistic: Sum, Period: Duration(time.Minute),
		Comparison: Greater, Threshold: 0, TreatMissingData: Breaching, Webhooks: []string{down.URL}, Alertmanagers: []string{refused.URL}}
	if _, err := te.Put(ctx, def, true); err != nil {
		t.Fatal(err)
	}
	te.evalAt(t, time.Unix(1_800_000_003, 0))
	waitFor(t, "two failures", func() bool { s, _ := te.Get("n"); return s.Notifications.Failed == 2 })
	s, _ := te.Get("n")
	if s.State != Alarming || !strings.Contains(s.Notifications.LastError, "answered") {
		t.Fatalf("status: %+v", s)
	}
	// 5 attempts on the 500, 1 on the 400 (not worth retrying).
	if v := value(te.metrics.retries.WithLabelValues(KindWebhook)); v != 4 {
		t.Errorf("webhook retries: %v", v)
	}
	if v := value(te.metrics.retries.WithLabelValues(KindAlertmanager)); v != 0 {
		t.Errorf("alertmanager retries: %v", v)
	}
	if v := value(te.metrics.failed.WithLabelValues(KindAlertmanager)); v != 1 {
		t.Errorf("alertmanager failures: %v", v)
	}
}

func TestDefinitionValidationNamesTheField(t *testing.T) {
	base := func() Definition {
		return Definition{Name: "a", Namespace: "N", Metric: "m", Period: Duration(time.Minute), Comparison: Greater}
	}
	cases := []struct {
		field string
		edit  func(*Definition)
	}{
		{"name", func(d *Definition) { d.Name = "bad name" }},
		{"name", func(d *Definition) { d.Name = strings.Repeat("a", 256) }},
		{"namespace", func(d *Definition) { d.Namespace = "" }},
		{"metric", func(d *Definition) { d.Metric = " " }},
		{"statistic", func(d *Definition) { d.Statistic = "p99" }},
		{"period", func(d *Definition) { d.Period = Duration(1500 * time.Millisecond) }},
		{"period", func(d *Definition) { d.Period = 0 }},
		{"evaluation_periods", func(d *Definition) { d.EvaluationPeriods = 101 }},
		{"datapoints_to_alarm", func(d *Definition) { d.EvaluationPeriods, d.DatapointsToAlarm = 3, 4 }},
		{"comparison", func(d *Definition) { d.Comparison = "==" }},
		{"treat_missing_data", func(d *Definition) { d.TreatMissingData = "zero" }},
		{"webhooks[0]", func(d *Definition) { d.Webhooks = []string{"ftp://x"} }},
		{"alertmanagers[0]", func(d *Definition) { d.Alertmanagers = []string{"localhost:9093"} }},
	}
	for _, c := range cases {
		d := base()
		c.edit(&d)
		err := d.Normalize()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.field+":") {
			t.Errorf("%s: %v", c.field, err)
		}
	}
	d := base()
	if err := d.Normalize(); err != nil || d.Statistic != Average || d.EvaluationPeriods != 1 || d.DatapointsToAlarm != 1 ||
		d.TreatMissingData != Missing || d.Severity != "warning" {
		t.Fatalf("defaults: %+v %v", d, err)
	}
}

// value reads a gauge or counter.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

func TestAlertmanagerResendAndResolve(t *testing.T) {
	ctx := context.Background()
	te := openTestEngine(t, filepath.Join(t.TempDir(), "a.duckdb"))
	var mu sync.Mutex
	var posts [][]amAlert
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/alerts" || r.Method != http.MethodPost {
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		}
		var alerts []amAlert
		if err := json.NewDecoder(r.Body).Decode(&alerts); err != nil {
			t.Error(err)
		}
		mu.Lock()
		posts = append(posts, alerts)
		mu.Unlock()
	}))
	defer am.Close()
	got := func() [][]amAlert {
		mu.Lock()
		defer mu.Unlock()
		return append([][]amAlert(nil), posts...)
	}
	def := Definition{Name: "rtt", Namespace: "FlowLens/Monitors", Metric: "round_trip_time", Dimensions: map[string]string{"monitor": "db", "stat": "p99"},
		Statistic: Average, Period: Duration(10 * time.Second), Comparison: Greater, Threshold: 5000, Alertmanagers: []string{am.URL + "/"}}
	if _, err := te.Put(ctx, def, true); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 0)
	put := func(off time.Duration, v float64) {
		if err := te.points.Put(ctx, []metricstore.Point{{Namespace: def.Namespace, Metric: def.Metric, Dimensions: def.Dimensions,
			Time: t0.Add(off), Period: 10 * time.Second, Value: v}}); err != nil {
			t.Fatal(err)
		}
	}
	// ALARM for 7 periods: one firing alert, re-sent once after a minute.
	for i := 0; i < 7; i++ {
		put(time.Duration(i)*10*time.Second, 9000)
		te.evalAt(t, t0.Add(time.Duration(i+1)*10*time.Second+3*time.Second))
	}
	waitFor(t, "firing + one re-send", func() bool { return len(got()) == 2 })
	put(70*time.Second, 100)
	te.evalAt(t, t0.Add(83*time.Second))
	waitFor(t, "the resolve", func() bool { return len(got()) == 3 })
	p := got()
	first, resend, resolve := p[0][0], p[1][0], p[2][0]
	if first.Labels["alertname"] != "rtt" || first.Labels["dimensions"] != "monitor=db,stat=p99" || first.Labels["severity"] != "warning" ||
		first.Labels["metric"] != "round_trip_time" || first.Labels["namespace"] != "FlowLens/Monitors" {
		t.Errorf("labels: %v", first.Labels)
	}
	if !first.StartsAt.Equal(t0.Add(13*time.Second)) || !first.EndsAt.Equal(t0.Add(13*time.Second+4*time.Minute)) {
		t.Errorf("firing: starts %v ends %v", first.StartsAt, first.EndsAt)
	}
	if !resend.StartsAt.Equal(first.StartsAt) || !resend.EndsAt.Equal(t0.Add(73*time.Second+4*time.Minute)) {
		t.Errorf("re-send: starts %v ends %v", resend.StartsAt, resend.EndsAt)
	}
	if !resolve.EndsAt.Equal(t0.Add(83*time.Second)) || !resolve.StartsAt.Equal(first.StartsAt) {
		t.Errorf("resolve must end now and keep its start: %v %v", resolve.StartsAt, resolve.EndsAt)
	}
}

func TestScheduleAlignsToStepBoundaries(t *testing.T) {
	e := New(Config{}, Dependencies{})
	base := time.Unix(1_800_000_000, 0) // a multiple of 60 s
	cases := []struct {
		period, now      time.Duration // now as an offset from base
		wantDue, wantEnd time.Duration
	}{
		// 10 s periods: evaluated every 10 s, 3 s after the boundary, judging the period that just ended.
		{10 * time.Second, 0, 3 * time.Second, -10 * time.Second},
		{10 * time.Second, 3 * time.Second, 13 * time.Second, 0},
		{10 * time.Second, 12 * time.Second, 13 * time.Second, 0},
		// 1 m periods: evaluated every 10 s; the window ends at the last minute boundary.
		{time.Minute, 33 * time.Second, 43 * time.Second, 0},
		{time.Minute, 62 * time.Second, 63 * time.Second, 0},
		{time.Minute, 63 * time.Second, 73 * time.Second, time.Minute},
		// 2 s periods: every 2 s, 1 s after the boundary.
		{2 * time.Second, 500 * time.Millisecond, time.Second, -2 * time.Second},
	}
	for _, c := range cases {
		d := &Definition{Period: Duration(c.period)}
		now := base.Add(c.now)
		if got := e.due(d, now).Sub(base); got != c.wantDue {
			t.Errorf("period %s at +%s: due +%s, want +%s", c.period, c.now, got, c.wantDue)
		}
		if got := e.windowEnd(d, now).Sub(base); got != c.wantEnd {
			t.Errorf("period %s at +%s: window ends +%s, want +%s", c.period, c.now, got, c.wantEnd)
		}
	}
}

func TestDeleteResolvesAFiringAlert(t *testing.T) {
	ctx := context.Background()
	te := openTestEngine(t, filepath.Join(t.TempDir(), "a.duckdb"))
	var mu sync.Mutex
	var ends []time.Time
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var alerts []amAlert
		json.NewDecoder(r.Body).Decode(&alerts)
		mu.Lock()
		ends = append(ends, alerts[0].EndsAt)
		mu.Unlock()
	}))
	defer am.Close()
	def := Definition{Name: "gone", Namespace: "N", Metric: "m", Period: Duration(time.Minute), Comparison: GreaterOrEqual,
		TreatMissingData: Breaching, Alertmanagers: []string{am.URL}}
	if _, err := te.Put(ctx, def, true); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_010, 0)
	te.evalAt(t, now)
	if err := te.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "firing then resolved", func() bool { mu.Lock(); defer mu.Unlock(); return len(ends) == 2 })
	if !ends[0].After(now) || !ends[1].Equal(now) {
		t.Fatalf("endsAt: %v", ends)
	}
}
