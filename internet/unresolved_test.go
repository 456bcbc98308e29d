package internet

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/geoip"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// TestUnresolvedClientsAreUnknownNetworksByReason: clients the databases
// give no network are "unknown network" rows, one per reason, in the
// measurements and the top locations; never one AS0 row.
func TestUnresolvedClientsAreUnknownNetworksByReason(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "asn.mmdb")
	err := geoip.Write(dbPath, []geoip.Entry{{Prefix: netip.MustParsePrefix("81.2.0.0/16"),
		Info: geoip.Info{ASN: 64500, ASName: "Example Transit"}}}, geoip.WriteOptions{Layout: geoip.LayoutMaxMindASN})
	if err != nil {
		t.Fatal(err)
	}
	geo, err := geoip.New(geoip.Config{ASNPath: dbPath}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		geo  GeoLookup
		want map[string]bool // the unknown networks' reasons
	}{
		{"with an ASN database", geo, map[string]bool{geoip.ReasonPrivate: true, geoip.ReasonNotInDatabase: true}},
		{"without a database", nil, map[string]bool{geoip.ReasonPrivate: true, geoip.ReasonNoDatabase: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tm := newTestModuleWith(t, c.geo)
			if code, body := tm.post(t, `{"name":"web","period_seconds":60}`); code != 201 {
				t.Fatal(body)
			}
			start := timeAt(60)
			var rows []store.FlowRow
			for _, client := range []struct {
				ip  string
				asn uint32
			}{{"81.2.3.4", 64500}, {"10.1.2.3", 0}, {"192.168.7.7", 0}, {"8.8.8.8", 0}, {"9.9.9.9", 0}} {
				r := flowRow(1_000_000, 1000, 0, 40, 0, 20_000)
				r.Remote = topology.Location{Kind: topology.KindInternet, ASN: client.asn}
				r.Local = topology.Location{Kind: topology.KindSubnet, Subnet: "web-a", Network: "vpc-a"}
				r.Key.RemoteIP = netip.MustParseAddr(client.ip)
				r.End = start.Add(30 * time.Second)
				rows = append(rows, *r)
			}
			tm.observe([]*store.Batch{{AgentID: "a", Rows: rows}})
			tm.set(start.Add(time.Minute + time.Second))
			if err := tm.EvaluateDue(context.Background()); err != nil {
				t.Fatal(err)
			}
			ms, err := tm.tables.measurements(context.Background(), MeasurementQuery{Monitor: "web", Start: timeAt(0), End: timeAt(3600)})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]uint64{}
			for _, m := range ms {
				if m.ASN == 0 && m.Unresolved == "" {
					t.Errorf("an unknown network without a reason: %+v", m.Location)
				}
				got[m.Network()] += m.BytesIn + m.BytesOut
			}
			want := map[string]uint64{"AS64500": 1_000_000}
			for r := range c.want {
				want["unknown network ("+r+")"] = 2_000_000 // two clients each
			}
			if len(got) != len(want) {
				t.Fatalf("rows %v, want %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: %d bytes, want %d (rows %v)", k, got[k], v, got)
				}
			}
			top, err := tm.tables.topLocations(context.Background(), MeasurementQuery{Monitor: "web", Start: timeAt(0), End: timeAt(3600)})
			if err != nil {
				t.Fatal(err)
			}
			if len(top) != len(want) {
				t.Errorf("top locations %+v, want %d rows", top, len(want))
			}
			for _, l := range top {
				if l.ASN == 0 && !c.want[l.Unresolved] {
					t.Errorf("top location %+v: reason %q not in %v", l.Location, l.Unresolved, c.want)
				}
			}
		})
	}
}
