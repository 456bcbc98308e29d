package periods

import (
	"fmt"
	"testing"
	"time"
)

// bucket is the test's window: the rows filed into it.
type bucket struct {
	start time.Time
	rows  []int64 // row end, seconds
}

func at(sec int64) time.Time { return time.Unix(sec, 0) }

func newAcc(cfg Config, nowSec int64) *Accumulator[bucket] {
	return New(cfg, at(nowSec), func(s time.Time) *bucket { return &bucket{start: s} })
}

// TestRowsGoToTheWindowOfTheirEnd pins the boundary rule both ways.
func TestRowsGoToTheWindowOfTheirEnd(t *testing.T) {
	for _, tc := range []struct {
		name      string
		closes    bool
		endSec    int64
		wantStart int64
	}{
		{"inside, opens", false, 125, 120},
		{"inside, closes", true, 125, 120},
		{"on boundary, store rule: the period it opens", false, 120, 120},
		{"on boundary, covered rule: the period it closes", true, 120, 60},
		{"one ms after the boundary", true, 120, 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAcc(Config{Period: time.Minute, EndClosesPeriod: tc.closes}, 0)
			end := at(tc.endSec)
			if tc.name == "one ms after the boundary" {
				end = end.Add(time.Millisecond)
			}
			w, pl := a.Window(end)
			if pl != Placed || !w.start.Equal(at(tc.wantStart)) {
				t.Fatalf("row ending %s: window %v (%v), want start %d", end, w, pl, tc.wantStart)
			}
			if got := a.StartOf(end); !got.Equal(at(tc.wantStart)) {
				t.Errorf("StartOf = %s, want %d", got, tc.wantStart)
			}
		})
	}
}

// TestCurrentWindowSkippedOrKept: a monitor skips the partial window in
// progress at start; the internet monitor keeps it.
func TestCurrentWindowSkippedOrKept(t *testing.T) {
	for _, tc := range []struct {
		skip     bool
		wantNext int64
		rowLate  bool
	}{
		{skip: true, wantNext: 120, rowLate: true},
		{skip: false, wantNext: 60, rowLate: false},
	} {
		a := newAcc(Config{Period: time.Minute, SkipCurrent: tc.skip}, 90)
		if !a.Next().Equal(at(tc.wantNext)) {
			t.Errorf("skip=%v: next %s, want %d", tc.skip, a.Next(), tc.wantNext)
		}
		if _, pl := a.Window(at(95)); (pl == Late) != tc.rowLate {
			t.Errorf("skip=%v: row in the current window placed %v", tc.skip, pl)
		}
	}
}

// TestDueAfterGraceInOrderWithEmptyWindows: a window is due once its end
// plus the grace has passed; windows without rows are returned too.
func TestDueAfterGraceInOrderWithEmptyWindows(t *testing.T) {
	a := newAcc(Config{Period: time.Minute, Grace: 5 * time.Second}, 0)
	a.Window(at(10))
	a.Window(at(130))
	for _, tc := range []struct {
		now    int64
		starts []int64
	}{
		{now: 64, starts: nil},        // 0-60 ended, grace not passed
		{now: 65, starts: []int64{0}}, // grace passed exactly
		{now: 100, starts: nil},
		{now: 190, starts: []int64{60, 120}}, // 60-120 had no row
	} {
		got := a.Due(at(tc.now))
		var starts []int64
		for _, c := range got {
			starts = append(starts, c.Start.Unix())
			if !c.Window.start.Equal(c.Start) {
				t.Errorf("window %v returned for start %s", c.Window.start, c.Start)
			}
		}
		if fmt.Sprint(starts) != fmt.Sprint(tc.starts) {
			t.Errorf("Due(%d) = %v, want %v", tc.now, starts, tc.starts)
		}
	}
	if c := a.Due(at(190)); len(c) != 0 {
		t.Errorf("windows returned twice: %v", c)
	}
}

// TestLateRowsAreRefused: once a window is closed, its rows are late.
func TestLateRowsAreRefused(t *testing.T) {
	a := newAcc(Config{Period: time.Minute, Grace: 3 * time.Second}, 0)
	a.Window(at(30))
	a.Due(at(63))
	for _, tc := range []struct {
		end  int64
		want Placement
	}{{30, Late}, {59, Late}, {60, Placed}, {61, Placed}, {600, Placed}} {
		if _, pl := a.Window(at(tc.end)); pl != tc.want {
			t.Errorf("row ending %d: %v, want %v", tc.end, pl, tc.want)
		}
	}
}

// TestCatchUpSkipsOldWindows: after a stall, only the newest MaxCatchUp
// windows are returned and the older ones are dropped with their rows.
func TestCatchUpSkipsOldWindows(t *testing.T) {
	for _, tc := range []struct {
		max        int
		wantFirst  int64
		wantWindow int
	}{{max: 0, wantFirst: 840, wantWindow: 10}, {max: 3, wantFirst: 1260, wantWindow: 3}} {
		a := newAcc(Config{Period: time.Minute, MaxCatchUp: tc.max}, 0)
		for s := int64(0); s < 1500; s += 60 {
			a.Window(at(s + 1))
		}
		got := a.Due(at(1499)) // windows 0..1380 have ended: 24 of them
		if len(got) != tc.wantWindow || got[0].Start.Unix() != tc.wantFirst || got[len(got)-1].Start.Unix() != 1380 {
			t.Fatalf("max %d: %d windows from %s", tc.max, len(got), got[0].Start)
		}
		if open := a.Open(); len(open) != 1 || open[0].Unix() != 1440 {
			t.Errorf("max %d: open after catch-up %v, want only the window at 1440", tc.max, open)
		}
		if _, pl := a.Window(at(100)); pl != Late {
			t.Errorf("max %d: a row for a skipped window was placed", tc.max)
		}
	}
}
