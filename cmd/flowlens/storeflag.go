package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/store/duckdb"
)

// storeFlags choose the store `server` and `demo` run on (--store) and
// tune it. cmd/flowlens is the one place that opens a concrete store: the
// server and the features see only its interfaces (store.Backend).
type storeFlags struct {
	spec      string
	retention store.Retention
}

const storeUsage = `where flows, metric points and the features' tables are kept: duckdb:PATH is an embedded DuckDB file (created if missing; a relative PATH is from the working directory); clickhouse://HOST:PORT/DB is reserved for the scale-out store, not built yet (default duckdb:DATA_DIR/flowlens.duckdb)`

// register adds --store and, with retention, the roll-up retention flags.
func (f *storeFlags) register(fs *pflag.FlagSet, retention bool) {
	f.retention = store.DefaultRetention
	fs.StringVar(&f.spec, "store", "", storeUsage)
	if !retention {
		return
	}
	fs.DurationVar(&f.retention.Raw, "retention-raw", store.DefaultRetention.Raw, "how long raw flows are kept")
	fs.DurationVar(&f.retention.Min1, "retention-1m", store.DefaultRetention.Min1, "how long 1-minute roll-ups are kept")
	fs.DurationVar(&f.retention.Min10, "retention-10m", store.DefaultRetention.Min10, "how long 10-minute roll-ups are kept")
	fs.DurationVar(&f.retention.Hour1, "retention-1h", store.DefaultRetention.Hour1, "how long 1-hour roll-ups are kept")
}

// storeChoice is a parsed --store.
type storeChoice struct {
	scheme string // "duckdb"
	path   string // the DuckDB file
}

// DefaultStoreFile is the DuckDB file inside the data dir when --store is
// not given.
const DefaultStoreFile = "flowlens.duckdb"

// parseStore reads a --store value; empty is the DuckDB file in dataDir.
func parseStore(spec, dataDir string) (storeChoice, error) {
	if spec == "" {
		return storeChoice{scheme: "duckdb", path: filepath.Join(dataDir, DefaultStoreFile)}, nil
	}
	scheme, rest, ok := strings.Cut(spec, ":")
	switch {
	case ok && scheme == "duckdb":
		if rest == "" {
			return storeChoice{}, fmt.Errorf("--store %q: give the DuckDB file, as duckdb:PATH", spec)
		}
		if strings.HasPrefix(rest, "//") {
			return storeChoice{}, fmt.Errorf("--store %q: write duckdb:PATH without //, e.g. duckdb:/var/lib/flowlens/flowlens.duckdb", spec)
		}
		return storeChoice{scheme: "duckdb", path: rest}, nil
	case ok && scheme == "clickhouse":
		return storeChoice{}, fmt.Errorf("--store %q: the ClickHouse store is not built yet; use duckdb:PATH", spec)
	}
	return storeChoice{}, fmt.Errorf("--store %q: unknown store; want duckdb:PATH (clickhouse://HOST:PORT/DB is reserved, not built yet)", spec)
}

// opener parses --store against dataDir and returns what the server calls
// to open it (server.Config.OpenStore).
func (f *storeFlags) opener(dataDir string) (func(*slog.Logger, prometheus.Registerer) (store.Backend, error), error) {
	c, err := parseStore(f.spec, dataDir)
	if err != nil {
		return nil, err
	}
	return duckdb.Opener(duckdb.Config{Path: c.path, Retention: f.retention}), nil
}
