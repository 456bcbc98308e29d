// Package flowlogstest has what the flow-log tests share: an importer on a
// fresh DuckDB record store, a recording metric-filter sink, and query
// results as text.
package flowlogstest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs"
)

// Sink records what the importer hands to metric filters.
type Sink struct {
	mu    sync.Mutex
	Group []string
	Times []int64
	Msgs  []string
}

// Ingested implements importer.Ingester.
func (s *Sink) Ingested(group string, t []int64, m []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range t {
		s.Group = append(s.Group, group)
	}
	s.Times = append(s.Times, t...)
	s.Msgs = append(s.Msgs, m...)
}

// OpenStore opens a DuckDB file in a temporary directory, closed at the
// end of the test.
func OpenStore(t testing.TB, cfg duckdb.Config) *duckdb.Store {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "f.duckdb")
	}
	st, err := duckdb.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// NewImporter is an importer on a fresh DuckDB record store; both are
// closed at the end of the test.
func NewImporter(t testing.TB, cfg importer.Config, sink importer.Ingester) (*importer.Importer, *duckdb.Store) {
	t.Helper()
	st := OpenStore(t, duckdb.Config{})
	return ImporterOn(t, st, cfg, flowlogs.Config{}, sink), st
}

// ImporterOn is an importer on the record store in st, closed (with its
// record store) at the end of the test, before st.
func ImporterOn(t testing.TB, st *duckdb.Store, cfg importer.Config, scfg flowlogs.Config, sink importer.Ingester) *importer.Importer {
	t.Helper()
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	records, err := flowlogs.Open(context.Background(), st, scfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	im, err := importer.New(records, cfg, nil, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := im.Close(); err != nil {
			t.Error(err)
		}
	})
	return im
}

// Gzip compresses s.
func Gzip(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// Rows reads query results as strings ("NULL" for NULL), one line per row.
func Rows(t testing.TB, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rs, err := db.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out []string
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				parts[i] = "NULL"
			} else {
				parts[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(parts, " "))
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
