package metricfilter

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"strings"
	"testing"
)

// awsCase is one pattern of testdata/aws_patterns.json with the events
// AWS's documentation says it matches or not.
type awsCase struct {
	Pattern     string `json:"pattern"`
	MetricValue string `json:"metric_value"`
	Events      []struct {
		Event  string            `json:"event"`
		Match  bool              `json:"match"`
		Fields map[string]string `json:"fields"` // checked when present
		Value  *float64          `json:"value"`  // checked when present
	} `json:"events"`
}

// TestAWSDocumentedPatterns runs the filter patterns of AWS's CloudWatch
// Logs documentation over the events the pages give, through RunTest
// (what `metric-filters test` and the test endpoint run): match or not,
// the extracted fields (named, and $N for unnamed positions) and the
// metric value. Each group names its page.
func TestAWSDocumentedPatterns(t *testing.T) {
	var groups []struct {
		Page  string    `json:"page"`
		Note  string    `json:"note"`
		Cases []awsCase `json:"cases"`
	}
	readJSON(t, "testdata/aws_patterns.json", &groups)
	n := 0
	for _, g := range groups {
		for _, c := range g.Cases {
			lines := make([]string, len(c.Events))
			for i, e := range c.Events {
				lines[i] = e.Event
			}
			resp, err := RunTest(TestRequest{Pattern: c.Pattern, MetricValue: c.MetricValue, Lines: lines})
			if err != nil {
				t.Errorf("%s\n  %s: %v", g.Page, c.Pattern, err)
				continue
			}
			for i, e := range c.Events {
				n++
				got := resp.Results[i]
				if got.Matched != e.Match {
					t.Errorf("%s\n  %s on %q: matched %v, want %v", g.Page, c.Pattern, e.Event, got.Matched, e.Match)
					continue
				}
				if e.Fields != nil && !maps.Equal(got.Fields, e.Fields) {
					t.Errorf("%s\n  %s on %q: fields %v, want %v", g.Page, c.Pattern, e.Event, got.Fields, e.Fields)
				}
				if e.Value != nil && (got.Value == nil || *got.Value != *e.Value) {
					t.Errorf("%s\n  %s on %q: value %v, want %v", g.Page, c.Pattern, e.Event, got.Value, *e.Value)
				}
			}
		}
	}
	if n < 200 {
		t.Errorf("only %d documented events checked", n)
	}
}

// TestAWSDocumentedRejections: patterns the documentation says CloudWatch
// rejects are refused, with the column of the offending character.
func TestAWSDocumentedRejections(t *testing.T) {
	var cases []struct {
		Page, Rule, Pattern, Error string
	}
	readJSON(t, "testdata/aws_pattern_errors.json", &cases)
	for _, c := range cases {
		_, err := Parse(c.Pattern)
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), c.Error) {
			t.Errorf("%s (%s)\n  %s: got %v, want %q", c.Page, c.Rule, c.Pattern, err, c.Error)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
