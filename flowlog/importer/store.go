package importer

import (
	"context"
	"errors"
	"time"

	"github.com/flowlens/flowlens/flowlog"
)

// ErrStore marks a failure of the record storage rather than of the input;
// Store implementations wrap their errors with it.
var ErrStore = errors.New("flow-log store")

// Store keeps imported records: the file registry (one row per imported
// file, which makes a re-imported file a duplicate), the records, and the
// groups listing. The importer calls it from one goroutine at a time per
// import; File and Groups may run concurrently with an import.
// store/duckdb/flowlogs implements it.
type Store interface {
	// File returns the file with this content (hex sha256, lower case) in
	// group, or nil when the group has none.
	File(ctx context.Context, group, sha256 string) (*flowlog.FileInfo, error)
	// Groups lists every log group, by name.
	Groups(ctx context.Context) ([]flowlog.Group, error)
	// BeginText opens one file's transaction for text records in format
	// f. Exactly one of Commit or Rollback ends it.
	BeginText(ctx context.Context, file FileMeta, f *flowlog.Format) (TextWriter, error)
	// BeginParquet stores the records of the Parquet file at path in a new
	// transaction that Commit or Rollback ends. want, when not nil, is
	// the format the caller expects: other columns are an ErrFormat error.
	BeginParquet(ctx context.Context, file FileMeta, path string, want *flowlog.Format) (ParquetWriter, error)
	// Close releases what the store holds (an Importer closes its store).
	Close() error
}

// ErrNoGroup: no log group of that name.
var ErrNoGroup = errors.New("no such log group")

// ErrUnsupported: the store cannot do this (it does not implement
// GroupAdmin).
var ErrUnsupported = errors.New("not supported by this flow-log store")

// GroupAdmin is what a Store offers to manage whole log groups: retention
// and deletion, each reclaiming the disk the records took.
// store/duckdb/flowlogs implements it.
type GroupAdmin interface {
	// SetRetention keeps group's records days days (0: forever); the
	// next ApplyRetention enforces it. ErrNoGroup when the group has no
	// files and no settings.
	SetRetention(ctx context.Context, group string, days int) error
	// DeleteGroup deletes the group, its files and records; false when
	// there was no such group.
	DeleteGroup(ctx context.Context, group string) (bool, error)
	// ApplyRetention deletes the records each group's retention no longer
	// covers at now (flowlog.RetentionCutoff).
	ApplyRetention(ctx context.Context, now time.Time) (RetentionResult, error)
}

// RetentionResult is what one ApplyRetention deleted.
type RetentionResult struct {
	Groups  int   // groups that lost records
	Records int64 // records deleted
	Files   int64 // files whose every record went
}

// FileMeta says where one file's records go.
type FileMeta struct {
	Group string
	// Stream is the log stream of every record; empty: each record's
	// interface-id, or the file's base name when the format has none.
	Stream string
	// Source names the file in errors and in the file registry.
	Source string
	// Time (Unix seconds) is the timestamp of records that have neither
	// start nor end: the time in an AWS S3 delivery file name
	// (flowlog.FileTime), else the import's start (ingestion time).
	Time int64
}

// FileRecord is a file's entry in the registry, written at commit.
type FileRecord struct {
	SHA256   string // hex, lower case, of the bytes as stored
	Records  int64
	BadLines int64
	Bytes    int64
}

// FileTx is one file's transaction.
type FileTx interface {
	// Commit records the file and commits, unless the group already has
	// a file with this content: then it rolls back and says so.
	Commit(ctx context.Context, rec FileRecord) (duplicate bool, err error)
	// Rollback abandons the file: nothing of it is stored.
	Rollback() error
}

// TextWriter stores the parsed batches of one text file.
type TextWriter interface {
	FileTx
	// Prepare returns what a parser goroutine runs on each batch it has
	// parsed, before the batch is written (storage work that can run in
	// parallel, e.g. dictionary encoding); nil when there is none. Each
	// parser goroutine calls it once and uses its own.
	Prepare() func(*flowlog.Batch)
	// Write stores one batch in the transaction, without keeping it: the
	// batch is reused once Write returns.
	Write(ctx context.Context, b *flowlog.Batch) error
}

// ParquetWriter is a Parquet file stored in a transaction not yet ended.
type ParquetWriter interface {
	FileTx
	// Format is the format of the file's columns.
	Format() *flowlog.Format
	// Stored is how many records were stored, and how many rows were left
	// out: a value that does not fit its field (negative, too large, not
	// a number), or a start or end more than flowlog.MaxFuture ahead.
	Stored() (records, leftOut int64)
	// Warnings are what the reader left out or guessed (columns it
	// ignored), one line each; fields the catalogue does not know are the
	// importer's warning (Format().UnknownWarning()).
	Warnings() []string
	// Messages reads the file's records back after the commit, as text
	// lines in the file's column order (NULL as "-"), and hands them to fn
	// in batches with each record's start (Unix seconds, 0 when NULL).
	Messages(ctx context.Context, fn func(unixSec []int64, msgs []string)) error
}
