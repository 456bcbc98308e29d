package logsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/internal/flowloggen"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/server"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs/flowlogstest"
)

// openStore is the server's record store (what cmd/flowlens wires).
func openStore(ctx context.Context, db store.ComponentDB, log *slog.Logger) (importer.Store, error) {
	return flowlogs.Open(ctx, db, flowlogs.Config{}, log)
}

// fakeMetricFilter stands in for the metric-filter module: a server module
// with the Ingested method the flow-log module looks for.
type fakeMetricFilter struct{ flowlogstest.Sink }

func (*fakeMetricFilter) Routes(*http.ServeMux, func(http.Handler) http.Handler) {}
func (*fakeMetricFilter) Start(context.Context) error                            { return nil }
func (*fakeMetricFilter) Stop(context.Context) error                             { return nil }

// serverConfig is a server on a DuckDB file in dir running the flow-log
// module, after the metric-filter stand-in mf when there is one (as
// cmd/flowlens wires the real one: the module's Ingester).
func serverConfig(dir string, cfg ModuleConfig, mf *fakeMetricFilter) server.Config {
	return server.Config{DataDir: dir, Listen: "127.0.0.1:0", Tokens: []string{"secret"},
		OpenStore: duckdb.Opener(duckdb.Config{Path: filepath.Join(dir, "flowlens.duckdb")}),
		Modules: func(h *server.Host) ([]module.Named, error) {
			d := Dependencies{Log: h.Log, Registry: h.Registry, DataDir: h.DataDir, DB: h.DB, OpenStore: openStore}
			var mods []module.Named
			if mf != nil {
				d.Ingester = mf
				mods = append(mods, module.Named{Name: "metricfilter", Module: mf})
			}
			return append(mods, module.Named{Name: "flowlog", Module: NewModule(cfg, d)}), nil
		}}
}

func startServer(t *testing.T, mf *fakeMetricFilter) *server.Server {
	t.Helper()
	s, err := server.New(serverConfig(t.TempDir(), ModuleConfig{Importer: importer.Config{MaxErrors: 2}}, mf), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s
}

func call(t *testing.T, method, url, token string, hdr map[string]string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

// POST /api/v1/logs/{group}: newline-delimited records, gzip
// Content-Encoding, a custom format, bad lines in the answer, dedupe, the
// metric-filter module fed once; GET the groups and a file by hash.
func TestModuleHTTP(t *testing.T) {
	mf := &fakeMetricFilter{}
	s := startServer(t, mf)
	base := s.URL() + "/api/v1/logs"
	text := "eni-1 10.0.0.1 10.0.0.2 22 REJECT 1700000000\n" +
		"eni-1 10.0.0.1 10.0.0.2 http REJECT 1700000001\n" +
		"eni-2   10.0.0.3 10.0.0.2 443 ACCEPT 1700000002\n" +
		"too few\n" +
		"one two three four five six seven\n"
	body := flowlogstest.Gzip(text)
	url := base + "/prod?source=records.txt&format=" + strings.ReplaceAll("${interface-id}+${srcaddr}+${dstaddr}+${dstport}+${action}+${start}", "$", "%24")

	if code, _ := call(t, "POST", url, "", nil, body); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	code, sum := call(t, "POST", url, "secret", map[string]string{"Content-Encoding": "gzip"}, body)
	if code != 200 || sum["records"] != 2.0 || sum["bad_lines"] != 3.0 || sum["source"] != "records.txt" || sum["duplicate"] != nil {
		t.Fatalf("upload: %d %v", code, sum)
	}
	errs := sum["errors"].([]any)
	if len(errs) != 2 || errs[0].(map[string]any)["line"] != 2.0 || !strings.Contains(errs[0].(map[string]any)["reason"].(string), `field 4 (dstport): "http"`) {
		t.Errorf("errors %v", errs)
	}
	if len(mf.Msgs) != 2 || mf.Msgs[1] != "eni-2   10.0.0.3 10.0.0.2 443 ACCEPT 1700000002" || mf.Times[0] != 1700000000 {
		t.Errorf("metric filter saw %q %v", mf.Msgs, mf.Times)
	}

	code, again := call(t, "POST", url, "secret", map[string]string{"Content-Encoding": "gzip"}, body)
	if code != 200 || again["duplicate"] != true || again["records"] != 0.0 || len(mf.Msgs) != 2 {
		t.Fatalf("again: %d %v (metric filter %d)", code, again, len(mf.Msgs))
	}
	code, groups := call(t, "GET", base, "secret", nil, nil)
	g := groups["groups"].([]any)
	if code != 200 || len(g) != 1 || g[0].(map[string]any)["records"] != 2.0 || g[0].(map[string]any)["streams"] != 2.0 {
		t.Fatalf("groups: %d %v", code, groups)
	}
	code, file := call(t, "GET", base+"/prod/files/"+sum["sha256"].(string), "secret", nil, nil)
	if code != 200 || file["source"] != "records.txt" || file["records"] != 2.0 {
		t.Fatalf("file: %d %v", code, file)
	}
	if code, _ := call(t, "GET", base+"/prod/files/"+strings.Repeat("ab", 32), "secret", nil, nil); code != 404 {
		t.Fatalf("unknown file: %d", code)
	}

	// A field the catalogue does not know is stored as text, with one
	// warning.
	code, unk := call(t, "POST", base+"/newfield?format=%24%7Bsrcaddr%7D+%24%7Bnew-field%7D", "secret", nil, []byte("10.0.0.1 x\n10.0.0.2 y\n"))
	if ws, _ := unk["warnings"].([]any); code != 200 || unk["records"] != 2.0 || len(ws) != 1 || !strings.Contains(ws[0].(string), "new-field") {
		t.Fatalf("unknown field: %d %v", code, unk)
	}

	// The hash announced by a client is checked.
	code, bad := call(t, "POST", base+"/prod", "secret", map[string]string{HeaderSHA256: strings.Repeat("ab", 32)}, []byte(flowloggen.ReferenceText(false)))
	if code != 400 || !strings.Contains(bad["error"].(string), "does not match") {
		t.Fatalf("wrong hash: %d %v", code, bad)
	}
	for _, c := range []struct{ url, want string }{
		{base + "/prod?format=%24%7Bbo%3Bgus%7D", `"bo;gus" is not a field name`},
		{base + "/prod?format=nope", "want ${field}"},
	} {
		if code, out := call(t, "POST", c.url, "secret", nil, []byte("x\n")); code != 400 || !strings.Contains(out["error"].(string), c.want) {
			t.Errorf("%s: %d %v", c.url, code, out)
		}
	}
}

// Uploads are serialized on the importer; concurrent ones all land.
func TestModuleConcurrentUploads(t *testing.T) {
	s := startServer(t, nil)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b bytes.Buffer
			flowloggen.Generate(&b, flowloggen.GenConfig{Records: 2000, Seed: uint64(i + 1)})
			if code, out := call(t, "POST", s.URL()+"/api/v1/logs/c", "secret", nil, b.Bytes()); code != 200 || out["records"] != 2000.0 {
				t.Errorf("upload %d: %d %v", i, code, out)
			}
		}()
	}
	wg.Wait()
	_, groups := call(t, "GET", s.URL()+"/api/v1/logs", "secret", nil, nil)
	if g := groups["groups"].([]any); g[0].(map[string]any)["records"] != 8000.0 {
		t.Errorf("groups %v", groups)
	}
}

// PUT /api/v1/logs/{group}/retention and DELETE /api/v1/logs/{group}:
// CloudWatch's retention values, null for never, 404 for unknown groups;
// the groups listing shows the retention; a deleted group is gone.
func TestModuleRetentionAndDelete(t *testing.T) {
	s := startServer(t, nil)
	base := s.URL() + "/api/v1/logs"
	if code, out := call(t, "POST", base+"/prod", "secret", nil, []byte(flowloggen.ReferenceText(false))); code != 200 {
		t.Fatalf("upload: %d %v", code, out)
	}
	for _, c := range []struct {
		group, body string
		code        int
		want        string
	}{
		{"prod", `{"retention_days": 30}`, 200, `"retention_days":30`},
		{"prod", `{"retention_days": 2}`, 400, "bad retention period: 2 days"},
		{"prod", `{"retention_days": 0}`, 400, "give null for never"},
		{"prod", `{"retention_days": "x"}`, 400, "body:"},
		{"prod", `{"days": 3}`, 400, "unknown field"},
		{"nope", `{"retention_days": 7}`, 404, "no such log group"},
		{"prod", `{"retention_days": 3653}`, 200, `"retention_days":3653`},
		{"prod", `{"retention_days": null}`, 200, `"name":"prod"`},
	} {
		code, out := call(t, "PUT", base+"/"+c.group+"/retention", "secret", nil, []byte(c.body))
		b, _ := json.Marshal(out)
		if code != c.code || !strings.Contains(string(b), c.want) {
			t.Errorf("%s %s: %d %s, want %d %s", c.group, c.body, code, b, c.code, c.want)
		}
	}
	if code, _ := call(t, "PUT", base+"/prod/retention", "", nil, []byte(`{"retention_days": 7}`)); code != 401 {
		t.Errorf("no token: %d", code)
	}
	call(t, "PUT", base+"/prod/retention", "secret", nil, []byte(`{"retention_days": 7}`))
	code, groups := call(t, "GET", base, "secret", nil, nil)
	if gs, _ := groups["groups"].([]any); code != 200 || len(gs) != 1 || gs[0].(map[string]any)["retention_days"] != 7.0 {
		t.Fatalf("groups: %d %v", code, groups)
	}
	if code, out := call(t, "DELETE", base+"/prod", "secret", nil, nil); code != 200 || out["deleted"] != "prod" {
		t.Fatalf("delete: %d %v", code, out)
	}
	if code, _ := call(t, "DELETE", base+"/prod", "secret", nil, nil); code != 404 {
		t.Errorf("delete again: %d", code)
	}
	if code, groups := call(t, "GET", base, "secret", nil, nil); code != 200 || len(groups["groups"].([]any)) != 0 {
		t.Errorf("groups after delete: %d %v", code, groups)
	}
}
