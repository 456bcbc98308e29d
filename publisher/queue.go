package publisher

import (
	"errors"
	"log/slog"
)

// item is one marshalled report waiting for delivery.
type item struct {
	seq  uint64
	data []byte
}

// The queue is the spool followed by the memory slice, in sequence order:
// everything on disk is older than everything in memory. Spilling always
// moves the oldest memory reports to the spool tail, which keeps that order,
// and the sender always takes the head (spool first). The head stays queued
// while it is being sent and is removed only once resolved, so a crash or a
// Stop at any moment leaves it on disk or in memory to be spilled. All these
// methods need p.mu.

// enqueueLocked appends a new report, spilling memory to disk when it is
// full or when the server is unreachable (so that an outage survives a
// restart).
func (p *Publisher) enqueueLocked(it item) {
	p.mem = append(p.mem, it)
	if p.degraded || len(p.mem) > p.cfg.QueueSize {
		p.spillLocked()
		p.trimMemLocked()
	}
}

// spillLocked moves memory reports to the spool, oldest first. It returns
// how many stayed in memory because the disk refused them.
func (p *Publisher) spillLocked() int {
	for len(p.mem) > 0 {
		it := p.mem[0]
		err := p.spool.append(it.seq, it.data)
		switch {
		case err == nil:
			p.spooled.Add(1)
			p.m.spooled.Inc()
		case errors.Is(err, errTooLargeForSpool):
			p.limit.logf(slog.LevelError, "spool-too-big", "report does not fit in the spool; dropped (raise SpoolMaxBytes)", "sequence", it.seq, "error", err)
			p.countDropped(1, dropTooBig)
		default:
			p.limit.logf(slog.LevelError, "spool-write", "writing to the spool failed; keeping reports in memory", "error", err)
			return len(p.mem)
		}
		p.popMemLocked()
	}
	return 0
}

// trimMemLocked bounds memory when the spool cannot take reports: the
// oldest go first, as they would from a full spool.
func (p *Publisher) trimMemLocked() {
	n := len(p.mem) - p.cfg.QueueSize
	if n <= 0 {
		return
	}
	for range n {
		p.popMemLocked()
	}
	p.limit.logf(slog.LevelError, "mem-full", "memory queue full and the spool is failing; dropped the oldest reports", "dropped", n)
	p.countDropped(n, dropSpoolError)
}

func (p *Publisher) popMemLocked() {
	p.mem[0] = item{}
	p.mem = p.mem[1:]
	if len(p.mem) == 0 {
		p.mem = nil
	}
}

// headLocked returns the oldest queued report.
func (p *Publisher) headLocked() (item, bool) {
	if rec, ok := p.spool.peek(); ok {
		return item{seq: rec.seq, data: rec.payload}, true
	}
	if len(p.mem) > 0 {
		return p.mem[0], true
	}
	return item{}, false
}

// resolveLocked removes the head once it is delivered or given up on. If the
// head is no longer seq, the report was evicted from the spool meanwhile and
// there is nothing to remove.
func (p *Publisher) resolveLocked(seq uint64) {
	if rec, ok := p.spool.peek(); ok && rec.seq == seq {
		p.spool.advance()
	} else if len(p.mem) > 0 && p.mem[0].seq == seq {
		p.popMemLocked()
	}
	p.notifyLocked()
}

// drainedLocked reports whether every report up to target was resolved.
func (p *Publisher) drainedLocked(target uint64) bool {
	head, ok := p.headLocked()
	return !ok || head.seq > target
}

// notifyLocked wakes Flush and Stop waiters to re-check the queue.
func (p *Publisher) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// countDropped records reports discarded locally. Called with p.mu held (or
// from New, before the publisher is shared).
func (p *Publisher) countDropped(n int, reason string) {
	if n <= 0 {
		return
	}
	p.dropped.Add(uint64(n))
	p.m.dropped.WithLabelValues(reason).Add(float64(n))
	p.notifyLocked()
}

// countFailed records a report the server refused for good.
func (p *Publisher) countFailed(reason string) {
	p.failed.Add(1)
	p.m.failed.WithLabelValues(reason).Inc()
}
