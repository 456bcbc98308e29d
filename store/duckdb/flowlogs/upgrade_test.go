package flowlogs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/internal/flowloggen"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs/flowlogstest"
)

// viewQuery reads every column the view had in migration 1, in a stable
// order (later migrations add columns).
var viewQuery = func() string {
	cols := []string{"log_group", "log_stream", "file_id", "format_id"}
	for _, f := range flowlog.Fields[:flowlog.BaseFields] {
		cols = append(cols, `"`+f.Column+`"`)
	}
	return `SELECT ` + strings.Join(cols, ", ") + ` FROM flowlog_records ORDER BY log_group, start, srcaddr NULLS FIRST, interface_id, log_status`
}()

// TestUpgradeToDictionaryTable stores the reference records the way
// schema version 2 did (text columns in flowlog_records_v2), upgrades to
// version 3 (dictionary-encoded flowlog_records_v2d) and checks that the
// view reads the same rows, then that new imports and rolled-back ones
// keep the dictionary dense and every record readable.
func TestUpgradeToDictionaryTable(t *testing.T) {
	ctx := context.Background()
	st := flowlogstest.OpenStore(t, duckdb.Config{})
	if err := st.MigrateComponent(ctx, flowlogs.Component, flowlogs.Migrations()[:2]); err != nil {
		t.Fatal(err)
	}
	// Version-2 rows, parsed by the real parser, written as version 2's
	// importer wrote them (log_stream = interface id).
	b := flowlog.NewBatch(flowlog.Default, false)
	for _, r := range flowloggen.Reference {
		if err := b.AppendLine([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	var cols []string
	for i := range flowlog.Default.Len() {
		cols = append(cols, `"`+flowlog.Default.Field(i).Column+`"`)
	}
	ins := `INSERT INTO flowlog_records_v2 (log_group, log_stream, file_id, format_id, ` + strings.Join(cols, ", ") +
		`) VALUES (?, ?, 1, 1` + strings.Repeat(", ?", flowlog.Default.Len()) + `)`
	for row := range b.Len() {
		args := []any{"old", b.Value(row, flowlog.Default.Position("interface-id"))}
		for k := range flowlog.Default.Len() {
			args = append(args, b.Value(row, k))
		}
		if _, err := st.DB().Exec(ins, args...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.DB().Exec(`INSERT INTO flowlog_formats VALUES (1, ?)`, flowlog.Default.Names()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`INSERT INTO flowlog_files VALUES (1, 'old', 'old.log', 'aa', ?, 0, 0, now()::TIMESTAMP)`, b.Len()); err != nil {
		t.Fatal(err)
	}
	before := flowlogstest.Rows(t, st.DB(), viewQuery)
	if len(before) != len(flowloggen.Reference) || !strings.Contains(strings.Join(before, "\n"), "NODATA") {
		t.Fatalf("version 2 rows:\n%s", strings.Join(before, "\n"))
	}

	im := newImporter(t, st, flowlogs.Config{})
	after := flowlogstest.Rows(t, st.DB(), viewQuery)
	if strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("after the upgrade:\n%s\nbefore:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
	if n := flowlogstest.Rows(t, st.DB(), `SELECT (SELECT count(*) FROM flowlog_records_v2f), (SELECT count(*) FROM information_schema.tables WHERE table_name IN ('flowlog_records_v2', 'flowlog_records_v2d'))`); n[0] != fmt.Sprintf("%d 0", len(flowloggen.Reference)) {
		t.Errorf("physical tables after the upgrade: %s", n[0])
	}

	// A file whose content is not what the caller announced is rolled
	// back after its records (and its new strings) were written.
	bad := "2 999999999999 eni-rolledback 10.1.1.1 10.1.1.2 1 2 6 1 40 1700000000 1700000060 ACCEPT OK\n"
	if _, err := im.Import(ctx, importer.Request{Group: "new", Source: "bad.log", SHA256: strings.Repeat("0", 64)}, strings.NewReader(bad)); err == nil {
		t.Fatal("checksum mismatch accepted")
	}
	good := "2 888888888888 eni-new 10.1.1.1 10.1.1.2 1 2 6 1 40 1700000000 1700000060 REJECT OK\n" +
		"2 888888888888 eni-new 10.1.1.3 10.1.1.2 1 2 6 1 40 1700000001 1700000061 ACCEPT WEIRD\n"
	if sum, err := im.Import(ctx, importer.Request{Group: "new", Source: "good.log"}, strings.NewReader(good)); err != nil || sum.Records != 2 {
		t.Fatalf("%+v %v", sum, err)
	}
	if n := flowlogstest.Rows(t, st.DB(), `SELECT count(*) = max(id), count(*) FILTER (WHERE value LIKE '%rolledback%' OR value = '999999999999') FROM flowlog_strings`); n[0] != "true 0" {
		t.Errorf("dictionary after a rollback: %s", n[0])
	}
	got := flowlogstest.Rows(t, st.DB(), `SELECT log_group, log_stream, account_id, interface_id, srcaddr, action, log_status FROM flowlog_records WHERE log_group = 'new' ORDER BY start`)
	want := "new eni-new 888888888888 eni-new 10.1.1.1 REJECT OK\nnew eni-new 888888888888 eni-new 10.1.1.3 ACCEPT WEIRD"
	if strings.Join(got, "\n") != want {
		t.Errorf("new records:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	// The old records read the same after the new strings were added.
	if again := flowlogstest.Rows(t, st.DB(), strings.Replace(viewQuery, "ORDER BY", "WHERE log_group = 'old' ORDER BY", 1)); strings.Join(again, "\n") != strings.Join(before, "\n") {
		t.Errorf("old records after new imports:\n%s", strings.Join(again, "\n"))
	}

	// A new importer (a server restart) continues the dictionary.
	im.Close()
	im2 := newImporter(t, st, flowlogs.Config{})
	more := "2 777777777777 eni-new 10.1.1.9 10.1.1.2 1 2 6 1 40 1700000002 1700000062 REJECT OK\n"
	if _, err := im2.Import(ctx, importer.Request{Group: "new", Stream: "s1", Source: "more.log"}, strings.NewReader(more)); err != nil {
		t.Fatal(err)
	}
	got = flowlogstest.Rows(t, st.DB(), `SELECT log_stream, account_id, srcaddr FROM flowlog_records WHERE start = 1700000002`)
	if strings.Join(got, "\n") != "s1 777777777777 10.1.1.9" {
		t.Errorf("after a restart: %v", got)
	}
	if n := flowlogstest.Rows(t, st.DB(), `SELECT count(*) = max(id) FROM flowlog_strings`); n[0] != "true" {
		t.Errorf("dictionary ids not dense: %s", n[0])
	}
}

// TestImportRestoresThreads: a text import runs DuckDB on one thread and
// puts the database's setting back afterwards, also when it fails.
func TestImportRestoresThreads(t *testing.T) {
	ctx := context.Background()
	st := flowlogstest.OpenStore(t, duckdb.Config{Threads: 3})
	im := newImporter(t, st, flowlogs.Config{})
	if _, err := im.Import(ctx, importer.Request{Group: "g", Source: "a.log"}, strings.NewReader(flowloggen.ReferenceText(false))); err != nil {
		t.Fatal(err)
	}
	if _, err := im.Import(ctx, importer.Request{Group: "g", Source: "bad.log"}, strings.NewReader("not a record\n")); err == nil {
		t.Fatal("bad file accepted")
	}
	if n := flowlogstest.Rows(t, st.DB(), `SELECT current_setting('threads')`); n[0] != "3" {
		t.Errorf("threads after imports: %s, want 3", n[0])
	}
}

func newImporter(t *testing.T, st *duckdb.Store, cfg flowlogs.Config) *importer.Importer {
	return flowlogstest.ImporterOn(t, st, importer.Config{}, cfg, nil)
}

// KeepThreads leaves DuckDB's thread count alone during a text import.
func TestImportKeepThreads(t *testing.T) {
	st := flowlogstest.OpenStore(t, duckdb.Config{Threads: 3})
	records, err := flowlogs.Open(context.Background(), st, flowlogs.Config{KeepThreads: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer records.Close()
	w, err := records.BeginText(context.Background(), importer.FileMeta{Group: "g", Source: "a.log"}, flowlog.Default)
	if err != nil {
		t.Fatal(err)
	}
	threads := flowlogstest.Rows(t, st.DB(), `SELECT current_setting('threads')`)
	w.Rollback()
	if threads[0] != "3" {
		t.Errorf("threads during an import with KeepThreads: %s, want 3", threads[0])
	}
}

func TestSchemaMigrates(t *testing.T) {
	db := flowlogstest.OpenStore(t, duckdb.Config{})
	if err := db.MigrateComponent(context.Background(), flowlogs.Component, flowlogs.Migrations()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DB().Exec(`SELECT "srcaddr", "end", "pkt_src_aws_service", "encryption_status" FROM ` + flowlogs.Table); err != nil {
		t.Fatal(err)
	}
}
