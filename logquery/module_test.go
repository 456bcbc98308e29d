package logquery

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestAPI drives POST /api/v1/query over HTTP against a real DuckDB file.
func TestAPI(t *testing.T) {
	st := examplesStore(t)
	reg := prometheus.NewRegistry()
	m, err := New(DefaultConfig(), testSources(), Dependencies{DB: st, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Stop(context.Background())
	mux := http.NewServeMux()
	protected := false
	m.Routes(mux, func(h http.Handler) http.Handler { protected = true; return h })
	if !protected {
		t.Fatal("the endpoint is not behind the token check")
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/api/v1/query", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}

	code, out := post(`{"query": "filter action=\"REJECT\" | stats count(*) as n by srcAddr | sort n desc, srcAddr | limit 20",
		"log_groups": ["vpc"], "start": 1418530000, "end": "2016-12-01T00:00:00Z"}`)
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	got, _ := json.Marshal(out["columns"])
	rows, _ := json.Marshal(out["rows"])
	if string(got) != `["srcAddr","n"]` || string(rows) != `[["172.31.16.139",1],["172.31.9.69",1]]` {
		t.Errorf("columns %s rows %s", got, rows)
	}
	stats := out["statistics"].(map[string]any)
	if stats["records_scanned"] != 7.0 || stats["records_matched"] != 2.0 || stats["bytes_scanned"].(float64) <= 0 {
		t.Errorf("statistics %v", stats)
	}
	if _, ok := stats["elapsed_ms"]; !ok {
		t.Error("no elapsed_ms")
	}

	code, out = post(`{"query": "fields srcAddr\n| filter dstPort = \n| limit 5", "log_groups": ["vpc"], "start": "1418530000", "end": 1500000000}`)
	if code != 400 || out["line"] != 3.0 || out["column"] != 1.0 {
		t.Errorf("syntax error: %d %v", code, out)
	}
	for _, body := range []string{
		`{"query": "", "log_groups": ["vpc"]}`,
		`{"query": "stats count(*)", "log_groups": []}`,
		`{"query": "stats count(*)", "log_groups": ["vpc"], "start": "yesterday"}`,
		`{"query": "stats count(*)", "log_groups": ["vpc"], "start": 1500000000, "end": 1400000000}`,
		`{"query": "stats count(*)", "log_groups": ["vpc", "flowlens/flows"], "start": 1500000000, "end": 1400000000}`,
		`{"query": "stats count(*)", "log_groups": ["vpc"], "extra": 1}`,
		`not json`,
	} {
		if code, out := post(body); code != 400 || out["error"] == "" {
			t.Errorf("%s: %d %v", body, code, out)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == "flowlens_logquery_queries_total"
	}
	if !found {
		t.Error("no flowlens_logquery_queries_total metric")
	}
}
