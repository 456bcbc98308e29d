package alarm

import (
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/metricstore"
)

// series turns "0 X - X" into datapoints, oldest first: X breaches the
// threshold 5 (value 10), 0 does not (value 1), - is a missing period.
func series(s string) []Datapoint {
	t0 := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	var out []Datapoint
	for i, f := range strings.Fields(s) {
		p := Datapoint{Time: t0.Add(time.Duration(i) * time.Minute)}
		switch f {
		case "X":
			p.Value = 10
		case "0":
			p.Value = 1
		case "-":
			p.Missing = true
		default:
			panic("bad series token " + f)
		}
		out = append(out, p)
	}
	return out
}

func TestDecideMOutOfN(t *testing.T) {
	// Every missing-data mode on the same windows. M of N, gaps anywhere:
	// the breaching points need not be consecutive.
	type want struct{ missing, ignore, breaching, notBreaching State }
	cases := []struct {
		name    string
		m, n    int
		points  string
		current State
		want    want
	}{
		{"3 of 3 all breaching", 3, 3, "X X X", OK, want{Alarming, Alarming, Alarming, Alarming}},
		{"3 of 3 one not breaching", 3, 3, "X 0 X", Alarming, want{OK, OK, OK, OK}},
		{"2 of 3 not consecutive", 2, 3, "X 0 X", OK, want{Alarming, Alarming, Alarming, Alarming}},
		{"2 of 3 only one breaching", 2, 3, "0 0 X", Alarming, want{OK, OK, OK, OK}},
		{"2 of 5 with gaps", 2, 5, "X - 0 - X", OK, want{Alarming, Alarming, Alarming, Alarming}},
		{"3 of 5 gaps decide", 3, 5, "X - 0 - X", OK, want{OK, OK, Alarming, OK}},
		{"3 of 5 enough data not breaching", 3, 5, "X 0 - 0 X", Alarming, want{OK, OK, Alarming, OK}},
		{"all missing from OK", 2, 3, "- - -", OK, want{InsufficientData, OK, Alarming, OK}},
		{"all missing from ALARM", 2, 3, "- - -", Alarming, want{InsufficientData, Alarming, Alarming, OK}},
		{"all missing never evaluated", 1, 1, "-", InsufficientData, want{InsufficientData, InsufficientData, Alarming, OK}},
		{"lone breaching point 3 of 3", 3, 3, "- X -", OK, want{Alarming, OK, Alarming, OK}},
		{"lone breaching point kept in ALARM", 3, 3, "- X -", Alarming, want{Alarming, Alarming, Alarming, OK}},
		{"lone non-breaching point", 2, 3, "- - 0", Alarming, want{OK, OK, Alarming, OK}},
		{"two points fewer than M one breaching", 3, 4, "X - 0 -", Alarming, want{OK, Alarming, Alarming, OK}},
		{"two points fewer than M both breaching", 3, 4, "X - X -", OK, want{Alarming, OK, Alarming, OK}},
		{"1 of 1", 1, 1, "X", OK, want{Alarming, Alarming, Alarming, Alarming}},
		{"1 of 3 recovers", 1, 3, "0 0 0", Alarming, want{OK, OK, OK, OK}},
		{"1 of 3 latest missing", 1, 3, "0 0 -", Alarming, want{OK, OK, Alarming, OK}},
		{"short input counts as missing", 2, 4, "X X", OK, want{Alarming, Alarming, Alarming, Alarming}},
		{"only the last N real points count", 2, 2, "X X 0 0", Alarming, want{OK, OK, OK, OK}},
		{"older real points fill in for missing recent ones", 2, 3, "X X - - 0", OK, want{Alarming, Alarming, Alarming, Alarming}},
		// CloudWatch's documented examples (5-period evaluation range).
		{"CW 3/3: 0 - X - X", 3, 3, "0 - X - X", OK, want{OK, OK, OK, OK}},
		{"CW 3/3: - - - - -", 3, 3, "- - - - -", OK, want{InsufficientData, OK, Alarming, OK}},
		{"CW 3/3: - - X - -", 3, 3, "- - X - -", OK, want{Alarming, OK, Alarming, OK}},
		{"CW 2/3: 0 - X - X", 2, 3, "0 - X - X", OK, want{Alarming, Alarming, Alarming, Alarming}},
		{"CW 2/3: 0 0 X 0 X", 2, 3, "0 0 X 0 X", OK, want{Alarming, Alarming, Alarming, Alarming}},
		{"CW 2/3: 0 - X - -", 2, 3, "0 - X - -", OK, want{OK, OK, Alarming, OK}},
		{"CW 2/3: - - - - 0", 2, 3, "- - - - 0", OK, want{OK, OK, Alarming, OK}},
		{"CW 2/3: - - X - -", 2, 3, "- - X - -", Alarming, want{Alarming, Alarming, Alarming, OK}},
	}
	modes := []TreatMissing{Missing, Ignore, Breaching, NotBreaching}
	for _, c := range cases {
		for i, mode := range modes {
			expect := []State{c.want.missing, c.want.ignore, c.want.breaching, c.want.notBreaching}[i]
			r := Rule{Comparison: GreaterOrEqual, Threshold: 5, EvaluationPeriods: c.n, DatapointsToAlarm: c.m, TreatMissingData: mode}
			d := Decide(r, series(c.points), c.current)
			if d.State != expect {
				t.Errorf("%s [%s] %d of %d, current %s: got %s, want %s (%s)", c.name, c.points, c.m, c.n, c.current, d.State, expect, d.Reason)
			}
			if d.Reason == "" {
				t.Errorf("%s [%s]: empty reason", c.name, mode)
			}
		}
	}
}

func TestDecideOperators(t *testing.T) {
	cases := []struct {
		op    Comparison
		value float64
		want  State
	}{
		{GreaterOrEqual, 5, Alarming}, {GreaterOrEqual, 4.9, OK},
		{Greater, 5, OK}, {Greater, 5.1, Alarming},
		{Less, 5, OK}, {Less, 4.9, Alarming},
		{LessOrEqual, 5, Alarming}, {LessOrEqual, 5.1, OK},
	}
	for _, c := range cases {
		r := Rule{Comparison: c.op, Threshold: 5, EvaluationPeriods: 1, DatapointsToAlarm: 1, TreatMissingData: Missing}
		if got := Decide(r, []Datapoint{{Value: c.value}}, OK).State; got != c.want {
			t.Errorf("%v %s 5: got %s, want %s", c.value, c.op, got, c.want)
		}
	}
}

func TestDecideReason(t *testing.T) {
	r := Rule{Comparison: GreaterOrEqual, Threshold: 5, EvaluationPeriods: 3, DatapointsToAlarm: 2, TreatMissingData: Missing}
	d := Decide(r, series("X - X"), OK)
	want := "Threshold Crossed: 2 out of the last 3 datapoints (1 missing, not counted) were greater than or equal to the threshold (5) " +
		"[10 (2026-11-22T07:00:00Z), 10 (2026-11-22T07:02:00Z)] (minimum 2 datapoints for ALARM)."
	if d.Reason != want {
		t.Errorf("reason:\n got %s\nwant %s", d.Reason, want)
	}
	d = Decide(r, series("- - -"), OK)
	if d.Reason != "Insufficient Data: no datapoints were received in the last 3 periods." {
		t.Errorf("reason: %s", d.Reason)
	}
}

func TestDatapointsStatistics(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UTC() // a multiple of 10 s and 60 s
	pt := func(off time.Duration, v float64, count uint64, sum, lo, hi float64) metricstore.Point {
		return metricstore.Point{Time: t0.Add(off), Period: 10 * time.Second, Value: v, Count: count, Sum: sum, Min: lo, Max: hi}
	}
	points := []metricstore.Point{
		pt(0, 2, 2, 4, 1, 3),                 // period 0: samples 1..3
		pt(10*time.Second, 6, 3, 18, 5, 8),   // period 0
		pt(60*time.Second, 7, 0, 0, 0, 0),    // period 1: a gauge value
		pt(60*time.Second, 9, 0, 0, 0, 0),    // re-published: supersedes 7
		pt(180*time.Second, 1, 0, 0, 0, 0),   // outside the window
		pt(-10*time.Second, 100, 0, 0, 0, 0), // before the window
	}
	end := t0.Add(3 * time.Minute)
	cases := []struct {
		st   Statistic
		want []float64
	}{
		{Average, []float64{22.0 / 5, 9}},
		{Sum, []float64{22, 9}},
		{Minimum, []float64{1, 9}},
		{Maximum, []float64{8, 9}},
		{SampleCount, []float64{5, 1}},
	}
	for _, c := range cases {
		dps := Datapoints(points, c.st, time.Minute, 3, end)
		if len(dps) != 3 || dps[0].Missing || dps[1].Missing || !dps[2].Missing {
			t.Fatalf("%s: %+v", c.st, dps)
		}
		if dps[0].Value != c.want[0] || dps[1].Value != c.want[1] || !dps[0].Time.Equal(t0) {
			t.Errorf("%s: got %v %v, want %v", c.st, dps[0].Value, dps[1].Value, c.want)
		}
	}
}
