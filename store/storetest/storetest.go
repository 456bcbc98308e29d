// Package storetest holds the conformance suites a store passes so that
// the features answer the same whichever store runs: Run for a
// store.Store (insights, retention, idempotent batches) and MetricPoints
// for a metricstore.Store. The embedded DuckDB store (store/duckdb) runs
// both; a second store must pass them too.
//
// Run assumes store.DefaultRetention and the roll-up resolutions of
// the data model (1 min, 10 min, 1 h, chosen as documented in store/duckdb:
// ByResource reads the coarsest roll-up whose width is at most a twentieth
// of the range). Its ranges are aligned to the hour, so the rounding of a
// range to a roll-up's width never changes the expected answer, and their
// lengths force each table in turn: 10 min (raw), 1 h (1-minute roll-up),
// 6 h (10-minute roll-up), 48 h (1-hour roll-up).
package storetest

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// Option adjusts Run.
type Option func(*options)

type options struct {
	reopen func(t *testing.T, s store.Store) store.Store
}

// WithReopen lets Run test that a store keeps its data and its seen-batch
// set across a restart: reopen closes s and opens the same store again.
func WithReopen(reopen func(t *testing.T, s store.Store) store.Store) Option {
	return func(o *options) { o.reopen = reopen }
}

// Run runs the suite. open returns a new, empty store with the default
// retention, and arranges for it to be closed when the test ends; Close
// must tolerate being called twice.
func Run(t *testing.T, open func(t *testing.T) store.Store, opts ...Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	t.Run("EmptyStore", func(t *testing.T) { testEmpty(t, open(t)) })
	t.Run("TotalsExactPerTable", func(t *testing.T) { testTotals(t, open(t)) })
	t.Run("UnalignedRawRange", func(t *testing.T) { testUnalignedRaw(t, open(t)) })
	t.Run("Duplicates", func(t *testing.T) { testDuplicates(t, open(t)) })
	t.Run("EpochsAreSeparateKeySpaces", func(t *testing.T) { testEpochs(t, open(t)) })
	t.Run("CategoryFilter", func(t *testing.T) { testCategory(t, open(t)) })
	t.Run("EnrichmentAttributes", func(t *testing.T) { testAttributes(t, open(t)) })
	t.Run("Validation", func(t *testing.T) { testValidation(t, open(t)) })
	t.Run("SortedAndLimited", func(t *testing.T) { testSortedLimited(t, open(t)) })
	t.Run("SeriesSumsToTop", func(t *testing.T) { testSeries(t, open(t)) })
	t.Run("LateData", func(t *testing.T) { testLateData(t, open(t)) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, open(t)) })
	t.Run("ConcurrentReads", func(t *testing.T) { testConcurrentReads(t, open(t)) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, open(t)) })
	t.Run("ReopenKeepsSeen", func(t *testing.T) {
		if o.reopen == nil {
			t.Skip("store does not support reopening (no WithReopen)")
		}
		testReopen(t, open(t), o.reopen)
	})
}

// anchor is the hour-aligned end of the test data, recent enough for every
// retention to cover two days before it.
func anchor() time.Time { return time.Now().UTC().Truncate(time.Hour).Add(-time.Hour) }

// dataset writes 50 hours of 7-minute intervals ending at end (some ends
// fall on hour boundaries, exercising the half-open ranges).
func dataset(t *testing.T, s store.Store, end time.Time) []*store.Batch {
	t.Helper()
	f := newFleet()
	batches := f.batches(1, end, 7*time.Minute, 50*60/7, 1)
	write(t, s, batches, 40)
	return batches
}

// write stores batches in calls of per batches and fails on duplicates.
func write(t *testing.T, s store.Store, batches []*store.Batch, per int) {
	t.Helper()
	for len(batches) > 0 {
		n := min(per, len(batches))
		dup, err := s.Write(context.Background(), batches[:n])
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		if len(dup) != n {
			t.Fatalf("Write returned %d dup flags for %d batches", len(dup), n)
		}
		for i, d := range dup {
			if d {
				t.Fatalf("batch %s/%d reported duplicate", batches[i].AgentID, batches[i].Sequence)
			}
		}
		batches = batches[n:]
	}
}

func top(t *testing.T, s store.Store, q store.TopQuery) []store.TopRow {
	t.Helper()
	rows, err := s.Top(context.Background(), q)
	if err != nil {
		t.Fatalf("Top(%s by %d %s..%s): %v", q.Metric, q.By, q.Start, q.End, err)
	}
	return rows
}

var metrics = []store.Metric{store.MetricDataTransferred, store.MetricRetransmissions,
	store.MetricTimeouts, store.MetricRoundTripTime}

var groupings = []store.Grouping{store.ByResource, store.ByFlow}

// checkTop compares a Top answer with the expected totals: the same groups
// (all of them when the limit allows), exact totals, exact values.
func checkTop(t *testing.T, what string, q store.TopQuery, got []store.TopRow, want map[any]store.Totals) {
	t.Helper()
	n := 0
	for _, tot := range want {
		if _, ok := valueOf(q.Metric, tot); ok {
			n++
		}
	}
	if len(got) != min(n, q.Limit) {
		t.Errorf("%s: %d rows, want %d", what, len(got), min(n, q.Limit))
	}
	seen := make(map[any]bool)
	for i, r := range got {
		k := groupOfTop(q.By, &r)
		if seen[k] {
			t.Errorf("%s: group %v returned twice", what, k)
		}
		seen[k] = true
		tot, ok := want[k]
		if !ok {
			t.Errorf("%s: unexpected group %+v", what, k)
			continue
		}
		if r.Totals != tot {
			t.Errorf("%s: group %v totals\n got %+v\nwant %+v", what, k, r.Totals, tot)
		}
		v, _ := valueOf(q.Metric, tot)
		if !closeTo(r.Value, v) {
			t.Errorf("%s: group %v value %v, want %v", what, k, r.Value, v)
		}
		if i > 0 && got[i-1].Value < r.Value {
			t.Errorf("%s: row %d value %v above previous %v", what, i, r.Value, got[i-1].Value)
		}
		if q.Category != nil && r.Category != *q.Category {
			t.Errorf("%s: row category %s, filter %s", what, r.Category, *q.Category)
		}
	}
}

func closeTo(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// tableRanges are ranges ending at end that force each table.
func tableRanges(end time.Time) []struct {
	name       string
	start, end time.Time
} {
	return []struct {
		name       string
		start, end time.Time
	}{
		{"raw 10m", end.Add(-10 * time.Minute), end},
		{"1m roll-up 1h", end.Add(-time.Hour), end},
		{"10m roll-up 6h", end.Add(-6 * time.Hour), end},
		{"1h roll-up 48h", end.Add(-48 * time.Hour), end},
		{"1h roll-up 2d shifted", end.Add(-49 * time.Hour), end.Add(-time.Hour)},
	}
}

func testEmpty(t *testing.T, s store.Store) {
	end := anchor()
	for _, by := range groupings {
		rows := top(t, s, store.TopQuery{Start: end.Add(-48 * time.Hour), End: end, Limit: 10, By: by})
		if len(rows) != 0 {
			t.Errorf("empty store returned %d rows", len(rows))
		}
	}
	dup, err := s.Write(context.Background(), nil)
	if err != nil || len(dup) != 0 {
		t.Errorf("Write(nil) = %v, %v; want no flags, no error", dup, err)
	}
}

func testTotals(t *testing.T, s store.Store) {
	end := anchor()
	batches := dataset(t, s, end)
	check := func(stage string) {
		for _, rg := range tableRanges(end) {
			for _, by := range groupings {
				want := expected(batches, by, nil, rg.start, rg.end)
				if len(want) == 0 {
					t.Fatalf("%s: test data has no rows", rg.name)
				}
				for _, m := range metrics {
					q := store.TopQuery{Metric: m, Start: rg.start, End: rg.end, Limit: store.MaxLimit, By: by}
					checkTop(t, stage+" "+rg.name+" "+m.String(), q, top(t, s, q), want)
				}
			}
		}
	}
	check("before Maintain")
	if err := s.Maintain(context.Background(), time.Now()); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	check("after Maintain")
}

// testUnalignedRaw checks a short range whose ends are not aligned to
// anything: it reads raw rows and must be exact to the millisecond.
func testUnalignedRaw(t *testing.T, s store.Store) {
	end := anchor()
	batches := dataset(t, s, end)
	start := end.Add(-17*time.Minute - 123*time.Millisecond)
	stop := end.Add(-2*time.Minute + 7*time.Millisecond)
	for _, by := range groupings {
		want := expected(batches, by, nil, start, stop)
		q := store.TopQuery{Metric: store.MetricDataTransferred, Start: start, End: stop, Limit: store.MaxLimit, By: by}
		checkTop(t, "unaligned", q, top(t, s, q), want)
	}
	// A range starting exactly at a row's end includes it; one ending there
	// excludes it.
	at := end.Add(-7 * time.Minute)
	for _, by := range groupings {
		q := store.TopQuery{Start: at, End: at.Add(time.Millisecond), Limit: store.MaxLimit, By: by}
		checkTop(t, "start boundary", q, top(t, s, q), expected(batches, by, nil, q.Start, q.End))
		q = store.TopQuery{Start: at.Add(-time.Minute), End: at, Limit: store.MaxLimit, By: by}
		if rows := top(t, s, q); len(rows) != 0 {
			t.Errorf("range ending at a row's end returned %d rows, want 0", len(rows))
		}
	}
}

func testDuplicates(t *testing.T, s store.Store) {
	end := anchor()
	f := newFleet()
	all := f.batches(2, end, 7*time.Minute, 4, 100) // 12 batches
	a, b, c := all[0], all[1], all[2]
	bAgain := f.batches(3, end, 7*time.Minute, 4, 100)[1] // same id as b, other counters
	ctx := context.Background()
	steps := []struct {
		batches []*store.Batch
		want    []bool
	}{
		{[]*store.Batch{a}, []bool{false}},
		{[]*store.Batch{a}, []bool{true}},
		{[]*store.Batch{b, bAgain}, []bool{false, true}},
		{[]*store.Batch{c, a, c, b}, []bool{false, true, true, true}},
		{[]*store.Batch{}, []bool{}},
	}
	for i, st := range steps {
		dup, err := s.Write(ctx, st.batches)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !slices.Equal(dup, st.want) {
			t.Errorf("step %d: dup = %v, want %v", i, dup, st.want)
		}
	}
	stored := []*store.Batch{a, b, c}
	for _, rg := range tableRanges(end.Add(time.Hour)) {
		for _, by := range groupings {
			q := store.TopQuery{Start: rg.start, End: rg.end, Limit: store.MaxLimit, By: by}
			checkTop(t, "duplicates "+rg.name, q, top(t, s, q), expected(stored, by, nil, rg.start, rg.end))
		}
	}
}

// testEpochs: an agent whose spool was lost starts again at sequence 1 in
// a new epoch. Its batches are new, not replays of the old epoch's (the
// data loss a second simulator run used to cause); each epoch still
// deduplicates on its own.
func testEpochs(t *testing.T, s store.Store) {
	end := anchor()
	f := newFleet()
	old := f.batches(4, end, 7*time.Minute, 3, 1)
	renewed := f.batches(5, end.Add(-time.Hour), 7*time.Minute, 3, 1) // same agents and sequences
	for _, b := range renewed {
		b.Epoch = 0x9e3779b97f4a7c15
	}
	ctx := context.Background()
	for i, st := range []struct {
		batches []*store.Batch
		want    bool
	}{{old, false}, {renewed, false}, {old, true}, {renewed, true}} {
		dup, err := s.Write(ctx, st.batches)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		for j, d := range dup {
			if d != st.want {
				t.Errorf("step %d: batch %s epoch %x seq %d: duplicate %v, want %v", i,
					st.batches[j].AgentID, st.batches[j].Epoch, st.batches[j].Sequence, d, st.want)
			}
		}
	}
	all := append(slices.Clone(old), renewed...)
	for _, rg := range tableRanges(end.Add(time.Hour)) {
		for _, by := range groupings {
			q := store.TopQuery{Start: rg.start, End: rg.end, Limit: store.MaxLimit, By: by}
			checkTop(t, "two epochs "+rg.name, q, top(t, s, q), expected(all, by, nil, rg.start, rg.end))
		}
	}
}

func testCategory(t *testing.T, s store.Store) {
	end := anchor()
	batches := dataset(t, s, end)
	for _, cat := range []topology.Category{topology.CategoryInterZone, topology.CategoryInternet, topology.CategoryInterRegion} {
		for _, rg := range tableRanges(end) {
			for _, by := range groupings {
				q := store.TopQuery{Category: &cat, Start: rg.start, End: rg.end, Limit: store.MaxLimit, By: by}
				checkTop(t, "category "+cat.String()+" "+rg.name, q, top(t, s, q), expected(batches, by, &cat, rg.start, rg.end))
			}
		}
	}
}

func testValidation(t *testing.T, s store.Store) {
	end := anchor()
	ok := store.TopQuery{Start: end.Add(-time.Hour), End: end, Limit: 10}
	badCat := topology.Category(200)
	bad := []struct {
		name string
		mod  func(*store.TopQuery)
	}{
		{"limit 0", func(q *store.TopQuery) { q.Limit = 0 }},
		{"attribute name", func(q *store.TopQuery) { q.By, q.Attribute.Name = store.ByAttribute, "Team; DROP" }},
		{"attribute end", func(q *store.TopQuery) { q.By, q.Attribute = store.ByAttribute, store.AttrRef{End: 9, Name: "team"} }},
		{"limit -1", func(q *store.TopQuery) { q.Limit = -1 }},
		{"limit 501", func(q *store.TopQuery) { q.Limit = store.MaxLimit + 1 }},
		{"end before start", func(q *store.TopQuery) { q.Start, q.End = q.End, q.Start }},
		{"empty range", func(q *store.TopQuery) { q.Start = q.End }},
		{"zero start", func(q *store.TopQuery) { q.Start = time.Time{} }},
		{"unknown metric", func(q *store.TopQuery) { q.Metric = 99 }},
		{"unknown grouping", func(q *store.TopQuery) { q.By = 9 }},
		{"unknown category", func(q *store.TopQuery) { q.Category = &badCat }},
	}
	ctx := context.Background()
	for _, b := range bad {
		q := ok
		b.mod(&q)
		if _, err := s.Top(ctx, q); !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("Top %s: err = %v, want ErrInvalidQuery", b.name, err)
		}
		if _, err := s.Series(ctx, store.SeriesQuery{TopQuery: q}); !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("Series %s: err = %v, want ErrInvalidQuery", b.name, err)
		}
	}
	for _, limit := range []int{1, store.MaxLimit} {
		q := ok
		q.Limit = limit
		if _, err := s.Top(ctx, q); err != nil {
			t.Errorf("Top limit %d: %v", limit, err)
		}
	}
	for _, step := range []time.Duration{-time.Minute, time.Millisecond, 1500 * time.Microsecond, time.Second / 2} {
		if _, err := s.Series(ctx, store.SeriesQuery{TopQuery: ok, Step: step}); !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("Series step %s: err = %v, want ErrInvalidQuery", step, err)
		}
	}
	tooMany := store.SeriesQuery{TopQuery: ok, Step: time.Second}
	tooMany.Start = end.Add(-30 * 24 * time.Hour)
	if _, err := s.Series(ctx, tooMany); !errors.Is(err, store.ErrInvalidQuery) {
		t.Errorf("Series with %d buckets: err = %v, want ErrInvalidQuery", 30*86400, err)
	}
}

func testSortedLimited(t *testing.T, s store.Store) {
	end := anchor()
	batches := dataset(t, s, end)
	for _, rg := range tableRanges(end) {
		for _, by := range groupings {
			for _, m := range metrics {
				want := expected(batches, by, nil, rg.start, rg.end)
				var values []float64
				for _, tot := range want {
					if v, ok := valueOf(m, tot); ok {
						values = append(values, v)
					}
				}
				slices.SortFunc(values, func(a, b float64) int { return -compareFloat(a, b) })
				q := store.TopQuery{Metric: m, Start: rg.start, End: rg.end, Limit: 2, By: by}
				got := top(t, s, q)
				if len(got) != min(2, len(values)) {
					t.Fatalf("%s %s: %d rows, want %d", rg.name, m, len(got), min(2, len(values)))
				}
				for i, r := range got {
					if !closeTo(r.Value, values[i]) {
						t.Errorf("%s %s: row %d value %v, want %v", rg.name, m, i, r.Value, values[i])
					}
				}
				again := top(t, s, q)
				for i := range got {
					if groupOfTop(by, &got[i]) != groupOfTop(by, &again[i]) {
						t.Errorf("%s %s: order differs between two identical queries", rg.name, m)
					}
				}
			}
		}
	}
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testSeries(t *testing.T, s store.Store) {
	end := anchor()
	batches := dataset(t, s, end)
	cases := []struct {
		name       string
		start, end time.Time
		step       time.Duration
	}{
		{"2d by 1h", end.Add(-48 * time.Hour), end, time.Hour},
		{"6h by 10m", end.Add(-6 * time.Hour), end, 10 * time.Minute},
		{"6h by 7m", end.Add(-6 * time.Hour), end, 7 * time.Minute},
		{"1h by 90s", end.Add(-time.Hour), end, 90 * time.Second},
		{"2d default step", end.Add(-48 * time.Hour), end, 0},
	}
	for _, c := range cases {
		for _, by := range groupings {
			for _, m := range metrics {
				q := store.SeriesQuery{TopQuery: store.TopQuery{Metric: m, Start: c.start, End: c.end, Limit: store.MaxLimit, By: by}, Step: c.step}
				series, err := s.Series(context.Background(), q)
				if err != nil {
					t.Fatalf("Series %s: %v", c.name, err)
				}
				what := "series " + c.name + " " + m.String()
				rows := make([]store.TopRow, len(series))
				for i := range series {
					rows[i] = series[i].Row
				}
				want := expected(batches, by, nil, c.start, c.end)
				checkTop(t, what, q.TopQuery, rows, want)
				checkPoints(t, what, q, series)
			}
		}
	}
}

// checkPoints verifies bucket alignment and order, and that additive
// metrics' points sum to the row's value.
func checkPoints(t *testing.T, what string, q store.SeriesQuery, series []store.Series) {
	t.Helper()
	step := q.EffectiveStep()
	for _, sr := range series {
		var sum float64
		for i, p := range sr.Points {
			if p.Time.UnixMilli()%step.Milliseconds() != 0 {
				t.Errorf("%s: point %s not aligned to %s", what, p.Time, step)
			}
			if i > 0 && !p.Time.After(sr.Points[i-1].Time) {
				t.Errorf("%s: points out of order at %s", what, p.Time)
			}
			if !p.Time.After(q.Start.Add(-step)) || !p.Time.Before(q.End) {
				t.Errorf("%s: point %s outside %s..%s", what, p.Time, q.Start, q.End)
			}
			sum += p.Value
		}
		if q.Metric != store.MetricRoundTripTime && sum != sr.Row.Value {
			t.Errorf("%s: points sum to %v, row value %v", what, sum, sr.Row.Value)
		}
		if len(sr.Points) == 0 {
			t.Errorf("%s: contributor without points", what)
		}
	}
}

func testLateData(t *testing.T, s store.Store) {
	end := anchor()
	batches := dataset(t, s, end)
	ctx := context.Background()
	if err := s.Maintain(ctx, time.Now()); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	// Reports spooled by an agent that was cut off for a day arrive now:
	// new sequences, old intervals, some on bucket boundaries.
	f := newFleet()
	late := f.batches(9, end.Add(-30*time.Hour), 10*time.Minute, 12, 10_000)
	late = append(late, f.batches(10, end.Add(-5*time.Hour+time.Millisecond), time.Minute, 3, 20_000)...)
	write(t, s, late, 7)
	all := append(slices.Clone(batches), late...)
	check := func(stage string) {
		for _, rg := range append(tableRanges(end), tableRanges(end.Add(-29*time.Hour))...) {
			for _, by := range groupings {
				q := store.TopQuery{Start: rg.start, End: rg.end, Limit: store.MaxLimit, By: by}
				checkTop(t, stage+" "+rg.name, q, top(t, s, q), expected(all, by, nil, rg.start, rg.end))
			}
		}
	}
	check("late data before Maintain")
	if err := s.Maintain(ctx, time.Now()); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	check("late data after Maintain")
}

func testRetention(t *testing.T, s store.Store) {
	end := anchor()
	ctx := context.Background()
	f := newFleet()
	old := f.batches(4, end.Add(-8*24*time.Hour), time.Hour, 3, 1)
	recent := f.batches(5, end, time.Hour, 3, 1000)
	write(t, s, append(slices.Clone(old), recent...), 5)
	now := time.Now()
	if err := s.Maintain(ctx, now); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	whole := store.TopQuery{Start: end.Add(-9 * 24 * time.Hour), End: end.Add(time.Hour), Limit: store.MaxLimit}
	// Raw rows older than 7 days are gone: ByFlow sees only recent ones.
	q := whole
	q.By = store.ByFlow
	checkTop(t, "raw after retention", q, top(t, s, q), expected(recent, store.ByFlow, nil, q.Start, q.End))
	// The 1-hour roll-up keeps 400 days: ByResource still sees both.
	q.By = store.ByResource
	both := append(slices.Clone(old), recent...)
	checkTop(t, "1h roll-up after raw retention", q, top(t, s, q), expected(both, store.ByResource, nil, q.Start, q.End))
	// Far in the future everything has expired.
	if err := s.Maintain(ctx, now.Add(401*24*time.Hour)); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	for _, by := range groupings {
		q.By = by
		if rows := top(t, s, q); len(rows) != 0 {
			t.Errorf("after all retention by %d: %d rows, want 0", by, len(rows))
		}
	}
	// The seen set outlives retention: an old batch is still a duplicate.
	dup, err := s.Write(ctx, old[:1])
	if err != nil || len(dup) != 1 || !dup[0] {
		t.Errorf("rewrite of an expired batch: dup %v, err %v; want duplicate", dup, err)
	}
}

func testConcurrentReads(t *testing.T, s store.Store) {
	end := anchor()
	f := newFleet()
	batches := f.batches(6, end, 7*time.Minute, 200, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				q := store.TopQuery{Start: end.Add(-48 * time.Hour), End: end.Add(time.Hour), Limit: 10, By: groupings[i]}
				if _, err := s.Top(ctx, q); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		}()
	}
	write(t, s, batches, 25)
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Top during Write: %v", err)
	}
	q := store.TopQuery{Start: end.Add(-48 * time.Hour), End: end.Add(time.Hour), Limit: store.MaxLimit, By: store.ByFlow}
	checkTop(t, "after concurrent writes", q, top(t, s, q), expected(batches, store.ByFlow, nil, q.Start, q.End))
}

func testClosed(t *testing.T, s store.Store) {
	end := anchor()
	dataset(t, s, end)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	if _, err := s.Write(ctx, newFleet().batches(1, end, time.Minute, 1, 999_999)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	q := store.TopQuery{Start: end.Add(-time.Hour), End: end, Limit: 10}
	if _, err := s.Top(ctx, q); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Top after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Series(ctx, store.SeriesQuery{TopQuery: q}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Series after Close: %v, want ErrClosed", err)
	}
	if err := s.Maintain(ctx, time.Now()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Maintain after Close: %v, want ErrClosed", err)
	}
}

func testReopen(t *testing.T, s store.Store, reopen func(*testing.T, store.Store) store.Store) {
	end := anchor()
	f := newFleet()
	first := f.batches(7, end, 7*time.Minute, 10, 1)
	write(t, s, first, 10)
	ctx := context.Background()
	if err := s.Maintain(ctx, time.Now()); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	s = reopen(t, s)
	dup, err := s.Write(ctx, first)
	if err != nil {
		t.Fatalf("Write after reopen: %v", err)
	}
	for i, d := range dup {
		if !d {
			t.Errorf("batch %s/%d stored before reopen not seen as duplicate", first[i].AgentID, first[i].Sequence)
		}
	}
	// Sequences after a restart gap, and one that fills a hole, are new.
	more := f.batches(8, end.Add(-2*time.Hour), 7*time.Minute, 2, 5000)
	write(t, s, more, 10)
	s = reopen(t, s)
	all := append(slices.Clone(first), more...)
	for _, rg := range tableRanges(end.Add(time.Hour)) {
		for _, by := range groupings {
			q := store.TopQuery{Start: rg.start, End: rg.end, Limit: store.MaxLimit, By: by}
			checkTop(t, "after reopen "+rg.name, q, top(t, s, q), expected(all, by, nil, rg.start, rg.end))
		}
	}
	dup, err = s.Write(ctx, more)
	if err != nil || slices.Contains(dup, false) {
		t.Errorf("rewrite after second reopen: dup %v, err %v", dup, err)
	}
}
