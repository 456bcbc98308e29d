package flowlog

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/store"
)

// Ingester receives every batch of stored records: the metric-filter
// module implements it. time is each record's start (Unix seconds),
// message its text line as written in the file.
type Ingester interface {
	Ingested(group string, unixSec []int64, messages []string)
}

// ImporterConfig tunes an Importer; zero fields take the defaults.
type ImporterConfig struct {
	// MaxErrors is how many bad lines a summary lists (all are counted).
	MaxErrors int
	// ChunkBytes is the text handed to one parser at a time (default 8 MiB;
	// 4 MiB took a 2 GiB upload's peak RSS from 395 to 240 MB over
	// baseline but made imports ~10% slower, BENCHMARKS.md).
	ChunkBytes int
	// Parsers is the number of parsing goroutines (default: one per
	// core, at most 4; DuckDB inserts on its own threads meanwhile).
	Parsers int
	// TempDir holds uploaded Parquet files while they are imported.
	TempDir string
	// KeepThreads leaves DuckDB's thread count alone during imports.
	// By default an import sets DuckDB's threads to 1 while it runs and
	// restores the setting after: the insert of one Arrow batch runs on
	// one thread anyway, and with worker threads the connection's own
	// thread spins waiting for them, which doubled the CPU per record
	// (2,000,000 records: 3.2 µs/record with 2 threads, 1.8 with 1;
	// BENCHMARKS.md). The setting is the database's: queries running
	// meanwhile get one thread too.
	KeepThreads bool
}

func (c ImporterConfig) withDefaults() ImporterConfig {
	if c.MaxErrors <= 0 {
		c.MaxErrors = 100
	}
	if c.ChunkBytes <= 0 {
		c.ChunkBytes = 8 << 20
	}
	if c.Parsers <= 0 {
		c.Parsers = min(runtime.GOMAXPROCS(0), 4)
	}
	return c
}

// Importer stores flow-log files in a DuckDB store's flowlog_records. It
// works on the component database of any DuckDB store: the server's
// (module flowlog) or a temporary one (flowlens query --files); its
// connection must be DuckDB's, for the Arrow views. Imports are serialized on one
// connection, where the Arrow views live.
type Importer struct {
	cfg     ImporterConfig
	db      store.ComponentDB
	log     *slog.Logger
	sink    Ingester
	metrics *metrics

	mu       sync.Mutex
	conn     *sql.Conn
	feeds    map[uint16]*feed
	formats  map[string]uint16
	nextFile uint32
	dict     *dict
}

// NewImporter migrates the flow-log tables and readies the writer
// connection. sink (may be nil) sees every stored batch; reg (may be nil)
// gets the import counters.
func NewImporter(ctx context.Context, db store.ComponentDB, cfg ImporterConfig, log *slog.Logger, sink Ingester, reg prometheus.Registerer) (*Importer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := db.MigrateComponent(ctx, Component, migrations()); err != nil {
		return nil, err
	}
	im := &Importer{cfg: cfg.withDefaults(), db: db, log: log, sink: sink, metrics: newMetrics(),
		feeds: map[uint16]*feed{}, formats: map[string]uint16{}}
	if reg != nil {
		if err := im.metrics.register(reg); err != nil {
			return nil, err
		}
	}
	var err error
	if im.conn, err = db.DB().Conn(ctx); err != nil {
		return nil, fmt.Errorf("flow-log importer connection: %w", err)
	}
	if err := im.load(ctx); err != nil {
		im.conn.Close()
		return nil, err
	}
	return im, nil
}

func (im *Importer) load(ctx context.Context) error {
	rows, err := im.conn.QueryContext(ctx, `SELECT id, fields FROM flowlog_formats`)
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
		im.formats[names] = id
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load flow-log formats: %w", err)
	}
	if err := im.conn.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) + 1 FROM flowlog_files`).Scan(&im.nextFile); err != nil {
		return fmt.Errorf("load flow-log files: %w", err)
	}
	im.dict, err = loadDict(ctx, im.conn)
	return err
}

// Close releases the writer connection and its views.
func (im *Importer) Close() error {
	im.mu.Lock()
	defer im.mu.Unlock()
	var errs []error
	if len(im.feeds) > 0 {
		errs = append(errs, im.conn.Raw(func(dc any) error {
			var err error
			for _, fd := range im.feeds {
				err = errors.Join(err, fd.close(context.Background(), dc))
			}
			return err
		}))
	}
	im.feeds = nil
	errs = append(errs, im.conn.Close())
	return errors.Join(errs...)
}

// Request describes one file (or one upload) to import.
type Request struct {
	Group string
	// Stream is the log stream of every record; empty: each record's
	// interface-id (or the source name when the format has none).
	Stream string
	// Format of the records; nil: the file's header line, else the
	// default format. A header that disagrees with Format is an error.
	Format *Format
	// Source names the file in reports and in flowlog_files.
	Source string
	// SHA256 (hex) of the bytes r will yield, when known: a file already
	// imported into the group is then skipped without reading it, and the
	// content is checked against it. Unknown, it is computed while reading
	// and a duplicate is rolled back at the end.
	SHA256 string
	// Size of the content when known (progress only).
	Size int64
	// MaxDecompressedBytes, when > 0, bounds the text a gzip file
	// decompresses to: beyond it the import fails with ErrTooLarge.
	MaxDecompressedBytes int64
	// Progress, when set, is called with the bytes read so far.
	Progress func(read int64)
}

// FileSummary is the outcome of importing one file.
type FileSummary struct {
	Source     string      `json:"source"`
	SHA256     string      `json:"sha256,omitempty"`
	Format     string      `json:"format,omitempty"`
	Records    int64       `json:"records"`
	BadLines   int64       `json:"bad_lines"`
	Bytes      int64       `json:"bytes"`
	Duplicate  bool        `json:"duplicate,omitempty"`
	Errors     []LineError `json:"errors,omitempty"`
	Error      string      `json:"error,omitempty"`
	DurationMs float64     `json:"duration_ms"`
}

// Sentinel errors callers test.
var (
	ErrGroup    = errors.New("bad log group name")
	ErrChecksum = errors.New("content does not match the given sha256")
	// ErrStore marks a failure of the database rather than of the input.
	ErrStore = errors.New("flow-log store")
)

// CheckGroup validates a log group or stream name: 1-512 characters, no
// control characters (AWS allows a-z A-Z 0-9 _ - / . # and more).
func CheckGroup(name string) error {
	if name == "" || len(name) > 512 {
		return fmt.Errorf("%w: %q must be 1-512 characters", ErrGroup, clip(name))
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: %q has control characters", ErrGroup, clip(name))
		}
	}
	return checkGroupPath(name)
}

// Duplicate says whether a file with this content was already imported
// into group.
func (im *Importer) Duplicate(ctx context.Context, group, sha string) (bool, error) {
	var n int
	err := im.db.DB().QueryRowContext(ctx, `SELECT count(*) FROM flowlog_files WHERE log_group = ? AND sha256 = ?`,
		group, strings.ToLower(sha)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("%w: check flow-log file: %w", ErrStore, err)
	}
	return n > 0, nil
}

// Import reads one file's content from r (plain text, gzip, or Parquet,
// recognized by its first bytes) and stores its records in one
// transaction: a file is imported whole or not at all, and a file whose
// content was already imported into the group stores nothing. Bad lines
// are skipped and reported in the summary; an error means nothing was
// stored.
func (im *Importer) Import(ctx context.Context, req Request, r io.Reader) (*FileSummary, error) {
	t0 := time.Now()
	sum := &FileSummary{Source: req.Source, SHA256: strings.ToLower(req.SHA256)}
	if err := CheckGroup(req.Group); err != nil {
		return sum, err
	}
	if req.Stream != "" {
		if err := CheckGroup(req.Stream); err != nil {
			return sum, fmt.Errorf("stream: %w", err)
		}
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.feeds == nil {
		return sum, errors.New("flow-log importer is closed")
	}
	if sum.SHA256 != "" {
		dup, err := im.Duplicate(ctx, req.Group, sum.SHA256)
		if err != nil {
			return sum, err
		}
		if dup {
			sum.Duplicate = true
			im.metrics.duplicates.Inc()
			return sum, nil
		}
	}
	defer lowerGCWhileImporting()()
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(r, h), progress: req.Progress}
	br := bufio.NewReaderSize(cr, 1<<20)
	magic, _ := br.Peek(4)
	var err error
	switch {
	case len(magic) >= 4 && string(magic) == "PAR1":
		err = im.importParquetStream(ctx, req, br, sum, h)
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(br); err == nil {
			err = im.importTextOneThread(ctx, req, capDecompressed(zr, req.MaxDecompressedBytes), sum, cr, h)
		} else {
			err = fmt.Errorf("%s: gzip: %w", req.Source, err)
		}
	default:
		err = im.importTextOneThread(ctx, req, br, sum, cr, h)
	}
	sum.Bytes = cr.n
	sum.DurationMs = float64(time.Since(t0).Microseconds()) / 1000
	if err != nil {
		im.metrics.failed.Inc()
		return sum, err
	}
	if !sum.Duplicate {
		im.metrics.files.Inc()
		im.metrics.records.Add(float64(sum.Records))
		im.metrics.badLines.Add(float64(sum.BadLines))
		im.metrics.bytes.Add(float64(sum.Bytes))
	} else {
		im.metrics.duplicates.Inc()
	}
	return sum, nil
}

// importTextOneThread is importText with DuckDB on one thread (unless
// KeepThreads). Parquet imports keep every thread: DuckDB reads and
// inserts them in parallel.
func (im *Importer) importTextOneThread(ctx context.Context, req Request, r io.Reader, sum *FileSummary, cr *countingReader, h hash.Hash) error {
	if !im.cfg.KeepThreads {
		restore, err := im.oneThread(ctx)
		if err != nil {
			return err
		}
		defer restore()
	}
	return im.importText(ctx, req, r, sum, cr, h)
}

// oneThread sets DuckDB's threads to 1 and returns what restores the
// previous value.
func (im *Importer) oneThread(ctx context.Context) (func(), error) {
	var prev int64
	if err := im.conn.QueryRowContext(ctx, `SELECT current_setting('threads')`).Scan(&prev); err != nil {
		return nil, fmt.Errorf("%w: read DuckDB threads: %w", ErrStore, err)
	}
	if prev <= 1 {
		return func() {}, nil
	}
	if _, err := im.conn.ExecContext(ctx, `SET threads = 1`); err != nil {
		return nil, fmt.Errorf("%w: set DuckDB threads: %w", ErrStore, err)
	}
	return func() {
		// A fresh context: the import's may be cancelled already.
		if _, err := im.conn.ExecContext(context.Background(), fmt.Sprintf("SET threads = %d", prev)); err != nil {
			im.log.Warn("restore DuckDB threads after a flow-log import", "threads", prev, "err", err)
		}
	}, nil
}

type countingReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil && n > 0 {
		c.progress(c.n)
	}
	return n, err
}

// fileTx is one file's transaction on the importer's connection.
type fileTx struct {
	tx       *sql.Tx
	fileID   uint32
	dictMark int
}

func (im *Importer) begin(ctx context.Context) (*fileTx, error) {
	tx, err := im.conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: begin flow-log import: %w", ErrStore, err)
	}
	id := im.nextFile
	im.nextFile++ // a rolled-back id is simply never used
	return &fileTx{tx: tx, fileID: id, dictMark: im.dict.mark()}, nil
}

// rollback abandons the file's transaction and the strings it added.
func (im *Importer) rollback(ft *fileTx) error {
	im.dict.rollback(ft.dictMark)
	return ft.tx.Rollback()
}

// finish records the file and commits, or rolls back when the content
// turns out to be a duplicate or not what the caller announced.
func (im *Importer) finish(ctx context.Context, ft *fileTx, req Request, sum *FileSummary, h hash.Hash) error {
	got := hex.EncodeToString(h.Sum(nil))
	if sum.SHA256 != "" && sum.SHA256 != got {
		im.rollback(ft) //nolint:errcheck // already failing
		return fmt.Errorf("%s: %w (given %s, read %s)", req.Source, ErrChecksum, sum.SHA256, got)
	}
	sum.SHA256 = got
	var n int
	if err := ft.tx.QueryRowContext(ctx, `SELECT count(*) FROM flowlog_files WHERE log_group = ? AND sha256 = ?`,
		req.Group, got).Scan(&n); err != nil {
		im.rollback(ft) //nolint:errcheck // already failing
		return fmt.Errorf("%w: check flow-log file: %w", ErrStore, err)
	}
	if n > 0 {
		sum.Duplicate, sum.Records, sum.BadLines, sum.Errors = true, 0, 0, nil
		return im.rollback(ft)
	}
	if _, err := ft.tx.ExecContext(ctx, `INSERT INTO flowlog_files (id, log_group, source, sha256, records, bad_lines, bytes, imported_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)`, ft.fileID, req.Group, req.Source, got, sum.Records, sum.BadLines, sum.Bytes); err != nil {
		im.rollback(ft) //nolint:errcheck // already failing
		return fmt.Errorf("%w: record flow-log file: %w", ErrStore, err)
	}
	if err := ft.tx.Commit(); err != nil {
		return fmt.Errorf("%w: commit flow-log import of %s: %w", ErrStore, req.Source, err)
	}
	return nil
}

// formatID returns the id of f in flowlog_formats, adding it (in its own
// statement, so that a rolled-back import never leaves a stale id).
func (im *Importer) formatID(ctx context.Context, f *Format) (uint16, error) {
	names := f.Names()
	if id, ok := im.formats[names]; ok {
		return id, nil
	}
	var id uint16
	err := im.conn.QueryRowContext(ctx, `INSERT INTO flowlog_formats (id, fields)
		SELECT coalesce(max(id), 0) + 1, ? FROM flowlog_formats RETURNING id`, names).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("%w: record flow-log format: %w", ErrStore, err)
	}
	im.formats[names] = id
	return id, nil
}

// feedFor returns the Arrow view of format id, registering it once.
func (im *Importer) feedFor(id uint16, f *Format) (*feed, error) {
	if fd, ok := im.feeds[id]; ok {
		return fd, nil
	}
	var fd *feed
	err := im.conn.Raw(func(dc any) error {
		var err error
		fd, err = newFeed(dc, id, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	im.feeds[id] = fd
	return fd, nil
}

// insertSQL is the statement that moves a staged batch into the table.
// Per-file values are parameters: log group (wide table only), stream
// default, file id, format id, and the version when the format has no
// version field.
func insertSQL(fd *feed, f *Format, fixedStream bool) string {
	stream := `coalesce("interface_id", ?)`
	if fixedStream || f.ifacePos < 0 {
		stream = "?"
	}
	cols, sel := []string{"log_stream", "file_id", "format_id"}, []string{stream, "?", "?"}
	if rowsCarryGroup(f) {
		cols, sel = append([]string{"log_group"}, cols...), append([]string{"?"}, sel...)
	}
	if f.versionPos < 0 {
		cols = append(cols, `"version"`)
		sel = append(sel, "?")
	}
	for i := range f.Len() {
		c := `"` + f.Field(i).Column + `"`
		cols = append(cols, c)
		sel = append(sel, c)
	}
	return "INSERT INTO " + physicalTable(f) + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(sel, ", ") + " FROM " + fd.name
}

// d, when not nil, dictionary-encodes the stream (flowlog_records_v2f).
func insertArgs(req Request, f *Format, fileID uint32, formatID uint16, d *dict) []any {
	stream := req.Stream
	if stream == "" {
		stream = baseName(req.Source)
	}
	var streamArg any = stream
	if d != nil {
		streamArg = d.idString(stream)
	}
	args := []any{streamArg, fileID, formatID}
	if rowsCarryGroup(f) {
		args = append([]any{req.Group}, args...)
	}
	if f.versionPos < 0 {
		args = append(args, int32(f.version))
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

// importText parses newline-delimited records and inserts them batch by
// batch. Parsing runs on Parsers goroutines over large chunks while this
// goroutine inserts the previous ones, in order.
func (im *Importer) importText(ctx context.Context, req Request, r io.Reader, sum *FileSummary, cr *countingReader, h hash.Hash) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 1<<20)
	}
	f, header, err := im.detectFormat(req, br)
	if err != nil {
		return err
	}
	sum.Format = f.String()
	fid, err := im.formatID(ctx, f)
	if err != nil {
		return err
	}
	fd, err := im.feedFor(fid, f)
	if err != nil {
		return err
	}
	ft, err := im.begin(ctx)
	if err != nil {
		return err
	}
	query := insertSQL(fd, f, req.Stream != "")
	var d *dict
	if physicalTable(f) == tableV2F {
		d = im.dict
	}
	args := insertArgs(req, f, ft.fileID, fid, d)

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := im.parseChunks(pctx, br, f, header, d)
	var firstErr error
	// Metric filters see records as they are stored. When the content's
	// hash is unknown until the end, a duplicate is only found then, so
	// the notifications wait for the commit.
	var later []notification
	// One chunk per INSERT. Staging several records lets DuckDB scan
	// them on several threads, but each thread then writes its own
	// partly filled row groups (1.35-1.5x the storage, measured, and no
	// faster on 2 cores), and a 10M-record run built that way stored
	// ~9,000 values as NULL: the feed is for one record per scan.
	for c := range chunks {
		if firstErr == nil {
			firstErr = c.err
		}
		if firstErr == nil {
			sum.BadLines += c.bad
			for _, e := range c.errs {
				if len(sum.Errors) < im.cfg.MaxErrors {
					e.File = req.Source
					sum.Errors = append(sum.Errors, e)
				}
			}
		}
		if b := c.batch; firstErr == nil && b != nil && b.n > 0 {
			firstErr = im.insertBatch(ctx, ft.tx, fd, b, query, args, d)
			if firstErr == nil {
				sum.Records += int64(b.n)
				later = im.notify(req.Group, b, later, sum.SHA256 == "")
			}
		}
		c.done()
		if firstErr != nil {
			cancel()
		}
	}
	if firstErr == nil {
		firstErr = ctx.Err() // cancelled: the reader stopped early
	}
	if firstErr == nil && sum.Records == 0 && sum.BadLines > 0 {
		// Not one record: the wrong format or not a flow log at all.
		// Recording it as imported would hide the mistake.
		firstErr = fmt.Errorf("%s: %w: none of its %d lines is a record in the format %q (first: %s)",
			req.Source, ErrRecord, sum.BadLines, f.String(), &sum.Errors[0])
	}
	if firstErr != nil {
		im.rollback(ft) //nolint:errcheck // already failing
		if !strings.HasPrefix(firstErr.Error(), req.Source+":") {
			firstErr = fmt.Errorf("%s: %w", req.Source, firstErr)
		}
		return firstErr
	}
	// The bufio.Reader may hold bytes the parser never asked for only
	// when the stream ended, so the count and hash are complete here.
	sum.Bytes = cr.n
	if err := im.finish(ctx, ft, req, sum, h); err != nil || sum.Duplicate {
		return err
	}
	for _, n := range later {
		im.sink.Ingested(req.Group, n.times, n.msgs)
	}
	return nil
}

// detectFormat reads the header line, if any, and settles the format.
func (im *Importer) detectFormat(req Request, br *bufio.Reader) (*Format, []byte, error) {
	first, err := peekLine(br)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", req.Source, err)
	}
	f := req.Format
	if IsHeader(first) {
		hf, err := ParseHeader(string(first))
		if err != nil {
			return nil, nil, fmt.Errorf("%s:1: header: %w", req.Source, err)
		}
		if f != nil && !f.Equal(hf) {
			return nil, nil, fmt.Errorf("%s:1: %w: the header line says %q, the given format is %q",
				req.Source, ErrFormat, hf.Names(), f.Names())
		}
		// first points into the reader's buffer: keep a copy.
		return hf, bytes.Clone(bytes.TrimRight(first, "\r")), nil
	}
	if f == nil {
		f = Default
	}
	return f, nil, nil
}

// peekLine returns the first line without consuming it (up to the
// buffer's size).
func peekLine(br *bufio.Reader) ([]byte, error) {
	for n := 4096; ; n *= 2 {
		b, err := br.Peek(n)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return b[:i], nil
		}
		if err != nil || n >= br.Size() {
			if err == io.EOF || err == bufio.ErrBufferFull || err == nil {
				return b, nil
			}
			return nil, err
		}
	}
}

// d (nil for the wide table) encodes the dictionary columns; the strings
// it adds are written first, in the same transaction.
func (im *Importer) insertBatch(ctx context.Context, tx *sql.Tx, fd *feed, b *Batch, query string, args []any, d *dict) error {
	rec := fd.record(b)
	if d != nil {
		if err := d.flush(ctx, tx); err != nil {
			rec.Release()
			return err
		}
	}
	fd.view.Stage(rec)
	rec.Release()
	defer fd.view.Drop()
	if _, err := tx.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("%w: insert flow-log records: %w", ErrStore, err)
	}
	return nil
}

type notification struct {
	times []int64
	msgs  []string
}

// notify hands a stored batch to the sink now, or queues it for after the
// commit.
func (im *Importer) notify(group string, b *Batch, later []notification, wait bool) []notification {
	if im.sink == nil || !b.keepText {
		return later
	}
	if wait {
		return append(later, notification{b.starts(), b.texts()})
	}
	im.sink.Ingested(group, b.starts(), b.texts())
	return later
}

// FileInfo is one imported file.
type FileInfo struct {
	ID         uint32    `json:"id"`
	Group      string    `json:"group"`
	Source     string    `json:"source"`
	SHA256     string    `json:"sha256"`
	Records    int64     `json:"records"`
	BadLines   int64     `json:"bad_lines"`
	Bytes      int64     `json:"bytes"`
	ImportedAt time.Time `json:"imported_at"`
}

// File returns the file with this content in group, or nil.
func (im *Importer) File(ctx context.Context, group, sha string) (*FileInfo, error) {
	var f FileInfo
	err := im.db.DB().QueryRowContext(ctx, `SELECT id, log_group, source, sha256, records, bad_lines, bytes, imported_at
		FROM flowlog_files WHERE log_group = ? AND sha256 = ?`, group, strings.ToLower(sha)).
		Scan(&f.ID, &f.Group, &f.Source, &f.SHA256, &f.Records, &f.BadLines, &f.Bytes, &f.ImportedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: look up flow-log file: %w", ErrStore, err)
	}
	return &f, nil
}

// copyHash copies r to w and returns the hex sha256 of what it copied.
// Large reads and writes: uploads of hundreds of MB are spooled this way.
func copyHash(w io.Writer, r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.CopyBuffer(io.MultiWriter(w, h), r, make([]byte, 1<<20)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
