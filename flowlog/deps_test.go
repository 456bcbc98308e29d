package flowlog_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The format/parser package and the importer stay free of storage, cloud
// and server code: logquery and metricfilter link the first, and any
// record store can sit behind the second (issue 13).
func TestPackagesStayFreeOfHeavyDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found: ", err)
	}
	heavy := []string{"github.com/marcboeker/go-duckdb", "github.com/flowlens/flowlens/store/duckdb",
		"github.com/apache/arrow-go", "github.com/aws/aws-sdk-go-v2", "github.com/flowlens/flowlens/server"}
	cases := []struct {
		pkg    string
		forbid []string
	}{
		{"github.com/flowlens/flowlens/flowlog", append(heavy, "net/http", "github.com/parquet-go", "github.com/apache/arrow-go/v18/parquet")},
		{"github.com/flowlens/flowlens/flowlog/importer", heavy},
	}
	for _, c := range cases {
		out, err := exec.Command("go", "list", "-deps", c.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", c.pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range c.forbid {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s depends on %s", c.pkg, dep)
				}
			}
		}
	}
}
