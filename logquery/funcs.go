package logquery

import (
	"strings"
)

// aggregates are the stats functions.
var aggregates = map[string]bool{"count": true, "count_distinct": true, "sum": true, "avg": true,
	"min": true, "max": true, "pct": true, "stddev": true, "earliest": true, "latest": true,
	"sortsfirst": true, "sortslast": true}

// argCounts are the accepted argument counts of each function: min, max
// (-1 for any number).
var argCounts = map[string][2]int{
	"abs": {1, 1}, "ceil": {1, 1}, "floor": {1, 1}, "log": {1, 1}, "sqrt": {1, 1},
	"greatest": {1, -1}, "least": {1, -1},
	"ispresent": {1, 1}, "coalesce": {1, -1},
	"isempty": {1, 1}, "isblank": {1, 1}, "concat": {1, -1}, "ltrim": {1, 2}, "rtrim": {1, 2}, "trim": {1, 2},
	"strlen": {1, 1}, "toupper": {1, 1}, "tolower": {1, 1}, "substr": {2, 3}, "replace": {3, 3}, "strcontains": {2, 2},
	"bin": {1, 1}, "datefloor": {2, 2}, "dateceil": {2, 2}, "frommillis": {1, 1}, "tomillis": {1, 1},
	"isvalidip": {1, 1}, "isvalidipv4": {1, 1}, "isvalidipv6": {1, 1},
	"isipinsubnet": {2, 2}, "isipv4insubnet": {2, 2}, "isipv6insubnet": {2, 2},
	"jsonparse": {1, 1}, "jsonstringify": {1, 1},
	"count": {0, 1}, "count_distinct": {1, 1}, "sum": {1, 1}, "avg": {1, 1}, "min": {1, 1}, "max": {1, 1},
	"pct": {2, 2}, "stddev": {1, 1}, "earliest": {1, 1}, "latest": {1, 1}, "sortsfirst": {1, 1}, "sortslast": {1, 1},
}

func (c *compiler) call(e *Call, ctx exprCtx) (value, error) {
	name := strings.ToLower(e.Name)
	n, ok := argCounts[name]
	if !ok {
		return value{}, c.errAt(e.At, "unknown function %s", e.Name)
	}
	if len(e.Args) < n[0] || (n[1] >= 0 && len(e.Args) > n[1]) {
		want := "no arguments"
		switch {
		case n[1] < 0:
			want = "at least " + itoa(int64(n[0])) + " argument(s)"
		case n[0] == n[1]:
			want = itoa(int64(n[0])) + " argument(s)"
		default:
			want = itoa(int64(n[0])) + " to " + itoa(int64(n[1])) + " arguments"
		}
		return value{}, c.errAt(e.At, "%s takes %s, found %d", e.Name, want, len(e.Args))
	}
	if aggregates[name] {
		if ctx != ctxStats {
			if ctx == ctxInAgg {
				return value{}, c.errAt(e.At, "aggregations cannot be nested")
			}
			return value{}, c.errAt(e.At, "%s is an aggregation: use it in stats", e.Name)
		}
		return c.aggregate(e, name)
	}
	if name == "count" {
		return value{}, nil // unreachable: count is an aggregate
	}
	if name == "bin" || name == "datefloor" || name == "dateceil" {
		return c.timeFunc(e, name, ctx)
	}
	if name == "isipinsubnet" || name == "isipv4insubnet" || name == "isipv6insubnet" {
		return c.subnetFunc(e, name, ctx)
	}
	args := make([]value, len(e.Args))
	agg := false
	for i, a := range e.Args {
		v, err := c.expr(a, ctx)
		if err != nil {
			return v, err
		}
		args[i], agg = v, agg || v.agg
	}
	f, kind, err := c.scalar(e, name, args)
	return value{f: f, kind: kind, agg: agg}, err
}

// scalar compiles the per-record functions.
func (c *compiler) scalar(e *Call, name string, args []value) (frag, Kind, error) {
	num := func(i int) (frag, error) { return c.num(e.Args[i], args[i]) }
	str := func(i int) frag { return c.str(args[i]) }
	strs := func() []frag {
		out := make([]frag, len(args))
		for i := range args {
			out[i] = str(i)
		}
		return out
	}
	switch name {
	case "abs", "ceil", "floor", "sqrt", "log":
		x, err := num(0)
		return cat(c.d.Func(name)+"(", x, ")"), KindNumber, err
	case "greatest", "least", "coalesce":
		same := true
		for _, a := range args {
			same = same && (a.kind == args[0].kind || (isNumeric(a.kind) && isNumeric(args[0].kind)))
		}
		if same {
			fs := make([]frag, len(args))
			for i, a := range args {
				fs[i] = a.f
			}
			return cat(name+"(", joinFrags(fs, ", "), ")"), args[0].kind, nil
		}
		if name == "coalesce" {
			return cat("coalesce(", joinFrags(strs(), ", "), ")"), KindString, nil
		}
		fs := make([]frag, len(args))
		for i := range args {
			f, err := num(i)
			if err != nil {
				return frag{}, 0, err
			}
			fs[i] = f
		}
		return cat(name+"(", joinFrags(fs, ", "), ")"), KindNumber, nil
	case "ispresent":
		return cat("(", args[0].f, " IS NOT NULL)"), KindBool, nil
	case "isempty":
		return cat("(", args[0].f, " IS NULL OR ", str(0), " = '')"), KindBool, nil
	case "isblank":
		return cat("(", args[0].f, " IS NULL OR trim(", str(0), ") = '')"), KindBool, nil
	case "concat":
		return cat("concat(", joinFrags(strs(), ", "), ")"), KindString, nil
	case "ltrim", "rtrim", "trim":
		return cat(name+"(", joinFrags(strs(), ", "), ")"), KindString, nil
	case "strlen":
		return cat(c.d.Func(name)+"(", str(0), ")"), KindNumber, nil
	case "toupper", "tolower":
		return cat(c.d.Func(name)+"(", str(0), ")"), KindString, nil
	case "substr":
		// Logs Insights counts from 0, SQL from 1.
		start, err := num(1)
		if err != nil {
			return frag{}, 0, err
		}
		f := cat("substr(", str(0), ", ", c.d.Cast(start, TypeBigInt), " + 1")
		if len(args) == 3 {
			n, err := num(2)
			if err != nil {
				return frag{}, 0, err
			}
			f = cat(f, ", ", c.d.Cast(n, TypeBigInt))
		}
		return cat(f, ")"), KindString, nil
	case "replace":
		f := cat("replace(", joinFrags(strs(), ", "), ")")
		// At worst every occurrence of the search text grows into the
		// replacement: the value grows by their ratio.
		from, to := max(1, args[1].f.width), args[2].f.width
		f.width = args[0].f.width * max(1, (to+from-1)/from)
		return f, KindString, nil
	case "strcontains":
		return c.d.Cast(c.d.Contains(str(0), str(1)), TypeInteger), KindNumber, nil
	case "frommillis":
		x, err := num(0)
		return c.d.Cast(x, TypeBigInt), KindTime, err
	case "tomillis":
		x, err := num(0)
		return x, KindNumber, err
	case "isvalidip":
		return c.validIP(str(0)), KindBool, nil
	case "isvalidipv4":
		return c.validIPv4(str(0)), KindBool, nil
	case "isvalidipv6":
		return c.validIPv6(str(0)), KindBool, nil
	case "jsonparse", "jsonstringify":
		return c.jsonFunc(e, name, args[0])
	}
	return frag{}, 0, c.errAt(e.At, "unknown function %s", e.Name)
}

func isNumeric(k Kind) bool { return k == KindNumber || k == KindTime }

// timestamp is @timestamp in the current scope, for bin, earliest, latest.
func (c *compiler) timestamp(at Pos, what string) (frag, error) {
	col, ok := c.cur.scope["@timestamp"]
	if !ok || col.val.kind != KindTime {
		return frag{}, c.errAt(at, "%s needs @timestamp, which is not available at this point of the query", what)
	}
	return col.val.f, nil
}

func (c *compiler) period(e Expr) (int64, error) {
	d, ok := e.(*DurationLit)
	if !ok {
		return 0, c.errAt(e.exprPos(), "expected a time period such as 5m, 1h or 1d")
	}
	return d.Ms, nil
}

// timeFunc compiles bin(period), datefloor(t, period), dateceil(t, period).
func (c *compiler) timeFunc(e *Call, name string, ctx exprCtx) (value, error) {
	var t frag
	var agg bool
	pe := e.Args[len(e.Args)-1]
	if name == "bin" {
		var err error
		if t, err = c.timestamp(e.At, "bin"); err != nil {
			return value{}, err
		}
		if ctx == ctxStats {
			return value{}, c.errAt(e.At, "bin() groups records: use it after by")
		}
	} else {
		v, err := c.expr(e.Args[0], ctx)
		if err != nil {
			return v, err
		}
		if t, err = c.num(e.Args[0], v); err != nil {
			return value{}, err
		}
		agg = v.agg
	}
	p, err := c.period(pe)
	if err != nil {
		return value{}, err
	}
	if name == "dateceil" {
		t = cat("(", t, " + ", param(p-1), ")")
	}
	return value{f: cat("((", c.d.IntDiv(t, param(p)), ") * ", param(p), ")"), kind: KindTime, agg: agg}, nil
}

func (c *compiler) subnetFunc(e *Call, name string, ctx exprCtx) (value, error) {
	v, err := c.expr(e.Args[0], ctx)
	if err != nil {
		return v, err
	}
	lit, ok := e.Args[1].(*StringLit)
	if !ok {
		return value{}, c.errAt(e.Args[1].exprPos(), "%s takes the subnet as a string literal, e.g. \"10.0.0.0/8\"", e.Name)
	}
	family := map[string]int{"isipinsubnet": 0, "isipv4insubnet": 4, "isipv6insubnet": 6}[name]
	f, err := c.inSubnet(lit.At, c.str(v), lit.Val, family)
	return value{f: f, kind: KindBool, agg: v.agg}, err
}

// aggregate compiles a stats function. Its arguments are per-record
// expressions.
func (c *compiler) aggregate(e *Call, name string) (value, error) {
	if name == "count" && (len(e.Args) == 0 || isStar(e.Args[0])) {
		return value{f: frag{sql: "count(*)"}, kind: KindNumber, agg: true}, nil
	}
	x, err := c.expr(e.Args[0], ctxInAgg)
	if err != nil {
		return x, err
	}
	out := value{kind: KindNumber, agg: true}
	switch name {
	case "count":
		out.f = cat("count(", x.f, ")")
	case "count_distinct":
		out.f = c.d.CountDistinct(x.f)
	case "sum", "avg", "stddev":
		n, err := c.num(e.Args[0], x)
		if err != nil {
			return value{}, err
		}
		out.f = cat(c.d.Func(name)+"(", n, ")")
	case "min", "max", "sortsfirst", "sortslast":
		out.f, out.kind = cat(c.d.Func(name)+"(", x.f, ")"), x.kind
	case "pct":
		n, err := c.num(e.Args[0], x)
		if err != nil {
			return value{}, err
		}
		p, ok := e.Args[1].(*NumberLit)
		if !ok || p.Float < 0 || p.Float > 100 {
			return value{}, c.errAt(e.Args[1].exprPos(), "pct takes a percentile from 0 to 100, e.g. pct(bytes, 95)")
		}
		out.f = c.d.Percentile(n, param(p.Float/100))
	case "earliest", "latest":
		ts, err := c.timestamp(e.At, name)
		if err != nil {
			return value{}, err
		}
		out.f, out.kind = cat(c.d.Func(name)+"(", x.f, ", ", ts, ")"), x.kind
	}
	return out, nil
}

func isStar(e Expr) bool { _, ok := e.(*Star); return ok }
