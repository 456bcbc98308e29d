package duckdb

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/flowlens/flowlens/store"
)

func TestMigrateComponent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.duckdb")
	ctx := context.Background()
	v1 := []store.Migration{{Version: 1, Name: "things", Stmts: []string{`CREATE TABLE things (id INTEGER)`}}}
	v2 := append(v1, store.Migration{Version: 2, Name: "more", Stmts: []string{`ALTER TABLE things ADD COLUMN name VARCHAR`}})

	s, err := Open(Config{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MigrateComponent(ctx, "widget", v1); err != nil {
		t.Fatal(err)
	}
	if err := s.MigrateComponent(ctx, "widget", v1); err != nil {
		t.Fatalf("rerun is a no-op: %v", err)
	}
	if err := s.MigrateComponent(ctx, "widget", v2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO things VALUES (1, 'a')`); err != nil {
		t.Fatalf("v2 column missing: %v", err)
	}
	if err := s.MigrateComponent(ctx, "widget", v1); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("older binary: got %v, want ErrSchemaTooNew", err)
	}
	bad := []store.Migration{{Version: 2, Name: "gap"}}
	if err := s.MigrateComponent(ctx, "other", bad); err == nil {
		t.Fatal("a version gap must be refused")
	}
	if err := s.MigrateComponent(ctx, "Bad Name", v1); err == nil {
		t.Fatal("a bad component name must be refused")
	}
	failing := []store.Migration{{Version: 1, Name: "broken", Stmts: []string{`CREATE TABLE t2 (id INTEGER)`, `NOT SQL`}}}
	if err := s.MigrateComponent(ctx, "broken", failing); err == nil {
		t.Fatal("a failing step must fail")
	}
	if _, err := s.DB().ExecContext(ctx, `SELECT * FROM t2`); err == nil {
		t.Fatal("a failed migration must leave nothing behind")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
