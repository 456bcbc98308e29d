package internet_test

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/flowlens/flowlens/alarm"
	"github.com/flowlens/flowlens/apiclient"
	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/geoip"
	"github.com/flowlens/flowlens/internet"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/server"
	"github.com/flowlens/flowlens/sim"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/topology"
)

const simToken = "internet-sim-token"

// internetDeps gives the module the server's parts and the GeoIP
// database, as cmd/flowlens does.
func internetDeps(h *server.Host, geo internet.GeoLookup) internet.Dependencies {
	return internet.Dependencies{Log: h.Log, Registry: h.Registry, DB: h.DB, Metrics: h.Metrics,
		Topology: h.Topology, SubscribeFlows: h.SubscribeFlows, GeoIP: geo}
}

// simRun is one acceptance scenario: a real server (real DuckDB file, HTTP
// API, ingest, modules) with the generated GeoIP database, and the
// simulated fleet with internet clients posting to it on stepped simulated
// time. The internet module runs on the same clock, so a 30-minute
// scenario takes seconds and every interval is stored before time moves on.
type simRun struct {
	srv    *server.Server
	mod    *internet.Module
	alarms *alarm.Module
	// alarmStates are the states of every alarm after each step.
	alarmStates map[string][]alarm.State
	client      *apiclient.Client
	clock       *sim.SteppedClock
	start       time.Time
}

func startSimServer(t *testing.T) *simRun {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "sim.mmdb")
	if err := geoip.Write(db, sim.GeoIPEntries(sim.InternetPlan()), geoip.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	topo := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topo, examples.Topology, 0o600); err != nil {
		t.Fatal(err)
	}
	// Simulated time starts on a period boundary in the recent past.
	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	clock := sim.NewSteppedClock(start)
	r := &simRun{clock: clock, start: start, alarmStates: map[string][]alarm.State{}}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	data := filepath.Join(dir, "data")
	srv, err := server.New(server.Config{DataDir: data, Listen: "127.0.0.1:0", TopologyPath: topo,
		Tokens: []string{simToken}, OpenStore: duckdb.Opener(duckdb.Config{Path: filepath.Join(data, "flowlens.duckdb")}),
		Modules: func(h *server.Host) ([]module.Named, error) {
			var err error
			if r.alarms, err = alarm.NewModule(alarm.Config{Now: clock.Now},
				alarm.Dependencies{Log: h.Log, Registry: h.Registry, DB: h.DB, Metrics: h.Metrics}); err != nil {
				return nil, err
			}
			geo, err := geoip.NewModule(geoip.Config{CityPath: db, ASNPath: db},
				geoip.Dependencies{Log: h.Log, Registry: h.Registry, Enrich: h.Enrich})
			if err != nil {
				return nil, err
			}
			if r.mod, err = internet.New(internet.Config{Now: clock.Now, Grace: time.Millisecond, Tick: time.Hour},
				internetDeps(h, geo.DB)); err != nil {
				return nil, err
			}
			return []module.Named{{Name: "alarm", Module: r.alarms}, {Name: "geoip", Module: geo}, {Name: "internet", Module: r.mod}}, nil
		}}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	r.srv, r.client = srv, apiclient.New(srv.URL(), simToken, false)
	// Evaluate right after each interval is stored, deterministically.
	clock.AfterStep = func(now time.Time) {
		// The feed hands stored flows to the module on its own goroutine:
		// wait until it has the acknowledged interval.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.SyncFeed(ctx); err != nil {
			t.Errorf("sync feed: %v", err)
		}
		if err := r.mod.EvaluateDue(context.Background()); err != nil {
			t.Errorf("evaluate: %v", err)
		}
		// The alarm engine judges the published scores like any series.
		if err := r.alarms.EvaluateAll(context.Background(), now); err != nil {
			t.Errorf("alarms: %v", err)
		}
		for _, st := range r.alarms.List() {
			r.alarmStates[st.Name] = append(r.alarmStates[st.Name], st.State)
		}
	}
	var created internet.Monitor
	if err := r.client.CreateInternetMonitor(t.Context(), internet.Monitor{Name: "web", PeriodSeconds: 60}, &created); err != nil {
		t.Fatal(err)
	}
	return r
}

// run drives the fleet for d of simulated time with the given faults.
func (r *simRun) run(t *testing.T, d time.Duration, faults ...string) {
	t.Helper()
	topo, err := topology.Parse(examples.Topology, examples.TopologyName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sim.Config{Server: r.srv.URL(), Token: simToken, Topology: topo, Agents: 10, FlowsPerAgent: 20,
		InternetClients: 2000, Interval: 30 * time.Second, Duration: d, Seed: 7, Stepped: r.clock,
		DrainTimeout: time.Minute}
	for _, f := range faults {
		ft, err := sim.ParseFault(f)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Faults = append(cfg.Faults, ft)
	}
	wall := time.Now()
	if _, err := sim.Run(t.Context(), cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s of simulated time in %s", d, time.Since(wall).Round(time.Millisecond))
}

// events reads the events the way `flowlens internet events -o json` does.
func (r *simRun) events(t *testing.T) []internet.Event {
	t.Helper()
	var evs []internet.Event
	if err := r.client.InternetQuery(t.Context(), "events", url.Values{}, &evs); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		t.Logf("event %s %s %s..%v score %.1f worst %.1f impacted %.2f%% cause %s AS%d %s: %s", e.Status, e.Type,
			e.StartedAt.Sub(r.start), endOffset(e, r.start), e.OverallScore, e.WorstScore, e.TrafficImpacted,
			e.Cause.Kind, e.Cause.ASN, e.Cause.City, e.Cause.Summary)
	}
	return evs
}

func endOffset(e internet.Event, start time.Time) any {
	if e.EndedAt == nil {
		return "-"
	}
	return e.EndedAt.Sub(start)
}

// checkWindow asserts an event opened within two periods of the fault's
// start and, if resolvedBy is set, resolved within two periods of its end.
func checkWindow(t *testing.T, r *simRun, e internet.Event, faultStart, faultEnd time.Duration) {
	t.Helper()
	const period = time.Minute
	opened := e.StartedAt.Sub(r.start)
	if opened < faultStart-period || opened > faultStart+2*period {
		t.Errorf("event opened at +%s, fault started at +%s (want within two periods)", opened, faultStart)
	}
	if faultEnd == 0 {
		return
	}
	if e.Status != internet.StatusResolved || e.EndedAt == nil {
		t.Fatalf("event still %s after the fault ended at +%s", e.Status, faultEnd)
	}
	if ended := e.EndedAt.Sub(r.start); ended < faultEnd || ended > faultEnd+2*period {
		t.Errorf("event resolved at +%s, fault ended at +%s", ended, faultEnd)
	}
}

func TestSimASNFaultOpensPerformanceEventNamingTheASN(t *testing.T) {
	if testing.Short() {
		t.Skip("scenario of 14 simulated minutes")
	}
	r := startSimServer(t)
	if _, err := r.alarms.Put(t.Context(), alarm.Definition{Name: "internet-performance", Namespace: internet.Namespace,
		Metric: "performance_score", Dimensions: map[string]string{"monitor": "web"}, Statistic: alarm.Minimum,
		Period: alarm.Duration(time.Minute), EvaluationPeriods: 1, DatapointsToAlarm: 1, Comparison: alarm.Less,
		Threshold: 95, TreatMissingData: alarm.NotBreaching}, true); err != nil {
		t.Fatal(err)
	}
	r.run(t, 14*time.Minute, "asn=64500,loss=0.05,after=6m,for=4m")
	// The alarm on the published score went to ALARM during the fault and
	// back to OK after it.
	states := r.alarmStates["internet-performance"]
	if !slices.Contains(states, alarm.Alarming) || len(states) == 0 || states[len(states)-1] != alarm.OK {
		t.Errorf("alarm states over the run: %v", states)
	}
	evs := r.events(t)
	if len(evs) != 1 {
		t.Fatalf("%d events, want exactly one", len(evs))
	}
	e := evs[0]
	if e.Type != internet.TypePerformance && e.Type != internet.TypeLocalPerformance {
		t.Errorf("type %s, want PERFORMANCE", e.Type)
	}
	if e.Cause.Kind != internet.CauseASN || e.Cause.ASN != 64500 {
		t.Errorf("cause %+v, want asn 64500", e.Cause)
	}
	if e.Cause.Evidence.ASNCitiesImpacted < 10 {
		t.Errorf("AS64500 impacted in %d cities, want it seen across many", e.Cause.Evidence.ASNCitiesImpacted)
	}
	for _, l := range e.ImpactedLocations {
		if l.ASN != 64500 {
			t.Errorf("impacted location %s AS%d is not on AS64500", l.City, l.ASN)
		}
	}
	checkWindow(t, r, e, 6*time.Minute, 10*time.Minute)
}

func TestSimCityFaultIsAttributedToTheMetro(t *testing.T) {
	if testing.Short() {
		t.Skip("scenario of 12 simulated minutes")
	}
	r := startSimServer(t)
	r.run(t, 12*time.Minute, "city=Paris,loss=0.05,after=6m,for=3m")
	evs := r.events(t)
	if len(evs) != 1 {
		t.Fatalf("%d events, want exactly one", len(evs))
	}
	e := evs[0]
	if e.Cause.Kind != internet.CauseMetro || e.Cause.City != "Paris" || e.Cause.Country != "FR" {
		t.Errorf("cause %+v, want metro Paris, FR", e.Cause)
	}
	if e.Cause.Evidence.CityASNsImpacted < 5 {
		t.Errorf("%d networks impacted in Paris, want several", e.Cause.Evidence.CityASNsImpacted)
	}
	checkWindow(t, r, e, 6*time.Minute, 9*time.Minute)
}

func TestSimFaultOnEveryClientIsOurSide(t *testing.T) {
	if testing.Short() {
		t.Skip("scenario of 10 simulated minutes")
	}
	r := startSimServer(t)
	r.run(t, 10*time.Minute, "clients=all,loss=0.05,after=6m")
	evs := r.events(t)
	if len(evs) != 1 {
		t.Fatalf("%d events, want exactly one", len(evs))
	}
	e := evs[0]
	if e.Type != internet.TypePerformance || e.Cause.Kind != internet.CauseLocal {
		t.Errorf("type %s cause %+v, want PERFORMANCE on our side (local)", e.Type, e.Cause)
	}
	checkWindow(t, r, e, 6*time.Minute, 0)
}

func TestSimNoFaultNoEventOver30Minutes(t *testing.T) {
	if testing.Short() {
		t.Skip("scenario of 30 simulated minutes")
	}
	r := startSimServer(t)
	r.run(t, 30*time.Minute)
	if evs := r.events(t); len(evs) != 0 {
		t.Fatalf("%d events without any fault", len(evs))
	}
	// The run covered the plan's city-networks and kept measuring them.
	var rows []internet.Overall
	if err := r.client.InternetQuery(t.Context(), "overall", url.Values{"monitor": {"web"}, "start": {r.start.Format(time.RFC3339)},
		"end": {r.start.Add(time.Hour).Format(time.RFC3339)}}, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) < 28 {
		t.Fatalf("%d periods evaluated over 30 minutes", len(rows))
	}
	// The stored flows carry the ASN (enriched at ingest): insights rank
	// internet traffic by provider.
	cat := topology.CategoryInternet
	top, err := r.srv.Store().Top(t.Context(), store.TopQuery{Metric: store.MetricDataTransferred, Category: &cat,
		Start: r.start, End: r.start.Add(time.Hour), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(top) == 0 || top[0].Remote.ASN == 0 {
		t.Fatalf("stored internet flows without ASN: %+v", top)
	}
	for _, o := range rows {
		if o.CityNetworks < 1000 {
			t.Errorf("period %s: %d city-networks monitored, want over 1,000", o.Time, o.CityNetworks)
		}
		if o.AvailabilityScore < 99 || o.PerformanceScore < 99 {
			t.Errorf("period %s: scores %.2f/%.2f without a fault", o.Time, o.AvailabilityScore, o.PerformanceScore)
		}
	}
}
