package internet

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/topology"
)

// testModule is the module on a real DuckDB file with a hand-driven clock
// and flow subscription.
type testModule struct {
	*Module
	mu      sync.Mutex
	now     time.Time
	observe func([]*store.Batch)
	mux     *http.ServeMux
	metrics metricstore.Store
	reg     *prometheus.Registry
}

func newTestModule(t *testing.T) *testModule { return newTestModuleWith(t, nil) }

// newTestModuleWith gives the module a GeoIP lookup.
func newTestModuleWith(t *testing.T, geo GeoLookup) *testModule {
	t.Helper()
	st, err := duckdb.Open(duckdb.Config{Path: filepath.Join(t.TempDir(), "f.duckdb")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ms, err := duckdb.OpenMetricPoints(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := topology.Parse(examples.Topology, examples.TopologyName)
	if err != nil {
		t.Fatal(err)
	}
	tm := &testModule{now: timeAt(0), mux: http.NewServeMux(), metrics: ms, reg: prometheus.NewRegistry()}
	d := Dependencies{DB: st, Metrics: ms, Registry: tm.reg, Topology: func() *topology.Topology { return topo },
		SubscribeFlows: func(_ string, fn func([]*store.Batch)) error { tm.observe = fn; return nil }, GeoIP: geo}
	m, err := New(Config{Grace: time.Second, Now: tm.clock}, d)
	if err != nil {
		t.Fatal(err)
	}
	tm.Module = m
	m.Routes(tm.mux, func(h http.Handler) http.Handler { return h })
	return tm
}

func (tm *testModule) clock() time.Time {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.now
}

func (tm *testModule) set(t time.Time) {
	tm.mu.Lock()
	tm.now = t
	tm.mu.Unlock()
}

// period sends one minute of flows from the given city-networks (loss per
// city) and evaluates it.
func (tm *testModule) period(t *testing.T, n int, loss map[string]uint64) {
	t.Helper()
	start := timeAt(60 * n)
	var rows []store.FlowRow
	for i, city := range []string{"Paris", "Lyon", "Nice"} {
		for asn := uint32(1); asn <= 3; asn++ {
			r := flowRow(1_000_000, 1000, loss[city], 40, 0, 20_000)
			r.Remote = topology.Location{Kind: topology.KindInternet, City: city, Country: "FR", ASN: asn, ASOrg: "AS org"}
			r.Local = topology.Location{Kind: topology.KindSubnet, Subnet: "web-a", Network: "vpc-a"}
			r.Key.RemoteIP = netip.AddrFrom4([4]byte{81, 2, byte(i), byte(asn)})
			r.End = start.Add(30 * time.Second)
			rows = append(rows, *r)
		}
	}
	tm.observe([]*store.Batch{{AgentID: "a", Rows: rows}})
	tm.set(start.Add(time.Minute + time.Second))
	if err := tm.EvaluateDue(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (tm *testModule) get(t *testing.T, path string, out any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	tm.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if out != nil && rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return rec.Code
}

func (tm *testModule) post(t *testing.T, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	tm.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/internet/monitors", strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

func TestMonitorAPI(t *testing.T) {
	tm := newTestModule(t)
	for _, c := range []struct {
		body string
		code int
		msg  string
	}{
		{`{"name":"web","period_seconds":60}`, 201, ""},
		{`{"name":"web","period_seconds":60}`, 409, "already exists"},
		{`{"name":"fast","period_seconds":30}`, 400, "under the minimum 1m0s"},
		{`{"name":"bad name!"}`, 400, "name"},
		{`{"name":"eu","networks":["vpc-x"]}`, 400, "no network"},
		{`{"name":"share","traffic_share":120}`, 400, "traffic_share"},
		{`{"name":"typo","perod":60}`, 400, "unknown field"},
		{`{"name":"eu","networks":["net-prod"]}`, 201, ""},
	} {
		code, body := tm.post(t, c.body)
		if code != c.code || !strings.Contains(body, c.msg) {
			t.Errorf("%s: %d %s, want %d %q", c.body, code, body, c.code, c.msg)
		}
	}
	var mons []Monitor
	tm.get(t, "/api/v1/internet/monitors", &mons)
	if len(mons) != 2 || mons[0].Name != "eu" || mons[1].PeriodSeconds != 60 || mons[0].PeriodSeconds != 300 ||
		mons[0].OverallThreshold != 95 || mons[0].LocalThreshold != 60 || mons[0].MinTrafficImpact != 0.1 {
		t.Fatalf("monitors %+v", mons)
	}
	rec := httptest.NewRecorder()
	tm.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/api/v1/internet/monitors/eu", nil))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d", rec.Code)
	}
	if code := tm.get(t, "/api/v1/internet/monitors/eu", nil); code != http.StatusNotFound {
		t.Fatalf("deleted monitor answers %d", code)
	}
}

// TestEventLifecycle drives a metro incident: every network of Lyon loses
// 5% for three periods, after a healthy baseline.
func TestEventLifecycle(t *testing.T) {
	tm := newTestModule(t)
	if code, body := tm.post(t, `{"name":"web","period_seconds":60}`); code != 201 {
		t.Fatal(body)
	}
	n := 1
	for ; n <= 4; n++ {
		tm.period(t, n, nil)
	}
	for ; n <= 6; n++ {
		tm.period(t, n, map[string]uint64{"Lyon": 50})
	}
	var evs []Event
	tm.get(t, "/api/v1/internet/events?status=ACTIVE", &evs)
	if len(evs) != 1 {
		t.Fatalf("active events %+v", evs)
	}
	e := evs[0]
	// Lyon is a third of the traffic: the overall score falls to ~67%.
	if e.Type != TypePerformance || e.Cause.Kind != CauseMetro || e.Cause.City != "Lyon" || len(e.ImpactedLocations) != 3 ||
		e.OverallScore > 70 || !e.StartedAt.Equal(timeAt(300)) {
		t.Fatalf("event %+v", e)
	}
	for ; n <= 7; n++ {
		tm.period(t, n, nil)
	}
	tm.get(t, "/api/v1/internet/events", &evs)
	if len(evs) != 1 || evs[0].Status != StatusResolved || evs[0].EndedAt == nil || !evs[0].EndedAt.Equal(timeAt(420)) {
		t.Fatalf("after recovery %+v", evs)
	}
	// Filters on events: an impacted location must match.
	tm.get(t, "/api/v1/internet/events?filter=city%3DParis", &evs)
	if len(evs) != 0 {
		t.Fatalf("city=Paris matched %d events", len(evs))
	}
	tm.get(t, "/api/v1/internet/events?filter=city%3DLyon&filter=asn%21%3D2", &evs)
	if len(evs) != 1 {
		t.Fatalf("city=Lyon asn!=2 matched %d events", len(evs))
	}

	// Measurements and their filters, over the stored periods.
	rng := "&start=" + timeAt(0).Format(time.RFC3339) + "&end=" + timeAt(3600).Format(time.RFC3339)
	var ms []Measurement
	tm.get(t, "/api/v1/internet/measurements?monitor=web&filter=city%3DLyon&filter=asn%3D2"+rng, &ms)
	if len(ms) != 7 {
		t.Fatalf("%d Lyon AS2 measurements, want 7", len(ms))
	}
	if m := ms[7-5]; m.PerformanceScore != 0 || m.RetransmissionRate != 5 || m.TrafficShare < 11 || m.TrafficShare > 11.2 {
		t.Fatalf("period 5 Lyon AS2: %+v", m)
	}
	tm.get(t, "/api/v1/internet/measurements?monitor=web&filter=country!%3DFR"+rng, &ms)
	if len(ms) != 0 {
		t.Fatalf("country!=FR: %d rows", len(ms))
	}
	var top []TopLocation
	tm.get(t, "/api/v1/internet/top-locations?monitor=web&filter=asn%3D1"+rng, &top)
	if len(top) != 3 || top[0].Periods != 7 || top[0].BytesOut != 7_000_000 {
		t.Fatalf("top locations %+v", top)
	}
	if code := tm.get(t, "/api/v1/internet/measurements?monitor=web&filter=region%3DEU", nil); code != http.StatusBadRequest {
		t.Fatalf("bad filter answered %d", code)
	}

	// Metric points for the alarm engine.
	pts, err := tm.metrics.Query(context.Background(), metricstore.Query{ID: metricstore.ID{Namespace: Namespace,
		Metric: "performance_score", Dimensions: map[string]string{"monitor": "web"}}, Start: timeAt(0), End: timeAt(3600)})
	if err != nil || len(pts) != 8 || pts[5].Value > 70 || pts[4].Value != 100 {
		t.Fatalf("performance_score points %+v %v", pts, err)
	}
	pts, _ = tm.metrics.Query(context.Background(), metricstore.Query{ID: metricstore.ID{Namespace: Namespace,
		Metric: "bytes_out", Dimensions: map[string]string{"monitor": "web", "city": "Lyon", "asn": "2"}}, Start: timeAt(0), End: timeAt(3600)})
	if len(pts) != 7 || pts[0].Value != 1_000_000 {
		t.Fatalf("per-location bytes_out %+v", pts)
	}
}

// TestLateAndRestart: flows for an evaluated period are counted as late;
// a new module on the same file reloads monitors and active events.
func TestLateFlows(t *testing.T) {
	tm := newTestModule(t)
	tm.post(t, `{"name":"web","period_seconds":60}`)
	tm.period(t, 1, nil)
	late := flowRow(1000, 10, 0, 1, 0, 1000)
	late.End = timeAt(61)
	tm.observe([]*store.Batch{{AgentID: "a", Rows: []store.FlowRow{*late}}})
	if got := testCounter(tm.prom.late); got != 1 {
		t.Fatalf("late flows %v", got)
	}
}

// TestRestartKeepsMonitorsAndActiveEvents: a new module on the same file
// (a server restart) reloads the monitors and carries the active event
// over, resolving that same event when the incident ends.
func TestRestartKeepsMonitorsAndActiveEvents(t *testing.T) {
	tm := newTestModule(t)
	tm.post(t, `{"name":"web","period_seconds":60}`)
	for n := 1; n <= 4; n++ {
		tm.period(t, n, nil)
	}
	tm.period(t, 5, map[string]uint64{"Lyon": 50})
	var evs []Event
	tm.get(t, "/api/v1/internet/events?status=ACTIVE", &evs)
	if len(evs) != 1 {
		t.Fatalf("active before restart: %+v", evs)
	}
	id := evs[0].ID
	tm.Stop(context.Background())

	d := Dependencies{DB: tm.tables.dbStore.(*duckdb.Store), Metrics: tm.metrics, Registry: prometheus.NewRegistry(),
		SubscribeFlows: func(_ string, fn func([]*store.Batch)) error { tm.observe = fn; return nil }}
	m2, err := New(Config{Grace: time.Second, Now: tm.clock}, d)
	if err != nil {
		t.Fatal(err)
	}
	tm.Module, tm.mux = m2, http.NewServeMux()
	m2.Routes(tm.mux, func(h http.Handler) http.Handler { return h })
	if mons := m2.Monitors(); len(mons) != 1 || mons[0].Name != "web" {
		t.Fatalf("monitors after restart: %+v", mons)
	}
	// Baselines were rebuilt from the stored measurements: silence from a
	// city-network is judged at once.
	if b := m2.states["web"].baselines[cityNet{City: "Paris", Country: "FR", ASN: 1}]; b == nil || !b.ready() {
		t.Fatalf("Paris AS1 baseline not rebuilt: %+v", b)
	}
	if b := m2.states["web"].baselines[cityNet{City: "Lyon", Country: "FR", ASN: 1}]; b == nil || b.frozen != 1 {
		t.Fatalf("Lyon AS1 baseline should have left the impacted period out: %+v", b)
	}
	for n := 6; n <= 7; n++ {
		tm.period(t, n, nil)
	}
	tm.get(t, "/api/v1/internet/events", &evs)
	if len(evs) != 1 || evs[0].ID != id || evs[0].Status != StatusResolved {
		t.Fatalf("after restart and recovery: %+v", evs)
	}
}
