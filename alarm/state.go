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

// Decide is the alarm state machine, a pure function of the rule, the
// datapoints of the last N periods (oldest first; only the last N are
// used) and the current state.
//
// Missing data:
//   - breaching / notBreaching: a missing period counts as a breaching /
//     non-breaching datapoint; ALARM when at least M of the N breach,
//     otherwise OK (so an alarm with no data at all goes to ALARM / OK).
//   - missing: when all N are missing, INSUFFICIENT_DATA. Otherwise only
//     the e periods with data are judged: ALARM when at least min(M, e)
//     of them breach (a lone breaching point in an otherwise empty window
//     alarms, as CloudWatch does), otherwise OK.
//   - ignore: when all N are missing, the current state is kept. With
//     data: ALARM when at least M breach; OK when the e periods with data
//     are at least M, or when none of them breaches; otherwise (fewer than
//     M points, some breaching: not enough to decide) the current state
//     is kept.
func Decide(r Rule, points []Datapoint, current State) Decision {
	if n := r.EvaluationPeriods; len(points) > n {
		points = points[len(points)-n:]
	}
	n, m := r.EvaluationPeriods, r.DatapointsToAlarm
	missing := n - len(points) // periods not even given count as missing
	existing, breaching := 0, 0
	for _, p := range points {
		if p.Missing {
			missing++
			continue
		}
		existing++
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
	d.Reason = reason(r, points, d, missing, current)
	return d
}

func pick(alarm bool) State {
	if alarm {
		return Alarming
	}
	return OK
}

// reason is the CloudWatch-like explanation kept in the state and history.
func reason(r Rule, points []Datapoint, d Decision, missing int, current State) string {
	n, m := r.EvaluationPeriods, r.DatapointsToAlarm
	if d.Existing == 0 {
		switch r.TreatMissingData {
		case Missing:
			return fmt.Sprintf("Insufficient Data: no datapoints in the last %d periods were received.", n)
		case Ignore:
			return fmt.Sprintf("No datapoints in the last %d periods; missing data is ignored, so the state stays %s.", n, d.State)
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
		if p.Missing {
			continue
		}
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
