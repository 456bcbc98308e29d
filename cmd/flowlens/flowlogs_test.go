package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/server"
)

// flowlens flowlogs import against a real server (in-process, with the
// flow-log module, on a DuckDB file): a directory with a gzip file with
// a header, a file with a bad line and a copy of the first file; then
// groups.
func TestFlowLogsImportCLI(t *testing.T) {
	mods := moduleFlags{}
	mods.flowlog.Importer.MaxErrors = 100
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

	dir := t.TempDir()
	var ref bytes.Buffer
	zw := gzip.NewWriter(&ref)
	zw.Write([]byte(flowlog.Default.Names() + "\n" +
		"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n" +
		"2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA\n"))
	zw.Close()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "1.log.gz"), ref.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "a", "b", "copy.log.gz"), ref.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "a", "b", "2.log"), []byte(
		"2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 REJECT OK\n2 x\n"), 0o644)

	out, err := runCLI(t, "--server", s.URL(), "--token", "tok", "flowlogs", "import", "--group", "prod", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"a/1.log.gz: 2 records, 0 bad lines",
		"a/b/2.log: 1 records, 1 bad lines",
		"a/b/2.log:2: 2 fields, the format has 14",
		"a/b/copy.log.gz: already imported into this group",
		"total: 3 files, 3 records, 1 bad lines, 1 duplicates, 0 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, err = runCLI(t, "--server", s.URL(), "--token", "tok", "flowlogs", "import", "--group", "prod", "-o", "json", filepath.Join(dir, "a", "1.log.gz"))
	var sum importer.Summary
	if err != nil || json.Unmarshal([]byte(out), &sum) != nil || sum.Duplicates != 1 || sum.Records != 0 {
		t.Fatalf("json re-import: %v %s", err, out)
	}
	out, err = runCLI(t, "--server", s.URL(), "--token", "tok", "flowlogs", "groups", "-o", "json")
	var groups []flowlog.Group
	if err != nil || json.Unmarshal([]byte(out), &groups) != nil || len(groups) != 1 || groups[0].Records != 3 || groups[0].Files != 2 {
		t.Fatalf("groups: %v %s", err, out)
	}
	if _, err := runCLI(t, "--server", s.URL(), "--token", "tok", "flowlogs", "import", "--group", "prod", "--format", "${no;pe}", dir); err == nil || !strings.Contains(err.Error(), `"no;pe" is not a field name`) {
		t.Errorf("bad format: %v", err)
	}
	if _, err := runCLI(t, "--server", s.URL(), "--token", "bad", "flowlogs", "import", "--group", "prod", dir); err == nil {
		t.Error("bad token: no error")
	}
}

// flowlens logs groups set-retention / delete (the CloudWatch-like name of
// flowlens flowlogs) against a real server: the table shows the
// retention, CloudWatch's values only, a deleted group is gone.
func TestLogsGroupsRetentionCLI(t *testing.T) {
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
	path := filepath.Join(t.TempDir(), "f.log")
	os.WriteFile(path, []byte("2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 1700000000 1700000060 REJECT OK\n"), 0o644)
	cli := func(args ...string) (string, error) {
		return runCLI(t, append([]string{"--server", s.URL(), "--token", "tok", "logs"}, args...)...)
	}
	if out, err := cli("import", "--group", "prod", path); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := cli("groups", "set-retention", "prod", "--days", "30"); err != nil || !strings.Contains(out, "prod: retention 30d") {
		t.Fatalf("set-retention: %v %s", err, out)
	}
	if out, err := cli("groups"); err != nil || !strings.Contains(out, "RETENTION") || !strings.Contains(out, "30d") {
		t.Errorf("groups table: %v\n%s", err, out)
	}
	for _, bad := range []string{"2", "0", "x"} {
		if _, err := cli("groups", "set-retention", "prod", "--days", bad); err == nil {
			t.Errorf("--days %s accepted", bad)
		}
	}
	if out, err := cli("groups", "set-retention", "prod", "--days", "never"); err != nil || !strings.Contains(out, "retention never") {
		t.Errorf("never: %v %s", err, out)
	}
	if _, err := cli("groups", "set-retention", "nope", "--days", "7"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown group: %v", err)
	}
	if out, err := cli("groups", "delete", "prod"); err != nil || !strings.Contains(out, "prod: deleted") {
		t.Fatalf("delete: %v %s", err, out)
	}
	out, err := runCLI(t, "--server", s.URL(), "--token", "tok", "flowlogs", "groups", "-o", "json")
	var groups []flowlog.Group
	if err != nil || json.Unmarshal([]byte(out), &groups) != nil || len(groups) != 0 {
		t.Errorf("groups after delete: %v %s", err, out)
	}
}
