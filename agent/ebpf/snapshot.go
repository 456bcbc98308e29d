package ebpf

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/flowlens/flowlens/agent/collect"
	"github.com/flowlens/flowlens/agent/sockdiag"
)

// Values of sock_state.phase and the stats array indexes (bpf/sockops.c).
const (
	phaseConnecting  = 1
	phaseEstablished = 2
	phasePreexisting = 3

	statMapFull    = 0
	statSampled    = 1
	statLost       = 2
	statAggregated = 4
	statFlowFull   = 5
	statMax        = 6

	batchSize     = 4096
	flowBatchSize = 256
)

// snapshotter remembers what the last snapshots sent, so that a socket
// whose counters did not move costs no event, and which sockets' openings
// a snapshot reported (their final events must not count them again).
type snapshotter struct {
	gen      uint64
	versions map[uint64]seenVersion
	keys     []uint64
	vals     []sockopsSockState
	// kernelGen is the program's snap_gen: bumped before each read of
	// the socket map (see snapshot).
	kernelGen uint64
	// iterRan and sampledAtIter: whether the tcp iterator ran, and the
	// programs' sampled-sockets count then (see iterNeeded).
	iterRan       bool
	sampledAtIter uint64
	// spare is the flow map not in flow_maps[0] (drained, empty).
	spare    *ebpf.Map
	flowKeys []sockopsFlowKey
	flowVals []sockopsFlowAgg
}

type seenVersion struct {
	version, gen uint64
	opened       bool
}

func newSnapshotter() snapshotter {
	return snapshotter{
		versions:  map[uint64]seenVersion{},
		keys:      make([]uint64, batchSize),
		vals:      make([]sockopsSockState, batchSize),
		kernelGen: 1, // snap_gen's initial value
	}
}

// refresh runs the tcp iterator (fresh counters of the sockets of this
// namespace), then reads the socket map into events and the programs'
// stats.
func (c *Collector) refresh(iter *link.Iter, events chan<- collect.Event) error {
	if iter != nil && c.iterNeeded() {
		c.iterRuns.Add(1)
		if err := runIter(iter); err != nil {
			c.log.Warn("ebpf: tcp iterator failed", "err", err)
		}
	}
	if err := c.snapshot(events); err != nil {
		return err
	}
	if err := c.drainFlows(events); err != nil {
		return err
	}
	if err := c.readStats(); err != nil {
		c.log.Warn("ebpf: read stats", "err", err)
	}
	return nil
}

// iterNeeded says whether the tcp iterator has work: sockets to adopt (at
// the first snapshot those older than the agent, later those left out
// while the socket map was full), or sockets an earlier snapshot saw that
// are still open, whose counters it refreshes. A socket opened since the
// last snapshot has the counters of its own callbacks until the next one.
// Under short connections alone neither holds, and the iterator's walk
// over every TCP socket of the namespace (the ~60,000 TIME_WAIT ones of
// 1,000 connections/s included) was most of the agent's CPU.
func (c *Collector) iterNeeded() bool {
	s := &c.snap
	sampled, err := c.statTotal(statSampled)
	if err != nil {
		return true
	}
	need := !s.iterRan || sampled != s.sampledAtIter || len(s.versions) > 0
	if need {
		s.iterRan, s.sampledAtIter = true, sampled
	}
	return need
}

// statTotal sums one of the programs' per-CPU counters.
func (c *Collector) statTotal(i uint32) (uint64, error) {
	var per []uint64
	if err := c.objs.core.Stats.Lookup(i, &per); err != nil {
		return 0, fmt.Errorf("stats[%d]: %w", i, err)
	}
	var total uint64
	for _, v := range per {
		total += v
	}
	return total, nil
}

// runIter runs the tcp iterator once: reading it to the end runs the
// program over every TCP socket of the network namespace.
func runIter(iter *link.Iter) error {
	r, err := iter.Open()
	if err != nil {
		return fmt.Errorf("open tcp iterator: %w", err)
	}
	defer r.Close()
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("run tcp iterator: %w", err)
	}
	return nil
}

// snapshot emits a Snapshot for every tracked socket whose counters moved,
// and the events the ring buffer could not take (left in the map).
func (c *Collector) snapshot(events chan<- collect.Event) error {
	s := &c.snap
	s.gen++
	// Sockets entered (or established) from now on are new to user space
	// if they close before the next snapshot: the program sums their ends
	// itself. The batch read below takes the map's bucket locks, which
	// order this store before it.
	s.kernelGen++
	if err := c.objs.core.SnapGen.Set(s.kernelGen); err != nil {
		return fmt.Errorf("set snap_gen: %w", err)
	}
	n := 0
	err := c.eachSocket(func(cookie uint64, st *sockopsSockState) error {
		n++
		if st.Pending == 0 && st.Gen == s.kernelGen {
			// Entered after the bump above: if it closes before the
			// next snapshot, the program sums it; this snapshot must
			// not report it.
			return nil
		}
		if ev, ok := c.socketEvent(cookie, st); ok {
			events <- ev // the consumer reads until Run returns
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.tracked.Store(uint64(n))
	// An entry is forgotten one snapshot after its socket left the map:
	// a socket that closed while the map was read has its final event
	// read before the next snapshot, and that event needs the entry.
	for cookie, v := range s.versions {
		if s.gen-v.gen > 1 {
			delete(s.versions, cookie)
		}
	}
	return nil
}

// socketEvent says what one map entry has to tell, if anything: an
// established socket's opening the first time a snapshot sees it (a short
// connection reports it with its final event instead), then its counters
// whenever they moved.
func (c *Collector) socketEvent(cookie uint64, st *sockopsSockState) (collect.Event, bool) {
	if st.Pending != 0 {
		return c.pendingEvent(cookie, st), true
	}
	if st.Phase == phaseConnecting {
		return collect.Event{}, false
	}
	s := &c.snap
	prev, known := s.versions[cookie]
	cur := seenVersion{version: st.Version, gen: s.gen, opened: prev.opened}
	if st.Phase == phaseEstablished && !prev.opened {
		cur.opened = true
		s.versions[cookie] = cur
		ev := c.event(collect.Opened, cookie, &st.Ep, &st.C)
		ev.HandshakeUS = st.HandshakeUs
		return ev, true
	}
	s.versions[cookie] = cur
	if known && prev.version == st.Version {
		return collect.Event{}, false
	}
	ev := c.event(collect.Snapshot, cookie, &st.Ep, &st.C)
	if st.Phase == phasePreexisting {
		// Adopted by the iterator: older than the agent (its baseline
		// came from the seed dump) or once left out when the map was full.
		ev.Baseline = !known
		ev.Passive = c.passiveHint(cookie, ev.Local.Port())
	}
	return ev, true
}

// pendingEvent emits a final event the ring buffer could not take, with
// the RTT samples left in the entry, and deletes the socket from the map.
func (c *Collector) pendingEvent(cookie uint64, st *sockopsSockState) collect.Event {
	ev := c.event(collect.Kind(st.Pending), cookie, &st.Ep, &st.C)
	if passive, ok := c.seeded[cookie]; ok {
		ev.Passive = passive
	}
	ev.HandshakeUS = st.HandshakeUs
	ev.Reason = collect.FailReason(st.Reason)
	ev.RTT, ev.NumRTT = st.Rtt, min(st.RttN, collect.MaxRTT)
	c.finalEvent(&ev, st.Phase == phaseEstablished)
	if err := c.objs.core.Socks.Delete(cookie); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		c.log.Debug("ebpf: delete closed socket", "err", err)
	}
	return ev
}

// passiveHint says whether a socket the programs did not see start was
// accepted: known from the seed dump, else guessed from its local port
// being one that listened at start.
func (c *Collector) passiveHint(cookie uint64, localPort uint16) bool {
	if p, ok := c.seeded[cookie]; ok {
		return p
	}
	return c.listeners[localPort]
}

// eachSocket calls fn for every entry of the socket map, read in batches
// (one system call per batchSize sockets) where the kernel allows it.
func (c *Collector) eachSocket(fn func(uint64, *sockopsSockState) error) error {
	s := &c.snap
	m := c.objs.core.Socks
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, s.keys, s.vals, nil)
		for i := 0; i < n; i++ {
			if ferr := fn(s.keys[i], &s.vals[i]); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			return c.iterateSockets(fn)
		}
		if err != nil {
			return fmt.Errorf("read socket map: %w", err)
		}
	}
}

// iterateSockets is eachSocket for kernels without batch lookups.
func (c *Collector) iterateSockets(fn func(uint64, *sockopsSockState) error) error {
	var (
		cookie uint64
		st     sockopsSockState
	)
	it := c.objs.core.Socks.Iterate()
	for it.Next(&cookie, &st) {
		if err := fn(cookie, &st); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate socket map: %w", err)
	}
	return nil
}

// readStats sums the programs' per-CPU counters into the collector's Stats.
func (c *Collector) readStats() error {
	var totals [statMax]uint64
	for i := range totals {
		v, err := c.statTotal(uint32(i))
		if err != nil {
			return err
		}
		totals[i] = v
	}
	c.aggregated.Store(totals[statAggregated])
	c.flowFull.Store(totals[statFlowFull])
	c.mapFull.Store(totals[statMapFull])
	c.sampled.Store(totals[statSampled])
	c.lost.Store(totals[statLost])
	var budgets []sockopsRttBudgetState
	if err := c.objs.core.RTTBudgets.Lookup(uint32(0), &budgets); err != nil {
		return fmt.Errorf("rtt_budgets: %w", err)
	}
	var skipped uint64
	for _, b := range budgets {
		skipped += b.Skipped
	}
	c.rttSkipped.Store(skipped)
	return nil
}

// seed emits a Baseline snapshot for every connection of the cgroup that
// existed before the program was attached, so that what it did before the
// agent started does not count as new. A failed dump is not fatal: the
// sockets are then adopted by the iterator with their counters as baseline.
func (c *Collector) seed(ctx context.Context, events chan<- collect.Event) error {
	// The seed dump runs once, at start: the sock_diag collector's own
	// reader, in the agent's network namespace.
	socks, err := sockdiag.DumpAll()
	if err != nil {
		c.log.Warn("ebpf: sock_diag seed dump failed", "err", err)
		return nil
	}
	var scope map[uint64]bool
	if !c.cg.isRoot {
		if scope, err = descendantIDs(c.cg.path); err != nil {
			c.log.Warn("ebpf: seed scope", "err", err)
		}
	}
	for _, s := range socks {
		if s.State == sockdiag.StateListen {
			c.listeners[s.Local.Port()] = true
		}
	}
	n := 0
	for i := range socks {
		ev, ok := c.seedEvent(&socks[i], scope)
		if !ok {
			continue
		}
		select {
		case events <- ev:
			n++
		case <-ctx.Done():
			return nil
		}
	}
	c.log.Info("ebpf: seeded existing sockets", "baselines", n, "dumped", len(socks))
	return nil
}

// seedEvent returns the Baseline snapshot of a dumped socket, unless it is
// not a connection, outside the cgroup, or already tracked by the program
// (it started after the attach: everything it did counts).
func (c *Collector) seedEvent(s *sockdiag.Socket, scope map[uint64]bool) (collect.Event, bool) {
	if !baselineState(s.State) || !s.HasInfo || s.Remote.Port() == 0 {
		return collect.Event{}, false
	}
	if scope != nil && (!s.HasCgroup || !scope[s.CgroupID]) {
		return collect.Event{}, false
	}
	var st sockopsSockState
	if err := c.objs.core.Socks.Lookup(s.Cookie, &st); err == nil {
		return collect.Event{}, false
	}
	passive := c.listeners[s.Local.Port()]
	c.seeded[s.Cookie] = passive
	return collect.Event{
		Kind: collect.Snapshot, Cookie: s.Cookie, Local: s.Local, Remote: s.Remote,
		Passive: passive, Baseline: true, Counters: s.Info.Counters(),
	}, true
}
