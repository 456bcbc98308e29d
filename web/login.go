package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
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
	addr := addressKey(r)
	// Both limits are taken before bcrypt runs: parallel guesses cannot all
	// reach the comparison before the first failure is counted.
	if !u.byAddress.take(addr) {
		u.metrics.logins.WithLabelValues("rate_limited").Inc()
		d.Error = "Too many failed logins from your address. Wait a few minutes."
		u.renderLogin(w, r, http.StatusTooManyRequests, d)
		return
	}
	// A browser that logged in as this user before is exempt from the
	// per-user limit, so distributed guessing cannot lock its owner out.
	knownDevice := u.devices.known(r, name)
	if !knownDevice && !u.byUser.take(userBucket(name)) {
		u.byAddress.give(addr)
		u.metrics.logins.WithLabelValues("user_limited").Inc()
		d.Error = "Too many failed logins for this user name. Wait a few minutes."
		u.renderLogin(w, r, http.StatusTooManyRequests, d)
		return
	}
	hash, ok := u.users[name]
	if !ok {
		hash = u.dummyHash
	}
	if u.compare(hash, []byte(r.PostFormValue("password"))) != nil || !ok {
		u.metrics.logins.WithLabelValues("bad_password").Inc()
		u.log.Info("web login failed", u.failedUserAttr(name, ok), "remote", addr)
		d.Error = "Wrong user name or password."
		u.renderLogin(w, r, http.StatusUnauthorized, d)
		return
	}
	u.byAddress.give(addr)
	if !knownDevice {
		u.byUser.give(userBucket(name))
	}
	ss := u.sessions.create(name)
	setCookie(w, r, sessionCookie, ss.id, 0)
	setCookie(w, r, loginCSRFCookie, "", -1)
	u.devices.issue(w, r, name)
	u.metrics.logins.WithLabelValues("ok").Inc()
	u.log.Info("web login", "user", name, "remote", addr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// failedUserAttr names the user of a failed login in the log: an existing
// account by its name (as sshd does), anything else only by a keyed hash,
// because what people type into the user field is sometimes a password.
// The hash lets an operator see that the same name was tried repeatedly.
func (u *UI) failedUserAttr(name string, exists bool) slog.Attr {
	if exists {
		return slog.String("user", name)
	}
	m := hmac.New(sha256.New, u.logKey)
	m.Write([]byte(name))
	return slog.String("unknown_user_tag", hex.EncodeToString(m.Sum(nil)[:6]))
}

func (u *UI) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, _ := r.Cookie(sessionCookie); c != nil {
		u.sessions.delete(c.Value)
	}
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site. It returns the
// cleaned path (and query) exactly as http.Redirect will send it, after
// checking that very string: Redirect cleans the path itself, and a check
// made before that cleaning is undone by it ("/./\evil" becomes
// "/\evil", which browsers read as "//evil"). Backslashes, control
// characters and spaces are refused outright: browsers turn "\" into "/"
// and drop tabs and newlines, so "/\t/evil" would reach "//evil".
func safeNext(next string) string {
	if next == "" || strings.ContainsFunc(next, func(c rune) bool { return c == '\\' || c <= ' ' || c == 0x7f }) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || strings.Contains(u.Path, "\\") {
		return "/"
	}
	p := u.EscapedPath()
	trailing := strings.HasSuffix(p, "/")
	p = path.Clean(p)
	if trailing && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	if strings.HasPrefix(p, "//") || !strings.HasPrefix(p, "/") {
		return "/"
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return escapeNonASCII(p)
}

// escapeNonASCII percent-encodes bytes above 0x7f, as http.Redirect does
// to the Location it sends, so that safeNext's answer is sent unchanged.
func escapeNonASCII(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 {
			fmt.Fprintf(&b, "%%%02x", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
