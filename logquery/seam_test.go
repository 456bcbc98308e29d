package logquery

import (
	"go/build"
	"strings"
	"testing"
)

// TestCompilerKnowsNoStore: the compiler and engine take their sources
// from the stores; they import no store, no database driver and not the
// flow-log side, and the source description imports only the standard
// library, so a store can describe its tables without linking either.
func TestCompilerKnowsNoStore(t *testing.T) {
	for _, tc := range []struct {
		dir       string
		forbidden []string // import path prefixes
	}{
		{".", []string{"github.com/flowlens/flowlens/store", "github.com/flowlens/flowlens/flowlog", "github.com/marcboeker/go-duckdb"}},
		{"logsource", []string{"github.com/", "golang.org/", "google.golang.org/"}},
	} {
		pkg, err := build.ImportDir(tc.dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pkg.Imports {
			for _, f := range tc.forbidden {
				if strings.HasPrefix(imp, f) {
					t.Errorf("package %s imports %s", pkg.ImportPath, imp)
				}
			}
		}
	}
}
