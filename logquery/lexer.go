package logquery

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a problem in a query, at a line and column (both from 1, the
// column counted in characters). Syntax errors say what was expected;
// compile errors (unknown fields, wrong arguments) point at the culprit.
type Error struct {
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Msg    string `json:"message"`
	// tooLarge: refused by a size limit (see ErrQueryTooLarge).
	tooLarge bool
}

func (e *Error) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Pos is a byte offset in the query text.
type Pos int

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tRegex
	tNumber
	tDuration
	tPunct // | , ( ) [ ] . and operators
)

type token struct {
	kind tokKind
	text string // identifier name, unquoted string, regex body, number text, operator
	pos  Pos
	end  Pos
	raw  bool // a backtick-quoted identifier (never a keyword)
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tString:
		return strconv.Quote(t.text)
	case tRegex:
		return "/" + t.text + "/"
	case tIdent:
		if t.raw {
			return "`" + t.text + "`"
		}
	}
	return strconv.Quote(t.text)
}

// lexer scans tokens on demand, so the parser can ask for a regular
// expression where one may start ("/" after like or =~ is a regex, after
// a value it is a division).
type lexer struct {
	src string
	off int
}

func (l *lexer) errAt(p Pos, format string, args ...any) *Error {
	line, col := lineCol(l.src, p)
	return &Error{Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// lineCol turns a byte offset into a 1-based line and character column.
func lineCol(src string, p Pos) (int, int) {
	if int(p) > len(src) {
		p = Pos(len(src))
	}
	line, start := 1, 0
	for i := 0; i < int(p); i++ {
		if src[i] == '\n' {
			line++
			start = i + 1
		}
	}
	return line, utf8.RuneCountInString(src[start:p]) + 1
}

// skip passes spaces and # comments.
func (l *lexer) skip() {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			l.off++
		case c == '#':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.off++
			}
		default:
			return
		}
	}
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '@' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9') || c == '.'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// twoCharOps are operators of two characters; the rest are one.
var twoCharOps = []string{"!=", "<=", ">=", "=~", "=="}

// next scans one token.
func (l *lexer) next() (token, error) {
	l.skip()
	start := l.off
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: Pos(start), end: Pos(start)}, nil
	}
	c := l.src[l.off]
	switch {
	case isIdentStart(c):
		for l.off < len(l.src) && isIdentPart(l.src[l.off]) {
			l.off++
		}
		return token{kind: tIdent, text: l.src[start:l.off], pos: Pos(start), end: Pos(l.off)}, nil
	case c == '`':
		end := strings.IndexAny(l.src[l.off+1:], "`\n")
		if end < 0 || l.src[l.off+1+end] != '`' {
			return token{}, l.errAt(Pos(start), "unterminated backtick-quoted field name")
		}
		name := l.src[l.off+1 : l.off+1+end]
		if name == "" {
			return token{}, l.errAt(Pos(start), "empty field name")
		}
		l.off += end + 2
		return token{kind: tIdent, text: name, pos: Pos(start), end: Pos(l.off), raw: true}, nil
	case c == '"' || c == '\'':
		return l.scanString(c)
	case isDigit(c) || (c == '.' && l.off+1 < len(l.src) && isDigit(l.src[l.off+1])):
		return l.scanNumber()
	}
	for _, op := range twoCharOps {
		if strings.HasPrefix(l.src[l.off:], op) {
			l.off += 2
			if op == "==" {
				op = "="
			}
			return token{kind: tPunct, text: op, pos: Pos(start), end: Pos(l.off)}, nil
		}
	}
	if strings.IndexByte("|,()[]=<>+-*/^%:.", c) >= 0 {
		l.off++
		return token{kind: tPunct, text: string(c), pos: Pos(start), end: Pos(l.off)}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.off:])
	return token{}, l.errAt(Pos(start), "unexpected character %q", r)
}

// scanString reads a quoted string with backslash escapes.
func (l *lexer) scanString(q byte) (token, error) {
	start := l.off
	l.off++
	var b strings.Builder
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch c {
		case q:
			l.off++
			return token{kind: tString, text: b.String(), pos: Pos(start), end: Pos(l.off)}, nil
		case '\\':
			if l.off+1 >= len(l.src) {
				return token{}, l.errAt(Pos(start), "unterminated string")
			}
			e := l.src[l.off+1]
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default: // \" \' \\ and anything else stand for themselves
				b.WriteByte(e)
			}
			l.off += 2
		case '\n':
			return token{}, l.errAt(Pos(start), "unterminated string (strings end on the same line)")
		default:
			b.WriteByte(c)
			l.off++
		}
	}
	return token{}, l.errAt(Pos(start), "unterminated string")
}

// scanNumber reads an integer or decimal, or a duration such as 5m, 1h,
// 100ms (a number directly followed by a unit).
func (l *lexer) scanNumber() (token, error) {
	start := l.off
	for l.off < len(l.src) && isDigit(l.src[l.off]) {
		l.off++
	}
	if l.off < len(l.src) && l.src[l.off] == '.' {
		l.off++
		for l.off < len(l.src) && isDigit(l.src[l.off]) {
			l.off++
		}
	}
	if l.off < len(l.src) && (l.src[l.off] == 'e' || l.src[l.off] == 'E') &&
		l.off+1 < len(l.src) && (isDigit(l.src[l.off+1]) || l.src[l.off+1] == '-' || l.src[l.off+1] == '+') {
		l.off += 2
		for l.off < len(l.src) && isDigit(l.src[l.off]) {
			l.off++
		}
	}
	num := l.off
	for l.off < len(l.src) && isIdentPart(l.src[l.off]) {
		l.off++
	}
	if l.off > num {
		unit := l.src[num:l.off]
		if _, ok := durationUnits[unit]; !ok {
			return token{}, l.errAt(Pos(num), "unknown time unit %q (want ms, s, m, h, d or w)", unit)
		}
		if strings.ContainsAny(l.src[start:num], ".eE") {
			return token{}, l.errAt(Pos(start), "a time period is a whole number followed by its unit, e.g. 5m")
		}
		return token{kind: tDuration, text: l.src[start:l.off], pos: Pos(start), end: Pos(l.off)}, nil
	}
	return token{kind: tNumber, text: l.src[start:l.off], pos: Pos(start), end: Pos(l.off)}, nil
}

// durationUnits are the period units in milliseconds.
var durationUnits = map[string]int64{
	"ms": 1, "s": 1000, "sec": 1000, "m": 60_000, "min": 60_000,
	"h": 3_600_000, "hr": 3_600_000, "d": 86_400_000, "day": 86_400_000, "w": 7 * 86_400_000, "week": 7 * 86_400_000,
}

// scanRegex reads /.../ starting at p (the opening slash). A slash inside
// is written \/ and stays escaped for the regex engine, which reads \/ as /.
func (l *lexer) scanRegex(p Pos) (token, error) {
	l.off = int(p) + 1
	var b strings.Builder
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch c {
		case '/':
			l.off++
			if b.Len() == 0 {
				return token{}, l.errAt(p, "empty regular expression")
			}
			return token{kind: tRegex, text: b.String(), pos: p, end: Pos(l.off)}, nil
		case '\\':
			if l.off+1 < len(l.src) && l.src[l.off+1] == '/' {
				b.WriteByte('/')
				l.off += 2
				continue
			}
			if l.off+1 < len(l.src) {
				b.WriteString(l.src[l.off : l.off+2])
				l.off += 2
				continue
			}
			l.off++
		case '\n':
			return token{}, l.errAt(p, "unterminated regular expression")
		default:
			b.WriteByte(c)
			l.off++
		}
	}
	return token{}, l.errAt(p, "unterminated regular expression")
}
