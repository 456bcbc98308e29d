// Package periods keeps the per-period windows that features fill from
// the stored-flow feed (monitors, the internet monitor): which window a
// row belongs to, when a window is due (its end plus a grace for late
// agent reports), what happens to a row whose window was already closed
// (late), and how far back a stalled evaluator catches up. The windows'
// contents are the caller's.
package periods

import (
	"sort"
	"time"
)

// Config says how rows are filed and when windows close.
type Config struct {
	// Period is the window length (required, at least 1 ms).
	Period time.Duration
	// Grace is how long after a window ends it stays open for late rows.
	Grace time.Duration
	// EndClosesPeriod files a row whose interval ends exactly on a period
	// boundary into the period it closes (the interval covered it); by
	// default it goes to the period that starts there, as the flow store
	// buckets rows by end time.
	EndClosesPeriod bool
	// SkipCurrent leaves out the window in progress when the accumulator
	// is created: it would be partial. Otherwise it is the first window.
	SkipCurrent bool
	// MaxCatchUp is the most windows one Due returns; after a stall, older
	// windows are skipped rather than replayed (default 10).
	MaxCatchUp int
}

// Placement says what became of a row.
type Placement uint8

const (
	Placed Placement = iota // filed into an open window
	Late                    // its window was already closed: dropped
)

// Closed is one window taken out of the accumulator by Due.
type Closed[W any] struct {
	Start  time.Time
	Window *W
}

// Accumulator holds the open windows of one period length. It is not safe
// for concurrent use: its owner locks around it.
type Accumulator[W any] struct {
	cfg    Config
	period int64        // ms
	open   map[int64]*W // by start, Unix ms
	next   int64        // start of the first window not closed yet, Unix ms
	fresh  func(start time.Time) *W
}

// New starts an accumulator at now; fresh makes an empty window (also for
// periods without any row: silence is evaluated too).
func New[W any](cfg Config, now time.Time, fresh func(start time.Time) *W) *Accumulator[W] {
	if cfg.MaxCatchUp <= 0 {
		cfg.MaxCatchUp = 10
	}
	p := max(cfg.Period.Milliseconds(), 1)
	a := &Accumulator[W]{cfg: cfg, period: p, open: map[int64]*W{}, fresh: fresh}
	a.next = floorDiv(now.UnixMilli(), p) * p
	if cfg.SkipCurrent {
		a.next += p
	}
	return a
}

// Period is the window length.
func (a *Accumulator[W]) Period() time.Duration { return a.cfg.Period }

// StartOf is the start of the window a row ending at end belongs to.
func (a *Accumulator[W]) StartOf(end time.Time) time.Time {
	return time.UnixMilli(a.startOf(end.UnixMilli()))
}

func (a *Accumulator[W]) startOf(endMs int64) int64 {
	start := floorDiv(endMs, a.period) * a.period
	if a.cfg.EndClosesPeriod && start == endMs {
		start -= a.period
	}
	return start
}

// Window returns the open window for a row whose interval ends at end,
// creating it, or Late when that window was already closed.
func (a *Accumulator[W]) Window(end time.Time) (*W, Placement) {
	start := a.startOf(end.UnixMilli())
	if start < a.next {
		return nil, Late
	}
	w := a.open[start]
	if w == nil {
		w = a.fresh(time.UnixMilli(start))
		a.open[start] = w
	}
	return w, Placed
}

// Due takes out every window whose end plus the grace is at or before now,
// oldest first, empty ones included, at most MaxCatchUp of them (the
// newest); windows skipped by a catch-up are dropped.
func (a *Accumulator[W]) Due(now time.Time) []Closed[W] {
	limit := now.Add(-a.cfg.Grace).UnixMilli()
	last := floorDiv(limit, a.period)*a.period - a.period // newest window ended by limit
	if last < a.next {
		return nil
	}
	if n := (last-a.next)/a.period + 1; n > int64(a.cfg.MaxCatchUp) {
		a.next = last - int64(a.cfg.MaxCatchUp-1)*a.period
	}
	out := make([]Closed[W], 0, (last-a.next)/a.period+1)
	for start := a.next; start <= last; start += a.period {
		w := a.open[start]
		if w == nil {
			w = a.fresh(time.UnixMilli(start))
		}
		delete(a.open, start)
		out = append(out, Closed[W]{Start: time.UnixMilli(start), Window: w})
	}
	a.next = last + a.period
	a.dropStale()
	return out
}

// dropStale forgets windows before next (skipped by a catch-up).
func (a *Accumulator[W]) dropStale() {
	for start := range a.open {
		if start < a.next {
			delete(a.open, start)
		}
	}
}

// Open lists the starts of the windows still open, oldest first.
func (a *Accumulator[W]) Open() []time.Time {
	out := make([]time.Time, 0, len(a.open))
	for s := range a.open {
		out = append(out, time.UnixMilli(s))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// Next is the start of the first window not closed yet.
func (a *Accumulator[W]) Next() time.Time { return time.UnixMilli(a.next) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
