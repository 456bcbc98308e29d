package metricfilter

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/apierr"
	"github.com/flowlens/flowlens/internal/pathseg"
)

// DefaultNamespace is where filters publish unless told otherwise.
const DefaultNamespace = "FlowLens/Logs"

// MaxDimensions is CloudWatch's limit on a filter's dimensions.
const MaxDimensions = 3

// Filter is a metric filter as users define it; JSON is the API's shape.
type Filter struct {
	Group           string `json:"group"`
	Name            string `json:"name"`
	Pattern         string `json:"pattern"`
	MetricNamespace string `json:"metric_namespace"`
	MetricName      string `json:"metric_name"`
	// MetricValue is a number ("1") or a field: "$bytes" (a named field of
	// a space-delimited pattern) or "$.latency" (a JSON selector).
	MetricValue string `json:"metric_value"`
	// DefaultValue, when set, is counted for every record of the group
	// that does not match (so a quiet minute publishes 0 rather than
	// nothing). Not allowed together with dimensions, as in CloudWatch.
	DefaultValue *float64 `json:"default_value,omitempty"`
	// Dimensions maps a dimension name to a field ("$srcaddr" or "$.user").
	Dimensions map[string]string `json:"dimensions,omitempty"`
	// Unit is the metric's CloudWatch unit (Units); empty means "None", as
	// in CloudWatch.
	Unit    string    `json:"unit,omitempty"`
	Created time.Time `json:"created,omitzero"`
}

// ErrInvalid marks a filter that cannot be accepted; the message names the
// field.
var ErrInvalid = apierr.Invalid("invalid metric filter")

var (
	namePattern   = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,255}$`)
	groupPattern  = regexp.MustCompile(`^[a-zA-Z0-9_./#-]{1,512}$`)
	nsPattern     = regexp.MustCompile(`^[a-zA-Z0-9_./#:-]{1,255}$`)
	metricPattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,255}$`)
	dimPattern    = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.-]{0,254}$`)
)

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// Compiled is a filter ready to run.
type Compiled struct {
	Filter
	pattern *Pattern
	value   extractor
	dims    []dimExtractor // sorted by name
}

type dimExtractor struct {
	name string
	ex   extractor
}

// extractor reads a value from a matched record: a constant, a named
// space-delimited field, a field position ($7) or a JSON selector.
type extractor struct {
	constant float64
	field    string    // space-delimited field name
	pos      int       // space-delimited field position, 1-based
	sel      *selector // JSON selector
}

// Compile checks the filter (defaults: namespace FlowLens/Logs, value 1)
// and prepares it. Errors name the field and, for the pattern, the column.
func Compile(f Filter) (*Compiled, error) {
	if !groupPattern.MatchString(f.Group) || pathseg.Dot(f.Group) {
		return nil, invalid("group", "%q must be 1-512 characters of a-z, A-Z, 0-9, '_', '.', '/', '#', '-', with no \".\" or \"..\" between slashes (URLs cannot carry them)", f.Group)
	}
	if !namePattern.MatchString(f.Name) || pathseg.Dot(f.Name) {
		return nil, invalid("name", "%q must be 1-255 characters of a-z, A-Z, 0-9, '_', '.', '-' (not \".\" or \"..\", which URLs cannot carry)", f.Name)
	}
	if f.MetricNamespace == "" {
		f.MetricNamespace = DefaultNamespace
	}
	if !nsPattern.MatchString(f.MetricNamespace) {
		return nil, invalid("metric_namespace", "%q must be 1-255 characters of a-z, A-Z, 0-9, '_', '.', '/', '#', ':', '-'", f.MetricNamespace)
	}
	if !metricPattern.MatchString(f.MetricName) {
		return nil, invalid("metric_name", "%q must be 1-255 characters of a-z, A-Z, 0-9, '_', '.', '-'", f.MetricName)
	}
	unit, ok := CanonicalUnit(f.Unit)
	if !ok {
		return nil, invalid("unit", "%q is not a CloudWatch unit (one of %s)", f.Unit, strings.Join(Units, ", "))
	}
	f.Unit = unit
	pat, err := Parse(f.Pattern)
	if err != nil {
		return nil, fmt.Errorf("%w: pattern: %w", ErrInvalid, err)
	}
	if f.MetricValue == "" {
		f.MetricValue = "1"
	}
	c := &Compiled{Filter: f, pattern: pat}
	if c.value, err = newExtractor(pat, f.MetricValue, true); err != nil {
		return nil, invalid("metric_value", "%v", err)
	}
	if f.DefaultValue != nil && (math.IsNaN(*f.DefaultValue) || math.IsInf(*f.DefaultValue, 0)) {
		return nil, invalid("default_value", "must be a finite number")
	}
	if len(f.Dimensions) > MaxDimensions {
		return nil, invalid("dimensions", "%d given, at most %d", len(f.Dimensions), MaxDimensions)
	}
	if len(f.Dimensions) > 0 && f.DefaultValue != nil {
		return nil, invalid("default_value", "cannot be used with dimensions (a non-matching record has no dimension values)")
	}
	for name, src := range f.Dimensions {
		if !dimPattern.MatchString(name) {
			return nil, invalid("dimensions", "name %q must start with a letter or '_' (then a-z, A-Z, 0-9, '_', '.', '-')", name)
		}
		ex, err := newExtractor(pat, src, false)
		if err != nil {
			return nil, invalid("dimensions."+name, "%v", err)
		}
		c.dims = append(c.dims, dimExtractor{name: name, ex: ex})
	}
	sort.Slice(c.dims, func(i, j int) bool { return c.dims[i].name < c.dims[j].name })
	return c, nil
}

// newExtractor parses "$field", "$.selector" or (values only) a number.
func newExtractor(pat *Pattern, src string, allowConst bool) (extractor, error) {
	src = strings.TrimSpace(src)
	switch {
	case strings.HasPrefix(src, "$."), src == "$":
		if pat.Kind != KindJSON {
			return extractor{}, fmt.Errorf("%q is a JSON selector but the pattern is %s", src, pat.Kind)
		}
		s, err := ParseSelector(src)
		if err != nil {
			return extractor{}, fmt.Errorf("%q: %v", src, err)
		}
		if s.wild {
			return extractor{}, fmt.Errorf("%q: a wildcard selects any number of values; name one value", src)
		}
		return extractor{sel: &s}, nil
	case strings.HasPrefix(src, "$"):
		name := src[1:]
		if pat.Kind != KindSpace {
			return extractor{}, fmt.Errorf("%q names a field, which needs a space-delimited pattern [...]", src)
		}
		if n, err := strconv.Atoi(name); err == nil && name[0] != '+' && name[0] != '-' {
			// $7: the event's 7th field, as CloudWatch numbers them.
			if n < 1 || n > maxPosition || pat.matchAll {
				return extractor{}, fmt.Errorf("%q: want a field position $1..$%d of a pattern that names fields", src, maxPosition)
			}
			return extractor{pos: n}, nil
		}
		if _, ok := pat.fieldByID[name]; !ok {
			return extractor{}, fmt.Errorf("%q is not a named field of the pattern (fields: %s)", src, strings.Join(pat.Fields(), ", "))
		}
		return extractor{field: name}, nil
	}
	if !allowConst {
		return extractor{}, fmt.Errorf("%q: want a field, $name or $.selector", src)
	}
	v, err := strconv.ParseFloat(src, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return extractor{}, fmt.Errorf("%q: want a number, $field or $.selector", src)
	}
	return extractor{constant: v}, nil
}

// maxPosition bounds a $N field position.
const maxPosition = 10000

// text returns the extractor's value as text (dimension values).
func (c *Compiled) text(ex *extractor, r *Record) (string, bool) {
	switch {
	case ex.field != "":
		return c.pattern.Field(r, ex.field)
	case ex.pos > 0:
		return c.pattern.Position(r, ex.pos)
	case ex.sel != nil:
		doc, _ := r.JSON()
		v, ok := ex.sel.lookup(doc)
		if !ok {
			return "", false
		}
		t, _, _ := JSONValue(v)
		return t, true
	}
	return strconv.FormatFloat(ex.constant, 'g', -1, 64), true
}

// number returns the extractor's value as a number (metric values).
func (c *Compiled) number(ex *extractor, r *Record) (float64, bool) {
	switch {
	case ex.field != "", ex.pos > 0:
		s, ok := c.text(ex, r)
		if !ok {
			return 0, false
		}
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil && !math.IsNaN(v) && !math.IsInf(v, 0)
	case ex.sel != nil:
		doc, _ := r.JSON()
		v, ok := ex.sel.lookup(doc)
		if !ok {
			return 0, false
		}
		_, n, isNum := JSONValue(v)
		return n, isNum && !math.IsNaN(n) && !math.IsInf(n, 0)
	}
	return ex.constant, true
}

// Outcome is what a filter made of one record.
type Outcome int

// Outcomes of Eval.
const (
	NoMatch  Outcome = iota
	Matched          // value (and dimensions) taken
	BadValue         // matched, but the value or a dimension is missing or not a number: not counted
)

// Eval matches one record. On Matched it returns the value and fills
// dims (one per dimension, in name order) when dims is not nil.
func (c *Compiled) Eval(r *Record, dims []string) (Outcome, float64, []string) {
	if !c.pattern.Match(r) {
		return NoMatch, 0, dims
	}
	v, ok := c.number(&c.value, r)
	if !ok {
		return BadValue, 0, dims
	}
	for i := range c.dims {
		t, ok := c.text(&c.dims[i].ex, r)
		if !ok || t == "" {
			return BadValue, 0, dims
		}
		dims = append(dims, t)
	}
	return Matched, v, dims
}

// DimensionNames are the filter's dimension names in the order Eval fills
// their values.
func (c *Compiled) DimensionNames() []string {
	out := make([]string, len(c.dims))
	for i, d := range c.dims {
		out[i] = d.name
	}
	return out
}

// Pattern is the parsed pattern.
func (c *Compiled) Pattern() *Pattern { return c.pattern }
