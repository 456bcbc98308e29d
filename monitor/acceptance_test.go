package monitor_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/monitor"
	"github.com/flowlens/flowlens/server"
	"github.com/flowlens/flowlens/sim"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/topology"
)

// startServer runs a real server (HTTP, DuckDB file, ingest) with the
// monitor module and the example topology.
func startServer(t *testing.T, cfg monitor.Config) *server.Server {
	t.Helper()
	return startServerWith(t, func(h *server.Host) (module.Module, error) { return monitor.New(cfg, monitorDeps(h)) })
}

// monitorDeps gives the module the server's parts, as cmd/flowlens does.
func monitorDeps(h *server.Host) monitor.Dependencies {
	return monitor.Dependencies{Log: h.Log, Registry: h.Registry, DB: h.DB, Metrics: h.Metrics,
		Topology: h.Topology, SubscribeFlows: h.SubscribeFlows}
}

// serverConfig is a server on a DuckDB file in dir running the module
// build makes.
func serverConfig(dir, topo, token string, build func(h *server.Host) (module.Module, error)) server.Config {
	return server.Config{DataDir: dir, Listen: "127.0.0.1:0", TopologyPath: topo, Tokens: []string{token},
		OpenStore: duckdb.Opener(duckdb.Config{Path: filepath.Join(dir, "flowlens.duckdb")}),
		Modules: func(h *server.Host) ([]module.Named, error) {
			m, err := build(h)
			if err != nil {
				return nil, err
			}
			return []module.Named{{Name: "monitor", Module: m}}, nil
		}}
}

func startServerWith(t *testing.T, build func(h *server.Host) (module.Module, error)) *server.Server {
	t.Helper()
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topo, examples.Topology, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := server.New(serverConfig(dir, topo, "test-token", build), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s
}

// apiGet decodes GET path into a generic map, as a user's jq would see it.
func apiGet(t *testing.T, s *server.Server, path string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return out
}

func apiPost(t *testing.T, s *server.Server, path, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAcceptanceSimulatedFaults is the acceptance 1. A simulated
// fleet (20 agents, 1 s intervals) runs 40 s healthy, then for 30 s with
// two faults at once: 3% loss on zone-a>zone-b, and 5% loss on every flow
// of host sim-3 (in zone-b). With 10 s periods:
//   - monitors whose flows cross zone-a>zone-b are DEGRADED with that
//     segment ranked first;
//   - monitors that do not cross it stay HEALTHY, and the one holding
//     sim-3's traffic names sim-3 in its evidence (attributed_host).
func TestAcceptanceSimulatedFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 70 s simulated fleet")
	}
	s := startServer(t, monitor.Config{Grace: 2 * time.Second})
	monitors := map[string]string{
		"a-to-b":    `{"name":"a-to-b","local":["zone:zone-a"],"remote":["zone:zone-b"],"period":"10s"}`,
		"web-a-all": `{"name":"web-a-all","local":["subnet:web-a"],"period":"10s"}`,
		"b-to-a":    `{"name":"b-to-a","local":["zone:zone-b"],"remote":["zone:zone-a"],"period":"10s"}`,
		"zone-c":    `{"name":"zone-c","local":["zone:zone-c"],"period":"10s"}`,
		"app-b":     `{"name":"app-b","local":["subnet:app-b"],"period":"10s"}`,
	}
	for name, body := range monitors {
		if code := apiPost(t, s, "/api/v1/monitors", body); code != http.StatusCreated {
			t.Fatalf("create %s: %d", name, code)
		}
	}
	topo, err := topology.Parse(examples.Topology, examples.TopologyName)
	if err != nil {
		t.Fatal(err)
	}
	seg, _ := sim.ParseFault("segment=zone-a>zone-b,loss=0.03,after=40s")
	host, _ := sim.ParseFault("host=sim-3,loss=0.05,after=40s")
	started := time.Now()
	faultStart := started.Add(40 * time.Second)
	_, err = sim.Run(context.Background(), sim.Config{Server: s.URL(), Token: "test-token", Topology: topo, Agents: 20,
		FlowsPerAgent: 50, Interval: time.Second, Duration: 72 * time.Second, Seed: 42,
		Faults: []sim.Fault{seg, host}, DrainTimeout: 30 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// Judge the last window evaluated wholly inside the fault.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ev := apiGet(t, s, "/api/v1/monitors/a-to-b")
		if ws, ok := ev["window_start"].(string); ok {
			if w, err := time.Parse(time.RFC3339Nano, ws); err == nil && w.After(faultStart.Add(10*time.Second)) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no window inside the fault was evaluated: %v", ev["window_start"])
		}
		time.Sleep(500 * time.Millisecond)
	}
	get := func(name string) (state string, evidence map[string]any) {
		v := apiGet(t, s, "/api/v1/monitors/"+name)
		h := v["health"].(map[string]any)
		return h["state"].(string), h["evidence"].(map[string]any)
	}
	for _, name := range []string{"a-to-b", "web-a-all"} {
		state, ev := get(name)
		segs, _ := ev["segments"].([]any)
		if state != "DEGRADED" || len(segs) == 0 {
			t.Errorf("%s: state %s, want DEGRADED; evidence %v", name, state, ev["summary"])
			continue
		}
		first := segs[0].(map[string]any)
		if first["id"] != "zone-a>zone-b" {
			t.Errorf("%s: first segment %v (score %v), want zone-a>zone-b", name, first["id"], first["score"])
		}
		if score, _ := first["score"].(float64); score <= 0 {
			t.Errorf("%s: first segment has score %v", name, first["score"])
		}
	}
	for _, name := range []string{"b-to-a", "zone-c", "app-b"} {
		if state, ev := get(name); state != "HEALTHY" {
			t.Errorf("%s: state %s, want HEALTHY: %v", name, state, ev["summary"])
		}
	}
	if _, ev := get("app-b"); ev["attributed_host"] != "sim-3" {
		t.Errorf("app-b: attributed_host %v, want sim-3: %v", ev["attributed_host"], ev["summary"])
	}
	// Evaluations before the fault were healthy.
	evs := apiGet(t, s, "/api/v1/monitors/a-to-b/evaluations?limit=20")["evaluations"].([]any)
	healthyBefore := 0
	for _, e := range evs {
		e := e.(map[string]any)
		ws, _ := time.Parse(time.RFC3339Nano, e["window_start"].(string))
		state := e["health"].(map[string]any)["state"]
		if ws.Add(10*time.Second).Before(faultStart) && state == "HEALTHY" {
			healthyBefore++
		}
		if ws.Add(10*time.Second).Before(faultStart) && state == "DEGRADED" {
			t.Errorf("a-to-b DEGRADED before the fault, window %s", ws)
		}
	}
	if healthyBefore == 0 {
		t.Error("no HEALTHY evaluation of a-to-b before the fault")
	}
	// The metric points and the gauges are there.
	resp, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`flowlens_monitor_health_indicator{monitor="a-to-b"} 1`,
		`flowlens_monitor_health_indicator{monitor="b-to-a"} 0`,
		`flowlens_monitor_round_trip_time_microseconds{monitor="a-to-b",stat="p99"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
