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

	"github.com/cilium/ebpf/ringbuf"

	"github.com/flowlens/flowlens/agent/collect"
)

// readLoop forwards the ring buffer's events until the reader is closed.
func (c *Collector) readLoop(ctx context.Context, rd *ringbuf.Reader, events chan<- collect.Event) error {
	var rec ringbuf.Record
	rd.SetDeadline(time.Now().Add(c.opts.DrainEvery))
	for {
		if err := rd.ReadInto(&rec); err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				// The program does not wake the reader for each event.
				rd.SetDeadline(time.Now().Add(c.opts.DrainEvery))
				continue
			case errors.Is(err, ringbuf.ErrClosed):
				return nil
			}
			return fmt.Errorf("read ring buffer: %w", err)
		}
		ev, err := c.decodeEvent(rec.RawSample)
		if err != nil {
			c.lost.Add(1)
			c.log.Debug("ebpf: bad event", "err", err)
			continue
		}
		select {
		case events <- ev:
		case <-ctx.Done():
			return nil
		}
	}
}

// decodeEvent turns one ring buffer record into an Event.
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
	ev.RTTUS = e.RttUs
	ev.HandshakeUS = e.HandshakeUs
	ev.Reason = collect.FailReason(e.Reason)
	return ev, nil
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
