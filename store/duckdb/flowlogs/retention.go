package flowlogs

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/flowlog/importer"
)

// Retention and group deletion: DELETE, then CHECKPOINT. DuckDB 1.1
// frees the blocks of deleted rows when the checkpoint rewrites their row
// groups, and later inserts reuse them; it never shrinks the file below
// its last used block. Measured on 900,000 records of two interleaved
// groups, deleting 40% of them (TestRetentionReclaimsDisk, figures in
// BENCHMARKS.md): the blocks in use fall by about that share while the
// file grows a little (the checkpoint writes the thinned row groups
// before it frees the old ones), and importing as many records again
// fills the freed blocks. Rewriting the tables through a Parquet spool
// (drop, checkpoint, refill) was tried: a little smaller, at the price of
// a copy out and in, disk for the spool and crash repair, and the file
// still did not shrink, its tail being held by other tables (the flow
// store writes every minute). Returning the space to the filesystem needs
// the records in files of their own (per day; a DuckDB transaction can
// write only one attached database, so the file registry and dictionary
// would move with them): not done. Retention deletes whole UTC days
// (flowlog.RetentionCutoff), so one maintenance a day does the work.

var _ importer.GroupAdmin = (*Store)(nil)

// SetRetention keeps group's records days days (0: forever).
func (s *Store) SetRetention(ctx context.Context, group string, days int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int
	if err := s.conn.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM flowlog_files WHERE log_group = ?) +
		(SELECT count(*) FROM `+tableGroups+` WHERE log_group = ?)`, group, group).Scan(&n); err != nil {
		return fmt.Errorf("%w: set retention: %w", importer.ErrStore, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %q", importer.ErrNoGroup, group)
	}
	if _, err := s.conn.ExecContext(ctx, `INSERT INTO `+tableGroups+` (log_group, retention_days) VALUES (?, ?)
		ON CONFLICT (log_group) DO UPDATE SET retention_days = excluded.retention_days`, group, days); err != nil {
		return fmt.Errorf("%w: set retention: %w", importer.ErrStore, err)
	}
	return nil
}

// DeleteGroup deletes a group's records, files and settings, and
// reclaims their disk.
func (s *Store) DeleteGroup(ctx context.Context, group string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int
	if err := s.conn.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM flowlog_files WHERE log_group = ?) +
		(SELECT count(*) FROM `+tableGroups+` WHERE log_group = ?)`, group, group).Scan(&n); err != nil {
		return false, fmt.Errorf("%w: delete group: %w", importer.ErrStore, err)
	}
	if n == 0 {
		return false, nil
	}
	p := purge{
		wide:   stmt{`log_group = ?`, []any{group}},
		narrow: stmt{`file_id IN (SELECT id FROM flowlog_files WHERE log_group = ?)`, []any{group}},
		after: []stmt{{`DELETE FROM flowlog_files WHERE log_group = ?`, []any{group}},
			{`DELETE FROM ` + tableGroups + ` WHERE log_group = ?`, []any{group}}},
	}
	_, err := s.purge(ctx, p)
	return err == nil, err
}

// ApplyRetention deletes, for every group with a retention, the records
// older than flowlog.RetentionCutoff(now, days), the files left without
// records, and reclaims the disk.
func (s *Store) ApplyRetention(ctx context.Context, now time.Time) (importer.RetentionResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res importer.RetentionResult
	groups, err := s.retentions(ctx)
	if err != nil || len(groups) == 0 {
		return res, err
	}
	var wide, narrow []string
	var wideArgs, narrowArgs []any
	var recount []stmt
	for group, days := range groups {
		cut := flowlog.RetentionCutoff(now, days).Unix()
		wide = append(wide, `(log_group = ? AND `+colEventTime+` < ?)`)
		wideArgs = append(wideArgs, group, cut)
		narrow = append(narrow, `("start" < ? AND file_id IN (SELECT id FROM flowlog_files WHERE log_group = ?))`)
		narrowArgs = append(narrowArgs, cut, group)
		recount = append(recount, recountSQL(group)...)
	}
	var filesBefore, filesAfter int64
	if err := s.conn.QueryRowContext(ctx, `SELECT count(*) FROM flowlog_files`).Scan(&filesBefore); err != nil {
		return res, fmt.Errorf("%w: retention: %w", importer.ErrStore, err)
	}
	deleted, err := s.purge(ctx, purge{wide: stmt{strings.Join(wide, " OR "), wideArgs},
		narrow: stmt{strings.Join(narrow, " OR "), narrowArgs}, after: recount})
	if err != nil || deleted.records == 0 {
		return res, err
	}
	if err := s.conn.QueryRowContext(ctx, `SELECT count(*) FROM flowlog_files`).Scan(&filesAfter); err != nil {
		return res, fmt.Errorf("%w: retention: %w", importer.ErrStore, err)
	}
	res.Records, res.Groups, res.Files = deleted.records, len(deleted.groups), filesBefore-filesAfter
	return res, nil
}

func (s *Store) retentions(ctx context.Context) (map[string]int, error) {
	rows, err := s.conn.QueryContext(ctx, `SELECT log_group, retention_days FROM `+tableGroups+` WHERE retention_days > 0`)
	if err != nil {
		return nil, fmt.Errorf("%w: read retention: %w", importer.ErrStore, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var g string
		var d int
		if err := rows.Scan(&g, &d); err != nil {
			return nil, fmt.Errorf("%w: read retention: %w", importer.ErrStore, err)
		}
		out[g] = d
	}
	return out, rows.Err()
}

// recountSQL sets the records left in each of a group's files (and its
// bytes in proportion, so that the group's size stays an estimate of
// what it holds), then deletes the files left empty.
func recountSQL(group string) []stmt {
	return []stmt{{`UPDATE flowlog_files SET
			bytes = CASE WHEN records > 0 THEN bytes * coalesce(c.n, 0) // records ELSE bytes END,
			records = coalesce(c.n, 0)
		FROM (SELECT f.id, r.n FROM flowlog_files f
		      LEFT JOIN (SELECT file_id, count(*) AS n FROM ` + Table + ` WHERE log_group = ? GROUP BY file_id) r ON r.file_id = f.id
		      WHERE f.log_group = ?) c
		WHERE flowlog_files.id = c.id`, []any{group, group}},
		{`DELETE FROM flowlog_files WHERE log_group = ? AND records = 0`, []any{group}}}
}

// stmt is SQL with its arguments (values are always bound, never written
// into the text).
type stmt struct {
	sql  string
	args []any
}

// purge deletes the rows of the wide and narrow tables matching SQL
// predicates, then runs after (statements over the view: file rows,
// settings) in the same transaction, and checkpoints.
type purge struct {
	wide, narrow stmt   // predicates of the rows to delete; "" deletes none
	after        []stmt // run once the rows are gone
}

type purged struct {
	records int64
	groups  map[string]bool
}

func (s *Store) purge(ctx context.Context, p purge) (purged, error) {
	out := purged{groups: map[string]bool{}}
	tx, err := s.conn.BeginTx(ctx, nil)
	if err != nil {
		return out, fmt.Errorf("%w: purge: %w", importer.ErrStore, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit: a no-op
	for _, t := range []struct {
		table string
		pred  stmt
	}{{tableAll, p.wide}, {tableV2F, p.narrow}} {
		if t.pred.sql == "" {
			continue
		}
		// The groups that lose records, for the result.
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT f.log_group FROM
			(SELECT DISTINCT file_id FROM `+t.table+` WHERE (`+t.pred.sql+`)) c JOIN flowlog_files f ON f.id = c.file_id`, t.pred.args...)
		if err != nil {
			return out, fmt.Errorf("%w: purge: %w", importer.ErrStore, err)
		}
		for rows.Next() {
			var g string
			if err := rows.Scan(&g); err != nil {
				rows.Close()
				return out, fmt.Errorf("%w: purge: %w", importer.ErrStore, err)
			}
			out.groups[g] = true
		}
		rows.Close()
		n, err := execCount(ctx, tx, `DELETE FROM `+t.table+` WHERE `+t.pred.sql, t.pred.args...)
		if err != nil {
			return out, err
		}
		out.records += n
	}
	for _, q := range p.after {
		if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
			return out, fmt.Errorf("%w: purge: %w", importer.ErrStore, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return out, fmt.Errorf("%w: purge: %w", importer.ErrStore, err)
	}
	if out.records > 0 {
		s.checkpoint(ctx)
	}
	return out, nil
}

func execCount(ctx context.Context, tx *sql.Tx, q string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %w", importer.ErrStore, strings.Fields(q)[0], err)
	}
	return res.RowsAffected()
}

// checkpoint writes the WAL into the file and frees the deleted rows'
// blocks. It fails while another connection has a transaction open, so it
// is tried a few times (at most ~10 s); without it DuckDB's automatic
// checkpoint does it later (nothing is lost).
func (s *Store) checkpoint(ctx context.Context) {
	var err error
	for try := range 20 {
		if _, err = s.conn.ExecContext(ctx, `CHECKPOINT`); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(try+1) * 50 * time.Millisecond):
		}
	}
	s.log.Warn("flow-log retention: checkpoint deferred to DuckDB's automatic one", "err", err)
}
