package alarm

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Datapoint is one evaluation period's statistic, or its absence.
type Datapoint struct {
	Time    time.Time // period start
	Value   float64
	Missing bool
}

// Decision is the state machine's answer for one evaluation.
type Decision struct {
	State     State
	Reason    string
	Breaching int // breaching datapoints among the N, after missing-data treatment
	Existing  int // datapoints that had data
}

// breaches tells whether v crosses the threshold.
func (r Rule) breaches(v float64) bool {
	switch r.Comparison {
	case GreaterOrEqual:
		return v >= r.Threshold
	case Greater:
		return v > r.Threshold
	case Less:
		return v < r.Threshold
	case LessOrEqual:
		return v <= r.Threshold
	}
	return false
}

func (r Rule) comparisonText() string {
	switch r.Comparison {
	case GreaterOrEqual:
		return "greater than or equal to"
	case Greater:
		return "greater than"
	case Less:
		return "less than"
	case LessOrEqual:
		return "less than or equal to"
	}
	return string(r.Comparison)
}

// EvaluationRangeExtra is how many periods before the last N an
// evaluation looks at, to find real datapoints when some are missing
// (CloudWatch's "evaluation range": its documented example retrieves 5
// periods for 3 evaluation periods).
const EvaluationRangeExtra = 2

// Decide is the alarm state machine, a pure function of the rule, the
// datapoints of the evaluation range (oldest first: the last N periods
// and a few before them) and the current state. It follows CloudWatch:
//
//   - The evaluated datapoints are the most recent N real (non-missing)
//     datapoints of the range. When the range holds at least N of them,
//     missing periods play no part at all.
//   - Otherwise the e < N real points are completed with N - e missing
//     ones, treated as configured: breaching / notBreaching count them as
//     breaching / not breaching, and the alarm is in ALARM when at least
//     M of the N breach, OK otherwise (so no data at all gives ALARM / OK).
//   - missing: with no real point, INSUFFICIENT_DATA. Otherwise only the
//     e real points are judged: ALARM when at least min(M, e) of them
//     breach (a lone breaching point alarms, as in CloudWatch's
//     "- - X - -" example), otherwise OK.
//   - ignore: with no real point, the current state is kept. Otherwise
//     ALARM when at least M breach; OK when e >= M or none breaches;
//     otherwise (fewer than M points, some breaching: undecided) the
//     current state is kept.
func Decide(r Rule, points []Datapoint, current State) Decision {
	n, m := r.EvaluationPeriods, r.DatapointsToAlarm
	real := make([]Datapoint, 0, len(points))
	for _, p := range points {
		if !p.Missing {
			real = append(real, p)
		}
	}
	if len(real) > n {
		real = real[len(real)-n:]
	}
	existing, missing, breaching := len(real), n-len(real), 0
	for _, p := range real {
		if r.breaches(p.Value) {
			breaching++
		}
	}
	d := Decision{Existing: existing}
	switch r.TreatMissingData {
	case Breaching:
		breaching += missing
		d.State = pick(breaching >= m)
	case NotBreaching:
		d.State = pick(breaching >= m)
	case Ignore:
		switch {
		case existing == 0:
			d.State = current
		case breaching >= m:
			d.State = Alarming
		case existing >= m || breaching == 0:
			d.State = OK
		default:
			d.State = current
		}
	default: // Missing
		switch {
		case existing == 0:
			d.State = InsufficientData
		case breaching >= min(m, existing):
			d.State = Alarming
		default:
			d.State = OK
		}
	}
	if d.State == "" {
		d.State = InsufficientData // an ignore alarm that never had data
	}
	d.Breaching = breaching
	d.Reason = reason(r, real, max(len(points), n), d, missing, current)
	return d
}

func pick(alarm bool) State {
	if alarm {
		return Alarming
	}
	return OK
}

// reason is the CloudWatch-like explanation kept in the state and history;
// points are the evaluated real datapoints.
func reason(r Rule, points []Datapoint, span int, d Decision, missing int, current State) string {
	n, m := r.EvaluationPeriods, r.DatapointsToAlarm
	if d.Existing == 0 {
		switch r.TreatMissingData {
		case Missing:
			return fmt.Sprintf("Insufficient Data: no datapoints were received in the last %d periods.", span)
		case Ignore:
			return fmt.Sprintf("No datapoints in the last %d periods; missing data is ignored, so the state stays %s.", span, d.State)
		}
	}
	var b strings.Builder
	if d.State == Alarming {
		b.WriteString("Threshold Crossed: ")
	} else {
		b.WriteString("Threshold not crossed: ")
	}
	fmt.Fprintf(&b, "%d out of the last %d datapoints", d.Breaching, n)
	if missing > 0 {
		switch r.TreatMissingData {
		case Breaching:
			fmt.Fprintf(&b, " (%d missing, treated as breaching)", missing)
		case NotBreaching:
			fmt.Fprintf(&b, " (%d missing, treated as not breaching)", missing)
		default:
			fmt.Fprintf(&b, " (%d missing, not counted)", missing)
		}
	}
	fmt.Fprintf(&b, " %s %s the threshold (%s)", verb(d.Breaching), r.comparisonText(), fmtValue(r.Threshold))
	b.WriteString(" [")
	first := true
	for _, p := range points {
		if !first {
			b.WriteString(", ")
		}
		first = false
		fmt.Fprintf(&b, "%s (%s)", fmtValue(p.Value), p.Time.UTC().Format(time.RFC3339))
	}
	b.WriteString("]")
	need := m
	if r.TreatMissingData == Missing && d.Existing < m {
		need = d.Existing
	}
	fmt.Fprintf(&b, " (minimum %d datapoint%s for ALARM", need, plural(need))
	if r.TreatMissingData == Ignore && d.State == current && d.Existing < m && d.Breaching > 0 && d.Breaching < m {
		b.WriteString("; too few datapoints to decide, state kept")
	}
	b.WriteString(").")
	return b.String()
}

func verb(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func fmtValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
