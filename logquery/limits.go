package logquery

import (
	"errors"
	"regexp/syntax"
)

// Limits on what a query may cost the database. A 10,000-byte query can
// still describe exponential work: each alias is substituted where it is
// used, so `fields concat(@message, @message) as a1 | fields concat(a1,
// a1) as a2 | ...` doubles the SQL and each record's value at every level
// (14 levels were 6.9 MB of SQL that DuckDB took minutes and gigabytes to
// plan, with no way to interrupt it). Rendering aliases as columns of
// nested SELECTs does not help: DuckDB's filter pushdown substitutes the
// projections back (14 nested levels under a filter took 3.9 s to plan, 20
// levels more than 10 minutes). So the compiler bounds what it writes,
// and refuses the query at the expression that crosses a bound.
const (
	// MaxSQLBytes bounds the SQL of one expression and of a whole
	// statement. Ordinary queries compile to a few KiB (@message is the
	// largest field, ~0.8 KiB per log format). Planning time grows faster
	// than the size: 37 KiB of nested alias copies took DuckDB 0.17 s,
	// 144 KiB 1.6 s.
	MaxSQLBytes = 128 << 10
	// MaxValueWidth bounds the estimated size of one computed value per
	// record (concat and replace grow strings; @message is ~130 bytes).
	// DuckDB computes 2,048 records at a time, so a value costs at most
	// 32 MiB per batch.
	MaxValueWidth = 16 << 10
	// MaxResultBytes bounds the estimated result: the limit times the
	// estimated width of a row.
	MaxResultBytes = 64 << 20
	// MaxRegexLen and MaxRegexInsts bound a regular expression from the
	// query: its text and its compiled program (Go's RE2 instructions;
	// DuckDB's RE2 builds a similar one). A 300-way alternation took
	// DuckDB 6 s to compile; ordinary patterns have tens of instructions.
	MaxRegexLen   = 1000
	MaxRegexInsts = 2000
)

// ErrQueryTooLarge marks a query refused by one of the limits above; the
// error is an *Error naming the expression's line and column.
var ErrQueryTooLarge = errors.New("query exceeds a size limit")

// Is makes errors.Is(err, ErrQueryTooLarge) true for a limit's error.
func (e *Error) Is(target error) bool { return target == ErrQueryTooLarge && e.tooLarge }

// tooLarge is errAt for a limit.
func (c *compiler) tooLarge(p Pos, format string, args ...any) *Error {
	e := c.errAt(p, format, args...)
	e.tooLarge = true
	return e
}

// checkValue refuses an expression whose SQL or per-record value is too
// large. Only strings (and maps and lists) grow: other kinds are a fixed 8 bytes whatever
// their inputs.
func (c *compiler) checkValue(p Pos, v *value) error {
	if v.kind != KindString && v.kind != KindJSON {
		v.f.width = 8
	}
	if n := len(v.f.sql); n > MaxSQLBytes {
		return c.tooLarge(p, "this expression compiles to %d KiB of SQL, more than %d KiB: each use of an alias copies its definition, so an alias built from other aliases grows with every level",
			n>>10, MaxSQLBytes>>10)
	}
	if v.f.width > MaxValueWidth {
		return c.tooLarge(p, "this expression makes values of about %d bytes per record, more than %d (concat and replace of aliases grow with every level)",
			v.f.width, MaxValueWidth)
	}
	return nil
}

// checkRegex bounds a regular expression written in the query.
// regexParam has checked its length and syntax (Go's regexp compiled it).
func (c *compiler) checkRegex(re *RegexLit) error {
	parsed, err := syntax.Parse(re.Re, syntax.Perl)
	if err != nil {
		return c.errAt(re.At, "bad regular expression: %v", err)
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return c.errAt(re.At, "bad regular expression: %v", err)
	}
	if n := len(prog.Inst); n > MaxRegexInsts {
		return c.tooLarge(re.At, "regular expression compiles to %d instructions, more than %d (long alternations and large repeat counts cost the most)",
			n, MaxRegexInsts)
	}
	return nil
}

// checkResult refuses a result estimated larger than MaxResultBytes: the
// final stage's limit times the width of its columns.
func (c *compiler) checkResult(final *stage) error {
	row := 0
	for _, e := range final.exports {
		row += e.f.width
	}
	if est := int64(row) * int64(final.limit); est > MaxResultBytes {
		return c.tooLarge(c.lastCommand(), "the result would hold about %d MiB (%d rows of about %d bytes), more than %d MiB: lower the limit or select fewer fields",
			est>>20, final.limit, row, MaxResultBytes>>20)
	}
	return nil
}

// lastCommand is where a limit on the whole query is reported.
func (c *compiler) lastCommand() Pos {
	if n := len(c.q.Commands); n > 0 {
		return c.q.Commands[n-1].commandPos()
	}
	return 0
}
