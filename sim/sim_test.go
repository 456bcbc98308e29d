package sim

import (
	"fmt"
	"math/rand/v2"

	"google.golang.org/protobuf/proto"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/topology"
)

func TestParseFault(t *testing.T) {
	cases := []struct {
		in   string
		want Fault
		err  string
	}{
		{in: "segment=zone-a>zone-b,loss=0.03", want: Fault{From: "zone-a", To: "zone-b", Loss: 0.03}},
		{in: "segment=zone-a<>zone-b,rtt=+20ms", want: Fault{From: "zone-a", To: "zone-b", Bidirectional: true, ExtraRTT: 20 * time.Millisecond}},
		{in: "host=sim-3,loss=5%,after=1m,for=2m", want: Fault{Host: "sim-3", Loss: 0.05, After: time.Minute, For: 2 * time.Minute}},
		{in: "segment=zone-a,loss=0.1", err: "want FROM>TO"},
		{in: "segment=zone-a>zone-b", err: "give loss= or rtt="},
		{in: "loss=0.1", err: "exactly one of segment= or host="},
		{in: "host=sim-1,loss=2", err: "out of range"},
		{in: "host=sim-1,jitter=2ms", err: "unknown key"},
		{in: "host=sim-1 loss=0.1", err: "not key=value"},
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
}

func exampleTopology(t *testing.T) *topology.Topology {
	t.Helper()
	topo, err := topology.Parse(examples.Topology, examples.TopologyName)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func TestFaultValidate(t *testing.T) {
	topo := exampleTopology(t)
	for in, want := range map[string]string{
		"segment=zone-a>zone-x,loss=0.1":         "zone-x",
		"host=sim-20,loss=0.1":                   "sim-0 to sim-19",
		"segment=zone-a>service:nosuch,loss=0.1": "service:nosuch",
	} {
		f, err := ParseFault(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Validate(topo, 20); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want error naming %q", in, err, want)
		}
	}
	f, _ := ParseFault("segment=zone-a>service:objstore,loss=0.1")
	if err := f.Validate(topo, 20); err != nil {
		t.Errorf("valid fault refused: %v", err)
	}
}

func newTestFleet(t *testing.T, faults ...Fault) *fleet {
	t.Helper()
	f, err := newFleet(Config{Topology: exampleTopology(t), Agents: 12, FlowsPerAgent: 30, Seed: 3, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	f.tick = 1
	return f
}

// Both ends of a conversation between two agents must report the same
// bytes, mirrored.
func TestBothSidesAgree(t *testing.T) {
	f := newTestFleet(t)
	checked := 0
	for _, a := range f.agents {
		for _, s := range a.sides {
			c := s.conv
			if s.isServer || c.server == nil {
				continue
			}
			r1 := f.realize(c, 5*time.Second, time.Minute)
			r2 := f.realize(c, 5*time.Second, time.Minute)
			if r1 != r2 {
				t.Fatalf("realization not deterministic: %+v vs %+v", r1, r2)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			client := s.record(&r1, rng)
			server := side{conv: c, isServer: true}.record(&r1, rng)
			if client.Counters.BytesSent != server.Counters.BytesReceived || client.Counters.BytesReceived != server.Counters.BytesSent {
				t.Fatalf("sides disagree: %+v vs %+v", client.Counters, server.Counters)
			}
			if client.Key.LocalIP != server.Key.RemoteIP || client.Key.Port != server.Key.Port {
				t.Fatalf("keys not mirrored: %v vs %v", client.Key, server.Key)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no agent-to-agent conversation generated")
	}
}

// A zone-a>zone-b loss fault raises retransmissions only on data sent from
// zone-a to zone-b, and only while active.
func TestSegmentFaultDirection(t *testing.T) {
	ft, _ := ParseFault("segment=zone-a>zone-b,loss=0.2,after=1m")
	f := newTestFleet(t, ft)
	var faultyUp, cleanDown, before uint64
	for _, a := range f.agents {
		for _, s := range a.sides {
			c := s.conv
			if s.isServer || c.clientLoc.Zone != "zone-a" || c.serverLoc.Zone != "zone-b" {
				continue
			}
			r := f.realize(c, 5*time.Second, 2*time.Minute)
			faultyUp += r.retransUp
			if r.segsUp >= 200 && float64(r.retransUp) < 0.1*float64(r.segsUp) {
				t.Errorf("conversation %d: %d of %d segments retransmitted under 20%% loss", c.id, r.retransUp, r.segsUp)
			}
			cleanDown += r.retransDown
			before += f.realize(c, 5*time.Second, 30*time.Second).retransUp
		}
	}
	if faultyUp == 0 {
		t.Fatal("no zone-a -> zone-b conversation saw the fault")
	}
	if cleanDown*20 > faultyUp || before*20 > faultyUp {
		t.Errorf("fault leaked: up %d, reverse direction %d, before the fault %d", faultyUp, cleanDown, before)
	}
}

func TestPlacement(t *testing.T) {
	f := newTestFleet(t)
	seen := map[string]bool{}
	for i, a := range f.agents {
		if a.hostID != fmt.Sprintf("sim-%d", i) {
			t.Errorf("agent %d has host id %s", i, a.hostID)
		}
		if a.loc.Kind != topology.KindSubnet {
			t.Errorf("%s at %s is not in a subnet", a.hostID, a.ip)
		}
		if seen[a.ip.String()] {
			t.Errorf("address %s used twice", a.ip)
		}
		seen[a.ip.String()] = true
	}
}

// The raw acknowledgement path must count exactly what the report holds.
func TestAddRawMatchesAdd(t *testing.T) {
	f := newTestFleet(t)
	r := f.agents[0].report(f, time.Unix(100, 0), time.Unix(105, 0), time.Minute)
	data, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var a, b counter
	a.add(r)
	b.addRaw(r.Sequence, data)
	if a.totals() != b.totals() || a.totals().Bytes == 0 {
		t.Fatalf("raw %+v != decoded %+v", b.totals(), a.totals())
	}
}
