package ebpf

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/flowlens/flowlens/agent/collect"
	"github.com/flowlens/flowlens/flow"
)

// drainFlows reads and clears the flow map the program has been summing
// short sockets into, as Aggregated events. It first puts the other
// (empty) flow map in its place: the update of flow_maps returns only once
// every program run that could still hold the old map has ended (the
// kernel waits for an RCU grace period after updating a map-in-map), so
// the map read here is complete and no longer written.
func (c *Collector) drainFlows(events chan<- collect.Event) error {
	s := &c.snap
	core := &c.objs.core
	if s.spare == nil {
		s.spare = core.FlowsB // flow_maps[0] starts as flows_a
	}
	full := core.FlowsA
	if s.spare == core.FlowsA {
		full = core.FlowsB
	}
	if err := core.FlowMaps.Put(uint32(0), s.spare); err != nil {
		return fmt.Errorf("swap flow maps: %w", err)
	}
	s.spare = full
	if s.flowKeys == nil {
		s.flowKeys = make([]sockopsFlowKey, flowBatchSize)
		s.flowVals = make([]sockopsFlowAgg, flowBatchSize)
	}
	var cursor ebpf.MapBatchCursor
	for {
		n, err := full.BatchLookupAndDelete(&cursor, s.flowKeys, s.flowVals, nil)
		for i := range n {
			events <- flowEvent(&s.flowKeys[i], &s.flowVals[i])
		}
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist):
			return nil
		case errors.Is(err, ebpf.ErrNotSupported):
			return c.drainFlowsOneByOne(full, events)
		case err != nil:
			return fmt.Errorf("read flow map: %w", err)
		}
	}
}

// drainFlowsOneByOne is drainFlows' read for kernels without batch
// operations on hash maps. Nothing writes the map meanwhile.
func (c *Collector) drainFlowsOneByOne(m *ebpf.Map, events chan<- collect.Event) error {
	var (
		k    sockopsFlowKey
		v    sockopsFlowAgg
		keys []sockopsFlowKey
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		events <- flowEvent(&k, &v)
		keys = append(keys, k)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate flow map: %w", err)
	}
	for i := range keys {
		if err := m.Delete(&keys[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("clear flow map: %w", err)
		}
	}
	return nil
}

// flowEvent turns one flow map entry into an Aggregated event.
func flowEvent(k *sockopsFlowKey, v *sockopsFlowAgg) collect.Event {
	local, remote := kernelAddr(k.Family, k.LocalIp), kernelAddr(k.Family, k.RemoteIp)
	ev := collect.Event{Kind: collect.Aggregated, Passive: k.Passive != 0}
	if ev.Passive {
		ev.Local, ev.Remote = netip.AddrPortFrom(local, k.Port), netip.AddrPortFrom(remote, 0)
	} else {
		ev.Local, ev.Remote = netip.AddrPortFrom(local, 0), netip.AddrPortFrom(remote, k.Port)
	}
	ev.Flow = &flow.Counters{
		BytesSent:         v.BytesAcked,
		BytesReceived:     v.BytesReceived,
		SegmentsSent:      v.SegsOut,
		SegmentsReceived:  v.SegsIn,
		Retransmissions:   v.TotalRetrans,
		Timeouts:          v.TotalRto,
		ConnectionsOpened: v.Opened,
		ConnectionsClosed: v.Closed,
		FailedRefused:     v.Refused,
		FailedTimeout:     v.Timeout,
		FailedReset:       v.Reset,
		RTT:               latency(&v.Rtt),
		HandshakeLatency:  latency(&v.Handshake),
	}
	return ev
}

// latency converts the program's latency sums (min stored inverted).
func latency(l *sockopsLatency) flow.Latency {
	if l.Count == 0 {
		return flow.Latency{}
	}
	out := flow.Latency{Count: l.Count, SumUS: l.SumUs, MinUS: uint64(^l.MinInv), MaxUS: uint64(l.MaxUs)}
	for b, n := range l.Bins {
		if n > 0 {
			out.Hist.Bins = append(out.Hist.Bins, flow.Bin{Index: uint8(b), Count: uint64(n)})
		}
	}
	return out
}
