package flowlogs_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/flowlog"
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

// TestParquetFromOtherWriters reads Parquet files shaped as other writers
// make them (built here with DuckDB's COPY: the Parquet physical and
// logical types are what matters, not the writer): by column name, with
// their types, and with clear errors naming the missing or mistyped
// column. AWS's own schema: "Flow log records" (Parquet data type of
// each field: INT_32 version/ports/tcp-flags, INT_64 protocol/packets/
// bytes/start/end, STRING the rest).
func TestParquetFromOtherWriters(t *testing.T) {
	cases := []struct {
		name      string
		sql       string // SELECT ... to COPY into the file
		format    string // --format, "" for none
		read      string // SELECT over flowlog_records, rows joined by "|"
		want      string
		bad       int64
		warning   string // a warning containing this
		err       string // an import error containing this
		eventTime string // every record's event_time, joined by " "
	}{
		{name: "aws schema",
			sql: `SELECT 5::INTEGER AS version, '123456789010' AS account_id, 'eni-1' AS interface_id, '10.0.0.1' AS srcaddr,
				'10.0.0.2' AS dstaddr, 443::INTEGER AS srcport, 51000::INTEGER AS dstport, 6::BIGINT AS protocol, 10::BIGINT AS packets,
				5000::BIGINT AS bytes, 1700000000::BIGINT AS start, 1700000060::BIGINT AS "end", 'ACCEPT' AS action, 'OK' AS log_status,
				'egress' AS flow_direction, 8::INTEGER AS traffic_path`,
			read: `SELECT srcport, protocol, packets, traffic_path, flow_direction FROM flowlog_records`, want: "443 6 10 8 egress",
			eventTime: "1700000000"},
		{name: "pandas: int64 everywhere, numbers for ids, float64 where a value is missing, its index",
			sql: `SELECT * FROM (VALUES (0::BIGINT, 2::BIGINT, 123456789010::BIGINT, 'eni-1', 443::BIGINT, 10.0::DOUBLE, 1700000000::BIGINT),
				(1, 2, 123456789010, 'eni-2', 80, NULL, 1700000060)) t(__index_level_0__, version, account_id, interface_id, dstport, packets, start)`,
			read: `SELECT log_stream, account_id, dstport, packets FROM flowlog_records ORDER BY log_stream`,
			want: "eni-1 123456789010 443 10|eni-2 123456789010 80 NULL", warning: `parquet columns "__index_level_0__" left out`,
			eventTime: "1700000000 1700000060"},
		{name: "spark: timestamps for start and end, unsigned integers, binary strings",
			sql: `SELECT TIMESTAMP '2023-11-14 22:13:20' AS start, TIMESTAMP '2023-11-14 22:14:20' AS "end", 443::UINTEGER AS dstport,
				4000000000::UBIGINT AS bytes, '10.0.0.1'::BLOB AS srcaddr, 'REJECT'::BLOB AS action`,
			read: `SELECT start, "end", dstport, bytes, srcaddr, action FROM flowlog_records`, want: "1700000000 1700000060 443 4000000000 10.0.0.1 REJECT",
			eventTime: "1700000000"},
		{name: "text numbers, '-' as missing",
			sql:  `SELECT * FROM (VALUES ('443', '-', 'OK'), (' 80', '1700000000', 'OK')) t(dstport, start, log_status)`,
			read: `SELECT dstport, start FROM flowlog_records ORDER BY dstport`, want: "80 1700000000|443 NULL"},
		{name: "values that do not fit their field are left out and counted",
			sql: `SELECT * FROM (VALUES (1, -1::BIGINT, 1::BIGINT, 'a'), (2, 2147483648, 1, 'b'), (3, 22, 9223372036854775807::HUGEINT + 1, 'c'),
				(4, 22, 1, 'd'), (5, 22, NULL, 'e')) t(i, dstport, bytes, interface_id)`,
			read: `SELECT log_stream FROM flowlog_records ORDER BY log_stream`, want: "d|e", bad: 3, warning: `parquet columns "i" left out`, format: "${dstport} ${bytes} ${interface-id}"},
		{name: "a fractional float in an integer field is left out",
			sql:  `SELECT * FROM (VALUES (1.5::DOUBLE, 'x'), (2.0, 'y')) t(packets, interface_id)`,
			read: `SELECT log_stream, packets FROM flowlog_records`, want: "y 2", bad: 1},
		{name: "transit gateway fields and a field the catalogue does not know",
			sql: `SELECT 'TransitGateway' AS resource_type, 'tgw-1' AS tgw_id, 3::BIGINT AS packets_lost_no_route, 'x1' AS new_field,
				TIMESTAMP '2023-11-14 22:13:20' AS event_ts`,
			read: `SELECT resource_type, tgw_id, packets_lost_no_route, extra FROM flowlog_records`, want: "TransitGateway tgw-1 3 [x1 2023-11-14 22:13:20]",
			warning: "unknown field(s) new-field, event-ts stored as text", eventTime: "1700000000"},
		{name: "a boolean cannot be a port",
			sql: `SELECT true AS dstport`, err: `parquet column "dstport" has type BOOLEAN, which cannot hold field dstport`},
		{name: "a struct cannot be text",
			sql: `SELECT {'a': 1} AS srcaddr`, err: `parquet column "srcaddr" has type STRUCT(a INTEGER), which cannot hold field srcaddr`},
		{name: "a column of the given format is missing",
			sql: `SELECT '10.0.0.1' AS srcaddr, 1 AS srcport`, format: "${srcaddr} ${dstaddr}",
			err: `parquet column "dstaddr" (field dstaddr of the given format) is missing; the file's columns are "srcaddr", "srcport"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			im, st := flowlogstest.NewImporter(t, importer.Config{}, nil)
			path := filepath.Join(t.TempDir(), "f.parquet")
			if _, err := st.DB().Exec(`COPY (` + c.sql + `) TO '` + path + `' (FORMAT PARQUET)`); err != nil {
				t.Fatal(err)
			}
			var opts source.ImportOptions
			if c.format != "" {
				var err error
				if opts.Format, err = flowlog.ParseFormat(c.format); err != nil {
					t.Fatal(err)
				}
			}
			in, err := source.ExpandPaths(context.Background(), []string{path}, source.SourceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sum, err := source.ImportInputs(context.Background(), im, "pq", in, opts)
			if err != nil {
				t.Fatal(err)
			}
			fs := sum.Files[0]
			if c.err != "" {
				if !strings.Contains(fs.Error, c.err) {
					t.Fatalf("error %q, want %q", fs.Error, c.err)
				}
				return
			}
			if fs.Error != "" || fs.BadLines != c.bad {
				t.Fatalf("%+v, want %d bad lines", fs, c.bad)
			}
			if c.warning != "" && !strings.Contains(strings.Join(fs.Warnings, "|"), c.warning) {
				t.Errorf("warnings %q, want %q", fs.Warnings, c.warning)
			}
			if got := strings.Join(flowlogstest.Rows(t, st.DB(), c.read), "|"); got != c.want {
				t.Errorf("stored %q, want %q", got, c.want)
			}
			if c.eventTime != "" {
				if got := strings.Join(flowlogstest.Rows(t, st.DB(), `SELECT event_time FROM flowlog_records ORDER BY event_time`), " "); got != c.eventTime {
					t.Errorf("event_time %s, want %s", got, c.eventTime)
				}
			}
		})
	}
}
