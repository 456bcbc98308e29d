// Package importer imports flow-log files (text, gzip, Parquet) into a
// record Store: format detection, the parallel parse pipeline, one
// transaction per file, content-hash dedupe, bad-line reports, and the
// metric-filter hand-off. It knows no database: store/duckdb/flowlogs is
// the Store of flowlens server and flowlens query --files.
package importer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
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

	"github.com/flowlens/flowlens/flowlog"
)

// Ingester receives every batch of stored records: the metric-filter
// module implements it. time is each record's start (Unix seconds),
// message its text line as written in the file.
type Ingester interface {
	Ingested(group string, unixSec []int64, messages []string)
}

// Config tunes an Importer; zero fields take the defaults.
type Config struct {
	// MaxErrors is how many bad lines a summary lists (all are counted).
	MaxErrors int
	// ChunkBytes is the text handed to one parser at a time (default 8 MiB;
	// 4 MiB took a 2 GiB upload's peak RSS from 395 to 240 MB over
	// baseline but made imports ~10% slower, BENCHMARKS.md).
	ChunkBytes int
	// Parsers is the number of parsing goroutines (default: one per
	// core, at most 4; the store inserts on its own threads meanwhile).
	Parsers int
	// TempDir holds uploaded Parquet files while they are imported.
	TempDir string
}

func (c Config) withDefaults() Config {
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

// Importer stores flow-log files in a record Store: the server's (module
// flowlog/logsapi) or a temporary one (flowlens query --files). Imports
// are serialized: one file at a time.
type Importer struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	sink    Ingester
	metrics *metrics

	mu     sync.Mutex
	closed bool
}

// New imports into st, which it closes on Close. sink (may be nil) sees
// every stored batch; reg (may be nil) gets the import counters.
func New(st Store, cfg Config, log *slog.Logger, sink Ingester, reg prometheus.Registerer) (*Importer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	im := &Importer{cfg: cfg.withDefaults(), store: st, log: log, sink: sink, metrics: newMetrics()}
	if reg != nil {
		if err := im.metrics.register(reg); err != nil {
			return nil, err
		}
	}
	return im, nil
}

// Close waits for the running import and closes the store.
func (im *Importer) Close() error {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.closed {
		return nil
	}
	im.closed = true
	return im.store.Close()
}

// Unregister removes the import counters from reg.
func (im *Importer) Unregister(reg prometheus.Registerer) { im.metrics.set.Unregister(reg) }

// CountDuplicate counts a file found to be a duplicate before it reached
// the importer (an upload whose announced hash the group has).
func (im *Importer) CountDuplicate() { im.metrics.duplicates.Inc() }

// Request describes one file (or one upload) to import.
type Request struct {
	Group string
	// Stream is the log stream of every record; empty: each record's
	// interface-id (or the source name when the format has none).
	Stream string
	// Format of the records; nil: the file's header line, else the
	// default format. A header that disagrees with Format is an error.
	Format *flowlog.Format
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
	Source    string              `json:"source"`
	SHA256    string              `json:"sha256,omitempty"`
	Format    string              `json:"format,omitempty"`
	Records   int64               `json:"records"`
	BadLines  int64               `json:"bad_lines"`
	Bytes     int64               `json:"bytes"`
	Duplicate bool                `json:"duplicate,omitempty"`
	Errors    []flowlog.LineError `json:"errors,omitempty"`
	// Warnings are what was imported in a way the user should know of
	// (fields the catalogue does not know, kept as text; Parquet columns
	// left out): one line each, the file is stored.
	Warnings   []string `json:"warnings,omitempty"`
	Error      string   `json:"error,omitempty"`
	DurationMs float64  `json:"duration_ms"`
}

// ErrChecksum: the content read is not what the caller announced.
var ErrChecksum = errors.New("content does not match the given sha256")

// Duplicate says whether a file with this content was already imported
// into group.
func (im *Importer) Duplicate(ctx context.Context, group, sha string) (bool, error) {
	f, err := im.File(ctx, group, sha)
	return f != nil, err
}

// File returns the file with this content in group, or nil.
func (im *Importer) File(ctx context.Context, group, sha string) (*flowlog.FileInfo, error) {
	return im.store.File(ctx, group, strings.ToLower(sha))
}

// Groups lists every log group, by name.
func (im *Importer) Groups(ctx context.Context) ([]flowlog.Group, error) {
	return im.store.Groups(ctx)
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
	if err := flowlog.CheckGroup(req.Group); err != nil {
		return sum, err
	}
	if req.Stream != "" {
		if err := flowlog.CheckGroup(req.Stream); err != nil {
			return sum, fmt.Errorf("stream: %w", err)
		}
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.closed {
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
			err = im.importText(ctx, req, CapDecompressed(zr, req.MaxDecompressedBytes), sum, cr, h)
		} else {
			err = fmt.Errorf("%s: gzip: %w", req.Source, err)
		}
	default:
		err = im.importText(ctx, req, br, sum, cr, h)
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

// warn adds one warning to the file's summary and the log ("" is none).
func (im *Importer) warn(req Request, sum *FileSummary, w string) {
	if w == "" {
		return
	}
	sum.Warnings = append(sum.Warnings, w)
	im.log.Warn("flow-log import: "+w, "group", req.Group, "source", req.Source)
}

// finish ends a file's transaction: it commits, or rolls back when the
// content turns out to be a duplicate or not what the caller announced.
func (im *Importer) finish(ctx context.Context, tx FileTx, req Request, sum *FileSummary, h hash.Hash) error {
	got := hex.EncodeToString(h.Sum(nil))
	if sum.SHA256 != "" && sum.SHA256 != got {
		tx.Rollback() //nolint:errcheck // already failing
		return fmt.Errorf("%s: %w (given %s, read %s)", req.Source, ErrChecksum, sum.SHA256, got)
	}
	sum.SHA256 = got
	dup, err := tx.Commit(ctx, FileRecord{SHA256: got, Records: sum.Records, BadLines: sum.BadLines, Bytes: sum.Bytes})
	if dup {
		sum.Duplicate, sum.Records, sum.BadLines, sum.Errors = true, 0, 0, nil
	}
	return err
}

// meta says where a file's records go and which time records without
// start or end get: the time in the file's name when AWS delivered it to
// S3 (not more than flowlog.MaxFuture ahead), else the ingestion time.
func meta(req Request, now time.Time) FileMeta {
	t := now.Unix()
	if ft, ok := flowlog.FileTime(req.Source); ok && ft <= now.Add(flowlog.MaxFuture).Unix() {
		t = ft
	}
	return FileMeta{Group: req.Group, Stream: req.Stream, Source: req.Source, Time: t}
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
	im.warn(req, sum, f.UnknownWarning())
	fm := meta(req, time.Now())
	w, err := im.store.BeginText(ctx, fm, f)
	if err != nil {
		return err
	}

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := im.parseChunks(pctx, br, f, header, w.Prepare)
	notifyTime := fm.Time
	var firstErr error
	// Metric filters see records as they are stored. When the content's
	// hash is unknown until the end, a duplicate is only found then, so
	// the notifications wait for the commit.
	var later []notification
	// One chunk per Write (see store/duckdb/flowlogs: one Arrow record per
	// INSERT).
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
		if b := c.batch; firstErr == nil && b != nil && b.Len() > 0 {
			firstErr = w.Write(ctx, b)
			if firstErr == nil {
				sum.Records += int64(b.Len())
				later = im.notify(req.Group, b, notifyTime, later, sum.SHA256 == "")
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
			req.Source, flowlog.ErrRecord, sum.BadLines, f.String(), &sum.Errors[0])
	}
	if firstErr != nil {
		w.Rollback() //nolint:errcheck // already failing
		if !strings.HasPrefix(firstErr.Error(), req.Source+":") {
			firstErr = fmt.Errorf("%s: %w", req.Source, firstErr)
		}
		return firstErr
	}
	// The bufio.Reader may hold bytes the parser never asked for only
	// when the stream ended, so the count and hash are complete here.
	sum.Bytes = cr.n
	if err := im.finish(ctx, w, req, sum, h); err != nil || sum.Duplicate {
		return err
	}
	for _, n := range later {
		im.sink.Ingested(req.Group, n.times, n.msgs)
	}
	return nil
}

// detectFormat reads the header line, if any, and settles the format.
func (im *Importer) detectFormat(req Request, br *bufio.Reader) (*flowlog.Format, []byte, error) {
	first, err := peekLine(br)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", req.Source, err)
	}
	f := req.Format
	if flowlog.IsHeader(first) {
		hf, err := flowlog.ParseHeader(string(first))
		if err != nil {
			return nil, nil, fmt.Errorf("%s:1: header: %w", req.Source, err)
		}
		if f != nil && !f.Equal(hf) {
			return nil, nil, fmt.Errorf("%s:1: %w: the header line says %q, the given format is %q",
				req.Source, flowlog.ErrFormat, hf.Names(), f.Names())
		}
		// first points into the reader's buffer: keep a copy.
		return hf, bytes.Clone(bytes.TrimRight(first, "\r")), nil
	}
	if f == nil {
		f = flowlog.Default
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

type notification struct {
	times []int64
	msgs  []string
}

// notify hands a stored batch to the sink now, or queues it for after the
// commit.
// Each record's time is its timestamp as stored (start, else end, else the
// file's time).
func (im *Importer) notify(group string, b *flowlog.Batch, fileTime int64, later []notification, wait bool) []notification {
	if im.sink == nil || !b.KeepsText() {
		return later
	}
	if wait {
		return append(later, notification{b.Times(fileTime), b.Texts()})
	}
	im.sink.Ingested(group, b.Times(fileTime), b.Texts())
	return later
}

// SetRetention keeps group's records days days (a CloudWatch value, 0:
// forever), enforced by Maintain.
func (im *Importer) SetRetention(ctx context.Context, group string, days int) error {
	if err := flowlog.CheckGroup(group); err != nil {
		return err
	}
	if err := flowlog.CheckRetention(days); err != nil {
		return err
	}
	ga, ok := im.store.(GroupAdmin)
	if !ok {
		return ErrUnsupported
	}
	return ga.SetRetention(ctx, group, days)
}

// DeleteGroup deletes a log group with its files and records, waiting
// for the running import; false when there was no such group.
func (im *Importer) DeleteGroup(ctx context.Context, group string) (bool, error) {
	ga, ok := im.store.(GroupAdmin)
	if !ok {
		return false, ErrUnsupported
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.closed {
		return false, errors.New("flow-log importer is closed")
	}
	ok, err := ga.DeleteGroup(ctx, group)
	if ok && err == nil {
		im.log.Info("flow-log group deleted", "group", group)
	}
	return ok, err
}

// Maintain applies every group's retention at now (between imports).
func (im *Importer) Maintain(ctx context.Context, now time.Time) (RetentionResult, error) {
	ga, ok := im.store.(GroupAdmin)
	if !ok {
		return RetentionResult{}, nil
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.closed {
		return RetentionResult{}, errors.New("flow-log importer is closed")
	}
	res, err := ga.ApplyRetention(ctx, now)
	if err != nil {
		return res, err
	}
	im.metrics.expired.Add(float64(res.Records))
	if res.Records > 0 {
		im.log.Info("flow-log retention applied", "groups", res.Groups, "records_deleted", res.Records, "files_deleted", res.Files)
	}
	return res, nil
}
