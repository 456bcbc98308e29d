package logquery

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Compiled is a query ready to run: the main statement, the statistics
// statement, their arguments, and the result's column names and kinds.
//
// Safety: SQL is assembled only from this package's constant text, the
// source's quoted identifiers, internal aliases ("c1", "t1") and "?"
// placeholders. Every value from the query (strings, numbers, regexes,
// CIDR bounds, periods) and from the request (groups, times) is in Args.
// Field names and aliases from the query are looked up in the scope and
// never written into SQL; result names travel beside it in Columns.
type Compiled struct {
	SQL  string
	Args []any
	// ScannedSQL counts the records in the range; MatchedSQL those that
	// pass the filters before the first stats, limit or dedup (empty when
	// there are none: all scanned records match).
	ScannedSQL  string
	ScannedArgs []any
	MatchedSQL  string
	MatchedArgs []any
	// MatchedInRows: the main statement has one more column than Columns,
	// records matched; MatchedSQL is then needed only when no row comes.
	MatchedInRows bool
	Columns       []string
	Kinds         []Kind
	// RowBytes is the estimated bytes read per scanned record: the widths
	// of the source fields the query uses plus the time and group columns.
	RowBytes int
	// Warnings are hints for the user ("line 1, column 8: field ... is in
	// no record ...; did you mean ...?"), in query order.
	Warnings []string
}

// Range is where a query looks: log groups and a time range (inclusive).
type Range struct {
	Groups     []string
	Start, End time.Time
}

// frag is compiled SQL with its arguments in textual order and the
// references (base fields, exported columns) it reads. width estimates
// the bytes of its value per record (see checkValue).
type frag struct {
	sql   string
	args  []any
	refs  []*ref
	width int
}

// cat concatenates strings and frags into one frag.
func cat(parts ...any) frag {
	var out frag
	var b strings.Builder
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			b.WriteString(v)
		case frag:
			b.WriteString(v.sql)
			out.args = append(out.args, v.args...)
			out.refs = append(out.refs, v.refs...)
			out.width += v.width
		default:
			panic(fmt.Sprintf("cat: %T", p))
		}
	}
	out.sql = b.String()
	return out
}

// param is one bound value.
func param(v any) frag {
	w := 8
	if s, ok := v.(string); ok {
		w = len(s)
	}
	return frag{sql: "?", args: []any{v}, width: w}
}

// colRef reads an exported column; its value is as wide as the export's.
func (c *compiler) colRef(e *export) frag {
	return frag{sql: c.d.Quote(e.alias), refs: []*ref{e.ref}, width: e.f.width}
}

// joinFrags joins frags with sep.
func joinFrags(fs []frag, sep string) frag {
	parts := make([]any, 0, 2*len(fs))
	for i, f := range fs {
		if i > 0 {
			parts = append(parts, sep)
		}
		parts = append(parts, f)
	}
	return cat(parts...)
}

// ref is something a frag reads: a source field or a column exported by
// an inner stage. Marking from the outermost query tells which exports
// must be rendered and which source fields (and joins) are read.
type ref struct {
	used  bool
	refs  []*ref
	field *SourceField
}

func mark(r *ref) {
	if r.used {
		return
	}
	r.used = true
	for _, d := range r.refs {
		mark(d)
	}
}

func markFrag(f frag) {
	for _, r := range f.refs {
		mark(r)
	}
}

// column is a named value in a stage's scope.
type column struct {
	name string
	val  value
	exp  *export // set when the column is already a column of its stage's SELECT
}

// export is a column of a stage's SELECT list under an internal alias.
type export struct {
	alias string
	f     frag
	ref   *ref
	force bool // rendered even if unused (group keys: GROUP BY ordinals)
}

type orderKey struct {
	f    frag
	desc bool
}

// stage is one SELECT. The first reads the source; each later one reads
// the stage before it as a subquery. A command that needs the rows of an
// aggregated, limited or deduplicated stage starts a new stage.
type stage struct {
	inner   *stage
	alias   string // of this stage as a subquery
	exports []*export
	names   []string // scope names in definition order
	scope   map[string]*column
	where   []frag
	agg     bool // stats ran here: only exports are valid
	groupN  int  // leading exports that are group keys
	orderBy []orderKey
	limit   int
	closed  bool // limit or dedup ran here: row-changing commands wrap
	// matched carries the records-matched count along the stages after the
	// first stats (see statsCmd): an export of this stage, or a reference
	// to the stage inside.
	matchedExp *export
	matchedRef *frag
}

func (s *stage) define(name string, v value) *column {
	if _, ok := s.scope[name]; !ok {
		s.names = append(s.names, name)
	}
	c := &column{name: name, val: v}
	s.scope[name] = c
	return c
}

func (s *stage) export(f frag) *export {
	e := &export{alias: "c" + strconv.Itoa(len(s.exports)+1), f: f, ref: &ref{refs: f.refs}}
	if s.inner != nil {
		e.alias = s.alias + "_" + e.alias
	}
	s.exports = append(s.exports, e)
	return e
}

// compiler holds one compilation.
type compiler struct {
	d       Dialect
	q       *Query
	src     *Source
	base    *stage
	cur     *stage
	fields  map[string]*ref // source field refs
	stages  int
	display []string // result names chosen by fields/stats
	// displayFromStats: the display list came from stats; the next fields
	// command replaces it.
	displayFromStats bool
	explicit         []*FieldRef // the last display command
	sorted, stats    bool
	rangeWhere       []frag
	// warnings are hints for the result (see missingField); warned the
	// names already warned about.
	warnings []string
	warned   map[string]bool
	// curStart..curEnd is the requested range and prevStart..prevEnd the
	// period diff compares with, in the source's time units (see setRange).
	curStart, curEnd, prevStart, prevEnd int64
}

// defineDynamic adds to the base scope the source's dynamic fields the
// query names (such as remote.attr.NAME), found among its identifiers.
func (c *compiler) defineDynamic() {
	if c.src.Dynamic == nil {
		return
	}
	l := lexer{src: c.q.Src}
	for {
		t, err := l.next()
		if err != nil || t.kind == tEOF {
			return
		}
		if t.kind != tIdent || c.base.scope[t.text] != nil {
			continue
		}
		if f, ok := c.src.Dynamic(t.text); ok {
			sf := &f
			rf := &ref{field: sf}
			c.fields[sf.Name] = rf
			c.base.define(sf.Name, value{f: frag{sql: sf.SQL, args: sf.Args, refs: []*ref{rf}, width: sf.Width}, kind: sf.Kind})
		}
	}
}

// Compile turns a parsed query into DuckDB SQL over src restricted to r.
func Compile(q *Query, src *Source, r Range) (*Compiled, error) {
	return CompileWith(DuckDB, q, src, r)
}

// CompileWith turns a parsed query into SQL of dialect d over src (whose
// SQL is written in d) restricted to r.
func CompileWith(d Dialect, q *Query, src *Source, r Range) (*Compiled, error) {
	c := &compiler{d: d, q: q, src: src, fields: map[string]*ref{}}
	c.base = &stage{scope: map[string]*column{}}
	c.cur = c.base
	for i := range src.Fields {
		f := &src.Fields[i]
		rf := &ref{field: f}
		c.fields[f.Name] = rf
		c.base.define(f.Name, value{f: frag{sql: f.SQL, args: f.Args, refs: []*ref{rf}, width: f.Width}, kind: f.Kind})
	}
	c.defineDynamic()
	if err := c.setRange(r); err != nil {
		return nil, err
	}
	for _, cmd := range q.Commands {
		if err := c.command(cmd); err != nil {
			return nil, err
		}
	}
	return c.finish()
}

func (c *compiler) errAt(p Pos, format string, args ...any) *Error {
	l := lexer{src: c.q.Src}
	return l.errAt(p, format, args...)
}

// MaxGroups is the most log groups one query may read (as in Logs Insights).
const MaxGroups = 50

// Dialect.Replan is, for DuckDB, a parameter whose type DuckDB cannot
// infer, bound to NULL. DuckDB plans a prepared statement before it sees the values, so a
// parameter is not a constant to the planner: a regex parameter would be
// compiled again for every row (seconds per million rows) and range
// parameters could not prune row groups by their min/max. When a
// parameter's type is unknown, DuckDB plans the statement again with the
// values, as constants. The values still travel bound, never as SQL text.
func (c *compiler) setRange(r Range) error {
	if replan := c.d.Replan(); replan != "" {
		c.rangeWhere = append(c.rangeWhere, frag{sql: replan, args: []any{nil}})
	}
	if c.src.GroupSQL != "" {
		if len(r.Groups) == 0 {
			return fmt.Errorf("no log group given")
		}
		if len(r.Groups) > MaxGroups {
			return fmt.Errorf("%d log groups: at most %d per query", len(r.Groups), MaxGroups)
		}
		ps := make([]frag, len(r.Groups))
		for i, g := range r.Groups {
			ps[i] = param(g)
		}
		c.rangeWhere = append(c.rangeWhere, cat(c.src.GroupSQL, " IN (", joinFrags(ps, ", "), ")"))
	}
	if r.End.Before(r.Start) {
		return fmt.Errorf("the time range ends (%s) before it starts (%s)", r.End.Format(time.RFC3339), r.Start.Format(time.RFC3339))
	}
	start, end := timeIn(r.Start, c.src.TimeUnit), timeIn(r.End, c.src.TimeUnit)
	c.curStart, c.curEnd = start, end
	diff := queryDiff(c.q)
	if diff == NoDiff {
		c.rangeWhere = append(c.rangeWhere, cat(c.src.TimeSQL, " >= ", param(start)), cat(c.src.TimeSQL, " <= ", param(end)))
		return nil
	}
	// diff reads both periods: their hull (for pruning), and only their
	// records when they do not touch.
	c.prevStart, c.prevEnd = previousRange(diff, r, c.src.TimeUnit)
	c.rangeWhere = append(c.rangeWhere, cat(c.src.TimeSQL, " >= ", param(min(start, c.prevStart))), cat(c.src.TimeSQL, " <= ", param(end)))
	if c.prevEnd < start-1 {
		c.rangeWhere = append(c.rangeWhere, cat("(", c.inPeriod(start, end), " OR ", c.inPeriod(c.prevStart, c.prevEnd), ")"))
	}
	return nil
}

// wrap starts a new stage reading the current one. The new stage sees the
// same names; the current order carries over (re-applied outside).
func (c *compiler) wrap() {
	s := c.cur
	c.stages++
	t := &stage{inner: s, alias: "t" + strconv.Itoa(c.stages), scope: map[string]*column{}}
	for _, name := range s.names {
		col := s.scope[name]
		e := col.exp
		if e == nil {
			e = s.export(col.val.f)
		}
		t.define(name, value{f: c.colRef(e), kind: col.val.kind})
	}
	if s.matchedRef != nil && s.matchedExp == nil {
		s.matchedExp = s.export(*s.matchedRef)
	}
	if e := s.matchedExp; e != nil {
		ref := c.colRef(e)
		t.matchedRef = &ref
	}
	if !s.agg {
		for _, k := range s.orderBy {
			e := s.export(k.f)
			t.orderBy = append(t.orderBy, orderKey{f: c.colRef(e), desc: k.desc})
		}
		if s.limit == 0 {
			s.orderBy = nil
		}
	}
	c.cur = t
}

func (c *compiler) command(cmd Command) error {
	switch cmd := cmd.(type) {
	case *Fields:
		if c.cur.agg {
			c.wrap()
		}
		return c.fieldsCmd(cmd)
	case *Display:
		c.explicit = cmd.Names
		return nil
	case *Filter:
		if c.cur.agg || c.cur.closed {
			c.wrap()
		}
		v, err := c.expr(cmd.Cond, ctxRow)
		if err != nil {
			return err
		}
		f, err := c.cond(cmd.Cond, v)
		if err != nil {
			return err
		}
		c.cur.where = append(c.cur.where, f)
		return nil
	case *Stats:
		if c.cur.agg || c.cur.closed {
			c.wrap()
		}
		return c.statsCmd(cmd)
	case *Sort:
		if c.cur.agg || c.cur.closed {
			c.wrap()
		}
		var keys []orderKey
		for _, k := range cmd.Keys {
			v, err := c.expr(k.Expr, ctxRow)
			if err != nil {
				return err
			}
			if v.missing {
				continue // null for every record: orders nothing
			}
			if len(v.f.refs) == 0 {
				return c.errAt(k.Expr.exprPos(), "sort needs a field or an expression of fields, not a constant")
			}
			f := v.f
			if len(f.args) > 0 {
				// DuckDB allows no parameters in ORDER BY: sort by the
				// expression as a column of this stage instead.
				e := c.cur.export(f)
				e.force = true
				f = c.colRef(e)
			}
			keys = append(keys, orderKey{f: f, desc: k.Desc})
		}
		c.cur.orderBy = keys
		c.sorted = true
		return nil
	case *Limit:
		if c.cur.agg || c.cur.closed {
			c.wrap()
		}
		c.cur.limit = cmd.N
		c.cur.closed = true
		return nil
	case *ParseCmd:
		if c.cur.agg {
			c.wrap()
		}
		return c.parseCmd(cmd)
	case *Dedup:
		if c.cur.agg || c.cur.closed {
			c.wrap()
		}
		return c.dedupCmd(cmd)
	case *PatternCmd:
		if c.cur.agg || c.cur.closed {
			c.wrap()
		}
		return c.patternCmd(cmd)
	case *Unnest:
		return c.unnestCmd(cmd)
	}
	return fmt.Errorf("unknown command %T", cmd)
}

func (c *compiler) addDisplay(name string) {
	if c.displayFromStats {
		c.display, c.displayFromStats = nil, false
	}
	for _, d := range c.display {
		if d == name {
			return
		}
	}
	c.display = append(c.display, name)
}

func (c *compiler) fieldsCmd(cmd *Fields) error {
	vals := make([]value, len(cmd.Items))
	for i, it := range cmd.Items {
		v, err := c.expr(it.Expr, ctxRow)
		if err != nil {
			return err
		}
		vals[i] = v
	}
	// Define after computing all, so "fields a+1 as a, a" reads the old a.
	for i, it := range cmd.Items {
		c.cur.define(it.Name(), vals[i])
		c.addDisplay(it.Name())
	}
	return nil
}

func (c *compiler) statsCmd(cmd *Stats) error {
	s := c.cur
	type named struct {
		name string
		v    value
	}
	var by, aggs []named
	for _, it := range cmd.By {
		v, err := c.expr(it.Expr, ctxRow)
		if err != nil {
			return err
		}
		by = append(by, named{it.Name(), v})
	}
	for _, it := range cmd.Aggs {
		v, err := c.expr(it.Expr, ctxStats)
		if err != nil {
			return err
		}
		if !v.agg {
			return c.errAt(it.Expr.exprPos(), "%s is not an aggregation (count, sum, avg, min, max, pct, stddev, count_distinct, earliest, latest)", it.Text)
		}
		aggs = append(aggs, named{it.Name(), v})
	}
	// The stage's scope becomes the group keys then the aggregates, each a
	// column of its SELECT; group keys come first for GROUP BY ordinals.
	s.scope, s.names = map[string]*column{}, nil
	s.orderBy = nil
	s.agg, s.groupN = true, len(by)
	c.display, c.displayFromStats = nil, true
	for _, n := range append(by, aggs...) {
		e := s.export(n.v.f)
		e.force = true
		col := s.define(n.name, value{f: n.v.f, kind: n.v.kind})
		col.exp = e
		c.display = appendUnique(c.display, n.name)
	}
	c.countMatched(s)
	c.stats = true
	return nil
}

// countMatched: the first stats (or pattern) counts the records that
// passed the filters: every group's count summed over all groups, so the
// main statement answers "records matched" without a second scan.
func (c *compiler) countMatched(s *stage) {
	if s == c.base {
		s.matchedExp = s.export(frag{sql: "sum(count(*)) OVER ()"})
	} else if s.matchedRef != nil {
		s.matchedExp = s.export(cat("max(", *s.matchedRef, ")"))
		s.matchedRef = nil
	}
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// dedupCmd numbers rows per combination of the fields in the current
// order, then keeps the first of each, plus every row with a missing key
// (missing values are never duplicates).
func (c *compiler) dedupCmd(cmd *Dedup) error {
	s := c.cur
	var keys []frag
	for _, f := range cmd.Fields {
		v, err := c.expr(f, ctxRow)
		if err != nil {
			return err
		}
		keys = append(keys, v.f)
	}
	over := cat("row_number() OVER (PARTITION BY ", joinFrags(keys, ", "))
	order := s.orderBy
	if ts, ok := s.scope["@timestamp"]; ok && len(order) == 0 {
		order = []orderKey{{f: ts.val.f, desc: true}} // the default result order
	}
	if len(order) > 0 {
		over = cat(over, " ORDER BY ", c.renderOrder(order))
	}
	over = cat(over, ")")
	rn := s.export(over)
	keyExports := make([]*export, len(keys))
	for i, k := range keys {
		keyExports[i] = s.export(k)
	}
	c.wrap()
	conds := []frag{cat(c.d.Quote(rn.alias), " = 1")}
	for _, e := range keyExports {
		conds = append(conds, frag{sql: c.d.Quote(e.alias) + " IS NULL", refs: []*ref{e.ref}})
	}
	w := cat("(", joinFrags(conds, " OR "), ")")
	w.refs = append(w.refs, rn.ref)
	c.cur.where = append(c.cur.where, w)
	return nil
}

func (c *compiler) renderOrder(keys []orderKey) frag {
	fs := make([]frag, len(keys))
	for i, k := range keys {
		fs[i] = c.d.OrderKey(k.f, k.desc)
	}
	return joinFrags(fs, ", ")
}

// finish picks the result columns, applies the default order and limit,
// marks what is read and renders both statements.
func (c *compiler) finish() (*Compiled, error) {
	if c.cur.agg {
		c.wrap()
	}
	final := c.cur
	names := c.display
	if c.explicit != nil {
		names = nil
		for _, f := range c.explicit {
			if _, ok := final.scope[f.Name]; !ok {
				// A path into a map (display event.name), else an empty
				// column, as in Logs Insights.
				final.define(f.Name, c.field(f))
			}
			names = appendUnique(names, f.Name)
		}
	}
	if len(names) == 0 {
		for _, n := range c.src.Default {
			if _, ok := final.scope[n]; ok {
				names = append(names, n)
			}
		}
	}
	if !c.sorted && !c.stats {
		if ts, ok := final.scope["@timestamp"]; ok {
			final.orderBy = []orderKey{{f: ts.val.f, desc: true}}
		}
	}
	if len(final.exports) > 0 {
		// Sort keys computed as columns: select the result columns outside.
		c.wrap()
		final = c.cur
	}
	if final.limit == 0 {
		final.limit = DefaultLimit
	}
	out := &Compiled{}
	final.exports = nil // the result columns are the final SELECT list
	for _, n := range names {
		col := final.scope[n]
		f, kind := col.val.f, col.val.kind
		if kind == KindJSON { // a map or list shows as JSON text
			f, kind = c.d.JSONText(f), KindString
		}
		e := final.export(f)
		e.force = true
		out.Columns = append(out.Columns, n)
		out.Kinds = append(out.Kinds, kind)
	}
	if final.matchedRef != nil {
		e := final.export(*final.matchedRef)
		e.force = true
		out.MatchedInRows = true
	}
	if err := c.checkResult(final); err != nil {
		return nil, err
	}
	c.markUsed()
	main := c.render(final)
	if len(main.sql) > MaxSQLBytes {
		return nil, c.tooLarge(c.lastCommand(), "the query compiles to %d KiB of SQL, more than %d KiB: each use of an alias copies its definition; use fewer or smaller expressions",
			len(main.sql)>>10, MaxSQLBytes>>10)
	}
	out.SQL, out.Args = main.sql, main.args
	scanned, matched := c.renderStats()
	out.ScannedSQL, out.ScannedArgs = scanned.sql, scanned.args
	out.MatchedSQL, out.MatchedArgs = matched.sql, matched.args
	out.RowBytes = c.rowBytes()
	out.Warnings = c.warnings
	return out, nil
}

// markUsed marks, from the outermost stage in, every export and source
// field the rendered statements read.
func (c *compiler) markUsed() {
	for s := c.cur; s != nil; s = s.inner {
		for _, e := range s.exports {
			if e.force {
				mark(e.ref)
			}
		}
		for _, w := range s.where {
			markFrag(w)
		}
		for _, k := range s.orderBy {
			markFrag(k.f)
		}
		for _, e := range s.exports {
			if e.ref.used {
				markFrag(e.f)
			}
		}
	}
}

func (c *compiler) render(s *stage) frag {
	var sel []frag
	for _, e := range s.exports {
		if e.ref.used {
			sel = append(sel, cat(e.f, " AS ", c.d.Quote(e.alias)))
		}
	}
	if len(sel) == 0 {
		sel = []frag{{sql: "1 AS " + c.d.Quote("c0")}}
	}
	q := cat("SELECT ", joinFrags(sel, ", "), " FROM ")
	where := s.where
	if s.inner == nil {
		q = cat(q, c.fromClause())
		where = append(append([]frag{}, c.rangeWhere...), where...)
	} else {
		q = cat(q, "(", c.render(s.inner), ") AS ", c.d.Quote(s.alias))
	}
	if len(where) > 0 {
		q = cat(q, " WHERE ", joinFrags(where, " AND "))
	}
	if s.agg && s.groupN > 0 {
		keys := make([]frag, s.groupN)
		for i := range keys {
			keys[i] = s.exports[i].f
		}
		q = cat(q, c.d.GroupBy(keys))
	}
	if len(s.orderBy) > 0 {
		q = cat(q, " ORDER BY ", c.renderOrder(s.orderBy))
	}
	if s.limit > 0 {
		q = cat(q, c.d.Limit(param(int64(s.limit))))
	}
	return q
}

// fromClause is the source table with the joins its used fields need.
func (c *compiler) fromClause() frag {
	need := map[string]bool{}
	for _, r := range c.fields {
		if r.used && r.field.Join != "" {
			need[r.field.Join] = true
		}
	}
	for i := len(c.src.Joins) - 1; i >= 0; i-- {
		if j := c.src.Joins[i]; need[j.Alias] && j.Needs != "" {
			need[j.Needs] = true
		}
	}
	from := c.src.Table
	for _, j := range c.src.Joins {
		if need[j.Alias] {
			from += j.SQL
		}
	}
	return frag{sql: from, args: c.src.TableArgs}
}

// renderStats counts the records in the range (scanned) and those passing
// the filters of the first stage (matched), as two statements: with the
// filters in WHERE DuckDB pushes them into the scan. One statement with
// count(*) FILTER (WHERE ...) evaluated the filters on every record
// instead, and two scalar subqueries in one SELECT ran 2-3 times slower
// than the two statements. Matched is empty when there are no filters.
func (c *compiler) renderStats() (scanned, matched frag) {
	from := c.fromClause()
	scanned = cat("SELECT count(*) FROM ", from, " WHERE ", joinFrags(c.rangeWhere, " AND "))
	if len(c.base.where) == 0 {
		return scanned, frag{}
	}
	return scanned, cat(scanned, " AND ", joinFrags(c.base.where, " AND "))
}

func (c *compiler) rowBytes() int {
	n := 8 * len(c.src.TimeCols)
	if c.src.GroupSQL != "" {
		n += c.src.GroupWidth
	}
	for _, r := range c.fields {
		if r.used {
			n += r.field.Width
		}
	}
	return n
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
