// Package alarm is the alarm engine: CloudWatch-style alarms on any series
// of the metric store (a statistic per period, M out of N datapoints
// against a threshold, missing-data treatment), their state history, and
// notifications on state transitions to webhooks and Prometheus
// Alertmanager.
package alarm

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/apierr"
	"github.com/flowlens/flowlens/internal/pathseg"
)

// State is an alarm's state.
type State string

// The three alarm states, spelled as CloudWatch does.
const (
	OK               State = "OK"
	Alarming         State = "ALARM"
	InsufficientData State = "INSUFFICIENT_DATA"
)

// States lists every state (for metrics and validation).
var States = []State{OK, Alarming, InsufficientData}

// Statistic aggregates the samples of one period.
type Statistic string

// Statistics, spelled as the API and CLI take them.
const (
	Average     Statistic = "average"
	Sum         Statistic = "sum"
	Minimum     Statistic = "minimum"
	Maximum     Statistic = "maximum"
	SampleCount Statistic = "sample-count"
)

// Comparison compares a period's value with the threshold.
type Comparison string

// Comparison operators.
const (
	GreaterOrEqual Comparison = ">="
	Greater        Comparison = ">"
	Less           Comparison = "<"
	LessOrEqual    Comparison = "<="
)

// TreatMissing says what a period without data means.
type TreatMissing string

// Missing-data treatments (CloudWatch's names).
const (
	Missing      TreatMissing = "missing"
	NotBreaching TreatMissing = "notBreaching"
	Breaching    TreatMissing = "breaching"
	Ignore       TreatMissing = "ignore"
)

// Limits on a definition.
const (
	MinPeriod            = time.Second
	MaxPeriod            = 24 * time.Hour
	MaxEvaluationPeriods = 100
	MaxActions           = 10
)

// Definition is what a user configures; JSON is the API's shape.
type Definition struct {
	Name              string            `json:"name"`
	Description       string            `json:"description,omitempty"`
	Namespace         string            `json:"namespace"`
	Metric            string            `json:"metric"`
	Dimensions        map[string]string `json:"dimensions,omitempty"`
	Statistic         Statistic         `json:"statistic"`
	Period            Duration          `json:"period"`
	EvaluationPeriods int               `json:"evaluation_periods"`
	DatapointsToAlarm int               `json:"datapoints_to_alarm"`
	Comparison        Comparison        `json:"comparison"`
	Threshold         float64           `json:"threshold"`
	TreatMissingData  TreatMissing      `json:"treat_missing_data"`
	Severity          string            `json:"severity,omitempty"`
	Webhooks          []string          `json:"webhooks,omitempty"`
	Alertmanagers     []string          `json:"alertmanagers,omitempty"`
}

// Duration is a time.Duration that JSON writes as "10s" and reads from a
// string ("1m30s") or a number of seconds.
type Duration time.Duration

// MarshalJSON writes the Go duration text.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalJSON reads "10s" or 10 (seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, `"`) {
		v, err := time.ParseDuration(strings.Trim(s, `"`))
		if err != nil {
			return fmt.Errorf("duration %s: want e.g. \"10s\" or \"5m\"", s)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if _, err := fmt.Sscan(s, &secs); err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) {
		return fmt.Errorf("duration %s: want e.g. \"10s\" or a number of seconds", s)
	}
	*d = Duration(time.Duration(secs * float64(time.Second)))
	return nil
}

// ErrInvalid marks a definition that cannot be accepted; the message names
// the field.
var ErrInvalid = apierr.Invalid("invalid alarm")

// NamePattern is what alarm names must match.
var NamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,255}$`)

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// Normalize fills defaults (statistic average, N 1, M = N, missing,
// severity warning) and checks every field; the error names the first bad
// one.
func (d *Definition) Normalize() error {
	if !NamePattern.MatchString(d.Name) || pathseg.Dot(d.Name) {
		return invalid("name", "%q must be 1-255 characters of a-z, A-Z, 0-9, '_', '.', '-' (not \".\" or \"..\", which URLs cannot carry)", d.Name)
	}
	if strings.TrimSpace(d.Namespace) == "" {
		return invalid("namespace", "required (e.g. FlowLens/Monitors)")
	}
	if strings.TrimSpace(d.Metric) == "" {
		return invalid("metric", "required (e.g. health_indicator)")
	}
	for k := range d.Dimensions {
		if strings.TrimSpace(k) == "" {
			return invalid("dimensions", "empty dimension name")
		}
	}
	if d.Statistic == "" {
		d.Statistic = Average
	}
	switch d.Statistic {
	case Average, Sum, Minimum, Maximum, SampleCount:
	default:
		return invalid("statistic", "%q: want average, sum, minimum, maximum or sample-count", d.Statistic)
	}
	p := time.Duration(d.Period)
	if p < MinPeriod || p > MaxPeriod || p%time.Second != 0 {
		return invalid("period", "%s: want whole seconds between %s and %s", p, MinPeriod, MaxPeriod)
	}
	if d.EvaluationPeriods == 0 {
		d.EvaluationPeriods = 1
	}
	if d.EvaluationPeriods < 1 || d.EvaluationPeriods > MaxEvaluationPeriods {
		return invalid("evaluation_periods", "%d: want 1 to %d", d.EvaluationPeriods, MaxEvaluationPeriods)
	}
	if d.DatapointsToAlarm == 0 {
		d.DatapointsToAlarm = d.EvaluationPeriods
	}
	if d.DatapointsToAlarm < 1 || d.DatapointsToAlarm > d.EvaluationPeriods {
		return invalid("datapoints_to_alarm", "%d: want 1 to evaluation_periods (%d)", d.DatapointsToAlarm, d.EvaluationPeriods)
	}
	switch d.Comparison {
	case GreaterOrEqual, Greater, Less, LessOrEqual:
	default:
		return invalid("comparison", "%q: want >=, >, < or <=", d.Comparison)
	}
	if math.IsNaN(d.Threshold) || math.IsInf(d.Threshold, 0) {
		return invalid("threshold", "must be a finite number")
	}
	if d.TreatMissingData == "" {
		d.TreatMissingData = Missing
	}
	switch d.TreatMissingData {
	case Missing, NotBreaching, Breaching, Ignore:
	default:
		return invalid("treat_missing_data", "%q: want missing, notBreaching, breaching or ignore", d.TreatMissingData)
	}
	if d.Severity == "" {
		d.Severity = "warning"
	}
	if len(d.Webhooks) > MaxActions || len(d.Alertmanagers) > MaxActions {
		return invalid("webhooks", "at most %d webhooks and %d alertmanagers", MaxActions, MaxActions)
	}
	for i, u := range d.Webhooks {
		if err := checkURL(u); err != nil {
			return invalid(fmt.Sprintf("webhooks[%d]", i), "%v", err)
		}
	}
	for i, u := range d.Alertmanagers {
		if err := checkURL(u); err != nil {
			return invalid(fmt.Sprintf("alertmanagers[%d]", i), "%v", err)
		}
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an http:// or https:// URL", s)
	}
	return nil
}

// Rule is the part of a definition the state machine needs.
type Rule struct {
	Comparison        Comparison
	Threshold         float64
	EvaluationPeriods int
	DatapointsToAlarm int
	TreatMissingData  TreatMissing
}

// Rule extracts the state machine's inputs.
func (d *Definition) Rule() Rule {
	return Rule{Comparison: d.Comparison, Threshold: d.Threshold, EvaluationPeriods: d.EvaluationPeriods,
		DatapointsToAlarm: d.DatapointsToAlarm, TreatMissingData: d.TreatMissingData}
}

// DimensionText is "k=v,k2=v2" with sorted keys (an Alertmanager label and
// the CLI's form).
func DimensionText(dims map[string]string) string {
	keys := make([]string, 0, len(dims))
	for k := range dims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + dims[k]
	}
	return strings.Join(parts, ",")
}
