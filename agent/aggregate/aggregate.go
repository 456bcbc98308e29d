// Package aggregate turns the collectors' per-socket events into per-flow
// interval deltas: the records one agent report carries.
//
// Collectors report cumulative socket counters (tcp_info, or the sock_ops
// context). The aggregator keeps the last cumulative value per socket
// (keyed by socket cookie) and adds only the growth since then to the
// socket's flow, so that a socket polled many times, or polled and then
// closed, is counted exactly once. It is not safe for concurrent use: the
// agent feeds it from one goroutine.
package aggregate

import (
	"net/netip"

	"github.com/flowlens/flowlens/agent/collect"
	"github.com/flowlens/flowlens/flow"
)

// DefaultReportCap is how many flows one interval reports before the
// smallest ones are merged per remote prefix.
const DefaultReportCap = 10_000

// tombstoneGenerations is how many Flush calls a closed socket's cookie is
// remembered for. A sock_diag dump read before a socket closed can be
// delivered after its final counters; the tombstone makes the aggregator
// ignore such a late snapshot instead of counting the socket again from
// zero. Cookies are never reused while the kernel runs, so remembering
// them is safe; two generations cover any event that was in flight when
// the interval ended.
const tombstoneGenerations = 2

// Config configures an Aggregator. Zero fields take the defaults.
type Config struct {
	// ReportCap bounds the records Flush returns; beyond it the smallest
	// flows merge into one row per remote /24 (IPv4) or /48 (IPv6).
	ReportCap int
}

// Stats are the aggregator's own counters.
type Stats struct {
	SocketsTracked uint64 // sockets with a live baseline
	FlowsTracked   uint64 // flows with activity in the current interval
	MergedFlows    uint64 // flows merged into overflow rows, since New
	Events         uint64 // events consumed, since New
	LateSnapshots  uint64 // snapshots ignored because the socket had closed
}

// Aggregator accumulates one interval of flow deltas; see the package doc.
type Aggregator struct {
	cap     int
	sockets map[uint64]*socket
	closed  map[uint64]int // cookie -> generation it closed in
	gen     int
	flows   map[flow.Key]*flow.Counters

	merged, events, late uint64
}

// socket is what the aggregator remembers of one live socket.
type socket struct {
	key  flow.Key
	last collect.Counters
}

// New returns an empty aggregator.
func New(cfg Config) *Aggregator {
	if cfg.ReportCap <= 0 {
		cfg.ReportCap = DefaultReportCap
	}
	return &Aggregator{
		cap:     cfg.ReportCap,
		sockets: make(map[uint64]*socket),
		closed:  make(map[uint64]int),
		flows:   make(map[flow.Key]*flow.Counters),
	}
}

// KeyOf returns the flow key of a socket: the ephemeral port is dropped,
// so a client socket is keyed by its remote (service) port and a server
// socket by its local port. IPv4-mapped IPv6 addresses are unmapped so
// that a dual-stack listener's IPv4 peers land on the IPv4 flow.
func KeyOf(ev *collect.Event) flow.Key {
	k := flow.Key{
		LocalIP:  ev.Local.Addr().Unmap(),
		RemoteIP: ev.Remote.Addr().Unmap(),
		Protocol: flow.ProtocolTCP,
	}
	if ev.Passive {
		k.Port, k.Direction = ev.Local.Port(), flow.DirectionServer
	} else {
		k.Port, k.Direction = ev.Remote.Port(), flow.DirectionClient
	}
	return k
}

// Add consumes one event.
func (a *Aggregator) Add(ev collect.Event) {
	a.events++
	switch ev.Kind {
	case collect.Snapshot:
		a.snapshot(&ev)
		a.rtt(&ev)
	case collect.Opened:
		s := a.track(&ev, false)
		a.opened(a.flow(s.key), &ev)
		a.grow(s, &ev.Counters)
		a.rtt(&ev)
	case collect.Closed, collect.Failed:
		a.final(&ev)
	case collect.RTTSample:
		a.rtt(&ev)
	case collect.Aggregated:
		if ev.Flow != nil {
			a.flow(KeyOf(&ev)).Add(ev.Flow)
		}
	}
}

// opened counts a connection opened, with its handshake latency.
func (a *Aggregator) opened(c *flow.Counters, ev *collect.Event) {
	c.ConnectionsOpened++
	if ev.HandshakeUS > 0 {
		c.HandshakeLatency.Observe(uint64(ev.HandshakeUS))
	}
}

// rtt adds the RTT samples an event carries to its socket's flow.
func (a *Aggregator) rtt(ev *collect.Event) {
	if ev.NumRTT == 0 {
		return
	}
	observeRTT(a.flow(a.keyOf(ev)), ev)
}

func observeRTT(c *flow.Counters, ev *collect.Event) {
	for _, us := range ev.RTT[:min(int(ev.NumRTT), collect.MaxRTT)] {
		if us > 0 {
			c.RTT.Observe(uint64(us))
		}
	}
}

// snapshot moves a socket's baseline forward, counting the growth unless
// the snapshot is the socket's baseline from before the agent started.
func (a *Aggregator) snapshot(ev *collect.Event) {
	if _, dead := a.closed[ev.Cookie]; dead {
		a.late++
		return
	}
	if s, ok := a.sockets[ev.Cookie]; ok {
		a.grow(s, &ev.Counters)
		return
	}
	a.track(ev, ev.Baseline)
}

// track returns the state of ev's socket, creating it if new. A new socket
// starts from a zero baseline (everything it did counts) unless baseline is
// set, in which case its current counters are the baseline.
func (a *Aggregator) track(ev *collect.Event, baseline bool) *socket {
	if s, ok := a.sockets[ev.Cookie]; ok {
		return s
	}
	s := &socket{key: KeyOf(ev)}
	a.sockets[ev.Cookie] = s
	if baseline {
		s.last = ev.Counters
	}
	return s
}

// final takes a socket's final counters, counts the close or failure, and
// forgets the socket (leaving a tombstone against late snapshots). A
// socket no snapshot saw (most short connections) is never entered in
// the socket map: at 1,000 connections/s the map churn was a tenth of the
// agent's CPU.
func (a *Aggregator) final(ev *collect.Event) {
	if _, dead := a.closed[ev.Cookie]; dead {
		a.late++
		return // a second close for one socket: count it once
	}
	s, known := a.sockets[ev.Cookie]
	if !known {
		s = &socket{key: KeyOf(ev)}
	}
	c := a.flow(s.key)
	a.growFlow(c, s, &ev.Counters)
	observeRTT(c, ev)
	if ev.Opened {
		a.opened(c, ev)
	}
	if ev.Kind == collect.Closed {
		c.ConnectionsClosed++
	} else {
		switch ev.Reason {
		case collect.FailRefused:
			c.FailedRefused++
		case collect.FailTimeout:
			c.FailedTimeout++
		default:
			c.FailedReset++
		}
	}
	if known {
		delete(a.sockets, ev.Cookie)
	}
	a.closed[ev.Cookie] = a.gen
}

// keyOf is the key of a known socket, else the key derived from ev.
func (a *Aggregator) keyOf(ev *collect.Event) flow.Key {
	if s, ok := a.sockets[ev.Cookie]; ok {
		return s.key
	}
	return KeyOf(ev)
}

// flow returns the interval counters of k, creating them.
func (a *Aggregator) flow(k flow.Key) *flow.Counters {
	c, ok := a.flows[k]
	if !ok {
		c = &flow.Counters{}
		a.flows[k] = c
	}
	return c
}

// grow adds the growth of cur over the socket's baseline to its flow and
// moves the baseline. Counters only grow; a value below the baseline is a
// stale observation (events reordered) and adds nothing, and the baseline
// keeps the larger value so the growth is not counted twice later.
func (a *Aggregator) grow(s *socket, cur *collect.Counters) {
	d := s.advance(cur)
	if d == [6]uint64{} {
		return // do not create an idle flow
	}
	addGrowth(a.flow(s.key), d)
}

// growFlow is grow into c, the socket's flow, already looked up.
func (a *Aggregator) growFlow(c *flow.Counters, s *socket, cur *collect.Counters) {
	addGrowth(c, s.advance(cur))
}

// advance moves the socket's baseline to cur and returns the growth.
func (s *socket) advance(cur *collect.Counters) [6]uint64 {
	return [...]uint64{
		delta(&s.last.BytesAcked, cur.BytesAcked),
		delta(&s.last.BytesReceived, cur.BytesReceived),
		delta(&s.last.SegsOut, cur.SegsOut),
		delta(&s.last.SegsIn, cur.SegsIn),
		delta(&s.last.TotalRetrans, cur.TotalRetrans),
		delta(&s.last.TotalRTO, cur.TotalRTO),
	}
}

func addGrowth(c *flow.Counters, d [6]uint64) {
	c.BytesSent += d[0]
	c.BytesReceived += d[1]
	c.SegmentsSent += d[2]
	c.SegmentsReceived += d[3]
	c.Retransmissions += d[4]
	c.Timeouts += d[5]
}

// delta returns cur - *last when positive and raises *last to cur.
func delta(last *uint64, cur uint64) uint64 {
	if cur <= *last {
		return 0
	}
	d := cur - *last
	*last = cur
	return d
}

// Flush returns the interval's records (idle flows left out, capped as
// Config.ReportCap says) and starts a new interval. Socket baselines carry
// over.
func (a *Aggregator) Flush() []flow.Record {
	recs := make([]flow.Record, 0, len(a.flows))
	for k, c := range a.flows {
		if isIdle(c) {
			continue
		}
		recs = append(recs, flow.Record{Key: k, Counters: *c})
	}
	clear(a.flows)
	a.gen++
	for cookie, g := range a.closed {
		if a.gen-g >= tombstoneGenerations {
			delete(a.closed, cookie)
		}
	}
	sortRecords(recs)
	out, merged := capRecords(recs, a.cap)
	a.merged += uint64(merged)
	return out
}

// isIdle says a flow has nothing to report.
func isIdle(c *flow.Counters) bool {
	return c.BytesSent == 0 && c.BytesReceived == 0 && c.SegmentsSent == 0 && c.SegmentsReceived == 0 &&
		c.Retransmissions == 0 && c.Timeouts == 0 && c.ConnectionsOpened == 0 && c.ConnectionsClosed == 0 &&
		c.ConnectionsFailed() == 0 && c.RTT.Count == 0 && c.HandshakeLatency.Count == 0
}

// Stats returns the aggregator's counters.
func (a *Aggregator) Stats() Stats {
	return Stats{
		SocketsTracked: uint64(len(a.sockets)),
		FlowsTracked:   uint64(len(a.flows)),
		MergedFlows:    a.merged,
		Events:         a.events,
		LateSnapshots:  a.late,
	}
}

// prefixOf masks a remote address to bits (clamped to the address size).
func prefixOf(ip netip.Addr, bits int) netip.Prefix {
	if bits > ip.BitLen() {
		bits = ip.BitLen()
	}
	p, _ := ip.Prefix(bits)
	return p
}
