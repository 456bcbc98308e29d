package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/topology"
	"github.com/flowlens/flowlens/wire"
	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

// internetPrefixes are public ranges used for internet peers (the ranges
// MaxMind's test databases describe, so GeoIP tests can place them).
var internetPrefixes = []netip.Prefix{
	netip.MustParsePrefix("81.2.69.0/24"),
	netip.MustParsePrefix("89.160.20.0/24"),
	netip.MustParsePrefix("216.160.83.0/24"),
	netip.MustParsePrefix("2.125.160.0/24"),
	netip.MustParsePrefix("175.16.199.0/24"),
	netip.MustParsePrefix("67.43.156.0/24"),
}

// conversation is one client-server pair on a service port. Either end may
// be a simulated agent; each agent end reports its own side.
type conversation struct {
	id             uint64
	client, server *agent // nil when that end is outside the fleet
	clientIP       netip.Addr
	serverIP       netip.Addr
	clientLoc      topology.Location
	serverLoc      topology.Location
	port           uint16
	bytesPerSec    float64
	upShare        float64 // share of bytes the client sends
	connsPerSec    float64
	rttUS          float64
	inet           *CityNetwork // internet clients of --internet-clients
}

// side is one agent's view of a conversation.
type side struct {
	conv     *conversation
	isServer bool
}

type agent struct {
	index  int
	hostID string
	ip     netip.Addr
	loc    topology.Location
	sides  []side
	seq    uint64
	// replayed holds the flows of the first intervals when the fleet
	// replays them; the publisher only reads them.
	replayed [][]*pb.Flow
}

type fleet struct {
	seed   uint64
	agents []*agent
	faults []Fault
	tick   uint64
	replay uint64 // >0: reuse the flows of the first replay intervals (load generation)
}

func newFleet(cfg Config) (*fleet, error) {
	f := &fleet{seed: cfg.Seed, faults: cfg.Faults, replay: uint64(cfg.Replay)}
	if err := f.place(cfg.Topology, cfg.Agents); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	services := serviceAddrs(cfg.Topology)
	var id uint64
	for _, a := range f.agents {
		heavy := rng.Float64() < 0.05 // a few heavy talkers carry most bytes
		for n := 0; n < cfg.FlowsPerAgent; n++ {
			id++
			c := f.newConversation(rng, cfg.Topology, a, services, heavy)
			c.id = id
			if c.client != nil {
				c.client.sides = append(c.client.sides, side{conv: c})
			}
			if c.server != nil {
				c.server.sides = append(c.server.sides, side{conv: c, isServer: true})
			}
		}
	}
	f.addInternetClients(cfg.Topology, cfg.InternetClients, cfg.Seed, &id)
	return f, nil
}

// place puts agents sim-0..sim-(n-1) round-robin into the subnets, each at
// its own address.
func (f *fleet) place(t *topology.Topology, n int) error {
	type slot struct {
		prefix netip.Prefix
		used   int
	}
	var slots []*slot
	for _, s := range t.Subnets {
		for _, p := range s.CIDRs {
			if p.Addr().Is4() {
				slots = append(slots, &slot{prefix: p})
				break
			}
		}
	}
	if len(slots) == 0 {
		return fmt.Errorf("no IPv4 subnet in the topology to place agents in")
	}
	for i := 0; i < n; i++ {
		s := slots[i%len(slots)]
		ip, ok := nthAddr(s.prefix, 10+s.used)
		if !ok {
			return fmt.Errorf("subnet %s is too small for %d agents", s.prefix, n)
		}
		s.used++
		f.agents = append(f.agents, &agent{index: i, hostID: fmt.Sprintf("sim-%d", i), ip: ip, loc: t.Lookup(ip)})
	}
	return nil
}

// nthAddr is the n-th address of an IPv4 prefix.
func nthAddr(p netip.Prefix, n int) (netip.Addr, bool) {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	ip := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return ip, p.Contains(ip)
}

func serviceAddrs(t *topology.Topology) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range t.Services {
		for _, p := range s.CIDRs {
			if p.Addr().Is4() {
				out = append(out, p)
			}
		}
	}
	return out
}

var peerPorts = []uint16{443, 5432, 6379, 8080, 9092}

// newConversation draws one conversation for agent a: mostly peers in the
// same zone, then other zones and regions, services and the internet.
func (f *fleet) newConversation(rng *rand.Rand, t *topology.Topology, a *agent, services []netip.Prefix, heavy bool) *conversation {
	c := &conversation{client: a, clientIP: a.ip, clientLoc: a.loc}
	roll := rng.Float64()
	switch {
	case roll < 0.65 || (roll < 0.80 && len(services) == 0):
		peer := f.pickPeer(rng, a, roll)
		c.server, c.serverIP, c.serverLoc = peer, peer.ip, peer.loc
		c.port = peerPorts[rng.IntN(len(peerPorts))]
	case roll < 0.80:
		p := services[rng.IntN(len(services))]
		c.serverIP, _ = nthAddr(p, 1+rng.IntN(200))
		c.port = 443
	case roll < 0.95:
		p := internetPrefixes[rng.IntN(len(internetPrefixes))]
		c.serverIP, _ = nthAddr(p, 1+rng.IntN(250))
		c.port = []uint16{443, 80}[rng.IntN(2)]
	default: // an internet client of a public service on this host
		p := internetPrefixes[rng.IntN(len(internetPrefixes))]
		c.client, c.server = nil, a
		c.clientIP, _ = nthAddr(p, 1+rng.IntN(250))
		c.clientLoc, c.serverIP, c.serverLoc = t.Lookup(c.clientIP), a.ip, a.loc
		c.port = 443
	}
	if c.server == nil {
		c.serverLoc = t.Lookup(c.serverIP)
	}
	// Pareto-distributed volume: many small flows, a few heavy ones.
	c.bytesPerSec = math.Min(2000/math.Pow(1-rng.Float64(), 1/1.16), 50e6)
	if heavy {
		c.bytesPerSec *= 20
	}
	c.upShare = 0.05 + 0.4*rng.Float64()
	if rng.Float64() < 0.3 { // request/response traffic on short connections
		c.connsPerSec = 0.5 + 20*rng.Float64()
	} else {
		c.connsPerSec = 0.01
	}
	// RTT depends on where the two ends are; classify from the agent's side.
	if c.client == nil {
		c.rttUS = baseRTT(rng, topology.Classify(c.serverLoc, c.clientLoc))
	} else {
		c.rttUS = baseRTT(rng, topology.Classify(c.clientLoc, c.serverLoc))
	}
	return c
}

// pickPeer prefers the same zone, then another zone of the region, then
// another region, falling back to any other agent.
func (f *fleet) pickPeer(rng *rand.Rand, a *agent, roll float64) *agent {
	want := func(p *agent) bool { return p.loc.Zone == a.loc.Zone }
	switch {
	case roll >= 0.35 && roll < 0.55:
		want = func(p *agent) bool { return p.loc.Region == a.loc.Region && p.loc.Zone != a.loc.Zone }
	case roll >= 0.55:
		want = func(p *agent) bool { return p.loc.Region != a.loc.Region }
	}
	for try := 0; try < 50; try++ {
		p := f.agents[rng.IntN(len(f.agents))]
		if p != a && want(p) {
			return p
		}
	}
	for {
		p := f.agents[rng.IntN(len(f.agents))]
		if p != a || len(f.agents) == 1 {
			return p
		}
	}
}

func baseRTT(rng *rand.Rand, c topology.Category) float64 {
	switch c {
	case topology.CategoryIntraZone:
		return 150 + 150*rng.Float64()
	case topology.CategoryInterZone:
		return 900 + 600*rng.Float64()
	case topology.CategoryInterRegion, topology.CategoryInterNetwork:
		return 60_000 + 30_000*rng.Float64()
	case topology.CategoryService:
		return 1000 + 1000*rng.Float64()
	case topology.CategoryInternet:
		return 15_000 + 120_000*rng.Float64()
	}
	return 500
}

// realization is what happened on a conversation in one interval. Both ends
// compute it from the same seed, so their reports agree.
type realization struct {
	active                 bool
	up, down               uint64 // bytes client->server, server->client
	segsUp, segsDown       uint64
	retransUp, retransDown uint64
	rtoUp, rtoDown         uint64
	opened, closed         uint64
	refused, timedOut      uint64
	rttUS                  float64
	extraRTTUS             float64
}

const mss = 1448

func (f *fleet) realize(c *conversation, dt, elapsed time.Duration) realization {
	rng := rand.New(rand.NewPCG(f.seed^c.id*0x9e3779b97f4a7c15, f.tick))
	var r realization
	secs := dt.Seconds()
	r.opened = poisson(rng, c.connsPerSec*secs)
	r.active = rng.Float64() < 0.85 || r.opened > 0
	if !r.active {
		return r
	}
	total := c.bytesPerSec * secs * math.Exp(rng.NormFloat64()*0.5-0.125)
	r.up = uint64(total * c.upShare)
	r.down = uint64(total) - r.up
	r.segsUp = (r.up + mss - 1) / mss
	r.segsDown = (r.down + mss - 1) / mss
	lossUp, lossDown := 0.0002, 0.0002
	r.rttUS = c.rttUS
	for _, ft := range f.faults {
		if !ft.active(elapsed) {
			continue
		}
		up, down := ft.affects(c)
		if up {
			lossUp += ft.Loss
		}
		if down {
			lossDown += ft.Loss
		}
		if up || down {
			r.extraRTTUS += float64(ft.ExtraRTT.Microseconds())
		}
	}
	r.retransUp = poisson(rng, float64(r.segsUp)*lossUp)
	r.retransDown = poisson(rng, float64(r.segsDown)*lossDown)
	r.rtoUp = poisson(rng, float64(r.retransUp)*0.05)
	r.rtoDown = poisson(rng, float64(r.retransDown)*0.05)
	r.refused = poisson(rng, float64(r.opened)*0.001)
	r.timedOut = poisson(rng, float64(r.opened)*(lossUp+lossDown)*0.05)
	r.closed = r.opened - min(r.opened, r.refused+r.timedOut)
	return r
}

// affects says in which directions of a conversation a fault loses packets:
// up is client to server.
func (ft Fault) affects(c *conversation) (up, down bool) {
	if ft.internetTargets() > 0 {
		hit := ft.affectsInternet(c)
		return hit, hit
	}
	if ft.Host != "" {
		hit := (c.client != nil && c.client.hostID == ft.Host) || (c.server != nil && c.server.hostID == ft.Host)
		return hit, hit
	}
	fwd := within(c.clientLoc, ft.From) && within(c.serverLoc, ft.To)
	rev := within(c.serverLoc, ft.From) && within(c.clientLoc, ft.To)
	if ft.Bidirectional {
		return fwd || rev, fwd || rev
	}
	return fwd, rev
}

// record is one side's flow record for a realization.
func (s side) record(r *realization, rng *rand.Rand) flow.Record {
	c := s.conv
	rec := flow.Record{Key: flow.Key{LocalIP: c.clientIP, RemoteIP: c.serverIP, Port: c.port,
		Direction: flow.DirectionClient, Protocol: flow.ProtocolTCP}}
	k := &rec.Counters
	k.BytesSent, k.BytesReceived = r.up, r.down
	k.SegmentsSent, k.SegmentsReceived = r.segsUp, r.segsDown
	k.Retransmissions, k.Timeouts = r.retransUp, r.rtoUp
	k.ConnectionsOpened, k.ConnectionsClosed = r.opened, r.closed
	k.FailedRefused, k.FailedTimeout = r.refused, r.timedOut
	if s.isServer {
		rec.Key = flow.Key{LocalIP: c.serverIP, RemoteIP: c.clientIP, Port: c.port,
			Direction: flow.DirectionServer, Protocol: flow.ProtocolTCP}
		k.BytesSent, k.BytesReceived = r.down, r.up
		k.SegmentsSent, k.SegmentsReceived = r.segsDown, r.segsUp
		k.Retransmissions, k.Timeouts = r.retransDown, r.rtoDown
		k.ConnectionsOpened = r.opened - min(r.opened, r.refused+r.timedOut)
		k.FailedRefused, k.FailedTimeout = 0, 0
	}
	samples := min(8, k.SegmentsSent+k.SegmentsReceived)
	for i := uint64(0); i < samples; i++ {
		k.RTT.Observe(uint64(r.rttUS*(1+math.Abs(rng.NormFloat64())*0.15) + r.extraRTTUS))
	}
	for i := uint64(0); i < min(4, k.ConnectionsOpened); i++ {
		k.HandshakeLatency.Observe(uint64(r.rttUS*(1.05+rng.Float64()*0.2) + r.extraRTTUS))
	}
	return rec
}

// report builds this agent's report for [from, to).
func (a *agent) report(f *fleet, from, to time.Time, elapsed time.Duration) *pb.Report {
	dt := to.Sub(from)
	rng := rand.New(rand.NewPCG(f.seed+uint64(a.index), f.tick))
	r := &pb.Report{
		AgentId: a.hostID,
		Host: &pb.Host{HostId: a.hostID, Hostname: a.hostID + ".sim", Addresses: [][]byte{a.ip.AsSlice()},
			AgentVersion: "sim", CollectorMode: "sim"},
		IntervalStartUnixMs: from.UnixMilli(),
		IntervalEndUnixMs:   to.UnixMilli(),
	}
	if f.replay > 0 && f.tick > f.replay {
		r.Flows = a.replayed[(f.tick-1)%f.replay]
		return r
	}
	r.Flows = make([]*pb.Flow, 0, len(a.sides))
	defer func() {
		if f.replay > 0 {
			a.replayed = append(a.replayed, r.Flows)
		}
	}()
	for _, s := range a.sides {
		real := f.realize(s.conv, dt, elapsed)
		if !real.active {
			continue
		}
		rec := s.record(&real, rng)
		r.Flows = append(r.Flows, wire.FromRecord(&rec))
	}
	return r
}

// poisson draws from a Poisson distribution (normal approximation for
// large means).
func poisson(rng *rand.Rand, lambda float64) uint64 {
	switch {
	case lambda <= 0:
		return 0
	case lambda > 50:
		return uint64(math.Max(0, math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), uint64(0), 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
