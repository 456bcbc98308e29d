package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Login limits: a guesser gets LoginMaxFailures tries per address and per
// user name in each LoginWindow.
const (
	DefaultLoginMaxFailures = 10
	DefaultLoginWindow      = 5 * time.Minute
	// maxLimiterKeys bounds each limiter's table: an attacker with many
	// addresses (or inventing user names) cannot grow it without bound.
	maxLimiterKeys = 100_000
	deviceCookie   = "flowlens_device"
	deviceMaxAge   = 30 * 24 * time.Hour
)

// loginLimiter slows down password guessing. An attempt takes a slot
// before the password is compared (so parallel attempts cannot all get
// through before the first failure is counted); a successful login gives
// its slot back, a failure keeps it. Once max slots are taken within
// window of the first, the key may not try again until the window has
// passed.
type loginLimiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	keys   map[string]*attempts
	now    func() time.Time
}

type attempts struct {
	first time.Time
	n     int
}

func newLoginLimiter(max int, window time.Duration) *loginLimiter {
	return &loginLimiter{max: max, window: window, keys: map[string]*attempts{}, now: time.Now}
}

// take reserves an attempt for key; false when key is out of attempts.
func (l *loginLimiter) take(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	a := l.keys[key]
	if a == nil || now.Sub(a.first) > l.window {
		if a == nil && len(l.keys) >= maxLimiterKeys {
			l.makeRoomLocked(now)
		}
		a = &attempts{first: now}
		l.keys[key] = a
	}
	if a.n >= l.max {
		return false
	}
	a.n++
	return true
}

// give returns a reserved attempt that did not fail.
func (l *loginLimiter) give(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.keys[key]; a != nil && a.n > 0 {
		a.n--
	}
}

// evict drops keys whose window has passed (the janitor calls it).
func (l *loginLimiter) evict() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evictLocked(l.now())
}

func (l *loginLimiter) evictLocked(now time.Time) {
	for k, a := range l.keys {
		if now.Sub(a.first) > l.window {
			delete(l.keys, k)
		}
	}
}

// makeRoomLocked frees a slot in a full table: expired keys first, else
// the key whose window started first (it is the closest to expiring).
func (l *loginLimiter) makeRoomLocked(now time.Time) {
	l.evictLocked(now)
	if len(l.keys) < maxLimiterKeys {
		return
	}
	var oldest string
	var at time.Time
	for k, a := range l.keys {
		if oldest == "" || a.first.Before(at) {
			oldest, at = k, a.first
		}
	}
	delete(l.keys, oldest)
}

// addressKey is the per-address limiter's key: the IPv4 address, or the
// /64 of an IPv6 address (one host usually owns a whole /64, so counting
// single IPv6 addresses would give it 2^64 tries).
func addressKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// userBucket is the per-user-name limiter's key. Unknown names are limited
// exactly like real ones, so a 429 does not tell which names exist; the
// hash keeps the key's size fixed whatever was typed.
func userBucket(name string) string {
	h := sha256.Sum256([]byte(name))
	return string(h[:16])
}

// devices issues and checks the "known device" cookie: a browser that has
// logged in as a user before carries a MAC of that user name, and its
// attempts for that name skip the per-user limit. This is why a guesser
// spreading tries over many addresses can lock a name out only for new
// browsers: the admin's own browser still logs in (its address limit
// still applies). The key is per process, like the sessions: a restart
// forgets both the cookies and the limits.
type devices struct {
	key []byte
	now func() time.Time
}

func newDevices() *devices {
	return &devices{key: []byte(randomToken()), now: time.Now}
}

func (d *devices) mac(user string, expiry int64) []byte {
	m := hmac.New(sha256.New, d.key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(expiry))
	m.Write(b[:])
	m.Write([]byte(user))
	return m.Sum(nil)[:16]
}

// issue sets the cookie after a successful login as user.
func (d *devices) issue(w http.ResponseWriter, r *http.Request, user string) {
	expiry := d.now().Add(deviceMaxAge).Unix()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(expiry))
	v := base64.RawURLEncoding.EncodeToString(append(b[:], d.mac(user, expiry)...))
	setCookie(w, r, deviceCookie, v, deviceMaxAge)
}

// known reports whether the request carries a valid, unexpired cookie for
// user.
func (d *devices) known(r *http.Request, user string) bool {
	c, err := r.Cookie(deviceCookie)
	if err != nil {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) != 8+16 {
		return false
	}
	expiry := int64(binary.BigEndian.Uint64(b[:8]))
	if d.now().Unix() > expiry {
		return false
	}
	return hmac.Equal(b[8:], d.mac(user, expiry))
}
