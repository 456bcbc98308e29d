package duckdb

import (
	"strings"
	"testing"

	"github.com/flowlens/flowlens/topology"
)

// TestFlowsEnumNames keeps the flows source's names of categories and
// kinds in step with the topology package.
func TestFlowsEnumNames(t *testing.T) {
	for i, n := range categoryNames {
		if got := topology.Category(i).String(); got != n {
			t.Errorf("category %d: %s, topology says %s", i, n, got)
		}
	}
	for i, n := range kindNames {
		if got := topology.Kind(i).String(); got != n {
			t.Errorf("kind %d: %s, topology says %s", i, n, got)
		}
	}
	if got := topology.Category(len(categoryNames)).String(); !strings.HasPrefix(got, "category(") {
		t.Errorf("topology has a category %s the flows source does not name", got)
	}
	if got := topology.Kind(len(kindNames)).String(); !strings.HasPrefix(got, "kind(") {
		t.Errorf("topology has a kind %s the flows source does not name", got)
	}
}
