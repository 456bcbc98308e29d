package source

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/flowloggen"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs"
)

// Directories are walked recursively for flow-log files, in name order.
func TestExpandPaths(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a/2026/11/01/x.log.gz", "a/2026/11/01/y.log", "a/notes.md", "b.parquet", "c/z.txt"} {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte("x"), 0o644)
	}
	in, err := ExpandPaths(context.Background(), []string{dir, filepath.Join(dir, "a/notes.md")}, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range in {
		names = append(names, strings.TrimPrefix(i.Name, dir+"/"))
	}
	if got := strings.Join(names, " "); got != "a/2026/11/01/x.log.gz a/2026/11/01/y.log b.parquet c/z.txt a/notes.md" {
		t.Errorf("inputs %s", got)
	}
	if _, err := ExpandPaths(context.Background(), []string{filepath.Join(dir, "missing")}, SourceOptions{}); err == nil {
		t.Error("missing path accepted")
	}
}

// The watcher takes a file once its size and time hold still for a poll,
// once only.
func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	var taken []string
	w := NewWatcher(WatchConfig{Dir: dir}, nil, func(_ context.Context, in Input) error {
		taken = append(taken, filepath.Base(in.Name))
		return nil
	})
	ctx := context.Background()
	poll := func() int {
		n, err := w.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	p := filepath.Join(dir, "x.log")
	os.WriteFile(p, []byte("a\n"), 0o644)
	if poll() != 0 {
		t.Fatal("taken at first sight")
	}
	os.WriteFile(p, []byte("a\nb\n"), 0o644) // still being written
	if poll() != 0 {
		t.Fatal("taken while growing")
	}
	if poll() != 1 || poll() != 0 {
		t.Fatalf("taken %v", taken)
	}
	os.WriteFile(filepath.Join(dir, "notes.md"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "empty.gz"), nil, 0o644)
	poll()
	poll()
	if strings.Join(taken, " ") != "x.log" {
		t.Errorf("taken %v", taken)
	}
}

// ImportFiles is the server-less path of flowlens query --files.
func TestImportFiles(t *testing.T) {
	st, err := duckdb.Open(duckdb.Config{Path: filepath.Join(t.TempDir(), "q.duckdb")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	open := func() *flowlogs.Store {
		records, err := flowlogs.Open(ctx, st, flowlogs.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return records
	}
	p := filepath.Join(t.TempDir(), "ref.log")
	os.WriteFile(p, []byte(flowloggen.ReferenceText(false)), 0o644)
	sum, err := ImportFiles(ctx, open(), "files", []string{p}, ImportOptions{}, SourceOptions{})
	if err != nil || sum.Records != 7 {
		t.Fatalf("%+v %v", sum, err)
	}
	if _, err := ImportFiles(ctx, open(), "files", []string{t.TempDir()}, ImportOptions{}, SourceOptions{}); err == nil {
		t.Error("empty directory accepted")
	}
	// The record store was closed both times: the database closes cleanly.
	if err := st.Close(); err != nil {
		t.Error(err)
	}
}
