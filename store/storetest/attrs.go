package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// teamOf is the test's enrichment: a remote attribute from the remote
// address (one value in three left unset), and a local one for every flow.
func teamOf(r *store.FlowRow) string {
	return [...]string{"payments", "search", ""}[int(r.Key.RemoteIP.As16()[15])%3]
}

// testAttributes: attributes that enrichment providers add to both ends
// come back with every flow and resource row, and Top groups by them, on
// every table.
func testAttributes(t *testing.T, s store.Store) {
	end := anchor()
	f := newFleet()
	batches := f.batches(3, end, 7*time.Minute, 50*60/7, 1)
	for _, b := range batches {
		for i := range b.Rows {
			r := &b.Rows[i]
			r.Remote.Attrs = r.Remote.Attrs.With("team", teamOf(r))
			r.Local.Attrs = r.Local.Attrs.With("k8s_namespace", "prod")
		}
	}
	write(t, s, batches, 40)

	// Round trip: each flow row carries what was written.
	raw := tableRanges(end)[0]
	for _, row := range top(t, s, store.TopQuery{Start: raw.start, End: raw.end, Limit: store.MaxLimit, By: store.ByFlow}) {
		r := store.FlowRow{}
		r.Key.RemoteIP = row.RemoteIP
		want := topology.Attrs{}.With("team", teamOf(&r))
		if row.Remote.Attrs != want || row.Local.Attrs != (topology.Attrs{}.With("k8s_namespace", "prod")) {
			t.Fatalf("flow %s -> %s: attributes local %v remote %v, want remote %v", row.LocalIP, row.RemoteIP,
				row.Local.Attrs.Map(), row.Remote.Attrs.Map(), want.Map())
		}
	}
	for _, row := range top(t, s, store.TopQuery{Start: raw.start, End: raw.end, Limit: store.MaxLimit, By: store.ByResource}) {
		if v, _ := row.Local.Attrs.Get("k8s_namespace"); v != "prod" {
			t.Fatalf("resource row without its local attribute: %+v", row)
		}
	}

	// Grouping, on every table.
	for _, rg := range tableRanges(end) {
		want := map[string]uint64{}
		for _, b := range batches {
			for i := range b.Rows {
				r := &b.Rows[i]
				if !r.End.Before(rg.start) && r.End.Before(rg.end) {
					want[teamOf(r)] += r.Counters.BytesSent + r.Counters.BytesReceived
				}
			}
		}
		q := store.TopQuery{Start: rg.start, End: rg.end, Limit: 10, By: store.ByAttribute,
			Attribute: store.AttrRef{End: store.EndRemote, Name: "team"}}
		rows := top(t, s, q)
		got := map[string]uint64{}
		for i, row := range rows {
			v, _ := row.Remote.Attrs.Get("team")
			got[v] = uint64(row.Value)
			if row.Value != float64(row.Totals.BytesSent+row.Totals.BytesReceived) {
				t.Errorf("%s: %q value %v and totals %+v disagree", rg.name, v, row.Value, row.Totals)
			}
			if i > 0 && rows[i-1].Value < row.Value {
				t.Errorf("%s: not sorted by value", rg.name)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: bytes by remote team %v, want %v", rg.name, got, want)
		}
		q.Attribute = store.AttrRef{End: store.EndLocal, Name: "k8s_namespace"}
		if rows := top(t, s, q); len(rows) != 1 || rows[0].Local.Attrs != (topology.Attrs{}.With("k8s_namespace", "prod")) {
			t.Errorf("%s: by local namespace %+v, want one group prod", rg.name, rows)
		}
	}
}
