package web

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

type loginData struct {
	base
	Next     string
	Username string
	Error    string
}

func (u *UI) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	if c, _ := r.Cookie(sessionCookie); c != nil && u.sessions.get(c.Value) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	u.renderLogin(w, r, http.StatusOK, loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

// renderLogin shows the form with a fresh login CSRF token, set both in a
// cookie and in the form (double submit): another site cannot read the
// cookie, so it cannot log a victim's browser into its own account.
func (u *UI) renderLogin(w http.ResponseWriter, r *http.Request, code int, d loginData) {
	tok := randomToken()
	setCookie(w, r, loginCSRFCookie, tok, 30*time.Minute)
	d.base = base{Title: "Log in", CSRF: tok}
	u.pages.render(w, code, "login", d)
}

func (u *UI) handleLogin(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	next := safeNext(r.PostFormValue("next"))
	name := strings.TrimSpace(r.PostFormValue("username"))
	d := loginData{Next: next, Username: name}
	c, _ := r.Cookie(loginCSRFCookie)
	form := r.PostFormValue(csrfField)
	if crossSite(r) || c == nil || form == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) != 1 {
		u.metrics.logins.WithLabelValues("bad_csrf").Inc()
		d.Error = "The login form expired. Please try again."
		u.renderLogin(w, r, http.StatusForbidden, d)
		return
	}
	ip := clientIP(r)
	if !u.limiter.allow(ip) {
		u.metrics.logins.WithLabelValues("rate_limited").Inc()
		d.Error = "Too many failed logins from your address. Wait a few minutes."
		u.renderLogin(w, r, http.StatusTooManyRequests, d)
		return
	}
	hash, ok := u.users[name]
	if !ok {
		hash = u.dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(r.PostFormValue("password"))) != nil || !ok {
		u.limiter.fail(ip)
		u.metrics.logins.WithLabelValues("bad_password").Inc()
		u.log.Info("web login failed", "user", name, "remote", ip)
		d.Error = "Wrong user name or password."
		u.renderLogin(w, r, http.StatusUnauthorized, d)
		return
	}
	ss := u.sessions.create(name)
	setCookie(w, r, sessionCookie, ss.id, 0)
	setCookie(w, r, loginCSRFCookie, "", -1)
	u.metrics.logins.WithLabelValues("ok").Inc()
	u.log.Info("web login", "user", name, "remote", ip)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *UI) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, _ := r.Cookie(sessionCookie); c != nil {
		u.sessions.delete(c.Value)
	}
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site: a path, never a URL
// with a host or a scheme-relative "//host".
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// loginLimiter slows down password guessing: after max failures from one
// address within window, that address may not try again until the window
// has passed since its first failure.
type loginLimiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	fails  map[string]*failures
	now    func() time.Time
}

type failures struct {
	first time.Time
	n     int
}

func newLoginLimiter(max int, window time.Duration) *loginLimiter {
	return &loginLimiter{max: max, window: window, fails: map[string]*failures{}, now: time.Now}
}

func (l *loginLimiter) allow(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fails[ip]
	if f == nil {
		return true
	}
	if l.now().Sub(f.first) > l.window {
		delete(l.fails, ip)
		return true
	}
	return f.n < l.max
}

func (l *loginLimiter) fail(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fails[ip]
	if f == nil || l.now().Sub(f.first) > l.window {
		f = &failures{first: l.now()}
		l.fails[ip] = f
	}
	f.n++
}

func (l *loginLimiter) evict() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ip, f := range l.fails {
		if l.now().Sub(f.first) > l.window {
			delete(l.fails, ip)
		}
	}
}
