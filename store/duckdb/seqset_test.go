package duckdb

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSeqSetAdd(t *testing.T) {
	tests := []struct {
		name string
		adds []uint64
		want []seqRange
		news []bool
	}{
		{"counting", []uint64{1, 2, 3}, []seqRange{{1, 3}}, []bool{true, true, true}},
		{"duplicate", []uint64{5, 5}, []seqRange{{5, 5}}, []bool{true, false}},
		{"restart gap", []uint64{1, 2, 1026, 1027}, []seqRange{{1, 2}, {1026, 1027}}, []bool{true, true, true, true}},
		{"late fills hole", []uint64{1, 3, 2}, []seqRange{{1, 3}}, []bool{true, true, true}},
		{"late joins next", []uint64{1, 10, 9}, []seqRange{{1, 1}, {9, 10}}, []bool{true, true, true}},
		{"late joins previous", []uint64{1, 10, 2}, []seqRange{{1, 2}, {10, 10}}, []bool{true, true, true}},
		{"late alone", []uint64{1, 10, 5}, []seqRange{{1, 1}, {5, 5}, {10, 10}}, []bool{true, true, true}},
		{"before all", []uint64{10, 3}, []seqRange{{3, 3}, {10, 10}}, []bool{true, true}},
		{"inside interval", []uint64{1, 2, 3, 2}, []seqRange{{1, 3}}, []bool{true, true, true, false}},
		{"zero", []uint64{0, 1}, []seqRange{{0, 1}}, []bool{true, true}},
		{"max", []uint64{math.MaxUint64, math.MaxUint64 - 1, math.MaxUint64}, []seqRange{{math.MaxUint64 - 1, math.MaxUint64}}, []bool{true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s seqSet
			for i, x := range tt.adds {
				if got := s.add(x); got != tt.news[i] {
					t.Errorf("add(%d) = %v, want %v", x, got, tt.news[i])
				}
				if !s.contains(x) {
					t.Errorf("contains(%d) false after add", x)
				}
			}
			if !slices.Equal(s.ranges(), tt.want) {
				t.Errorf("ranges = %v, want %v", s.ranges(), tt.want)
			}
		})
	}
}

// TestSeqSetRandom compares with a map under the traffic the server sees:
// counting agents, restart gaps, late spooled reports and replays.
func TestSeqSetRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s seqSet
	ref := make(map[uint64]bool)
	next := uint64(1)
	for range 20000 {
		var x uint64
		switch r := rng.IntN(10); {
		case r < 6:
			x = next
			next++
		case r < 7:
			next += 1 + rng.Uint64N(1024)
			x = next
		default:
			x = 1 + rng.Uint64N(next)
		}
		if got, want := s.add(x), !ref[x]; got != want {
			t.Fatalf("add(%d) = %v, want %v", x, got, want)
		}
		ref[x] = true
	}
	for x := uint64(0); x <= next+2; x++ {
		if s.contains(x) != ref[x] {
			t.Fatalf("contains(%d) = %v, want %v", x, s.contains(x), ref[x])
		}
	}
	rs := s.ranges()
	for i := 1; i < len(rs); i++ {
		if rs[i].lo <= rs[i-1].hi+1 {
			t.Fatalf("ranges %v and %v overlap or touch", rs[i-1], rs[i])
		}
	}
	// Rebuilding from the intervals plus redundant single rows (what
	// batch_seen holds between compactions) gives the same set.
	mixed := slices.Clone(rs)
	for x := range ref {
		if rng.IntN(4) == 0 {
			mixed = append(mixed, seqRange{x, x})
		}
	}
	rng.Shuffle(len(mixed), func(i, j int) { mixed[i], mixed[j] = mixed[j], mixed[i] })
	rebuilt := seqSetOf(mixed)
	if !slices.Equal(rebuilt.ranges(), rs) {
		t.Fatalf("seqSetOf differs: %d ranges, want %d", len(rebuilt.ranges()), len(rs))
	}
}

func TestSeqSetOf(t *testing.T) {
	got := seqSetOf([]seqRange{{5, 5}, {1, 3}, {4, 4}, {10, 12}, {11, 11}, {7, 6}})
	want := []seqRange{{1, 5}, {10, 12}}
	if !slices.Equal(got.ranges(), want) {
		t.Errorf("seqSetOf = %v, want %v", got.ranges(), want)
	}
}
