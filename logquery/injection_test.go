package logquery

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestInjection tries to reach the database with SQL through every place
// a query carries text: field names, aliases, string literals, regular
// expressions, parse patterns, CIDRs and log group names. Each attempt
// either fails with a query error or runs as a literal match; afterwards
// the canary table and every record are still there, and no compiled
// statement contains the hostile text.
func TestInjection(t *testing.T) {
	st := examplesStore(t)
	db := st.DB()
	if _, err := db.Exec(`CREATE TABLE canary (x INTEGER); INSERT INTO canary VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	e := NewEngine(db, testSources())
	cases := []struct {
		name, query string
		groups      []string
		wantErr     bool // a query error (not a database error)
		wantRows    int  // when no error
		wantColumn  string
	}{
		// A field no record has is empty for every record (Logs Insights),
		// so hostile names run as empty columns.
		{name: "backticked field name", query: "fields `srcAddr\"; DROP TABLE canary; --`", wantRows: 7, wantColumn: "srcAddr\"; DROP TABLE canary; --"},
		{name: "field name with quote", query: "filter `action\" = 'x' OR 1=1 OR \"` = \"a\"", wantRows: 0},
		{name: "alias", query: "fields srcAddr as `x\" FROM canary; DROP TABLE canary; --` | filter ispresent(srcAddr)",
			wantRows: 5, wantColumn: "x\" FROM canary; DROP TABLE canary; --"},
		{name: "stats alias", query: "stats count(*) as `n\"); DROP TABLE canary; --`", wantRows: 1, wantColumn: "n\"); DROP TABLE canary; --"},
		{name: "parse names", query: "parse @message \"2 * \" as `a'); DROP TABLE canary; --` | display `a'); DROP TABLE canary; --`",
			wantRows: 7, wantColumn: "a'); DROP TABLE canary; --"},
		{name: "string literal, single quotes", query: `filter action = "REJECT' OR '1'='1"`, wantRows: 0},
		{name: "string literal, statement", query: `filter action = "x'; DROP TABLE canary; --"`, wantRows: 0},
		{name: "string literal, double quotes", query: `filter action = "x\"; DROP TABLE canary; --"`, wantRows: 0},
		{name: "string literal, backslash", query: `filter action = "x\\'; DROP TABLE canary; --"`, wantRows: 0},
		{name: "like literal", query: `filter action like "%' OR 1=1 --"`, wantRows: 0},
		{name: "in list", query: `filter action in ["x') OR 1=1 OR ('", "y"]`, wantRows: 0},
		{name: "regex, unbalanced", query: `filter action =~ /'); DROP TABLE canary; --/`, wantErr: true},
		{name: "regex", query: `filter action =~ /'\); DROP TABLE canary; --/`, wantRows: 0},
		{name: "regex, quote and statement", query: `filter action =~ /^(REJECT|x'\); DROP TABLE canary; --)$/ | stats count(*) as n`, wantRows: 1},
		{name: "regex, doubled quotes", query: `filter action =~ /''; DROP TABLE canary; --/`, wantRows: 0},
		{name: "regex, NUL", query: "filter action =~ /a\x00b/", wantErr: true},
		{name: "regex like", query: `filter action like /x' OR '1'='1/`, wantRows: 0},
		{name: "glob parse", query: `parse @message "'; DROP TABLE canary; -- *" as x | filter ispresent(x)`, wantRows: 0},
		{name: "regex parse", query: `parse @message /(?<x>'\)\); DROP TABLE canary; --)/ | filter ispresent(x)`, wantRows: 0},
		{name: "concat", query: `fields concat(action, "'); DROP TABLE canary; --") as c | filter c = "x"`, wantRows: 0},
		{name: "cidr", query: `filter isIpInSubnet(srcAddr, "10.0.0.0/8'); DROP TABLE canary; --")`, wantErr: true},
		{name: "number", query: `filter bytes = "1; DROP TABLE canary"`, wantRows: 0},
		{name: "time literal", query: `filter @timestamp > "1; DROP TABLE canary"`, wantErr: true},
		{name: "stacked command", query: `filter action = "REJECT"; DROP TABLE canary`, wantErr: true},
		{name: "comment", query: "filter action = \"REJECT\" # ; DROP TABLE canary\n| limit 1", wantRows: 1},
		{name: "log group", query: `stats count(*) as n`, groups: []string{"vpc') OR 1=1 OR ('"}, wantRows: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			groups := tc.groups
			if groups == nil {
				groups = []string{"vpc"}
			}
			if q, err := Parse(tc.query); err == nil {
				if c, err := Compile(q, testFlowLogSource(), Range{Groups: groups, Start: allTime.start, End: allTime.end}); err == nil {
					for _, s := range []string{c.SQL, c.ScannedSQL, c.MatchedSQL} {
						if strings.Contains(s, "canary") || strings.Contains(s, "DROP") || strings.Contains(s, "1=1") {
							t.Fatalf("hostile text in SQL: %s", s)
						}
					}
				}
			}
			res, err := e.Run(context.Background(), Request{Query: tc.query, Groups: groups, Start: allTime.start, End: allTime.end})
			var qe *Error
			switch {
			case tc.wantErr:
				if !errors.As(err, &qe) {
					t.Fatalf("want a query error, got %v", err)
				}
			case err != nil:
				t.Fatalf("unexpected error: %v", err)
			default:
				if len(res.Rows) != tc.wantRows {
					t.Errorf("%d rows, want %d", len(res.Rows), tc.wantRows)
				}
				if tc.wantColumn != "" && (len(res.Columns) == 0 || res.Columns[len(res.Columns)-1] != tc.wantColumn) {
					t.Errorf("columns %q, want the last to be %q", res.Columns, tc.wantColumn)
				}
				if tc.groups != nil && res.Rows[0][0].(int64) != 0 {
					t.Errorf("a hostile group name matched %v records", res.Rows[0][0])
				}
			}
		})
	}
	var x int
	if err := db.QueryRow(`SELECT x FROM canary`).Scan(&x); err != nil || x != 42 {
		t.Fatalf("canary: %v %d", err, x)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM flowlog_records`).Scan(&n); err != nil || n != 14 {
		t.Fatalf("records: %v %d", err, n)
	}
}

// TestRegexWithQuote: a pattern with a quote runs as a pattern and
// matches what it should.
func TestRegexWithQuote(t *testing.T) {
	e := NewEngine(examplesStore(t).DB(), testSources())
	count := func(q string) int64 {
		res, err := e.Run(context.Background(), Request{Query: q + " | stats count(*) as n", Groups: []string{"vpc"},
			Start: allTime.start, End: allTime.end})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return res.Rows[0][0].(int64)
	}
	want := count(`filter action = "REJECT"`)
	if want == 0 {
		t.Fatal("no REJECT record in the examples")
	}
	for _, q := range []string{`filter action =~ /^(REJECT|it's)$/`, `filter action like /^(REJECT|'')$/`,
		`parse action /^(?<a>REJECT|'x')$/ | filter ispresent(a)`} {
		if got := count(q); got != want {
			t.Errorf("%s: %d records, want %d", q, got, want)
		}
	}
}
