package logquery

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/store/duckdb"
)

// FuzzParse feeds arbitrary text to the parser and the compiler. Whatever
// the input: no panic; errors are *Error with a position inside the text;
// compiled SQL is built only from the schema's identifiers, internal
// aliases, this package's constant strings and one "?" per argument; and
// the statement runs on a real DuckDB file without a database error.
func FuzzParse(f *testing.F) {
	for _, c := range compileCases {
		f.Add(c.query)
	}
	for _, q := range execCases {
		f.Add(q)
	}
	for _, s := range []string{"fields `a\"b`", `filter a = "x'y"`, `parse @message /(?<a>.)/`, "filter x like /a\\/b/",
		`stats count(*) by bin(1ms)`, `filter 1 = 1 | limit 10000`, `fields -(-(1))`,
		`SOURCE logGroups(namePrefix: ['vp', "flowlens/"]) | filterIndex action = "REJECT" | fields nosuch, port`,
		`source logGroups() | display srcAdr`, `filterIndex x in ["a"] | limit 100000`,
		`pattern @message | filter @sampleCount > 1 | sort @ratio`, `filter action = "REJECT" | diff previousDay`,
		`pattern concat(srcAddr, " ", dstPort) | diff | fields @pattern, @change`, `diff | limit 3`,
		`fields jsonParse(@message) as js | unnest js.events into e | filter e.name = "x" | display e.name, e.tags[0]`,
		"fields jsonParse(concat('{\"a\":[', srcPort, ']}')) as j | fields j.a[0] + 1 as n, jsonStringify(j) as s, j.`x\\\"y`[2147483647].z",
		`fields jsonParse(@message) as j | stats sum(j.n) as s by j.k | unnest s into v | filter j.ok`,
		`unnest @message into m | unnest m into n | limit 2`} {
		f.Add(s)
	}
	st := openStore(f)
	if n := insertRecords(f, st, "vpc", "testdata/examples.log"); n == 0 {
		f.Fatal("no records")
	}
	e := NewEngine(st.DB(), testSources())
	srcs := []*Source{testFlowLogSource(), duckdb.FlowsSource()}
	allowed := allowedSQL(srcs)
	f.Fuzz(func(t *testing.T, query string) {
		q, err := Parse(query)
		if err != nil {
			checkError(t, query, err)
			return
		}
		for i, src := range srcs {
			r := Range{Groups: []string{"vpc"}, Start: allTime.start, End: allTime.end}
			if i == 1 {
				r.Groups = nil
			}
			c, err := Compile(q, src, r)
			if err != nil {
				checkError(t, query, err)
				continue
			}
			checkSQL(t, c.SQL, c.Args, allowed)
			checkSQL(t, c.ScannedSQL, c.ScannedArgs, allowed)
			checkSQL(t, c.MatchedSQL, c.MatchedArgs, allowed)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Each source alone, and both in one query (a union of sources).
		for _, groups := range [][]string{{"vpc"}, {FlowsGroup}, {"vpc", FlowsGroup}} {
			_, err := e.Run(ctx, Request{Query: query, Groups: groups, Start: allTime.start, End: allTime.end})
			var qe *Error
			if err != nil && !errors.As(err, &qe) && !errors.Is(err, ErrBadRequest) && ctx.Err() == nil {
				t.Errorf("groups %v: database error for %q: %v", groups, query, err)
			}
		}
	})
}

func checkError(t *testing.T, query string, err error) {
	t.Helper()
	var qe *Error
	if !errors.As(err, &qe) {
		if strings.Contains(err.Error(), "log group") || strings.Contains(err.Error(), "time range") {
			return
		}
		t.Fatalf("%q: %T %v is not a query error", query, err, err)
	}
	lines := strings.Count(query, "\n") + 1
	if qe.Line < 1 || qe.Line > lines || qe.Column < 1 {
		t.Fatalf("%q: error at line %d column %d, outside the text (%d lines): %v", query, qe.Line, qe.Column, lines, err)
	}
}

// parseGroup is a struct field of parse's extraction ('g1', 'g2', ...).
var parseGroup = regexp.MustCompile(`^'g[0-9]+'$`)

var internalAlias = regexp.MustCompile(`^(t[0-9]+_)?c[0-9]+$|^t[0-9]+$`)

// allowedSQL collects the quoted identifiers and string literals the
// sources' SQL uses, plus the compiler's own constants.
func allowedSQL(srcs []*Source) map[string]bool {
	ok := map[string]bool{`'-'`: true, `' '`: true, `'.'`: true, `'::'`: true, `':'`: true, `'0'`: true, `''`: true,
		`'%Y-%m-%d %H:%M:%S.%g'`: true, `'g'`: true, `'$'`: true, `'$[*]'`: true, `'OBJECT'`: true, `'ARRAY'`: true}
	add := func(sql string) {
		for _, tok := range sqlQuoted(sql) {
			ok[tok] = true
		}
	}
	for _, s := range srcs {
		add(s.Table)
		add(s.TimeSQL)
		add(s.GroupSQL)
		for _, j := range s.Joins {
			add(j.SQL)
		}
		for _, f := range s.Fields {
			add(f.SQL)
		}
	}
	return ok
}

// sqlQuoted lists the "identifiers" and 'strings' of a statement.
func sqlQuoted(sql string) []string {
	var out []string
	for i := 0; i < len(sql); i++ {
		q := sql[i]
		if q != '"' && q != '\'' {
			continue
		}
		j := i + 1
		for j < len(sql) {
			if sql[j] == q {
				if j+1 < len(sql) && sql[j+1] == q {
					j += 2
					continue
				}
				break
			}
			j++
		}
		out = append(out, sql[i:min(j+1, len(sql))])
		i = j
	}
	return out
}

func checkSQL(t *testing.T, sql string, args []any, allowed map[string]bool) {
	t.Helper()
	for _, tok := range sqlQuoted(sql) {
		if allowed[tok] || (tok[0] == '"' && internalAlias.MatchString(strings.Trim(tok, `"`))) {
			continue
		}
		if tok[0] == '\'' && parseGroup.MatchString(tok) {
			continue
		}
		t.Fatalf("SQL has %s, which is neither a schema identifier, an alias nor a constant:\n%s", tok, sql)
	}
	bare := sql
	for _, tok := range sqlQuoted(sql) {
		bare = strings.Replace(bare, tok, "", 1)
	}
	if strings.ContainsAny(bare, ";") || strings.Contains(bare, "--") || strings.Contains(bare, "/*") {
		t.Fatalf("SQL has a statement separator or comment: %s", sql)
	}
	if n := strings.Count(bare, "?"); n != len(args) {
		t.Fatalf("%d placeholders, %d arguments: %s", n, len(args), sql)
	}
}
