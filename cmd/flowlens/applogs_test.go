package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/server"
)

// TestLogsPutCLI puts JSON lines and plain text into application log
// groups with the real CLI against a real server, queries them by their
// discovered fields, spans a flow-log group, and checks that flow-log
// uploads on the same route still go to the flow-log importer.
func TestLogsPutCLI(t *testing.T) {
	mods := moduleFlags{}
	dataDir := t.TempDir()
	s, err := server.New(server.Config{DataDir: dataDir, Listen: "127.0.0.1:0", Tokens: []string{"tok"},
		OpenStore: embeddedStore(t, dataDir), Modules: mods.builder(nil)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	cli := func(args ...string) (string, error) {
		return runCLI(t, append([]string{"--server", s.URL(), "--token", "tok"}, args...)...)
	}
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "app.jsonl")
	os.WriteFile(jsonPath, []byte(`{"timestamp":"2026-03-01T12:00:01Z","level":"ERROR","service":"api","http":{"status":504}}
{"timestamp":"2026-03-01T12:00:02Z","level":"INFO","service":"api","http":{"status":200}}
{"timestamp":"2026-03-01T12:00:03Z","level":"ERROR","service":"db"}
not json
`), 0o644)
	out, err := cli("logs", "put", "--group", "app", "--json", jsonPath)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "3 events into app, 1 bad lines") || !strings.Contains(out, "line 4: not a JSON object") {
		t.Fatalf("put answer:\n%s", out)
	}
	textPath := filepath.Join(dir, "app.log")
	os.WriteFile(textPath, []byte("2026-03-01 12:00:04 ERROR auth failure for user bob\n{\"timestamp\":\"2026-03-01T12:00:05Z\",\"level\":\"ERROR\",\"service\":\"web\"}\n"), 0o644)
	if out, err := cli("logs", "put", "--group", "app", textPath); err != nil || !strings.Contains(out, "2 events into app, 0 bad lines") {
		t.Fatalf("%v\n%s", err, out)
	}
	flowPath := filepath.Join(dir, "vpc.log")
	os.WriteFile(flowPath, []byte("2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 1772366400 1772366460 REJECT OK\n"), 0o644)
	if out, err := cli("logs", "import", "--group", "vpc", flowPath); err != nil {
		t.Fatalf("flow-log import beside application logs: %v\n%s", err, out)
	}
	q := func(groups []string, query string) string {
		t.Helper()
		args := []string{"query", "--start", "2026-03-01T00:00:00Z", "--end", "2026-03-02T00:00:00Z", "-o", "csv"}
		for _, g := range groups {
			args = append(args, "--group", g)
		}
		out, err := cli(append(args, query)...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", query, err, out)
		}
		return out
	}
	if got, want := q([]string{"app"}, `filter level = "ERROR" | stats count(*) as n by service | sort service`), "service,n\napi,1\ndb,1\nweb,1\n"; got != want {
		t.Errorf("errors by service:\n%s\nwant\n%s", got, want)
	}
	if got, want := q([]string{"app"}, `filter http.status >= 500 | fields service`), "service\napi\n"; got != want {
		t.Errorf("nested field:\n%s\nwant\n%s", got, want)
	}
	// The plain-text line has no time of its own: it carries the
	// ingestion time (now), outside this range.
	if got, want := q([]string{"app", "vpc"}, `stats count(*) as n by @log | sort @log`), "@log,n\napp,4\nvpc,1\n"; got != want {
		t.Errorf("application and flow-log groups together:\n%s\nwant\n%s", got, want)
	}
}
