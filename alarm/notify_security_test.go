package alarm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hitCounter is an HTTP server that counts the requests it gets.
type hitCounter struct {
	hits atomic.Int64
	srv  *httptest.Server
}

func newHitCounter(t *testing.T) *hitCounter {
	h := &hitCounter{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.hits.Add(1) }))
	t.Cleanup(h.srv.Close)
	return h
}

// fireAlarm creates an alarm that goes to ALARM at its first evaluation
// (no data, treated as breaching) with these targets, evaluates it and
// waits until every notification has an outcome.
func fireAlarm(t *testing.T, te *testEngine, name string, webhooks ...string) Status {
	t.Helper()
	def := Definition{Name: name, Namespace: "FlowLens/Logs", Metric: "rejects", Statistic: Sum, Period: Duration(time.Minute),
		Comparison: Greater, Threshold: 0, TreatMissingData: Breaching, Webhooks: webhooks}
	if _, err := te.Put(context.Background(), def, true); err != nil {
		t.Fatal(err)
	}
	te.evalAt(t, time.Unix(1_800_000_003, 0))
	waitFor(t, name+"'s notifications", func() bool {
		s, _ := te.Get(name)
		return s.Notifications.Sent+s.Notifications.Failed == int64(len(webhooks))
	})
	s, _ := te.Get(name)
	return s
}

// A webhook that redirects must not make the server POST (or GET)
// somewhere else: an alarm could otherwise reach internal services
// through any public redirector.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	te := openTestEngine(t, filepath.Join(t.TempDir(), "a.duckdb"))
	internal := newHitCounter(t)
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		redirector := httptest.NewServer(http.RedirectHandler(internal.srv.URL+"/admin", code))
		s := fireAlarm(t, te, "redirect-"+http.StatusText(code)[:4], redirector.URL)
		redirector.Close()
		if s.Notifications.Failed != 1 || !strings.Contains(s.Notifications.LastError, "redirects are not followed") {
			t.Errorf("%d: notifications %+v", code, s.Notifications)
		}
	}
	if n := internal.hits.Load(); n != 0 {
		t.Errorf("the redirect target was hit %d times", n)
	}
}

// syncBuffer is a log destination tests can read while the engine writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bannerServer is a TCP service that does not speak HTTP: it writes a
// banner to whoever connects and closes.
func bannerServer(t *testing.T, banner string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(banner)) //nolint:errcheck // best effort
			c.Close()
		}
	}()
	return "http://" + l.Addr().String() + "/"
}

// Whatever a target answers (an error page, a redirect's location, the
// banner of a service that is not HTTP at all) never appears in the
// alarm's status, its history or the logs: otherwise an alarm is a way to
// read internal services.
func TestWebhookResponseBodyNeverStored(t *testing.T) {
	var logs syncBuffer
	te := openTestEngineWith(t, filepath.Join(t.TempDir(), "a.duckdb"), Config{},
		slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	answer := func(code int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if code/100 == 3 {
				w.Header().Set("Location", "http://127.0.0.1:1/"+body)
			}
			w.WriteHeader(code)
			w.Write([]byte(body)) //nolint:errcheck // best effort
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	cases := []struct {
		name   string
		target func(secret string) string
	}{
		{"server-error", func(s string) string { return answer(http.StatusInternalServerError, s) }},
		{"refused", func(s string) string { return answer(http.StatusBadRequest, s) }},
		{"redirect", func(s string) string { return answer(http.StatusFound, s) }},
		{"ok", func(s string) string { return answer(http.StatusOK, s) }},
		{"smtp", func(s string) string { return bannerServer(t, "220 "+s+" ESMTP ready\r\n") }},
		{"not-http", func(s string) string { return bannerServer(t, s+"\r\n") }},
	}
	for _, c := range cases {
		secret := "s3cr3t-" + c.name
		s := fireAlarm(t, te, c.name, c.target(secret))
		hist, err := te.History(context.Background(), c.name, 100)
		if err != nil {
			t.Fatal(err)
		}
		status, _ := json.Marshal(s)
		history, _ := json.Marshal(hist)
		for what, text := range map[string]string{"status": string(status), "history": string(history), "logs": logs.String()} {
			if strings.Contains(text, secret) {
				t.Errorf("%s: the answer's content is in the %s: %s", c.name, what, text)
			}
		}
	}
}

// With --notify-allowed-hosts, a target outside it is refused when the
// alarm is created (400 naming the field) and again at delivery: alarms
// stored before the list existed, and names that resolve elsewhere by the
// time a notification goes out (DNS rebinding), reach nothing.
func TestNotifyAllowedHostsRefusesOthers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	target := newHitCounter(t)
	port := target.srv.Listener.Addr().(*net.TCPAddr).Port
	allowed := Config{NotifyAllowedHosts: []string{"hooks.example.com, *.corp.example", "10.99.0.0/16"}}

	// An alarm stored before the allowlist was configured.
	te0 := openTestEngine(t, filepath.Join(dir, "a.duckdb"))
	def := Definition{Name: "old", Namespace: "FlowLens/Logs", Metric: "rejects", Statistic: Sum, Period: Duration(time.Minute),
		Comparison: Greater, Threshold: 0, TreatMissingData: Breaching, Webhooks: []string{target.srv.URL}}
	if _, err := te0.Put(ctx, def, true); err != nil {
		t.Fatal(err)
	}
	te0.close()

	te := openTestEngineWith(t, filepath.Join(dir, "a.duckdb"), allowed, nil)
	mux := http.NewServeMux()
	(&Module{Engine: te.Engine}).Routes(mux, func(h http.Handler) http.Handler { return h })
	api := httptest.NewServer(mux)
	defer api.Close()
	create := func(name, field string, urls ...string) (int, string) {
		d := map[string]any{"name": name, "namespace": "N", "metric": "m", "period": "1m", "comparison": ">", field: urls}
		b, _ := json.Marshal(d)
		resp, err := http.Post(api.URL+"/api/v1/alarms", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out) //nolint:errcheck // checked through the fields
		msg, _ := out["error"].(string)
		return resp.StatusCode, msg
	}
	for i, c := range []struct {
		field string
		urls  []string
		want  string // the field named in the 400, "" for accepted
	}{
		{"webhooks", []string{target.srv.URL}, "webhooks[0]"},
		{"alertmanagers", []string{"http://127.0.0.1:9093"}, "alertmanagers[0]"},
		{"webhooks", []string{"https://hooks.example.com/x", "http://localhost:1/"}, "webhooks[1]"},
		{"webhooks", []string{"http://[::1]:80/"}, "webhooks[0]"},
		{"webhooks", []string{"https://hooks.example.com/x", "http://a.corp.example/", "http://10.99.1.2:8080/"}, ""},
	} {
		code, msg := create("new-"+strconv.Itoa(i), c.field, c.urls...)
		switch {
		case c.want == "" && code != http.StatusCreated:
			t.Errorf("%v: %d %s, want 201", c.urls, code, msg)
		case c.want != "" && (code != http.StatusBadRequest || !strings.Contains(msg, c.want+":") || !strings.Contains(msg, "--notify-allowed-hosts")):
			t.Errorf("%v: %d %q, want 400 naming %s", c.urls, code, msg, c.want)
		}
	}

	// A name inside the list's networks when the alarm is created, and
	// on the loopback by the time it fires.
	var resolveTo atomic.Value
	resolveTo.Store(netip.MustParseAddr("10.99.0.5"))
	te.allow.resolve = func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{resolveTo.Load().(netip.Addr)}, nil
	}
	rebind := def
	rebind.Name, rebind.Webhooks = "rebind", []string{"http://rebind.test:" + strconv.Itoa(port) + "/"}
	if _, err := te.Put(ctx, rebind, true); err != nil {
		t.Fatalf("a name resolving into 10.99.0.0/16: %v", err)
	}
	resolveTo.Store(netip.MustParseAddr("127.0.0.1"))

	te.evalAt(t, time.Unix(1_800_000_003, 0))
	for _, name := range []string{"old", "rebind"} {
		waitFor(t, name+" refused", func() bool { s, _ := te.Get(name); return s.Notifications.Failed == 1 })
		if s, _ := te.Get(name); !strings.Contains(s.Notifications.LastError, "not in --notify-allowed-hosts") {
			t.Errorf("%s: last error %q", name, s.Notifications.LastError)
		}
	}
	if n := target.hits.Load(); n != 0 {
		t.Errorf("the target outside the list was hit %d times", n)
	}
	if v := value(te.metrics.refused.WithLabelValues(KindWebhook)); v != 2 {
		t.Errorf("refused counter: %v", v)
	}
}

// Targets the list names are reached: by address, and by name wherever
// the name resolves.
func TestNotifyAllowedHostsDeliversToListed(t *testing.T) {
	target := newHitCounter(t)
	port := strconv.Itoa(target.srv.Listener.Addr().(*net.TCPAddr).Port)
	for i, c := range []struct{ list, url string }{
		{"127.0.0.1", "http://127.0.0.1:" + port + "/"},
		{"127.0.0.0/8", "http://127.0.0.1:" + port + "/"},
		{"localhost", "http://localhost:" + port + "/"},
	} {
		te := openTestEngineWith(t, filepath.Join(t.TempDir(), "a.duckdb"), Config{NotifyAllowedHosts: []string{c.list}}, nil)
		if s := fireAlarm(t, te, "a", c.url); s.Notifications.Sent != 1 {
			t.Errorf("%s to %s: %+v", c.list, c.url, s.Notifications)
		}
		if n := target.hits.Load(); n != int64(i+1) {
			t.Errorf("%s to %s: %d hits", c.list, c.url, n)
		}
	}
}

func TestParseAllowlistNamesTheEntry(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "http://hooks.example.com", "hooks.example.com:443", "*"} {
		if _, err := ParseAllowlist([]string{"ok.example.com," + bad}); err == nil || !strings.Contains(err.Error(), `--notify-allowed-hosts "`+bad+`"`) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if a, err := ParseAllowlist([]string{" ", ""}); a != nil || err != nil {
		t.Errorf("empty: %v %v", a, err)
	}
	a, err := ParseAllowlist([]string{"Hooks.Example.com", "*.corp.example", "::ffff:10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{"hooks.example.com": true, "HOOKS.example.com.": true, "x.hooks.example.com": false,
		"a.b.corp.example": true, "corp.example": false, "evilcorp.example": false} {
		if got := a.nameAllowed(host); got != want {
			t.Errorf("name %s: %v", host, got)
		}
	}
	if !a.addrAllowed(netip.MustParseAddr("10.1.2.3")) || a.addrAllowed(netip.MustParseAddr("10.1.2.4")) {
		t.Error("address entries")
	}
	if err := a.CheckURL(context.Background(), "http://10.1.2.4/"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("10.1.2.4 with no network listed: %v", err)
	}
}
