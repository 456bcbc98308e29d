package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestParallelBadLoginsLimitedBeforeBcrypt fires 40 wrong passwords from
// one address at once. Each attempt must be counted before the (slow)
// password comparison, so at most 10 reach bcrypt and the rest get 429.
// The comparison is held until every request has either entered it or
// been answered, so a limiter that counts only after comparing lets all
// 40 in, whatever the scheduling.
func TestParallelBadLoginsLimitedBeforeBcrypt(t *testing.T) {
	const n = 40
	u, ts := testUI(t)
	var entered, answered atomic.Int32
	release := make(chan struct{})
	u.compare = func(hash, pw []byte) error {
		entered.Add(1)
		<-release
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	go func() {
		defer close(release)
		deadline := time.Now().Add(60 * time.Second)
		for entered.Load()+answered.Load() < n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}()

	clients := make([]*http.Client, n)
	tokens := make([]string, n)
	for i := range clients {
		clients[i] = browser(t)
		_, page := fetch(t, clients[i], "GET", ts.URL+"/login", nil, nil)
		tokens[i] = csrfInput.FindStringSubmatch(page)[1]
	}
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range clients {
		wg.Go(func() {
			<-start
			form := url.Values{"username": {"admin"}, "password": {"guess"}, "csrf_token": {tokens[i]}}
			resp, err := clients[i].PostForm(ts.URL+"/login", form)
			if err == nil {
				codes[i] = resp.StatusCode
				resp.Body.Close()
			}
			answered.Add(1)
		})
	}
	close(start)
	wg.Wait()

	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if got := entered.Load(); got > 10 {
		t.Errorf("%d attempts reached bcrypt, want at most 10", got)
	}
	if count[http.StatusUnauthorized] > 10 || count[http.StatusUnauthorized]+count[http.StatusTooManyRequests] != n {
		t.Errorf("answers %v: want at most 10 x 401 and the rest 429", count)
	}
}

// postLogin calls the login handler directly, so that each attempt can
// come from its own address.
func postLogin(u *UI, remote, user, pw string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	form := url.Values{"username": {user}, "password": {pw}, "csrf_token": {"tok"}}
	r := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = remote
	r.AddCookie(&http.Cookie{Name: loginCSRFCookie, Value: "tok"})
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	u.handleLogin(w, r)
	return w
}

func cookieNamed(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestUsernameBucketLimitsDistributedGuessing spreads guesses for one user
// name over many addresses (one try each, far below the per-address
// limit): the per-user limit stops them after 10. Unknown names are
// treated alike (a 429 does not reveal which names exist). The owner's
// browser, which logged in before, still gets in; a new browser does not
// until the window has passed.
func TestUsernameBucketLimitsDistributedGuessing(t *testing.T) {
	u, _ := testUI(t)
	now := time.Now()
	u.byUser.now = func() time.Time { return now }

	first := postLogin(u, "192.0.2.1:5000", "admin", testPassword)
	device := cookieNamed(first, deviceCookie)
	if first.Code != http.StatusSeeOther || device == nil {
		t.Fatalf("first login: %d, device cookie %v", first.Code, device)
	}
	for net, user := range map[byte]string{1: "admin", 2: "nobody"} {
		count := map[int]int{}
		for i := range 30 {
			count[postLogin(u, guesser(net, i), user, "guess").Code]++
		}
		if count[http.StatusUnauthorized] != 10 || count[http.StatusTooManyRequests] != 20 {
			t.Errorf("%s from 30 addresses: %v, want 10 x 401 then 20 x 429", user, count)
		}
	}

	if w := postLogin(u, "192.0.2.2:5000", "admin", testPassword); w.Code != http.StatusTooManyRequests {
		t.Errorf("right password from a new browser while the name is locked: %d, want 429", w.Code)
	}
	forged := []*http.Cookie{
		{Name: deviceCookie, Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{Name: deviceCookie, Value: cookieNamed(postLoginAs(t, u, "alice"), deviceCookie).Value}, // another user's
	}
	for _, c := range forged {
		if w := postLogin(u, "192.0.2.3:5000", "admin", testPassword, c); w.Code != http.StatusTooManyRequests {
			t.Errorf("forged device cookie %q: %d, want 429", c.Value, w.Code)
		}
	}
	if w := postLogin(u, "192.0.2.4:5000", "admin", testPassword, device); w.Code != http.StatusSeeOther {
		t.Errorf("the owner's browser while the name is locked: %d, want 303", w.Code)
	}
	now = now.Add(DefaultLoginWindow + time.Second)
	if w := postLogin(u, "192.0.2.5:5000", "admin", testPassword); w.Code != http.StatusSeeOther {
		t.Errorf("new browser after the window: %d, want 303", w.Code)
	}
}

// postLoginAs logs in as a second user with its own password and returns
// the answer (with its device cookie).
func postLoginAs(t *testing.T, u *UI, name string) *httptest.ResponseRecorder {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(name+"-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u.users[name] = h
	w := postLogin(u, "198.51.100.1:5000", name, name+"-pw")
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login as %s: %d", name, w.Code)
	}
	return w
}

// guesser is the i-th address of a botnet (net tells botnets apart).
func guesser(net byte, i int) string {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, net, byte(i / 250), byte(1 + i%250)}), 4000).String()
}

// TestLoginLimitPerIPv6Slash64 rotates through addresses of one IPv6 /64
// (which one host usually owns): they share one per-address limit.
func TestLoginLimitPerIPv6Slash64(t *testing.T) {
	u, _ := testUI(t)
	count := map[int]int{}
	for i := range 15 {
		// distinct user names, so only the address limit applies
		w := postLogin(u, netip.AddrPortFrom(netip.MustParseAddr("2001:db8:1:2::"+strconv.Itoa(i+1)), 4000).String(),
			"user"+strconv.Itoa(i), "guess")
		count[w.Code]++
	}
	if count[http.StatusUnauthorized] != 10 || count[http.StatusTooManyRequests] != 5 {
		t.Errorf("15 tries from one /64: %v, want 10 x 401 then 5 x 429", count)
	}
	if w := postLogin(u, "[2001:db8:1:3::1]:4000", "other", "guess"); w.Code != http.StatusUnauthorized {
		t.Errorf("another /64: %d, want 401", w.Code)
	}
	if w := postLogin(u, "[::ffff:192.0.2.9]:4000", "other2", "guess"); w.Code != http.StatusUnauthorized {
		t.Errorf("a v4-mapped address: %d, want 401", w.Code)
	}
}

// TestFailedLoginLogOmitsUsername types a password into the user name
// field: the log of the failure must not contain it (an unknown name is
// logged only as a keyed hash); a failure for a real account names it.
func TestFailedLoginLogOmitsUsername(t *testing.T) {
	var buf bytes.Buffer
	u, _ := testUIWith(t, Config{AdminPassword: testPassword}, slog.New(slog.NewTextHandler(&buf, nil)))
	const typed = "Tr0ub4dor&3-my-password"
	for range 2 {
		if w := postLogin(u, "192.0.2.1:5000", typed, "whatever"); w.Code != http.StatusUnauthorized {
			t.Fatalf("unknown user: %d", w.Code)
		}
	}
	if w := postLogin(u, "192.0.2.1:5000", "admin", "wrong"); w.Code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", w.Code)
	}
	logs := buf.String()
	if strings.Contains(logs, "Tr0ub4dor") || strings.Contains(logs, url.QueryEscape(typed)) {
		t.Errorf("the typed user name is in the log:\n%s", logs)
	}
	tags := regexp.MustCompile(`unknown_user_tag=([0-9a-f]{12})`).FindAllStringSubmatch(logs, -1)
	if len(tags) != 2 || tags[0][1] != tags[1][1] {
		t.Errorf("want the same tag for both tries of the unknown name: %v\n%s", tags, logs)
	}
	if !strings.Contains(logs, `msg="web login failed" user=admin`) {
		t.Errorf("a failure for a real account should name it:\n%s", logs)
	}
}
