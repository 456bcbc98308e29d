package metricfilter

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnitValidatedAndCanonical: a filter's unit is one of CloudWatch's
// (MetricTransformation.unit), any letter case, stored as CloudWatch
// spells it; none given is "None" as in CloudWatch; others are refused
// naming the field.
func TestUnitValidatedAndCanonical(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "None"}, {"Bytes", "Bytes"}, {"bytes", "Bytes"}, {"count/second", "Count/Second"},
		{"Milliseconds", "Milliseconds"}, {"NONE", "None"}, {"Terabits/Second", "Terabits/Second"},
	} {
		cf, err := Compile(Filter{Group: "g", Name: "n", MetricName: "m", Unit: c.in})
		if err != nil || cf.Unit != c.want {
			t.Errorf("unit %q: got %q %v, want %q", c.in, cf.Unit, err, c.want)
		}
	}
	for _, bad := range []string{"bytes/s", "Byte", "ms", "Count/Minute"} {
		_, err := Compile(Filter{Group: "g", Name: "n", MetricName: "m", Unit: bad})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "unit: ") {
			t.Errorf("unit %q: got %v, want an invalid unit error", bad, err)
		}
	}
	if len(Units) != 27 {
		t.Errorf("CloudWatch has 27 units, the list has %d", len(Units))
	}
}

// TestUnitStoredListedAndLookedUp: the unit is kept with the definition
// across a restart, shown in the list, and UnitOf gives it for the metric
// the filter publishes (for alarms and the UI).
func TestUnitStoredListedAndLookedUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mf.duckdb")
	tm := openModule(t, path)
	ctx := context.Background()
	if _, _, err := tm.Put(ctx, Filter{Group: "app", Name: "lat", MetricName: "latency", Pattern: `{ $.latency = * }`, MetricValue: "$.latency", Unit: "milliseconds"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tm.Put(ctx, Filter{Group: "app", Name: "errors", MetricName: "errors", Pattern: "ERROR"}); err != nil {
		t.Fatal(err)
	}
	tm.close(t)
	tm = openModule(t, path)
	got := map[string]string{}
	for _, f := range tm.List("app") {
		got[f.Name] = f.Unit
	}
	if got["lat"] != "Milliseconds" || got["errors"] != "None" {
		t.Errorf("listed units: %v", got)
	}
	if u, ok := tm.UnitOf(DefaultNamespace, "latency"); !ok || u != "Milliseconds" {
		t.Errorf("UnitOf latency: %q %v", u, ok)
	}
	if _, ok := tm.UnitOf(DefaultNamespace, "nothing"); ok {
		t.Error("UnitOf a metric no filter publishes must say so")
	}
}

// TestRegexFiltersPerGroupLimited: CloudWatch allows 5 metric filters
// with a regular expression per log group ("Supported regular expressions
// (regex) syntax", Quotas); the 6th is refused, replacing one is not, and
// other groups and filters without a regex are unaffected.
func TestRegexFiltersPerGroupLimited(t *testing.T) {
	tm := openModule(t, filepath.Join(t.TempDir(), "mf.duckdb"))
	ctx := context.Background()
	put := func(group, name, pattern string) error {
		_, _, err := tm.Put(ctx, Filter{Group: group, Name: name, MetricName: "m", Pattern: pattern})
		return err
	}
	for i := range MaxRegexPerGroup {
		if err := put("app", fmt.Sprint("re", i), fmt.Sprintf("%%ERROR %d%%", i)); err != nil {
			t.Fatal(err)
		}
	}
	err := put("app", "re5", "[level=%^E%, msg]")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "already has 5 metric filters with a regular expression") {
		t.Fatalf("6th regex filter: %v", err)
	}
	if err := put("app", "re0", "%WARN%"); err != nil {
		t.Errorf("replacing a regex filter: %v", err)
	}
	if err := put("app", "plain", "ERROR"); err != nil {
		t.Errorf("a filter without regex: %v", err)
	}
	if err := put("other", "re", "%ERROR%"); err != nil {
		t.Errorf("another group: %v", err)
	}
}
