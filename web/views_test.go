package web

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

func TestBinChart(t *testing.T) {
	res := &queryResult{BinField: "bin(1h)", Fields: []string{"bin(1h)", "action", "n", "bytes"}, Rows: [][]string{
		{"2026-01-02 11:00:00.000", "REJECT", "3", "100"},
		{"2026-01-02 10:00:00.000", "ACCEPT", "5", "900"},
		{"2026-01-02 10:00:00.000", "REJECT", "1", "20"},
	}}
	c := binChart(res)
	if c == nil {
		t.Fatal("no chart for a bin() result")
	}
	t10 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC).Unix()
	if !reflect.DeepEqual(c.X, []int64{t10, t10 + 3600}) {
		t.Fatalf("x %v", c.X)
	}
	got := map[string][]any{}
	for _, s := range c.Series {
		var vs []any
		for _, v := range s.Values {
			if v == nil {
				vs = append(vs, nil)
			} else {
				vs = append(vs, *v)
			}
		}
		got[s.Label] = vs
	}
	want := map[string][]any{"REJECT n": {1.0, 3.0}, "REJECT bytes": {20.0, 100.0}, "ACCEPT n": {5.0, nil}, "ACCEPT bytes": {900.0, nil}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("series %v, want %v", got, want)
	}
	if binChart(&queryResult{Fields: []string{"a"}, Rows: [][]string{{"1"}}}) != nil {
		t.Fatal("chart for a result without bin()")
	}
	if binChart(&queryResult{BinField: "b", Fields: []string{"b", "n"}, Rows: [][]string{{"not a time", "1"}}}) != nil {
		t.Fatal("chart for unparsable bins")
	}
}

func TestCSVSafe(t *testing.T) {
	got := csvSafe([]string{"=cmd()", "-1.5", "+x", "@SUM(A1)", "10.0.0.1", ""})
	want := []string{"'=cmd()", "-1.5", "'+x", "'@SUM(A1)", "10.0.0.1", ""}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q, want %q", got, want)
	}
}

func TestLayoutTimeline(t *testing.T) {
	s := time.Unix(1000, 0)
	slots := []healthSlot{
		{Start: s.Add(-30 * time.Second), End: s.Add(30 * time.Second), State: "HEALTHY"},
		{Start: s.Add(30 * time.Second), End: s.Add(60 * time.Second), State: "DEGRADED"},
		{Start: s.Add(200 * time.Second), End: s.Add(260 * time.Second), State: "HEALTHY"},
	}
	got := layoutTimeline(slots, s, s.Add(120*time.Second))
	if len(got) != 2 || got[0].Left != 0 || got[0].Width != 25 || got[1].Left != 25 || got[1].Width != 25 {
		t.Fatalf("%+v", got)
	}
}

func TestMonitorFromRows(t *testing.T) {
	v := monitorFromRows([]string{"subnet:web-a|subnet:web-b", "subnet:web-a|service:objstore", "subnet:app-a|internet"})
	if !reflect.DeepEqual(v["local"], []string{"subnet:app-a", "subnet:web-a"}) ||
		!reflect.DeepEqual(v["remote"], []string{"internet", "service:objstore", "subnet:web-b"}) {
		t.Fatalf("%v", v)
	}
}

func TestInsightRowResources(t *testing.T) {
	tests := []struct {
		remote     topology.Location
		wantRemote string
	}{
		{topology.Location{Kind: topology.KindSubnet, Subnet: "web-b", Zone: "zone-b"}, "subnet:web-b"},
		{topology.Location{Kind: topology.KindService, Service: "objstore"}, "service:objstore"},
		{topology.Location{Kind: topology.KindInternet, ASN: 64500}, "internet"},
		{topology.Location{Kind: topology.KindUnknown}, ""},
	}
	for _, tc := range tests {
		r := toInsightRow(store.MetricDataTransferred, store.TopRow{Local: topology.Location{Subnet: "web-a"}, Remote: tc.remote,
			LocalIP: netip.MustParseAddr("10.1.1.10")})
		if r.Local != "subnet:web-a" || r.Remote != tc.wantRemote {
			t.Errorf("%+v: local %q remote %q, want subnet:web-a %q", tc.remote, r.Local, r.Remote, tc.wantRemote)
		}
	}
}

func TestStepFor(t *testing.T) {
	for span, want := range map[time.Duration]time.Duration{
		15 * time.Minute: 10 * time.Second, time.Hour: time.Minute, 6 * time.Hour: 5 * time.Minute,
		24 * time.Hour: 10 * time.Minute, 7 * 24 * time.Hour: time.Hour, 30 * 24 * time.Hour: 6 * time.Hour,
	} {
		if got := stepFor(span); got != want {
			t.Errorf("stepFor(%s) = %s, want %s", span, got, want)
		}
	}
}

func TestSeriesChartAlignsPoints(t *testing.T) {
	start := time.Unix(600, 0)
	series := []store.Series{{Row: store.TopRow{Local: topology.Location{Subnet: "web-a"}, Remote: topology.Location{Kind: topology.KindInternet}},
		Points: []store.Point{{Time: time.Unix(600, 0), Value: 1}, {Time: time.Unix(660, 0), Value: 2}, {Time: time.Unix(780, 0), Value: 4}}}}
	c := seriesChart(store.MetricRetransmissions, series, start, start.Add(3*time.Minute), time.Minute)
	if len(c.X) != 4 || len(c.Series) != 1 || c.Series[0].Label != "web-a → internet" {
		t.Fatalf("%+v", c)
	}
	v := c.Series[0].Values
	if *v[0] != 1 || *v[1] != 2 || v[2] != nil || *v[3] != 4 {
		t.Fatalf("values not aligned: %v", v)
	}
}

func TestMapPoints(t *testing.T) {
	pts := mapPoints([]cityNetwork{
		{City: "Paris", ASN: 3215, Lat: 48.85, Lon: 2.35, Share: 0.1, Performance: 99, Availability: 100},
		{City: "Nowhere", ASN: 1},
		{City: "Lima", ASN: 6147, Lat: -12, Lon: -77, Share: 0.9, Performance: 50, Availability: 99},
	})
	if len(pts) != 2 || pts[0].Class != "ok" || pts[1].Class != "bad" || pts[1].R != 5 {
		t.Fatalf("%+v", pts)
	}
	if pts[0].X != 182.35 || pts[0].Y != 90-48.85 {
		t.Fatalf("Paris at %v,%v", pts[0].X, pts[0].Y)
	}
}

func TestIngestRate(t *testing.T) {
	now := time.Unix(10_000, 0)
	r := newIngestRate(10*time.Second, 6)
	r.now = func() time.Time { return now }
	batch := &store.Batch{Rows: make([]store.FlowRow, 50)}
	batch.Rows[0].Counters.BytesSent = 1000
	r.observe([]*store.Batch{batch, batch})
	now = now.Add(10 * time.Second)
	r.observe([]*store.Batch{batch})
	now = now.Add(10 * time.Second)
	s := r.series()
	if len(s) != 5 {
		t.Fatalf("%d points", len(s))
	}
	if s[3].FlowsPerSecond != 10 || s[4].FlowsPerSecond != 5 || s[3].Reports != 2 || s[4].BytesPerSecond != 100 {
		t.Fatalf("%+v", s[3:])
	}
	if p := r.recent(2); p.FlowsPerSecond != 7.5 || p.Reports != 3 {
		t.Fatalf("recent %+v", p)
	}
}

func TestBinColumn(t *testing.T) {
	for _, tc := range []struct {
		cols        []string
		query, want string
	}{
		{[]string{"bin(5m)", "count(*)"}, "stats count(*) by bin(5m)", "bin(5m)"},
		{[]string{"t", "n"}, "stats count(*) as n by bin(1h) as t", "t"},
		{[]string{"srcAddr", "n"}, "stats count(*) as n by srcAddr", ""},
	} {
		if got := binColumn(tc.cols, tc.query); got != tc.want {
			t.Errorf("binColumn(%v, %q) = %q, want %q", tc.cols, tc.query, got, tc.want)
		}
	}
}
