package web

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/internet"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// TestInternetPagesOverTheRealModule feeds internet flows to the real
// internet monitor (DuckDB file, its subscription, its evaluator) and reads
// the city-networks back through the adapter the page uses.
func TestInternetPagesOverTheRealModule(t *testing.T) {
	db, ms := openPoints(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Minute).Add(-5 * time.Minute)
	var subscriber func([]*store.Batch)
	d := internet.Dependencies{DB: db, Metrics: ms, Registry: prometheus.NewRegistry(), Topology: topology.Empty,
		SubscribeFlows: func(_ string, fn func([]*store.Batch)) error { subscriber = fn; return nil }}
	mod, err := internet.New(internet.Config{Now: func() time.Time { return now }, Grace: time.Second}, d)
	if err != nil {
		t.Fatal(err)
	}
	api := internetAdapter(mod)
	if api == nil {
		t.Fatal("the internet module does not satisfy the page's interface")
	}
	if _, err := mod.CreateMonitor(ctx, internet.Monitor{Name: "edge", PeriodSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	if got := api.monitors(); len(got) != 1 || got[0] != "edge" {
		t.Fatalf("monitors %v", got)
	}
	start := now
	var rows []store.FlowRow
	for i, city := range []struct {
		name string
		asn  uint32
	}{{"Paris", 3215}, {"Lyon", 3215}, {"Berlin", 3320}} {
		rows = append(rows, store.FlowRow{Start: start, End: start.Add(30 * time.Second), AgentID: "a", HostID: "h",
			Record: flow.Record{Key: flow.Key{LocalIP: netip.MustParseAddr("10.1.1.10"), RemoteIP: netip.AddrFrom4([4]byte{81, 2, 69, byte(i + 1)}),
				Port: 443, Direction: flow.DirectionServer, Protocol: 6},
				Counters: flow.Counters{BytesSent: uint64(1000 * (i + 1)), BytesReceived: 500, ConnectionsOpened: 2, ConnectionsClosed: 2}},
			Remote:   topology.Location{Kind: topology.KindInternet, ASN: city.asn, City: city.name, Country: "EU"},
			Category: topology.CategoryInternet})
	}
	subscriber([]*store.Batch{{AgentID: "a", Sequence: 1, Rows: rows}})
	now = now.Add(3 * time.Minute)
	if err := mod.EvaluateDue(ctx); err != nil {
		t.Fatal(err)
	}
	nets, err := api.locations(ctx, "edge", start.Add(-time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(nets) != 3 || nets[0].City != "Berlin" || nets[0].ASN != 3320 || nets[0].Network != "AS3320" || nets[0].Bytes != 3500 {
		t.Fatalf("city-networks %+v", nets)
	}
	var share float64
	for _, n := range nets {
		share += n.Share
	}
	if share < 0.99 || share > 1.01 {
		t.Fatalf("shares add up to %v, want 1", share)
	}
	if _, err := api.events(ctx); err != nil {
		t.Fatal(err)
	}
}
