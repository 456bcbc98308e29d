package logquery

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// otherDialect spells every dialect piece unlike DuckDB, as another
// database would, so that any DuckDB text in compiled SQL can only come
// from the compiler itself.
type otherDialect struct{}

func (otherDialect) Quote(ident string) string { return "[" + ident + "]" }
func (otherDialect) Replan() string            { return "" }
func (otherDialect) Op(op string) string       { return " <" + op + "> " }
func (otherDialect) Func(name string) string   { return "fn_" + name }
func (otherDialect) Cast(x frag, t SQLType) frag {
	return cat("cast"+strconv.Itoa(int(t))+"(", x, ")")
}
func (otherDialect) TryCast(x frag, t SQLType) frag {
	return cat("trycast"+strconv.Itoa(int(t))+"(", x, ")")
}
func (otherDialect) TimeText(ms frag) frag          { return cat("timetext(", ms, ")") }
func (otherDialect) IntDiv(x, y frag) frag          { return cat("intdiv(", x, ", ", y, ")") }
func (otherDialect) Contains(s, sub frag) frag      { return cat("has(", s, ", ", sub, ")") }
func (otherDialect) StartsWith(s, prefix frag) frag { return cat("prefix(", s, ", ", prefix, ")") }
func (otherDialect) RegexParam(re string) string    { return re }
func (otherDialect) RegexSearch(s, re frag) frag    { return cat("re_search(", s, ", ", re, ")") }
func (otherDialect) RegexFullMatch(s, re frag) frag { return cat("re_full(", s, ", ", re, ")") }
func (otherDialect) RegexGroup(groups frag, i int) frag {
	return cat("re_group(", groups, ", "+strconv.Itoa(i)+")")
}
func (otherDialect) RegexGroups(s, re frag, n int) frag {
	return cat("re_groups(", s, ", ", re, ", "+strconv.Itoa(n)+")")
}
func (otherDialect) RegexReplaceAll(s, re, repl frag) frag {
	return cat("re_replace_all(", s, ", ", re, ", ", repl, ")")
}
func (otherDialect) JSONParse(s frag) frag { return cat("parse_json(", s, ")") }
func (otherDialect) JSONPath(j frag, path []PathElem) frag {
	var keys []frag
	for _, e := range path {
		if e.IsIndex {
			keys = append(keys, param(int64(e.Index)))
		} else {
			keys = append(keys, param(e.Key))
		}
	}
	return cat("json_get(", j, ", ", joinFrags(keys, ", "), ")")
}
func (otherDialect) JSONText(j frag) frag       { return cat("json_text(", j, ")") }
func (otherDialect) JSONScalarText(j frag) frag { return cat("json_scalar(", j, ")") }
func (otherDialect) JSONStringify(j frag) frag  { return cat("json_dump(", j, ")") }
func (otherDialect) UnnestJSON(j frag) frag     { return cat("explode_json(", j, ")") }
func (otherDialect) UnnestValue(x frag) frag    { return cat("explode_one(", x, ")") }
func (otherDialect) CountDistinct(x frag) frag  { return cat("uniq(", x, ")") }
func (otherDialect) Percentile(x, p frag) frag  { return cat("pctl(", p, ", ", x, ")") } // operands swapped
func (otherDialect) IPv6Hex(s frag) frag        { return cat("v6hex(", s, ")") }
func (otherDialect) OrderKey(f frag, d bool) frag {
	return cat(f, map[bool]string{false: " up", true: " down"}[d])
}
func (otherDialect) Limit(n frag) frag { return cat(" TAKE ", n) }

// GroupBy writes the keys again (with their arguments), as a database
// without GROUP BY ordinals must.
func (otherDialect) GroupBy(keys []frag) frag { return cat(" GROUP_BY ", joinFrags(keys, ", ")) }

// duckOnly are pieces of DuckDB SQL that the compiler may write only
// through the DuckDB dialect.
var duckOnly = []string{`"`, "CAST(", "strftime", "epoch_ms", "regexp_", "struct_extract", " // ", "quantile_cont",
	"arg_min", "arg_max", "stddev_samp", "NULLS LAST", "starts_with", "contains(", "string_split", "list_", "ln(",
	"length(", "upper(", "lower(", "GROUP BY", "LIMIT", "(? IS NULL)", "DISTINCT", " <> ", " ^ ", " AND NOT contains",
	"json_extract", "json_type", "json(", "unnest(", "'$'", " AS JSON"}

// TestCompileWritesDatabaseSpecificSQLOnlyThroughTheDialect compiles
// every golden query with another dialect over a source written in it:
// no DuckDB text remains, and every "?" still has its argument in order.
func TestCompileWritesDatabaseSpecificSQLOnlyThroughTheDialect(t *testing.T) {
	src := *testFlowLogSource()
	src.Fields = append([]SourceField{}, src.Fields...)
	for i := range src.Fields {
		src.Fields[i].SQL = "[" + src.Fields[i].Name + "]"
	}
	src.Table, src.TimeSQL, src.GroupSQL = "[records]", "[start]", "[log_group]"
	for _, tc := range compileCases {
		if strings.HasPrefix(tc.name, "flows-") {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			q, err := Parse(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			c, err := CompileWith(otherDialect{}, q, &src, testRange)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []struct {
				sql  string
				args []any
			}{{c.SQL, c.Args}, {c.ScannedSQL, c.ScannedArgs}, {c.MatchedSQL, c.MatchedArgs}} {
				checkPlaceholders(t, s.sql, s.args)
				for _, tok := range duckOnly {
					if containsToken(s.sql, tok) {
						t.Errorf("DuckDB text %q in %s", tok, s.sql)
					}
				}
			}
		})
	}
}

// containsToken: tok in sql, not as the tail of a longer name
// (fn_toupper( is not upper().
func containsToken(sql, tok string) bool {
	for i := 0; ; {
		j := strings.Index(sql[i:], tok)
		if j < 0 {
			return false
		}
		at := i + j
		if at == 0 || !isNameByte(sql[at-1]) || !isNameByte(tok[0]) {
			return true
		}
		i = at + 1
	}
}

func isNameByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// TestDialectArgumentsFollowTheText pins that a dialect writing its
// operands in another order gets the arguments in that order.
func TestDialectArgumentsFollowTheText(t *testing.T) {
	q, err := Parse(`stats pct(bytes, 95) as p`)
	if err != nil {
		t.Fatal(err)
	}
	c, err := CompileWith(otherDialect{}, q, testFlowLogSource(), testRange)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(c.SQL, "pctl(?, ")
	if i < 0 {
		t.Fatalf("no pctl(?, ...) in %s", c.SQL)
	}
	n := strings.Count(c.SQL[:i], "?")
	if got, ok := c.Args[n].(float64); !ok || got != 0.95 {
		t.Errorf("argument %d is %#v, want the percentile 0.95 (args %v)", n, c.Args[n], c.Args)
	}
}

// TestEngineUsesConfiguredDialect: the engine compiles with its dialect.
func TestEngineUsesConfiguredDialect(t *testing.T) {
	if e := NewEngine(nil, nil); e.dialect != DuckDB {
		t.Errorf("default dialect %v, want DuckDB", e.dialect)
	}
	if e := NewEngineWith(nil, nil, EngineConfig{Dialect: otherDialect{}}); e.dialect != (otherDialect{}) {
		t.Errorf("dialect %v, want the configured one", e.dialect)
	}
}

type namedSource string

func (n namedSource) LogSource(context.Context, *sql.Tx) (*Source, error) {
	return &Source{Name: string(n)}, nil
}

// TestSourcesRouteLogGroups pins how the stores' sources answer groups.
func TestSourcesRouteLogGroups(t *testing.T) {
	full := (&Sources{}).AddGroup(FlowsGroup, "the agent's flows", namedSource("flows")).
		SetGroups("flow-log groups", namedSource("records"))
	flowsOnly := (&Sources{}).AddGroup(FlowsGroup, "the agent's flows", namedSource("flows"))
	for _, tc := range []struct {
		name       string
		sources    *Sources
		groups     []string
		source     string   // the source that answers, "" for an error
		keptGroups []string // the range's groups
		err        string
	}{
		{"flows alone", full, []string{FlowsGroup}, "flows", nil, ""},
		{"flow-log groups", full, []string{"vpc-a", "vpc-b"}, "records", []string{"vpc-a", "vpc-b"}, ""},
		{"no group", full, nil, "", nil, "bad query request: give at least one log group (or flowlens/flows for the agent's flows)"},
		{"flows with flow-log groups", full, []string{"vpc-a", FlowsGroup}, "union", nil, ""},
		{"no flow logs", flowsOnly, []string{"vpc-a"}, "", nil, `bad query request: unknown log group "vpc-a" (or flowlens/flows for the agent's flows)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, r, err := tc.sources.resolve(context.Background(), nil, DuckDB, &Query{Src: "fields srcAddr"}, Range{Groups: tc.groups})
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || !errors.Is(err, ErrBadRequest) {
					t.Fatalf("error %v, want %q (ErrBadRequest)", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if src.Name != tc.source || strings.Join(r.Groups, ",") != strings.Join(tc.keptGroups, ",") {
				t.Errorf("source %s groups %v, want %s %v", src.Name, r.Groups, tc.source, tc.keptGroups)
			}
		})
	}
}
