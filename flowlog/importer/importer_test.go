package importer_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/internal/flowloggen"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs/flowlogstest"
)

// Acceptance: the reference's example records import correctly (NODATA,
// SKIPDATA, ICMP, IPv6), from a gzip file with the S3 header line, and
// importing the same file again stores nothing.
func TestImportReferenceExamples(t *testing.T) {
	sink := &flowlogstest.Sink{}
	im, st := flowlogstest.NewImporter(t, importer.Config{}, sink)
	ctx := context.Background()
	data := flowlogstest.Gzip(flowloggen.ReferenceText(true))
	sum, err := im.Import(ctx, importer.Request{Group: "vpc", Source: "ref.log.gz"}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != 7 || sum.BadLines != 0 || sum.Duplicate || sum.Bytes != int64(len(data)) || sum.Format != flowlog.DefaultFormat {
		t.Fatalf("summary %+v", sum)
	}
	got := flowlogstest.Rows(t, st.DB(), `SELECT log_group, log_stream, version, account_id, interface_id, srcaddr, dstaddr, srcport, dstport, protocol,
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
	if f := flowlogstest.Rows(t, st.DB(), `SELECT DISTINCT f.fields FROM flowlog_records r JOIN flowlog_formats f ON f.id = r.format_id`); len(f) != 1 || f[0] != flowlog.Default.Names() {
		t.Errorf("formats %v", f)
	}
	// The metric-filter sink saw every record with its start and text.
	if len(sink.Msgs) != 7 || sink.Msgs[2] != flowloggen.Reference[2] || sink.Times[6] != 1477913708 || sink.Group[0] != "vpc" {
		t.Errorf("sink saw %d records: %q %v", len(sink.Msgs), sink.Msgs, sink.Times)
	}

	// Same content again: nothing stored, said so; with the hash known
	// up front it is not even read.
	again, err := im.Import(ctx, importer.Request{Group: "vpc", Source: "copy.gz"}, bytes.NewReader(data))
	if err != nil || !again.Duplicate || again.Records != 0 {
		t.Fatalf("second import %+v, %v", again, err)
	}
	known, err := im.Import(ctx, importer.Request{Group: "vpc", Source: "copy.gz", SHA256: sum.SHA256}, strings.NewReader("never read"))
	if err != nil || !known.Duplicate {
		t.Fatalf("import with known hash %+v, %v", known, err)
	}
	if n := flowlogstest.Rows(t, st.DB(), `SELECT count(*) FROM flowlog_records`); n[0] != "7" || len(sink.Msgs) != 7 {
		t.Fatalf("%s records after re-import, sink %d", n[0], len(sink.Msgs))
	}
	// Another group gets its own copy.
	other, err := im.Import(ctx, importer.Request{Group: "other", Source: "ref.log.gz"}, bytes.NewReader(data))
	if err != nil || other.Duplicate || other.Records != 7 {
		t.Fatalf("other group %+v, %v", other, err)
	}
	// A wrong announced hash stores nothing.
	if _, err := im.Import(ctx, importer.Request{Group: "third", Source: "x", SHA256: strings.Repeat("0", 64)}, bytes.NewReader(data)); err == nil {
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
	im, st := flowlogstest.NewImporter(t, importer.Config{MaxErrors: 3, ChunkBytes: 200, Parsers: 2}, nil)
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
	sum, err := im.Import(context.Background(), importer.Request{Group: "g", Source: "bad.log"}, strings.NewReader(b.String()))
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
	if got := flowlogstest.Rows(t, st.DB(), `SELECT count(*), min(start), max(start), count(DISTINCT log_stream) FROM flowlog_records`); got[0] != fmt.Sprintf("%d 1 399 3", good) {
		t.Errorf("stored %s", got[0])
	}
}

// Custom formats: fields of versions 3-8 go to the wide table, the version
// column of a record without one is the format's version, a header that
// disagrees with the given format is an error.
func TestImportCustomFormat(t *testing.T) {
	im, st := flowlogstest.NewImporter(t, importer.Config{}, nil)
	ctx := context.Background()
	f, err := flowlog.ParseFormat("${interface-id} ${srcaddr} ${dstaddr} ${tcp-flags} ${flow-direction} ${traffic-path} ${pkt-src-aws-service} ${start}")
	if err != nil {
		t.Fatal(err)
	}
	text := "eni-9 10.0.0.1 52.1.2.3 19 egress 8 - 1700000000\neni-9   10.0.0.1 52.1.2.4 3 ingress 1 S3 1700000060\n"
	sum, err := im.Import(ctx, importer.Request{Group: "custom", Stream: "mystream", Format: f, Source: "c.log"}, strings.NewReader(text))
	if err != nil || sum.Records != 2 {
		t.Fatalf("%+v %v", sum, err)
	}
	got := flowlogstest.Rows(t, st.DB(), `SELECT log_stream, version, interface_id, dstaddr, tcp_flags, flow_direction, traffic_path, pkt_src_aws_service, start, action FROM flowlog_records ORDER BY start`)
	want := "mystream 5 eni-9 52.1.2.3 19 egress 8 NULL 1700000000 NULL\nmystream 5 eni-9 52.1.2.4 3 ingress 1 S3 1700000060 NULL"
	if strings.Join(got, "\n") != want {
		t.Errorf("stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	if n := flowlogstest.Rows(t, st.DB(), `SELECT (SELECT count(*) FROM flowlog_records_all), (SELECT count(*) FROM flowlog_records_v2f)`); n[0] != "2 0" {
		t.Errorf("physical tables %s", n[0])
	}
	_, err = im.Import(ctx, importer.Request{Group: "custom", Format: f, Source: "h.log"}, strings.NewReader(flowloggen.ReferenceText(true)))
	if err == nil || !strings.Contains(err.Error(), "h.log:1: bad flow-log format: the header line says") {
		t.Errorf("header mismatch: %v", err)
	}
}

// A generated file of many chunks imports whole, with every parser.
func TestImportGenerated(t *testing.T) {
	im, st := flowlogstest.NewImporter(t, importer.Config{ChunkBytes: 64 << 10, Parsers: 3}, nil)
	var b bytes.Buffer
	if err := flowloggen.Generate(&b, flowloggen.GenConfig{Records: 20000, Seed: 3, Header: true}); err != nil {
		t.Fatal(err)
	}
	sum, err := im.Import(context.Background(), importer.Request{Group: "gen", Source: "gen.log"}, &b)
	if err != nil || sum.Records != 20000 || sum.BadLines != 0 {
		t.Fatalf("%+v %v", sum, err)
	}
	got := flowlogstest.Rows(t, st.DB(), `SELECT count(*) FILTER (WHERE action = 'REJECT') BETWEEN 600 AND 1400, count(*) FILTER (WHERE log_status = 'NODATA') > 0 FROM flowlog_records`)
	if got[0] != "true true" {
		t.Errorf("generated mix: %s", got[0])
	}
}

// A file in which no line parses is an error, not an empty import.
func TestImportNothingParses(t *testing.T) {
	im, st := flowlogstest.NewImporter(t, importer.Config{}, nil)
	_, err := im.Import(context.Background(), importer.Request{Group: "g", Source: "app.log"}, strings.NewReader("starting up\nlistening on :80\n"))
	if err == nil || !strings.Contains(err.Error(), "app.log: bad flow-log record: none of its 2 lines is a record") || !strings.Contains(err.Error(), "app.log:1: 2 fields") {
		t.Fatalf("error %v", err)
	}
	if n := flowlogstest.Rows(t, st.DB(), `SELECT count(*) FROM flowlog_files`); n[0] != "0" {
		t.Error("file recorded")
	}
}

// A truncated gzip file stores nothing and says which file.
func TestImportTruncatedGzip(t *testing.T) {
	im, st := flowlogstest.NewImporter(t, importer.Config{}, nil)
	var b bytes.Buffer
	flowloggen.Generate(&b, flowloggen.GenConfig{Records: 5000, Seed: 9})
	data := flowlogstest.Gzip(b.String())
	_, err := im.Import(context.Background(), importer.Request{Group: "g", Source: "cut.log.gz"}, bytes.NewReader(data[:len(data)/2]))
	if err == nil || !strings.HasPrefix(err.Error(), "cut.log.gz: ") || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Fatalf("error %v", err)
	}
	if n := flowlogstest.Rows(t, st.DB(), `SELECT (SELECT count(*) FROM flowlog_records), (SELECT count(*) FROM flowlog_files)`); n[0] != "0 0" {
		t.Errorf("stored %s", n[0])
	}
}
