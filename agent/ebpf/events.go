package ebpf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/flowlens/flowlens/agent/collect"
)

// loop reads the ring buffer and, between reads, takes the snapshots:
// when the agent asks for one (Sync, which also makes the reader return
// at once) and every SnapshotEvery as a backstop. One goroutine does both,
// so that every final event read before a snapshot is handled before it,
// and the state they share needs no lock. When ctx is done it drains the
// ring and takes a last snapshot, so that the agent's last report has the
// connections of its last moments.
func (c *Collector) loop(ctx context.Context, rd *ringbuf.Reader, iter *link.Iter, events chan<- collect.Event) error {
	stop := context.AfterFunc(ctx, func() { rd.Flush() })
	defer stop()
	var rec ringbuf.Record
	next := time.Now().Add(c.opts.SnapshotEvery) // the next backstop snapshot
	for n := 0; ; n++ {
		wait := time.Now().Add(c.opts.DrainEvery)
		if next.Before(wait) {
			wait = next
		}
		rd.SetDeadline(wait)
		err := rd.ReadInto(&rec)
		timedOut := false
		switch {
		case err == nil:
			c.forward(rec.RawSample, events)
			if n%256 != 0 { // under a constant stream, look at the clock now and then
				continue
			}
		case errors.Is(err, ringbuf.ErrFlushed), errors.Is(err, os.ErrDeadlineExceeded):
			// The ring is drained (the program does not wake the
			// reader for each event; Sync flushes it).
			if ctx.Err() != nil {
				return c.refresh(iter, events)
			}
			timedOut = errors.Is(err, os.ErrDeadlineExceeded)
		case errors.Is(err, ringbuf.ErrClosed), errors.Is(err, os.ErrClosed):
			return nil
		default:
			return fmt.Errorf("read ring buffer: %w", err)
		}
		sync := c.syncReq.Swap(false)
		if !sync && !snapshotDue(next, wait, timedOut) {
			continue
		}
		next = time.Now().Add(c.opts.SnapshotEvery)
		if err := c.refresh(iter, events); err != nil {
			return err
		}
		if sync {
			events <- collect.Event{Kind: collect.Synced}
		}
	}
}

// snapshotDue says whether the backstop snapshot is due: its time has
// come, or the read that waited for it timed out. The ring's poller rounds
// its timeout down to whole milliseconds and the kernel may end the wait
// early within its timer slack, so such a read can return just before its
// deadline; comparing the clock alone then put the snapshot off by a whole
// DrainEvery, and the tcp iterator's adoption of older sockets with it.
func snapshotDue(next, wait time.Time, timedOut bool) bool {
	return !time.Now().Before(next) || (timedOut && wait.Equal(next))
}

// Sync implements collect.Syncer: the reader drains the ring buffer, then
// takes a snapshot and sends Synced.
func (c *Collector) Sync() {
	c.syncReq.Store(true)
	if rd := c.reader.Load(); rd != nil {
		rd.Flush()
	}
}

// forward decodes one ring buffer record and sends it on. Sends block
// until the consumer takes the event: it reads until Run returns and
// closes the channel, also after ctx is done (the last drain).
func (c *Collector) forward(raw []byte, events chan<- collect.Event) {
	ev, err := c.decodeEvent(raw)
	if err != nil {
		c.lost.Add(1)
		c.log.Debug("ebpf: bad event", "err", err)
		return
	}
	events <- ev
}

// decodeEvent turns one ring buffer record into an Event: a final event
// (closed or failed) or a batch of RTT samples.
func (c *Collector) decodeEvent(b []byte) (collect.Event, error) {
	var e sockopsEvent
	if len(b) < int(unsafe.Sizeof(e)) {
		return collect.Event{}, fmt.Errorf("short event: %d bytes", len(b))
	}
	// The record is the C struct (HostLayout); a copy avoids reflection,
	// which would cost more than the rest of the event's handling.
	e = *(*sockopsEvent)(unsafe.Pointer(&b[0]))
	ev := c.event(collect.Kind(e.Kind), e.Cookie, &e.Ep, &e.C)
	if passive, ok := c.seeded[e.Cookie]; ok {
		ev.Passive = passive
	}
	ev.RTT, ev.NumRTT = e.Rtt, min(e.RttN, collect.MaxRTT)
	ev.HandshakeUS = e.HandshakeUs
	ev.Reason = collect.FailReason(e.Reason)
	if ev.Kind == collect.Closed || ev.Kind == collect.Failed {
		c.finalEvent(&ev, e.Established != 0)
	}
	return ev, nil
}

// finalEvent completes a socket's final event: its opening counts with it
// unless a snapshot reported it already.
func (c *Collector) finalEvent(ev *collect.Event, established bool) {
	seen := c.snap.versions[ev.Cookie]
	ev.Opened = established && !seen.opened
	delete(c.snap.versions, ev.Cookie)
}

// event builds an Event from the kernel's endpoints and counters.
func (c *Collector) event(kind collect.Kind, cookie uint64, ep *sockopsEndpoints, cnt *sockopsCounters) collect.Event {
	return collect.Event{
		Kind:     kind,
		Cookie:   cookie,
		Local:    netip.AddrPortFrom(kernelAddr(ep.Family, ep.LocalIp), ep.LocalPort),
		Remote:   netip.AddrPortFrom(kernelAddr(ep.Family, ep.RemoteIp), ep.RemotePort),
		Passive:  ep.Passive != 0,
		Counters: counters(cnt),
	}
}

func counters(c *sockopsCounters) collect.Counters {
	return collect.Counters{
		BytesAcked:    c.BytesAcked,
		BytesReceived: c.BytesReceived,
		SegsOut:       c.SegsOut,
		SegsIn:        c.SegsIn,
		TotalRetrans:  c.TotalRetrans,
		TotalRTO:      c.TotalRto,
		SRTTUS:        c.SrttUs,
	}
}

// kernelAddr converts an address the kernel stored as network-order words.
func kernelAddr(family uint16, w [4]uint32) netip.Addr {
	var b [16]byte
	for i, v := range w {
		binary.NativeEndian.PutUint32(b[4*i:], v)
	}
	if family == afInet {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}
