// Package applogs stores the events of log groups of any text (package
// applog) in the embedded DuckDB: table applog_events (group id, event
// time, ingestion time, message, discovered fields as a flat JSON object)
// and applog_groups (id, name). It describes them to the log query
// language as a logsource.Provider (LogSource). Flow-log groups keep their
// own typed tables (store/duckdb/flowlogs).
package applogs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/flowlens/flowlens/applog"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/store/duckdb/arrowview"
	"github.com/flowlens/flowlens/store/duckdb/onethread"
)

// Component names the migrations of these tables.
const Component = "applog"

// ErrStore marks a failure of the database (not of the input).
var ErrStore = errors.New("application log store")

func migrations() []store.Migration {
	return []store.Migration{{Version: 1, Name: "application log events and groups", Stmts: []string{
		`CREATE TABLE applog_groups (
			id   UINTEGER PRIMARY KEY,
			name VARCHAR NOT NULL UNIQUE
		)`,
		// event_time and ingestion_time are Unix milliseconds; is_json
		// says the message is one JSON object (checked strictly by
		// applog.Discover), so its fields may be read with DuckDB's JSON
		// functions, which fail on anything else.
		`CREATE TABLE applog_events (
			group_id       UINTEGER NOT NULL,
			event_time     BIGINT NOT NULL,
			ingestion_time BIGINT NOT NULL,
			message        VARCHAR NOT NULL,
			is_json        BOOLEAN NOT NULL
		)`,
	}}}
}

// Store writes events on its own connection (one writer at a time).
type Store struct {
	db   *sql.DB
	log  *slog.Logger
	mu   sync.Mutex
	conn *sql.Conn
	view *arrowview.View
	ids  map[string]uint32
	next uint32
}

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "event_time", Type: arrow.PrimitiveTypes.Int64},
	{Name: "message", Type: arrow.BinaryTypes.String},
	{Name: "is_json", Type: arrow.FixedWidthTypes.Boolean},
}, nil)

const viewName = "applog_feed"

// Open migrates the tables in db and takes the writer connection.
func Open(ctx context.Context, db store.ComponentDB, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := db.MigrateComponent(ctx, Component, migrations()); err != nil {
		return nil, err
	}
	s := &Store{db: db.DB(), log: log, ids: map[string]uint32{}}
	var err error
	if s.conn, err = s.db.Conn(ctx); err != nil {
		return nil, fmt.Errorf("%w: connection: %w", ErrStore, err)
	}
	if err := s.loadGroups(ctx); err != nil {
		s.conn.Close()
		return nil, err
	}
	if err := s.conn.Raw(func(dc any) error {
		var err error
		s.view, err = arrowview.Register(dc, viewName, schema)
		return err
	}); err != nil {
		s.conn.Close()
		return nil, fmt.Errorf("%w: %w", ErrStore, err)
	}
	return s, nil
}

func (s *Store) loadGroups(ctx context.Context) error {
	rows, err := s.conn.QueryContext(ctx, `SELECT id, name FROM applog_groups`)
	if err != nil {
		return fmt.Errorf("%w: load groups: %w", ErrStore, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uint32
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return fmt.Errorf("%w: load groups: %w", ErrStore, err)
		}
		s.ids[name] = id
		s.next = max(s.next, id)
	}
	return rows.Err()
}

// Close drops the view and releases the connection.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Raw(func(dc any) error { return s.view.Close(context.Background(), dc) })
	err = errors.Join(err, s.conn.Close())
	s.conn = nil
	return err
}

// Append stores batches of one group in one transaction: all or nothing.
// ingestionMs is every event's @ingestionTime.
func (s *Store) Append(ctx context.Context, group string, ingestionMs int64, batches []*applog.Batch) error {
	w, err := s.Begin(ctx, group, ingestionMs)
	if err != nil {
		return err
	}
	for _, b := range batches {
		if err := w.Write(ctx, b); err != nil {
			w.Rollback()
			return err
		}
	}
	return w.Commit()
}

// Writer is one transaction adding events to one group; the store's
// writer connection is its own until Commit or Rollback.
type Writer struct {
	s        *Store
	tx       *sql.Tx
	id       uint32
	ingest   int64
	newGroup string
	done     bool
	release  func() error
}

func (s *Store) releaseThreads(release func() error) {
	if err := release(); err != nil {
		s.log.Warn("application log import", "err", err)
	}
}

// Begin starts a transaction adding events to group, each with
// @ingestionTime ingestionMs.
func (s *Store) Begin(ctx context.Context, group string, ingestionMs int64) (*Writer, error) {
	s.mu.Lock()
	if s.conn == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: closed", ErrStore)
	}
	// One DuckDB thread while inserting (see package onethread).
	release, err := onethread.Hold(ctx, s.db, s.conn)
	if err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrStore, err)
	}
	tx, err := s.conn.BeginTx(ctx, nil)
	if err != nil {
		s.releaseThreads(release)
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: begin: %w", ErrStore, err)
	}
	w := &Writer{s: s, tx: tx, ingest: ingestionMs, release: release}
	id, ok := s.ids[group]
	if !ok {
		s.next++
		id, w.newGroup = s.next, group
		s.ids[group] = id
		if _, err := tx.ExecContext(ctx, `INSERT INTO applog_groups (id, name) VALUES (?, ?)`, id, group); err != nil {
			w.Rollback()
			return nil, fmt.Errorf("%w: add group: %w", ErrStore, err)
		}
	}
	w.id = id
	return w, nil
}

const insertSQL = `INSERT INTO applog_events SELECT ?, event_time, ?, message, is_json FROM ` + viewName

// Write inserts one batch.
func (w *Writer) Write(ctx context.Context, b *applog.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	rec := record(b)
	w.s.view.Stage(rec)
	rec.Release()
	_, err := w.tx.ExecContext(ctx, insertSQL, w.id, w.ingest)
	w.s.view.Drop()
	if err != nil {
		return fmt.Errorf("%w: insert events: %w", ErrStore, err)
	}
	return nil
}

// Commit makes the events durable.
func (w *Writer) Commit() error {
	if w.done {
		return fmt.Errorf("%w: transaction already ended", ErrStore)
	}
	w.done = true
	defer w.s.mu.Unlock()
	defer w.s.releaseThreads(w.release)
	if err := w.tx.Commit(); err != nil {
		w.forgetGroup()
		return fmt.Errorf("%w: commit: %w", ErrStore, err)
	}
	return nil
}

// Rollback abandons the events (safe after Commit: does nothing).
func (w *Writer) Rollback() {
	if w.done {
		return
	}
	w.done = true
	defer w.s.mu.Unlock()
	defer w.s.releaseThreads(w.release)
	w.tx.Rollback() //nolint:errcheck // nothing to keep
	w.forgetGroup()
}

// forgetGroup undoes the id given to a group the transaction added.
func (w *Writer) forgetGroup() {
	if w.newGroup != "" {
		delete(w.s.ids, w.newGroup)
		w.s.next--
	}
}

// record wraps a batch's columns as Arrow arrays without copying.
func record(b *applog.Batch) arrow.Record {
	n := b.Len()
	nonEmpty := func(d []byte) []byte {
		if len(d) == 0 {
			return []byte{0}
		}
		return d
	}
	times := array.NewData(arrow.PrimitiveTypes.Int64, n, []*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(b.Times))}, nil, 0, 0)
	msgs := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{nil,
		memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(b.MsgOffsets)), memory.NewBufferBytes(nonEmpty(b.MsgData))}, nil, 0, 0)
	flds := array.NewData(arrow.FixedWidthTypes.Boolean, n, []*memory.Buffer{nil, memory.NewBufferBytes(nonEmpty(b.JSON))}, nil, 0, 0)
	cols := []arrow.Array{array.MakeFromData(times), array.MakeFromData(msgs), array.MakeFromData(flds)}
	times.Release()
	msgs.Release()
	flds.Release()
	rec := array.NewRecord(schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// Groups lists the groups with their event counts.
func (s *Store) Groups(ctx context.Context) ([]Group, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT g.name, count(e.group_id), coalesce(min(e.event_time), 0), coalesce(max(e.event_time), 0)
		FROM applog_groups g LEFT JOIN applog_events e ON e.group_id = g.id GROUP BY g.name ORDER BY g.name`)
	if err != nil {
		return nil, fmt.Errorf("%w: list groups: %w", ErrStore, err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		var g Group
		if err := rows.Scan(&g.Name, &g.Events, &g.FirstMs, &g.LastMs); err != nil {
			return nil, fmt.Errorf("%w: list groups: %w", ErrStore, err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Group is one application log group's content.
type Group struct {
	Name    string `json:"name"`
	Events  int64  `json:"events"`
	FirstMs int64  `json:"first_ms"`
	LastMs  int64  `json:"last_ms"`
}
