// Package duckdb is the embedded FlowLens store: one DuckDB file holding raw
// flows, their 1-minute, 10-minute and 1-hour roll-ups, the key
// dictionaries and the idempotency record of every stored batch.
//
// Write path. The hot table flows is narrow (23 columns: times, one flow key
// id, counters, latency summaries and one histogram BLOB); everything wide
// is interned into flow_keys and resource_keys, whose authoritative copies
// live in memory. One Write call is one transaction holding the new
// dictionary rows, the raw rows (Arrow, or the row Appender with the
// no_duckdb_arrow build tag), partial roll-up rows aggregated in Go and the
// (agent, sequence) of each stored batch; Write returns after the WAL commit.
//
// Roll-ups are exact at all times: each Write appends per (bucket, resource
// key) partial sums for the rows it stores, late rows included, and queries
// sum partial rows. Maintain folds partial rows into one compacted row per
// (bucket, resource key) and applies retention per table.
//
// Reads. Rows are bucketed by End: a row with End in [b, b+width) belongs to
// bucket b. Top with ByFlow reads raw flows. Top with ByResource reads the
// coarsest roll-up whose width is <= (End-Start)/20 and whose retention still
// covers Start; Start is then rounded down and End up to that width, so the
// answer covers rows with End in [floor(Start), ceil(End)) and the freshest,
// still-filling bucket is never cut off. When no roll-up
// qualifies it reads raw flows with the exact range. Series reads the finest
// roll-up whose width divides Step (raw flows for ByFlow, or when none
// does), rounds the same way and buckets by Step from the Unix epoch.
// Equal values are ordered by the group's dictionary id (first stored,
// first listed), which is stable. Each query runs in one read transaction,
// so its statements see one snapshot. Times are stored with millisecond
// precision.
package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/marcboeker/go-duckdb"

	"github.com/flowlens/flowlens/store"
)

// Config says where and how the store runs.
type Config struct {
	// Path is the DuckDB file; the WAL is Path + ".wal".
	Path string
	// Retention per resolution; zero fields take store.DefaultRetention.
	Retention store.Retention
	// Threads caps DuckDB's worker threads; 0 keeps DuckDB's default (one
	// per core).
	Threads int
	// MemoryLimit is DuckDB's memory_limit, e.g. "4GB"; empty keeps the
	// default (80% of RAM).
	MemoryLimit string
	// CheckpointThreshold is DuckDB's checkpoint_threshold: the WAL size
	// that triggers folding the WAL into the file. Empty means
	// DefaultCheckpointThreshold.
	CheckpointThreshold string
}

// DefaultCheckpointThreshold replaces DuckDB's 16MB: every checkpoint
// recompresses the last, partly filled row group of each table it touches,
// and 16MB of WAL is only two or three 50k-row Writes. Measured on 2 cores:
// 256MB ingests 15-50% more rows/s than 16MB (e.g. 347k vs 295k on a busy
// machine). The price is a WAL of up to this size to replay at Open after a
// crash (about 1 s per 60MB) and checkpoint pauses of about 1 s.
const DefaultCheckpointThreshold = "256MB"

// withDefaults fills zero retention fields and the checkpoint threshold.
func (c Config) withDefaults() Config {
	if c.CheckpointThreshold == "" {
		c.CheckpointThreshold = DefaultCheckpointThreshold
	}
	d := store.DefaultRetention
	if c.Retention.Raw <= 0 {
		c.Retention.Raw = d.Raw
	}
	if c.Retention.Min1 <= 0 {
		c.Retention.Min1 = d.Min1
	}
	if c.Retention.Min10 <= 0 {
		c.Retention.Min10 = d.Min10
	}
	if c.Retention.Hour1 <= 0 {
		c.Retention.Hour1 = d.Hour1
	}
	return c
}

// retentionOf returns the retention of a table level (0 raw, 1..3 roll-ups).
func (c Config) retentionOf(level int) time.Duration {
	return [...]time.Duration{c.Retention.Raw, c.Retention.Min1, c.Retention.Min10, c.Retention.Hour1}[level]
}

// dsn passes the DuckDB settings as connector options, escaped, so that no
// user value is spliced into SQL.
func (c Config) dsn() string {
	v := url.Values{}
	if c.Threads > 0 {
		v.Set("threads", strconv.Itoa(c.Threads))
	}
	if c.MemoryLimit != "" {
		v.Set("memory_limit", c.MemoryLimit)
	}
	if c.CheckpointThreshold != "" {
		v.Set("checkpoint_threshold", c.CheckpointThreshold)
	}
	if len(v) == 0 {
		return c.Path
	}
	return c.Path + "?" + v.Encode()
}

// Store is the DuckDB implementation of store.Store. Write and Maintain are
// serialized on one dedicated connection; Top and Series run concurrently on
// pooled connections and see committed data only.
type Store struct {
	cfg    Config
	logger *slog.Logger
	db     *sql.DB

	mu       sync.Mutex // serializes Write, Maintain and Close
	closed   atomic.Bool
	wconn    *sql.Conn
	inserter flowInserter
	dict     *dictionary
	seen     map[seenKey]*seqSet // per (agent, epoch)
	seenRows int                 // rows in batch_seen, compacted by Maintain
	failed   error               // a failed commit; see checkWritable
	plan     writePlan
	metrics  *metrics

	// horizons[level] is the retention cutoff (epoch ms) Maintain last
	// applied to that table; data before it is gone even if wall-clock
	// retention would still cover it.
	horizonMu sync.RWMutex
	horizons  [1 + len(rollupTables)]int64
	now       func() time.Time

	// beforeCommit, when set by a test, runs inside each Write's
	// transaction just before COMMIT; an error aborts the Write.
	beforeCommit func() error
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the store at cfg.Path, migrates the schema, and
// loads the dictionaries and the seen-batch set into memory.
func Open(cfg Config, logger *slog.Logger) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("open duckdb store: path is required")
	}
	if strings.ContainsAny(cfg.Path, "?#%") {
		// go-duckdb parses the path as a URL to read settings from it.
		return nil, fmt.Errorf("open duckdb store: path %q must not contain '?', '#' or '%%'", cfg.Path)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	if err := privateFiles(cfg.Path, logger); err != nil {
		return nil, fmt.Errorf("open duckdb store: %w", err)
	}
	connector, err := duckdb.NewConnector(cfg.dsn(), initConn)
	if err != nil {
		return nil, fmt.Errorf("open duckdb %s: %w", cfg.Path, err)
	}
	s := &Store{
		cfg:     cfg,
		logger:  logger,
		db:      sql.OpenDB(connector),
		dict:    newDictionary(),
		seen:    make(map[seenKey]*seqSet),
		now:     time.Now,
		metrics: newMetrics(),
	}
	s.plan.init()
	for i := range s.horizons {
		s.horizons[i] = minMs
	}
	if err := s.init(context.Background()); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open duckdb %s: %w", cfg.Path, err)
	}
	if err := privateFiles(cfg.Path, logger); err != nil {
		s.Close()
		return nil, fmt.Errorf("open duckdb store: %w", err)
	}
	logger.Info("flow store opened", "path", cfg.Path, "flow_keys", s.dict.nFlows,
		"resource_keys", len(s.dict.resources), "agents", len(s.seen))
	return s, nil
}

const minMs = -1 << 63

// perfectHashBits lets DuckDB aggregate by flow key id with a direct-indexed
// table (instead of hashing) while ids stay below 2^18; Top ByFlow over 50M
// rows got about 30% faster. Above that DuckDB falls back to hashing.
const perfectHashBits = 18

// initConn applies the per-connection settings to every pooled connection.
func initConn(ex driver.ExecerContext) error {
	_, err := ex.ExecContext(context.Background(), "SET perfect_ht_threshold = "+strconv.Itoa(perfectHashBits), nil)
	return err
}

func (s *Store) init(ctx context.Context) error {
	var err error
	if s.wconn, err = s.db.Conn(ctx); err != nil {
		return fmt.Errorf("writer connection: %w", err)
	}
	if err := migrate(ctx, s.wconn, migrations, s.logger); err != nil {
		return err
	}
	if err := s.loadDictionaries(ctx); err != nil {
		return err
	}
	if err := s.loadSeen(ctx); err != nil {
		return err
	}
	return s.wconn.Raw(func(dc any) error {
		var err error
		s.inserter, err = newFlowInserter(dc)
		return err
	})
}

// Close releases the store; DuckDB checkpoints the WAL into the file.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	var errs []error
	if s.inserter != nil {
		errs = append(errs, s.wconn.Raw(func(dc any) error { return s.inserter.close(dc) }))
	}
	errs = append(errs, s.wconn.Close(), s.db.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close duckdb %s: %w", s.cfg.Path, err)
	}
	return nil
}

// horizon is the earliest time (epoch ms) still retained in table level.
func (s *Store) horizon(level int) int64 {
	s.horizonMu.RLock()
	applied := s.horizons[level]
	s.horizonMu.RUnlock()
	return max(applied, s.now().Add(-s.cfg.retentionOf(level)).UnixMilli())
}
