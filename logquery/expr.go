package logquery

import (
	"math"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"
)

// value is a compiled expression.
type value struct {
	f    frag
	kind Kind
	agg  bool // contains an aggregate
	lit  any  // the value of a literal (string, int64, float64, bool), else nil
	// missing: a field no record has (null everywhere, see missingField).
	missing bool
}

type exprCtx uint8

const (
	ctxRow   exprCtx = iota // a per-record expression
	ctxStats                // a stats item: aggregates allowed, fields only inside them
	ctxInAgg                // an aggregate's argument
)

// expr compiles an expression and checks it against the size limits, so
// the innermost expression that crosses one is the one named.
func (c *compiler) expr(e Expr, ctx exprCtx) (value, error) {
	v, err := c.exprOf(e, ctx)
	if err != nil {
		return v, err
	}
	if err := c.checkValue(e.exprPos(), &v); err != nil {
		return value{}, err
	}
	return v, nil
}

func (c *compiler) exprOf(e Expr, ctx exprCtx) (value, error) {
	switch e := e.(type) {
	case *FieldRef:
		if ctx == ctxStats {
			return value{}, c.errAt(e.At, "field %s is used outside an aggregation; group by it with \"by %s\"", e.Name, e.Name)
		}
		return c.field(e), nil
	case *Access:
		if ctx == ctxStats {
			return value{}, c.errAt(e.At, "field %s is used outside an aggregation; group by it with \"by %s\"", e.Field.Name, e.Field.Name)
		}
		return c.access(e)
	case *StringLit:
		return value{f: param(e.Val), kind: KindString, lit: e.Val}, nil
	case *NumberLit:
		if e.IsInt {
			return value{f: param(e.Int), kind: KindNumber, lit: e.Int}, nil
		}
		return value{f: param(e.Float), kind: KindNumber, lit: e.Float}, nil
	case *BoolLit:
		return value{f: param(e.Val), kind: KindBool, lit: e.Val}, nil
	case *RegexLit:
		return value{}, c.errAt(e.At, "a regular expression can only follow like or =~, or be a parse pattern")
	case *DurationLit:
		return value{}, c.errAt(e.At, "a time period such as %s can only be an argument of bin, datefloor or dateceil", e.Text)
	case *Star:
		return value{}, c.errAt(e.At, "* is only allowed in count(*)")
	case *Unary:
		return c.unary(e, ctx)
	case *Binary:
		return c.binary(e, ctx)
	case *Like:
		return c.like(e, ctx)
	case *In:
		return c.in(e, ctx)
	case *Call:
		// A result named by its expression ("count(*)", "bin(5m)") is
		// referred to by writing the expression again.
		if col, ok := c.cur.scope[c.callText(e)]; ok && ctx != ctxStats {
			return col.val, nil
		}
		return c.call(e, ctx)
	}
	return value{}, c.errAt(e.exprPos(), "unsupported expression")
}

func (c *compiler) unary(e *Unary, ctx exprCtx) (value, error) {
	x, err := c.expr(e.X, ctx)
	if err != nil {
		return x, err
	}
	if e.Op == "not" {
		f, err := c.cond(e.X, x)
		if err != nil {
			return value{}, err
		}
		return value{f: cat("(NOT ", f, ")"), kind: KindBool, agg: x.agg}, nil
	}
	n, err := c.num(e.X, x)
	if err != nil {
		return value{}, err
	}
	return value{f: cat("(- ", n, ")"), kind: KindNumber, agg: x.agg}, nil
}

// cond turns a value into a condition: booleans as they are, numbers
// compared with zero (strcontains returns 1 or 0).
func (c *compiler) cond(e Expr, v value) (frag, error) {
	switch v.kind {
	case KindBool:
		return v.f, nil
	case KindNumber:
		return cat("(", v.f, " <> 0)"), nil
	case KindJSON: // a JSON true or false
		return c.d.TryCast(c.str(v), TypeBoolean), nil
	}
	return frag{}, c.errAt(e.exprPos(), "expected a condition (a comparison, like, in, or a function such as ispresent), found a %s", v.kind)
}

// num is a value in a numeric context: strings (parse results, for
// instance) are converted, or NULL where they are not numbers.
func (c *compiler) num(e Expr, v value) (frag, error) {
	switch v.kind {
	case KindNumber, KindTime:
		return v.f, nil
	case KindBool:
		return c.d.Cast(v.f, TypeInteger), nil
	case KindJSON:
		return c.d.TryCast(c.str(v), TypeDouble), nil
	}
	if s, ok := v.lit.(string); ok {
		if n, ok := parseNumber(s); ok {
			return param(n), nil
		}
		return frag{}, c.errAt(e.exprPos(), "%q is not a number", s)
	}
	return c.d.TryCast(v.f, TypeDouble), nil
}

// str is a value in a string context.
func (c *compiler) str(v value) frag {
	switch v.kind {
	case KindString:
		return v.f
	case KindTime:
		return c.d.TimeText(v.f)
	case KindJSON:
		return c.d.JSONScalarText(v.f)
	}
	return c.d.Cast(v.f, TypeVarchar)
}

func parseNumber(s string) (any, bool) {
	if i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
		return i, true
	}
	if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return f, true
	}
	return nil, false
}

// timeLayouts are the string forms a time literal may take in a
// comparison with @timestamp.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.000", "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"}

func parseTimeLit(s string) (int64, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UnixMilli(), true
		}
	}
	return 0, false
}

func (c *compiler) binary(e *Binary, ctx exprCtx) (value, error) {
	x, err := c.expr(e.X, ctx)
	if err != nil {
		return x, err
	}
	y, err := c.expr(e.Y, ctx)
	if err != nil {
		return y, err
	}
	agg := x.agg || y.agg
	switch e.Op {
	case "and", "or":
		xf, err := c.cond(e.X, x)
		if err != nil {
			return value{}, err
		}
		yf, err := c.cond(e.Y, y)
		if err != nil {
			return value{}, err
		}
		return value{f: cat("(", xf, c.d.Op(e.Op), yf, ")"), kind: KindBool, agg: agg}, nil
	case "=", "!=", "<", "<=", ">", ">=":
		xf, yf, err := c.comparable(e, x, y)
		if err != nil {
			return value{}, err
		}
		return value{f: cat("(", xf, c.d.Op(e.Op), yf, ")"), kind: KindBool, agg: agg}, nil
	}
	xf, err := c.num(e.X, x)
	if err != nil {
		return value{}, err
	}
	yf, err := c.num(e.Y, y)
	if err != nil {
		return value{}, err
	}
	kind := KindNumber
	if (x.kind == KindTime) != (y.kind == KindTime) && (e.Op == "+" || e.Op == "-") {
		kind = KindTime // a time plus or minus milliseconds
	}
	return value{f: cat("(", xf, c.d.Op(e.Op), yf, ")"), kind: kind, agg: agg}, nil
}

// comparable brings both sides of a comparison to one type. A string
// literal compared with a number, time or boolean is read as one; a string
// field compared with a number or boolean literal is converted (NULL
// where it is not one); otherwise mixed sides compare as strings.
func (c *compiler) comparable(e *Binary, x, y value) (frag, frag, error) {
	numeric := func(k Kind) bool { return k == KindNumber || k == KindTime }
	if x.kind == y.kind || (numeric(x.kind) && numeric(y.kind)) {
		return x.f, y.f, nil
	}
	if s, ok := y.lit.(string); ok {
		f, err := c.readLiteral(e.Y, s, x.kind)
		if f == nil {
			return c.str(x), y.f, err
		}
		return x.f, *f, err
	}
	if s, ok := x.lit.(string); ok {
		f, err := c.readLiteral(e.X, s, y.kind)
		if f == nil {
			return x.f, c.str(y), err
		}
		return *f, y.f, err
	}
	if textual(x.kind) && x.lit == nil && y.lit != nil {
		return c.castFor(c.str(x), y.kind), y.f, nil
	}
	if textual(y.kind) && y.lit == nil && x.lit != nil {
		return x.f, c.castFor(c.str(y), x.kind), nil
	}
	return c.str(x), c.str(y), nil
}

// textual kinds hold text a literal may be read from: strings, and the
// values of a map or list.
func textual(k Kind) bool { return k == KindString || k == KindJSON }

func (c *compiler) castFor(f frag, k Kind) frag {
	if k == KindBool {
		return c.d.TryCast(f, TypeBoolean)
	}
	return c.d.TryCast(f, TypeDouble)
}

// readLiteral reads a string literal as a value of kind k; nil means it
// stays a string.
func (c *compiler) readLiteral(e Expr, s string, k Kind) (*frag, error) {
	switch k {
	case KindTime:
		if ms, ok := parseTimeLit(s); ok {
			f := param(ms)
			return &f, nil
		}
		if n, ok := parseNumber(s); ok {
			f := param(n)
			return &f, nil
		}
		return nil, c.errAt(e.exprPos(), "%q is not a time (2006-01-02T15:04:05Z) or milliseconds", s)
	case KindNumber:
		if n, ok := parseNumber(s); ok {
			f := param(n)
			return &f, nil
		}
	case KindBool:
		if b, err := strconv.ParseBool(s); err == nil {
			f := param(b)
			return &f, nil
		}
	}
	return nil, nil
}

// regexParam checks a regular expression (RE2 syntax, as DuckDB uses)
// and returns it ready to bind in the dialect's syntax (RE2 reads named
// groups (?<n>...) written (?P<n>...)).
func (c *compiler) regexParam(re *RegexLit) (string, *regexp.Regexp, error) {
	if strings.ContainsRune(re.Re, 0) {
		return "", nil, c.errAt(re.At, "bad regular expression: a NUL character (write \\x00)")
	}
	if len(re.Re) > MaxRegexLen {
		return "", nil, c.tooLarge(re.At, "regular expression of %d bytes, more than %d", len(re.Re), MaxRegexLen)
	}
	r, err := regexp.Compile(re.Re)
	if err != nil {
		msg := err.Error()
		if se, ok := err.(*syntax.Error); ok {
			msg = se.Code.String() + ": " + se.Expr
		}
		return "", nil, c.errAt(re.At, "bad regular expression: %s", msg)
	}
	if err := c.checkRegex(re); err != nil {
		return "", nil, err
	}
	return c.d.RegexParam(re.Re), r, nil
}

func (c *compiler) like(e *Like, ctx exprCtx) (value, error) {
	x, err := c.expr(e.X, ctx)
	if err != nil {
		return x, err
	}
	var f frag
	switch p := e.Pattern.(type) {
	case *StringLit:
		f = c.d.Contains(c.str(x), param(p.Val))
	case *RegexLit:
		re, _, err := c.regexParam(p)
		if err != nil {
			return value{}, err
		}
		f = c.d.RegexSearch(c.str(x), param(re))
	}
	if e.Not {
		f = cat("(NOT ", f, ")")
	}
	return value{f: f, kind: KindBool, agg: x.agg}, nil
}

func (c *compiler) in(e *In, ctx exprCtx) (value, error) {
	x, err := c.expr(e.X, ctx)
	if err != nil {
		return x, err
	}
	// Items are literals read as the field's type; if one cannot be, the
	// field and every item compare as strings.
	items := make([]frag, len(e.List))
	vals := make([]value, len(e.List))
	asString := textual(x.kind)
	for i, it := range e.List {
		v, err := c.expr(it, ctx)
		if err != nil {
			return v, err
		}
		if v.lit == nil {
			return value{}, c.errAt(it.exprPos(), "in [...] takes literal values")
		}
		vals[i], items[i] = v, v.f
		if s, ok := v.lit.(string); ok && x.kind != KindString {
			f, err := c.readLiteral(it, s, x.kind)
			if err != nil {
				return value{}, err
			}
			if f == nil {
				asString = true
			} else {
				items[i] = *f
			}
		}
	}
	xf := x.f
	if asString {
		xf = c.str(x)
		for i, v := range vals {
			items[i] = c.str(v)
		}
	}
	f := cat("(", xf, " IN (", joinFrags(items, ", "), "))")
	if e.Not {
		f = cat("(NOT ", f, ")")
	}
	return value{f: f, kind: KindBool, agg: x.agg}, nil
}

// callText is a call as written: the scope name of an unaliased result
// (see Item.Name).
func (c *compiler) callText(e *Call) string {
	if int(e.End) > len(c.q.Src) || e.End <= e.At {
		return ""
	}
	return c.q.Src[e.At:e.End]
}
