package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/httpjson"
	"github.com/flowlens/flowlens/module"
)

// rawRequest sends a request on a fresh connection and returns the
// connection for the test to read the answer from.
func rawRequest(t *testing.T, addr, req string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return c
}

// readUntilClosed reads what the server sends until it closes the
// connection; it fails the test if that takes longer than a generous
// deadline (the server would otherwise hold the connection for good).
func readUntilClosed(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("the server kept the connection open: %v (read %q)", err, b)
	}
	return string(b)
}

// A client without a token that sends its body a byte at a time gets its
// 401 and a closed connection at once: the token is checked before the
// body is read, and the server does not wait for the rest of a body the
// handler refused.
func TestTrickledUnauthenticatedBodyDropped(t *testing.T) {
	s := startTestServer(t, Config{Tokens: []string{"tok"}})
	c := rawRequest(t, s.listener.Addr().String(),
		"POST /api/v1/ingest HTTP/1.1\r\nHost: flowlens\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100000\r\n\r\nx")
	go func() { // one byte a second, until the server hangs up
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for range tick.C {
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	if got := readUntilClosed(t, c); !strings.HasPrefix(got, "HTTP/1.1 401") {
		t.Fatalf("answer %q, want a 401", got)
	}
}

// echoModule answers a POST with the size of its body (400 when reading
// it fails): a handler that reads its whole body.
type echoModule struct{}

func (echoModule) Routes(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	mux.Handle("POST /api/v1/test/echo", protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			httpjson.ErrorText(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]int64{"bytes": n})
	})))
}
func (echoModule) Start(context.Context) error { return nil }
func (echoModule) Stop(context.Context) error  { return nil }

// An authenticated client that stops sending its body is cut off after
// the body timeout, whatever the handler.
func TestTrickledBodyCutOffAtDeadline(t *testing.T) {
	s := startTestServer(t, Config{Tokens: []string{"tok"}, Limits: Limits{BodyTimeout: 200 * time.Millisecond},
		Modules: func(*Host) ([]module.Named, error) { return []module.Named{{Name: "echo", Module: echoModule{}}}, nil }})
	c := rawRequest(t, s.listener.Addr().String(),
		"POST /api/v1/test/echo HTTP/1.1\r\nHost: flowlens\r\nAuthorization: Bearer tok\r\nContent-Length: 100000\r\n\r\nx")
	if got := readUntilClosed(t, c); !strings.HasPrefix(got, "HTTP/1.1 400") || !strings.Contains(got, "timeout") {
		t.Fatalf("answer %q, want a 400 for the body's timeout", got)
	}
	code, body := get(t, http.DefaultClient, s.URL()+"/metrics", "")
	if code != 200 || !strings.Contains(body, "flowlens_http_body_timeouts_total 1") {
		t.Errorf("metrics: %d, body timeouts not counted", code)
	}
	// A body that arrives in time is read whole, on a connection kept alive.
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/v1/test/echo", strings.NewReader(strings.Repeat("x", 100000)))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"bytes": 100000`) {
		t.Errorf("a body sent at once: %d %s", resp.StatusCode, b)
	}
}

// healthz asks for /healthz on c (kept alive) and says whether it got 200.
func healthz(c net.Conn, br *bufio.Reader) bool {
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: flowlens\r\n\r\n"); err != nil {
		return false
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200
}

// Connections beyond --max-connections are closed on arrival, counted,
// and served again once others close.
func TestConnectionCap(t *testing.T) {
	s := startTestServer(t, Config{Limits: Limits{MaxConnections: 2}})
	addr := s.listener.Addr().String()
	open := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	c1, r1 := open()
	c2, r2 := open()
	if !healthz(c1, r1) || !healthz(c2, r2) {
		t.Fatal("the first two connections are not served")
	}
	c3, r3 := open()
	if healthz(c3, r3) {
		t.Fatal("a third connection was served with a cap of 2")
	}
	if got := readUntilClosed(t, c3); got != "" {
		t.Errorf("the refused connection got %q", got)
	}
	c1.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c1, "GET /metrics HTTP/1.1\r\nHost: flowlens\r\n\r\n")
	resp, err := http.ReadResponse(r1, nil)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(metrics), "flowlens_http_connections_refused_total 1") ||
		!strings.Contains(string(metrics), "flowlens_http_connections_open 2") {
		t.Errorf("metrics do not count the refusal and the 2 open connections")
	}
	c2.Close()
	// The server notices c2's end on its own time: try until it has.
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, r := open()
		if healthz(c, r) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection served after one of the two closed")
		}
	}
}

// A client that asks for a large answer and does not read it is cut off
// once writing makes no progress for WriteStall.
func TestStalledReaderCutOff(t *testing.T) {
	lim := newLimiter(Limits{WriteStall: 200 * time.Millisecond}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	writeErr := make(chan error, 1)
	srv := httptest.NewServer(lim.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 1<<20)
		for range 1024 { // 1 GiB: more than any socket buffers
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	})))
	defer srv.Close()
	c := rawRequest(t, srv.Listener.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	defer c.Close()
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("1 GiB written to a client that reads nothing")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the handler is still writing to a client that reads nothing")
	}
}

// deadlineRecorder records the read deadlines a handler's wrapper sets.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	reads []time.Time
}

func (d *deadlineRecorder) SetReadDeadline(t time.Time) error {
	d.reads = append(d.reads, t)
	return nil
}
func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error { return nil }

// Once a body has been read, no read deadline is left on the connection:
// one passing while the server watches the connection in the background
// would cancel the request's context in the middle of a long query.
// A body left unread gets a deadline of now, so the server does not wait
// for it before answering.
func TestBodyDeadlineClearedOnceRead(t *testing.T) {
	lim := newLimiter(Limits{}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	for _, c := range []struct {
		name string
		read bool
	}{{"read", true}, {"unread", false}} {
		w := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"query": "fields @message"}`))
		lim.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c.read {
				io.ReadAll(r.Body)
			}
		})).ServeHTTP(w, r)
		if len(w.reads) < 2 || !w.reads[0].After(time.Now()) {
			t.Fatalf("%s: read deadlines %v", c.name, w.reads)
		}
		last := w.reads[len(w.reads)-1]
		if c.read && !last.IsZero() || !c.read && (last.IsZero() || last.After(time.Now())) {
			t.Errorf("%s: last read deadline %v", c.name, last)
		}
	}
}
