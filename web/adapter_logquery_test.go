package web

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/logquery"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs"
	"github.com/flowlens/flowlens/topology"
)

// testLogSources are the server's log sources (cmd/flowlens wires the same).
func testLogSources() *logquery.Sources {
	return (&logquery.Sources{}).
		AddGroup(logquery.FlowsGroup, "the agent's flows", duckdb.FlowsLogSource()).
		SetGroups("flow-log groups", flowlogs.LogSource())
}

// TestFlowLogPagesQueryTheAgentsFlows stores flows in a real DuckDB file
// and queries them through the adapter the flow-log page uses.
func TestFlowLogPagesQueryTheAgentsFlows(t *testing.T) {
	db, _ := openPoints(t)
	ctx := context.Background()
	end := time.Now().Truncate(time.Minute)
	var batches []*store.Batch
	for i := 0; i < 3; i++ {
		t0 := end.Add(time.Duration(i-3) * time.Minute)
		batches = append(batches, &store.Batch{AgentID: "a", Sequence: uint64(i + 1), Rows: []store.FlowRow{{
			Start: t0, End: t0.Add(30 * time.Second), AgentID: "a", HostID: "web-1",
			Record: flow.Record{Key: flow.Key{LocalIP: netip.MustParseAddr("10.1.1.10"), RemoteIP: netip.MustParseAddr("10.1.11.10"),
				Port: 443, Direction: flow.DirectionClient, Protocol: 6}, Counters: flow.Counters{BytesSent: uint64(100 * (i + 1))}},
			Local: topology.Location{Kind: topology.KindSubnet, Subnet: "web-a"}, Remote: topology.Location{Kind: topology.KindSubnet, Subnet: "web-b"},
			Category: topology.CategoryInterZone}}})
	}
	if _, err := db.Write(ctx, batches); err != nil {
		t.Fatal(err)
	}
	if flowlogAdapter(nil, nil) != nil {
		t.Fatal("without the query module the page must say not available")
	}
	mod, err := logquery.New(logquery.DefaultConfig(), testLogSources(), logquery.Dependencies{DB: db, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := mod.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer mod.Stop(ctx)
	api := flowlogAdapter(mod.Engine(), nil)
	if api == nil {
		t.Fatal("the query module does not satisfy the page's interface")
	}
	groups, err := api.groups(ctx)
	if err != nil || len(groups) == 0 || groups[0] != logquery.FlowsGroup {
		t.Fatalf("groups %v %v", groups, err)
	}
	res, err := api.query(ctx, logquery.FlowsGroup, "fields localAddr, remoteAddr, bytesSent | sort bytesSent desc | limit 5", end.Add(-time.Hour), end)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 3 || res.Rows[0][0] != "10.1.1.10" || res.Rows[0][2] != "300" || res.Scanned != 3 {
		t.Fatalf("result %+v", res)
	}
	q := "stats sum(bytesSent) as bytes by bin(1m)"
	res, err = api.query(ctx, logquery.FlowsGroup, q, end.Add(-time.Hour), end)
	if err != nil {
		t.Fatal(err)
	}
	res.BinField = binColumn(res.Fields, q)
	c := binChart(res)
	if c == nil || len(c.X) != 3 || len(c.Series) != 1 {
		t.Fatalf("bin chart of %+v: %+v", res, c)
	}
	if _, err := api.query(ctx, logquery.FlowsGroup, "filter (", end.Add(-time.Hour), end); err == nil {
		t.Fatal("a syntax error must be reported")
	}
}
