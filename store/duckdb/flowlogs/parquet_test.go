package flowlogs_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/flowlog/source"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs/flowlogstest"
)

// Parquet as AWS delivers it: underscore column names, typed columns.
func TestImportParquet(t *testing.T) {
	sink := &flowlogstest.Sink{}
	im, st := flowlogstest.NewImporter(t, importer.Config{}, sink)
	path := filepath.Join(t.TempDir(), "flows.parquet")
	if _, err := st.DB().Exec(`COPY (SELECT * FROM (VALUES
		(5, '123456789010', 'eni-1', '10.0.0.1', '10.0.0.2', 443, 51000, 6, 10::BIGINT, 5000::BIGINT, 1700000000::BIGINT, 1700000060::BIGINT, 'ACCEPT', 'OK', 'vpc-1', 'egress', 1),
		(5, '123456789010', 'eni-2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1700000000::BIGINT, 1700000060::BIGINT, NULL, 'NODATA', 'vpc-1', NULL, NULL)
	) t(version, account_id, interface_id, srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, start, "end", action, log_status, vpc_id, flow_direction, traffic_path))
	TO '` + path + `' (FORMAT PARQUET)`); err != nil {
		t.Fatal(err)
	}
	in, err := source.ExpandPaths(context.Background(), []string{path}, source.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := source.ImportInputs(context.Background(), im, "pq", in, source.ImportOptions{})
	if err != nil || sum.Records != 2 || sum.FailedFiles != 0 {
		t.Fatalf("%+v %v", sum, err)
	}
	got := flowlogstest.Rows(t, st.DB(), `SELECT log_stream, version, srcaddr, srcport, packets, action, log_status, vpc_id, flow_direction, traffic_path FROM flowlog_records ORDER BY log_stream`)
	want := "eni-1 5 10.0.0.1 443 10 ACCEPT OK vpc-1 egress 1\neni-2 5 NULL NULL NULL NULL NODATA vpc-1 NULL NULL"
	if strings.Join(got, "\n") != want {
		t.Errorf("stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	if len(sink.Msgs) != 2 || !strings.HasPrefix(sink.Msgs[0]+sink.Msgs[1], "5 123456789010 eni-") || !strings.Contains(strings.Join(sink.Msgs, "|"), "- - - - - - - 1700000000 1700000060 - NODATA vpc-1 - -") {
		t.Errorf("sink %q", sink.Msgs)
	}
	again, err := source.ImportInputs(context.Background(), im, "pq", in, source.ImportOptions{})
	if err != nil || again.Duplicates != 1 || again.Records != 0 {
		t.Fatalf("again %+v %v", again, err)
	}
	// A column of a type no field can hold is a clear error naming it.
	bad := filepath.Join(t.TempDir(), "bad.parquet")
	st.DB().Exec(`COPY (SELECT 1 AS srcaddr, [2, 3] AS srcport) TO '` + bad + `' (FORMAT PARQUET)`)
	in, _ = source.ExpandPaths(context.Background(), []string{bad}, source.SourceOptions{})
	s, _ := source.ImportInputs(context.Background(), im, "pq", in, source.ImportOptions{})
	if s.FailedFiles != 1 || !strings.Contains(s.Files[0].Error, `parquet column "srcport" has type INTEGER[], which cannot hold field srcport`) {
		t.Errorf("mistyped column: %+v", s)
	}
}

// Parquet rows whose start or end lies more than MaxFuture ahead are left
// out and counted as bad lines, like text records (TestFutureFlowLogRecordRefused).
func TestFutureParquetRecordsRefused(t *testing.T) {
	sink := &flowlogstest.Sink{}
	im, st := flowlogstest.NewImporter(t, importer.Config{}, sink)
	path := filepath.Join(t.TempDir(), "future.parquet")
	if _, err := st.DB().Exec(`COPY (SELECT * FROM (VALUES
		(2, 'eni-1', 1700000000::BIGINT, 1700000060::BIGINT, 'OK'),
		(2, 'eni-2', 9999999999::BIGINT, 9999999999::BIGINT, 'OK'),
		(2, 'eni-3', NULL, NULL, 'NODATA')
	) t(version, interface_id, start, "end", log_status)) TO '` + path + `' (FORMAT PARQUET)`); err != nil {
		t.Fatal(err)
	}
	in, err := source.ExpandPaths(context.Background(), []string{path}, source.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := source.ImportInputs(context.Background(), im, "pq", in, source.ImportOptions{})
	if err != nil || sum.Records != 2 || sum.Files[0].BadLines != 1 || len(sum.Files[0].Errors) != 1 ||
		!strings.Contains(sum.Files[0].Errors[0].Reason, "1 rows left out") || !strings.Contains(sum.Files[0].Errors[0].Reason, "more than 10m0s in the future") {
		t.Fatalf("%+v %v", sum, err)
	}
	if got := strings.Join(flowlogstest.Rows(t, st.DB(), `SELECT log_stream FROM flowlog_records ORDER BY log_stream`), " "); got != "eni-1 eni-3" {
		t.Errorf("stored %s, want eni-1 eni-3", got)
	}
	if strings.Contains(strings.Join(sink.Msgs, "|"), "9999999999") {
		t.Errorf("the future record reached metric filters: %q", sink.Msgs)
	}
}
