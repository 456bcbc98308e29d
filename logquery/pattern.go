package logquery

import (
	"time"
)

// pattern and diff (CWL_QuerySyntax-Pattern, CWL_QuerySyntax-Diff,
// CWL_AnalyzeLogData_Patterns): the values of an expression are grouped
// by their pattern, the value with every dynamic token replaced by <*>,
// as Logs Insights displays them ("[INFO] Request time: <*> ms" for
// "[INFO] Request time: 327 ms").
//
// A dynamic token is a run of word characters, dots and dashes (then
// colons and plus signs too) holding a digit: numbers, hex and
// alphanumeric ids, UUIDs, IPv4 and IPv6 addresses (with a port),
// dates, times and ISO timestamps. Words without a digit stay. The
// grouping is one regex replacement per record and a GROUP BY in the
// database, which bounds memory (the database spills) and keeps later
// commands (filter, sort, limit, fields on the patterns) plain SQL: 1 M
// application lines take about 1 s (BenchmarkPattern1M).
const (
	dynamicToken = `[\w.-]*\d[\w.:+-]*`
	tokenMark    = "<*>"
	// severityWord finds the first log-level word of a pattern; its
	// lower-cased text maps to a label through severityLabels.
	severityWord = `(?i)\b(fatal|panic|critical|crit|error|err|warning|warn|info|notice|debug|trace)\b`
)

// severityLabels are the labels @severityLabel shows, as the pattern page
// names them (Error, Warning, Info, Debug); a pattern without a level
// word has none (missing).
var severityLabels = [][2]string{
	{"fatal", "Error"}, {"panic", "Error"}, {"critical", "Error"}, {"crit", "Error"}, {"error", "Error"}, {"err", "Error"},
	{"warning", "Warning"}, {"warn", "Warning"}, {"info", "Info"}, {"notice", "Info"}, {"debug", "Debug"}, {"trace", "Debug"},
}

// Result names of pattern and diff. @pattern, @ratio, @sampleCount and
// @severityLabel are the pattern page's; diff's counts of the previous
// period and the change are FlowLens's names (the diff page documents no
// output fields).
const (
	colPattern       = "@pattern"
	colRatio         = "@ratio"
	colSampleCount   = "@sampleCount"
	colPreviousCount = "@previousSampleCount"
	colChange        = "@change"
	colSeverity      = "@severityLabel"
)

// previousRange is the period diff compares r with: the period of equal
// length just before it (inclusive ends: as many time units), or the same
// times a day, a week or a calendar month earlier.
func previousRange(p DiffPeriod, r Range, unit int64) (start, end int64) {
	s, e := timeIn(r.Start, unit), timeIn(r.End, unit)
	switch p {
	case PreviousDay:
		return timeIn(r.Start.Add(-24*time.Hour), unit), timeIn(r.End.Add(-24*time.Hour), unit)
	case PreviousWeek:
		return timeIn(r.Start.Add(-7*24*time.Hour), unit), timeIn(r.End.Add(-7*24*time.Hour), unit)
	case PreviousMonth:
		return timeIn(r.Start.AddDate(0, -1, 0), unit), timeIn(r.End.AddDate(0, -1, 0), unit)
	}
	return s - (e - s) - 1, s - 1
}

func timeIn(t time.Time, unit int64) int64 {
	if unit == 1000 {
		return t.UnixMilli()
	}
	return t.Unix()
}

// queryDiff is the diff period of a query (NoDiff when it has none).
func queryDiff(q *Query) DiffPeriod {
	for _, cmd := range q.Commands {
		if pc, ok := cmd.(*PatternCmd); ok && pc.Diff != NoDiff {
			return pc.Diff
		}
	}
	return NoDiff
}

// DiffHull widens r to cover the period a diff in q compares with, so a
// source that applies the range itself (several sources in one query)
// reads both periods; r is unchanged without diff.
func DiffHull(q *Query, r Range) Range {
	p := queryDiff(q)
	if p == NoDiff {
		return r
	}
	ps, _ := previousRange(p, r, 1000)
	if start := time.UnixMilli(ps); start.Before(r.Start) {
		r.Start = start
	}
	return r
}

// patternCmd groups the current records by the pattern of the source
// expression: an aggregated stage (the pattern, the counts, the ratio),
// then a stage adding the severity and the default order, most frequent
// first. Later commands work on the patterns as on any stats result.
func (c *compiler) patternCmd(cmd *PatternCmd) error {
	src, err := c.expr(cmd.Source, ctxRow)
	if err != nil {
		return err
	}
	if src.agg {
		return c.errAt(cmd.Source.exprPos(), "pattern clusters the values of a field or expression per record, not an aggregation")
	}
	s := c.cur
	key := c.d.RegexReplaceAll(c.str(src), param(dynamicToken), param(tokenMark))
	key.width = max(src.f.width, 8)
	var cur, prev frag
	if cmd.Diff == NoDiff {
		cur = frag{sql: "count(*)"}
	} else {
		if s != c.base {
			return c.errAt(cmd.DiffAt, "diff compares the records of two periods: put it before stats, limit and dedup")
		}
		cur = cat("sum(CASE WHEN ", c.inPeriod(c.curStart, c.curEnd), " THEN 1 ELSE 0 END)")
		prev = cat("sum(CASE WHEN ", c.inPeriod(c.prevStart, c.prevEnd), " THEN 1 ELSE 0 END)")
	}
	ratio := cat("(", c.d.Cast(cur, TypeDouble), " / nullif(sum(", cur, ") OVER (), 0))")
	s.scope, s.names = map[string]*column{}, nil
	s.orderBy = nil
	s.agg, s.groupN = true, 1
	c.display, c.displayFromStats = nil, true
	define := func(name string, f frag, kind Kind) {
		e := s.export(f)
		e.force = true
		col := s.define(name, value{f: f, kind: kind})
		col.exp = e
		c.display = appendUnique(c.display, name)
	}
	define(colPattern, key, KindString)
	define(colRatio, ratio, KindNumber)
	define(colSampleCount, cur, KindNumber)
	if cmd.Diff != NoDiff {
		define(colPreviousCount, prev, KindNumber)
		define(colChange, cat("(", cur, " - ", prev, ")"), KindNumber)
	}
	c.countMatched(s)
	c.stats = true
	c.wrap()
	t := c.cur
	pat := t.scope[colPattern].val.f
	t.define(colSeverity, value{f: c.severity(pat), kind: KindString})
	c.display = appendUnique(c.display, colSeverity)
	order := colSampleCount
	if cmd.Diff != NoDiff {
		order = colChange
	}
	t.orderBy = []orderKey{{f: t.scope[order].val.f, desc: true}, {f: pat}}
	return nil
}

// inPeriod is the condition that a base record's time lies in [start, end]
// (source time units).
func (c *compiler) inPeriod(start, end int64) frag {
	return cat("(", c.src.TimeSQL, " >= ", param(start), " AND ", c.src.TimeSQL, " <= ", param(end), ")")
}

// severity is the label of the first level word of a pattern.
func (c *compiler) severity(pat frag) frag {
	word := cat(c.d.Func("tolower")+"(", c.d.RegexGroup(c.d.RegexGroups(pat, param(severityWord), 1), 1), ")")
	parts := []any{"CASE ", word}
	for _, l := range severityLabels {
		parts = append(parts, " WHEN ", param(l[0]), " THEN ", param(l[1]))
	}
	parts = append(parts, " END")
	f := cat(parts...)
	f.width = 8
	return f
}
