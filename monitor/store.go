package monitor

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// Record is a stored monitor: its spec and its bookkeeping.
type Record struct {
	Spec
	Source        string
	Status        string
	StatusMessage string
	Created       time.Time
	Updated       time.Time
}

var migrations = []store.Migration{{Version: 1, Name: "monitors and their evaluations", Stmts: []string{
	`CREATE TABLE monitors (
		name           VARCHAR PRIMARY KEY,
		local          VARCHAR NOT NULL,
		remote         VARCHAR NOT NULL,
		period_ms      BIGINT NOT NULL,
		source         VARCHAR NOT NULL,
		status         VARCHAR NOT NULL,
		status_message VARCHAR NOT NULL,
		created_ms     BIGINT NOT NULL,
		updated_ms     BIGINT NOT NULL
	)`,
	// One row per monitor and evaluated window: the health verdict with its
	// evidence, the metrics and the top contributors, as JSON.
	`CREATE TABLE monitor_evaluations (
		monitor         VARCHAR NOT NULL,
		window_start_ms BIGINT NOT NULL,
		period_ms       BIGINT NOT NULL,
		state           VARCHAR NOT NULL,
		body            VARCHAR NOT NULL
	)`,
}}}

// db keeps monitors in the server's DuckDB file.
type db struct{ sql *sql.DB }

func openDB(ctx context.Context, st store.ComponentDB) (*db, error) {
	if err := st.MigrateComponent(ctx, "monitor", migrations); err != nil {
		return nil, err
	}
	return &db{sql: st.DB()}, nil
}

func (d *db) list(ctx context.Context) ([]Record, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT name, local, remote, period_ms, source, status, status_message,
		created_ms, updated_ms FROM monitors ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list monitors: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var local, remote string
		var period, created, updated int64
		if err := rows.Scan(&r.Name, &local, &remote, &period, &r.Source, &r.Status, &r.StatusMessage, &created, &updated); err != nil {
			return nil, fmt.Errorf("list monitors: %w", err)
		}
		if err := decodeResources(local, &r.Local); err != nil {
			return nil, fmt.Errorf("monitor %s: local: %w", r.Name, err)
		}
		if err := decodeResources(remote, &r.Remote); err != nil {
			return nil, fmt.Errorf("monitor %s: remote: %w", r.Name, err)
		}
		r.Period = time.Duration(period) * time.Millisecond
		r.Created, r.Updated = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

func decodeResources(s string, out *[]topology.Resource) error {
	var strs []string
	if err := json.Unmarshal([]byte(s), &strs); err != nil {
		return err
	}
	for _, v := range strs {
		r, err := topology.ParseResource(v)
		if err != nil {
			return err
		}
		*out = append(*out, r)
	}
	return nil
}

func encodeResources(rs []topology.Resource) string {
	b, _ := json.Marshal(resourceStrings(rs))
	return string(b)
}

// insert adds a monitor; ErrExists when the name is taken.
func (d *db) insert(ctx context.Context, r Record) error {
	var n int
	if err := d.sql.QueryRowContext(ctx, `SELECT count(*) FROM monitors WHERE name = ?`, r.Name).Scan(&n); err != nil {
		return fmt.Errorf("create monitor %s: %w", r.Name, err)
	}
	if n > 0 {
		return fmt.Errorf("%w: %s", ErrExists, r.Name)
	}
	_, err := d.sql.ExecContext(ctx, `INSERT INTO monitors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Name,
		encodeResources(r.Local), encodeResources(r.Remote), r.Period.Milliseconds(), r.Source, r.Status,
		r.StatusMessage, r.Created.UnixMilli(), r.Updated.UnixMilli())
	if err != nil {
		return fmt.Errorf("create monitor %s: %w", r.Name, err)
	}
	return nil
}

// update replaces a monitor's spec; ErrNotFound when there is none.
func (d *db) update(ctx context.Context, r Record) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE monitors SET local = ?, remote = ?, period_ms = ?, source = ?,
		status = ?, status_message = ?, updated_ms = ? WHERE name = ?`, encodeResources(r.Local), encodeResources(r.Remote),
		r.Period.Milliseconds(), r.Source, r.Status, r.StatusMessage, r.Updated.UnixMilli(), r.Name)
	if err != nil {
		return fmt.Errorf("update monitor %s: %w", r.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, r.Name)
	}
	return nil
}

func (d *db) setStatus(ctx context.Context, name, status, msg string) error {
	_, err := d.sql.ExecContext(ctx, `UPDATE monitors SET status = ?, status_message = ? WHERE name = ?`, status, msg, name)
	if err != nil {
		return fmt.Errorf("monitor %s status: %w", name, err)
	}
	return nil
}

// remove deletes a monitor and its evaluations; ErrNotFound when none.
func (d *db) remove(ctx context.Context, name string) error {
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete monitor %s: %w", name, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	res, err := tx.ExecContext(ctx, `DELETE FROM monitors WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete monitor %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM monitor_evaluations WHERE monitor = ?`, name); err != nil {
		return fmt.Errorf("delete monitor %s: %w", name, err)
	}
	return tx.Commit()
}

// saveEvaluations stores a period's evaluations in one transaction.
func (d *db) saveEvaluations(ctx context.Context, evs []*Evaluation) error {
	if len(evs) == 0 {
		return nil
	}
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save evaluations: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	for _, ev := range evs {
		body, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("save evaluation of %s: %w", ev.Monitor, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO monitor_evaluations VALUES (?, ?, ?, ?, ?)`, ev.Monitor,
			ev.WindowStart.UnixMilli(), int64(ev.PeriodSeconds)*1000, string(ev.Health.State), string(body)); err != nil {
			return fmt.Errorf("save evaluation of %s: %w", ev.Monitor, err)
		}
	}
	return tx.Commit()
}

// evaluations returns a monitor's latest evaluations, newest first.
func (d *db) evaluations(ctx context.Context, name string, limit int) ([]*Evaluation, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT body FROM monitor_evaluations WHERE monitor = ?
		ORDER BY window_start_ms DESC LIMIT ?`, name, limit)
	if err != nil {
		return nil, fmt.Errorf("evaluations of %s: %w", name, err)
	}
	defer rows.Close()
	var out []*Evaluation
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("evaluations of %s: %w", name, err)
		}
		ev := &Evaluation{}
		if err := json.Unmarshal([]byte(body), ev); err != nil {
			return nil, fmt.Errorf("evaluations of %s: %w", name, err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// prune drops evaluations older than cutoff.
func (d *db) prune(ctx context.Context, cutoff time.Time) error {
	if _, err := d.sql.ExecContext(ctx, `DELETE FROM monitor_evaluations WHERE window_start_ms < ?`, cutoff.UnixMilli()); err != nil {
		return fmt.Errorf("prune evaluations: %w", err)
	}
	return nil
}
