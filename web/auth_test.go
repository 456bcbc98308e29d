package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/ingest"
	"github.com/flowlens/flowlens/topology"
)

const testPassword = "correct horse battery staple"

// testUI serves the UI alone (no store): enough for login, sessions, CSRF
// and the pages that need no store.
func testUI(t *testing.T) (*UI, *httptest.Server) {
	t.Helper()
	return testUIWith(t, Config{AdminPassword: testPassword}, nil)
}

// testUIWith is testUI with a given configuration and logger.
func testUIWith(t *testing.T, cfg Config, log *slog.Logger) (*UI, *httptest.Server) {
	t.Helper()
	topo, err := topology.Parse(examples.Topology, examples.TopologyName)
	if err != nil {
		t.Fatal(err)
	}
	d := Dependencies{DataDir: t.TempDir(), Registry: prometheus.NewRegistry(), Agents: ingest.NewAgents(),
		Topology: func() *topology.Topology { return topo }, Log: log}
	u, err := New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.Routes(mux, nil)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() { ts.Close(); u.Stop(context.Background()) })
	return u, ts
}

// browser is a client with cookies that does not follow redirects, so the
// tests see each answer.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// login goes through the form and returns the session's CSRF token.
func login(t *testing.T, c *http.Client, base, user, pw string) (*http.Response, string) {
	t.Helper()
	_, page := fetch(t, c, "GET", base+"/login", nil, nil)
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("login form has no CSRF token")
	}
	resp, _ := fetch(t, c, "POST", base+"/login", url.Values{"username": {user}, "password": {pw}, "csrf_token": {m[1]}, "next": {"/agents"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		return resp, ""
	}
	_, page = fetch(t, c, "GET", base+"/agents", nil, nil)
	m = csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("page has no CSRF token after login")
	}
	return resp, m[1]
}

func TestPagesNeedALogin(t *testing.T) {
	_, ts := testUI(t)
	c := browser(t)
	for _, p := range []string{"/", "/insights", "/monitors", "/flowlogs", "/internet", "/alarms", "/agents", "/monitors/x/path"} {
		resp, _ := fetch(t, c, "GET", ts.URL+p, nil, nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("%s without a session: %d %s, want a redirect to /login", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, _ := fetch(t, c, "GET", ts.URL+"/agents", nil, map[string]string{"HX-Request": "true"})
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("HX-Redirect") != "/login?next=%2Fagents" {
		t.Errorf("htmx request without a session: %d HX-Redirect=%q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
	}
	resp, _ = fetch(t, c, "GET", ts.URL+"/static/app.js", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("static files need no login: %d", resp.StatusCode)
	}
}

func TestLoginSetsASafeSessionCookie(t *testing.T) {
	_, ts := testUI(t)
	c := browser(t)
	resp, csrf := login(t, c, ts.URL, "admin", testPassword)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/agents" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure || len(sess.Value) < 40 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure over plain HTTP, a long random id", sess)
	}
	if csrf == "" || strings.Contains(sess.Value, csrf) {
		t.Fatal("the CSRF token must differ from the session id")
	}
	r2, page := fetch(t, c, "GET", ts.URL+"/", nil, nil)
	if r2.StatusCode != 200 || !strings.Contains(page, `href="/insights"`) || !strings.Contains(page, "admin") {
		t.Fatalf("overview after login: %d", r2.StatusCode)
	}
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if got := r2.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(r2.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("CSP %q", r2.Header.Get("Content-Security-Policy"))
	}
}

func TestLoginRefusals(t *testing.T) {
	u, ts := testUI(t)
	c := browser(t)
	if resp, _ := login(t, c, ts.URL, "admin", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	if resp, _ := login(t, c, ts.URL, "nobody", testPassword); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d", resp.StatusCode)
	}
	// Without the login form's token (another site posting a login).
	resp, _ := fetch(t, browser(t), "POST", ts.URL+"/login", url.Values{"username": {"admin"}, "password": {testPassword}}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login without the form's CSRF token: %d", resp.StatusCode)
	}
	// Too many failures from one address.
	for i := 0; i < 10; i++ {
		login(t, c, ts.URL, "admin", "wrong")
	}
	if resp, _ := login(t, c, ts.URL, "admin", testPassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after many failures: %d, want 429", resp.StatusCode)
	}
	if n := u.sessions.count(); n != 0 {
		t.Fatalf("%d sessions after refused logins", n)
	}
}

func TestStateChangesNeedTheCSRFToken(t *testing.T) {
	_, ts := testUI(t)
	c := browser(t)
	_, csrf := login(t, c, ts.URL, "admin", testPassword)
	resp, _ := fetch(t, c, "POST", ts.URL+"/logout", url.Values{}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without token: %d", resp.StatusCode)
	}
	resp, _ = fetch(t, c, "POST", ts.URL+"/logout", url.Values{"csrf_token": {"x" + csrf}}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout with a wrong token: %d", resp.StatusCode)
	}
	resp, _ = fetch(t, c, "POST", ts.URL+"/logout", url.Values{"csrf_token": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site post with the token: %d", resp.StatusCode)
	}
	// htmx sends the token as a header.
	resp, _ = fetch(t, c, "POST", ts.URL+"/logout", url.Values{}, map[string]string{csrfHeader: csrf})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout with the header token: %d", resp.StatusCode)
	}
	resp, _ = fetch(t, c, "GET", ts.URL+"/agents", nil, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout the session must be gone: %d", resp.StatusCode)
	}
}

func TestSessionsExpire(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := newSessions(time.Hour, 24*time.Hour)
	s.nowFunc = func() time.Time { return now }
	a := s.create("admin")
	now = now.Add(59 * time.Minute)
	if s.get(a.id) == nil {
		t.Fatal("session gone before its idle timeout")
	}
	now = now.Add(61 * time.Minute)
	if s.get(a.id) != nil {
		t.Fatal("idle session still alive")
	}
	b := s.create("admin")
	for i := 0; i < 25; i++ { // active all along, but past the maximum age
		now = now.Add(59 * time.Minute)
		s.get(b.id)
	}
	if s.get(b.id) != nil {
		t.Fatal("session alive past its maximum age")
	}
	if s.get("") != nil || s.get("forged") != nil {
		t.Fatal("unknown ids must not resolve")
	}
	s.evict()
	if s.count() != 0 {
		t.Fatalf("%d sessions after eviction", s.count())
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/insights?since=1h": "/insights?since=1h", "//evil.example/": "/", "/\\evil.example": "/",
		"https://evil.example/": "/", "insights": "/", "/monitors/a%20b": "/monitors/a%20b",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUsersFileReplacesAdmin(t *testing.T) {
	hash, err := HashPassword("alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/users.yaml"
	if err := os.WriteFile(path, []byte("users:\n  - name: alice\n    password_hash: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := Dependencies{DataDir: t.TempDir(), Registry: prometheus.NewRegistry(), Agents: ingest.NewAgents(),
		Topology: topology.Empty}
	u, err := New(Config{UsersFile: path, AdminPassword: testPassword}, d)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.Routes(mux, nil)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	if resp, _ := login(t, browser(t), ts.URL, "admin", testPassword); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("admin with a users file: %d, want 401", resp.StatusCode)
	}
	if resp, _ := login(t, browser(t), ts.URL, "alice", "alice-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice: %d, want 303", resp.StatusCode)
	}
	if _, err := New(Config{UsersFile: path + ".missing"}, d); err == nil {
		t.Fatal("a missing users file must stop the server")
	}
}

// TestLoginNextCannotRedirectOffSite logs in with next= values that try to
// send the browser to another site after login, and checks the Location
// header the server really sends, read the way a browser reads it (tabs
// and newlines dropped, "\" taken for "/", then resolved against the
// page): it must stay on the same origin. Local paths keep working.
func TestLoginNextCannotRedirectOffSite(t *testing.T) {
	_, ts := testUI(t)
	base, _ := url.Parse(ts.URL + "/login")
	offSite := []string{
		"/./\\evil.example", "//evil.example", "/\\evil.example", "\\/evil.example", "\\\\evil.example",
		"/%2F%2Fevil.example", "/%2f/evil.example", "/..//evil.example", "/.//evil.example", "/a/../..//evil.example",
		"///evil.example", "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "\t//evil.example",
		" //evil.example", "//evil.example\x00", "/\x0b/evil.example", "https:evil.example", "http:evil.example",
		"https://evil.example/", "HTTPS://evil.example", "https:/\\evil.example", "//user@evil.example",
		"javascript:alert(1)", "data:text/html,x", "%2F%2Fevil.example", "/%5C%5Cevil.example", "/./%5Cevil.example",
		"/\u3000/evil.example", "/\u2028/evil.example",
	}
	for _, next := range offSite {
		for _, how := range []string{"post", "get"} {
			loc := loginAndFollowNext(t, ts.URL, how, next)
			target, ok := browserResolve(base, loc)
			if !ok || target.Host != base.Host || target.Scheme != base.Scheme {
				t.Errorf("next=%q (%s): Location %q takes the browser to %v", next, how, loc, target)
			}
		}
	}
	local := map[string]string{
		"/insights?since=1h": "/insights?since=1h", "/monitors/a%20b": "/monitors/a%20b",
		"/monitors/web/": "/monitors/web/", "/flowlogs?q=a%2Fb#frag": "/flowlogs?q=a%2Fb", "/a/./b/../c": "/a/c",
	}
	for next, want := range local {
		if loc := loginAndFollowNext(t, ts.URL, "post", next); loc != want {
			t.Errorf("next=%q: Location %q, want %q", next, loc, want)
		}
	}
}

// loginAndFollowNext logs in with next (posted with the form, or given to
// the login page of a browser already logged in) and returns the Location.
func loginAndFollowNext(t *testing.T, base, how, next string) string {
	t.Helper()
	c := browser(t)
	_, page := fetch(t, c, "GET", base+"/login", nil, nil)
	tok := csrfInput.FindStringSubmatch(page)[1]
	resp, _ := fetch(t, c, "POST", base+"/login", url.Values{"username": {"admin"}, "password": {testPassword}, "csrf_token": {tok}, "next": {next}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login with next=%q: %d", next, resp.StatusCode)
	}
	if how == "get" {
		resp, _ = fetch(t, c, "GET", base+"/login?next="+url.QueryEscape(next), nil, nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login page with a session, next=%q: %d", next, resp.StatusCode)
		}
	}
	return resp.Header.Get("Location")
}

// browserResolve reads a Location value as a browser's URL parser does
// (WHATWG URL: leading and trailing C0 controls and spaces stripped, tabs
// and newlines removed anywhere, "\" is "/" in http(s) URLs) and resolves
// it against base.
func browserResolve(base *url.URL, loc string) (*url.URL, bool) {
	s := strings.TrimFunc(loc, func(r rune) bool { return r <= ' ' })
	s = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(s)
	ref, err := url.Parse(s)
	if err != nil || s == "" {
		return nil, false
	}
	if ref.Scheme != "" && strings.EqualFold(ref.Scheme, base.Scheme) && ref.Host == "" && !strings.HasPrefix(ref.Opaque, "/") {
		// "http:evil" against an http page is relative in a browser.
		ref, _ = url.Parse(ref.Opaque)
	}
	if ref.Scheme != "" && ref.Opaque != "" {
		// "https:evil" from an http page: a browser makes it https://evil/.
		return &url.URL{Scheme: strings.ToLower(ref.Scheme), Host: strings.TrimLeft(ref.Opaque, "/")}, true
	}
	return base.ResolveReference(ref), true
}

// FuzzSafeNext checks, for any next value, that the Location http.Redirect
// really sends for safeNext's answer is that answer unchanged and that a
// browser resolves it on the same origin.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/insights?since=1h", "/./\\evil", "//evil", "/..//evil", "/\t/evil", "https:evil", "/%2F%2Fevil", "/a/b/../c/"} {
		f.Add(s)
	}
	base, _ := url.Parse("http://flowlens.example/login")
	f.Fuzz(func(t *testing.T, next string) {
		out := safeNext(next)
		w := httptest.NewRecorder()
		http.Redirect(w, httptest.NewRequest("POST", "/login", nil), out, http.StatusSeeOther)
		loc := w.Header().Get("Location")
		if loc != out {
			t.Fatalf("safeNext(%q) = %q, but http.Redirect sends %q", next, out, loc)
		}
		target, ok := browserResolve(base, loc)
		if !ok || target.Host != base.Host || target.Scheme != base.Scheme {
			t.Fatalf("safeNext(%q): Location %q takes a browser to %v", next, loc, target)
		}
	})
}
