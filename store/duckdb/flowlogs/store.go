// Package flowlogs is the DuckDB storage of flow-log records: the schema and
// its migrations (component "flowlog"), the Arrow insert of parsed batches,
// the dictionary of text values, Parquet files read by DuckDB, the file
// registry and the groups listing. *Store implements importer.Store.
package flowlogs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/store/duckdb/onethread"
)

// Config tunes the storage.
type Config struct {
	// KeepThreads leaves DuckDB's thread count alone during text imports.
	// By default a text import sets DuckDB's threads to 1 while it runs
	// and restores the setting after: the insert of one Arrow batch runs
	// on one thread anyway, and with worker threads the connection's own
	// thread spins waiting for them, which doubled the CPU per record
	// (2,000,000 records: 3.2 µs/record with 2 threads, 1.8 with 1;
	// BENCHMARKS.md). The setting is the database's: queries running
	// meanwhile get one thread too.
	KeepThreads bool
}

// Store keeps flow-log records in a DuckDB database. Writes are serialized
// on one connection, where the Arrow views live; File and Groups use the
// pool.
type Store struct {
	cfg Config
	db  *sql.DB
	log *slog.Logger

	mu       sync.Mutex // one file transaction at a time
	conn     *sql.Conn
	feeds    map[uint16]*feed
	formats  map[string]uint16
	nextFile uint32
	dict     *dict
}

var _ importer.Store = (*Store)(nil)

// Open migrates the flow-log tables of db (a DuckDB database) and readies
// the writer connection. It works on any DuckDB store: the server's or a
// temporary one (flowlens query --files).
func Open(ctx context.Context, db store.ComponentDB, cfg Config, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := db.MigrateComponent(ctx, Component, migrations()); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, db: db.DB(), log: log, feeds: map[uint16]*feed{}, formats: map[string]uint16{}}
	var err error
	if s.conn, err = s.db.Conn(ctx); err != nil {
		return nil, fmt.Errorf("flow-log importer connection: %w", err)
	}
	if err := s.load(ctx); err != nil {
		s.conn.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) load(ctx context.Context) error {
	rows, err := s.conn.QueryContext(ctx, `SELECT id, fields FROM flowlog_formats`)
	if err != nil {
		return fmt.Errorf("load flow-log formats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uint16
		var names string
		if err := rows.Scan(&id, &names); err != nil {
			return fmt.Errorf("load flow-log formats: %w", err)
		}
		s.formats[names] = id
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load flow-log formats: %w", err)
	}
	if err := s.conn.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) + 1 FROM flowlog_files`).Scan(&s.nextFile); err != nil {
		return fmt.Errorf("load flow-log files: %w", err)
	}
	s.dict, err = loadDict(ctx, s.conn)
	return err
}

// Close releases the writer connection and its views.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.feeds == nil {
		return nil
	}
	var errs []error
	if len(s.feeds) > 0 {
		errs = append(errs, s.conn.Raw(func(dc any) error {
			var err error
			for _, fd := range s.feeds {
				err = errors.Join(err, fd.close(context.Background(), dc))
			}
			return err
		}))
	}
	s.feeds = nil
	errs = append(errs, s.conn.Close())
	return errors.Join(errs...)
}

// File returns the file with this content in group, or nil.
func (s *Store) File(ctx context.Context, group, sha string) (*flowlog.FileInfo, error) {
	var f flowlog.FileInfo
	err := s.db.QueryRowContext(ctx, `SELECT id, log_group, source, sha256, records, bad_lines, bytes, imported_at
		FROM flowlog_files WHERE log_group = ? AND sha256 = ?`, group, strings.ToLower(sha)).
		Scan(&f.ID, &f.Group, &f.Source, &f.SHA256, &f.Records, &f.BadLines, &f.Bytes, &f.ImportedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: look up flow-log file: %w", importer.ErrStore, err)
	}
	return &f, nil
}

// fileTx is one file's transaction on the writer connection; it holds
// Store.mu until it ends.
type fileTx struct {
	s        *Store
	tx       *sql.Tx
	fileID   uint32
	dictMark int
	restore  func() // puts back DuckDB's threads
	file     importer.FileMeta
	// beforeCommit, when set, runs in the transaction after the file's
	// row is written, before the commit.
	beforeCommit func(ctx context.Context, tx *sql.Tx) error
}

// begin opens a transaction (s.mu held, released when it ends); restore
// (may be nil) runs when it ends.
func (s *Store) begin(ctx context.Context, file importer.FileMeta, restore func()) (*fileTx, error) {
	tx, err := s.conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: begin flow-log import: %w", importer.ErrStore, err)
	}
	id := s.nextFile
	s.nextFile++ // a rolled-back id is simply never used
	return &fileTx{s: s, tx: tx, fileID: id, dictMark: s.dict.mark(), restore: restore, file: file}, nil
}

// end releases the writer after a commit or rollback.
func (ft *fileTx) end() {
	if ft.restore != nil {
		ft.restore()
		ft.restore = nil
	}
	if ft.s != nil {
		ft.s.mu.Unlock()
		ft.s = nil
	}
}

// Rollback abandons the file's transaction and the strings it added.
func (ft *fileTx) Rollback() error {
	if ft.s == nil {
		return errors.New("flow-log file transaction already ended")
	}
	defer ft.end()
	ft.s.dict.rollback(ft.dictMark)
	return ft.tx.Rollback()
}

// Commit records the file and commits, or rolls back when the group
// already has this content.
func (ft *fileTx) Commit(ctx context.Context, rec importer.FileRecord) (bool, error) {
	if ft.s == nil {
		return false, errors.New("flow-log file transaction already ended")
	}
	var n int
	if err := ft.tx.QueryRowContext(ctx, `SELECT count(*) FROM flowlog_files WHERE log_group = ? AND sha256 = ?`,
		ft.file.Group, rec.SHA256).Scan(&n); err != nil {
		ft.Rollback() //nolint:errcheck // already failing
		return false, fmt.Errorf("%w: check flow-log file: %w", importer.ErrStore, err)
	}
	if n > 0 {
		return true, ft.Rollback()
	}
	if _, err := ft.tx.ExecContext(ctx, `INSERT INTO flowlog_files (id, log_group, source, sha256, records, bad_lines, bytes, imported_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)`, ft.fileID, ft.file.Group, ft.file.Source, rec.SHA256, rec.Records, rec.BadLines, rec.Bytes); err != nil {
		ft.Rollback() //nolint:errcheck // already failing
		return false, fmt.Errorf("%w: record flow-log file: %w", importer.ErrStore, err)
	}
	if ft.beforeCommit != nil {
		if err := ft.beforeCommit(ctx, ft.tx); err != nil {
			ft.Rollback() //nolint:errcheck // already failing
			return false, fmt.Errorf("%w: flow-log import of %s: %w", importer.ErrStore, ft.file.Source, err)
		}
	}
	defer ft.end()
	if err := ft.tx.Commit(); err != nil {
		return false, fmt.Errorf("%w: commit flow-log import of %s: %w", importer.ErrStore, ft.file.Source, err)
	}
	return false, nil
}

// lock takes the writer for one file; the returned release undoes it
// unless keep was called (the file's transaction then releases it).
func (s *Store) lock() (release func(), keep func(), err error) {
	s.mu.Lock()
	held := true
	release = func() {
		if held {
			s.mu.Unlock()
		}
	}
	if s.feeds == nil {
		s.mu.Unlock()
		return func() {}, func() {}, errors.New("flow-log store is closed")
	}
	return release, func() { held = false }, nil
}

// oneThread sets DuckDB's threads to 1 and returns what restores the
// previous value; the count is shared with the application-log store
// (package onethread), so overlapping imports restore the right value.
func (s *Store) oneThread(ctx context.Context) (func(), error) {
	release, err := onethread.Hold(ctx, s.db, s.conn)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", importer.ErrStore, err)
	}
	return func() {
		if err := release(); err != nil {
			s.log.Warn("after a flow-log import", "err", err)
		}
	}, nil
}

// formatID returns the id of f in flowlog_formats, adding it (in its own
// statement, so that a rolled-back import never leaves a stale id).
func (s *Store) formatID(ctx context.Context, f *flowlog.Format) (uint16, error) {
	names := f.Names()
	if id, ok := s.formats[names]; ok {
		return id, nil
	}
	var id uint16
	err := s.conn.QueryRowContext(ctx, `INSERT INTO flowlog_formats (id, fields)
		SELECT coalesce(max(id), 0) + 1, ? FROM flowlog_formats RETURNING id`, names).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("%w: record flow-log format: %w", importer.ErrStore, err)
	}
	s.formats[names] = id
	return id, nil
}

// feedFor returns the Arrow view of format id, registering it once.
func (s *Store) feedFor(id uint16, f *flowlog.Format) (*feed, error) {
	if fd, ok := s.feeds[id]; ok {
		return fd, nil
	}
	var fd *feed
	err := s.conn.Raw(func(dc any) error {
		var err error
		fd, err = newFeed(dc, id, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.feeds[id] = fd
	return fd, nil
}

// BeginText opens one text file's transaction: its format recorded, its
// Arrow view ready, DuckDB on one thread (unless KeepThreads).
func (s *Store) BeginText(ctx context.Context, file importer.FileMeta, f *flowlog.Format) (importer.TextWriter, error) {
	release, keep, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer release()
	restore := func() {}
	if !s.cfg.KeepThreads {
		if restore, err = s.oneThread(ctx); err != nil {
			return nil, err
		}
	}
	fid, err := s.formatID(ctx, f)
	if err != nil {
		restore()
		return nil, err
	}
	fd, err := s.feedFor(fid, f)
	if err != nil {
		restore()
		return nil, err
	}
	ft, err := s.begin(ctx, file, restore)
	if err != nil {
		restore()
		return nil, err
	}
	w := &textWriter{fileTx: ft, fd: fd, query: insertSQL(fd, f, file.Stream != "")}
	if physicalTable(f) == tableV2F {
		w.d = s.dict
		for i, enc := range dictEncoded(f) {
			if enc {
				w.encoded = append(w.encoded, i)
			}
		}
	}
	w.args = insertArgs(file, f, ft.fileID, fid, w.d)
	if w.d != nil {
		w.startPos = f.Position("start")
	}
	keep()
	return w, nil
}

// textWriter inserts one text file's batches.
type textWriter struct {
	*fileTx
	fd      *feed
	query   string
	args    []any
	d       *dict // nil: the wide table, nothing encoded
	encoded []int // the columns stored as dictionary ids
	// startPos is start's position in the narrow table's formats; a
	// batch with a record whose start is "-" makes the file's such
	// records move to the wide table at commit (moveUntimed).
	startPos int
}

// Prepare encodes the dictionary columns on the parser goroutine, each
// with its own cache over the shared dictionary, so that Write only stages
// the batch.
func (w *textWriter) Prepare() func(*flowlog.Batch) {
	if w.d == nil {
		return nil
	}
	ids := newCache(w.d)
	return func(b *flowlog.Batch) {
		for _, k := range w.encoded {
			b.EncodeColumn(k, ids)
		}
	}
}

// Write inserts one batch: the strings it added to the dictionary first,
// in the same transaction, then the batch through the format's view.
func (w *textWriter) Write(ctx context.Context, b *flowlog.Batch) error {
	rec := w.fd.record(b)
	if w.d != nil {
		if err := w.d.flush(ctx, w.tx); err != nil {
			rec.Release()
			return err
		}
	}
	w.fd.view.Stage(rec)
	rec.Release()
	defer w.fd.view.Drop()
	if _, err := w.tx.ExecContext(ctx, w.query, w.args...); err != nil {
		return fmt.Errorf("%w: insert flow-log records: %w", importer.ErrStore, err)
	}
	if w.d != nil && w.fileTx.beforeCommit == nil && b.Column(w.startPos).Nulls > 0 {
		w.fileTx.beforeCommit = w.moveUntimed
	}
	return nil
}

// moveUntimed moves the file's records whose start is "-" from the narrow
// table (where start is the timestamp) to the wide one, with their end or
// the file's time as event_time: rare (AWS writes start even in NODATA
// records), so the narrow table pays nothing for it. It runs after the
// file's row is written (the view needs it to decode the records).
func (w *textWriter) moveUntimed(ctx context.Context, tx *sql.Tx) error {
	var cols []string
	for _, f := range baseFields {
		if f.Version == 2 {
			cols = append(cols, `"`+f.Column+`"`)
		}
	}
	list := strings.Join(cols, ", ")
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+tableAll+` (log_group, log_stream, file_id, format_id, `+list+`, `+colEventTime+`)
		SELECT log_group, log_stream, file_id, format_id, `+list+`, coalesce("end", CAST(? AS BIGINT))
		FROM `+Table+` WHERE file_id = ? AND "start" IS NULL`, w.file.Time, w.fileID); err != nil {
		return fmt.Errorf("move records without start: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+tableV2F+` WHERE file_id = ? AND "start" IS NULL`, w.fileID); err != nil {
		return fmt.Errorf("move records without start: %w", err)
	}
	return nil
}

// insertSQL is the statement that moves a staged batch into the table.
// Per-file values are parameters: log group (wide table only), stream
// default, file id, format id, the version when the format has no
// version field, and (wide table) the time of records without start or
// end (FileMeta.Time). One batch per INSERT: staging several records lets DuckDB
// scan them on several threads, but each thread then writes its own partly
// filled row groups (1.35-1.5x the storage, measured, and no faster on 2
// cores), and a 10M-record run built that way stored ~9,000 values as
// NULL: the feed is for one record per scan.
func insertSQL(fd *feed, f *flowlog.Format, fixedStream bool) string {
	stream := `coalesce("interface_id", ?)`
	if fixedStream || f.Position("interface-id") < 0 {
		stream = "?"
	}
	cols, sel := []string{"log_stream", "file_id", "format_id"}, []string{stream, "?", "?"}
	if rowsCarryGroup(f) {
		cols, sel = append([]string{"log_group"}, cols...), append([]string{"?"}, sel...)
	}
	if f.Position("version") < 0 {
		cols = append(cols, `"version"`)
		sel = append(sel, "?")
	}
	var extra []string
	for i := range f.Len() {
		if f.UnknownIndex(i) >= 0 {
			extra = append(extra, `"`+feedColumn(f, i)+`"`)
			continue
		}
		c := `"` + f.Field(i).Column + `"`
		cols = append(cols, c)
		sel = append(sel, c)
	}
	if len(extra) > 0 {
		cols = append(cols, colExtra)
		sel = append(sel, "list_value("+strings.Join(extra, ", ")+")")
	}
	if physicalTable(f) == tableAll {
		cols = append(cols, colEventTime)
		sel = append(sel, eventTimeSQL(f, `"start"`, `"end"`))
	}
	return "INSERT INTO " + physicalTable(f) + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(sel, ", ") + " FROM " + fd.name
}

// eventTimeSQL is a record's timestamp: start, else end, else the file's
// time (one parameter); start and end are the SQL of those fields.
func eventTimeSQL(f *flowlog.Format, start, end string) string {
	var parts []string
	if f.Position("start") >= 0 {
		parts = append(parts, start)
	}
	if f.Position("end") >= 0 {
		parts = append(parts, end)
	}
	return "coalesce(" + strings.Join(append(parts, "CAST(? AS BIGINT)"), ", ") + ")"
}

// d, when not nil, dictionary-encodes the stream (flowlog_records_v2f).
func insertArgs(file importer.FileMeta, f *flowlog.Format, fileID uint32, formatID uint16, d *dict) []any {
	stream := file.Stream
	if stream == "" {
		stream = baseName(file.Source)
	}
	var streamArg any = stream
	if d != nil {
		streamArg = d.idString(stream)
	}
	args := []any{streamArg, fileID, formatID}
	if rowsCarryGroup(f) {
		args = append([]any{file.Group}, args...)
	}
	if f.Position("version") < 0 {
		args = append(args, int32(f.Version()))
	}
	if physicalTable(f) == tableAll {
		args = append(args, file.Time)
	}
	return args
}

func baseName(s string) string {
	if i := strings.LastIndexAny(s, "/\\"); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return "-"
	}
	return s
}
