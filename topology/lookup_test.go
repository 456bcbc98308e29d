package topology

import (
	"net/netip"
	"strconv"
	"testing"
)

// loadExample loads examples/topology.yaml, which the lab and docs use too.
func loadExample(tb testing.TB) *Topology {
	tb.Helper()
	topo, err := Load("../examples/topology.yaml")
	if err != nil {
		tb.Fatalf("load example: %v", err)
	}
	return topo
}

func TestExampleShape(t *testing.T) {
	topo := loadExample(t)
	if len(topo.Regions) != 2 || len(topo.Zones) != 3 || len(topo.Networks) != 2 ||
		len(topo.Subnets) != 6 || len(topo.Services) != 2 || len(topo.HostGroups) != 2 {
		t.Fatalf("unexpected shape: %d regions, %d zones, %d networks, %d subnets, %d services, %d host groups",
			len(topo.Regions), len(topo.Zones), len(topo.Networks), len(topo.Subnets), len(topo.Services), len(topo.HostGroups))
	}
	want := Zone{ID: "zone-c", Region: "us-east"}
	if topo.Zones[2] != want {
		t.Errorf("Zones[2] = %+v, want %+v", topo.Zones[2], want)
	}
	s := topo.Subnets[0]
	if s.ID != "web-a" || s.Network != "net-prod" || s.Zone != "zone-a" || s.Region != "eu-west" ||
		len(s.CIDRs) != 2 || s.CIDRs[1] != netip.MustParsePrefix("2001:db8:1:1::/64") {
		t.Errorf("Subnets[0] = %+v", s)
	}
}

func TestLookup(t *testing.T) {
	topo := loadExample(t)
	webA := Location{Kind: KindSubnet, Subnet: "web-a", Network: "net-prod", Zone: "zone-a", Region: "eu-west"}
	withGroup := func(l Location, g string) Location { l.HostGroup = g; return l }
	tests := []struct {
		ip   string
		want Location
	}{
		{"10.1.1.10", withGroup(webA, "frontends")},
		{"10.1.1.200", webA},
		{"::ffff:10.1.1.10", withGroup(webA, "frontends")}, // dual-stack sockets report IPv4 peers mapped
		{"2001:db8:1:1::5", webA},
		{"2001:db8:1:1::5%eth0", webA},
		{"10.1.12.7", withGroup(Location{Kind: KindSubnet, Subnet: "app-b", Network: "net-prod", Zone: "zone-b", Region: "eu-west"}, "backends")},
		{"10.2.2.1", Location{Kind: KindSubnet, Subnet: "app-c", Network: "net-us", Zone: "zone-c", Region: "us-east"}},
		{"198.51.100.7", Location{Kind: KindService, Service: "objstore"}},
		{"192.0.2.1", Location{Kind: KindService, Service: "db-service"}}, // documentation space, declared
		{"203.0.113.9", Location{Kind: KindInternet}},                     // declared internet
		{"8.8.8.8", Location{Kind: KindInternet}},
		{"2606:4700::1111", Location{Kind: KindInternet}},
		{"10.9.9.9", Location{Kind: KindUnknown}},        // private, undeclared
		{"172.16.0.1", Location{Kind: KindUnknown}},      // private
		{"192.168.1.1", Location{Kind: KindUnknown}},     // private
		{"100.64.0.1", Location{Kind: KindUnknown}},      // CGNAT
		{"127.0.0.1", Location{Kind: KindUnknown}},       // loopback
		{"169.254.169.254", Location{Kind: KindUnknown}}, // link-local (metadata)
		{"::1", Location{Kind: KindUnknown}},
		{"fe80::1", Location{Kind: KindUnknown}},
		{"fd00::1", Location{Kind: KindUnknown}},         // ULA
		{"2001:db8:9::1", Location{Kind: KindUnknown}},   // documentation, undeclared
		{"224.0.0.251", Location{Kind: KindUnknown}},     // multicast
		{"::ffff:8.8.4.4", Location{Kind: KindInternet}}, // mapped public
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			if got := topo.Lookup(netip.MustParseAddr(tt.ip)); got != tt.want {
				t.Errorf("Lookup(%s) = %+v, want %+v", tt.ip, got, tt.want)
			}
		})
	}
	if got := topo.Lookup(netip.Addr{}); got != (Location{}) {
		t.Errorf("Lookup(invalid) = %+v, want zero", got)
	}
}

func TestLookupEmptyAndZero(t *testing.T) {
	if got := Empty().Lookup(netip.MustParseAddr("1.1.1.1")); got.Kind != KindInternet {
		t.Errorf("Empty: public address is %v, want internet", got.Kind)
	}
	if got := Empty().Lookup(netip.MustParseAddr("10.0.0.1")); got.Kind != KindUnknown {
		t.Errorf("Empty: private address is %v, want unknown", got.Kind)
	}
	// A Topology literal was never built; it must not panic.
	if got := (&Topology{}).Lookup(netip.MustParseAddr("1.1.1.1")); got != (Location{}) {
		t.Errorf("zero Topology: %+v", got)
	}
}

func TestHostGroupOf(t *testing.T) {
	topo := loadExample(t)
	for host, want := range map[string]string{"sim-0": "frontends", "sim-1": "frontends", "sim-9": ""} {
		if got := topo.HostGroupOf(host); got != want {
			t.Errorf("HostGroupOf(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	topo := loadExample(t)
	addrs := benchAddrs()
	allocs := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			_ = topo.Lookup(a.ip)
		}
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %.1f times per run, want 0", allocs)
	}
}

type benchAddr struct {
	name, addr string
	ip         netip.Addr
}

func benchAddrs() []benchAddr {
	list := []benchAddr{
		{name: "subnet-v4", addr: "10.1.2.77"},
		{name: "subnet-v4-hostgroup", addr: "10.1.1.10"},
		{name: "subnet-v6", addr: "2001:db8:1:11::42"},
		{name: "service", addr: "198.51.100.20"},
		{name: "internet-v4", addr: "93.184.216.34"},
		{name: "internet-v6", addr: "2606:4700::1111"},
		{name: "unknown-private", addr: "172.20.1.1"},
		{name: "mapped-v4", addr: "::ffff:10.2.1.9"},
	}
	for i := range list {
		list[i].ip = netip.MustParseAddr(list[i].addr)
	}
	return list
}

// BenchmarkLookup measures one Lookup per kind of address, on the example
// topology and on a large imported-size one (5,000 subnets, 3,000 service
// prefixes), since ingest calls it twice per flow.
func BenchmarkLookup(b *testing.B) {
	for _, topo := range []struct {
		name string
		t    *Topology
	}{{"example", loadExample(b)}, {"large", largeTopology(b)}} {
		for _, a := range benchAddrs() {
			b.Run(topo.name+"/"+a.name, func(b *testing.B) {
				b.ReportAllocs()
				var sink Location
				for b.Loop() {
					sink = topo.t.Lookup(a.ip)
				}
				_ = sink
			})
		}
	}
}

// largeTopology is a topology the size of a big AWS account: 5,000 /24
// subnets under 10.0.0.0/8 and 3,000 public /22 service prefixes.
func largeTopology(tb testing.TB) *Topology {
	tb.Helper()
	t := &Topology{
		Regions:  []Region{{ID: "eu-west"}},
		Zones:    []Zone{{ID: "zone-a", Region: "eu-west"}},
		Networks: []Network{{ID: "net", Region: "eu-west"}},
	}
	for i := range 5000 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		t.Subnets = append(t.Subnets, Subnet{ID: "s" + strconv.Itoa(i), Network: "net", Zone: "zone-a", Region: "eu-west",
			CIDRs: []netip.Prefix{p}})
	}
	for i := range 3000 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{52, byte(i >> 6), byte(i << 2), 0}), 22)
		t.Services = append(t.Services, Service{ID: "svc" + strconv.Itoa(i), CIDRs: []netip.Prefix{p}})
	}
	t.build()
	return t
}

// TestLookupConcurrent: a Topology is shared by every ingest goroutine (run
// with -race).
func TestLookupConcurrent(t *testing.T) {
	topo := loadExample(t)
	addrs := benchAddrs()
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 1000 {
				for _, a := range addrs {
					_ = topo.Lookup(a.ip)
					_ = topo.HostGroupOf("sim-0")
					_ = topo.Resolve(Resource{ResourceSubnet, "web-a"})
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
