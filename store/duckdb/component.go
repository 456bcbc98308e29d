package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"

	"github.com/flowlens/flowlens/store"
)

var componentName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// DB is the store's database. Components that keep their own tables here
// (DuckDB allows one instance of a file per process) use it for their
// reads and writes; they never touch the flow tables, whose writer is
// Write.
func (s *Store) DB() *sql.DB { return s.db }

// MigrateComponent brings a component's tables to the latest of steps in
// one transaction. Versions are tracked per component in
// component_migrations, so components evolve independently of the flow
// schema and of each other. A file written by a newer binary (a version
// this one does not know) is refused with ErrSchemaTooNew.
func (s *Store) MigrateComponent(ctx context.Context, component string, steps []store.Migration) error {
	if !componentName.MatchString(component) {
		return fmt.Errorf("migrate: bad component name %q", component)
	}
	for i, m := range steps {
		if m.Version != i+1 {
			return fmt.Errorf("migrate %s: step %d has version %d, want %d", component, i, m.Version, i+1)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS component_migrations (
		component  VARCHAR NOT NULL,
		version    INTEGER NOT NULL,
		name       VARCHAR NOT NULL,
		applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
		PRIMARY KEY (component, version))`); err != nil {
		return fmt.Errorf("migrate %s: create component_migrations: %w", component, err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM component_migrations WHERE component = ?`,
		component).Scan(&current); err != nil {
		return fmt.Errorf("migrate %s: read version: %w", component, err)
	}
	if current > len(steps) {
		return fmt.Errorf("migrate %s: %w: file has version %d, this binary knows up to %d",
			component, ErrSchemaTooNew, current, len(steps))
	}
	for _, m := range steps[current:] {
		for _, stmt := range m.Stmts {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate %s to version %d (%s): %w", component, m.Version, m.Name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO component_migrations (component, version, name) VALUES (?, ?, ?)`,
			component, m.Version, m.Name); err != nil {
			return fmt.Errorf("migrate %s: record version %d: %w", component, m.Version, err)
		}
		s.logger.Info("applied schema migration", "component", component, "version", m.Version, "name", m.Name)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate %s: commit: %w", component, err)
	}
	return nil
}
