package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// runCLI runs the flowlens command line in-process and returns what it
// printed on stdout.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestHelpHidesToken checks that --help does not print the token taken
// from the environment as the flag's default.
func TestHelpHidesToken(t *testing.T) {
	t.Setenv("FLOWLENS_TOKEN", "s3cret-token-value")
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"insights", "top", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "s3cret") {
		t.Errorf("help prints the token:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "env FLOWLENS_TOKEN") {
		t.Errorf("help does not name FLOWLENS_TOKEN:\n%s", out.String())
	}
}
