package logquery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fanOut builds `fields F(@message) as a1 | fields F(a1) as a2 | ...`,
// where step writes level i from level i-1.
func fanOut(levels int, first string, step func(prev string) string, tail string) string {
	q := "fields " + first + " as a1"
	for i := 2; i <= levels; i++ {
		q += fmt.Sprintf(" | fields %s as a%d", step(fmt.Sprintf("a%d", i-1)), i)
	}
	return q + tail
}

// wideFields selects n columns of three @message each.
func wideFields(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("concat(@message, @message, @message) as m%d", i)
	}
	return strings.Join(items, ", ")
}

// sizeAttacks are queries whose compiled SQL or per-record values grow
// exponentially with their length; at is the text the error must point
// at (its first occurrence).
var sizeAttacks = []struct {
	name, query, at string
}{
	{"string-fan-out-14", fanOut(14, "concat(@message,@message)", func(p string) string { return "concat(" + p + "," + p + ")" }, ""),
		"concat(a6,a6)"},
	{"numeric-fan-out-14", fanOut(14, "bytes+bytes", func(p string) string { return p + "+" + p }, " | filter a14 > 0"),
		"+a13 as a14"},
	{"numeric-fan-out-20", fanOut(20, "bytes+bytes", func(p string) string { return p + "*" + p }, ""),
		"*a13 as a14"},
	{"replace-growth", fanOut(6, "@message", func(p string) string { return `replace(` + p + `, " ", "                ")` }, ""),
		`replace(a2,`},
	{"one-wide-concat", "fields concat(" + strings.Repeat("@message, ", 199) + "@message) as m", "concat("},
	{"filter-fan-out", fanOut(13, "bytes+bytes", func(p string) string { return p + "-" + p }, "") +
		" | filter a13 > 0 and a13 < 10 and a13 != 5", "and a13 < 10"},
	{"result-too-wide", "fields " + wideFields(40) + " | limit 10000", "limit 10000"},
}

// TestAliasFanOutQueryStaysSmall: a query of a few hundred bytes whose
// aliases copy each other is refused at compile time, at the expression
// that crossed a bound, instead of compiling to megabytes of SQL that
// DuckDB takes minutes and gigabytes to plan. Every level below the
// refusal compiles to at most MaxSQLBytes.
func TestAliasFanOutQueryStaysSmall(t *testing.T) {
	st := examplesStore(t)
	e := NewEngine(st.DB(), testSources())
	for _, tc := range sizeAttacks {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.query) > MaxQueryLen {
				t.Fatalf("the attack is %d bytes, longer than a query may be", len(tc.query))
			}
			q, err := Parse(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Compile(q, testFlowLogSource(), testRange)
			if err == nil {
				t.Fatalf("compiled to %d bytes of SQL; want a refusal", len(c.SQL))
			}
			var qe *Error
			if !errors.As(err, &qe) || !errors.Is(err, ErrQueryTooLarge) {
				t.Fatalf("error %v (%T): want an *Error marked ErrQueryTooLarge", err, err)
			}
			at := strings.Index(tc.query, tc.at)
			if line, col := lineCol(tc.query, Pos(at)); qe.Line != line || qe.Column != col {
				t.Errorf("error at %d:%d, want %d:%d (%q): %v", qe.Line, qe.Column, line, col, tc.at, err)
			}
			// The engine refuses it the same way on a real DuckDB file.
			_, err = e.Run(context.Background(), Request{Query: tc.query, Groups: []string{"vpc"}, Start: allTime.start, End: allTime.end})
			if !errors.Is(err, ErrQueryTooLarge) {
				t.Errorf("engine: %v", err)
			}
		})
	}
	// The levels that are accepted stay small, and run.
	for levels := 1; ; levels++ {
		query := fanOut(levels, "concat(@message,@message)", func(p string) string { return "concat(" + p + "," + p + ")" }, "")
		q, err := Parse(query)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Compile(q, testFlowLogSource(), testRange)
		if err != nil {
			if levels < 4 {
				t.Fatalf("%d levels refused: %v", levels, err)
			}
			break
		}
		if len(c.SQL) > MaxSQLBytes {
			t.Fatalf("%d levels: %d bytes of SQL", levels, len(c.SQL))
		}
		if _, err := e.Run(context.Background(), Request{Query: query, Groups: []string{"vpc"}, Start: allTime.start, End: allTime.end}); err != nil {
			t.Fatalf("%d levels: %v", levels, err)
		}
	}
}

// TestHugeRegexRefused: a regular expression whose text or compiled
// program is large (a 300-way alternation took DuckDB 6 s to compile) is
// refused at its position, in like, =~ and parse; ordinary ones pass.
func TestHugeRegexRefused(t *testing.T) {
	alternation := func(n int) string {
		words := make([]string, n)
		for i := range words {
			words[i] = fmt.Sprintf("w%dx", i)
		}
		return strings.Join(words, "|")
	}
	named := func(n int) string {
		groups := make([]string, n)
		for i := range groups {
			groups[i] = fmt.Sprintf("(?<g%d>w%d\\S+)", i, i)
		}
		return strings.Join(groups, "|")
	}
	cases := []struct {
		name, query string
		refused     bool
	}{
		{"like-alternation-300", "filter @message like /" + alternation(300) + "/", true},
		{"match-alternation-300", "filter interfaceId =~ /" + alternation(300) + "/", true},
		{"parse-named-300", "parse @message /" + named(300) + "/ | fields g1", true},
		{"repeat-count", "filter @message like /a{1000}b{1000}c{500}/", true},
		{"nested-repeat", "filter @message like /((a|b){30}){30}/", true},
		{"long-text", "filter @message like /" + strings.Repeat("a", MaxRegexLen+1) + "/", true},
		{"alternation-50", "filter @message like /" + alternation(50) + "/", false},
		{"ordinary-parse", `parse @message /(?<account>\d{12}) (?<eni>eni-[0-9a-f]+)/ | stats count(*) by eni`, false},
		{"ipv4", `filter srcAddr =~ /^(\d{1,3}\.){3}\d{1,3}$/`, false},
	}
	st := examplesStore(t)
	e := NewEngine(st.DB(), testSources())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Run(context.Background(), Request{Query: tc.query, Groups: []string{"vpc"}, Start: allTime.start, End: allTime.end})
			if !tc.refused {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var qe *Error
			if !errors.As(err, &qe) || !errors.Is(err, ErrQueryTooLarge) {
				t.Fatalf("error %v: want a refusal by size", err)
			}
			if line, col := lineCol(tc.query, Pos(strings.Index(tc.query, "/"))); qe.Line != line || qe.Column != col {
				t.Errorf("error at %d:%d, want %d:%d: %v", qe.Line, qe.Column, line, col, err)
			}
		})
	}
}
