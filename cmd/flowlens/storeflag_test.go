package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/server"
	"github.com/flowlens/flowlens/store"
)

// embeddedStore opens the store `flowlens server` opens without --store:
// DuckDB in the data dir.
func embeddedStore(t *testing.T, dataDir string) func(*slog.Logger, prometheus.Registerer) (store.Backend, error) {
	t.Helper()
	f := storeFlags{retention: store.DefaultRetention}
	open, err := f.opener(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return open
}

func TestParseStore(t *testing.T) {
	cases := []struct {
		spec     string
		wantPath string // "" when an error is wanted
		wantErr  string
	}{
		{"", "/data/flowlens.duckdb", ""},
		{"duckdb:/var/lib/flows.duckdb", "/var/lib/flows.duckdb", ""},
		{"duckdb:flows.duckdb", "flows.duckdb", ""},
		{"duckdb:", "", `--store "duckdb:": give the DuckDB file, as duckdb:PATH`},
		{"duckdb:///var/lib/flows.duckdb", "", "write duckdb:PATH without //"},
		{"clickhouse://ch1:9000/flowlens?cluster=c", "", "the ClickHouse store is not built yet; use duckdb:PATH"},
		{"postgres://db/flowlens", "", `--store "postgres://db/flowlens": unknown store; want duckdb:PATH (clickhouse://HOST:PORT/DB is reserved, not built yet)`},
		{"/var/lib/flows.duckdb", "", "unknown store; want duckdb:PATH"},
		{"DuckDB:/x", "", "unknown store"},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			c, err := parseStore(tc.spec, "/data")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseStore(%q): %+v, %v; want an error containing %q", tc.spec, c, err, tc.wantErr)
				}
				return
			}
			if err != nil || c.scheme != "duckdb" || c.path != tc.wantPath {
				t.Fatalf("parseStore(%q): %+v, %v; want duckdb at %s", tc.spec, c, err, tc.wantPath)
			}
		})
	}
}

// TestStoreFlagPutsTheDatabaseWhereItSays runs the server with --store
// duckdb:PATH outside the data dir: the DuckDB file is created there, not
// in the data dir, and a restart on the same --store finds its data.
func TestStoreFlagPutsTheDatabaseWhereItSays(t *testing.T) {
	dataDir, elsewhere := t.TempDir(), t.TempDir()
	dbPath := filepath.Join(elsewhere, "custom.duckdb")
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	var f storeFlags
	f.register(fs, true)
	if err := fs.Parse([]string{"--store", "duckdb:" + dbPath}); err != nil {
		t.Fatal(err)
	}
	open, err := f.opener(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		srv, err := server.New(server.Config{DataDir: dataDir, Listen: "127.0.0.1:0", Tokens: []string{"tok"}, OpenStore: open}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		db := srv.Store()
		if run == 1 {
			if _, err := db.(store.ComponentDB).DB().ExecContext(ctx, `CREATE TABLE kept (a INTEGER); INSERT INTO kept VALUES (7)`); err != nil {
				t.Fatal(err)
			}
		} else {
			var a int
			if err := db.(store.ComponentDB).DB().QueryRowContext(ctx, `SELECT a FROM kept`).Scan(&a); err != nil || a != 7 {
				t.Fatalf("after a restart on the same --store: %d, %v", a, err)
			}
		}
		if err := srv.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(dbPath); err != nil {
		t.Fatalf("no database at the --store path: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, DefaultStoreFile)); !os.IsNotExist(err) {
		t.Fatalf("a database was created in the data dir too: %v", err)
	}
}

// TestServerRefusesUnknownStore: `flowlens server --store` with a scheme it
// does not know fails before anything starts, naming the accepted ones.
func TestServerRefusesUnknownStore(t *testing.T) {
	for _, spec := range []string{"clickhouse://localhost:9000/flowlens", "sqlite:/tmp/x.db"} {
		var out bytes.Buffer
		g := &globals{}
		cmd := newServerCmd(g)
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--store", spec})
		err := cmd.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), "duckdb:PATH") {
			t.Errorf("--store %s: %v, want an error naming duckdb:PATH", spec, err)
		}
	}
}

// FuzzParseStore: any --store value either names a DuckDB file (exactly
// what follows duckdb:, or the data dir's file for an empty value) or is
// refused with an error quoting it.
func FuzzParseStore(f *testing.F) {
	for _, s := range []string{"", "duckdb:/x.duckdb", "duckdb:", "duckdb://x", "clickhouse://h:9000/db", "x", ":", "duckdb:a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		c, err := parseStore(spec, "/data")
		if err != nil {
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", spec)) {
				t.Fatalf("parseStore(%q): error %q does not quote the value", spec, err)
			}
			return
		}
		want := strings.TrimPrefix(spec, "duckdb:")
		if spec == "" {
			want = filepath.Join("/data", DefaultStoreFile)
		}
		if c.scheme != "duckdb" || c.path == "" || c.path != want {
			t.Fatalf("parseStore(%q) = %+v, want duckdb at %q", spec, c, want)
		}
	})
}
