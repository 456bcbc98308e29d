// Package metricfilter turns log records into metrics, as CloudWatch
// metric filters do: a filter pattern selects records, a metric value (a
// constant or a field) and up to three dimensions are taken from each
// match, and the values are aggregated into one-minute metric points.
//
// Pattern grammar (one of three forms, chosen by the first character):
//
//	terms:  ERROR "exact phrase" ?either ?or -excluded %regex%
//	        every plain term must occur and no -term; ?terms count only in a
//	        pattern of nothing but ?terms (one of them must occur); terms
//	        are case-sensitive substrings; the empty pattern and " " match
//	        everything
//	space:  [name, name=value, name!="x*", n>1000, n<=5, ..., a=1 || a=2, ip=%^10\.%,]
//	        the record is split on spaces ("..." and [...] are one field);
//	        `...` stands for any number of fields; `*` in a value is a wildcard;
//	        < <= > >= compare numbers; = and != compare numbers when the value
//	        is an unquoted number, strings otherwise; a condition may name
//	        the fields that follow (status=4* && bytes>1000 is two fields);
//	        a trailing comma is one more unnamed field; [] matches everything
//	json:   { $.a.b = "x*" && ($.n > 5 || $.list[0] != 3) && $.c IS NULL && $.d NOT EXISTS }
//	        also IS TRUE / IS FALSE; a comparison on a missing field is false
//
// A value written %...% is a regular expression (see regex.go).
package metricfilter

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SyntaxError is a pattern the parser refused; Col is 1-based (runes).
type SyntaxError struct {
	Col int
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("column %d: %s", e.Col, e.Msg) }

// Kind is a pattern's form.
type Kind int

// The three pattern forms.
const (
	KindTerms Kind = iota
	KindSpace
	KindJSON
)

func (k Kind) String() string {
	return [...]string{"terms", "space-delimited", "json"}[k]
}

// Pattern is a parsed filter pattern.
type Pattern struct {
	Source string
	Kind   Kind

	// terms
	required, optional, excluded []term

	// space-delimited
	fields    []fieldPat
	ellipses  int
	fieldByID map[string]int // named field -> index in fields
	matchAll  bool           // `[]`

	regexes int // %...% regular expressions in the pattern

	// json
	expr jsonExpr

	// mustContain are substrings every matching line contains (from =
	// conditions joined by &&): a cheap test that rejects most lines
	// before they are split or parsed.
	mustContain []string
}

// term is one word, phrase or regular expression of a terms pattern.
type term struct {
	text string
	re   *rx
}

func (t *term) in(line string) bool {
	if t.re != nil {
		return t.re.match(line)
	}
	return strings.Contains(line, t.text)
}

// fieldPat is one field position of a space-delimited pattern: a `...`,
// a named field, or the unnamed field of a trailing comma. A condition
// naming several fields (status=4* && bytes>1000) makes one fieldPat per
// field; the first holds the condition, whose leaves say which of the
// group's fields they test.
type fieldPat struct {
	name     string // empty for `...` and a trailing comma's field
	ellipsis bool
	cond     *cond // nil: any value
}

// cond is a condition tree over a field group (space-delimited) or one
// JSON selector.
type cond struct {
	op          string // "=", "!=", "<", "<=", ">", ">=", "&&", "||"
	left, right *cond  // for && and ||
	off         int    // the field this leaf tests: 0 the slot's own, 1 the next...
	lit         literal
}

// literal is a comparison's right-hand side.
type literal struct {
	text    string
	quoted  bool
	num     float64
	isNum   bool     // an unquoted number
	glob    []string // parts around '*' when the text has a wildcard
	keyword string   // json: "true", "false", "null" when unquoted
	re      *rx      // %regex%: matched anywhere in the value
}

// Fields lists the named fields of a space-delimited pattern.
func (p *Pattern) Fields() []string {
	var out []string
	for _, f := range p.fields {
		if f.name != "" {
			out = append(out, f.name)
		}
	}
	return out
}

// parser is a recursive-descent parser over the pattern text.
type parser struct {
	src        string
	pos        int
	regexes    int  // %...% read so far
	limitRegex bool // at most maxRegexPerPattern (space-delimited and JSON)
	wildcards  int  // JSON wildcard selectors read so far
}

func (p *parser) errAt(pos int, format string, args ...any) error {
	return &SyntaxError{Col: utf8.RuneCountInString(p.src[:min(pos, len(p.src))]) + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

func (p *parser) consume(s string) bool {
	if strings.HasPrefix(p.src[p.pos:], s) {
		p.pos += len(s)
		return true
	}
	return false
}

// MaxPatternLen bounds a pattern (CloudWatch allows 1024 characters).
const MaxPatternLen = 1024

// Parse parses a filter pattern.
func Parse(src string) (*Pattern, error) {
	if len(src) > MaxPatternLen {
		return nil, &SyntaxError{Col: MaxPatternLen + 1, Msg: fmt.Sprintf("pattern longer than %d bytes", MaxPatternLen)}
	}
	if !utf8.ValidString(src) {
		return nil, &SyntaxError{Col: 1, Msg: "pattern is not valid UTF-8"}
	}
	p := &parser{src: src}
	p.skipSpace()
	pat := &Pattern{Source: src}
	var err error
	switch p.peek() {
	case '[':
		pat.Kind = KindSpace
		p.limitRegex = true
		err = p.parseSpace(pat)
	case '{':
		pat.Kind = KindJSON
		p.limitRegex = true
		pat.expr, err = p.parseJSON()
	default:
		pat.Kind = KindTerms
		err = p.parseTerms(pat)
	}
	if err != nil {
		return nil, err
	}
	pat.regexes = p.regexes
	pat.mustContain = requiredSubstrings(pat)
	return pat, nil
}

// ---- terms ----

func (p *parser) parseTerms(pat *Pattern) error {
	for {
		p.skipSpace()
		if p.eof() {
			break
		}
		start := p.pos
		mod := byte(0)
		if c := p.peek(); c == '?' || c == '-' {
			mod = c
			p.pos++
		}
		var t term
		switch p.peek() {
		case '"':
			s, err := p.quoted()
			if err != nil {
				return err
			}
			t.text = s
			if strings.TrimSpace(s) == "" && mod == 0 {
				// " " matches every event (CloudWatch's "Match
				// everything" example): a blank phrase asks nothing.
				continue
			}
		case '%':
			lit, err := p.regex()
			if err != nil {
				return err
			}
			if !p.eof() && !isSpace(p.peek()) {
				return p.errAt(p.pos, "want a space after the regular expression, found %s", p.found())
			}
			t.text, t.re = lit.text, lit.re
		default:
			for !p.eof() && !isSpace(p.peek()) && p.peek() != '"' {
				p.pos++
			}
			t.text = p.src[start+boolInt(mod != 0) : p.pos]
		}
		if t.text == "" || strings.TrimSpace(t.text) == "" {
			return p.errAt(start, "empty term after %q", string(mod))
		}
		switch mod {
		case '?':
			pat.optional = append(pat.optional, t)
		case '-':
			pat.excluded = append(pat.excluded, t)
		default:
			pat.required = append(pat.required, t)
		}
	}
	// "If you combine ? with other filter patterns, all question mark
	// terms will be ignored" (CloudWatch Logs User Guide, matching terms
	// in unstructured log events).
	if len(pat.required) > 0 || len(pat.excluded) > 0 {
		pat.optional = nil
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// quoted reads a "..." string with \" and \\ escapes.
func (p *parser) quoted() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	for !p.eof() {
		c := p.src[p.pos]
		switch c {
		case '"':
			p.pos++
			return b.String(), nil
		case '\\':
			if p.pos+1 < len(p.src) && (p.src[p.pos+1] == '"' || p.src[p.pos+1] == '\\') {
				b.WriteByte(p.src[p.pos+1])
				p.pos += 2
				continue
			}
		}
		b.WriteByte(c)
		p.pos++
	}
	return "", p.errAt(start, "unterminated quoted string")
}

// ---- space-delimited ----

const maxFields = 200

func (p *parser) parseSpace(pat *Pattern) error {
	open := p.pos
	p.pos++ // [
	pat.fieldByID = map[string]int{}
	p.skipSpace()
	if p.peek() == ']' {
		// `[]` names no field and matches every event.
		pat.matchAll = true
		p.pos++
		return p.closeSpace()
	}
	for {
		p.skipSpace()
		if p.eof() {
			return p.errAt(open, "missing ] to close the field list")
		}
		if len(pat.fields) >= maxFields {
			return p.errAt(p.pos, "more than %d fields", maxFields)
		}
		switch {
		case p.consume("..."):
			pat.fields = append(pat.fields, fieldPat{ellipsis: true})
			pat.ellipses++
		case p.peek() == ']':
			// A trailing comma, as in CloudWatch's own example
			// [..., request=*.html*, status_code=4*,]: one more field,
			// unnamed (its value is extracted as $N).
			pat.fields = append(pat.fields, fieldPat{})
			p.pos++
			return p.closeSpace()
		default:
			if err := p.namedSlot(pat); err != nil {
				return err
			}
		}
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return p.closeSpace()
		default:
			if p.eof() {
				return p.errAt(open, "missing ] to close the field list")
			}
			return p.errAt(p.pos, "want , or ] after field, found %s", p.found())
		}
	}
}

// closeSpace checks that nothing follows the closing ].
func (p *parser) closeSpace() error {
	p.skipSpace()
	if !p.eof() {
		return p.errAt(p.pos, "unexpected %s after the closing ]", p.found())
	}
	return nil
}

// namedSlot parses `name [condition]`. The condition may name fields
// that follow this one (status_code = 4* && bytes > 1000 is the fields
// status_code and bytes, in that order), as CloudWatch's example
// [ip, user, username, timestamp, request, status_code = 4* && bytes > 1000]
// does for seven-field events.
func (p *parser) namedSlot(pat *Pattern) error {
	fstart := p.pos
	name := p.ident()
	if name == "" {
		return p.errAt(p.pos, "want a field name or ..., found %s", p.found())
	}
	if _, dup := pat.fieldByID[name]; dup {
		return p.errAt(fstart, "field %q named twice", name)
	}
	g := &slotGroup{pat: pat, base: len(pat.fields), names: []string{name}}
	pat.fieldByID[name] = g.base
	p.skipSpace()
	var cd *cond
	if c := p.peek(); c != ',' && c != ']' && !p.eof() {
		var err error
		if cd, err = p.slotOr(g, true); err != nil {
			return err
		}
	}
	for i, n := range g.names {
		f := fieldPat{name: n}
		if i == 0 {
			f.cond = cd
		}
		pat.fields = append(pat.fields, f)
	}
	return nil
}

// slotGroup is the fields one slot's condition names.
type slotGroup struct {
	pat   *Pattern
	base  int // index of the first in pat.fields
	names []string
}

// field resolves a name used in the condition to its offset in the group,
// adding it as the next field when it is new.
func (p *parser) groupField(g *slotGroup, at int, name string) (int, error) {
	for i, n := range g.names {
		if n == name {
			return i, nil
		}
	}
	if _, dup := g.pat.fieldByID[name]; dup {
		return 0, p.errAt(at, "field %q is declared before this one: a condition can name only its own field and new fields that follow it", name)
	}
	if g.base+len(g.names) >= maxFields {
		return 0, p.errAt(at, "more than %d fields", maxFields)
	}
	g.pat.fieldByID[name] = g.base + len(g.names)
	g.names = append(g.names, name)
	return len(g.names) - 1, nil
}

// slotOr parses cmp { && cmp } { || cmp { && cmp } } (&& binds tighter).
func (p *parser) slotOr(g *slotGroup, first bool) (*cond, error) {
	left, err := p.slotAnd(g, first)
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		if !p.consume("||") {
			return left, nil
		}
		right, err := p.slotAnd(g, false)
		if err != nil {
			return nil, err
		}
		left = &cond{op: "||", left: left, right: right}
	}
}

func (p *parser) slotAnd(g *slotGroup, first bool) (*cond, error) {
	left, err := p.slotCmp(g, first)
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		if !p.consume("&&") {
			return left, nil
		}
		right, err := p.slotCmp(g, false)
		if err != nil {
			return nil, err
		}
		left = &cond{op: "&&", left: left, right: right}
	}
}

// slotCmp parses `[name] op value`; the name is already read for the
// slot's first comparison.
func (p *parser) slotCmp(g *slotGroup, first bool) (*cond, error) {
	off := 0
	if !first {
		p.skipSpace()
		at := p.pos
		name := p.ident()
		if name == "" {
			return nil, p.errAt(at, "want a field name after && or ||, found %s", p.found())
		}
		var err error
		if off, err = p.groupField(g, at, name); err != nil {
			return nil, err
		}
	}
	c, err := p.spaceCmp()
	if err != nil {
		return nil, err
	}
	c.off = off
	return c, nil
}

func (p *parser) found() string {
	if p.eof() {
		return "end of pattern"
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return strconv.QuoteRune(r)
}

func isIdentByte(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (!first && (c >= '0' && c <= '9' || c == '-'))
}

func (p *parser) ident() string {
	start := p.pos
	for !p.eof() && isIdentByte(p.peek(), p.pos == start) {
		p.pos++
	}
	return p.src[start:p.pos]
}

func (p *parser) operator() string {
	for _, op := range []string{"!=", "<=", ">=", "=", "<", ">"} {
		if p.consume(op) {
			return op
		}
	}
	return ""
}

func (p *parser) spaceCmp() (*cond, error) {
	p.skipSpace()
	at := p.pos
	op := p.operator()
	if op == "" {
		return nil, p.errAt(at, "want =, !=, <, <=, > or >= after the field name, found %s", p.found())
	}
	lit, err := p.literal(func(c byte) bool { return c == ',' || c == ']' || isSpace(c) || c == '&' || c == '|' }, false)
	if err != nil {
		return nil, err
	}
	if err := p.checkLiteral(at, op, lit); err != nil {
		return nil, err
	}
	if lit.re != nil && !p.eof() && !isSpace(p.peek()) && p.peek() != ',' && p.peek() != ']' && p.peek() != '&' && p.peek() != '|' {
		return nil, p.errAt(p.pos, "want , or ] after the regular expression, found %s", p.found())
	}
	return &cond{op: op, lit: lit}, nil
}

// literal reads a quoted string or a bare word ending before stop.
func (p *parser) literal(stop func(byte) bool, json bool) (literal, error) {
	p.skipSpace()
	start := p.pos
	var lit literal
	if p.peek() == '%' {
		return p.regex()
	}
	if p.peek() == '"' {
		s, err := p.quoted()
		if err != nil {
			return lit, err
		}
		lit.text, lit.quoted = s, true
	} else {
		for !p.eof() && !stop(p.peek()) {
			p.pos++
		}
		lit.text = p.src[start:p.pos]
		if lit.text == "" {
			return lit, p.errAt(start, "want a value, found %s", p.found())
		}
		if v, err := strconv.ParseFloat(lit.text, 64); err == nil {
			lit.num, lit.isNum = v, true
		}
		if json {
			switch strings.ToLower(lit.text) {
			case "true", "false", "null":
				lit.keyword = strings.ToLower(lit.text)
			}
		}
	}
	if strings.Contains(lit.text, "*") {
		lit.glob = strings.Split(lit.text, "*")
	}
	return lit, nil
}

func (p *parser) checkLiteral(at int, op string, lit literal) error {
	switch op {
	case "<", "<=", ">", ">=":
		if lit.re != nil {
			return p.errAt(at, "%s cannot compare with a regular expression: use = or !=", op)
		}
		if !lit.isNum {
			return p.errAt(at, "%s needs a number, found %q", op, lit.text)
		}
	}
	return nil
}

// ---- JSON ----

// jsonExpr is a boolean expression over selectors.
type jsonExpr struct {
	op          string // "&&", "||", or "" for a comparison
	left, right *jsonExpr
	sel         selector
	test        string // "=", "!=", "<", ...; "null", "true", "false", "notexists"
	lit         literal
}

// selector is a path into a JSON document: keys and array indexes.
type selector struct {
	text  string
	steps []step
	wild  bool // has a * step: selects any number of values
}

type step struct {
	key   string
	index int  // -1 for a key step
	wild  bool // `.*` or `[*]`: every field of an object, every element of an array
}

// CloudWatch's limits on JSON wildcard selectors ("You can only use up to
// one wildcard selector in a property selector, and up to three wildcard
// selectors in a filter pattern with compound expressions").
const (
	maxWildPerSelector = 1
	maxWildPerPattern  = 3
)

const maxDepth = 50

func (p *parser) parseJSON() (jsonExpr, error) {
	open := p.pos
	p.pos++ // {
	e, err := p.jsonOr(0)
	if err != nil {
		return e, err
	}
	p.skipSpace()
	if p.eof() {
		return e, p.errAt(open, "missing } to close the JSON pattern")
	}
	if p.peek() != '}' {
		return e, p.errAt(p.pos, "want &&, || or }, found %s", p.found())
	}
	p.pos++
	p.skipSpace()
	if !p.eof() {
		return e, p.errAt(p.pos, "unexpected %s after the closing }", p.found())
	}
	return e, nil
}

func (p *parser) jsonOr(depth int) (jsonExpr, error) {
	left, err := p.jsonAnd(depth)
	if err != nil {
		return left, err
	}
	for {
		p.skipSpace()
		if !p.consume("||") {
			return left, nil
		}
		right, err := p.jsonAnd(depth)
		if err != nil {
			return left, err
		}
		l := left
		left = jsonExpr{op: "||", left: &l, right: &right}
	}
}

func (p *parser) jsonAnd(depth int) (jsonExpr, error) {
	left, err := p.jsonUnary(depth)
	if err != nil {
		return left, err
	}
	for {
		p.skipSpace()
		if !p.consume("&&") {
			return left, nil
		}
		right, err := p.jsonUnary(depth)
		if err != nil {
			return left, err
		}
		l := left
		left = jsonExpr{op: "&&", left: &l, right: &right}
	}
}

func (p *parser) jsonUnary(depth int) (jsonExpr, error) {
	p.skipSpace()
	if depth > maxDepth {
		return jsonExpr{}, p.errAt(p.pos, "parentheses nested deeper than %d", maxDepth)
	}
	if p.peek() == '(' {
		open := p.pos
		p.pos++
		e, err := p.jsonOr(depth + 1)
		if err != nil {
			return e, err
		}
		p.skipSpace()
		if p.peek() != ')' {
			if p.eof() || p.peek() == '}' {
				return e, p.errAt(open, "missing ) to close this (")
			}
			return e, p.errAt(p.pos, "want &&, || or ), found %s", p.found())
		}
		p.pos++
		return e, nil
	}
	return p.jsonCmp()
}

func (p *parser) jsonCmp() (jsonExpr, error) {
	var e jsonExpr
	sel, err := p.selector()
	if err != nil {
		return e, err
	}
	e.sel = sel
	p.skipSpace()
	at := p.pos
	if w := p.word(); w != "" {
		switch strings.ToUpper(w) {
		case "IS":
			p.skipSpace()
			wat := p.pos
			switch v := strings.ToUpper(p.word()); v {
			case "NULL", "TRUE", "FALSE":
				e.test = strings.ToLower(v)
				return e, nil
			default:
				return e, p.errAt(wat, "want NULL, TRUE or FALSE after IS")
			}
		case "NOT":
			p.skipSpace()
			wat := p.pos
			if strings.ToUpper(p.word()) != "EXISTS" {
				return e, p.errAt(wat, "want EXISTS after NOT")
			}
			e.test = "notexists"
			return e, nil
		default:
			return e, p.errAt(at, "want a comparison, IS or NOT EXISTS after %s, found %q", sel.text, w)
		}
	}
	op := p.operator()
	if op == "" {
		return e, p.errAt(at, "want =, !=, <, <=, >, >=, IS or NOT EXISTS after %s, found %s", sel.text, p.found())
	}
	lit, err := p.literal(func(c byte) bool { return isSpace(c) || c == ')' || c == '}' || c == '&' || c == '|' }, true)
	if err != nil {
		return e, err
	}
	if err := p.checkLiteral(at, op, lit); err != nil {
		return e, err
	}
	e.test, e.lit = op, lit
	return e, nil
}

// word reads letters (IS, NOT, NULL, EXISTS...).
func (p *parser) word() string {
	start := p.pos
	for !p.eof() && (p.peek() >= 'a' && p.peek() <= 'z' || p.peek() >= 'A' && p.peek() <= 'Z') {
		p.pos++
	}
	return p.src[start:p.pos]
}

// selector parses $.a.b[0].c, with wildcards $.* and $.a[*] and keys in
// brackets $.['cluster.name'] (also $ alone: the whole document).
func (p *parser) selector() (selector, error) {
	p.skipSpace()
	start := p.pos
	if p.peek() != '$' {
		return selector{}, p.errAt(p.pos, "want a selector such as $.field, found %s", p.found())
	}
	p.pos++
	var s selector
	for {
		at := p.pos
		switch {
		case p.consume(".*"), p.consume("[*]"):
			if s.wild {
				return s, p.errAt(at, "at most %d wildcard in a selector (CloudWatch's limit)", maxWildPerSelector)
			}
			p.wildcards++
			if p.wildcards > maxWildPerPattern {
				return s, p.errAt(at, "more than %d wildcard selectors in one pattern (CloudWatch's limit)", maxWildPerPattern)
			}
			s.wild = true
			s.steps = append(s.steps, step{index: -1, wild: true})
		case p.consume(".['"), p.consume("['"):
			// A key with a period (or any character but ') in brackets.
			end := strings.Index(p.src[p.pos:], "']")
			if end <= 0 {
				return s, p.errAt(at, "want a key and '] after [' (as in $.['cluster.name'])")
			}
			s.steps = append(s.steps, step{key: p.src[p.pos : p.pos+end], index: -1})
			p.pos += end + 2
		case p.peek() == '.':
			p.pos++
			kstart := p.pos
			for !p.eof() && (isIdentByte(p.peek(), false) || p.peek() >= 0x80 || p.peek() == '@' || p.peek() == ':') {
				p.pos++
			}
			if p.pos == kstart {
				return s, p.errAt(p.pos, "want a key after '.', found %s", p.found())
			}
			s.steps = append(s.steps, step{key: p.src[kstart:p.pos], index: -1})
		case p.peek() == '[':
			p.pos++
			istart := p.pos
			for !p.eof() && p.peek() >= '0' && p.peek() <= '9' {
				p.pos++
			}
			n, err := strconv.Atoi(p.src[istart:p.pos])
			if err != nil || n > 1<<20 {
				return s, p.errAt(istart, "want an array index such as [0], found %s", p.found())
			}
			if p.peek() != ']' {
				return s, p.errAt(p.pos, "want ] to close the array index, found %s", p.found())
			}
			p.pos++
			s.steps = append(s.steps, step{index: n})
		default:
			s.text = p.src[start:p.pos]
			if len(s.steps) > maxDepth {
				return s, p.errAt(start, "selector deeper than %d", maxDepth)
			}
			return s, nil
		}
	}
}

// ParseSelector parses a JSON selector used as a metric value or dimension
// ("$.latency").
func ParseSelector(src string) (selector, error) {
	p := &parser{src: src}
	s, err := p.selector()
	if err != nil {
		return s, err
	}
	if !p.eof() {
		return s, p.errAt(p.pos, "unexpected %s after the selector", p.found())
	}
	return s, nil
}

// requiredSubstrings collects the literal texts a matching line must
// contain, longest first (at most 3).
func requiredSubstrings(pat *Pattern) []string {
	var out []string
	switch pat.Kind {
	case KindSpace:
		for _, f := range pat.fields {
			if f.cond != nil {
				out = f.cond.required(out)
			}
		}
	case KindJSON:
		out = pat.expr.required(out)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out[:min(len(out), 3)]
}

// required adds what an = condition needs; || branches need nothing
// certain, && needs both sides.
func (c *cond) required(out []string) []string {
	switch c.op {
	case "&&":
		return c.right.required(c.left.required(out))
	case "=":
		return c.lit.required(out)
	}
	return out
}

func (l *literal) required(out []string) []string {
	if l.re != nil {
		if len(l.re.anyOf) == 1 {
			out = append(out, l.re.anyOf[0])
		}
		return out
	}
	if l.isNum && !l.quoted {
		return out // numeric equality: "22" also equals "22.0"
	}
	if l.glob == nil {
		if l.text != "" {
			out = append(out, l.text)
		}
		return out
	}
	longest := ""
	for _, part := range l.glob {
		if len(part) > len(longest) {
			longest = part
		}
	}
	if longest != "" {
		out = append(out, longest)
	}
	return out
}

func (e *jsonExpr) required(out []string) []string {
	switch e.op {
	case "&&":
		return e.right.required(e.left.required(out))
	case "||":
		return out
	}
	if e.test == "=" && e.lit.keyword == "" {
		return e.lit.required(out)
	}
	return out
}
