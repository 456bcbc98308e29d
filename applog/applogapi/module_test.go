package applogapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/applog"
	"github.com/flowlens/flowlens/store"
)

type fakeStore struct {
	events    []string
	pending   []string
	failWrite bool
}

type fakeWriter struct{ s *fakeStore }

func (s *fakeStore) Begin(context.Context, string, int64) (Writer, error) { return fakeWriter{s}, nil }
func (s *fakeStore) Close() error                                         { return nil }
func (w fakeWriter) Write(_ context.Context, b *applog.Batch) error {
	if w.s.failWrite {
		return errors.New("disk full")
	}
	for i := range b.Len() {
		w.s.pending = append(w.s.pending, string(b.Message(i)))
	}
	return nil
}
func (w fakeWriter) Commit() error {
	w.s.events, w.s.pending = append(w.s.events, w.s.pending...), nil
	return nil
}
func (w fakeWriter) Rollback() { w.s.pending = nil }

type recorder struct {
	groups []string
	secs   []int64
	msgs   []string
}

func (r *recorder) Ingested(group string, secs []int64, msgs []string) {
	r.groups = append(r.groups, group)
	r.secs = append(r.secs, secs...)
	r.msgs = append(r.msgs, msgs...)
}

type noDB struct{ store.ComponentDB }

func newModule(t *testing.T, st *fakeStore, rec *recorder) *Module {
	t.Helper()
	m, err := New(Config{MaxBodyBytes: 1 << 10}, Dependencies{DB: noDB{},
		OpenStore: func(context.Context, store.ComponentDB, *slog.Logger) (Store, error) { return st, nil },
		Ingester:  rec, Now: func() time.Time { return time.UnixMilli(1772366500000) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(context.Background()) })
	return m
}

func post(m *Module, ct, body string) *httptest.ResponseRecorder {
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/logs/{group}", m)
	req := httptest.NewRequest(http.MethodPost, "/api/v1/logs/app", strings.NewReader(body))
	req.Header.Set("Content-Type", ct)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	return w
}

// Metric filters see an application log's events, with their own time in
// seconds, once they are stored, and never when the put fails.
func TestMetricFiltersSeeStoredEventsOnly(t *testing.T) {
	st, rec := &fakeStore{}, &recorder{}
	m := newModule(t, st, rec)
	w := post(m, "text/plain", "{\"time\":1772366400,\"level\":\"ERROR\"}\nplain line\n")
	if w.Code != 200 || len(st.events) != 2 {
		t.Fatalf("%d %s, stored %v", w.Code, w.Body, st.events)
	}
	if strings.Join(rec.groups, ",") != "app" || rec.secs[0] != 1772366400 || rec.secs[1] != 1772366500 || rec.msgs[1] != "plain line" {
		t.Fatalf("handed over %v %v %v", rec.groups, rec.secs, rec.msgs)
	}
	st.failWrite = true
	if w := post(m, "text/plain", "another\n"); w.Code != 500 || len(rec.msgs) != 2 {
		t.Fatalf("failed put: %d, metric filters saw %v", w.Code, rec.msgs)
	}
}

func TestPutLimitsAndContentTypes(t *testing.T) {
	cases := []struct {
		name, ct, body string
		code           int
		want           string
	}{
		{"json lines refuse text", "application/x-ndjson", "{\"a\":1}\nhello\n", 200, `"events":1,"bad_lines":1`},
		{"text with charset", "text/plain; charset=utf-8", "hello\n", 200, `"events":1`},
		{"body beyond the limit", "text/plain", strings.Repeat("x", 2000), 413, "too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newModule(t, &fakeStore{}, &recorder{})
			w := post(m, c.ct, c.body)
			if w.Code != c.code || !strings.Contains(w.Body.String(), c.want) {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		})
	}
	m := newModule(t, &fakeStore{}, &recorder{})
	for ct, want := range map[string]bool{"text/plain": true, "application/x-ndjson": true, "application/octet-stream": false, "": false} {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/logs/app", nil)
		r.Header.Set("Content-Type", ct)
		if m.Handles(r) != want {
			t.Errorf("Handles(%q) = %v", ct, !want)
		}
	}
}
