package duckdb

import (
	"slices"
	"sort"
)

// seqRange is the closed interval [lo, hi] of batch sequence numbers.
type seqRange struct{ lo, hi uint64 }

// seqSet is the set of stored sequence numbers of one agent, as sorted,
// disjoint and non-adjacent closed intervals. Agents count up with a gap
// after each restart and spool old reports that arrive late, so a handful
// of intervals covers millions of batches and lookups stay O(log n).
type seqSet struct {
	r []seqRange
}

// seqSetOf builds a set from ranges in any order, overlapping or not (rows
// appended by Write and intervals written by compaction can mix on disk).
func seqSetOf(rs []seqRange) seqSet {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b seqRange) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	var out []seqRange
	for _, r := range rs {
		if r.hi < r.lo {
			continue
		}
		if n := len(out); n > 0 && (r.lo <= out[n-1].hi || r.lo-1 == out[n-1].hi) {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return seqSet{r: out}
}

// search is the index of the first interval whose hi is >= x.
func (s *seqSet) search(x uint64) int {
	return sort.Search(len(s.r), func(i int) bool { return s.r[i].hi >= x })
}

func (s *seqSet) contains(x uint64) bool {
	i := s.search(x)
	return i < len(s.r) && s.r[i].lo <= x
}

// add inserts x and reports whether it was new. The common case, the next
// sequence of a counting agent, extends the last interval in O(1).
func (s *seqSet) add(x uint64) bool {
	n := len(s.r)
	if n > 0 && s.r[n-1].hi < x {
		if s.r[n-1].hi+1 == x {
			s.r[n-1].hi = x
		} else {
			s.r = append(s.r, seqRange{x, x})
		}
		return true
	}
	i := s.search(x)
	if i < n && s.r[i].lo <= x {
		return false
	}
	// Here x < r[i].lo (or i == n) and r[i-1].hi < x, so neither x+1 nor
	// r[i-1].hi+1 can overflow.
	joinPrev := i > 0 && s.r[i-1].hi+1 == x
	joinNext := i < n && x+1 == s.r[i].lo
	switch {
	case joinPrev && joinNext:
		s.r[i-1].hi = s.r[i].hi
		s.r = slices.Delete(s.r, i, i+1)
	case joinPrev:
		s.r[i-1].hi = x
	case joinNext:
		s.r[i].lo = x
	default:
		s.r = slices.Insert(s.r, i, seqRange{x, x})
	}
	return true
}

// ranges returns the intervals in order; the caller must not modify them.
func (s *seqSet) ranges() []seqRange { return s.r }
