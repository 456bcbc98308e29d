package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The token's ways in: --token-file, and --token (visible in /proc) but
// never both; a bad token file stops the agent before it starts.
func TestTokenFlags(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "token")
	if err := os.WriteFile(good, []byte("agent-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--token", "agent-token", "--token-file", good}, "give --token or --token-file, not both"},
		{[]string{"--token-file", empty}, "token file " + empty + " is empty"},
		{[]string{"--token-file", filepath.Join(dir, "missing")}, "token file:"},
	} {
		cmd := newRoot()
		cmd.SetArgs(append(tc.args, "--spool-dir", dir, "--server", "http://127.0.0.1:1"))
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "agent-token") {
			t.Errorf("%v: error %q shows the token", tc.args, err)
		}
	}
	if f := newRoot().Flags().Lookup("token"); !strings.Contains(f.Usage, "/proc") {
		t.Errorf("--token help %q does not warn that /proc shows it", f.Usage)
	}
}
