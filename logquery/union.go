package logquery

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// One query may span sources (a flow-log group and flowlens/flows, say):
// the engine then reads one source made of a subquery per source joined
// with UNION ALL, each selecting, under the query's names, the fields the
// query names that it has and NULL for those it does not, so a field a
// source lacks is empty for its records (Logs Insights: a field a log
// event does not have is null). Each subquery applies the time range and
// its log groups itself, as bound parameters, so each source keeps its
// own pruning; a query over one source compiles exactly as before.

// unionTime is the column of the union's subqueries holding @timestamp's
// time in milliseconds (the range column of the union source).
const unionTime = "@@time"

// part is one source of a union: its groups (nil for a group of its own).
type part struct {
	src    *Source
	groups []string
}

// unionSource builds the source reading parts as one, for a query naming
// names (identifiers of its text; those no part has stay missing).
func unionSource(d Dialect, parts []part, names []string, r Range) *Source {
	type col struct {
		name  string
		kind  Kind
		mixed bool // the parts disagree on the kind: compared as text
		width int
	}
	var cols []*col
	byName := map[string]*col{}
	add := func(name string) {
		if byName[name] != nil || name == unionTime {
			return
		}
		var c *col
		for _, p := range parts {
			f, ok := fieldOf(p.src, name)
			if !ok {
				continue
			}
			if c == nil {
				c = &col{name: name, kind: f.Kind}
			} else if c.kind != f.Kind {
				c.mixed, c.kind = true, KindString
			}
			c.width = max(c.width, f.Width)
		}
		if c != nil {
			byName[name] = c
			cols = append(cols, c)
		}
	}
	out := &Source{Name: "union", TimeSQL: d.Quote(unionTime), TimeUnit: 1000, TimeCols: []string{unionTime}}
	for _, p := range parts {
		for _, n := range p.src.Default {
			add(n)
			out.Default = appendUnique(out.Default, n)
		}
	}
	for _, n := range names {
		add(n)
	}
	subs := make([]frag, len(parts))
	for i, p := range parts {
		sel := make([]frag, 0, len(cols)+1)
		need := map[string]bool{}
		for _, c := range cols {
			f, ok := fieldOf(p.src, c.name)
			v := frag{sql: "NULL"}
			if ok {
				v = frag{sql: f.SQL, args: f.Args}
				if c.mixed {
					v = d.Cast(v, TypeVarchar)
				}
				if f.Join != "" {
					need[f.Join] = true
				}
			}
			sel = append(sel, cat(v, " AS ", d.Quote(c.name)))
		}
		ms := p.src.TimeSQL
		if p.src.TimeUnit != 1000 {
			ms = "(" + ms + " * " + itoa(1000/max(p.src.TimeUnit, 1)) + ")"
		}
		sel = append(sel, frag{sql: ms + " AS " + d.Quote(unionTime)})
		start, end := r.Start.Unix(), r.End.Unix()
		if p.src.TimeUnit == 1000 {
			start, end = r.Start.UnixMilli(), r.End.UnixMilli()
		}
		where := []frag{cat(p.src.TimeSQL, " >= ", param(start)), cat(p.src.TimeSQL, " <= ", param(end))}
		if p.src.GroupSQL != "" {
			gs := make([]frag, len(p.groups))
			for j, g := range p.groups {
				gs[j] = param(g)
			}
			where = append([]frag{cat(p.src.GroupSQL, " IN (", joinFrags(gs, ", "), ")")}, where...)
		}
		subs[i] = cat("SELECT ", joinFrags(sel, ", "), " FROM ", frag{sql: joinsFor(p.src, need), args: p.src.TableArgs},
			" WHERE ", joinFrags(where, " AND "))
	}
	from := cat("(", joinFrags(subs, " UNION ALL "), ") AS ", d.Quote("u"))
	out.Table, out.TableArgs = from.sql, from.args
	for _, c := range cols {
		out.Fields = append(out.Fields, SourceField{Name: c.name, SQL: d.Quote("u") + "." + d.Quote(c.name), Kind: c.kind, Width: c.width})
	}
	return out
}

// fieldOf finds a field of src by name, its dynamic families included.
func fieldOf(src *Source, name string) (SourceField, bool) {
	for _, f := range src.Fields {
		if f.Name == name {
			return f, true
		}
	}
	if src.Dynamic != nil {
		return src.Dynamic(name)
	}
	return SourceField{}, false
}

// joinsFor is src's table with the joins the needed aliases require.
func joinsFor(src *Source, need map[string]bool) string {
	for i := len(src.Joins) - 1; i >= 0; i-- {
		if j := src.Joins[i]; need[j.Alias] && j.Needs != "" {
			need[j.Needs] = true
		}
	}
	from := src.Table
	for _, j := range src.Joins {
		if need[j.Alias] {
			from += j.SQL
		}
	}
	return from
}

// queryNames are the identifiers of a query's text: the field names it
// may read (keywords and function names among them are harmless).
func queryNames(q *Query) []string {
	var out []string
	seen := map[string]bool{}
	l := lexer{src: q.Src}
	for {
		t, err := l.next()
		if err != nil || t.kind == tEOF {
			return out
		}
		if t.kind == tIdent && !seen[t.text] {
			seen[t.text] = true
			out = append(out, t.text)
		}
	}
}

// resolveParts builds the source of a request spanning several sources.
func (s *Sources) resolveParts(ctx context.Context, tx *sql.Tx, d Dialect, q *Query, r Range, singles []string, grouped []string, listed []part) (*Source, Range, error) {
	var parts []part
	for _, g := range singles {
		src, err := s.single[g].p.LogSource(ctx, tx)
		if err != nil {
			return nil, r, err
		}
		parts = append(parts, part{src: src})
	}
	if len(grouped) > 0 {
		src, err := s.groups.LogSource(ctx, tx)
		if err != nil {
			return nil, r, err
		}
		parts = append(parts, part{src: src, groups: grouped})
	}
	parts = append(parts, listed...)
	if r.End.Before(r.Start) {
		return nil, r, fmt.Errorf("%w: the time range ends before it starts", ErrBadRequest)
	}
	r.Groups = nil
	return unionSource(d, parts, queryNames(q), r), r, nil
}

// matchPrefixes keeps the names starting with one of prefixes (every
// name when there are none).
func matchPrefixes(names, prefixes []string) []string {
	if len(prefixes) == 0 {
		return names
	}
	var out []string
	for _, n := range names {
		for _, p := range prefixes {
			if strings.HasPrefix(n, p) {
				out = append(out, n)
				break
			}
		}
	}
	return out
}
