package ebpf

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unsafe"

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

	flowBatchSize = 256
)

// snapshotter is the snapshot loop's state.
type snapshotter struct {
	// out is the snapshot iterator's output of one run (reused).
	out bytes.Buffer
	// iterRan and sampledAtIter: whether the tcp iterator ran, and the
	// programs' sampled-sockets count then (see iterNeeded).
	iterRan       bool
	sampledAtIter uint64
	// spare is the flow map not in flow_maps[0] (drained, empty).
	spare    *ebpf.Map
	flowKeys []sockopsFlowKey
	flowVals []sockopsFlowAgg
}

func newSnapshotter() snapshotter { return snapshotter{} }

// refresh runs the tcp iterator when it has sockets to adopt, then the
// snapshot iterator (fresh counters of the tracked sockets, as events),
// drains the pending final events and the flow map, and reads the
// programs' stats.
func (c *Collector) refresh(iter *link.Iter, events chan<- collect.Event) error {
	if iter != nil && c.iterNeeded() {
		c.iterRuns.Add(1)
		if err := runIter(iter, io.Discard); err != nil {
			c.log.Warn("ebpf: tcp iterator failed", "err", err)
		}
	}
	if err := c.snapshot(events); err != nil {
		return err
	}
	if err := c.drainPending(events); err != nil {
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

// iterNeeded says whether the tcp iterator has work: sockets to adopt, at
// the first snapshot those older than the agent, later those whose
// storage could not be allocated. Its walk over every TCP socket of the
// namespace (the ~60,000 TIME_WAIT ones of 1,000 connections/s included)
// would be most of the agent's CPU; the snapshot iterator walks the
// tracked sockets only.
func (c *Collector) iterNeeded() bool {
	s := &c.snap
	sampled, err := c.statTotal(statSampled)
	if err != nil {
		return true
	}
	need := !s.iterRan || sampled != s.sampledAtIter
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

// runIter runs an iterator once into w: reading it to the end runs its
// program over every element it walks.
func runIter(iter *link.Iter, w io.Writer) error {
	r, err := iter.Open()
	if err != nil {
		return fmt.Errorf("open iterator: %w", err)
	}
	defer r.Close()
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("run iterator: %w", err)
	}
	return nil
}

// snapRecSize is the size of one snapshot iterator record.
const snapRecSize = int(unsafe.Sizeof(sockopsSnapRec{}))

// snapshot runs the snapshot iterator and emits its records: the opening
// of an established socket the first time a record reports it (a short
// connection reports it with its final event instead), a snapshot of its
// counters whenever they moved. The kernel decides which sockets have
// something to say, so an idle socket costs user space nothing.
func (c *Collector) snapshot(events chan<- collect.Event) error {
	s := &c.snap
	if err := c.objs.core.IterLive.Set(uint64(0)); err != nil {
		return fmt.Errorf("reset iter_live: %w", err)
	}
	s.out.Reset()
	if err := runIter(c.snapIter, &s.out); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	b := s.out.Bytes()
	if len(b)%snapRecSize != 0 {
		return fmt.Errorf("snapshot: %d bytes of output, not a whole number of %d-byte records", len(b), snapRecSize)
	}
	for off := 0; off < len(b); off += snapRecSize {
		// The record is the C struct (HostLayout).
		rec := (*sockopsSnapRec)(unsafe.Pointer(&b[off]))
		events <- c.recordEvent(rec) // the consumer reads until Run returns
	}
	var live uint64
	if err := c.objs.core.IterLive.Get(&live); err != nil {
		return fmt.Errorf("read iter_live: %w", err)
	}
	c.tracked.Store(live)
	return nil
}

// recordEvent turns a snapshot record into its event.
func (c *Collector) recordEvent(rec *sockopsSnapRec) collect.Event {
	if rec.Phase == phaseEstablished && rec.First != 0 {
		ev := c.event(collect.Opened, rec.Cookie, &rec.Ep, &rec.C)
		ev.HandshakeUS = rec.HandshakeUs
		return ev
	}
	ev := c.event(collect.Snapshot, rec.Cookie, &rec.Ep, &rec.C)
	if rec.Phase == phasePreexisting {
		// Adopted by the tcp iterator: older than the agent (its
		// baseline came from the seed dump) or once left untracked.
		ev.Baseline = rec.First != 0
		ev.Passive = c.passiveHint(rec.Cookie, ev.Local.Port())
	}
	return ev
}

// drainPending emits the final events the ring buffer could not take
// (the program left them in the pending map) and deletes them.
func (c *Collector) drainPending(events chan<- collect.Event) error {
	var (
		cookie uint64
		e      sockopsEvent
		done   []uint64
	)
	it := c.objs.core.Pending.Iterate()
	for it.Next(&cookie, &e) {
		events <- c.eventFrom(&e)
		done = append(done, cookie)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read pending events: %w", err)
	}
	for _, k := range done {
		if err := c.objs.core.Pending.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete pending event: %w", err)
		}
	}
	return nil
}

// trackedCookies lists the sockets the program tracks (the snapshot
// iterator in list mode, which changes nothing).
func (c *Collector) trackedCookies() (map[uint64]bool, error) {
	if err := c.objs.core.ListOnly.Set(uint32(1)); err != nil {
		return nil, fmt.Errorf("set list_only: %w", err)
	}
	defer c.objs.core.ListOnly.Set(uint32(0))
	var out bytes.Buffer
	if err := runIter(c.snapIter, &out); err != nil {
		return nil, err
	}
	b := out.Bytes()
	cookies := make(map[uint64]bool, len(b)/8)
	for off := 0; off+8 <= len(b); off += 8 {
		cookies[binary.NativeEndian.Uint64(b[off:])] = true
	}
	return cookies, nil
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
	tracked, err := c.trackedCookies()
	if err != nil {
		c.log.Warn("ebpf: list tracked sockets for the seed", "err", err)
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
		ev, ok := c.seedEvent(&socks[i], scope, tracked)
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
func (c *Collector) seedEvent(s *sockdiag.Socket, scope, tracked map[uint64]bool) (collect.Event, bool) {
	if !baselineState(s.State) || !s.HasInfo || s.Remote.Port() == 0 {
		return collect.Event{}, false
	}
	if scope != nil && (!s.HasCgroup || !scope[s.CgroupID]) {
		return collect.Event{}, false
	}
	if tracked[s.Cookie] {
		return collect.Event{}, false
	}
	passive := c.listeners[s.Local.Port()]
	c.seeded[s.Cookie] = passive
	return collect.Event{
		Kind: collect.Snapshot, Cookie: s.Cookie, Local: s.Local, Remote: s.Remote,
		Passive: passive, Baseline: true, Counters: s.Info.Counters(),
	}, true
}
