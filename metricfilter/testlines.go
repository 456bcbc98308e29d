package metricfilter

import (
	"fmt"
	"strconv"
)

// TestRequest asks which sample lines a pattern matches and what they
// yield (POST /api/v1/metric-filters/test, `flowlens metric-filters test`).
type TestRequest struct {
	Pattern      string            `json:"pattern"`
	MetricValue  string            `json:"metric_value,omitempty"`
	DefaultValue *float64          `json:"default_value,omitempty"`
	Dimensions   map[string]string `json:"dimensions,omitempty"`
	Lines        []string          `json:"lines"`
}

// TestResult is one sample line's outcome.
type TestResult struct {
	Line       int               `json:"line"` // 1-based
	Message    string            `json:"message"`
	Matched    bool              `json:"matched"`
	Value      *float64          `json:"value,omitempty"` // the metric value, or the default for a non-match
	Dimensions map[string]string `json:"dimensions,omitempty"`
	// Fields are the values a space-delimited match extracted: the named
	// fields by name, and the positions no named field took (covered by
	// `...` or a trailing comma) as "$N", N counting the event's fields
	// from 1, as CloudWatch's TestMetricFilter reports them.
	Fields map[string]string `json:"fields,omitempty"`
	Error  string            `json:"error,omitempty"` // matched, but no usable value: not counted
}

// TestResponse is the outcome of every line.
type TestResponse struct {
	Results []TestResult `json:"results"`
	Matched int          `json:"matched"`
	Total   int          `json:"total"`
}

// MaxTestLines bounds one test request.
const MaxTestLines = 10000

// RunTest applies a pattern, value and dimensions to sample lines. It is
// pure: the CLI runs it locally and the server runs it for the API.
func RunTest(req TestRequest) (TestResponse, error) {
	if len(req.Lines) > MaxTestLines {
		return TestResponse{}, fmt.Errorf("%w: lines: %d given, at most %d", ErrInvalid, len(req.Lines), MaxTestLines)
	}
	c, err := Compile(Filter{Group: "test", Name: "test", MetricName: "test", Pattern: req.Pattern,
		MetricValue: req.MetricValue, DefaultValue: req.DefaultValue, Dimensions: req.Dimensions})
	if err != nil {
		return TestResponse{}, err
	}
	resp := TestResponse{Results: make([]TestResult, 0, len(req.Lines)), Total: len(req.Lines)}
	names := c.DimensionNames()
	var r Record
	for i, line := range req.Lines {
		r.Reset(line)
		res := TestResult{Line: i + 1, Message: line}
		out, v, dims := c.Eval(&r, nil)
		switch out {
		case Matched:
			res.Matched = true
			resp.Matched++
			res.Value = &v
			if len(dims) > 0 {
				res.Dimensions = map[string]string{}
				for j, d := range dims {
					res.Dimensions[names[j]] = d
				}
			}
		case BadValue:
			res.Matched = true
			resp.Matched++
			res.Error = fmt.Sprintf("metric value %s or a dimension has no usable value in this record: not counted", c.MetricValue)
		case NoMatch:
			if c.DefaultValue != nil {
				d := *c.DefaultValue
				res.Value = &d
			}
		}
		if res.Matched && c.pattern.Kind == KindSpace {
			res.Fields = extracted(c.pattern, &r)
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

// extracted returns the named fields and the unnamed positions ("$N") of
// a space-delimited match.
func extracted(p *Pattern, r *Record) map[string]string {
	out := map[string]string{}
	for _, name := range p.Fields() {
		if v, ok := p.Field(r, name); ok {
			out[name] = v
		}
	}
	for _, n := range p.Unnamed(r) {
		if v, ok := p.Position(r, n); ok {
			out["$"+strconv.Itoa(n)] = v
		}
	}
	return out
}
