package logquery

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// runApp runs query over lines stored one second apart from t0.
func runApp(t *testing.T, lines []string, query string) (*Result, error) {
	t.Helper()
	e := appLogEngine(t, lines, every(len(lines), t0, time.Second))
	return e.Run(context.Background(), Request{Query: query, Groups: []string{appLogGroup}, Start: t0, End: t0.Add(time.Hour)})
}

// sortedRows prints rows in a stable order: records of one timestamp
// (the elements of one unnested list) have no order of their own.
func sortedRows(rows [][]any) string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprint(r)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestJSONFunctionsMatchTheDocumentation: jsonParse, map and list access,
// jsonStringify and unnest give what AWS's pages say (page and section
// beside each case; queries are the pages' own where they run as they
// are). Maps and lists show as compact JSON, their strings as they are.
func TestJSONFunctionsMatchTheDocumentation(t *testing.T) {
	for _, tc := range []struct {
		page    string
		lines   []string
		query   string
		columns string
		want    string // sortedRows of the result
	}{
		{
			page:    "CWL_QuerySyntax-Unnest (first example: two records, event.name exception and user action)",
			lines:   []string{`{"events": [{"name": "exception"}, {"name": "user action"}]}`},
			query:   `fields jsonParse(@message) as json_message | unnest json_message.events into event | display event.name`,
			columns: "event.name",
			want:    "[exception] [user action]",
		},
		{
			page:    "CWL_QuerySyntax-Unnest (second example: flatten, then filter items)",
			lines:   []string{`{"accounts":[{"id":"1","type":"internal"},{"id":"2","type":"external"},{"id":"3","type":"internal"}]}`},
			query:   `fields jsonParse(@message) as js | unnest js.accounts into account | filter account.type = "internal"`,
			columns: "js,account",
			want: `[{"accounts":[{"id":"1","type":"internal"},{"id":"2","type":"external"},{"id":"3","type":"internal"}]} {"id":"1","type":"internal"}] ` +
				`[{"accounts":[{"id":"1","type":"internal"},{"id":"2","type":"external"},{"id":"3","type":"internal"}]} {"id":"3","type":"internal"}]`,
		},
		{
			// The page's trimmedData is a discovered field; here it is
			// @message under that name.
			page: "CWL_QuerySyntax-Unnest (third example: flatten for aggregation)",
			lines: []string{`[{"accountId":"a","droppedSpans":3},{"accountId":"b","droppedSpans":1}]`,
				`[{"accountId":"a","droppedSpans":2.5}]`},
			query:   `fields @message as trimmedData | fields jsonParse(trimmedData) as accounts | unnest accounts into account | stats sum(account.droppedSpans) as n by account.accountId | sort n desc | limit 10`,
			columns: "account.accountId,n",
			want:    "[a 5.5] [b 1]",
		},
		{
			page:    "CWL_QuerySyntax-Unnest (MAP, String and numbers are a list of one item)",
			lines:   []string{`{"x": {"k": 1}}`, `{"x": "s"}`, `{"x": 5}`, `{"y": 1}`},
			query:   `fields jsonParse(@message) as js | unnest js.x into v | display v`,
			columns: "v",
			want:    `[5] [s] [{"k":1}]`,
		},
		{
			page:    "CWL_QuerySyntax-Unnest (a string field is a list of one item)",
			lines:   []string{`["a","b"]`, `plain text`},
			query:   `unnest @message into m | display m`,
			columns: "m",
			want:    `[["a","b"]] [plain text]`,
		},
		{
			page:    "CWL_QuerySyntax-operations-functions, Structure types (dot access: stats count() by json_message.status_code)",
			lines:   []string{`{"status_code": 200}`, `{"status_code": 200}`, `{"status_code": 500}`, `not json`},
			query:   `fields jsonParse(@message) as json_message | stats count() by json_message.status_code`,
			columns: "json_message.status_code,count()",
			want:    "[200 2] [500 1] [<nil> 1]",
		},
		{
			page:    "CWL_QuerySyntax-operations-functions, Structure types (bracket access: list[index])",
			lines:   []string{`{"users":[{"action":"GetData"},{"action":"PutData"}]}`, `{"users":[{"action":"PutData"}]}`},
			query:   `fields jsonParse(@message) as json_message | filter json_message.users[1].action = "PutData"`,
			columns: "json_message",
			want:    `[{"users":[{"action":"GetData"},{"action":"PutData"}]}]`,
		},
		{
			page:    "CWL_QuerySyntax-operations-functions, Structure types (special characters in backticks)",
			lines:   []string{`{"user.id": "123"}`, `{"user": {"id": "123"}}`},
			query:   "fields jsonParse(@message) as json_message | filter json_message.`user.id` = \"123\"",
			columns: "json_message",
			want:    `[{"user.id":"123"}]`,
		},
		{
			page:    "CWL_QuerySyntax-operations-functions, Structure types (maps and lists are null in string functions)",
			lines:   []string{`{"a": [1]}`},
			query:   `fields jsonParse(@message) as json_message | fields toupper(json_message) as up, toupper(json_message.a) as upList, strlen(json_message) as n`,
			columns: "json_message,up,upList,n",
			want:    `[{"a":[1]} <nil> <nil> <nil>]`,
		},
		{
			page:    "CWL_QuerySyntax-operations-functions, JSON functions (jsonStringify: a map or list as a JSON string)",
			lines:   []string{`{"server": {"ip": "10.0.0.1", "ports": [80, 443]}}`},
			query:   `fields jsonParse(@message) as js | fields jsonStringify(js.server) as s, jsonStringify(js.server.ports) as p, js.server.ports[1] as second | display s, p, second`,
			columns: "s,p,second",
			want:    `[{"ip":"10.0.0.1","ports":[80,443]} [80,443] 443]`,
		},
		{
			page:    "CWL_QuerySyntax-operations-functions, JSON functions (jsonParse: a JSON string becomes a map or list; other text is null)",
			lines:   []string{`{"level": "error", "latency": 120}`, `{"level": "info", "latency": 80}`, `level=error`},
			query:   `fields jsonParse(@message) as js | filter js.latency > 100 or not ispresent(js) | fields js.level as level, ispresent(js) as parsed`,
			columns: "js,level,parsed",
			want:    `[<nil> <nil> false] [{"level":"error","latency":120} error true]`,
		},
	} {
		res, err := runApp(t, tc.lines, tc.query)
		if err != nil {
			t.Errorf("%s: %v", tc.page, err)
			continue
		}
		if got := strings.Join(res.Columns, ","); got != tc.columns {
			t.Errorf("%s: columns %s, want %s", tc.page, got, tc.columns)
		}
		if got := sortedRows(res.Rows); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.page, got, tc.want)
		}
	}
}

// TestUnnestCountsRecordsBeforeIt: records matched are the log events
// that pass the filters before unnest, not the rows it makes
// (CWL_QuerySyntax-Unnest: unnest discards the record and generates new
// ones; the statistics count log events).
func TestUnnestCountsRecordsBeforeIt(t *testing.T) {
	lines := []string{`{"e":[1,2,3]}`, `{"e":[4,5]}`, `{"e":[]}`, `{"f":1}`}
	res, err := runApp(t, lines, `filter @message like "e" | fields jsonParse(@message) as js | unnest js.e into n | filter n > 1 | stats count(*) as rows, sum(n) as total`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Rows); got != "[[4 14]]" {
		t.Errorf("rows %s, want [[4 14]] (2, 3, 4 and 5; the empty list and the missing one make none)", got)
	}
	if res.Statistics.RecordsScanned != 4 || res.Statistics.RecordsMatched != 3 {
		t.Errorf("scanned %d matched %d, want 4 and 3", res.Statistics.RecordsScanned, res.Statistics.RecordsMatched)
	}
	// The element unused: unnest still makes the rows.
	res, err = runApp(t, lines, `fields jsonParse(@message) as js | unnest js.e into n | stats count(*) as rows`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Rows); got != "[[5]]" {
		t.Errorf("rows %s, want [[5]] (3 + 2 elements; [] and a missing list make none)", got)
	}
}

// TestJSONKeysAreBoundNotWritten: keys from the query (quotes,
// backslashes, SQL text) reach the database as a bound path and read the
// key they name.
func TestJSONKeysAreBoundNotWritten(t *testing.T) {
	lines := []string{`{"it's \"odd\"\\": 1, "x') OR 1=1 --": 2, "a b": {"c": 3}}`}
	res, err := runApp(t, lines, "fields jsonParse(@message) as j | fields j.`it's \"odd\"\\` as q, j.`x') OR 1=1 --` as inj, j.`a b`.c as sp | display q, inj, sp")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Rows); got != "[[1 2 3]]" {
		t.Errorf("rows %s, want [[1 2 3]]", got)
	}
	q, _ := Parse("fields jsonParse(@message) as j | fields j.`x') OR 1=1 --` as inj")
	c, err := Compile(q, appLogSource(), Range{Start: t0, End: t0})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.SQL, "OR 1=1") {
		t.Errorf("a key is written into the SQL: %s", c.SQL)
	}
}

// TestJSONAccessErrors: reading into a value that is not a map or list,
// and malformed paths, are errors at their position.
func TestJSONAccessErrors(t *testing.T) {
	for _, tc := range []struct{ query, want string }{
		{`fields @message[0]`, "line 1, column 8: @message is a string, not a map or list: make one with jsonParse(@message)"},
		{`fields jsonStringify(@message)`, "line 1, column 22: jsonStringify takes a map or list (made by jsonParse), found a string"},
		{`fields jsonParse(@message) as j | fields j[`, "line 1, column 44: expected a list index (0, 1, ...), found end of query"},
		{`fields jsonParse(@message) as j | fields j[-1]`, `line 1, column 44: expected a list index (0, 1, ...), found "-"`},
		{`fields jsonParse(@message) as j | fields j[0`, `line 1, column 45: expected "]", found end of query`},
		{`fields jsonParse(@message) as j | fields j.`, `line 1, column 43: expected a key after "." (a name, or one in backticks)`},
		{`fields jsonParse(@message) as j | fields j[0].`, `line 1, column 47: expected a key after ".", found end of query`},
		{`fields jsonParse(@message) as j | fields j[0].a..b`, `line 1, column 47: empty key in a..b`},
		{`unnest @message`, `line 1, column 16: expected "into" and the name of each element, found end of query`},
		{`unnest into x`, `line 1, column 13: expected "into" and the name of each element, found "x"`},
		{`unnest @message into`, `line 1, column 21: expected a field name, found end of query`},
		{`fields jsonParse(@message) as j | stats count(*) + j[0]`, "line 1, column 52: field j is used outside an aggregation; group by it with \"by j\""},
	} {
		_, err := compileApp(tc.query)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.query, err, tc.want)
		}
	}
}

func compileApp(query string) (*Compiled, error) {
	q, err := Parse(query)
	if err != nil {
		return nil, err
	}
	return Compile(q, appLogSource(), Range{Start: t0, End: t0})
}
