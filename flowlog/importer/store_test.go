package importer_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/internal/flowloggen"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs/flowlogstest"
)

// memStore is a record store in memory: it pins what the importer asks of
// any store, with no database behind it.
type memStore struct {
	mu        sync.Mutex
	files     map[string]bool // group + sha
	records   int
	prepared  int // batches prepared by parser goroutines
	written   int // batches written, each prepared first
	unprep    int // batches written without Prepare having run on them
	commits   int
	rollbacks int
	closed    bool
}

type memWriter struct {
	s     *memStore
	group string
	n     int
	seen  map[*flowlog.Batch]bool
	ended bool
}

func (s *memStore) File(_ context.Context, group, sha string) (*flowlog.FileInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files[group+" "+sha] {
		return &flowlog.FileInfo{Group: group, SHA256: sha}, nil
	}
	return nil, nil
}

func (s *memStore) Groups(context.Context) ([]flowlog.Group, error) { return nil, nil }

func (s *memStore) BeginText(_ context.Context, file importer.FileMeta, _ *flowlog.Format) (importer.TextWriter, error) {
	return &memWriter{s: s, group: file.Group, seen: map[*flowlog.Batch]bool{}}, nil
}

func (s *memStore) BeginParquet(context.Context, importer.FileMeta, string, *flowlog.Format) (importer.ParquetWriter, error) {
	return nil, errors.New("no parquet in memory")
}

func (s *memStore) Close() error { s.closed = true; return nil }

func (w *memWriter) Prepare() func(*flowlog.Batch) {
	return func(b *flowlog.Batch) {
		w.s.mu.Lock()
		defer w.s.mu.Unlock()
		w.s.prepared++
		w.seen[b] = true
	}
}

func (w *memWriter) Write(_ context.Context, b *flowlog.Batch) error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if !w.seen[b] {
		w.s.unprep++
	}
	delete(w.seen, b)
	w.s.written++
	w.n += b.Len()
	return nil
}

func (w *memWriter) Commit(_ context.Context, rec importer.FileRecord) (bool, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.ended {
		return false, errors.New("ended twice")
	}
	w.ended = true
	if w.s.files[w.group+" "+rec.SHA256] {
		w.s.rollbacks++
		return true, nil
	}
	w.s.files[w.group+" "+rec.SHA256] = true
	w.s.records += w.n
	w.s.commits++
	return false, nil
}

func (w *memWriter) Rollback() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.ended {
		return errors.New("ended twice")
	}
	w.ended = true
	w.s.rollbacks++
	return nil
}

// The importer works on any record store: every batch is prepared on a
// parser goroutine before it is written, a file ends with exactly one
// Commit or Rollback, a duplicate found at commit stores nothing and never
// reaches metric filters, and Close closes the store.
func TestImporterOnAnyStore(t *testing.T) {
	st := &memStore{files: map[string]bool{}}
	sink := &flowlogstest.Sink{}
	im, err := importer.New(st, importer.Config{ChunkBytes: 256, Parsers: 3}, nil, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	text := flowloggen.ReferenceText(true) + flowloggen.ReferenceText(false) + flowloggen.ReferenceText(false)
	sum, err := im.Import(ctx, importer.Request{Group: "g", Source: "a.log"}, strings.NewReader(text))
	if err != nil || sum.Records != 21 || sum.Duplicate {
		t.Fatalf("%+v %v", sum, err)
	}
	if st.written < 2 || st.prepared != st.written || st.unprep != 0 {
		t.Errorf("%d batches written, %d prepared, %d written unprepared", st.written, st.prepared, st.unprep)
	}
	again, err := im.Import(ctx, importer.Request{Group: "g", Source: "b.log"}, strings.NewReader(text))
	if err != nil || !again.Duplicate || again.Records != 0 {
		t.Fatalf("again %+v %v", again, err)
	}
	if _, err := im.Import(ctx, importer.Request{Group: "g", Source: "c.log"}, strings.NewReader("not a record\n")); !errors.Is(err, flowlog.ErrRecord) {
		t.Fatalf("bad file: %v", err)
	}
	if st.commits != 1 || st.rollbacks != 2 || st.records != 21 || len(sink.Msgs) != 21 {
		t.Errorf("commits %d, rollbacks %d, records %d, sink saw %d", st.commits, st.rollbacks, st.records, len(sink.Msgs))
	}
	if err := im.Close(); err != nil || !st.closed {
		t.Errorf("close: %v, store closed %v", err, st.closed)
	}
	if _, err := im.Import(ctx, importer.Request{Group: "g", Source: "d.log"}, strings.NewReader(text)); err == nil {
		t.Error("import after Close accepted")
	}
}
