package flowlogs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/logquery"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs/flowlogstest"
)

// TestEveryRecordTimestamped: a record's timestamp (event_time, and the
// time metric filters get) is its start, else its end, else the time in
// an AWS S3 delivery file name, else the ingestion time; a file-name time
// further ahead than MaxFuture is not believed. Every record is then
// found by a query over its time, @ingestionTime is the import's time,
// and a field the catalogue does not know is queryable by its camelCase
// name.
func TestEveryRecordTimestamped(t *testing.T) {
	future := time.Now().Add(24 * time.Hour).UTC().Format("20060102T1504Z")
	cases := []struct {
		source, format, line string
		want                 int64 // 0: the ingestion time
	}{
		{"a.log", "${srcaddr} ${start} ${end}", "10.0.0.1 1700000000 1700000060", 1700000000},
		{"b.log", "${srcaddr} ${end}", "10.0.0.2 1700000060", 1700000060},
		{"c.log", "${srcaddr} ${start} ${end}", "10.0.0.3 - 1700000060", 1700000060},
		{"123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20180620T1620Z_fe123456.log.gz", "${srcaddr} ${dstaddr}", "10.0.0.4 10.0.0.9", 1529511600},
		{"d.log", "${srcaddr} ${dstaddr}", "10.0.0.5 10.0.0.9", 0},
		{"x_" + future + "_h.log", "${srcaddr} ${dstaddr}", "10.0.0.6 10.0.0.9", 0},
		{"e.log", "${version} ${srcaddr} ${start} ${new-field}", "2 10.0.0.7 1700000000 hello", 1700000000},
		{"f.log", "${srcaddr} ${new-field}", "10.0.0.8 world", 0},
	}
	sink := &flowlogstest.Sink{}
	im, st := flowlogstest.NewImporter(t, importer.Config{}, sink)
	before := time.Now().Unix()
	for _, c := range cases {
		f, err := flowlog.ParseFormat(c.format)
		if err != nil {
			t.Fatal(err)
		}
		body := c.line + "\n"
		if strings.HasSuffix(c.source, ".gz") {
			body = string(flowlogstest.Gzip(body))
		}
		sum, err := im.Import(context.Background(), importer.Request{Group: "g", Source: c.source, Format: f}, strings.NewReader(body))
		if err != nil || sum.Records != 1 {
			t.Fatalf("%s: %+v %v", c.source, sum, err)
		}
	}
	after := time.Now().Unix()
	for i, c := range cases {
		addr := strings.Fields(c.line)[1]
		if strings.HasPrefix(c.format, "${srcaddr}") {
			addr = strings.Fields(c.line)[0]
		}
		row := flowlogstest.Rows(t, st.DB(), `SELECT event_time, ingestion_time FROM flowlog_records WHERE srcaddr = ?`, addr)
		var ev, ing int64
		if len(row) != 1 {
			t.Fatalf("%s: rows %q", c.source, row)
		}
		fmt.Sscan(row[0], &ev, &ing)
		if c.want != 0 && ev != c.want || c.want == 0 && (ev < before || ev > after) {
			t.Errorf("%s: event_time %d, want %d (0: %d..%d)", c.source, ev, c.want, before, after)
		}
		if ing < before*1000 || ing > (after+1)*1000 {
			t.Errorf("%s: ingestion_time %d ms, want %d..%d s", c.source, ing, before, after)
		}
		if sink.Times[i] != ev {
			t.Errorf("%s: metric filters got time %d, stored %d", c.source, sink.Times[i], ev)
		}
	}
	// Every record is in a query over all time, with @timestamp set.
	res, err := logquery.NewEngine(st.DB(), (&logquery.Sources{}).SetGroups("flow-log groups", flowlogs.LogSource())).Run(context.Background(), logquery.Request{
		Query:  `fields srcAddr, newField, @ingestionTime | filter ispresent(@timestamp) | sort srcAddr`,
		Groups: []string{"g"}, Start: time.Unix(0, 0), End: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != len(cases) {
		t.Fatalf("%d rows: %v", len(res.Rows), res.Rows)
	}
	if res.Rows[6][1] != "hello" || res.Rows[7][1] != "world" || res.Rows[0][1] != nil || res.Rows[0][2] == nil {
		t.Errorf("newField / @ingestionTime: %v", res.Rows)
	}
}
