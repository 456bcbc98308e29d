package store

import (
	"context"
	"database/sql"
	"errors"
)

// Migration is one schema step of a component (flow logs, monitors,
// alarms, metric points, internet monitor) that keeps its own tables in a
// ComponentDB. Steps are applied in Version order (1, 2, ...) and never
// edited once released: a change is a new step.
type Migration struct {
	Version int
	Name    string
	Stmts   []string
}

// ErrSchemaTooNew is returned when a database was written by a newer
// binary than this one (a migration version this binary does not know).
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// ComponentDB is the control node's SQL database, where features keep
// their own small tables (definitions, state, history) next to, but never
// inside, the flow tables. The embedded DuckDB store is one; a scale-out
// deployment keeps these tables on its control node while traffic-sized
// data goes to the scale-out store.
type ComponentDB interface {
	// DB is the database for the component's reads and writes.
	DB() *sql.DB
	// MigrateComponent brings a component's tables to the latest of steps
	// in one transaction; versions are tracked per component.
	MigrateComponent(ctx context.Context, component string, steps []Migration) error
}
