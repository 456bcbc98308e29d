package metricfilter

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Regular expressions in filter patterns are written between two % signs
// (%ERROR [0-9]+%) and restricted as CloudWatch documents them ("Supported
// regular expressions (regex) syntax", CloudWatch Logs User Guide,
// FilterAndPatternSyntax.html#regex-expressions): letters, digits, the
// symbols : _ # = @ / ; , - and the operators ^ $ ? [ ] { } | \ * + . ;
// no ( ) (no subpatterns), no multi-byte characters. Escapes are \d \D
// \s \S \w \W, \xhh (an ASCII code) and a backslash before a symbol or an
// operator. A space is accepted too: the page's own examples contain one
// (%^starting|^initializing|^shutting down%). They run on Go's regexp
// (RE2), whose matching time is linear in the text; the compiled program
// is bounded so that neither compiling nor matching can grow with a
// hostile pattern.

const (
	// maxRegexPerPattern is CloudWatch's limit of regular expressions in
	// one space-delimited or JSON pattern.
	maxRegexPerPattern = 2
	// MaxRegexPerGroup is CloudWatch's limit of metric filters with a
	// regular expression on one log group.
	MaxRegexPerGroup = 5
	// maxRegexInsts bounds a compiled regular expression (RE2 program
	// instructions). Matching costs at most text length x instructions;
	// the documented examples take 10-40, %[a-z]{500}% about 500.
	maxRegexInsts = 1000
)

const (
	regexSymbols   = ":_#=@/;,-"
	regexOperators = `^$?[]{}|\*+.`
)

// regexErr is a refused regular expression; at is the byte offset in the
// expression's text (after the opening %).
type regexErr struct {
	at  int
	msg string
}

// compileRegex checks body (the text between the % signs) against the
// documented rules and compiles it.
func compileRegex(body string) (*rx, *regexErr) {
	if body == "" {
		return nil, &regexErr{0, "empty regular expression %%"}
	}
	var translated strings.Builder
	inClass := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c >= 0x80:
			return nil, &regexErr{i, "multi-byte characters are not supported in a regular expression (use \\xhh for an ASCII code)"}
		case c == '(' || c == ')':
			return nil, &regexErr{i, "( and ) are not supported in a regular expression: CloudWatch allows no subpatterns"}
		case c == '\\':
			n, err := checkEscape(body, i)
			if err != nil {
				return nil, err
			}
			translated.WriteString(body[i : i+n])
			i += n - 1
			continue
		case c == '[' && !inClass:
			inClass = true
			translated.WriteByte(c)
			// A ] right after [ or [^ is a literal, not the end.
			if j := i + 1; j < len(body) && body[j] == '^' {
				translated.WriteByte('^')
				i++
			}
			if j := i + 1; j < len(body) && body[j] == ']' {
				translated.WriteByte(']')
				i++
			}
			continue
		case c == ']' && inClass:
			inClass = false
		case c == '{' && !inClass && strings.HasPrefix(body[i+1:], ","):
			// CloudWatch lets either bound of {m,n} be omitted; RE2
			// reads {,n} as literal text, so spell the minimum out.
			translated.WriteString("{0")
			continue
		case isAlnum(c) || c == ' ' || strings.IndexByte(regexSymbols, c) >= 0 || strings.IndexByte(regexOperators, c) >= 0:
		default:
			return nil, &regexErr{i, fmt.Sprintf("%q is not allowed in a regular expression (allowed: letters, digits, space, %s and the operators %s; \\xhh spells any other ASCII character)", string(c), regexSymbols, regexOperators)}
		}
		translated.WriteByte(c)
	}
	src := translated.String()
	parsed, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil, &regexErr{0, "invalid regular expression: " + strings.TrimPrefix(err.Error(), "error parsing regexp: ")}
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil || len(prog.Inst) > maxRegexInsts {
		return nil, &regexErr{0, fmt.Sprintf("regular expression too large (more than %d instructions once repetitions are expanded)", maxRegexInsts)}
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, &regexErr{0, "invalid regular expression: " + err.Error()}
	}
	simple := parsed.Simplify()
	return &rx{re: re, anyOf: literalsOf(simple), exact: onlyLiterals(simple)}, nil
}

// rx is a compiled regular expression with a cheap prefilter: every match
// contains one of anyOf (none: no prefilter). RE2 tries the expression at
// every position of the text (%REJECT|NODATA% took 5 us on a 110-byte
// record); a substring search rejects most records in tens of ns.
type rx struct {
	re    *regexp.Regexp
	anyOf []string
	exact bool // the expression is just anyOf (%REJECT|NODATA%)
}

func (r *rx) match(s string) bool {
	if len(r.anyOf) > 0 {
		found := false
		for _, lit := range r.anyOf {
			if strings.Contains(s, lit) {
				found = true
				break
			}
		}
		if !found || r.exact {
			return found
		}
	}
	return r.re.MatchString(s)
}

// onlyLiterals tells whether re is a literal or an alternation of
// literals, which its prefilter answers exactly.
func onlyLiterals(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return re.Flags&syntax.FoldCase == 0
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			if !onlyLiterals(sub) {
				return false
			}
		}
		return len(re.Sub) <= maxAnyOf
	}
	return false
}

// maxAnyOf bounds a prefilter's alternatives (more cost more than the
// expression saves).
const maxAnyOf = 8

// literalsOf returns strings one of which every match of re contains, or
// nil when it cannot tell.
func literalsOf(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil
		}
		return []string{string(re.Rune)}
	case syntax.OpCapture, syntax.OpPlus:
		return literalsOf(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return literalsOf(re.Sub[0])
		}
	case syntax.OpConcat:
		// Any one part's literals will do: keep the part whose shortest
		// literal is longest (the most selective).
		var best []string
		bestLen := 0
		for _, sub := range re.Sub {
			lits := literalsOf(sub)
			if shortest := shortestLen(lits); shortest > bestLen {
				best, bestLen = lits, shortest
			}
		}
		return best
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			lits := literalsOf(sub)
			if lits == nil || len(out)+len(lits) > maxAnyOf {
				return nil
			}
			out = append(out, lits...)
		}
		return out
	}
	return nil
}

func shortestLen(lits []string) int {
	if len(lits) == 0 {
		return 0
	}
	n := len(lits[0])
	for _, l := range lits[1:] {
		n = min(n, len(l))
	}
	return n
}

// checkEscape validates the escape at body[i] (a backslash) and returns
// its length.
func checkEscape(body string, i int) (int, *regexErr) {
	if i+1 >= len(body) {
		return 0, &regexErr{i, "a regular expression cannot end with \\"}
	}
	c := body[i+1]
	switch {
	case strings.IndexByte("dDsSwW", c) >= 0:
		return 2, nil
	case c == 'x':
		if i+3 < len(body) && isHex(body[i+2]) && isHex(body[i+3]) {
			if body[i+2] > '7' {
				return 0, &regexErr{i, fmt.Sprintf("\\x%s is not an ASCII code (00-7F)", body[i+2:i+4])}
			}
			return 4, nil
		}
		return 0, &regexErr{i, "\\x needs two hexadecimal digits (\\x3A is ':')"}
	case strings.IndexByte(regexSymbols, c) >= 0 || strings.IndexByte(regexOperators, c) >= 0 || c == ' ':
		return 2, nil
	}
	return 0, &regexErr{i, fmt.Sprintf("unsupported escape \\%s (supported: \\d \\D \\s \\S \\w \\W \\xhh and \\ before a symbol or operator)", string(c))}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// regex reads a %...% regular expression at p.pos into a literal.
func (p *parser) regex() (literal, error) {
	start := p.pos
	end := strings.IndexByte(p.src[start+1:], '%')
	if end < 0 {
		return literal{}, p.errAt(start, "unterminated regular expression: want a closing %%")
	}
	end += start + 1
	p.regexes++
	if p.limitRegex && p.regexes > maxRegexPerPattern {
		return literal{}, p.errAt(start, "more than %d regular expressions in one pattern (CloudWatch's limit for space-delimited and JSON patterns)", maxRegexPerPattern)
	}
	body := p.src[start+1 : end]
	re, rerr := compileRegex(body)
	if rerr != nil {
		return literal{}, p.errAt(start+1+rerr.at, "%s", rerr.msg)
	}
	p.pos = end + 1
	return literal{text: p.src[start:p.pos], re: re}, nil
}

// HasRegex tells whether the pattern uses a regular expression (CloudWatch
// allows at most MaxRegexPerGroup such metric filters per log group).
func (p *Pattern) HasRegex() bool { return p.regexes > 0 }

// checkRegexQuota refuses c when its group already has MaxRegexPerGroup
// other filters with a regular expression (replacing one keeps its place).
func checkRegexQuota(group []*Compiled, c *Compiled) error {
	if !c.pattern.HasRegex() {
		return nil
	}
	n := 0
	for _, o := range group {
		if o.Name != c.Name && o.pattern.HasRegex() {
			n++
		}
	}
	if n >= MaxRegexPerGroup {
		return invalid("pattern", "log group %q already has %d metric filters with a regular expression, CloudWatch's limit", c.Group, n)
	}
	return nil
}
