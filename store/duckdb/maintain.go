package duckdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowlens/flowlens/store"
)

// Maintain applies retention to every table relative to now, folds the
// roll-ups' partial rows into one compacted row per (bucket, resource key),
// and rewrites the seen-batch record as intervals. The server calls it
// every minute or so; queries are exact whether it ran or not, it only
// keeps the tables small. Each step is its own transaction.
func (s *Store) Maintain(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := s.checkWritable(); err != nil {
		return err
	}
	start := time.Now()
	s.metrics.maintainRuns.Inc()
	if err := s.maintainLocked(ctx, now); err != nil {
		s.noteFailure(err)
		s.metrics.maintainErrors.Inc()
		return fmt.Errorf("maintain flow store: %w", err)
	}
	s.metrics.maintainSeconds.Observe(time.Since(start).Seconds())
	return nil
}

func (s *Store) maintainLocked(ctx context.Context, now time.Time) error {
	if err := s.applyRetention(ctx, now); err != nil {
		return err
	}
	for t := range rollupTables {
		if err := s.compactRollup(ctx, t); err != nil {
			return err
		}
	}
	return s.compactSeen(ctx)
}

// execArgs runs a statement with positional arguments on a raw driver
// connection and returns the number of rows it changed.
func execArgs(ctx context.Context, dc any, query string, args ...any) (int64, error) {
	ex, ok := dc.(driver.ExecerContext)
	if !ok {
		return 0, errors.New("driver connection cannot execute statements")
	}
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	res, err := ex.ExecContext(ctx, query, named)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// keyDeleteChunk bounds the placeholders of one DELETE FROM flow_keys.
const keyDeleteChunk = 1000

// applyRetention deletes what each table's retention no longer covers, and
// the flow keys whose rows are all gone, in one transaction so flow_keys
// never loses a key that flows still references.
func (s *Store) applyRetention(ctx context.Context, now time.Time) error {
	var cut [1 + len(rollupTables)]int64
	for level := range cut {
		cut[level] = now.Add(-s.cfg.retentionOf(level)).UnixMilli()
	}
	expired := s.dict.expired(cut[0])
	ids := make([]any, len(expired))
	for i, e := range expired {
		ids[i] = e.id
	}
	var deleted [len(cut)]int64
	err := s.wconn.Raw(func(dc any) error {
		return inTx(ctx, dc, func() error {
			var err error
			if deleted[0], err = execArgs(ctx, dc, `DELETE FROM flows WHERE end_ms < ?`, cut[0]); err != nil {
				return fmt.Errorf("expire flows: %w", err)
			}
			for _, t := range rollupTables {
				if deleted[t.level], err = execArgs(ctx, dc, `DELETE FROM `+t.name+` WHERE bucket_ms < ?`, cut[t.level]); err != nil {
					return fmt.Errorf("expire %s: %w", t.name, err)
				}
			}
			return deleteFlowKeys(ctx, dc, ids)
		})
	})
	if err != nil {
		return err
	}
	for _, e := range expired {
		s.dict.remove(e)
	}
	s.metrics.flowKeys.Set(float64(s.dict.nFlows))
	s.horizonMu.Lock()
	for level, c := range cut {
		s.horizons[level] = max(s.horizons[level], c)
	}
	s.horizonMu.Unlock()
	s.metrics.rowsExpired.WithLabelValues(rawTable.name).Add(float64(deleted[0]))
	for _, t := range rollupTables {
		s.metrics.rowsExpired.WithLabelValues(t.name).Add(float64(deleted[t.level]))
	}
	if len(expired) > 0 || deleted[0] > 0 {
		s.logger.Debug("retention applied", "flows_deleted", deleted[0], "flow_keys_deleted", len(expired))
	}
	return nil
}

func deleteFlowKeys(ctx context.Context, dc any, ids []any) error {
	for len(ids) > 0 {
		n := min(len(ids), keyDeleteChunk)
		b := &sqlBuilder{}
		b.add("DELETE FROM flow_keys WHERE id IN (")
		for i := range n {
			if i > 0 {
				b.add(", ")
			}
			b.arg(ids[i])
		}
		b.add(")")
		if _, err := execArgs(ctx, dc, b.sb.String(), b.args...); err != nil {
			return fmt.Errorf("expire flow keys: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// dirtyBuckets selects the buckets of a roll-up that hold partial rows.
func dirtyBuckets(table string) string {
	return `SELECT DISTINCT bucket_ms FROM ` + table + ` WHERE NOT compacted`
}

// compactRollup replaces all rows of every bucket holding partial rows by
// one compacted row per resource key. Open buckets are compacted too, so
// partial rows never pile up; rows written later, late ones included, are
// new partials that the next run folds in.
func (s *Store) compactRollup(ctx context.Context, t int) error {
	spec := rollupTables[t]
	set := newRollupSet()
	n, err := s.readRollupRows(ctx, spec.name, set, t)
	if err != nil || n == 0 {
		return err
	}
	return s.wconn.Raw(func(dc any) error {
		return inTx(ctx, dc, func() error {
			if _, err := execArgs(ctx, dc, `DELETE FROM `+spec.name+` WHERE bucket_ms IN (`+dirtyBuckets(spec.name)+`)`); err != nil {
				return fmt.Errorf("compact %s: %w", spec.name, err)
			}
			return appendRollups(dc, spec.name, set.tables[t], true)
		})
	})
}

// compactSelect sums a roll-up's rows per (bucket, resource key) in SQL,
// saturating at the BIGINT range like Write, and lists the histograms for
// Go to merge. Latency minimums only count rows with samples.
var compactSelect = func() string {
	const maxBigint = "9223372036854775807"
	cols := []string{"bucket_ms", "resource_id", "least(sum(flow_rows), " + maxBigint + ")::BIGINT"}
	for _, c := range valueColumns() {
		switch {
		case strings.HasSuffix(c, "_min_us"):
			count := strings.TrimSuffix(c, "_min_us") + "_count"
			cols = append(cols, "coalesce(min("+c+") FILTER (WHERE "+count+" > 0), 0)")
		case strings.HasSuffix(c, "_max_us"):
			cols = append(cols, "max("+c+")")
		default:
			cols = append(cols, "least(sum("+c+"), "+maxBigint+")::BIGINT")
		}
	}
	cols = append(cols, "list(latency_hist) FILTER (WHERE latency_hist IS NOT NULL)")
	return strings.Join(cols, ", ")
}()

// readRollupRows sums every row of the dirty buckets into set.tables[t]
// and returns the number of (bucket, resource key) groups.
func (s *Store) readRollupRows(ctx context.Context, table string, set *rollupSet, t int) (int, error) {
	rows, err := s.wconn.QueryContext(ctx, `SELECT `+compactSelect+` FROM `+table+
		` WHERE bucket_ms IN (`+dirtyBuckets(table)+`) GROUP BY bucket_ms, resource_id`)
	if err != nil {
		return 0, fmt.Errorf("read %s partials: %w", table, err)
	}
	defer rows.Close()
	n := 0
	var (
		k     aggKey
		cnt   uint64
		u     [numValues]uint64
		hists any
	)
	dest := []any{&k.bucket, &k.resourceID, &cnt}
	for i := range u {
		dest = append(dest, &u[i])
	}
	dest = append(dest, &hists)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return 0, fmt.Errorf("read %s partials: %w", table, err)
		}
		if err := set.get(t, k).addCompacted(cnt, &u, hists); err != nil {
			return 0, fmt.Errorf("read %s bucket %d resource %d: %w", table, k.bucket, k.resourceID, err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read %s partials: %w", table, err)
	}
	return n, nil
}

// compactSeen rewrites batch_seen as one row per interval once Writes have
// appended enough single-sequence rows to make it worthwhile.
func (s *Store) compactSeen(ctx context.Context) error {
	intervals := 0
	for _, set := range s.seen {
		intervals += len(set.ranges())
	}
	if s.seenRows <= 2*intervals+1024 {
		return nil
	}
	type row struct {
		key seenKey
		r   seqRange
	}
	all := make([]row, 0, intervals)
	for key, set := range s.seen {
		for _, r := range set.ranges() {
			all = append(all, row{key, r})
		}
	}
	err := s.wconn.Raw(func(dc any) error {
		return inTx(ctx, dc, func() error {
			if _, err := execArgs(ctx, dc, `DELETE FROM batch_seen`); err != nil {
				return fmt.Errorf("compact batch_seen: %w", err)
			}
			return appendTo(dc, "batch_seen", len(all), func(i int) []driver.Value {
				return []driver.Value{all[i].key.agent, all[i].r.lo, all[i].r.hi, all[i].key.epoch}
			})
		})
	})
	if err != nil {
		return err
	}
	s.seenRows = len(all)
	return nil
}
