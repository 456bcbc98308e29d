package logquery

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs"
)

// testSources are the server's sources: the flows from the flow store,
// every other group from the flow-log records.
func testSources() *Sources {
	return (&Sources{}).
		AddGroup(FlowsGroup, "the agent's flows", duckdb.FlowsLogSource()).
		SetGroups("flow-log groups", flowlogs.LogSource())
}

// openStore opens a real DuckDB file in a temporary directory with the
// flow-log tables.
func openStore(t testing.TB) *duckdb.Store {
	t.Helper()
	st, err := duckdb.Open(duckdb.Config{Path: filepath.Join(t.TempDir(), "flowlens.duckdb")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.MigrateComponent(context.Background(), flowlogs.Component, flowlogs.Migrations()); err != nil {
		t.Fatal(err)
	}
	return st
}

// insertRecords stores default-format lines (as the importer would: "-"
// as NULL, stream = interface id) with plain SQL.
func insertRecords(t testing.TB, st *duckdb.Store, group, path string) int {
	t.Helper()
	db := st.DB()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `INSERT INTO flowlog_formats (id, fields) VALUES (1, ?) ON CONFLICT DO NOTHING`,
		strings.Join(defaultFields(), " ")); err != nil {
		t.Fatal(err)
	}
	// A file per call, so that each group has one (SOURCE lists the
	// groups by their files).
	var fileID int64
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) + 1 FROM flowlog_files`).Scan(&fileID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO flowlog_files VALUES (?, ?, ?, 'x', 0, 0, 0, now())`, fileID, group, path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cols []string
	for _, n := range defaultFields() {
		fl, _ := flowlog.FieldByName(n)
		cols = append(cols, `"`+fl.Column+`"`)
	}
	// event_time is the record's start, as the importer stores it.
	ins := `INSERT INTO flowlog_records_all (log_group, log_stream, file_id, format_id, ` + strings.Join(cols, ", ") +
		`, event_time) VALUES (?, ?, ?, 1` + strings.Repeat(", ?", len(cols)) + `, ?)`
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		args := []any{group, parts[2], fileID}
		for i, p := range parts {
			fl, _ := flowlog.FieldByName(defaultFields()[i])
			switch {
			case p == "-":
				args = append(args, nil)
			case fl.Type != flowlog.String:
				v, err := strconv.ParseInt(p, 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				args = append(args, v)
			default:
				args = append(args, p)
			}
		}
		args = append(args, args[3+flowlog.Default.Position("start")])
		if _, err := db.ExecContext(ctx, ins, args...); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

func defaultFields() []string {
	var out []string
	for _, tok := range strings.Fields(flowlog.DefaultFormat) {
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(tok, "${"), "}"))
	}
	return out
}
