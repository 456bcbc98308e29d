package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Cookie names. The session cookie holds only a random id; everything else
// stays on the server.
const (
	sessionCookie     = "flowlens_session"
	loginCSRFCookie   = "flowlens_login_csrf"
	csrfField         = "csrf_token"
	csrfHeader        = "X-CSRF-Token"
	maxSessions       = 10000
	maxHistoryPerUser = 30
)

// session is one logged-in browser.
type session struct {
	id      string
	user    string
	csrf    string // per-session token every state-changing request carries
	created time.Time
	seen    time.Time
}

// sessions is the server-side session table. Sessions live in memory: a
// restarted server asks everyone to log in again, which is the safe default.
type sessions struct {
	mu      sync.Mutex
	byID    map[string]*session // keyed by sha256(id), so a timing leak reveals no id
	idle    time.Duration
	maxAge  time.Duration
	nowFunc func() time.Time
}

func newSessions(idle, maxAge time.Duration) *sessions {
	return &sessions{byID: map[string]*session{}, idle: idle, maxAge: maxAge, nowFunc: time.Now}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return string(h[:])
}

// create starts a session for user; the id is new on every login, so a
// session id planted before login (fixation) is worthless.
func (s *sessions) create(user string) *session {
	now := s.nowFunc()
	ss := &session{id: randomToken(), user: user, csrf: randomToken(), created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= maxSessions {
		s.evictLocked(now, true)
	}
	s.byID[hashID(ss.id)] = ss
	return ss
}

// get returns the live session with this id and refreshes its idle timer.
func (s *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	now := s.nowFunc()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byID[hashID(id)]
	if ss == nil {
		return nil
	}
	if s.expired(ss, now) {
		delete(s.byID, hashID(id))
		return nil
	}
	ss.seen = now
	c := *ss
	return &c
}

func (s *sessions) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.seen) > s.idle || now.Sub(ss.created) > s.maxAge
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, hashID(id))
}

// evict drops expired sessions (the janitor calls it every minute).
func (s *sessions) evict() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evictLocked(s.nowFunc(), false)
}

// evictLocked drops expired sessions; when full, also the oldest-seen one,
// so that a flood of logins cannot grow the table without bound.
func (s *sessions) evictLocked(now time.Time, full bool) {
	var oldest string
	for k, ss := range s.byID {
		if s.expired(ss, now) {
			delete(s.byID, k)
			continue
		}
		if oldest == "" || ss.seen.Before(s.byID[oldest].seen) {
			oldest = k
		}
	}
	if full && len(s.byID) >= maxSessions && oldest != "" {
		delete(s.byID, oldest)
	}
}

func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// validCSRF checks a state-changing request's token (form field or htmx
// header) against the session's, in constant time.
func validCSRF(r *http.Request, ss *session) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) == 1
}

// crossSite reports a request the browser marks as coming from another
// site. Browsers send Sec-Fetch-Site on every request; old ones that do not
// are still covered by the CSRF token.
func crossSite(r *http.Request) bool {
	return r.Header.Get("Sec-Fetch-Site") == "cross-site"
}

// setCookie writes a cookie with the flags every FlowLens cookie carries:
// HttpOnly, SameSite=Lax (top-level links into the UI keep working, other
// sites' forms and scripts get no cookie), Secure when served over TLS.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil}
	if maxAge < 0 {
		c.MaxAge = -1
	} else if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}
