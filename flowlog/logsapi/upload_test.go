package logsapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/flowloggen"
	"github.com/flowlens/flowlens/server"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs/flowlogstest"
)

// startLimitedServer runs a server with the flow-log module configured by
// cfg and returns it with its data directory.
func startLimitedServer(t *testing.T, cfg ModuleConfig) (*server.Server, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := server.New(serverConfig(dir, cfg, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s, dir
}

// post sends body (of unknown length when chunked) and decodes the answer.
func post(t *testing.T, url string, hdr map[string]string, body []byte, chunked bool) (int, map[string]any) {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // hides the length: sent chunked
	}
	req, _ := http.NewRequest(http.MethodPost, url, r)
	req.Header.Set("Authorization", "Bearer secret")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

func metricsText(t *testing.T, s *server.Server) string {
	t.Helper()
	resp, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// assertNothingKept checks that no group was created and that the
// temporary directory holds nothing.
func assertNothingKept(t *testing.T, s *server.Server, dataDir string) {
	t.Helper()
	_, groups := call(t, "GET", s.URL()+"/api/v1/logs", "secret", nil, nil)
	if g := groups["groups"].([]any); len(g) != 0 {
		t.Errorf("groups after refused uploads: %v", g)
	}
	left, _ := os.ReadDir(filepath.Join(dataDir, "tmp"))
	if len(left) != 0 {
		t.Errorf("%d files left in DATA_DIR/tmp", len(left))
	}
}

func hexSHA(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// An upload larger than --max-upload-bytes is refused with 413, whether
// it declares its length or not, and nothing of it is kept.
func TestUploadBodyTooLarge(t *testing.T) {
	const limit = 64 << 10
	s, dir := startLimitedServer(t, ModuleConfig{MaxUploadBytes: limit})
	var text bytes.Buffer
	flowloggen.Generate(&text, flowloggen.GenConfig{Records: 2000, Seed: 1}) // ~150 KB
	if text.Len() <= limit {
		t.Fatalf("test records: %d bytes", text.Len())
	}
	for _, c := range []struct {
		name    string
		hdr     map[string]string
		body    []byte
		chunked bool
	}{
		{"declared length", nil, text.Bytes(), false},
		{"chunked", nil, text.Bytes(), true},
		{"with hash", map[string]string{HeaderSHA256: hexSHA(text.Bytes())}, text.Bytes(), true},
	} {
		code, out := post(t, s.URL()+"/api/v1/logs/big", c.hdr, c.body, c.chunked)
		if msg, _ := out["error"].(string); code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "--max-upload-bytes") {
			t.Errorf("%s: %d %v, want 413 naming --max-upload-bytes", c.name, code, out)
		}
	}
	assertNothingKept(t, s, dir)
	if m := metricsText(t, s); !strings.Contains(m, `flowlens_flowlog_uploads_refused_total{reason="too_large"} 3`) {
		t.Error("refusals not counted")
	}
	// Under the limit, the same endpoint takes records.
	small := text.Bytes()[:bytes.IndexByte(text.Bytes()[limit/2:], '\n')+limit/2+1]
	if code, out := post(t, s.URL()+"/api/v1/logs/big", nil, small, true); code != 200 || out["records"].(float64) == 0 {
		t.Errorf("small upload: %d %v", code, out)
	}
}

// bomb is gzip of n bytes of one flow-log record repeated: it compresses
// about a thousand times.
func bomb(t *testing.T, n int) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	line := []byte("2 123456789012 eni-0a1b2c3d 10.0.1.5 10.0.2.9 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK\n")
	block := bytes.Repeat(line, 1<<20/len(line))
	for written := 0; written < n; written += len(block) {
		zw.Write(block)
	}
	zw.Close()
	return b.Bytes()
}

// A small gzip upload that decompresses beyond --max-upload-decompressed-
// bytes is refused with 413, whether gzip is its Content-Encoding or its
// content (a .gz file sent as stored), and no more than the cap was ever
// written to DATA_DIR/tmp or stored.
func TestGzipBombUploadCapped(t *testing.T) {
	const limit = 1 << 20
	s, dir := startLimitedServer(t, ModuleConfig{MaxDecompressedBytes: limit})
	b := bomb(t, 64<<20)
	t.Logf("bomb: %d bytes of gzip, 64 MiB of records", len(b))
	for _, c := range []struct {
		name string
		hdr  map[string]string
	}{
		{"Content-Encoding", map[string]string{"Content-Encoding": "gzip"}},
		{"Content-Encoding with hash", map[string]string{"Content-Encoding": "gzip", HeaderSHA256: strings.Repeat("ab", 32)}},
		{".gz file", nil},
		{".gz file with hash", map[string]string{HeaderSHA256: hexSHA(b)}},
	} {
		code, out := post(t, s.URL()+"/api/v1/logs/bomb?source=bomb.log.gz", c.hdr, b, false)
		if msg, _ := out["error"].(string); code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "--max-upload-decompressed-bytes") {
			t.Errorf("%s: %d %v, want 413 naming --max-upload-decompressed-bytes", c.name, code, out)
		}
	}
	assertNothingKept(t, s, dir)
	m := metricsText(t, s)
	if !strings.Contains(m, `flowlens_flowlog_uploads_refused_total{reason="too_large"} 4`) {
		t.Error("refusals not counted")
	}
	// Two uploads spooled at most the cap each, two the compressed bytes.
	if spooled := metricValue(t, m, "flowlens_flowlog_upload_spooled_bytes_total"); spooled > 2*limit+2*float64(len(b)) {
		t.Errorf("%.0f bytes spooled to DATA_DIR/tmp, more than the cap allows", spooled)
	}
}

func metricValue(t *testing.T, text, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if err := json.Unmarshal([]byte(v), &f); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in the metrics", name)
	return 0
}

// firstRead signals when a request's body is first read from.
type firstRead struct {
	io.ReadCloser
	once   *sync.Once
	signal chan struct{}
}

func (f firstRead) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if n > 0 {
		f.once.Do(func() { close(f.signal) })
	}
	return n, err
}

// startModule runs the flow-log module alone behind an HTTP server whose
// requests to group "slow" tell reading on the channel.
func startModule(t *testing.T, cfg ModuleConfig) (url string, slowRead <-chan struct{}) {
	t.Helper()
	dir := t.TempDir()
	st, err := duckdb.Open(duckdb.Config{Path: filepath.Join(dir, "flowlens.duckdb")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := NewModule(cfg, Dependencies{DB: st, OpenStore: openStore, Registry: prometheus.NewRegistry(), DataDir: dir})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	m.Routes(mux, func(h http.Handler) http.Handler { return h })
	signal, once := make(chan struct{}), &sync.Once{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("group") == "slow" || strings.HasSuffix(r.URL.Path, "/slow") {
			r.Body = firstRead{ReadCloser: r.Body, once: once, signal: signal}
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.Close()
		m.Stop(context.Background())
		st.Close()
	})
	return srv.URL, signal
}

// An upload trickling into group "slow" does not stop an upload to
// another group from completing: the importer is only taken once an
// upload has been received whole.
func TestSlowUploadDoesNotBlockOtherGroups(t *testing.T) {
	url, slowRead := startModule(t, ModuleConfig{})
	var text bytes.Buffer
	flowloggen.Generate(&text, flowloggen.GenConfig{Records: 1000, Seed: 7})
	all := text.Bytes()
	head := all[:bytes.IndexByte(all, '\n')+1]

	pr, pw := io.Pipe()
	slowDone := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/logs/slow", pr)
		req.Header.Set(HeaderSHA256, hexSHA(all)) // the CLI's way: straight to the importer before
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			slowDone <- 0
			return
		}
		resp.Body.Close()
		slowDone <- resp.StatusCode
	}()
	go pw.Write(head) //nolint:errcheck // the test ends the pipe
	select {
	case <-slowRead:
	case <-time.After(20 * time.Second):
		t.Fatal("the slow upload never reached the server")
	}

	fastDone := make(chan int, 1)
	go func() {
		var b bytes.Buffer
		flowloggen.Generate(&b, flowloggen.GenConfig{Records: 100, Seed: 8})
		resp, err := http.Post(url+"/api/v1/logs/fast", "text/plain", &b)
		if err != nil {
			fastDone <- 0
			return
		}
		resp.Body.Close()
		fastDone <- resp.StatusCode
	}()
	select {
	case code := <-fastDone:
		if code != 200 {
			t.Errorf("upload to the other group: %d", code)
		}
	case <-time.After(20 * time.Second):
		pw.CloseWithError(errors.New("test over"))
		t.Fatal("an upload to another group waited for the slow one")
	}
	pw.Write(all[len(head):]) //nolint:errcheck // checked through the answer
	pw.Close()
	if code := <-slowDone; code != 200 {
		t.Errorf("the slow upload, once complete: %d", code)
	}
}

// An upload that stops sending is answered 408 and its connection closed
// once --upload-stall-timeout passes without 64 KiB arriving.
func TestTrickledUploadTimesOut(t *testing.T) {
	s, dir := startLimitedServer(t, ModuleConfig{UploadStallTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /api/v1/logs/slow HTTP/1.1\r\nHost: flowlens\r\nAuthorization: Bearer secret\r\n"+
		"Content-Length: 10000000\r\n\r\n2 123456789012 eni-0a1b2c3d 10.0.1.5 10.0.2.9 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK\n")
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled upload: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "--upload-stall-timeout") {
		t.Fatalf("stalled upload: %d %s", resp.StatusCode, b)
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the connection stayed open: %v", err)
	}
	assertNothingKept(t, s, dir)
	if m := metricsText(t, s); !strings.Contains(m, `flowlens_flowlog_uploads_refused_total{reason="too_slow"} 1`) {
		t.Error("the refusal is not counted")
	}
}

// The stall deadline ends with the upload: an import that takes longer
// than --upload-stall-timeout after the last byte still completes (a read
// deadline left on the connection would cancel the request's context).
func TestUploadImportOutlivesStallTimeout(t *testing.T) {
	s, _ := startLimitedServer(t, ModuleConfig{UploadStallTimeout: 20 * time.Millisecond})
	var text bytes.Buffer
	flowloggen.Generate(&text, flowloggen.GenConfig{Records: 200000, Seed: 3})
	code, out := post(t, s.URL()+"/api/v1/logs/long", nil, flowlogstest.Gzip(text.String()), false)
	if code != 200 || out["records"] != 200000.0 {
		t.Fatalf("%d %v", code, out)
	}
	if ms := out["duration_ms"].(float64); ms < 20 {
		t.Logf("the import took %.0f ms, less than the stall timeout: this run proves little", ms)
	}
}
