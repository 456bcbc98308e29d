package logquery

import (
	"strconv"
	"strings"
)

// Dialect is every piece of SQL the compiler writes that databases spell
// differently: identifier quoting, casts, string, regex and time
// functions, aggregates, ordering and limits. The compiler itself writes
// only standard SQL around them (SELECT, WHERE, CASE, IN, AND/OR/NOT,
// IS NULL, nullif, window functions, count/sum/avg/min/max, parameters).
//
// A dialect builds fragments: values stay bound parameters ("?") whose
// arguments follow the text in order, whatever order the dialect writes
// its operands in. Dialects live in this package for that reason; a store
// with another SQL adds its dialect here, as pure text, and the engine
// takes it (EngineConfig.Dialect) together with the sources the store
// describes in the same SQL.
type Dialect interface {
	// Quote quotes an identifier (internal aliases such as "c1").
	Quote(ident string) string
	// Replan is a condition that is always true but makes the database
	// plan the statement with its parameters' values as constants ("" if
	// the database needs none); its one argument is nil (see rebind).
	Replan() string
	// Op spells a binary operator of the language (+ - * / % ^ = != < <=
	// > >= and or) with spaces around it.
	Op(op string) string
	// Func names the SQL function of a Logs Insights function that maps
	// to one call with the same arguments (log, strlen, toupper, stddev,
	// earliest, sortsFirst, ...).
	Func(name string) string
	// Cast converts, failing on a bad value; TryCast gives NULL instead.
	Cast(x frag, t SQLType) frag
	TryCast(x frag, t SQLType) frag
	// TimeText writes epoch milliseconds as "2006-01-02 15:04:05.000".
	TimeText(ms frag) frag
	// IntDiv is integer division (without parentheses around it).
	IntDiv(x, y frag) frag
	// Contains and StartsWith test plain substrings.
	Contains(s, sub frag) frag
	StartsWith(s, prefix frag) frag
	// RegexParam turns an RE2 pattern written in the query into the
	// database's regex syntax.
	RegexParam(re string) string
	// RegexSearch matches re anywhere in s; RegexFullMatch all of s.
	RegexSearch(s, re frag) frag
	RegexFullMatch(s, re frag) frag
	// RegexGroups extracts groups 1..n of re from s in one evaluation;
	// RegexGroup reads group i (1-based) of that value, "" when the
	// record does not match.
	RegexGroups(s, re frag, n int) frag
	RegexGroup(groups frag, i int) frag
	// RegexReplaceAll replaces every match of re in s with repl (plain
	// text, no group references).
	RegexReplaceAll(s, re, repl frag) frag
	// JSONParse reads a JSON text as a map or list (Logs Insights'
	// structure types), NULL where the text is not JSON. JSONPath reads
	// the keys and indexes of path from j, NULL where they lead nowhere;
	// the path is a bound parameter.
	JSONParse(s frag) frag
	JSONPath(j frag, path []PathElem) frag
	// JSONText shows a structure value: a JSON string as its text, any
	// other value as compact JSON. JSONScalarText is the same but NULL for
	// a map or a list, which Logs Insights treats as null in string,
	// number and datetime functions. JSONStringify is j as compact JSON.
	JSONText(j frag) frag
	JSONScalarText(j frag) frag
	JSONStringify(j frag) frag
	// UnnestJSON and UnnestValue make one row per element of a list (in
	// the SELECT list): a JSON list's elements, any other non-null value
	// alone; NULL makes no row.
	UnnestJSON(j frag) frag
	UnnestValue(x frag) frag
	// CountDistinct and Percentile (p from 0 to 1, interpolated) are
	// aggregates of irregular shape.
	CountDistinct(x frag) frag
	Percentile(x, p frag) frag
	// IPv6Hex expands a textual IPv6 address without an embedded IPv4
	// part into 32 lower-case hex digits.
	IPv6Hex(s frag) frag
	// GroupBy groups by keys, the leading columns of the SELECT list.
	GroupBy(keys []frag) frag
	// OrderKey is one ORDER BY key, missing values last.
	OrderKey(f frag, desc bool) frag
	// Limit is the clause keeping the first n rows (n a parameter).
	Limit(n frag) frag
}

// SQLType is a type a cast converts to.
type SQLType uint8

const (
	TypeInteger SQLType = iota // 32 bits
	TypeBigInt                 // 64 bits
	TypeDouble
	TypeVarchar
	TypeBoolean
)

// DuckDB is the dialect of the embedded store (DuckDB 1.1).
var DuckDB Dialect = duckDialect{}

type duckDialect struct{}

var duckOps = map[string]string{"=": " = ", "!=": " <> ", "<": " < ", "<=": " <= ", ">": " > ", ">=": " >= ",
	"+": " + ", "-": " - ", "*": " * ", "/": " / ", "%": " % ", "^": " ^ ", "and": " AND ", "or": " OR "}

var duckFuncs = map[string]string{"log": "ln", "strlen": "length", "toupper": "upper", "tolower": "lower",
	"stddev": "stddev_samp", "earliest": "arg_min", "latest": "arg_max", "sortsfirst": "min", "sortslast": "max"}

var duckTypes = [...]string{TypeInteger: "INTEGER", TypeBigInt: "BIGINT", TypeDouble: "DOUBLE", TypeVarchar: "VARCHAR", TypeBoolean: "BOOLEAN"}

func (duckDialect) Quote(ident string) string {
	return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"`
}

// DuckDB plans a prepared statement before it sees the values; a
// parameter whose type it cannot infer makes it plan again with them.
func (duckDialect) Replan() string { return "(? IS NULL)" }

func (duckDialect) Op(op string) string { return duckOps[op] }

func (duckDialect) Func(name string) string {
	if f, ok := duckFuncs[name]; ok {
		return f
	}
	return name
}

func (duckDialect) Cast(x frag, t SQLType) frag { return cat("CAST(", x, " AS "+duckTypes[t]+")") }

func (duckDialect) TryCast(x frag, t SQLType) frag {
	return cat("TRY_CAST(", x, " AS "+duckTypes[t]+")")
}

func (duckDialect) TimeText(ms frag) frag {
	return cat("strftime(epoch_ms(", ms, "), '%Y-%m-%d %H:%M:%S.%g')")
}

func (duckDialect) IntDiv(x, y frag) frag { return cat(x, " // ", y) }

func (duckDialect) Contains(s, sub frag) frag { return cat("contains(", s, ", ", sub, ")") }

func (duckDialect) StartsWith(s, prefix frag) frag { return cat("starts_with(", s, ", ", prefix, ")") }

// RE2 reads named groups written (?P<n>...), not (?<n>...).
func (duckDialect) RegexParam(re string) string { return strings.ReplaceAll(re, "(?<", "(?P<") }

func (duckDialect) RegexSearch(s, re frag) frag { return cat("regexp_matches(", s, ", ", re, ")") }

func (duckDialect) RegexFullMatch(s, re frag) frag {
	return cat("regexp_full_match(", s, ", ", re, ")")
}

// One extraction returns every group as a struct field g1, g2, ...; DuckDB
// evaluates the identical extraction once per row however many fields
// read it (separate extractions per group cost a regex run each).
func (duckDialect) RegexGroups(s, re frag, n int) frag {
	names := make([]string, n)
	for i := range names {
		names[i] = duckGroupName(i + 1)
	}
	return cat("regexp_extract(", s, ", ", re, ", ["+strings.Join(names, ", ")+"])")
}

func (duckDialect) RegexGroup(groups frag, i int) frag {
	return cat("struct_extract(", groups, ", "+duckGroupName(i)+")")
}

func (duckDialect) RegexReplaceAll(s, re, repl frag) frag {
	return cat("regexp_replace(", s, ", ", re, ", ", repl, ", 'g')")
}

func duckGroupName(i int) string { return "'g" + strconv.Itoa(i) + "'" }

// TRY_CAST to JSON validates the text: NULL when it is not JSON.
func (duckDialect) JSONParse(s frag) frag {
	f := cat("TRY_CAST(", s, " AS JSON)")
	f.width = s.width
	return f
}

// A JSONPath: $ then ."key" (quotes and backslashes escaped) and [i].
func (duckDialect) JSONPath(j frag, path []PathElem) frag {
	var b strings.Builder
	b.WriteString("$")
	for _, e := range path {
		if e.IsIndex {
			b.WriteString("[" + strconv.Itoa(e.Index) + "]")
			continue
		}
		b.WriteString(`."`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(e.Key))
		b.WriteString(`"`)
	}
	f := cat("json_extract(", j, ", ", param(b.String()), ")")
	f.width = j.width
	return f
}

func (duckDialect) JSONText(j frag) frag {
	f := cat("json_extract_string(", j, ", '$')")
	f.width = j.width
	return f
}

func (duckDialect) JSONScalarText(j frag) frag {
	f := cat("CASE WHEN json_type(", j, ") IN ('OBJECT', 'ARRAY') THEN NULL ELSE json_extract_string(", j, ", '$') END")
	f.width = j.width
	return f
}

func (duckDialect) JSONStringify(j frag) frag {
	f := cat("CAST(json(", j, ") AS VARCHAR)")
	f.width = j.width
	return f
}

// json_extract(j, '$[*]') is the list of a JSON array's elements.
func (duckDialect) UnnestJSON(j frag) frag {
	f := cat("unnest(CASE WHEN json_type(", j, ") = 'ARRAY' THEN json_extract(", j, ", '$[*]') WHEN ", j, " IS NOT NULL THEN [", j, "] END)")
	f.width = j.width
	return f
}

func (duckDialect) UnnestValue(x frag) frag {
	f := cat("unnest(CASE WHEN ", x, " IS NOT NULL THEN [", x, "] END)")
	f.width = x.width
	return f
}

func (duckDialect) CountDistinct(x frag) frag { return cat("count(DISTINCT ", x, ")") }

func (duckDialect) Percentile(x, p frag) frag { return cat("quantile_cont(", x, ", ", p, ")") }

// The groups before and after "::", zero groups between them, each padded
// to 4 digits (list functions; the inet extension is not built in).
func (duckDialect) IPv6Hex(s frag) frag {
	p := cat("string_split(lower(", s, "), '::')")
	head := cat("CASE WHEN ", p, "[1] = '' THEN []::VARCHAR[] ELSE string_split(", p, "[1], ':') END")
	tail := cat("CASE WHEN len(", p, ") < 2 OR ", p, "[2] = '' THEN []::VARCHAR[] ELSE string_split(", p, "[2], ':') END")
	zeros := cat("list_resize(['0'], greatest(0, 8 - len(", head, ") - len(", tail, ")), '0')")
	groups := cat("list_concat(list_concat(", head, ", ", zeros, "), ", tail, ")")
	return cat("array_to_string(list_transform(", groups, ", g -> lpad(g, 4, '0')), '')")
}

// GROUP BY ordinals: a key with parameters is not written (and bound)
// twice.
func (duckDialect) GroupBy(keys []frag) frag {
	ords := make([]string, len(keys))
	for i := range ords {
		ords[i] = strconv.Itoa(i + 1)
	}
	return frag{sql: " GROUP BY " + strings.Join(ords, ", ")}
}

func (duckDialect) OrderKey(f frag, desc bool) frag {
	if desc {
		return cat(f, " DESC NULLS LAST")
	}
	return cat(f, " ASC NULLS LAST")
}

func (duckDialect) Limit(n frag) frag { return cat(" LIMIT ", n) }
