package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/flowlens/flowlens/metricstore"
)

// MetricPoints is the conformance suite of a metricstore.Store: what
// monitors, metric filters, the internet monitor and alarms rely on,
// whichever store keeps the points. open returns a new, empty store and
// arranges for it to be closed when the test ends.
func MetricPoints(t *testing.T, open func(t *testing.T) metricstore.Store) {
	t.Run("Empty", func(t *testing.T) { testPointsEmpty(t, open(t)) })
	t.Run("RoundTrip", func(t *testing.T) { testPointsRoundTrip(t, open(t)) })
	t.Run("TimeOrderAndHalfOpenRange", func(t *testing.T) { testPointsRange(t, open(t)) })
	t.Run("RepeatedPeriodsKeepStoreOrder", func(t *testing.T) { testPointsRepeated(t, open(t)) })
	t.Run("DimensionsMatchExactly", func(t *testing.T) { testPointsDimensions(t, open(t)) })
	t.Run("ListSorted", func(t *testing.T) { testPointsList(t, open(t)) })
	t.Run("Validation", func(t *testing.T) { testPointsValidation(t, open(t)) })
	t.Run("DeleteBefore", func(t *testing.T) { testPointsDelete(t, open(t)) })
	t.Run("ConcurrentPuts", func(t *testing.T) { testPointsConcurrent(t, open(t)) })
}

var pointsT0 = time.Unix(1_700_000_000, 0)

func series(ns, metric string, dims map[string]string) metricstore.ID {
	return metricstore.ID{Namespace: ns, Metric: metric, Dimensions: dims}
}

func point(id metricstore.ID, at time.Duration, v float64) metricstore.Point {
	return metricstore.Point{Namespace: id.Namespace, Metric: id.Metric, Dimensions: id.Dimensions,
		Time: pointsT0.Add(at), Period: time.Minute, Value: v, Count: 1, Sum: v, Min: v, Max: v}
}

func put(t *testing.T, s metricstore.Store, pts ...metricstore.Point) {
	t.Helper()
	if err := s.Put(context.Background(), pts); err != nil {
		t.Fatal(err)
	}
}

func values(t *testing.T, s metricstore.Store, id metricstore.ID, start, end time.Duration) []float64 {
	t.Helper()
	pts, err := s.Query(context.Background(), metricstore.Query{ID: id, Start: pointsT0.Add(start), End: pointsT0.Add(end)})
	if err != nil {
		t.Fatal(err)
	}
	out := []float64{}
	for _, p := range pts {
		out = append(out, p.Value)
	}
	return out
}

func testPointsEmpty(t *testing.T, s metricstore.Store) {
	ctx := context.Background()
	if got := values(t, s, series("N", "m", nil), 0, time.Hour); len(got) != 0 {
		t.Errorf("empty store answers %v", got)
	}
	ids, err := s.List(ctx, "")
	if err != nil || len(ids) != 0 {
		t.Errorf("empty store lists %v, %v", ids, err)
	}
	if err := s.Put(ctx, nil); err != nil {
		t.Errorf("putting no points: %v", err)
	}
	if err := s.DeleteBefore(ctx, pointsT0); err != nil {
		t.Errorf("retention of an empty store: %v", err)
	}
}

// testPointsRoundTrip: every field of a point comes back as stored
// (times to the millisecond).
func testPointsRoundTrip(t *testing.T, s metricstore.Store) {
	id := series("FlowLens/Monitors", "round_trip_time", map[string]string{"monitor": "web", "stat": "avg"})
	want := metricstore.Point{Namespace: id.Namespace, Metric: id.Metric, Dimensions: id.Dimensions,
		Time: pointsT0.Add(1500 * time.Millisecond), Period: 10 * time.Second, Value: 5.25, Count: 3, Sum: 15.75, Min: -4, Max: 6.5}
	put(t, s, want)
	got, err := s.Query(context.Background(), metricstore.Query{ID: id, Start: pointsT0, End: pointsT0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d points, want 1: %+v", len(got), got)
	}
	g := got[0]
	if !g.Time.Equal(want.Time) || g.Period != want.Period || g.Value != want.Value || g.Count != want.Count ||
		g.Sum != want.Sum || g.Min != want.Min || g.Max != want.Max || g.Namespace != want.Namespace || g.Metric != want.Metric ||
		metricstore.DimensionKey(g.Dimensions) != metricstore.DimensionKey(want.Dimensions) {
		t.Errorf("got %+v\nwant %+v", g, want)
	}
}

// testPointsRange: points come in time order whatever order they were
// put in; Start is included, End is not.
func testPointsRange(t *testing.T, s metricstore.Store) {
	id := series("N", "m", nil)
	put(t, s, point(id, 3*time.Minute, 3), point(id, time.Minute, 1))
	put(t, s, point(id, 0, 0), point(id, 2*time.Minute, 2), point(id, 4*time.Minute, 4))
	if got, want := values(t, s, id, time.Minute, 4*time.Minute), []float64{1, 2, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("[1m, 4m): %v, want %v", got, want)
	}
	if got, want := values(t, s, id, 0, time.Hour), []float64{0, 1, 2, 3, 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("all: %v, want %v", got, want)
	}
	if got := values(t, s, id, 5*time.Minute, time.Hour); len(got) != 0 {
		t.Errorf("after the last point: %v", got)
	}
}

// testPointsRepeated: a period stored again (re-evaluated) is returned
// twice, the last stored last, within one Put and across Puts.
func testPointsRepeated(t *testing.T, s metricstore.Store) {
	id := series("N", "m", nil)
	put(t, s, point(id, time.Minute, 10), point(id, 0, 1), point(id, time.Minute, 11))
	put(t, s, point(id, time.Minute, 12))
	if got, want := values(t, s, id, 0, time.Hour), []float64{1, 10, 11, 12}; !reflect.DeepEqual(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
}

// testPointsDimensions: a series is its exact dimension set, in any key
// order; nil and empty are the same set.
func testPointsDimensions(t *testing.T, s metricstore.Store) {
	both := map[string]string{"monitor": "web", "stat": "avg"}
	put(t, s, point(series("N", "m", both), 0, 1), point(series("N", "m", map[string]string{"monitor": "web"}), 0, 2),
		point(series("N", "m", map[string]string{}), 0, 3), point(series("N", "other", both), 0, 4), point(series("M", "m", both), 0, 5))
	for _, tc := range []struct {
		id   metricstore.ID
		want []float64
	}{
		{series("N", "m", map[string]string{"stat": "avg", "monitor": "web"}), []float64{1}},
		{series("N", "m", map[string]string{"monitor": "web"}), []float64{2}},
		{series("N", "m", nil), []float64{3}},
		{series("N", "m", map[string]string{"monitor": "db"}), []float64{}},
		{series("N", "other", both), []float64{4}},
		{series("M", "m", both), []float64{5}},
	} {
		if got := values(t, s, tc.id, 0, time.Hour); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.id, got, tc.want)
		}
	}
}

// testPointsList: series sorted by namespace, metric, then dimension set
// (metricstore.DimensionKey); nil dimensions for none; a namespace
// filter.
func testPointsList(t *testing.T, s metricstore.Store) {
	a, b := map[string]string{"monitor": "a"}, map[string]string{"monitor": "b"}
	put(t, s, point(series("Z", "m", nil), 0, 1), point(series("A", "y", b), 0, 1), point(series("A", "y", a), 0, 1),
		point(series("A", "x", nil), 0, 1), point(series("A", "y", a), time.Minute, 2))
	ids, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []metricstore.ID{series("A", "x", nil), series("A", "y", a), series("A", "y", b), series("Z", "m", nil)}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("List: %+v\nwant %+v", ids, want)
	}
	ids, err = s.List(context.Background(), "Z")
	if err != nil || !reflect.DeepEqual(ids, want[3:]) {
		t.Errorf("List(Z): %+v, %v", ids, err)
	}
}

// testPointsValidation: a point or query without namespace or metric is
// refused with ErrInvalid, and a refused Put stores none of its points.
func testPointsValidation(t *testing.T, s metricstore.Store) {
	ctx := context.Background()
	good := point(series("N", "m", nil), 0, 1)
	for _, bad := range []metricstore.Point{{Metric: "m"}, {Namespace: "N"}, {Namespace: " ", Metric: "m"}} {
		if err := s.Put(ctx, []metricstore.Point{good, bad}); !errors.Is(err, metricstore.ErrInvalid) {
			t.Errorf("Put %+v: %v, want ErrInvalid", bad, err)
		}
	}
	if got := values(t, s, series("N", "m", nil), 0, time.Hour); len(got) != 0 {
		t.Errorf("a refused Put stored %v", got)
	}
	if _, err := s.Query(ctx, metricstore.Query{ID: series("", "m", nil), End: pointsT0}); !errors.Is(err, metricstore.ErrInvalid) {
		t.Errorf("Query without namespace: %v, want ErrInvalid", err)
	}
}

// testPointsDelete: DeleteBefore removes points older than the cutoff and
// keeps the one at it; a series with no point left is no longer listed.
func testPointsDelete(t *testing.T, s metricstore.Store) {
	old, kept := series("N", "old", nil), series("N", "kept", nil)
	put(t, s, point(old, 0, 1), point(kept, 0, 1), point(kept, time.Minute, 2), point(kept, 2*time.Minute, 3))
	if err := s.DeleteBefore(context.Background(), pointsT0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, want := values(t, s, kept, 0, time.Hour), []float64{2, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("after retention: %v, want %v", got, want)
	}
	ids, err := s.List(context.Background(), "")
	if err != nil || !reflect.DeepEqual(ids, []metricstore.ID{kept}) {
		t.Errorf("after retention List: %+v, %v", ids, err)
	}
}

// testPointsConcurrent: Puts from several goroutines (monitors, metric
// filters and the internet monitor publish at once) all land.
func testPointsConcurrent(t *testing.T, s metricstore.Store) {
	const writers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := series("N", fmt.Sprintf("m%d", w), nil)
			for i := 0; i < each; i++ {
				if err := s.Put(context.Background(), []metricstore.Point{point(id, time.Duration(i)*time.Minute, float64(i))}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w := 0; w < writers; w++ {
		if got := values(t, s, series("N", fmt.Sprintf("m%d", w), nil), 0, 24*time.Hour); len(got) != each {
			t.Errorf("writer %d: %d points, want %d", w, len(got), each)
		}
	}
}
