package duckdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/marcboeker/go-duckdb"

	"github.com/flowlens/flowlens/store"
)

// seenKey names one sequence space: an agent's spool epoch (0 for agents
// that predate epochs). Sequences restart at 1 in a new epoch.
type seenKey struct {
	agent string
	epoch uint64
}

// batchID is the idempotency key of a batch.
type batchID struct {
	key seenKey
	seq uint64
}

// chunkRows is about how many rows the builder prepares before handing
// them to DuckDB: the next chunk is built in Go (interning, columns,
// roll-up aggregation) while DuckDB inserts this one, so the two CPU cores
// overlap within one Write.
const chunkRows = 16384

// writePlan is the reusable state of Write: two column buffers that the
// builder and the inserter pass back and forth, the roll-up aggregates and
// the batches being stored.
type writePlan struct {
	bufs [2]flowColumns
	roll *rollupSet
	seen []batchID
	rows int
}

func (p *writePlan) init() { p.roll = newRollupSet() }

// Write stores the batches that are not yet stored in one transaction and
// returns once DuckDB has committed it to the WAL. dup[i] reports batches
// already stored, by an earlier call or earlier in this one.
func (s *Store) Write(ctx context.Context, batches []*store.Batch) ([]bool, error) {
	if err := validateBatches(batches); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if err := s.checkWritable(); err != nil {
		return nil, err
	}
	start := time.Now()
	dup := s.duplicates(batches)
	if err := s.writeLocked(ctx, batches, dup); err != nil {
		s.noteFailure(err)
		s.metrics.writeErrors.Inc()
		return nil, err
	}
	s.metrics.writes.Inc()
	s.metrics.writeSeconds.Observe(time.Since(start).Seconds())
	return dup, nil
}

func (s *Store) writeLocked(ctx context.Context, batches []*store.Batch, dup []bool) error {
	p := &s.plan
	p.seen, p.rows = p.seen[:0], 0
	for i, b := range batches {
		if !dup[i] {
			p.seen = append(p.seen, batchID{seenKey{b.AgentID, b.Epoch}, b.Sequence})
			p.rows += len(b.Rows)
		}
	}
	if len(p.seen) == 0 {
		s.metrics.batchesDup.Add(float64(len(batches)))
		return nil
	}
	s.dict.begin()
	p.roll.reset()
	if err := s.commitPlan(ctx, batches, dup); err != nil {
		s.dict.rollback()
		return fmt.Errorf("write %d batches (%d rows): %w", len(p.seen), p.rows, err)
	}
	s.dict.commit()
	for _, id := range p.seen {
		set := s.seen[id.key]
		if set == nil {
			set = &seqSet{}
			s.seen[id.key] = set
		}
		set.add(id.seq)
	}
	s.seenRows += len(p.seen)
	s.metrics.rows.Add(float64(p.rows))
	s.metrics.batchesStored.Add(float64(len(p.seen)))
	s.metrics.batchesDup.Add(float64(len(batches) - len(p.seen)))
	s.metrics.flowKeys.Set(float64(s.dict.nFlows))
	s.metrics.resourceKeys.Set(float64(len(s.dict.resources)))
	return nil
}

func validateBatches(batches []*store.Batch) error {
	for i, b := range batches {
		if b == nil {
			return fmt.Errorf("batch %d is nil", i)
		}
		if b.AgentID == "" {
			return fmt.Errorf("batch %d (sequence %d) has no agent id", i, b.Sequence)
		}
	}
	return nil
}

// duplicates marks batches already stored or repeated within the call.
func (s *Store) duplicates(batches []*store.Batch) []bool {
	dup := make([]bool, len(batches))
	var pending map[batchID]struct{}
	if len(batches) > 1 {
		pending = make(map[batchID]struct{}, len(batches))
	}
	for i, b := range batches {
		key := seenKey{b.AgentID, b.Epoch}
		if set := s.seen[key]; set != nil && set.contains(b.Sequence) {
			dup[i] = true
			continue
		}
		if pending == nil {
			continue
		}
		id := batchID{key, b.Sequence}
		if _, ok := pending[id]; ok {
			dup[i] = true
			continue
		}
		pending[id] = struct{}{}
	}
	return dup
}

// builder prepares the chunks of one Write on its own goroutine. It owns
// the dictionary and the roll-up aggregates until it has closed full.
type builder struct {
	dict    *dictionary
	roll    *rollupSet
	batches []*store.Batch
	dup     []bool
	free    chan *flowColumns
	full    chan *flowColumns
	done    chan struct{}
	err     error // read after full is closed
}

// run fills chunks of about chunkRows rows and sends them on full.
func (b *builder) run() {
	defer close(b.full)
	var cur *flowColumns
	next := func() bool {
		select {
		case cur = <-b.free:
			cur.reset()
			return true
		case <-b.done:
			return false
		}
	}
	send := func() bool {
		if len(cur.histData) > math.MaxInt32 {
			b.err = fmt.Errorf("latency histograms of one chunk exceed 2 GiB")
			return false
		}
		select {
		case b.full <- cur:
			return true
		case <-b.done:
			return false
		}
	}
	if !next() {
		return
	}
	for i, batch := range b.batches {
		if b.dup[i] {
			continue
		}
		if b.err = b.addBatch(cur, batch); b.err != nil {
			return
		}
		if cur.len() >= chunkRows {
			if !send() || !next() {
				return
			}
		}
	}
	if cur.len() > 0 {
		send()
	}
}

// addBatch interns the keys of a batch's rows, appends the rows to c and
// adds them to the 1-minute roll-up aggregates.
func (b *builder) addBatch(c *flowColumns, batch *store.Batch) error {
	for j := range batch.Rows {
		r := &batch.Rows[j]
		agent := r.AgentID
		if agent == "" {
			agent = batch.AgentID
		}
		e, err := b.dict.flowKey(r, agent)
		if err != nil {
			return err
		}
		endMs := r.End.UnixMilli()
		e.lastEndMs = max(e.lastEndMs, endMs)
		vs := storedValues(&r.Counters)
		c.add(endMs, r.Start.UnixMilli(), e.id, &vs, &r.Counters)
		b.roll.addRow(endMs, e.resourceID, &vs, &r.Counters)
	}
	return nil
}

// commitPlan runs the write as one transaction on the writer connection:
// dictionaries, raw rows, roll-up partials and seen batches commit together
// or not at all.
func (s *Store) commitPlan(ctx context.Context, batches []*store.Batch, dup []bool) error {
	return s.wconn.Raw(func(dc any) error {
		return inTx(ctx, dc, func() error {
			b := &builder{dict: s.dict, roll: s.plan.roll, batches: batches, dup: dup,
				free: make(chan *flowColumns, len(s.plan.bufs)), full: make(chan *flowColumns),
				done: make(chan struct{})}
			for i := range s.plan.bufs {
				b.free <- &s.plan.bufs[i]
			}
			go b.run()
			// However this returns, the builder must have stopped before the
			// dictionary is committed or rolled back.
			defer func() {
				close(b.done)
				for range b.full {
				}
			}()
			for cols := range b.full {
				if err := s.inserter.insert(ctx, dc, cols); err != nil {
					return fmt.Errorf("insert flows: %w", err)
				}
				b.free <- cols
			}
			if b.err != nil {
				return b.err
			}
			return s.appendRest(dc)
		})
	})
}

// appendRest appends, after the raw rows, the new dictionary keys, the
// roll-up partials and the seen batches.
func (s *Store) appendRest(dc any) error {
	if err := appendResourceKeys(dc, s.dict.newRes); err != nil {
		return err
	}
	if err := appendFlowKeys(dc, s.dict.newFlows); err != nil {
		return err
	}
	s.plan.roll.deriveCoarser()
	for t, spec := range rollupTables {
		if err := appendRollups(dc, spec.name, s.plan.roll.tables[t], false); err != nil {
			return err
		}
	}
	if err := appendSeen(dc, s.plan.seen); err != nil {
		return err
	}
	if s.beforeCommit != nil {
		return s.beforeCommit()
	}
	return nil
}

// execSQL runs one statement on a raw driver connection.
func execSQL(ctx context.Context, dc any, query string, args ...driver.NamedValue) error {
	ex, ok := dc.(driver.ExecerContext)
	if !ok {
		return errors.New("driver connection cannot execute statements")
	}
	_, err := ex.ExecContext(ctx, query, args)
	return err
}

// inTx runs fn inside BEGIN/COMMIT on the raw connection, rolling back
// when fn fails or ctx is done before the commit.
func inTx(ctx context.Context, dc any, fn func() error) (err error) {
	if err := execSQL(ctx, dc, "BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			// A failed COMMIT has already ended the transaction; the
			// rollback error is then expected and not interesting.
			_ = execSQL(context.Background(), dc, "ROLLBACK")
		}
	}()
	if err := fn(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// COMMIT ignores ctx: interrupting it could leave the transaction
	// committed while the caller is told it failed.
	if err := execSQL(context.Background(), dc, "COMMIT"); err != nil {
		return &commitError{err}
	}
	return nil
}

// commitError is a failed COMMIT. DuckDB then usually invalidates the
// database, and whether the WAL holds the transaction is unknown, so the
// in-memory dictionaries and seen set can no longer be trusted: the store
// refuses further writes until it is reopened, which reloads them.
type commitError struct{ err error }

func (e *commitError) Error() string { return "commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// ErrNeedsReopen is returned by Write and Maintain after a failed commit.
var ErrNeedsReopen = errors.New("flow store must be reopened after a failed commit")

// checkWritable returns ErrNeedsReopen after a failed commit.
func (s *Store) checkWritable() error {
	if s.failed != nil {
		return fmt.Errorf("%w: %w", ErrNeedsReopen, s.failed)
	}
	return nil
}

// noteFailure remembers a failed commit.
func (s *Store) noteFailure(err error) {
	var ce *commitError
	if errors.As(err, &ce) && s.failed == nil {
		s.failed = ce
		s.logger.Error("flow store commit failed; writes refused until reopen", "err", err)
	}
}

// appendTo appends n rows to table through DuckDB's Appender, which joins
// the connection's open transaction.
func appendTo(dc any, table string, n int, row func(i int) []driver.Value) error {
	if n == 0 {
		return nil
	}
	conn, ok := dc.(driver.Conn)
	if !ok {
		return errors.New("not a driver connection")
	}
	ap, err := duckdb.NewAppenderFromConn(conn, "", table)
	if err != nil {
		return fmt.Errorf("appender %s: %w", table, err)
	}
	for i := range n {
		if err := ap.AppendRow(row(i)...); err != nil {
			ap.Close()
			return fmt.Errorf("append %s: %w", table, err)
		}
	}
	if err := ap.Close(); err != nil {
		return fmt.Errorf("append %s: %w", table, err)
	}
	return nil
}

func appendResourceKeys(dc any, keys []newResourceKey) error {
	return appendTo(dc, "resource_keys", len(keys), func(i int) []driver.Value {
		return append([]driver.Value{keys[i].id}, resourceValues(&keys[i].key)...)
	})
}

func appendFlowKeys(dc any, keys []*flowKeyEntry) error {
	return appendTo(dc, "flow_keys", len(keys), func(i int) []driver.Value {
		return append([]driver.Value{keys[i].id, keys[i].resourceID}, flowKeyValues(&keys[i].ident)...)
	})
}

// appendRollups appends one row per aggregate; compacted says whether they
// are Maintain's merged rows or a Write's partials.
func appendRollups(dc any, table string, aggs map[aggKey]*rollupAgg, compacted bool) error {
	type entry struct {
		k aggKey
		a *rollupAgg
	}
	entries := make([]entry, 0, len(aggs))
	for k, a := range aggs {
		entries = append(entries, entry{k, a})
	}
	vals := make([]driver.Value, 4+numValues+1)
	return appendTo(dc, table, len(entries), func(i int) []driver.Value {
		k, a := entries[i].k, entries[i].a
		vals[0], vals[1], vals[2], vals[3] = k.bucket, k.resourceID, compacted, int64(clampInt64(a.rows))
		for j, v := range a.counters {
			vals[4+j] = int64(clampInt64(v))
		}
		for j, v := range a.latency() {
			vals[4+numCounters+j] = int64(clampInt64(v))
		}
		vals[4+numValues] = nil // NULL, not an empty BLOB
		if h := a.histBlob(); h != nil {
			vals[4+numValues] = h
		}
		return vals
	})
}

func appendSeen(dc any, ids []batchID) error {
	return appendTo(dc, "batch_seen", len(ids), func(i int) []driver.Value {
		return []driver.Value{ids[i].key.agent, ids[i].seq, ids[i].seq, ids[i].key.epoch}
	})
}
