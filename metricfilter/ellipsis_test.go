package metricfilter

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// manyEllipses is a pattern with 12 `...`: eleven A fields anywhere, then
// a last field Z.
func manyEllipses() string {
	var b strings.Builder
	b.WriteString("[...")
	for i := 1; i <= 11; i++ {
		fmt.Fprintf(&b, ", a%d=A, ...", i)
	}
	b.WriteString(", z=Z]")
	return b.String()
}

// almostMatching has 28 A fields and a Z that is not last: it passes the
// substring prefilter and fails only at the last slot.
var almostMatching = strings.Repeat("A ", 28) + "Z Y"

// TestManyEllipsisPatternBounded: a pattern with many `...` costs at
// most (fields x slots) slot checks per record (it took up to 100,000
// alignment tries, 1 ms per record, and a stored filter slows every
// import), and still gives the right answer and the same field bindings
// as trying every alignment in order.
func TestManyEllipsisPatternBounded(t *testing.T) {
	p, err := Parse(manyEllipses())
	if err != nil {
		t.Fatal(err)
	}
	var r Record
	for _, tc := range []struct {
		line string
		want bool
	}{
		{almostMatching, false},
		{strings.Repeat("A ", 28) + "Y Z", true},
		{strings.Repeat("B A ", 20) + "Z", true},
		{strings.Repeat("A ", 10) + "Z", false},
	} {
		r.Reset(tc.line)
		if got := p.Match(&r); got != tc.want {
			t.Errorf("%.30q...: match %v, want %v", tc.line, got, tc.want)
		}
		if limit := len(r.Fields()) * len(p.fields); r.work > limit {
			t.Errorf("%.30q...: %d slot checks, more than fields x slots = %d", tc.line, r.work, limit)
		}
	}
	// Random small patterns and records against every alignment tried.
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20000; i++ {
		var slots []string
		for n := rng.Intn(7); len(slots) <= n; {
			switch rng.Intn(5) {
			case 0:
				slots = append(slots, "...")
			case 1:
				slots = append(slots, fmt.Sprintf("f%d", len(slots)))
			case 2: // a condition over this field and the next
				slots = append(slots, fmt.Sprintf("f%d=%c && g%d=%c", len(slots), 'A'+rng.Intn(2), len(slots), 'A'+rng.Intn(2)))
			default:
				slots = append(slots, fmt.Sprintf("f%d=%c", len(slots), 'A'+rng.Intn(2)))
			}
		}
		var fields []string
		for n := rng.Intn(9); len(fields) < n; {
			fields = append(fields, string(rune('A'+rng.Intn(2))))
		}
		src, line := "["+strings.Join(slots, ", ")+"]", strings.Join(fields, " ")
		p, err := Parse(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		r.Reset(line)
		got := p.Match(&r)
		want, bind := alignAll(p, fields)
		if got != want {
			t.Fatalf("%s on %q: %v, want %v", src, line, got, want)
		}
		for si, f := range p.fields {
			if !want || f.ellipsis {
				continue
			}
			if v, _ := p.Field(&r, f.name); v != fields[bind[si]] {
				t.Fatalf("%s on %q: %s = %q, want %q (field %d)", src, line, f.name, v, fields[bind[si]], bind[si])
			}
		}
	}
}

// alignAll is the reference: every alignment, each ellipsis taking 0, 1,
// ... fields in turn; the first that matches gives the bindings.
func alignAll(p *Pattern, fs []string) (bool, []int) {
	bind := make([]int, len(p.fields))
	var try func(si, fi int) bool
	try = func(si, fi int) bool {
		if si == len(p.fields) {
			return fi == len(fs)
		}
		if f := &p.fields[si]; f.ellipsis {
			for skip := 0; fi+skip <= len(fs); skip++ {
				if try(si+1, fi+skip) {
					return true
				}
			}
			return false
		}
		if fi >= len(fs) || !p.fields[si].matches(fs[fi:]) {
			return false
		}
		bind[si] = fi
		return try(si+1, fi+1)
	}
	return try(0, 0), bind
}

// BenchmarkManyEllipsisPattern matches a record that passes the prefilter
// and fails only at the last of 13 slots of a 12-ellipsis pattern.
func BenchmarkManyEllipsisPattern(b *testing.B) {
	p, err := Parse(manyEllipses())
	if err != nil {
		b.Fatal(err)
	}
	var r Record
	for b.Loop() {
		r.Reset(almostMatching)
		p.Match(&r)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/record")
}
