package flowlog

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/flowlens/flowlens/store/duckdb"
)

type recordingSink struct {
	mu    sync.Mutex
	group []string
	times []int64
	msgs  []string
}

func (s *recordingSink) Ingested(group string, t []int64, m []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range t {
		s.group = append(s.group, group)
	}
	s.times = append(s.times, t...)
	s.msgs = append(s.msgs, m...)
}

func newTestImporter(t *testing.T, cfg ImporterConfig, sink Ingester) (*Importer, *duckdb.Store) {
	t.Helper()
	st, err := duckdb.Open(duckdb.Config{Path: filepath.Join(t.TempDir(), "f.duckdb")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	im, err := NewImporter(context.Background(), st, cfg, nil, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := im.Close(); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	return im, st
}

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func referenceText(header bool) string {
	var b strings.Builder
	if header {
		b.WriteString(Default.Names() + "\n")
	}
	for _, r := range referenceRecords {
		b.WriteString(r.line + "\n")
	}
	return b.String()
}

// rows reads query results as strings ("NULL" for NULL), one line per row.
func rows(t *testing.T, db *sql.DB, q string, args ...any) []string {
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

// Acceptance: the reference's example records import correctly (NODATA,
// SKIPDATA, ICMP, IPv6), from a gzip file with the S3 header line, and
// importing the same file again stores nothing.
func TestImportReferenceExamples(t *testing.T) {
	sink := &recordingSink{}
	im, st := newTestImporter(t, ImporterConfig{}, sink)
	ctx := context.Background()
	data := gz(t, referenceText(true))
	sum, err := im.Import(ctx, Request{Group: "vpc", Source: "ref.log.gz"}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != 7 || sum.BadLines != 0 || sum.Duplicate || sum.Bytes != int64(len(data)) || sum.Format != DefaultFormat {
		t.Fatalf("summary %+v", sum)
	}
	got := rows(t, st.DB(), `SELECT log_group, log_stream, version, account_id, interface_id, srcaddr, dstaddr, srcport, dstport, protocol,
		packets, bytes, start, "end", action, log_status, vpc_id, tcp_flags FROM flowlog_records ORDER BY start, srcaddr NULLS FIRST, interface_id`)
	want := []string{
		"vpc eni-1235b8ca123456789 2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK NULL NULL",
		"vpc eni-1235b8ca123456789 2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK NULL NULL",
		"vpc eni-11111111aaaaaaaaa 2 123456789010 eni-11111111aaaaaaaaa NULL NULL NULL NULL NULL NULL NULL 1431280876 1431280934 NULL SKIPDATA NULL NULL",
		"vpc eni-1235b8ca123456789 2 123456789010 eni-1235b8ca123456789 NULL NULL NULL NULL NULL NULL NULL 1431280876 1431280934 NULL NODATA NULL NULL",
		"vpc eni-1235b8ca123456789 2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917142 ACCEPT OK NULL NULL",
		"vpc eni-1235b8ca123456789 2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 0 0 1 4 336 1432917094 1432917142 REJECT OK NULL NULL",
		"vpc eni-1235b8ca123456789 2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK NULL NULL",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The format is recorded so that @message can be rebuilt.
	if f := rows(t, st.DB(), `SELECT DISTINCT f.fields FROM flowlog_records r JOIN flowlog_formats f ON f.id = r.format_id`); len(f) != 1 || f[0] != Default.Names() {
		t.Errorf("formats %v", f)
	}
	// The metric-filter sink saw every record with its start and text.
	if len(sink.msgs) != 7 || sink.msgs[2] != referenceRecords[2].line || sink.times[6] != 1477913708 || sink.group[0] != "vpc" {
		t.Errorf("sink saw %d records: %q %v", len(sink.msgs), sink.msgs, sink.times)
	}

	// Same content again: nothing stored, said so; with the hash known
	// up front it is not even read.
	again, err := im.Import(ctx, Request{Group: "vpc", Source: "copy.gz"}, bytes.NewReader(data))
	if err != nil || !again.Duplicate || again.Records != 0 {
		t.Fatalf("second import %+v, %v", again, err)
	}
	known, err := im.Import(ctx, Request{Group: "vpc", Source: "copy.gz", SHA256: sum.SHA256}, strings.NewReader("never read"))
	if err != nil || !known.Duplicate {
		t.Fatalf("import with known hash %+v, %v", known, err)
	}
	if n := rows(t, st.DB(), `SELECT count(*) FROM flowlog_records`); n[0] != "7" || len(sink.msgs) != 7 {
		t.Fatalf("%s records after re-import, sink %d", n[0], len(sink.msgs))
	}
	// Another group gets its own copy.
	other, err := im.Import(ctx, Request{Group: "other", Source: "ref.log.gz"}, bytes.NewReader(data))
	if err != nil || other.Duplicate || other.Records != 7 {
		t.Fatalf("other group %+v, %v", other, err)
	}
	// A wrong announced hash stores nothing.
	if _, err := im.Import(ctx, Request{Group: "third", Source: "x", SHA256: strings.Repeat("0", 64)}, bytes.NewReader(data)); err == nil {
		t.Fatal("wrong sha256 accepted")
	}
	groups, err := im.Groups(ctx)
	if err != nil || len(groups) != 2 || groups[0].Name != "other" || groups[1].Records != 7 || groups[1].Files != 1 || groups[1].Streams != 2 {
		t.Fatalf("groups %+v %v", groups, err)
	}
}

// Bad lines are skipped and reported with file, line and reason (the first
// MaxErrors of them), every one is counted, and the rest is stored. Small
// chunks put lines across chunk boundaries.
func TestImportBadLines(t *testing.T) {
	im, st := newTestImporter(t, ImporterConfig{MaxErrors: 3, ChunkBytes: 200, Parsers: 2}, nil)
	var b strings.Builder
	var wantBad []int64
	good := 0
	for i := 1; i <= 400; i++ {
		switch {
		case i%50 == 0:
			b.WriteString("2 123 eni-1 10.0.0.1 10.0.0.2 x 22 6 1 1 1 1 ACCEPT OK\n")
			wantBad = append(wantBad, int64(i))
		case i%77 == 0:
			b.WriteString("\n") // blank lines are not records
		case i == 123:
			b.WriteString("2 123 eni-1 " + strings.Repeat("a", 700) + " 10.0.0.2 1 22 6 1 1 1 1 ACCEPT OK\n")
			good++
		default:
			fmt.Fprintf(&b, "2 123 eni-%d 10.0.0.1 10.0.0.2 %d 22 6 1 1 %d 1 ACCEPT OK\n", i%3, i, i)
			good++
		}
	}
	sum, err := im.Import(context.Background(), Request{Group: "g", Source: "bad.log"}, strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != int64(good) || sum.BadLines != int64(len(wantBad)) || len(sum.Errors) != 3 {
		t.Fatalf("records %d (want %d), bad %d (want %d), %d errors", sum.Records, good, sum.BadLines, len(wantBad), len(sum.Errors))
	}
	for i, e := range sum.Errors {
		if e.File != "bad.log" || e.Line != wantBad[i] || !strings.Contains(e.Reason, `field 6 (srcport): "x"`) {
			t.Errorf("error %d: %+v, want line %d", i, e, wantBad[i])
		}
	}
	// Order is kept across chunks: start counts up with the line.
	if got := rows(t, st.DB(), `SELECT count(*), min(start), max(start), count(DISTINCT log_stream) FROM flowlog_records`); got[0] != fmt.Sprintf("%d 1 399 3", good) {
		t.Errorf("stored %s", got[0])
	}
}

// Custom formats: fields of versions 3-8 go to the wide table, the version
// column of a record without one is the format's version, a header that
// disagrees with the given format is an error.
func TestImportCustomFormat(t *testing.T) {
	im, st := newTestImporter(t, ImporterConfig{}, nil)
	ctx := context.Background()
	f, err := ParseFormat("${interface-id} ${srcaddr} ${dstaddr} ${tcp-flags} ${flow-direction} ${traffic-path} ${pkt-src-aws-service} ${start}")
	if err != nil {
		t.Fatal(err)
	}
	text := "eni-9 10.0.0.1 52.1.2.3 19 egress 8 - 1700000000\neni-9   10.0.0.1 52.1.2.4 3 ingress 1 S3 1700000060\n"
	sum, err := im.Import(ctx, Request{Group: "custom", Stream: "mystream", Format: f, Source: "c.log"}, strings.NewReader(text))
	if err != nil || sum.Records != 2 {
		t.Fatalf("%+v %v", sum, err)
	}
	got := rows(t, st.DB(), `SELECT log_stream, version, interface_id, dstaddr, tcp_flags, flow_direction, traffic_path, pkt_src_aws_service, start, action FROM flowlog_records ORDER BY start`)
	want := "mystream 5 eni-9 52.1.2.3 19 egress 8 NULL 1700000000 NULL\nmystream 5 eni-9 52.1.2.4 3 ingress 1 S3 1700000060 NULL"
	if strings.Join(got, "\n") != want {
		t.Errorf("stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	if n := rows(t, st.DB(), `SELECT (SELECT count(*) FROM flowlog_records_all), (SELECT count(*) FROM flowlog_records_v2f)`); n[0] != "2 0" {
		t.Errorf("physical tables %s", n[0])
	}
	_, err = im.Import(ctx, Request{Group: "custom", Format: f, Source: "h.log"}, strings.NewReader(referenceText(true)))
	if err == nil || !strings.Contains(err.Error(), "h.log:1: bad flow-log format: the header line says") {
		t.Errorf("header mismatch: %v", err)
	}
}

// Parquet as AWS delivers it: underscore column names, typed columns.
func TestImportParquet(t *testing.T) {
	sink := &recordingSink{}
	im, st := newTestImporter(t, ImporterConfig{}, sink)
	path := filepath.Join(t.TempDir(), "flows.parquet")
	if _, err := st.DB().Exec(`COPY (SELECT * FROM (VALUES
		(5, '123456789010', 'eni-1', '10.0.0.1', '10.0.0.2', 443, 51000, 6, 10::BIGINT, 5000::BIGINT, 1700000000::BIGINT, 1700000060::BIGINT, 'ACCEPT', 'OK', 'vpc-1', 'egress', 1),
		(5, '123456789010', 'eni-2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1700000000::BIGINT, 1700000060::BIGINT, NULL, 'NODATA', 'vpc-1', NULL, NULL)
	) t(version, account_id, interface_id, srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, start, "end", action, log_status, vpc_id, flow_direction, traffic_path))
	TO '` + path + `' (FORMAT PARQUET)`); err != nil {
		t.Fatal(err)
	}
	in, err := ExpandPaths(context.Background(), []string{path}, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := im.ImportInputs(context.Background(), "pq", in, ImportOptions{})
	if err != nil || sum.Records != 2 || sum.FailedFiles != 0 {
		t.Fatalf("%+v %v", sum, err)
	}
	got := rows(t, st.DB(), `SELECT log_stream, version, srcaddr, srcport, packets, action, log_status, vpc_id, flow_direction, traffic_path FROM flowlog_records ORDER BY log_stream`)
	want := "eni-1 5 10.0.0.1 443 10 ACCEPT OK vpc-1 egress 1\neni-2 5 NULL NULL NULL NULL NODATA vpc-1 NULL NULL"
	if strings.Join(got, "\n") != want {
		t.Errorf("stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	if len(sink.msgs) != 2 || !strings.HasPrefix(sink.msgs[0]+sink.msgs[1], "5 123456789010 eni-") || !strings.Contains(strings.Join(sink.msgs, "|"), "- - - - - - - 1700000000 1700000060 - NODATA vpc-1 - -") {
		t.Errorf("sink %q", sink.msgs)
	}
	again, err := im.ImportInputs(context.Background(), "pq", in, ImportOptions{})
	if err != nil || again.Duplicates != 1 || again.Records != 0 {
		t.Fatalf("again %+v %v", again, err)
	}
	// Unknown columns are a clear error.
	bad := filepath.Join(t.TempDir(), "bad.parquet")
	st.DB().Exec(`COPY (SELECT 1 AS srcaddr, 2 AS colour) TO '` + bad + `' (FORMAT PARQUET)`)
	in, _ = ExpandPaths(context.Background(), []string{bad}, SourceOptions{})
	s, _ := im.ImportInputs(context.Background(), "pq", in, ImportOptions{})
	if s.FailedFiles != 1 || !strings.Contains(s.Files[0].Error, `parquet column "colour"`) {
		t.Errorf("unknown column: %+v", s)
	}
}

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

// A generated file of many chunks imports whole, with every parser.
func TestImportGenerated(t *testing.T) {
	im, st := newTestImporter(t, ImporterConfig{ChunkBytes: 64 << 10, Parsers: 3}, nil)
	var b bytes.Buffer
	if err := Generate(&b, GenConfig{Records: 20000, Seed: 3, Header: true}); err != nil {
		t.Fatal(err)
	}
	sum, err := im.Import(context.Background(), Request{Group: "gen", Source: "gen.log"}, &b)
	if err != nil || sum.Records != 20000 || sum.BadLines != 0 {
		t.Fatalf("%+v %v", sum, err)
	}
	got := rows(t, st.DB(), `SELECT count(*) FILTER (WHERE action = 'REJECT') BETWEEN 600 AND 1400, count(*) FILTER (WHERE log_status = 'NODATA') > 0 FROM flowlog_records`)
	if got[0] != "true true" {
		t.Errorf("generated mix: %s", got[0])
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
	p := filepath.Join(t.TempDir(), "ref.log")
	os.WriteFile(p, []byte(referenceText(false)), 0o644)
	sum, err := ImportFiles(context.Background(), st, "files", []string{p}, ImportOptions{}, SourceOptions{})
	if err != nil || sum.Records != 7 {
		t.Fatalf("%+v %v", sum, err)
	}
	if _, err := ImportFiles(context.Background(), st, "files", []string{t.TempDir()}, ImportOptions{}, SourceOptions{}); err == nil {
		t.Error("empty directory accepted")
	}
}

// A file in which no line parses is an error, not an empty import.
func TestImportNothingParses(t *testing.T) {
	im, st := newTestImporter(t, ImporterConfig{}, nil)
	_, err := im.Import(context.Background(), Request{Group: "g", Source: "app.log"}, strings.NewReader("starting up\nlistening on :80\n"))
	if err == nil || !strings.Contains(err.Error(), "app.log: bad flow-log record: none of its 2 lines is a record") || !strings.Contains(err.Error(), "app.log:1: 2 fields") {
		t.Fatalf("error %v", err)
	}
	if n := rows(t, st.DB(), `SELECT count(*) FROM flowlog_files`); n[0] != "0" {
		t.Error("file recorded")
	}
}

// A truncated gzip file stores nothing and says which file.
func TestImportTruncatedGzip(t *testing.T) {
	im, st := newTestImporter(t, ImporterConfig{}, nil)
	var b bytes.Buffer
	Generate(&b, GenConfig{Records: 5000, Seed: 9})
	data := gz(t, b.String())
	_, err := im.Import(context.Background(), Request{Group: "g", Source: "cut.log.gz"}, bytes.NewReader(data[:len(data)/2]))
	if err == nil || !strings.HasPrefix(err.Error(), "cut.log.gz: ") || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Fatalf("error %v", err)
	}
	if n := rows(t, st.DB(), `SELECT (SELECT count(*) FROM flowlog_records), (SELECT count(*) FROM flowlog_files)`); n[0] != "0 0" {
		t.Errorf("stored %s", n[0])
	}
}

// Parquet rows whose start or end lies more than MaxFuture ahead are left
// out and counted as bad lines, like text records (TestFutureFlowLogRecordRefused).
func TestFutureParquetRecordsRefused(t *testing.T) {
	sink := &recordingSink{}
	im, st := newTestImporter(t, ImporterConfig{}, sink)
	path := filepath.Join(t.TempDir(), "future.parquet")
	if _, err := st.DB().Exec(`COPY (SELECT * FROM (VALUES
		(2, 'eni-1', 1700000000::BIGINT, 1700000060::BIGINT, 'OK'),
		(2, 'eni-2', 9999999999::BIGINT, 9999999999::BIGINT, 'OK'),
		(2, 'eni-3', NULL, NULL, 'NODATA')
	) t(version, interface_id, start, "end", log_status)) TO '` + path + `' (FORMAT PARQUET)`); err != nil {
		t.Fatal(err)
	}
	in, err := ExpandPaths(context.Background(), []string{path}, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := im.ImportInputs(context.Background(), "pq", in, ImportOptions{})
	if err != nil || sum.Records != 2 || sum.Files[0].BadLines != 1 || len(sum.Files[0].Errors) != 1 ||
		!strings.Contains(sum.Files[0].Errors[0].Reason, "1 records with a start or end more than 10m0s in the future") {
		t.Fatalf("%+v %v", sum, err)
	}
	if got := strings.Join(rows(t, st.DB(), `SELECT log_stream FROM flowlog_records ORDER BY log_stream`), " "); got != "eni-1 eni-3" {
		t.Errorf("stored %s, want eni-1 eni-3", got)
	}
	if strings.Contains(strings.Join(sink.msgs, "|"), "9999999999") {
		t.Errorf("the future record reached metric filters: %q", sink.msgs)
	}
}

// An import lowers the GC target to importGCPercent while it runs (a
// server at GOGC=400 otherwise let one 2 GiB upload's garbage raise its
// peak RSS by 861 MB) and puts back the previous target afterwards; a lower
// target or GOGC=off is left alone.
func TestLargeImportGarbageCollectedAtLowerTarget(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	restore := lowerGCWhileImporting()
	nested := lowerGCWhileImporting()
	nested()
	if got := gcPercent(); got != importGCPercent {
		t.Errorf("GC target while an import runs: %d, want %d", got, importGCPercent)
	}
	restore()
	if got := gcPercent(); got != 400 {
		t.Errorf("GC target after the imports: %d, want 400 back", got)
	}
	for _, prev := range []int{50, -1} {
		debug.SetGCPercent(prev)
		r := lowerGCWhileImporting()
		got := gcPercent()
		r()
		if got != prev {
			t.Errorf("GOGC %d became %d during an import", prev, got)
		}
	}
}

// gcPercent reads the GC target (SetGCPercent is the only accessor).
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}
