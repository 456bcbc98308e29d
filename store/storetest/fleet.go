package storetest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// remoteSpec is one destination every agent of the test fleet talks to.
type remoteSpec struct {
	name     string
	ip       netip.Addr
	port     uint16
	loc      topology.Location
	category topology.Category
	merged   bool
	bits     uint8
}

// agentSpec is one host of the test fleet.
type agentSpec struct {
	id, host string
	ip       netip.Addr
	loc      topology.Location
}

// fleet is a small deterministic topology: three hosts in two zones, each
// talking to a peer in another zone, one in its own zone, an object-store
// service, an internet city-network and a merged /24 overflow row.
type fleet struct {
	agents  []agentSpec
	remotes []remoteSpec
}

func newFleet() *fleet {
	zoneA := topology.Location{Kind: topology.KindSubnet, Region: "eu-west", Zone: "eu-west-a", Network: "prod", Subnet: "app-a", HostGroup: "web"}
	zoneB := topology.Location{Kind: topology.KindSubnet, Region: "eu-west", Zone: "eu-west-b", Network: "prod", Subnet: "app-b", HostGroup: "db"}
	f := &fleet{
		agents: []agentSpec{
			{id: "agent-1", host: "host-1", ip: netip.MustParseAddr("10.0.1.10"), loc: zoneA},
			{id: "agent-2", host: "host-2", ip: netip.MustParseAddr("10.0.1.11"), loc: zoneA},
			{id: "agent-3", host: "host-3", ip: netip.MustParseAddr("10.0.2.10"), loc: zoneB},
		},
	}
	peerB := zoneB
	peerB.HostGroup = ""
	peerA := zoneA
	peerA.HostGroup = ""
	f.remotes = []remoteSpec{
		{name: "inter-zone", ip: netip.MustParseAddr("10.0.2.20"), port: 5432, loc: peerB, category: topology.CategoryInterZone},
		{name: "intra-zone", ip: netip.MustParseAddr("10.0.1.20"), port: 8080, loc: peerA, category: topology.CategoryIntraZone},
		{name: "service", ip: netip.MustParseAddr("52.95.150.10"), port: 443,
			loc: topology.Location{Kind: topology.KindService, Region: "eu-west", Service: "object-store"}, category: topology.CategoryService},
		{name: "internet", ip: netip.MustParseAddr("203.0.113.7"), port: 443,
			loc: topology.Location{Kind: topology.KindInternet, ASN: 64500, ASOrg: "Example Net", City: "Lyon", Country: "FR"}, category: topology.CategoryInternet},
		{name: "merged", ip: netip.MustParseAddr("198.51.100.0"), port: 443, merged: true, bits: 24,
			loc: topology.Location{Kind: topology.KindInternet, ASN: 64501, City: "Paris", Country: "FR"}, category: topology.CategoryInternet},
	}
	return f
}

// row builds the counters of one flow in one interval from rng; about one
// row in five has no RTT samples, so round-trip-time must skip them.
func (f *fleet) row(rng *rand.Rand, a agentSpec, r remoteSpec, start, end time.Time) store.FlowRow {
	dir := flow.DirectionClient
	if r.name == "intra-zone" && a.id == "agent-2" {
		dir = flow.DirectionServer
	}
	c := flow.Counters{
		BytesSent:         rng.Uint64N(1 << 30),
		BytesReceived:     rng.Uint64N(1 << 32),
		SegmentsSent:      rng.Uint64N(1 << 20),
		SegmentsReceived:  rng.Uint64N(1 << 20),
		Retransmissions:   rng.Uint64N(50),
		Timeouts:          rng.Uint64N(3),
		ConnectionsOpened: rng.Uint64N(20),
		ConnectionsClosed: rng.Uint64N(20),
		FailedRefused:     rng.Uint64N(2),
		FailedTimeout:     rng.Uint64N(2),
		FailedReset:       rng.Uint64N(2),
	}
	if rng.IntN(5) != 0 {
		for range 1 + rng.IntN(30) {
			c.RTT.Observe(100 + rng.Uint64N(100_000))
		}
	}
	if rng.IntN(3) == 0 {
		c.HandshakeLatency.Observe(200 + rng.Uint64N(50_000))
	}
	return store.FlowRow{
		Start: start, End: end, AgentID: a.id, HostID: a.host,
		Record: flow.Record{
			Key:        flow.Key{LocalIP: a.ip, RemoteIP: r.ip, Port: r.port, Direction: dir, Protocol: flow.ProtocolTCP},
			Counters:   c,
			Merged:     r.merged,
			RemoteBits: r.bits,
		},
		Local: a.loc, Remote: r.loc, Category: r.category,
	}
}

// batches returns one batch per agent per interval, for intervals ending
// at end - k*every for k in [0, n), sequences counting from firstSeq.
func (f *fleet) batches(seed uint64, end time.Time, every time.Duration, n int, firstSeq uint64) []*store.Batch {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []*store.Batch
	for k := n - 1; k >= 0; k-- {
		e := end.Add(-time.Duration(k) * every)
		for ai, a := range f.agents {
			b := &store.Batch{AgentID: a.id, Sequence: firstSeq + uint64((n-1-k)*len(f.agents)+ai)}
			for _, r := range f.remotes {
				b.Rows = append(b.Rows, f.row(rng, a, r, e.Add(-every), e))
			}
			out = append(out, b)
		}
	}
	return out
}

// resourceKey is the roll-up grouping of a row or a ByResource TopRow.
type resourceKey struct {
	cat                                         topology.Category
	lRegion, lZone, lNetwork, lSubnet, lHostGrp string
	rKind                                       topology.Kind
	rRegion, rZone, rNetwork, rSubnet, rService string
	rASN                                        uint32
}

func resourceKeyOf(cat topology.Category, l, r topology.Location) resourceKey {
	return resourceKey{cat, l.Region, l.Zone, l.Network, l.Subnet, l.HostGroup,
		r.Kind, r.Region, r.Zone, r.Network, r.Subnet, r.Service, r.ASN}
}

// flowKey is the ByFlow grouping, as visible in a TopRow.
type flowKey struct {
	host      string
	key       flow.Key
	cat       topology.Category
	localLoc  topology.Location
	remoteLoc topology.Location
}

func (k flowKey) String() string { return fmt.Sprintf("%s %s", k.host, k.key) }

// groupOf returns the grouping key of a row.
func groupOf(by store.Grouping, r *store.FlowRow) any {
	if by == store.ByFlow {
		return flowKey{r.HostID, r.Key, r.Category, r.Local, r.Remote}
	}
	return resourceKeyOf(r.Category, r.Local, r.Remote)
}

// groupOfTop returns the grouping key of a Top answer row.
func groupOfTop(by store.Grouping, r *store.TopRow) any {
	if by == store.ByFlow {
		return flowKey{r.HostID, flow.Key{LocalIP: r.LocalIP, RemoteIP: r.RemoteIP, Port: r.Port,
			Direction: r.Direction, Protocol: r.Protocol}, r.Category, r.Local, r.Remote}
	}
	return resourceKeyOf(r.Category, r.Local, r.Remote)
}

// valueOf computes a metric from totals; ok is false for round-trip-time
// without samples, which Top leaves out.
func valueOf(m store.Metric, t store.Totals) (v float64, ok bool) {
	switch m {
	case store.MetricRetransmissions:
		return float64(t.Retransmissions), true
	case store.MetricTimeouts:
		return float64(t.Timeouts), true
	case store.MetricRoundTripTime:
		if t.RTTCount == 0 {
			return 0, false
		}
		return float64(t.RTTSumUS) / float64(t.RTTCount), true
	}
	return float64(t.BytesSent + t.BytesReceived), true
}

// expected aggregates the rows the query selects: End in [start, end), and
// the category when set.
func expected(batches []*store.Batch, by store.Grouping, cat *topology.Category, start, end time.Time) map[any]store.Totals {
	out := make(map[any]store.Totals)
	for _, b := range batches {
		for i := range b.Rows {
			r := &b.Rows[i]
			if r.End.Before(start) || !r.End.Before(end) {
				continue
			}
			if cat != nil && r.Category != *cat {
				continue
			}
			k := groupOf(by, r)
			t := out[k]
			t.Add(&r.Counters)
			out[k] = t
		}
	}
	return out
}
