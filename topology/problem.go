package topology

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a topology, placed as precisely as the
// source allows. Line and Column are 1-based; zero means unknown (imported
// data has no lines).
type Problem struct {
	File    string
	Line    int
	Column  int
	Field   string // path such as networks[0].subnets[1].zone
	Message string
}

// String formats the problem like a compiler diagnostic,
// "file:line:col: field: message", so that editors can jump to it.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(":")
	}
	if p.Line > 0 {
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(":")
		if p.Column > 0 {
			b.WriteString(strconv.Itoa(p.Column))
			b.WriteString(":")
		}
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// CheckError carries every problem found in a topology, so that the user can
// fix them all in one pass instead of one per run.
type CheckError struct {
	Problems []Problem
}

// Error lists the problems, one a line.
func (e *CheckError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// pos is where a field was written.
type pos struct{ line, col int }

// origin says where each part of a draft topology came from, so that checks
// on the Topology value can name the file, line and field of a problem. The
// YAML decoder records real positions; an import records only field paths
// (those of the YAML that WriteYAML would print).
type origin struct {
	file    string
	pos     map[string]pos // field path -> position
	zones   []string       // field path of each Topology.Zones[i]
	subnets []string       // field path of each Topology.Subnets[i]
}

// zone is the field path of t.Zones[i].
func (o *origin) zone(i int) string {
	if i < len(o.zones) && o.zones[i] != "" {
		return o.zones[i]
	}
	return fmt.Sprintf("zones[%d]", i)
}

// subnet is the field path of t.Subnets[i].
func (o *origin) subnet(i int) string {
	if i < len(o.subnets) && o.subnets[i] != "" {
		return o.subnets[i]
	}
	return fmt.Sprintf("subnets[%d]", i)
}

// at finds the position of a field, or of the nearest enclosing one that was
// written (a missing "zone:" is reported where its subnet starts).
func (o *origin) at(field string) pos {
	for {
		if p, ok := o.pos[field]; ok {
			return p
		}
		if field == "" {
			return pos{}
		}
		field = parentField(field)
	}
}

// parentField strips the last ".name" or "[n]" from a field path.
func parentField(field string) string {
	i := strings.LastIndexAny(field, ".[")
	if i < 0 {
		return ""
	}
	return field[:i]
}

// report collects problems, one per field: once a field is reported, later
// checks that trip over the same bad value stay quiet instead of piling on.
type report struct {
	o        *origin
	problems []Problem
	seen     map[string]bool
	dropped  int // problems past maxProblems
}

// maxProblems bounds a report: past it, problems are only counted. A
// thousand messages are more than anyone reads, and a hostile file (one
// anchor aliased a million times) must not turn into a 100 MB error.
const maxProblems = 1000

func newReport(o *origin) *report {
	return &report{o: o, seen: map[string]bool{}}
}

// add records a problem at field unless that field already has one.
func (r *report) add(field, format string, args ...any) {
	if r.seen[field] {
		return
	}
	r.seen[field] = true
	if len(r.problems) >= maxProblems {
		r.dropped++
		return
	}
	p := r.o.at(field)
	r.problems = append(r.problems, Problem{File: r.o.file, Line: p.line, Column: p.col,
		Field: field, Message: fmt.Sprintf(format, args...)})
}

// addAt records a problem at an explicit position: a YAML syntax error has a
// line but no field, and a repeated key has the field of its first use.
func (r *report) addAt(field string, p pos, message string) {
	if len(r.problems) >= maxProblems {
		r.dropped++
		return
	}
	r.problems = append(r.problems, Problem{File: r.o.file, Line: p.line, Column: p.col,
		Field: field, Message: message})
}

// err returns the problems in file order as a *CheckError, or nil.
func (r *report) err() error {
	if len(r.problems) == 0 {
		return nil
	}
	ps := append([]Problem(nil), r.problems...)
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Column < ps[j].Column
	})
	if r.dropped > 0 {
		ps = append(ps, Problem{File: r.o.file, Message: fmt.Sprintf("%d more problems not shown", r.dropped)})
	}
	return &CheckError{Problems: ps}
}
