package sim

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/topology"
)

func TestInternetPlan(t *testing.T) {
	plan := InternetPlan()
	topo := exampleTopology(t)
	if len(plan) < 1000 {
		t.Fatalf("%d city-networks, want at least 1,000", len(plan))
	}
	seen := map[netip.Prefix]bool{}
	keys := map[string]bool{}
	cities := map[string]int{}
	transit := 0
	for _, cn := range plan {
		if seen[cn.Prefix] {
			t.Fatalf("prefix %s used twice", cn.Prefix)
		}
		seen[cn.Prefix] = true
		k := fmt.Sprint(cn.Info.City, "|", cn.Info.ASN)
		if keys[k] {
			t.Fatalf("city-network %s AS%d twice", cn.Info.City, cn.Info.ASN)
		}
		keys[k] = true
		cities[cn.Info.City]++
		if cn.Info.ASN == TransitASN {
			transit++
		}
		if cn.RTTUS < 4000 || cn.RTTUS > 400_000 {
			t.Errorf("%s: RTT %.0f µs", cn.Info.City, cn.RTTUS)
		}
		if topo.Lookup(cn.Prefix.Addr()).Kind != topology.KindInternet {
			t.Fatalf("%s is not a public address", cn.Prefix)
		}
	}
	if transit < 20 || cities["Paris"] < 10 {
		t.Fatalf("AS%d in %d cities, Paris has %d networks", TransitASN, transit, cities["Paris"])
	}
	// Nearer is faster: Paris before Sydney.
	rtt := map[string]float64{}
	for _, cn := range plan {
		rtt[cn.Info.City] = cn.RTTUS
	}
	if rtt["Paris"] >= rtt["Sydney"] {
		t.Fatalf("RTT Paris %.0f, Sydney %.0f", rtt["Paris"], rtt["Sydney"])
	}
}

func TestParseInternetFault(t *testing.T) {
	cases := []struct {
		in   string
		want Fault
		err  string
	}{
		{in: "asn=64500,loss=0.05", want: Fault{ASN: 64500, Loss: 0.05}},
		{in: "asn=AS64500,loss=5%,after=5m,for=3m", want: Fault{ASN: 64500, Loss: 0.05, After: 5 * time.Minute, For: 3 * time.Minute}},
		{in: "city=Paris,loss=0.05", want: Fault{City: "Paris", Loss: 0.05}},
		{in: "clients=all,rtt=+30ms", want: Fault{AllClients: true, ExtraRTT: 30 * time.Millisecond}},
		{in: "clients=some,loss=0.1", err: "only clients=all"},
		{in: "asn=x,loss=0.1", err: "not an AS number"},
		{in: "asn=64500,city=Paris,loss=0.1", err: "exactly one of"},
		{in: "asn=64500,host=sim-1,loss=0.1", err: "exactly one of"},
	}
	for _, c := range cases {
		got, err := ParseFault(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	topo := exampleTopology(t)
	for in, want := range map[string]string{"asn=64999,loss=0.1": "not in the simulated internet", "city=Atlantis,loss=0.1": "Atlantis"} {
		f, _ := ParseFault(in)
		if err := f.Validate(topo, 4); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestInternetClientsAndFaults(t *testing.T) {
	faults := []Fault{{ASN: TransitASN, Loss: 0.05}}
	f, err := newFleet(Config{Topology: exampleTopology(t), Agents: 8, FlowsPerAgent: 5, Seed: 3, InternetClients: 1500, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	nets := map[*CityNetwork]bool{}
	var hit, clients int
	for _, a := range f.agents {
		for _, s := range a.sides {
			c := s.conv
			if c.inet == nil {
				continue
			}
			clients++
			nets[c.inet] = true
			if !s.isServer || c.server != a || !c.inet.Prefix.Contains(c.clientIP) {
				t.Fatalf("client %s placed wrong", c.clientIP)
			}
			up, down := faults[0].affects(c)
			if up != (c.inet.Info.ASN == TransitASN) || up != down {
				t.Fatalf("fault on AS%d hits %s AS%d: %v %v", TransitASN, c.inet.Info.City, c.inet.Info.ASN, up, down)
			}
			if up {
				hit++
			}
		}
	}
	if clients != 1500 || len(nets) < 1000 || hit == 0 {
		t.Fatalf("%d clients over %d city-networks, %d on the faulty ASN", clients, len(nets), hit)
	}
}
