package monitor_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/apiclient"
	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/monitor"
	"github.com/flowlens/flowlens/server"
	"github.com/flowlens/flowlens/sim"
	"github.com/flowlens/flowlens/topology"
)

// TestCRUDThroughAPI creates, lists, gets, updates and deletes monitors
// through the HTTP API (the CLI's client), checks the answers' codes, and
// that monitors survive a restart while the config file's are applied.
func TestCRUDThroughAPI(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topo, examples.Topology, 0o644); err != nil {
		t.Fatal(err)
	}
	start := func(cfg monitor.Config) (*server.Server, *apiclient.Client) {
		s, err := server.New(serverConfig(dir, topo, "tok", func(h *server.Host) (module.Module, error) {
			return monitor.New(cfg, monitorDeps(h))
		}), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		return s, apiclient.New(s.URL(), "tok", false)
	}
	ctx := context.Background()
	fromFile := monitor.ConfigMonitor{Where: "f.yaml:2"}
	fromFile.Spec, _ = monitor.ParseSpec("from-file", []string{"zone:zone-a"}, nil, "10s")
	s, c := start(monitor.Config{Monitors: []monitor.ConfigMonitor{fromFile}})

	var v monitor.View
	if err := c.CreateMonitor(ctx, monitor.Request{Name: "m1", Local: []string{"subnet:web-a"}, Remote: []string{"zone:zone-b"}, Period: "10s"}, &v); err != nil {
		t.Fatal(err)
	}
	if v.Status != monitor.StatusPending || v.Health.State != "UNKNOWN" || v.PeriodSeconds != 10 || v.Source != "api" {
		t.Errorf("created: %+v", v)
	}
	codeOf := func(err error) int {
		var e *apiclient.Error
		if errors.As(err, &e) {
			return e.Status
		}
		return 0
	}
	if err := c.CreateMonitor(ctx, monitor.Request{Name: "m1", Local: []string{"subnet:web-a"}}, nil); codeOf(err) != http.StatusConflict {
		t.Errorf("duplicate: %v", err)
	}
	if err := c.CreateMonitor(ctx, monitor.Request{Name: "m2", Local: []string{"subnet:nope"}}, nil); codeOf(err) != http.StatusBadRequest ||
		!strings.Contains(err.Error(), `no subnet "nope"`) {
		t.Errorf("unknown resource: %v", err)
	}
	if err := c.GetMonitor(ctx, "nope", nil); codeOf(err) != http.StatusNotFound {
		t.Errorf("get missing: %v", err)
	}
	if err := c.UpdateMonitor(ctx, "m1", monitor.Request{Local: []string{"subnet:web-a"}, PeriodSeconds: 30}, &v); err != nil || v.PeriodSeconds != 30 || len(v.Remote) != 0 {
		t.Errorf("update: %+v %v", v, err)
	}
	if err := c.UpdateMonitor(ctx, "m1", monitor.Request{Name: "other", Local: []string{"subnet:web-a"}}, nil); codeOf(err) != http.StatusBadRequest {
		t.Errorf("rename: %v", err)
	}
	var list struct{ Monitors []monitor.View }
	if err := c.ListMonitors(ctx, &list); err != nil || len(list.Monitors) != 2 || list.Monitors[0].Name != "from-file" || list.Monitors[0].Source != "config" {
		t.Fatalf("list: %+v %v", list, err)
	}
	s.Stop(ctx)

	// Restart without the config file's monitor: it goes, m1 stays.
	s, c = start(monitor.Config{})
	defer s.Stop(ctx)
	if err := c.ListMonitors(ctx, &list); err != nil || len(list.Monitors) != 1 || list.Monitors[0].Name != "m1" || list.Monitors[0].PeriodSeconds != 30 {
		t.Fatalf("after restart: %+v %v", list, err)
	}
	if err := c.DeleteMonitor(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteMonitor(ctx, "m1"); codeOf(err) != http.StatusNotFound {
		t.Errorf("delete twice: %v", err)
	}
}

// TestMetricPoints drives a short simulated fleet and checks the points
// stored for one 10 s window against the flows the simulator sent.
func TestMetricPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 25 s simulated fleet")
	}
	var ms metricstore.Store
	s := startServerWith(t, func(h *server.Host) (module.Module, error) {
		ms = h.Metrics
		return monitor.New(monitor.Config{Grace: time.Second}, monitorDeps(h))
	})
	c := apiclient.New(s.URL(), "test-token", false)
	ctx := context.Background()
	if err := c.CreateMonitor(ctx, monitor.Request{Name: "web-a", Local: []string{"subnet:web-a"}, Period: "10s"}, nil); err != nil {
		t.Fatal(err)
	}
	topo, _ := topology.Parse(examples.Topology, examples.TopologyName)
	if _, err := sim.Run(ctx, sim.Config{Server: s.URL(), Token: "test-token", Topology: topo, Agents: 12, FlowsPerAgent: 20,
		Interval: time.Second, Duration: 24 * time.Second, Seed: 3}, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	var v monitor.View
	deadline := time.Now().Add(15 * time.Second)
	for v.Metrics == nil {
		if time.Now().After(deadline) {
			t.Fatal("never evaluated")
		}
		time.Sleep(300 * time.Millisecond)
		if err := c.GetMonitor(ctx, "web-a", &v); err != nil {
			t.Fatal(err)
		}
	}
	if v.Status != monitor.StatusActive || v.Metrics.DataTransferred == 0 || v.Metrics.RoundTripTime == nil {
		t.Fatalf("view: %+v", v)
	}
	// Every contributor is in web-a and carries its path from its host.
	for metric, cs := range v.Contributors {
		for _, ct := range cs {
			ip := netip.MustParseAddr(ct.LocalIP)
			if topo.Lookup(ip).Subnet != "web-a" || len(ct.Path) < 3 || ct.Path[0].ID != "host:"+ct.LocalHost || ct.Path[1].ID != "subnet:web-a" {
				t.Errorf("%s contributor %+v", metric, ct)
			}
		}
	}
	if len(v.Contributors[monitor.MetricDataTransferred]) == 0 {
		t.Error("no contributors by data transferred")
	}
	// The stored points of that window equal the evaluation's metrics.
	q := func(metric string, dims map[string]string) []metricstore.Point {
		pts, err := ms.Query(ctx, metricstore.Query{ID: metricstore.ID{Namespace: monitor.Namespace, Metric: metric, Dimensions: dims},
			Start: *v.WindowStart, End: v.WindowStart.Add(time.Second)})
		if err != nil || len(pts) != 1 {
			t.Fatalf("%s %v: %v %v", metric, dims, pts, err)
		}
		return pts
	}
	mon := map[string]string{"monitor": "web-a"}
	if p := q(monitor.MetricDataTransferred, mon)[0]; p.Value != float64(v.Metrics.DataTransferred) || p.Period != 10*time.Second {
		t.Errorf("data_transferred point %+v, evaluation %d", p, v.Metrics.DataTransferred)
	}
	if p := q(monitor.MetricRetransmissions, mon)[0]; p.Value != float64(v.Metrics.Retransmissions) {
		t.Errorf("retransmissions point %+v", p)
	}
	if p := q(monitor.MetricRoundTripTime, map[string]string{"monitor": "web-a", "stat": "p90"})[0]; p.Value != v.Metrics.RoundTripTime.P90 {
		t.Errorf("rtt p90 point %+v", p)
	}
	avg := q(monitor.MetricRoundTripTime, map[string]string{"monitor": "web-a", "stat": "avg"})[0]
	if avg.Count != v.Metrics.RoundTripTime.Samples || avg.Sum/float64(avg.Count)-avg.Value > 1e-6 {
		t.Errorf("rtt avg point %+v", avg)
	}
	if p := q(monitor.MetricHealthIndicator, mon)[0]; p.Value != 0 && p.Value != 1 {
		t.Errorf("health point %+v", p)
	}
}
