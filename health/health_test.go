package health

import (
	"math"
	"net/netip"
	"reflect"
	"testing"

	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/topology"
)

func exampleTopology(t *testing.T) *topology.Topology {
	t.Helper()
	topo, err := topology.Parse(examples.Topology, examples.TopologyName)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// fleet collects hand-made flows placed in the example topology.
type fleet struct {
	topo  *topology.Topology
	flows []Flow
}

func (f *fleet) add(local, remote string, segs, retrans uint64, rttUS uint64) {
	l, r := netip.MustParseAddr(local), netip.MustParseAddr(remote)
	ll, rl := f.topo.Lookup(l), f.topo.Lookup(r)
	f.flows = append(f.flows, Flow{HostID: "h-" + local, LocalIP: l, RemoteIP: r, Local: ll, Remote: rl,
		Category: topology.Classify(ll, rl), SegmentsSent: segs, BytesSent: segs * 1448, Retransmissions: retrans,
		RTTCount: 8, RTTSumUS: 8 * rttUS})
}

var (
	zoneA = []string{"10.1.1.10", "10.1.1.11", "10.1.2.10", "10.1.2.11"}
	zoneB = []string{"10.1.11.10", "10.1.11.11", "10.1.12.10", "10.1.12.11"}
)

// window is a full mesh inside and across zones a and b; extra adds
// retransmissions to a pair.
func window(t *testing.T, extra func(local, remote string) uint64, extraRTT func(local, remote string) uint64) []Flow {
	f := &fleet{topo: exampleTopology(t)}
	all := append(append([]string{}, zoneA...), zoneB...)
	for _, l := range all {
		for _, r := range all {
			if l == r {
				continue
			}
			rtt := uint64(200)
			if in(zoneA, l) != in(zoneA, r) {
				rtt = 1200
			}
			if extraRTT != nil {
				rtt += extraRTT(l, r)
			}
			var x uint64
			if extra != nil {
				x = extra(l, r)
			}
			f.add(l, r, 2000, x, rtt)
		}
	}
	return f.flows
}

func in(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// trained returns baselines that learned n healthy windows.
func trained(t *testing.T, n int) *Baselines {
	b := NewBaselines(0)
	for i := 0; i < n; i++ {
		b.Learn(Evaluate(Config{}, window(t, nil, nil), b))
	}
	return b
}

func TestEvaluate(t *testing.T) {
	cases := []struct {
		name         string
		loss         func(l, r string) uint64
		rtt          func(l, r string) uint64
		wantDegraded []string
		wantHost     string
	}{
		{name: "healthy", wantDegraded: nil},
		{name: "loss on zone-a>zone-b", loss: func(l, r string) uint64 {
			if in(zoneA, l) && in(zoneB, r) {
				return 60 // 3%
			}
			return 0
		}, wantDegraded: []string{"zone-a>zone-b"}},
		{name: "loss on one host", loss: func(l, r string) uint64 {
			if l == "10.1.2.11" || r == "10.1.2.11" {
				return 100
			}
			return 0
		}, wantHost: "h-10.1.2.11"},
		{name: "rtt on one remote host", rtt: func(l, r string) uint64 {
			if r == "10.1.11.10" {
				return 20000
			}
			return 0
		}, wantHost: "h-10.1.11.10"},
		{name: "rtt on both directions of the link", rtt: func(l, r string) uint64 {
			if in(zoneA, l) != in(zoneA, r) {
				return 20000
			}
			return 0
		}, wantDegraded: []string{"zone-a>zone-b", "zone-b>zone-a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := trained(t, 4)
			res := Evaluate(Config{}, window(t, tc.loss, tc.rtt), base)
			got := res.Degraded()
			if len(got) != len(tc.wantDegraded) {
				t.Fatalf("degraded %v, want %v; top %+v", got, tc.wantDegraded, res.Segments[0])
			}
			for _, w := range tc.wantDegraded {
				if !in(got, w) {
					t.Errorf("degraded %v, want %v", got, tc.wantDegraded)
				}
			}
			if tc.wantHost != "" {
				if len(res.Hosts) == 0 || res.Hosts[0].Host != tc.wantHost {
					t.Errorf("hosts %+v, want %s", res.Hosts, tc.wantHost)
				}
			} else if len(res.Hosts) > 0 {
				t.Errorf("hosts %+v, want none", res.Hosts)
			}
		})
	}
}

func TestViewPerMonitor(t *testing.T) {
	base := trained(t, 4)
	res := Evaluate(Config{}, window(t, func(l, r string) uint64 {
		if in(zoneA, l) && in(zoneB, r) {
			return 60
		}
		return 0
	}, nil), base)
	aToB := res.View(func(l, r topology.Location) bool { return l.Zone == "zone-a" && r.Zone == "zone-b" })
	if aToB.State != Degraded || aToB.Evidence.Segments[0].ID != "zone-a>zone-b" || aToB.Evidence.Segments[0].Score <= 0.5 {
		t.Errorf("a->b: %s %+v", aToB.State, aToB.Evidence.Segments[0])
	}
	bToA := res.View(func(l, r topology.Location) bool { return l.Zone == "zone-b" && r.Zone == "zone-a" })
	if bToA.State != Healthy {
		t.Errorf("b->a: %s %s", bToA.State, bToA.Evidence.Summary)
	}
	intraA := res.View(func(l, r topology.Location) bool { return l.Zone == "zone-a" && r.Zone == "zone-a" })
	if intraA.State != Healthy {
		t.Errorf("intra zone-a: %s %s", intraA.State, intraA.Evidence.Summary)
	}
	none := res.View(func(l, r topology.Location) bool { return l.Zone == "zone-c" })
	if none.State != Unknown {
		t.Errorf("zone-c (no traffic): %s", none.State)
	}
}

func TestTooLittleTraffic(t *testing.T) {
	f := &fleet{topo: exampleTopology(t)}
	f.add("10.1.1.10", "10.1.11.10", 3, 1, 0)
	f.flows[0].RTTCount = 0
	res := Evaluate(Config{}, f.flows, nil)
	if h := res.View(func(topology.Location, topology.Location) bool { return true }); h.State != Unknown {
		t.Errorf("state %s, want UNKNOWN", h.State)
	}
}

func TestLearnSkipsDegradedSegments(t *testing.T) {
	base := trained(t, 4)
	before, _ := base.Segment("zone-a>zone-b")
	for i := 0; i < 20; i++ {
		res := Evaluate(Config{}, window(t, func(l, r string) uint64 {
			if in(zoneA, l) && in(zoneB, r) {
				return 200
			}
			return 0
		}, nil), base)
		if len(res.Degraded()) == 0 {
			t.Fatalf("window %d: a long fault stopped being degraded (it became the baseline)", i)
		}
		base.Learn(res)
	}
	after, _ := base.Segment("zone-a>zone-b")
	if after.RetransRate != before.RetransRate {
		t.Errorf("baseline moved from %v to %v during the fault", before.RetransRate, after.RetransRate)
	}
}

func TestPath(t *testing.T) {
	topo := exampleTopology(t)
	loc := func(s string) topology.Location { return topo.Lookup(netip.MustParseAddr(s)) }
	ids := func(hs []Hop) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.ID)
		}
		return out
	}
	cases := []struct {
		local, remote string
		want          []string
	}{
		{"10.1.1.10", "10.1.1.11", []string{"subnet:web-a", "zone:zone-a"}},
		{"10.1.1.10", "10.1.2.11", []string{"subnet:web-a", "zone:zone-a", "subnet:app-a"}},
		{"10.1.1.10", "10.1.12.11", []string{"subnet:web-a", "zone:zone-a", "zone-a>zone-b", "zone:zone-b", "subnet:app-b"}},
		{"10.1.12.11", "10.2.1.5", []string{"subnet:app-b", "zone:zone-b", "eu-west>us-east", "zone:zone-c", "subnet:web-c"}},
		{"10.1.1.10", "198.51.100.7", []string{"subnet:web-a", "zone:zone-a", "zone-a>service:objstore", "service:objstore"}},
		{"10.1.1.10", "81.2.69.160", []string{"subnet:web-a", "zone:zone-a", "zone-a>internet"}},
	}
	for _, tc := range cases {
		l, r := loc(tc.local), loc(tc.remote)
		if got := ids(Path(l, r, topology.Classify(l, r))); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s -> %s: %v, want %v", tc.local, tc.remote, got, tc.want)
		}
	}
}

func TestPoissonTail(t *testing.T) {
	cases := []struct {
		k      uint64
		lambda float64
		want   float64
	}{
		{0, 1, 1},
		{1, 1, 1 - math.Exp(-1)},
		{2, 0.01, 1 - math.Exp(-0.01)*(1+0.01)},
		{5, 0, 0},
		{300, 250, 0.000859}, // normal approximation region
	}
	for _, tc := range cases {
		got := poissonTail(tc.k, tc.lambda)
		if math.Abs(got-tc.want) > 1e-3*math.Max(tc.want, 1e-3) && math.Abs(got-tc.want) > 2e-4 {
			t.Errorf("P(X>=%d | %v) = %v, want %v", tc.k, tc.lambda, got, tc.want)
		}
	}
}

func TestRobust(t *testing.T) {
	med, sigma := robust([]float64{1, 2, 3, 4, 100})
	if med != 3 || math.Abs(sigma-1.4826) > 1e-9 {
		t.Errorf("median %v sigma %v", med, sigma)
	}
}
