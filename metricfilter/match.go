package metricfilter

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Record is one log line being matched. It splits the line into fields or
// parses its JSON at most once, however many filters look at it, and is
// reused across lines to avoid allocations.
type Record struct {
	Line string

	split  bool
	fields []string

	parsed  bool
	doc     any
	jsonErr bool

	bind    []int    // pattern slot -> field index of the last space-delimited match
	boundTo *Pattern // the pattern bind belongs to (nil: no successful match)
	work    int      // slot checks spent on the current match (tests bound it)
}

// Reset points the record at a new line.
func (r *Record) Reset(line string) {
	r.Line = line
	r.split, r.parsed, r.doc, r.jsonErr, r.boundTo = false, false, nil, false, nil
	r.fields = r.fields[:0]
}

// Fields splits the line on runs of spaces; a field in double quotes or
// square brackets may contain spaces and is returned without them.
func (r *Record) Fields() []string {
	if r.split {
		return r.fields
	}
	r.split = true
	s := r.Line
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			break
		}
		var closer byte
		switch s[i] {
		case '"':
			closer = '"'
		case '[':
			closer = ']'
		}
		if closer != 0 {
			if j := strings.IndexByte(s[i+1:], closer); j >= 0 {
				end := i + 1 + j
				if end+1 >= len(s) || s[end+1] == ' ' || s[end+1] == '\t' {
					r.fields = append(r.fields, s[i+1:end])
					i = end + 1
					continue
				}
			}
		}
		start := i
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		r.fields = append(r.fields, s[start:i])
	}
	return r.fields
}

// JSON returns the line parsed as JSON (ok false if it is not JSON).
func (r *Record) JSON() (any, bool) {
	if !r.parsed {
		r.parsed = true
		t := strings.TrimSpace(r.Line)
		if t == "" || t[0] != '{' && t[0] != '[' {
			r.jsonErr = true
		} else {
			d := json.NewDecoder(strings.NewReader(t))
			d.UseNumber()
			if err := d.Decode(&r.doc); err != nil {
				r.jsonErr = true
			}
		}
	}
	return r.doc, !r.jsonErr
}

// Match tells whether the record matches the pattern. After a match of a
// space-delimited pattern, Field gives the named fields' values.
func (p *Pattern) Match(r *Record) bool {
	if !p.prefilter(r.Line) {
		if p.Kind == KindSpace {
			r.boundTo = nil
		}
		return false
	}
	switch p.Kind {
	case KindSpace:
		return p.matchSpace(r)
	case KindJSON:
		doc, ok := r.JSON()
		return ok && p.expr.eval(doc)
	}
	return p.matchTerms(r.Line)
}

// prefilter rejects a line that lacks a substring every match contains.
// A JSON line with a backslash is let through: an escape (\u0041) can
// spell a value without its literal text.
func (p *Pattern) prefilter(line string) bool {
	if len(p.mustContain) == 0 || p.Kind == KindJSON && strings.IndexByte(line, '\\') >= 0 {
		return true
	}
	for _, s := range p.mustContain {
		if !strings.Contains(line, s) {
			return false
		}
	}
	return true
}

func (p *Pattern) matchTerms(line string) bool {
	for i := range p.required {
		if !p.required[i].in(line) {
			return false
		}
	}
	for i := range p.excluded {
		if p.excluded[i].in(line) {
			return false
		}
	}
	if len(p.optional) == 0 {
		return true
	}
	for i := range p.optional {
		if p.optional[i].in(line) {
			return true
		}
	}
	return false
}

// Field returns a named field of the last successful space-delimited match.
func (p *Pattern) Field(r *Record, name string) (string, bool) {
	i, ok := p.fieldByID[name]
	if !ok || r.boundTo != p || i >= len(r.bind) || r.bind[i] < 0 || r.bind[i] >= len(r.fields) {
		return "", false
	}
	return r.fields[r.bind[i]], true
}

// Position returns the n-th field (1-based) of the event the last
// space-delimited match split: CloudWatch's $n.
func (p *Pattern) Position(r *Record, n int) (string, bool) {
	if r.boundTo != p || n < 1 || n > len(r.fields) {
		return "", false
	}
	return r.fields[n-1], true
}

// Unnamed lists the 1-based positions of the last space-delimited match's
// fields that no named field took (those covered by `...` or a trailing
// comma): CloudWatch returns them as $1..$N among the extracted values.
func (p *Pattern) Unnamed(r *Record) []int {
	if r.boundTo != p || p.matchAll {
		return nil
	}
	named := make([]bool, len(r.fields))
	for si := range p.fields {
		if p.fields[si].name != "" && r.bind[si] >= 0 && r.bind[si] < len(named) {
			named[r.bind[si]] = true
		}
	}
	var out []int
	for i, isNamed := range named {
		if !isNamed {
			out = append(out, i+1)
		}
	}
	return out
}

func (p *Pattern) matchSpace(r *Record) bool {
	r.boundTo = nil
	if p.matchAll {
		r.boundTo = p
		return true
	}
	if p.matchSlots(r) {
		r.boundTo = p
		return true
	}
	return false
}

func (p *Pattern) matchSlots(r *Record) bool {
	fs := r.Fields()
	if cap(r.bind) < len(p.fields) {
		r.bind = make([]int, len(p.fields))
	}
	r.bind = r.bind[:len(p.fields)]
	if p.ellipses == 0 {
		if len(fs) != len(p.fields) {
			return false
		}
		for i := range p.fields {
			if !p.fields[i].matches(fs[i:]) {
				return false
			}
			r.bind[i] = i
		}
		return true
	}
	r.work = 0
	return p.matchEllipses(r, fs)
}

// matchEllipses aligns a pattern that has `...` with the fields, in time
// linear in fields x slots. The slots before the first ellipsis are
// anchored at the first field, those after the last at the last field;
// each run of slots between two ellipses is placed at its earliest
// position after the run before it. Earliest is safe: a later placement
// leaves the runs after it less room, never more, so if any alignment
// matches this one does, and it is the one that trying every ellipsis
// length from 0 up in order would find (so Field gives the same values).
// Backtracking over every alignment cost time exponential in the number
// of ellipses (12 of them: 1-3 ms per record).
func (p *Pattern) matchEllipses(r *Record, fs []string) bool {
	first, last := -1, -1
	for i := range p.fields {
		if p.fields[i].ellipsis {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	tail := len(p.fields) - 1 - last // slots after the last ellipsis
	tailAt := len(fs) - tail         // the field the tail starts at
	if first > tailAt {
		return false // the head and the tail overlap
	}
	if !p.matchRun(r, fs, 0, first, 0) || !p.matchRun(r, fs, last+1, len(p.fields), tailAt) {
		return false
	}
	fi := first
	for si := first; si < last; {
		r.bind[si] = -1
		si++
		end := si
		for !p.fields[end].ellipsis {
			end++
		}
		placed := false
		for at := fi; at+end-si <= tailAt; at++ {
			if p.matchRun(r, fs, si, end, at) {
				fi, placed = at+end-si, true
				break
			}
		}
		if !placed {
			return false
		}
		si = end
	}
	r.bind[last] = -1
	return true
}

// matchRun matches slots [from, to) (none of them an ellipsis) with the
// fields from at on, binding them.
func (p *Pattern) matchRun(r *Record, fs []string, from, to, at int) bool {
	for si := from; si < to; si++ {
		r.work++
		if !p.fields[si].matches(fs[at+si-from : at+to-from]) {
			return false
		}
		r.bind[si] = at + si - from
	}
	return true
}

// matches tests the slot's condition on fs, the event's fields from the
// slot's own on (a condition may test the fields that follow it).
func (f *fieldPat) matches(fs []string) bool {
	return f.cond == nil || f.cond.eval(fs)
}

func (c *cond) eval(fs []string) bool {
	switch c.op {
	case "&&":
		return c.left.eval(fs) && c.right.eval(fs)
	case "||":
		return c.left.eval(fs) || c.right.eval(fs)
	}
	if c.off >= len(fs) {
		return false
	}
	return compareString(c.op, fs[c.off], &c.lit)
}

// compareString applies op to a field's text.
func compareString(op, v string, lit *literal) bool {
	switch op {
	case "=", "!=":
		var eq bool
		if lit.isNum {
			if n, err := strconv.ParseFloat(v, 64); err == nil {
				eq = n == lit.num
			} else {
				eq = v == lit.text
			}
		} else {
			eq = lit.matchText(v)
		}
		return eq == (op == "=")
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return false
	}
	return compareNum(op, n, lit.num)
}

func compareNum(op string, a, b float64) bool {
	switch op {
	case "=":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

// matchText compares v with the literal, '*' matching any run of
// characters; a regular expression matches anywhere in v.
func (l *literal) matchText(v string) bool {
	if l.re != nil {
		return l.re.match(v)
	}
	if l.glob == nil {
		return v == l.text
	}
	parts := l.glob
	if !strings.HasPrefix(v, parts[0]) {
		return false
	}
	v = v[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(v, mid)
		if i < 0 {
			return false
		}
		v = v[i+len(mid):]
	}
	return len(v) >= len(last) && strings.HasSuffix(v, last)
}

// ---- JSON evaluation ----

// lookup follows the selector; ok is false when a step does not exist.
func (s *selector) lookup(doc any) (any, bool) {
	cur := doc
	for _, st := range s.steps {
		var ok bool
		if cur, ok = st.into(cur); !ok {
			return nil, false
		}
	}
	return cur, true
}

// into takes one key or index step (not a wildcard).
func (st *step) into(cur any) (any, bool) {
	if st.index < 0 {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		v, ok := m[st.key]
		return v, ok
	}
	a, ok := cur.([]any)
	if !ok || st.index >= len(a) {
		return nil, false
	}
	return a[st.index], true
}

func (e *jsonExpr) eval(doc any) bool {
	switch e.op {
	case "&&":
		return e.left.eval(doc) && e.right.eval(doc)
	case "||":
		return e.left.eval(doc) || e.right.eval(doc)
	}
	if e.sel.wild {
		// Any selected value will do; NOT EXISTS: none selected.
		if e.test == "notexists" {
			return !e.sel.each(doc, func(any) bool { return true })
		}
		return e.sel.each(doc, func(v any) bool { return e.holds(v, true) })
	}
	v, ok := e.sel.lookup(doc)
	return e.holds(v, ok)
}

// holds applies the test to a selected value (ok false: none there).
func (e *jsonExpr) holds(v any, ok bool) bool {
	switch e.test {
	case "notexists":
		return !ok
	case "null":
		return ok && v == nil
	case "true", "false":
		b, isBool := v.(bool)
		return ok && isBool && b == (e.test == "true")
	}
	if !ok {
		return false
	}
	return compareJSON(e.test, v, &e.lit)
}

// each calls fn with every value a wildcard selector selects until fn
// returns true, and tells whether it did.
func (s *selector) each(doc any, fn func(any) bool) bool {
	return walkSteps(doc, s.steps, fn)
}

func walkSteps(cur any, steps []step, fn func(any) bool) bool {
	for i, st := range steps {
		if st.wild {
			switch c := cur.(type) {
			case map[string]any:
				for _, v := range c {
					if walkSteps(v, steps[i+1:], fn) {
						return true
					}
				}
			case []any:
				for _, v := range c {
					if walkSteps(v, steps[i+1:], fn) {
						return true
					}
				}
			}
			return false
		}
		var ok bool
		if cur, ok = st.into(cur); !ok {
			return false
		}
	}
	return fn(cur)
}

// compareJSON compares a JSON value: numbers numerically, strings as text
// (with wildcards), true/false/null with the unquoted keywords.
func compareJSON(op string, v any, lit *literal) bool {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Float64()
		if err != nil || !lit.isNum {
			if op == "=" || op == "!=" {
				return lit.matchText(x.String()) == (op == "=")
			}
			return false
		}
		return compareNum(op, n, lit.num)
	case string:
		if op != "=" && op != "!=" {
			return false
		}
		return lit.matchText(x) == (op == "=")
	case bool, nil:
		if op != "=" && op != "!=" || lit.keyword == "" {
			return false
		}
		text := "null"
		if b, ok := x.(bool); ok {
			text = strconv.FormatBool(b)
		}
		return (text == lit.keyword) == (op == "=")
	}
	return false // objects and arrays compare with nothing
}

// JSONValue renders a selected JSON value as text (for dimensions) and as a
// number when it is one (for metric values).
func JSONValue(v any) (text string, num float64, isNum bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Float64()
		return x.String(), n, err == nil
	case string:
		n, err := strconv.ParseFloat(x, 64)
		return x, n, err == nil
	case bool:
		return strconv.FormatBool(x), 0, false
	case nil:
		return "null", 0, false
	}
	b, _ := json.Marshal(v)
	return string(b), 0, false
}
