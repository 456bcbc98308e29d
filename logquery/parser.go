package logquery

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on a query, as in Logs Insights.
const (
	// DefaultLimit and MaxLimit are Logs Insights' (CWL_QuerySyntax-Limit:
	// "If you omit limit, the query defaults to returning up to 10,000 log
	// events. You can specify a limit value of up to 100,000.").
	DefaultLimit = 10_000
	MaxLimit     = 100_000
	// MaxQueryLen bounds the text (Logs Insights allows 10,000 characters).
	MaxQueryLen = 10_000
	// maxDepth bounds expression nesting, so that a hostile query cannot
	// exhaust the stack.
	maxDepth = 100
)

// Parse parses a query. The error, if any, is an *Error naming the line,
// the column and what was expected.
func Parse(src string) (*Query, error) {
	if len(src) > MaxQueryLen {
		return nil, &Error{Line: 1, Column: 1, Msg: "query longer than " + strconv.Itoa(MaxQueryLen) + " bytes"}
	}
	if !utf8.ValidString(src) {
		i := 0
		for i < len(src) {
			r, n := utf8.DecodeRuneInString(src[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		l := lexer{src: src}
		return nil, l.errAt(Pos(i), "the query is not valid UTF-8")
	}
	p := &parser{lx: lexer{src: src}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	q := &Query{Src: src}
	if p.tok.kind == tEOF {
		return nil, p.lx.errAt(p.tok.pos, "empty query: expected a command (fields, filter, stats, sort, limit, parse, display, dedup, unnest, pattern, diff)")
	}
	if p.isKeyword("source") {
		var err error
		if q.Source, err = p.source(); err != nil {
			return nil, err
		}
		if p.tok.kind == tEOF {
			return nil, p.expected(`"|" and a command after SOURCE`)
		}
		if err := p.expectPunct("|"); err != nil {
			return nil, err
		}
	}
	for {
		cmd, err := p.command()
		if err != nil {
			return nil, err
		}
		if d, ok := cmd.(*PatternCmd); ok && d.Source == nil {
			// diff: compares the patterns of the pattern command just
			// before it, else those of @message.
			if prev, ok := lastPattern(q.Commands); ok {
				prev.Diff, prev.DiffAt = d.Diff, d.DiffAt
				cmd = nil
			} else {
				d.Source = &FieldRef{At: d.At, Name: "@message"}
			}
		}
		if cmd != nil {
			q.Commands = append(q.Commands, cmd)
		}
		if p.tok.kind == tEOF {
			return q, nil
		}
		if !p.isPunct("|") {
			return nil, p.expected(`"|" or the end of the query`)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}

type parser struct {
	lx      lexer
	tok     token
	lastEnd Pos // end of the last consumed token
	depth   int
}

func (p *parser) advance() error {
	p.lastEnd = p.tok.end
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) isPunct(s string) bool { return p.tok.kind == tPunct && p.tok.text == s }

// isKeyword matches an unquoted identifier case-insensitively.
func (p *parser) isKeyword(k string) bool {
	return p.tok.kind == tIdent && !p.tok.raw && strings.EqualFold(p.tok.text, k)
}

func (p *parser) expected(what string) *Error {
	return p.lx.errAt(p.tok.pos, "expected %s, found %s", what, p.tok)
}

func (p *parser) expectPunct(s string) error {
	if !p.isPunct(s) {
		return p.expected(strconv.Quote(s))
	}
	return p.advance()
}

// keywords cannot be unquoted field names.
var keywords = map[string]bool{"and": true, "or": true, "not": true, "like": true, "in": true,
	"as": true, "by": true, "asc": true, "desc": true}

func (p *parser) command() (Command, error) {
	if p.tok.kind != tIdent || p.tok.raw {
		return nil, p.expected("a command (fields, filter, stats, sort, limit, parse, display, dedup, unnest, pattern, diff)")
	}
	at := p.tok.pos
	name := strings.ToLower(p.tok.text)
	switch name {
	case "fields", "filter", "filterindex", "stats", "sort", "limit", "parse", "display", "dedup", "unnest", "pattern", "diff":
	default:
		return nil, p.expected("a command (fields, filter, stats, sort, limit, parse, display, dedup, unnest, pattern, diff)")
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	switch name {
	case "fields":
		items, err := p.items("a field or expression")
		return &Fields{At: at, Items: items}, err
	case "display":
		names, err := p.fieldList()
		if err == nil && p.tok.kind != tEOF && !p.isPunct("|") {
			// CWL_QuerySyntax-Display/-Fields: display shows fields; fields
			// computes them.
			return nil, p.expected(`"," or "|": display takes field names; compute a value with fields EXPR as NAME, then display NAME`)
		}
		return &Display{At: at, Names: names}, err
	case "filter", "filterindex":
		e, err := p.expr()
		return &Filter{At: at, Cond: e}, err
	case "stats":
		return p.stats(at)
	case "sort":
		return p.sort(at)
	case "limit":
		return p.limit(at)
	case "parse":
		return p.parse(at)
	case "pattern":
		if p.tok.kind == tEOF || p.isPunct("|") {
			return nil, p.expected("the field or expression to cluster, such as @message")
		}
		e, err := p.expr()
		return &PatternCmd{At: at, Source: e}, err
	case "diff":
		return p.diff(at)
	case "unnest":
		return p.unnest(at)
	default: // dedup
		names, err := p.fieldList()
		return &Dedup{At: at, Fields: names}, err
	}
}

// diffPeriods are diff's modifiers (CWL_QuerySyntax-Diff).
var diffPeriods = map[string]DiffPeriod{"previousday": PreviousDay, "previousweek": PreviousWeek, "previousmonth": PreviousMonth}

// diff reads: diff [previousDay | previousWeek | previousMonth]. The
// command has no source yet: Parse attaches it to the pattern command
// before it, or clusters @message.
func (p *parser) diff(at Pos) (Command, error) {
	d := &PatternCmd{At: at, Diff: PreviousPeriod, DiffAt: at}
	if p.tok.kind == tEOF || p.isPunct("|") {
		return d, nil
	}
	period, ok := diffPeriods[strings.ToLower(p.tok.text)]
	if p.tok.kind != tIdent || p.tok.raw || !ok {
		return nil, p.expected(`previousDay, previousWeek, previousMonth, "|" or the end of the query after diff`)
	}
	d.Diff = period
	return d, p.advance()
}

// unnest reads: unnest FIELD into NAME (CWL_QuerySyntax-Unnest).
func (p *parser) unnest(at Pos) (Command, error) {
	if p.tok.kind == tEOF || p.isPunct("|") {
		return nil, p.expected("the list to unnest, such as json.events")
	}
	src, err := p.expr()
	if err != nil {
		return nil, err
	}
	if !p.isKeyword("into") {
		return nil, p.expected(`"into" and the name of each element`)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	name, err := p.fieldName()
	if err != nil {
		return nil, err
	}
	return &Unnest{At: at, Source: src, Into: name.Name, IntoPos: name.At}, nil
}

// lastPattern is the last command when it is a pattern without diff.
func lastPattern(cmds []Command) (*PatternCmd, bool) {
	if len(cmds) == 0 {
		return nil, false
	}
	pc, ok := cmds[len(cmds)-1].(*PatternCmd)
	return pc, ok && pc.Diff == NoDiff
}

// items parses expr [as alias] {, expr [as alias]}.
func (p *parser) items(what string) ([]Item, error) {
	var out []Item
	for {
		start := p.tok.pos
		if p.tok.kind == tEOF || p.isPunct("|") || p.isKeyword("by") {
			return nil, p.expected(what)
		}
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		it := Item{Expr: e, Text: strings.TrimSpace(p.lx.src[start:p.lastEnd])}
		if p.isKeyword("as") {
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.tok.kind != tIdent || (!p.tok.raw && keywords[strings.ToLower(p.tok.text)]) {
				return nil, p.expected("a name after as")
			}
			it.Alias = p.tok.text
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
		out = append(out, it)
		if !p.isPunct(",") {
			return out, nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}

func (p *parser) fieldName() (*FieldRef, error) {
	if p.tok.kind != tIdent || (!p.tok.raw && keywords[strings.ToLower(p.tok.text)]) {
		return nil, p.expected("a field name")
	}
	f := &FieldRef{At: p.tok.pos, Name: p.tok.text}
	return f, p.advance()
}

func (p *parser) fieldList() ([]*FieldRef, error) {
	var out []*FieldRef
	for {
		f, err := p.fieldName()
		if err != nil {
			return nil, err
		}
		out = append(out, f)
		if !p.isPunct(",") {
			return out, nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}

func (p *parser) stats(at Pos) (Command, error) {
	aggs, err := p.items("an aggregation such as count(*)")
	if err != nil {
		return nil, err
	}
	s := &Stats{At: at, Aggs: aggs}
	if p.isKeyword("by") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		if s.By, err = p.items("a field or bin(period) after by"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (p *parser) sort(at Pos) (Command, error) {
	s := &Sort{At: at}
	for {
		if p.tok.kind == tEOF || p.isPunct("|") {
			return nil, p.expected("a field to sort by")
		}
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		k := SortKey{Expr: e}
		if p.isKeyword("desc") || p.isKeyword("asc") {
			k.Desc = p.isKeyword("desc")
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
		s.Keys = append(s.Keys, k)
		if !p.isPunct(",") {
			return s, nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}

func (p *parser) limit(at Pos) (Command, error) {
	if p.tok.kind != tNumber {
		return nil, p.expected("the number of rows after limit")
	}
	n, err := strconv.Atoi(p.tok.text)
	if err != nil || n < 1 || n > MaxLimit {
		return nil, p.lx.errAt(p.tok.pos, "limit must be a whole number from 1 to %d, found %s", MaxLimit, p.tok.text)
	}
	return &Limit{At: at, N: n}, p.advance()
}

// parse reads: parse [field] "glob" as a, b  |  parse [field] /regex/.
// The field defaults to @message.
func (p *parser) parse(at Pos) (Command, error) {
	c := &ParseCmd{At: at}
	if p.tok.kind == tIdent {
		f, err := p.fieldName()
		if err != nil {
			return nil, err
		}
		c.Source = f
	} else {
		c.Source = &FieldRef{At: p.tok.pos, Name: "@message"}
	}
	switch {
	case p.tok.kind == tString:
		c.Glob = &StringLit{At: p.tok.pos, Val: p.tok.text}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if !p.isKeyword("as") {
			return nil, p.expected(`"as" and the names of the glob's * parts`)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		names, err := p.fieldList()
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			c.Names = append(c.Names, n.Name)
			c.NamePos = append(c.NamePos, n.At)
		}
		return c, nil
	case p.isPunct("/"):
		t, err := p.lx.scanRegex(p.tok.pos)
		if err != nil {
			return nil, err
		}
		p.tok = t
		c.Regex = &RegexLit{At: t.pos, Re: t.text}
		return c, p.advance()
	}
	return nil, p.expected(`a glob pattern in quotes or a /regex/ with named groups`)
}

// Expressions, lowest precedence first: or, and, not, comparisons (= != <
// <= > >= like =~ in), + -, * / %, ^, unary minus.
func (p *parser) expr() (Expr, error) {
	done, err := p.nest()
	defer done()
	if err != nil {
		return nil, err
	}
	return p.or()
}

func (p *parser) or() (Expr, error) {
	return p.leftAssoc(p.and, func() (string, bool) { return "or", p.isKeyword("or") })
}

func (p *parser) and() (Expr, error) {
	return p.leftAssoc(p.not, func() (string, bool) { return "and", p.isKeyword("and") })
}

// leftAssoc parses operand (op operand)*, left-associative, for the
// operators op recognizes at the current token.
func (p *parser) leftAssoc(operand func() (Expr, error), op func() (string, bool)) (Expr, error) {
	x, err := operand()
	for err == nil {
		name, ok := op()
		if !ok {
			break
		}
		at := p.tok.pos
		if err = p.advance(); err != nil {
			break
		}
		var y Expr
		if y, err = operand(); err == nil {
			x = &Binary{At: at, Op: name, X: x, Y: y}
		}
	}
	return x, err
}

// punctOp recognizes the punctuation operators in ops.
func (p *parser) punctOp(ops ...string) func() (string, bool) {
	return func() (string, bool) {
		for _, o := range ops {
			if p.isPunct(o) {
				return o, true
			}
		}
		return "", false
	}
}

// nest counts one level of recursion; the caller defers the returned
// function. Deep nesting is refused rather than overflowing the stack.
func (p *parser) nest() (func(), error) {
	p.depth++
	done := func() { p.depth-- }
	if p.depth > maxDepth {
		return done, p.lx.errAt(p.tok.pos, "expression nested too deeply")
	}
	return done, nil
}

func (p *parser) not() (Expr, error) {
	if p.isKeyword("not") {
		at := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		done, err := p.nest()
		defer done()
		if err != nil {
			return nil, err
		}
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return &Unary{At: at, Op: "not", X: x}, nil
	}
	return p.comparison()
}

var comparisonOps = map[string]bool{"=": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true}

func (p *parser) comparison() (Expr, error) {
	x, err := p.additive()
	if err != nil {
		return nil, err
	}
	at := p.tok.pos
	switch {
	case p.tok.kind == tPunct && comparisonOps[p.tok.text]:
		op := p.tok.text
		if err := p.advance(); err != nil {
			return nil, err
		}
		y, err := p.additive()
		if err != nil {
			return nil, err
		}
		return &Binary{At: at, Op: op, X: x, Y: y}, nil
	case p.isPunct("=~"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		re, err := p.regexOperand()
		if err != nil {
			return nil, err
		}
		return &Like{At: at, X: x, Pattern: re}, nil
	case p.isKeyword("like"):
		return p.like(at, x, false)
	case p.isKeyword("in"):
		return p.in(at, x, false)
	case p.isKeyword("not"):
		// x not like ..., x not in [...]
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.isKeyword("like") {
			return p.like(at, x, true)
		}
		if p.isKeyword("in") {
			return p.in(at, x, true)
		}
		return nil, p.expected(`"like" or "in" after "not"`)
	}
	return x, nil
}

func (p *parser) regexOperand() (Expr, error) {
	if !p.isPunct("/") {
		return nil, p.expected("a /regular expression/")
	}
	t, err := p.lx.scanRegex(p.tok.pos)
	if err != nil {
		return nil, err
	}
	p.tok = t
	re := &RegexLit{At: t.pos, Re: t.text}
	return re, p.advance()
}

func (p *parser) like(at Pos, x Expr, not bool) (Expr, error) {
	if err := p.advance(); err != nil { // like
		return nil, err
	}
	if p.tok.kind == tString {
		s := &StringLit{At: p.tok.pos, Val: p.tok.text}
		return &Like{At: at, X: x, Pattern: s, Not: not}, p.advance()
	}
	if !p.isPunct("/") {
		return nil, p.expected(`a "string" or a /regular expression/ after like`)
	}
	re, err := p.regexOperand()
	if err != nil {
		return nil, err
	}
	return &Like{At: at, X: x, Pattern: re, Not: not}, nil
}

func (p *parser) in(at Pos, x Expr, not bool) (Expr, error) {
	if err := p.advance(); err != nil { // in
		return nil, err
	}
	if err := p.expectPunct("["); err != nil {
		return nil, err
	}
	e := &In{At: at, X: x, Not: not}
	for {
		v, err := p.additive()
		if err != nil {
			return nil, err
		}
		e.List = append(e.List, v)
		if p.isPunct("]") {
			return e, p.advance()
		}
		if err := p.expectPunct(","); err != nil {
			return nil, p.expected(`"," or "]"`)
		}
	}
}

func (p *parser) additive() (Expr, error) {
	return p.leftAssoc(p.multiplicative, p.punctOp("+", "-"))
}

func (p *parser) multiplicative() (Expr, error) {
	return p.leftAssoc(p.power, p.punctOp("*", "/", "%"))
}

// power is right-associative: 2^3^2 = 2^(3^2).
func (p *parser) power() (Expr, error) {
	x, err := p.unary()
	if err != nil || !p.isPunct("^") {
		return x, err
	}
	at := p.tok.pos
	if err := p.advance(); err != nil {
		return nil, err
	}
	done, err := p.nest()
	defer done()
	if err != nil {
		return nil, err
	}
	y, err := p.power()
	if err != nil {
		return nil, err
	}
	return &Binary{At: at, Op: "^", X: x, Y: y}, nil
}

func (p *parser) unary() (Expr, error) {
	if p.isPunct("-") {
		at := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		done, err := p.nest()
		defer done()
		if err != nil {
			return nil, err
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		if n, ok := x.(*NumberLit); ok { // fold -5 into a literal
			n.At, n.Int, n.Float = at, -n.Int, -n.Float
			return n, nil
		}
		return &Unary{At: at, Op: "-", X: x}, nil
	}
	return p.primary()
}

func (p *parser) primary() (Expr, error) {
	t := p.tok
	switch t.kind {
	case tString:
		return &StringLit{At: t.pos, Val: t.text}, p.advance()
	case tNumber:
		n := &NumberLit{At: t.pos}
		if i, err := strconv.ParseInt(t.text, 10, 64); err == nil {
			n.Int, n.Float, n.IsInt = i, float64(i), true
		} else if f, err := strconv.ParseFloat(t.text, 64); err == nil {
			n.Float = f
		} else {
			return nil, p.lx.errAt(t.pos, "bad number %s", t.text)
		}
		return n, p.advance()
	case tDuration:
		return parseDuration(p, t)
	case tIdent:
		if !t.raw && keywords[strings.ToLower(t.text)] {
			return nil, p.expected("a value, field or function")
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if !t.raw && p.isPunct("(") {
			return p.call(t)
		}
		if !t.raw && (strings.EqualFold(t.text, "true") || strings.EqualFold(t.text, "false")) {
			return &BoolLit{At: t.pos, Val: strings.EqualFold(t.text, "true")}, nil
		}
		return p.access(t)
	case tPunct:
		switch t.text {
		case "(":
			if err := p.advance(); err != nil {
				return nil, err
			}
			x, err := p.expr()
			if err != nil {
				return nil, err
			}
			return x, p.expectPunct(")")
		case "/":
			return p.regexOperand()
		}
	}
	return nil, p.expected("a value, field or function")
}

// maxIndex bounds a list index (x[i]).
const maxIndex = 1<<31 - 1

// access reads, after the field name t, the steps into a map or list
// (structure types, CWL_QuerySyntax-operations-functions): [i] indexes a
// list; .key after a bracket or a backticked key reads a map; a key
// with special characters is written in backticks right after a dot
// (json.`user.id`). A plain dotted name (json.a.b) stays one field name:
// the compiler reads it as a path when json is a map.
func (p *parser) access(t token) (Expr, error) {
	f := &FieldRef{At: t.pos, Name: t.text}
	var path []PathElem
	pendingDot := !t.raw && strings.HasSuffix(t.text, ".")
	if pendingDot {
		f.Name = strings.TrimSuffix(t.text, ".")
	}
	for {
		switch {
		case pendingDot:
			if p.tok.kind != tIdent || !p.tok.raw || p.tok.pos != p.lastEnd {
				return nil, p.lx.errAt(p.lastEnd-1, "expected a key after \".\" (a name, or one in backticks)")
			}
			path = append(path, PathElem{Key: p.tok.text})
			pendingDot = false
			if err := p.advance(); err != nil {
				return nil, err
			}
		case p.isPunct("["):
			if err := p.advance(); err != nil {
				return nil, err
			}
			i, err := strconv.Atoi(p.tok.text)
			if p.tok.kind != tNumber || err != nil || i < 0 || i > maxIndex {
				return nil, p.expected("a list index (0, 1, ...)")
			}
			path = append(path, PathElem{Index: i, IsIndex: true})
			if err := p.advance(); err != nil {
				return nil, err
			}
			if err := p.expectPunct("]"); err != nil {
				return nil, err
			}
		case p.isPunct(".") && p.tok.pos == p.lastEnd:
			if err := p.advance(); err != nil {
				return nil, err
			}
			k := p.tok
			if k.kind != tIdent || k.pos != p.lastEnd {
				return nil, p.expected("a key after \".\"")
			}
			text := k.text
			if !k.raw {
				pendingDot = strings.HasSuffix(text, ".")
				text = strings.TrimSuffix(text, ".")
				for _, key := range strings.Split(text, ".") {
					if key == "" {
						return nil, p.lx.errAt(k.pos, "empty key in %s", k.text)
					}
					path = append(path, PathElem{Key: key})
				}
			} else {
				path = append(path, PathElem{Key: text})
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
		default:
			if len(path) == 0 {
				return f, nil
			}
			return &Access{At: t.pos, Field: f, Path: path}, nil
		}
	}
}

func parseDuration(p *parser, t token) (Expr, error) {
	i := strings.IndexFunc(t.text, func(r rune) bool { return r < '0' || r > '9' })
	n, err := strconv.ParseInt(t.text[:i], 10, 64)
	unit := durationUnits[t.text[i:]]
	if err != nil || n <= 0 || n > (1<<62)/unit {
		return nil, p.lx.errAt(t.pos, "bad time period %s", t.text)
	}
	return &DurationLit{At: t.pos, Text: t.text, Ms: n * unit}, p.advance()
}

func (p *parser) call(name token) (Expr, error) {
	c := &Call{At: name.pos, Name: name.text}
	if err := p.advance(); err != nil { // (
		return nil, err
	}
	if p.isPunct(")") {
		c.End = p.tok.end
		return c, p.advance()
	}
	for {
		if p.isPunct("*") {
			c.Args = append(c.Args, &Star{At: p.tok.pos})
			if err := p.advance(); err != nil {
				return nil, err
			}
		} else {
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			c.Args = append(c.Args, a)
		}
		if p.isPunct(")") {
			c.End = p.tok.end
			return c, p.advance()
		}
		if !p.isPunct(",") {
			return nil, p.expected(`"," or ")"`)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}

// MaxSourcePrefixes is how many name prefixes SOURCE takes (Logs
// Insights: "as many as five prefixes", CWL_QuerySyntax-Source).
const MaxSourcePrefixes = 5

// source parses SOURCE logGroups([namePrefix: ['a', ...]]).
func (p *parser) source() (*SourceCmd, error) {
	cmd := &SourceCmd{At: p.tok.pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if !p.isKeyword("logGroups") {
		return nil, p.expected("logGroups(...) after SOURCE")
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.expectPunct("("); err != nil {
		return nil, err
	}
	seen := false
	for !p.isPunct(")") {
		if seen || !p.isKeyword("namePrefix") {
			return nil, p.expected(`namePrefix: ['prefix', ...] or ")" (FlowLens has one account and one log class)`)
		}
		seen = true
		if err := p.advance(); err != nil {
			return nil, err
		}
		if err := p.expectPunct(":"); err != nil {
			return nil, err
		}
		if err := p.expectPunct("["); err != nil {
			return nil, err
		}
		for {
			if p.tok.kind != tString {
				return nil, p.expected("a log group name prefix in quotes")
			}
			if len(cmd.Prefixes) == MaxSourcePrefixes {
				return nil, p.lx.errAt(p.tok.pos, "SOURCE takes at most %d name prefixes", MaxSourcePrefixes)
			}
			cmd.Prefixes = append(cmd.Prefixes, p.tok.text)
			if err := p.advance(); err != nil {
				return nil, err
			}
			if !p.isPunct(",") {
				break
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
		if err := p.expectPunct("]"); err != nil {
			return nil, err
		}
	}
	return cmd, p.advance()
}
