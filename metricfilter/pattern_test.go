package metricfilter

import (
	"errors"
	"strings"
	"testing"
)

const (
	sshAccept = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
	rdpReject = "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK"
	sshReject = "2 123456789010 eni-1235b8ca123456789 198.51.100.7 172.31.16.139 51234 22 6 3 180 1477913708 1477913768 REJECT OK"
	nodata    = "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA"
	reject22  = `[version, account, eni, source, destination, srcport, destport="22", protocol="6", packets, bytes, windowstart, windowend, action="REJECT", flowlogstatus]`
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, line string
		want          bool
	}{
		// terms
		{``, "anything", true},
		{`ERROR`, "2026 ERROR disk full", true},
		{`ERROR`, "2026 error disk full", false},
		{`ERROR disk`, "ERROR disk full", true},
		{`ERROR memory`, "ERROR disk full", false},
		{`"disk full"`, "ERROR disk full", true},
		{`"full disk"`, "ERROR disk full", false},
		{`?ERROR ?WARN`, "WARN low", true},
		{`?ERROR ?WARN`, "INFO ok", false},
		{`ERROR -disk`, "ERROR disk full", false},
		{`ERROR -"memory low"`, "ERROR disk full", true},
		{`?ERROR ?WARN -debug`, "WARN debug", false},
		{`REJECT ?"dstport 22" ?" 22 6 "`, sshReject, true},
		{`"say \"hi\""`, `they say "hi"`, true},
		// space-delimited
		{reject22, sshReject, true},
		{reject22, sshAccept, false},
		{reject22, rdpReject, false},
		{reject22, nodata, false},
		{`[..., action="REJECT", status]`, rdpReject, true},
		{`[..., action="REJECT", status]`, sshAccept, false},
		{`[v, acct, eni, src="172.31.*", ...]`, rdpReject, true},
		{`[v, acct, eni, src="172.31.*", ...]`, sshReject, false},
		{`[v, acct, eni, src=*.9.*, ...]`, rdpReject, true},
		{`[..., bytes>1000, start, end, action, status]`, sshAccept, true},
		{`[..., bytes>1000, start, end, action, status]`, sshReject, false},
		{`[..., bytes<=180, start, end, action, status]`, sshReject, true},
		{`[..., bytes>=180, start, end, action, status]`, nodata, false}, // "-" is not a number
		{`[v, a, e, s, d, sp, dp!=22, ...]`, rdpReject, true},
		{`[v, a, e, s, d, sp, dp!=22, ...]`, sshAccept, false},
		{`[v, a, e, s, d, sp, dp=22 || dp=3389, ...]`, rdpReject, true},
		{`[v, a, e, s, d, sp, dp>=1024 && dp!=3389, ...]`, rdpReject, false},
		{`[v, a, e, s, d, sp, dp>=1024 && dp!=3389, ...]`, "2 1 e s d 1 8080 6", true},
		{`[v, a, e, s, d, sp, dp=22.0, ...]`, sshAccept, true}, // unquoted numbers compare as numbers
		{`[v, a, e, s, d, sp, dp="22.0", ...]`, sshAccept, false},
		{`[..., status=NODATA]`, nodata, true},
		{`[a, b]`, "one two three", false},
		{`[a, ..., c]`, "one two three four", true},
		{`[a, ..., b=two, ...]`, "one x two three", true},
		{`[a, ..., b=two, ...]`, "one x three", false},
		{`[..., b=two, ..., c=four]`, "one two three four", true},
		{`[ip, user, id, time, request="GET *", status=2*, size]`, `127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /a.gif HTTP/1.0" 200 2326`, true},
		{`[ip, user, id, time, request="POST *", status, size]`, `127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /a.gif HTTP/1.0" 200 2326`, false},
		{`[a,b]`, "x     y", true}, // runs of spaces
		// JSON
		{`{ $.latency > 100 }`, `{"latency": 150}`, true},
		{`{ $.latency > 100 }`, `{"latency": 50}`, false},
		{`{ $.latency > 100 }`, `{"latency": "slow"}`, false},
		{`{ $.latency > 100 }`, `not json latency 150`, false},
		{`{ $.eventType = "UpdateTrail" }`, `{"eventType":"UpdateTrail"}`, true},
		{`{ $.eventType = "Update*" }`, `{"eventType":"UpdateTrail"}`, true},
		{`{ $.eventType != "Update*" }`, `{"eventType":"UpdateTrail"}`, false},
		{`{ $.eventType != "Update*" }`, `{"other":1}`, false}, // missing fields compare false
		{`{ $.src = 10.0.* }`, `{"src":"10.0.1.2"}`, true},
		{`{ $.user.id = 5 && $.user.name = "bob" }`, `{"user":{"id":5,"name":"bob"}}`, true},
		{`{ $.user.id = 5 && $.user.name = "bob" }`, `{"user":{"id":5,"name":"ann"}}`, false},
		{`{ ($.a = 1 || $.b = 2) && $.c = 3 }`, `{"b":2,"c":3}`, true},
		{`{ ($.a = 1 || $.b = 2) && $.c = 3 }`, `{"b":2,"c":4}`, false},
		{`{ $.a = 1 || $.b = 2 && $.c = 3 }`, `{"a":1,"c":4}`, true}, // && binds tighter
		{`{ $.list[1] = "y" }`, `{"list":["x","y"]}`, true},
		{`{ $.list[2] = "y" }`, `{"list":["x","y"]}`, false},
		{`{ $.x IS NULL }`, `{"x":null}`, true},
		{`{ $.x IS NULL }`, `{}`, false},
		{`{ $.x NOT EXISTS }`, `{}`, true},
		{`{ $.x NOT EXISTS }`, `{"x":null}`, false},
		{`{ $.ok IS TRUE }`, `{"ok":true}`, true},
		{`{ $.ok is false }`, `{"ok":true}`, false},
		{`{ $.ok = true }`, `{"ok":true}`, true},
		{`{ $.n = 1.5e3 }`, `{"n":1500}`, true},
		{`{ $.n != 3 }`, `{"n":4}`, true},
		{`{ $.a = "REJECT" }`, `{"a":"REJ\u0045CT"}`, true}, // escapes defeat no prefilter
		{`[a, b="x y", c]`, `1 "x y" 3`, true},
		// conditions across fields: the names after && and || are the
		// fields that follow
		{`[a, b=1 && c>5]`, "x 1 9", true},
		{`[a, b=1 && c>5]`, "x 1 2", false},
		{`[a, b=1 && c>5]`, "x 1", false},
		{`[a, b=1 || c>5]`, "x 0 9", true},
		{`[a, b=1 || c>5]`, "x 0 2", false},
		{`[a, b=1 || c=2 && b=3]`, "x 3 2", true}, // && binds tighter
		{`[a, b=1 || c=2 && b=3]`, "x 4 2", false},
		{`[..., b=1 && c=2, d]`, "x y 1 2 z", true},
		{`[..., b=1 && c=2, d]`, "x y 1 3 z", false},
		{`[b=1 && c=2, ..., d=9]`, "1 2 x 9", true},
		{`[b=1 && c=2, ..., d=9]`, "1 2", false},
		// trailing comma: one more unnamed field
		{`[a, b,]`, "1 2 3", true},
		{`[a, b,]`, "1 2", false},
		{`[]`, "", true},
		// regular expressions
		{`[a=%^1[0-9]$%, b]`, "15 x", true},
		{`[a=%^1[0-9]$%, b]`, "150 x", false},
		{`[a!=%^1%, b]`, "25 x", true},
		{`[a!=%^1%, b]`, "15 x", false},
		{`{ $.code = %^4\d\d$% }`, `{"code": 404}`, true},
		{`{ $.code = %^4\d\d$% }`, `{"code": 504}`, false},
		{`{ $.code != %^4% }`, `{"code": "504"}`, true},
		{`{ $.code != %^4% }`, `{}`, false},          // a missing field compares false
		{`{ $.ok = %true% }`, `{"ok": true}`, false}, // regex matches strings and numbers only
		{`ERROR %\d{3}% -%^DEBUG%`, "ERROR 503 upstream", true},
		{`ERROR %\d{3}% -%^DEBUG%`, "DEBUG ERROR 503 upstream", false},
		{`ERROR %\d{3}% -%^DEBUG%`, "ERROR upstream", false},
		{`?%^WARN% ?%^ERROR%`, "ERROR x", true},
		{`?%^WARN% ?%^ERROR%`, "INFO ERROR", false},
		{`50%`, "at 50% load", true}, // not a regex: no opening %
		// wildcard selectors: any selected value; NOT EXISTS: none
		{`{ $.users[*].id = 3 }`, `{"users":[{"id":2},{"id":3}]}`, true},
		{`{ $.users[*].id = 4 }`, `{"users":[{"id":2},{"id":3}]}`, false},
		{`{ $.users[*].id != 2 }`, `{"users":[{"id":2},{"id":3}]}`, true},
		{`{ $.users[*].id > 2 }`, `{"users":[{"id":1},{"id":2}]}`, false},
		{`{ $.users[*].x NOT EXISTS }`, `{"users":[{"id":2}]}`, true},
		{`{ $.users[*].id NOT EXISTS }`, `{"users":[{"id":2}]}`, false},
		{`{ $.* IS NULL }`, `{"a":1,"b":null}`, true},
		{`{ $.* IS TRUE }`, `{"a":1,"b":null}`, false},
		{`{ $.['a.b'] = 1 && $.a.b = 2 }`, `{"a.b":1,"a":{"b":2}}`, true},
		{`{ $['a b'] = 1 }`, `{"a b":1}`, true},
	}
	var r Record
	for _, c := range cases {
		p, err := Parse(c.pattern)
		if err != nil {
			t.Errorf("parse %s: %v", c.pattern, err)
			continue
		}
		r.Reset(c.line)
		if got := p.Match(&r); got != c.want {
			t.Errorf("%s on %q: got %v, want %v", c.pattern, c.line, got, c.want)
		}
	}
}

func TestParseErrorsHaveColumns(t *testing.T) {
	cases := []struct {
		pattern string
		want    string
	}{
		{`"unterminated`, "column 1: unterminated quoted string"},
		{`ERROR ? x`, "column 7: empty term"},
		{`[a, b`, "column 1: missing ]"},
		{`[a, , b]`, "column 5: want a field name or ..., found ','"},
		{`[] x`, "column 4: unexpected 'x' after the closing ]"},
		{`[a,,]`, "column 4: want a field name or ..., found ','"},
		{`[a, b,] ]`, "column 9: unexpected ']' after the closing ]"},
		{`[a, b=1 || a=2]`, `column 12: field "a" is declared before this one`},
		{`[a, b=1 && c]`, "column 13: want =, !=, <, <=, > or >= after the field name, found ']'"},
		{`[a, b=1 && c=2, c]`, `column 17: field "c" named twice`},
		{`[a, b=1 &&]`, "column 11: want a field name after && or ||, found ']'"},
		{`[a=%x%y, b]`, "column 7: want , or ] after the regular expression, found 'y'"},
		{`[a=%x, b]`, "column 4: unterminated regular expression"},
		{`[a>%1%]`, "column 3: > cannot compare with a regular expression"},
		{`[a=%1%, b=%2%, c=%3%]`, "column 18: more than 2 regular expressions in one pattern"},
		{`{ $.a = %1% || $.b = %2% || $.c = %3% }`, "column 35: more than 2 regular expressions in one pattern"},
		{`%something!%`, `column 11: "!" is not allowed in a regular expression`},
		{`%(alpha|beta)%`, "column 2: ( and ) are not supported"},
		{`ERROR %caf` + "\u00e9" + `%`, "column 11: multi-byte characters are not supported"},
		{`%a\b%`, `column 3: unsupported escape \b`},
		{`%\x8F%`, `column 2: \x8F is not an ASCII code`},
		{`%\x3%`, `column 2: \x needs two hexadecimal digits`},
		{`%%`, "column 2: empty regular expression"},
		{`%[a-z]{2000}%`, "column 2: invalid regular expression"},
		{`%[a-z]{900}[0-9]{900}%`, "column 2: regular expression too large"},
		{`%a%b`, "column 4: want a space after the regular expression, found 'b'"},
		{`?" "`, `column 1: empty term after "?"`},
		{`[a, a]`, `column 5: field "a" named twice`},
		{`[a, b>x]`, `column 6: > needs a number, found "x"`},
		{`[a, b~1]`, "column 6: want =, !=, <, <=, > or >= after the field name, found '~'"},
		{`[a, b=1 c]`, "column 9: want , or ] after field, found 'c'"},
		{`[a, b=]`, "column 7: want a value, found ']'"},
		{`[a] x`, "column 5: unexpected 'x' after the closing ]"},
		{`{ $.a = 1`, "column 1: missing } to close"},
		{`{ a = 1 }`, "column 3: want a selector such as $.field, found 'a'"},
		{`{ $.a }`, "column 7: want =, !=, <, <=, >, >=, IS or NOT EXISTS after $.a, found '}'"},
		{`{ $.a IS MAYBE }`, "column 10: want NULL, TRUE or FALSE after IS"},
		{`{ $.a NOT THERE }`, "column 11: want EXISTS after NOT"},
		{`{ ($.a = 1 }`, "column 3: missing ) to close this ("},
		{`{ $.a[x] = 1 }`, "column 7: want an array index"},
		{`{ $. = 1 }`, "column 5: want a key after '.'"},
		{`{ $.a = 1 } extra`, "column 13: unexpected 'e' after the closing }"},
		{`{ $.a = 1 & $.b = 2 }`, "column 11: want &&, || or }, found '&'"},
		{`{ $.a < "x" }`, `column 7: < needs a number, found "x"`},
		{`{ $.[' = 1 }`, `column 4: want a key and '] after ['`},
		{`{ $.a[*][*] = 1 }`, `column 9: at most 1 wildcard in a selector`},
	}
	for _, c := range cases {
		_, err := Parse(c.pattern)
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.pattern, err, c.want)
		}
	}
	if _, err := Parse(strings.Repeat("a", MaxPatternLen+1)); err == nil {
		t.Error("an over-long pattern must be refused")
	}
}

func TestFieldsSplitting(t *testing.T) {
	var r Record
	r.Reset(`  a  "b c"   [d e] f"g h" "unclosed `)
	got := strings.Join(r.Fields(), "|")
	if got != `a|b c|d e|f"g|h"|"unclosed` {
		t.Errorf("fields: %s", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{``, `ERROR`, `?a ?"b c" -d`, reject22, `[..., a=1 || a=2 && a!=3, ...]`,
		`{ ($.a = "x*" || $.b[0] > 5) && $.c IS NULL && $.d NOT EXISTS }`, `{ $.a = }`, `[a,`, `"\"`,
		`[]`, `[..., request=*.html*, status_code=4*,]`, `[ip, user, ..., status_code = 4* && bytes > 1000]`,
		`[a, b=1 || c=2 && b!=3, ...]`, `%^[hc]at|\d{1,3}\.\x3A%`, `[ip=%127\.0\.0\.[1-9]%, ...]`,
		`{ $.eventType = %Trail% || $.n != %^4% }`, `{ $.a[*].b = 1 && $.* NOT EXISTS && $.['c.d'] IS NULL }`, `ERROR %a{,2}b% -%[^x]%`, `%(a)%`, `%a\%`} {
		f.Add(s, sshReject)
	}
	f.Fuzz(func(t *testing.T, pattern, line string) {
		p, err := Parse(pattern)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Col < 1 {
				t.Fatalf("error without a column: %v", err)
			}
			return
		}
		var r Record
		r.Reset(line)
		got := p.Match(&r) // must not panic
		for _, name := range p.Fields() {
			p.Field(&r, name)
		}
		for _, n := range p.Unnamed(&r) {
			if _, ok := p.Position(&r, n); !ok {
				t.Fatalf("unnamed position $%d of %q on %q has no value", n, pattern, line)
			}
		}
		// The substring prefilter must never change the answer.
		p.mustContain = nil
		r.Reset(line)
		if p.Match(&r) != got {
			t.Fatalf("prefilter changed the answer of %q on %q", pattern, line)
		}
	})
}

// TestRegexPrefilterKeepsAnswers: the substring prefilter of a regular
// expression (every match contains one of its literals) never changes an
// answer, on expressions of each shape it handles and on lines with and
// without those literals.
func TestRegexPrefilterKeepsAnswers(t *testing.T) {
	exprs := []string{`REJECT|NODATA`, `^10\.0\.1[0-9]\.`, `ab+c`, `x{2,}y|z`, `a{0,3}b`, `[Ee]rror|[Ff]ail`,
		`colou?r`, `^starting|^initializing|^shutting down`, `\d{1,3}\.\d{1,3}`, `abc|d*`, `.at$`}
	lines := []string{"", "REJECT", "xNODATAy", "10.0.15.3", "10.0.1.3", "abbbc", "ac", "xxy", "z", "b", "aaab",
		"Error", "fail", "colour", "color", "starting now", "now starting", "shutting down", "1.22", "hat", "hats", "d"}
	for _, e := range exprs {
		r, err := compileRegex(e)
		if err != nil {
			t.Fatalf("%s: %s", e, err.msg)
		}
		for _, l := range lines {
			if got, want := r.match(l), r.re.MatchString(l); got != want {
				t.Errorf("%%%s%% on %q: prefiltered %v, the expression says %v (prefilter %q, exact %v)", e, l, got, want, r.anyOf, r.exact)
			}
		}
	}
	if r, _ := compileRegex(`REJECT|NODATA`); len(r.anyOf) != 2 || !r.exact {
		t.Errorf("REJECT|NODATA: prefilter %q exact %v, want both literals, exact", r.anyOf, r.exact)
	}
}

// FuzzRegexPrefilter: whatever the expression, the prefiltered match
// agrees with the expression, and a refused one says where.
func FuzzRegexPrefilter(f *testing.F) {
	for _, s := range []string{`REJECT|NODATA`, `^10\.0\.1[0-9]\.`, `a{,3}b|c+`, `[^]x]|\x3A`, `(a)`, `\b`} {
		f.Add(s, "10.0.15.3 REJECT")
	}
	f.Fuzz(func(t *testing.T, expr, line string) {
		r, err := compileRegex(expr)
		if err != nil {
			if err.at < 0 || err.at > len(expr) || err.msg == "" {
				t.Fatalf("%q: error at %d: %q", expr, err.at, err.msg)
			}
			return
		}
		if got, want := r.match(line), r.re.MatchString(line); got != want {
			t.Fatalf("%%%s%% on %q: prefiltered %v, expression %v (prefilter %q)", expr, line, got, want, r.anyOf)
		}
	})
}
