package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQueryEndToEnd runs the real binary: `flowlens server` on a
// temporary data dir, `flowlens flowlogs import` of the reference
// records, then `flowlens query` as the acceptance checks use it
// (FLOWLENS_SERVER, FLOWLENS_TOKEN, --start/--end as Unix seconds and RFC
// 3339, -o json), a syntax error, and `--files` without a server.
func TestQueryEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the flowlens binary")
	}
	run := startServerBinary(t)
	examples := "../../logquery/testdata/examples.log"
	if out, errs, err := run("flowlogs", "import", "--group", "vpc", examples); err != nil {
		t.Fatalf("import: %v\n%s%s", err, out, errs)
	}
	const query = `filter action="REJECT" | stats count(*) as n by srcAddr | sort n desc, srcAddr | limit 20`
	want := `[{"n":1,"srcAddr":"172.31.16.139"},{"n":1,"srcAddr":"172.31.9.69"}]`
	out, errs, err := run("query", "--group", "vpc", "--start", "1418530000", "--end", "2016-12-01T00:00:00Z", "--output", "json", query)
	if err != nil {
		t.Fatalf("query: %v\n%s", err, errs)
	}
	if got := compactJSON(t, out); got != want {
		t.Errorf("json rows %s, want %s", got, want)
	}
	out, _, err = run("query", "--group", "vpc", "--start", "1431280876", "--end", "1431280877", "fields @timestamp, interfaceId, logStatus | sort logStatus")
	if err != nil || !strings.Contains(out, "2015-05-10 18:01:16.000  eni-1235b8ca123456789  NODATA") ||
		!strings.Contains(out, "SKIPDATA") || !strings.Contains(out, "2 records scanned, 2 matched") {
		t.Errorf("table output (NODATA/SKIPDATA): %v\n%s", err, out)
	}
	_, errs, err = run("query", "--group", "vpc", "--since", "87600h", "filter action =\n| limit 1")
	if err == nil || !strings.Contains(errs, "line 2, column 1") {
		t.Errorf("syntax error: %v %s", err, errs)
	}
	// Two paths, the same file twice: imported once.
	out, errs, err = run("query", "--files", examples, examples, "-o", "json", query)
	if err != nil {
		t.Fatalf("--files: %v\n%s", err, errs)
	}
	if got := compactJSON(t, out); got != want {
		t.Errorf("--files rows %s, want %s", got, want)
	}
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// startServerBinary builds flowlens, runs `flowlens server` on a temporary
// data dir until the test ends, and returns what runs the CLI against it
// (FLOWLENS_SERVER and FLOWLENS_TOKEN set): stdout, stderr, error.
func startServerBinary(t *testing.T) func(args ...string) (string, string, error) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "flowlens")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	const token = "query-e2e-token"
	env := append(os.Environ(), "FLOWLENS_TOKEN="+token, "FLOWLENS_SERVER=http://"+addr)
	var log bytes.Buffer
	srv := exec.Command(bin, "server", "--data-dir", filepath.Join(dir, "data"), "--listen", addr, "--topology", "../../examples/topology.yaml")
	srv.Env, srv.Stdout, srv.Stderr = env, &log, &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server not healthy")
		}
		time.Sleep(100 * time.Millisecond)
	}
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	return run
}
