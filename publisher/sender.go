package publisher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/flowlens/flowlens/wire/flowlensv1"
)

// errNotSplittable is returned by splitItem for a report with fewer than two
// flows: halving cannot make it smaller.
var errNotSplittable = errors.New("report has fewer than two flows")

// run is the sender goroutine: it delivers the queue head, one report at a
// time, until Stop cancels ctx. One report in flight keeps the order, and so
// the server's deduplication, simple.
func (p *Publisher) run(ctx context.Context) {
	defer close(p.done)
	for {
		head, ok := p.nextHead(ctx)
		if !ok {
			return
		}
		p.deliver(ctx, head)
		if ctx.Err() != nil {
			return
		}
	}
}

// nextHead waits for a report to send.
func (p *Publisher) nextHead(ctx context.Context) (item, bool) {
	for {
		p.mu.Lock()
		head, ok := p.headLocked()
		p.mu.Unlock()
		if ok {
			return head, true
		}
		select {
		case <-p.wake:
		case <-ctx.Done():
			return item{}, false
		}
	}
}

// deliver sends head, or the pieces it was split into after a 413, until
// each is acknowledged or refused for good; then head leaves the queue. On
// cancellation head stays queued and the split state stays on disk.
func (p *Publisher) deliver(ctx context.Context, head item) {
	pieces, made, split := p.piecesFor(head)
	for len(pieces) > 0 {
		cur := pieces[0]
		switch p.sendWithRetry(ctx, cur) {
		case outCanceled:
			return
		case outAcked:
			p.onAcked(cur)
			pieces = pieces[1:]
		case outRejected:
			p.countFailed(failRejected)
			pieces = pieces[1:]
		case outTooLarge:
			halves, err := p.splitWithin(cur, made)
			if err != nil {
				p.limit.logf(slog.LevelError, "too-large", "server refused a report as too large and it is not split further; dropped",
					"sequence", cur.seq, "bytes", len(cur.data), "reason", err)
				p.countFailed(failTooLarge)
				pieces = pieces[1:]
				break
			}
			p.log.Warn("server refused a report as too large; sending it in two halves",
				"sequence", cur.seq, "bytes", len(cur.data), "halves", []uint64{halves[0].seq, halves[1].seq})
			pieces = append(halves, pieces[1:]...)
			made++
			split = true
		}
		if split {
			p.saveSplit(head.seq, pieces, made)
		}
	}
	p.mu.Lock()
	p.resolveLocked(head.seq)
	p.mu.Unlock()
}

// piecesFor returns what to send for head: the pieces of an earlier split
// of it, or head itself, and how many pieces head was cut into so far. A
// split state for an older head is stale (that head was resolved) and is
// removed.
func (p *Publisher) piecesFor(head item) ([]item, int, bool) {
	if st := p.split; st != nil {
		if st.orig == head.seq {
			return append([]item(nil), st.pieces...), max(st.made, len(st.pieces)), true
		}
		if st.orig < head.seq {
			p.split = nil
			if err := removeSplit(p.splitPath); err != nil {
				p.log.Warn("removing stale split state failed", "error", err)
			}
		}
	}
	return []item{head}, 1, false
}

// errSplitLimit is returned by splitWithin once a report was cut into
// MaxSplitPieces pieces.
var errSplitLimit = errors.New("report already split into the most pieces allowed (MaxSplitPieces)")

// splitWithin halves it unless the report it came from already has
// MaxSplitPieces pieces: a server that answers 413 to everything must not
// make the agent halve down to single flows, one request and one rewrite of
// the split state per flow.
func (p *Publisher) splitWithin(it item, made int) ([]item, error) {
	if made >= p.cfg.MaxSplitPieces {
		return nil, fmt.Errorf("%w: %d", errSplitLimit, made)
	}
	return p.splitItem(it)
}

// saveSplit persists the remaining pieces of head before any is sent.
func (p *Publisher) saveSplit(orig uint64, pieces []item, made int) {
	p.split = &splitState{orig: orig, pieces: append([]item(nil), pieces...), made: made}
	if err := saveSplit(p.splitPath, p.split); err != nil {
		p.limit.logf(slog.LevelError, "split-save", "saving split state failed; after a crash the split report may be counted twice", "error", err)
	}
}

// splitItem halves a report's flows into two new reports with new sequence
// numbers. Everything but the flows is copied to both, except the agent
// stats, which go with the first half only so that sums stay exact.
func (p *Publisher) splitItem(it item) ([]item, error) {
	var r flowlensv1.Report
	if err := proto.Unmarshal(it.data, &r); err != nil {
		return nil, fmt.Errorf("unmarshal queued report: %w", err)
	}
	if len(r.Flows) < 2 {
		return nil, errNotSplittable
	}
	flows := r.Flows
	r.Flows = nil
	first := proto.Clone(&r).(*flowlensv1.Report)
	second := proto.Clone(&r).(*flowlensv1.Report)
	mid := len(flows) / 2
	first.Flows, second.Flows = flows[:mid], flows[mid:]
	second.Stats = nil
	out := make([]item, 0, 2)
	for _, half := range []*flowlensv1.Report{first, second} {
		p.mu.Lock()
		seq, err := p.seq.take()
		p.mu.Unlock()
		if err != nil {
			return nil, err
		}
		half.Sequence = seq
		data, err := proto.Marshal(half)
		if err != nil {
			return nil, fmt.Errorf("marshal half of report %d: %w", it.seq, err)
		}
		out = append(out, item{seq: seq, data: data})
	}
	return out, nil
}

// sendWithRetry posts one report until the server gives a final answer
// (acknowledged, malformed, too large) or ctx is done.
func (p *Publisher) sendWithRetry(ctx context.Context, it item) outcome {
	body, err := p.tr.compress(it.data)
	if err != nil {
		p.log.Error("compressing report failed; dropped", "sequence", it.seq, "error", err)
		return outRejected
	}
	for n := 0; ; n++ {
		if n > 0 {
			p.retries.Add(1)
			p.m.retries.Inc()
		}
		a := p.tr.post(ctx, body, p.cfg.Timeout)
		if ctx.Err() != nil {
			return outCanceled
		}
		if a.out != outRetry {
			p.reachable()
			p.logFinal(it, a)
			if a.out == outAcked && a.duplicate && n == 0 && it.seq >= p.firstNewSeq {
				p.unexpectedDuplicate(it)
			}
			return a.out
		}
		p.unreachable(it, a)
		if p.sleep(ctx, p.retryWait(a, n)) != nil {
			return outCanceled
		}
	}
}

// retryWait is how long to wait before attempt n+1: exponential with full
// jitter, at least the server's Retry-After, and long for a refused token,
// which only an operator can fix.
func (p *Publisher) retryWait(a attempt, n int) time.Duration {
	if a.auth {
		return p.cfg.MaxBackoff/2 + fullJitter(p.cfg.MaxBackoff/2, p.cfg.MaxBackoff/2, 0)
	}
	return max(fullJitter(p.cfg.MinBackoff, p.cfg.MaxBackoff, n), a.wait)
}

// unreachable notes a failed attempt: new reports go to disk, memory is
// spilled so that a restart during the outage loses nothing, and the error
// is logged at most once a minute per kind.
func (p *Publisher) unreachable(it item, a attempt) {
	p.mu.Lock()
	p.degraded = true
	p.spillLocked()
	p.trimMemLocked()
	p.mu.Unlock()
	if a.auth {
		p.limit.logf(slog.LevelError, "auth", "server refused the bearer token; check the configured token (spooling and retrying slowly)",
			"server", p.tr.redactedURL(), "status", a.status, "answer", a.detail)
		return
	}
	p.limit.logf(slog.LevelWarn, "retry", "sending report failed; spooling and retrying with backoff",
		"server", p.tr.redactedURL(), "sequence", it.seq, "status", a.status, "error", a.detail, "retry_after", a.wait)
}

// reachable notes that the server answered: reports go to memory again.
func (p *Publisher) reachable() {
	p.mu.Lock()
	was := p.degraded
	p.degraded = false
	spooled := p.spool.len()
	p.mu.Unlock()
	if was {
		p.log.Info("server reachable again; sending spooled reports first", "spooled", spooled)
		p.limit.reset("auth")
		p.limit.reset("retry")
	}
}

// logFinal logs a final refusal; the server's answer says why.
func (p *Publisher) logFinal(it item, a attempt) {
	if a.out == outRejected {
		p.limit.logf(slog.LevelError, "rejected", "server refused a report as malformed; dropped",
			"sequence", it.seq, "bytes", len(it.data), "answer", a.detail)
	}
}

// unexpectedDuplicate reports a first attempt of a report numbered by this
// process that the server answered duplicate:true. No earlier attempt can
// have stored it, so the server holds another report under the same key
// (agent id, epoch, sequence) and has dropped this one: two agents share an
// agent id and a spool (a cloned disk image), or an agent token is used to
// report under someone else's id. The data is lost, so this is an error
// with a counter, not a debug line.
func (p *Publisher) unexpectedDuplicate(it item) {
	p.unexpectedDups.Add(1)
	p.m.unexpectedDups.Inc()
	var r flowlensv1.Report
	proto.Unmarshal(it.data, &r) //nolint:errcheck // for the log line only
	p.limit.logf(slog.LevelError, "unexpected-duplicate",
		"DATA LOSS: the server already had a report under this key although this agent never sent this one; "+
			"it was not stored. Another agent reports with the same agent id and spool epoch (a copied spool "+
			"directory or disk image?): give each host its own --host-id and an empty --spool-dir",
		"agent_id", r.AgentId, "epoch", fmt.Sprintf("%016x", r.Epoch), "sequence", it.seq, "server", p.tr.redactedURL())
}

// onAcked counts a delivered report and hands it to OnAck.
func (p *Publisher) onAcked(it item) {
	p.acked.Add(1)
	p.m.acked.Inc()
	if p.cfg.OnAckRaw != nil {
		p.cfg.OnAckRaw(it.seq, it.data)
	}
	if p.cfg.OnAck == nil {
		return
	}
	var r flowlensv1.Report
	if err := proto.Unmarshal(it.data, &r); err != nil {
		p.log.Error("acknowledged report does not unmarshal; OnAck skipped", "sequence", it.seq, "error", err)
		return
	}
	p.cfg.OnAck(&r)
}
