package sockdiag

import (
	"context"
	"net/netip"

	"github.com/flowlens/flowlens/agent/aggregate"
	"github.com/flowlens/flowlens/agent/collect"
	"github.com/flowlens/flowlens/flow"
)

// tracker turns dumps and destroy messages into collector events. It
// remembers each socket it has seen so that it can tell a new connection
// (Opened) from a known one, extend the kernel's 32- and 16-bit counters to
// 64 bits, and notice sockets whose destroy message was lost. It runs on
// the collector's one goroutine.
type tracker struct {
	c         *Collector
	out       chan<- collect.Event
	listeners map[netip.AddrPort]bool
	socks     map[uint64]*sockState
	dead      map[uint64]uint64 // cookie -> poll generation its tombstone expires
	gen       uint64
	lossCount uint64 // ENOBUFS count at the last sweep
	lossGen   uint64 // poll generation of the last ENOBUFS seen
	// sums holds the ends of sockets no dump saw, per flow, until the
	// end of the destroy batch (flushSums): a short connection costs no
	// per-socket state and no event of its own.
	sums map[flow.Key]*summed
}

// summed is one flow's sum of unseen sockets' ends, with endpoints that
// key it (the ephemeral port zeroed).
type summed struct {
	local, remote netip.AddrPort
	passive       bool
	c             flow.Counters
}

// sockState is what the tracker knows of one socket.
type sockState struct {
	local, remote netip.AddrPort
	passive       bool
	opened        bool // established (Opened emitted, or it was at seed)
	seen          uint64
	raw           TCPInfo          // the last tcp_info, for unwrapping
	counters      collect.Counters // the last counters, extended to 64 bits
}

func newTracker(c *Collector, out chan<- collect.Event) *tracker {
	return &tracker{c: c, out: out, socks: make(map[uint64]*sockState), dead: make(map[uint64]uint64),
		sums: make(map[flow.Key]*summed)}
}

// connecting says a state precedes the end of the handshake.
func connecting(state uint8) bool {
	return state == StateSynSent || state == StateSynRecv
}

// isPassive says a socket was accepted by a listener: its local port is a
// listening port on its address or on the wildcard address.
func (t *tracker) isPassive(local netip.AddrPort) bool {
	a, p := local.Addr().Unmap(), local.Port()
	return t.listeners[netip.AddrPortFrom(a, p)] ||
		t.listeners[netip.AddrPortFrom(netip.IPv4Unspecified(), p)] ||
		t.listeners[netip.AddrPortFrom(netip.IPv6Unspecified(), p)]
}

// emit sends an event, giving up when ctx is done.
func (t *tracker) emit(ctx context.Context, ev collect.Event) error {
	select {
	case t.out <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// event builds an event for a known socket.
func (st *sockState) event(kind collect.Kind, cookie uint64) collect.Event {
	return collect.Event{Kind: kind, Cookie: cookie, Local: st.local, Remote: st.remote,
		Passive: st.passive, Counters: st.counters}
}

// update extends info's counters over the socket's previous ones. The
// kernel's segment and retransmission counters are 32 bits (and the RTO
// count 16), which a busy long-lived socket wraps within hours; adding the
// wrapped difference keeps them monotonic.
func (st *sockState) update(info *TCPInfo) {
	c := &st.counters
	if info.HasBytes {
		c.BytesAcked, c.BytesReceived = info.BytesAcked, info.BytesRecv
	}
	c.SegsOut += uint64(info.SegsOut - st.raw.SegsOut)
	c.SegsIn += uint64(info.SegsIn - st.raw.SegsIn)
	c.TotalRetrans += uint64(info.TotalRetrans - st.raw.TotalRetrans)
	c.TotalRTO += uint64(info.TotalRTO - st.raw.TotalRTO)
	c.SRTTUS = info.RTTUS
	st.raw = *info
}

// grew says info shows activity since the previous observation.
func (st *sockState) grew(info *TCPInfo) bool {
	return info.SegsOut != st.raw.SegsOut || info.SegsIn != st.raw.SegsIn ||
		info.BytesAcked != st.raw.BytesAcked || info.BytesRecv != st.raw.BytesRecv
}

// polled handles one socket of a dump.
func (t *tracker) polled(ctx context.Context, s *Socket, seed bool) error {
	if !s.HasInfo || !s.Remote.IsValid() || s.Remote.Port() == 0 {
		return nil // unconnected socket
	}
	st, known := t.socks[s.Cookie]
	if !known {
		// A tracked socket is never dead: only a new one is looked up there.
		if _, ok := t.dead[s.Cookie]; ok {
			return nil // dumped before its destroy was handled
		}
		st = &sockState{local: s.Local, remote: s.Remote, passive: t.isPassive(s.Local)}
		t.socks[s.Cookie] = st
	}
	st.seen = t.gen
	active := known && st.grew(&s.Info)
	st.update(&s.Info)
	switch {
	case seed:
		// Existed before the agent: only its growth from now on counts.
		st.opened = !connecting(s.State) && s.State != StateClose
		ev := st.event(collect.Snapshot, s.Cookie)
		ev.Baseline = true
		return t.emit(ctx, ev)
	case connecting(s.State) || (!st.opened && s.State == StateClose):
		return nil // not established yet (or failed and not yet released)
	case !st.opened:
		st.opened = true
		if err := t.emit(ctx, st.event(collect.Opened, s.Cookie)); err != nil {
			return err
		}
		return t.rtt(ctx, st, s.Cookie)
	}
	if err := t.emit(ctx, st.event(collect.Snapshot, s.Cookie)); err != nil {
		return err
	}
	if active {
		return t.rtt(ctx, st, s.Cookie)
	}
	return nil
}

// rtt emits the socket's smoothed RTT as one sample. Samples are taken
// only when the socket moved data since the last look: an idle socket's
// srtt is stale, and sampling it every poll would make idle flows look
// active and weigh them like busy ones.
func (t *tracker) rtt(ctx context.Context, st *sockState, cookie uint64) error {
	if st.counters.SRTTUS == 0 {
		return nil
	}
	ev := st.event(collect.RTTSample, cookie)
	ev.AddRTT(st.counters.SRTTUS)
	return t.emit(ctx, ev)
}

// destroyed handles a destroy message: the socket's final tcp_info.
func (t *tracker) destroyed(ctx context.Context, s *Socket) error {
	if _, ok := t.dead[s.Cookie]; ok || !s.HasInfo {
		return nil
	}
	st, known := t.socks[s.Cookie]
	if !known {
		// No dump saw it (it lived between two polls): no event has
		// reported it, so it needs no tombstone either.
		t.sum(s)
		return nil
	}
	grew := st.grew(&s.Info)
	st.update(&s.Info)
	t.forget(s.Cookie, tombstonePolls)
	if st.opened {
		return t.closed(ctx, st, s.Cookie, grew)
	}
	if handshakeDone(&s.Info) {
		// Lived and died between two polls.
		if err := t.emit(ctx, st.event(collect.Opened, s.Cookie)); err != nil {
			return err
		}
		return t.closed(ctx, st, s.Cookie, true)
	}
	if st.passive {
		return nil // a passive socket exists only once established
	}
	ev := st.event(collect.Failed, s.Cookie)
	ev.Reason = failReason(&s.Info)
	return t.emit(ctx, ev)
}

// sum adds the end of a socket no dump saw to its flow's sums: what the
// per-socket path would have emitted (opened and closed with its last
// srtt as RTT sample, or a failed connect), without the events.
func (t *tracker) sum(s *Socket) {
	st := sockState{local: s.Local, remote: s.Remote, passive: t.isPassive(s.Local)}
	done := handshakeDone(&s.Info)
	if !done && st.passive {
		return // a passive socket exists only once established
	}
	st.update(&s.Info)
	ev := st.event(collect.Closed, s.Cookie)
	k := aggregate.KeyOf(&ev)
	f, ok := t.sums[k]
	if !ok {
		f = &summed{local: s.Local, remote: s.Remote, passive: st.passive}
		if st.passive {
			f.remote = netip.AddrPortFrom(s.Remote.Addr(), 0)
		} else {
			f.local = netip.AddrPortFrom(s.Local.Addr(), 0)
		}
		t.sums[k] = f
	}
	c := &st.counters
	f.c.BytesSent += c.BytesAcked
	f.c.BytesReceived += c.BytesReceived
	f.c.SegmentsSent += c.SegsOut
	f.c.SegmentsReceived += c.SegsIn
	f.c.Retransmissions += c.TotalRetrans
	f.c.Timeouts += c.TotalRTO
	t.c.summed.Add(1)
	if !done {
		switch failReason(&s.Info) {
		case collect.FailRefused:
			f.c.FailedRefused++
		default:
			f.c.FailedTimeout++
		}
		return
	}
	f.c.ConnectionsOpened++
	f.c.ConnectionsClosed++
	if c.SRTTUS > 0 {
		f.c.RTT.Observe(uint64(c.SRTTUS))
	}
}

// flushSums sends the flows' sums as Aggregated events and starts anew.
// Like final events, they are sent even after ctx is done.
func (t *tracker) flushSums() {
	for k, f := range t.sums {
		c := f.c
		t.out <- collect.Event{Kind: collect.Aggregated, Local: f.local, Remote: f.remote, Passive: f.passive, Flow: &c}
		delete(t.sums, k)
	}
}

// closed emits an established socket's end (and its last RTT sample if it
// moved data since it was last seen).
func (t *tracker) closed(ctx context.Context, st *sockState, cookie uint64, grew bool) error {
	if grew {
		if err := t.rtt(ctx, st, cookie); err != nil {
			return err
		}
	}
	return t.emit(ctx, st.event(collect.Closed, cookie))
}

// handshakeDone says a destroyed socket had been established. tcp_info
// has no "was established" flag, but tcpi_delivered counts the SYN once it
// is acknowledged (kernel >= 4.18); older kernels fall back on data having
// moved, which misses established connections that never sent a byte.
func handshakeDone(info *TCPInfo) bool {
	if info.HasDelivered {
		return info.Delivered > 0
	}
	return info.BytesAcked > 0 || info.BytesRecv > 0
}

// failReason classifies a connect that never completed. A SYN answered by
// a RST (no listener, or a firewall's reject) means the socket received a
// segment; a SYN never answered (dropped, or no route) means it received
// none, however many times it was retransmitted (tcpi_total_retrans counts
// those SYN retransmissions). Connects abandoned by the application before
// the kernel gave up are counted as timeouts too: nothing answered them.
func failReason(info *TCPInfo) collect.FailReason {
	if info.HasSegs && info.SegsIn > 0 {
		return collect.FailRefused
	}
	return collect.FailTimeout
}

// forget drops a socket and leaves a tombstone for late messages, kept
// until poll generation gen+keep.
func (t *tracker) forget(cookie uint64, keep uint64) {
	delete(t.socks, cookie)
	t.dead[cookie] = t.gen + keep
}

// sweep handles sockets missing from the last dumps. A socket leaves the
// dumps when it is destroyed, and also when it is reset or refused while
// its owner still holds the fd (it is unhashed in CLOSE until the fd is
// closed, and only then destroyed). So a missing socket is only given up
// for lost (closed with its last counters) when destroy messages were
// actually lost (ENOBUFS) since it was last seen, or after it has been
// missing for maxMissingPolls: that bounds the memory kernel-owned sockets
// would otherwise hold, since their end is never broadcast. Old tombstones
// expire here too.
func (t *tracker) sweep(ctx context.Context) error {
	if n := t.c.enobufs.Load(); n != t.lossCount {
		t.lossCount, t.lossGen = n, t.gen
	}
	for cookie, st := range t.socks {
		missing := t.gen - st.seen
		lost := missing >= missingPolls && t.lossGen >= st.seen
		if !lost && missing < maxMissingPolls {
			continue
		}
		keep := uint64(tombstonePolls)
		if !lost {
			keep = maxMissingPolls * 144 // its destroy may still come, much later
		}
		t.forget(cookie, keep)
		t.c.lost.Add(1)
		if !st.opened {
			continue // a connect we never saw succeed or fail
		}
		if err := t.emit(ctx, st.event(collect.Closed, cookie)); err != nil {
			return err
		}
	}
	for cookie, until := range t.dead {
		if t.gen > until {
			delete(t.dead, cookie)
		}
	}
	return nil
}
