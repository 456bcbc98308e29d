package web

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/flowlens/flowlens/store"
)

// history keeps each user's flow-log queries in the server's DuckDB file,
// so the editor's history survives restarts and follows the user between
// browsers.
type history struct {
	db *sql.DB
}

// historyEntry is one remembered query.
type historyEntry struct {
	At    time.Time
	Group string
	Since string
	Query string
}

var historyMigrations = []store.Migration{{Version: 1, Name: "query history", Stmts: []string{
	`CREATE TABLE web_query_history (
		username  VARCHAR NOT NULL,
		at        TIMESTAMP NOT NULL,
		log_group VARCHAR NOT NULL,
		since     VARCHAR NOT NULL,
		query     VARCHAR NOT NULL)`,
}}}

func openHistory(ctx context.Context, db store.ComponentDB) (*history, error) {
	if err := db.MigrateComponent(ctx, "web", historyMigrations); err != nil {
		return nil, err
	}
	return &history{db: db.DB()}, nil
}

// add remembers a query and keeps the user's newest maxHistoryPerUser.
func (h *history) add(ctx context.Context, user string, e historyEntry) error {
	if _, err := h.db.ExecContext(ctx, `INSERT INTO web_query_history VALUES (?, ?, ?, ?, ?)`,
		user, e.At.UTC(), e.Group, e.Since, e.Query); err != nil {
		return fmt.Errorf("save query history: %w", err)
	}
	_, err := h.db.ExecContext(ctx, `DELETE FROM web_query_history WHERE username = ? AND at < (
		SELECT min(at) FROM (SELECT at FROM web_query_history WHERE username = ? ORDER BY at DESC LIMIT ?))`,
		user, user, maxHistoryPerUser)
	if err != nil {
		return fmt.Errorf("trim query history: %w", err)
	}
	return nil
}

// list returns the user's distinct queries, newest first.
func (h *history) list(ctx context.Context, user string, n int) ([]historyEntry, error) {
	rows, err := h.db.QueryContext(ctx, `SELECT max(at) AS last, log_group, since, query FROM web_query_history
		WHERE username = ? GROUP BY log_group, since, query ORDER BY last DESC LIMIT ?`, user, n)
	if err != nil {
		return nil, fmt.Errorf("read query history: %w", err)
	}
	defer rows.Close()
	var out []historyEntry
	for rows.Next() {
		var e historyEntry
		if err := rows.Scan(&e.At, &e.Group, &e.Since, &e.Query); err != nil {
			return nil, fmt.Errorf("read query history: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
