package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBrowser builds flowlens, runs `flowlens demo` on a temporary data dir
// and a free loopback port, and drives the UI with Debian's chromium through
// playwright-core (web/browsertest/run.mjs): log in, open every page at
// 1280x800 and 390x844, create a monitor through the form, run a flow-log
// query, open a path view. Screenshots go to web/browsertest/out/ (or
// $FLOWLENS_SCREENSHOTS). It skips when node, playwright-core (npm ci in
// web/browsertest) or chromium is missing.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	node, chromium := browserTools(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "flowlens")
	build := exec.Command("go", "build", "-o", bin, "../cmd/flowlens")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build flowlens: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	const password, token = "browser-test-password", "browser-test-token"
	demo := exec.Command(bin, "demo", "--listen", addr, "--data-dir", filepath.Join(dir, "data"),
		"--agents", "12", "--interval", "2s")
	demo.Env = append(os.Environ(), "FLOWLENS_ADMIN_PASSWORD="+password, "FLOWLENS_TOKEN="+token)
	logFile, err := os.Create(filepath.Join(dir, "demo.log"))
	if err != nil {
		t.Fatal(err)
	}
	demo.Stdout, demo.Stderr = logFile, logFile
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		demo.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { demo.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			demo.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("demo log:\n%s", tail(string(b), 4000))
		}
	})
	base := "http://" + addr
	waitHealthy(t, base)
	waitForFlows(t, filepath.Join(dir, "demo.log"))

	out := os.Getenv("FLOWLENS_SCREENSHOTS")
	if out == "" {
		out, _ = filepath.Abs(filepath.Join("browsertest", "out"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, node, "run.mjs")
	run.Dir = "browsertest"
	run.Env = append(os.Environ(), "FLOWLENS_URL="+base, "FLOWLENS_ADMIN_PASSWORD="+password,
		"FLOWLENS_TOKEN="+token, "OUT_DIR="+out, "CHROMIUM="+chromium)
	stdout, err := run.CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(stdout)), "\n") {
		t.Log(line)
	}
	if err != nil {
		t.Fatalf("browser test failed: %v", err)
	}
	t.Logf("screenshots in %s", out)
}

// browserTools finds node, playwright-core and chromium, or skips.
func browserTools(t *testing.T) (node, chromium string) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed (apt-get install nodejs npm): browser test skipped")
	}
	if _, err := os.Stat(filepath.Join("browsertest", "node_modules", "playwright-core", "package.json")); err != nil {
		t.Skip("playwright-core not installed (run `npm ci` in web/browsertest): browser test skipped")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		for _, name := range []string{"chromium", "chromium-browser"} {
			if p, err := exec.LookPath(name); err == nil {
				chromium = p
				break
			}
		}
	}
	if chromium == "" {
		t.Skip("chromium not installed (apt-get install chromium): browser test skipped")
	}
	return node, chromium
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHealthy(t *testing.T, base string) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("demo did not become healthy within 60s")
}

// waitForFlows waits until the demo's fleet has had time to report a few
// intervals, so the pages have data.
func waitForFlows(t *testing.T, log string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		f, err := os.Open(log)
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "FlowLens demo is running") {
					f.Close()
					time.Sleep(8 * time.Second)
					return
				}
			}
			f.Close()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal(fmt.Sprintf("demo banner not seen in %s", log))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
