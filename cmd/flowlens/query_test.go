package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/flowlens/flowlens/apiclient"
	"github.com/flowlens/flowlens/internal/golden"
	"github.com/flowlens/flowlens/logquery"
)

// TestPrintQueryResultGolden: the three output formats of flowlens query.
func TestPrintQueryResultGolden(t *testing.T) {
	res := &apiclient.QueryResult{
		Columns: []string{"srcAddr", "count(*)", "@timestamp", "avg(bytes)"},
		Rows: [][]any{
			{"172.31.9.69", json.Number("2"), "2014-12-14 04:06:50.000", json.Number("4249.5")},
			{nil, json.Number("1"), "2015-05-10 18:01:16.000", nil},
		},
		Statistics: apiclient.QueryStatistics{RecordsScanned: 7, RecordsMatched: 3, BytesScanned: 301, ElapsedMs: 3.25},
		Warnings:   []string{`line 1, column 8: field "srcAdr" is in no record at this point of the query: it is empty (null) for every record; did you mean "srcAddr"?`},
	}
	for _, out := range []string{"table", "json", "csv"} {
		var buf bytes.Buffer
		if err := printQueryResult(&buf, out, res); err != nil {
			t.Fatal(err)
		}
		if out == "json" {
			var rows []map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rows); err != nil || len(rows) != 2 || rows[0]["count(*)"] != 2.0 {
				t.Errorf("json output does not decode to row objects: %v %v", err, rows)
			}
		}
		golden.Check(t, "query."+out+".golden", buf.String())
	}
	var buf bytes.Buffer
	printQueryResult(&buf, "json", &apiclient.QueryResult{Columns: []string{"a"}})
	if buf.String() != "[]\n" {
		t.Errorf("no rows: %q", buf.String())
	}
	err := queryError("fields a\n| filter x = ", &logquery.Error{Line: 2, Column: 12, Msg: "expected a value"})
	golden.Check(t, "query.error.golden", err.Error()+"\n")
	if e := errors.New("other"); queryError("q", e) != e {
		t.Error("other errors pass through")
	}
}
