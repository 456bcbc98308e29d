package web

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/monitor"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// TestMonitorPagesOverTheRealModule creates, lists, reads, updates and
// deletes monitors of the real monitor module (DuckDB file) through the
// adapter the pages use, including its validation errors.
func TestMonitorPagesOverTheRealModule(t *testing.T) {
	db, ms := openPoints(t)
	ctx := context.Background()
	topo, err := topology.Parse(examples.Topology, examples.TopologyName)
	if err != nil {
		t.Fatal(err)
	}
	d := monitor.Dependencies{DB: db, Metrics: ms, Registry: prometheus.NewRegistry(),
		Topology: func() *topology.Topology { return topo }, SubscribeFlows: func(string, func([]*store.Batch)) error { return nil }}
	mod, err := monitor.New(monitor.Config{}, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := mod.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer mod.Stop(ctx)
	api := monitorAdapter(mod, ms)
	if api == nil {
		t.Fatal("the monitor module does not satisfy the pages' interface")
	}
	f := monitorForm{Name: "a-to-b", Local: []string{"zone:zone-a"}, Remote: []string{"zone:zone-b", "service:objstore"}, Period: "10s"}
	if err := api.save(ctx, f, true); err != nil {
		t.Fatal(err)
	}
	if err := api.save(ctx, f, true); err == nil {
		t.Fatal("creating the same monitor twice must fail")
	}
	bad := monitorForm{Name: "bad", Local: []string{"zone:nowhere"}, Period: "10s"}
	if err := api.save(ctx, bad, true); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("unknown resource: %v", err)
	}
	rows, err := api.list(ctx)
	if err != nil || len(rows) != 1 || rows[0].Name != "a-to-b" || rows[0].Health != "UNKNOWN" || rows[0].Period != 10*time.Second ||
		strings.Join(rows[0].Remote, ",") != "zone:zone-b,service:objstore" {
		t.Fatalf("list: %v %+v", err, rows)
	}
	f.Period = "60s"
	f.Remote = nil
	if err := api.save(ctx, f, false); err != nil {
		t.Fatal(err)
	}
	m, err := api.get(ctx, "a-to-b", time.Hour)
	if err != nil || m.Period != time.Minute || len(m.Remote) != 0 {
		t.Fatalf("get after update: %v %+v", err, m)
	}
	if _, err := api.get(ctx, "nope", time.Hour); !errors.Is(err, errNotFound) {
		t.Fatalf("unknown monitor: %v", err)
	}
	if err := api.remove(ctx, "a-to-b"); err != nil {
		t.Fatal(err)
	}
	if err := api.remove(ctx, "a-to-b"); !errors.Is(err, errNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
}
