package enrich_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowlens/flowlens/enrich"
	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/ingest"
	"github.com/flowlens/flowlens/insights"
	"github.com/flowlens/flowlens/logquery"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/topology"
	"github.com/flowlens/flowlens/wire"
	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

// TestProviderAttributeReachesStorageInsightsAndQueries: a provider that
// only declares and sets an attribute makes it appear in the store, in a
// top-contributors answer grouped by it, and in a Logs Insights query over
// flowlens/flows, with no other change.
func TestProviderAttributeReachesStorageInsightsAndQueries(t *testing.T) {
	st, err := duckdb.Open(duckdb.Config{Path: filepath.Join(t.TempDir(), "flowlens.duckdb")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	topo, err := topology.Parse(examples.Topology, examples.TopologyName)
	if err != nil {
		t.Fatal(err)
	}
	var tp atomic.Pointer[topology.Topology]
	tp.Store(topo)
	in := ingest.New(ingest.Config{}, st, &tp, ingest.NewAgents(), slog.New(slog.DiscardHandler), nil)
	// The test provider: the remote port's team, as a CMDB would say.
	team := map[uint16]string{443: "payments", 5432: "search"}
	if err := in.Enrich(enrich.Provider{Name: "cmdb", Order: enrich.OrderCloudTags, Attributes: []string{"team"},
		Enrich: func(f *enrich.Flow) { f.Remote.Set("team", team[port(f)]) }}); err != nil {
		t.Fatal(err)
	}
	in.Start()
	t.Cleanup(func() { in.Stop(context.Background()) })

	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	var flows []*pb.Flow
	for i, p := range []uint16{443, 443, 5432, 22} {
		rec := flow.Record{Key: flow.Key{LocalIP: netip.MustParseAddr("10.1.1.10"),
			RemoteIP: netip.AddrFrom4([4]byte{10, 1, 11, byte(10 + i)}), Port: p, Direction: flow.DirectionClient, Protocol: 6}}
		rec.Counters.BytesSent = uint64(1000 * (i + 1))
		flows = append(flows, wire.FromRecord(&rec))
	}
	body, err := wire.Encode(&pb.Report{AgentId: "a1", Sequence: 1, IntervalStartUnixMs: end.Add(-30 * time.Second).UnixMilli(),
		IntervalEndUnixMs: end.UnixMilli(), Host: &pb.Host{HostId: "h1"}, Flows: flows}, wire.EncodingZstd)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/api/v1/ingest", bytes.NewReader(body))
	req.Header.Set("Content-Encoding", wire.EncodingZstd)
	w := httptest.NewRecorder()
	in.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("ingest: %d %s", w.Code, w.Body)
	}

	// Storage: the resource dictionary holds the attribute.
	var stored []string
	rows, err := st.DB().Query(`SELECT DISTINCT remote_attrs FROM resource_keys ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		stored = append(stored, s)
	}
	rows.Close()
	if got := strings.Join(stored, " "); got != `{"team":"payments"} {"team":"search"}` && got != ` {"team":"payments"} {"team":"search"}` {
		t.Errorf("resource_keys.remote_attrs = %q", got)
	}

	// Insights: top contributors grouped by the attribute.
	q, err := insights.Request{By: "remote.attr.team", Start: fmt.Sprint(end.Add(-time.Hour).Unix()),
		End: fmt.Sprint(end.Add(time.Minute).Unix())}.Query(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	top, err := st.Top(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range top {
		row := insights.FromStore(q.Metric, r)
		v, _ := row.RemoteAttrs.Get("team")
		got = append(got, fmt.Sprintf("%s=%.0f", v, row.Value))
	}
	// 22 has no team: 4000 bytes; payments 1000+2000; search 3000.
	if fmt.Sprint(got) != "[=4000 payments=3000 search=3000]" {
		t.Errorf("top by remote.attr.team: %v", got)
	}

	// Logs Insights over flowlens/flows.
	res, err := logquery.NewEngine(st.DB(), (&logquery.Sources{}).AddGroup(logquery.FlowsGroup, "the agent's flows", duckdb.FlowsLogSource())).Run(context.Background(), logquery.Request{
		Query:  `filter ispresent(remote.attr.team) | stats sum(bytesSent) as sent by remote.attr.team | sort remote.attr.team`,
		Groups: []string{logquery.FlowsGroup}, Start: end.Add(-time.Hour), End: end.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Rows) != "[[payments 3000] [search 3000]]" {
		t.Errorf("query rows %v (columns %v)", res.Rows, res.Columns)
	}
}

func port(f *enrich.Flow) uint16 { return remotePorts[f.Remote.IP] }

var remotePorts = map[netip.Addr]uint16{
	netip.MustParseAddr("10.1.11.10"): 443, netip.MustParseAddr("10.1.11.11"): 443,
	netip.MustParseAddr("10.1.11.12"): 5432, netip.MustParseAddr("10.1.11.13"): 22,
}

// TestChainOrderAndRefusals: providers run by Order whatever their
// registration order; bad or taken names are refused.
func TestChainOrderAndRefusals(t *testing.T) {
	var c enrich.Chain
	var order []string
	add := func(name string, o int, attrs ...string) error {
		return c.Register(enrich.Provider{Name: name, Order: o, Attributes: attrs,
			Enrich: func(*enrich.Flow) { order = append(order, name) }})
	}
	for _, p := range []struct {
		name  string
		order int
		attr  string
	}{{"tags", enrich.OrderCloudTags, "owner"}, {"geo", enrich.OrderGeoIP, ""}, {"k8s", enrich.OrderKubernetes, "k8s_namespace"}} {
		var attrs []string
		if p.attr != "" {
			attrs = []string{p.attr}
		}
		if err := add(p.name, p.order, attrs...); err != nil {
			t.Fatal(err)
		}
	}
	for _, fn := range c.Runner() {
		fn(&enrich.Flow{})
	}
	if fmt.Sprint(order) != "[geo k8s tags]" {
		t.Errorf("ran %v, want geo k8s tags", order)
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"tags", add("tags", 1)},                        // twice
		{"other", add("other", 1, "owner")},             // taken attribute
		{"bad", add("bad", 1, "Owner")},                 // bad attribute name
		{"nil", c.Register(enrich.Provider{Name: "x"})}, // no function
	} {
		if !errors.Is(tc.err, enrich.ErrProvider) {
			t.Errorf("%s: %v, want ErrProvider", tc.name, tc.err)
		}
	}
}
