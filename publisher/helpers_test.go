package publisher

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/flowlens/flowlens/wire"
	"github.com/flowlens/flowlens/wire/flowlensv1"
)

const testToken = "s3cret-token-value"

// fakeIngest is an httptest ingest endpoint that records what it accepts and
// lets a test choose each answer.
type fakeIngest struct {
	t   *testing.T
	srv *httptest.Server

	// down makes the server hang up without answering: a network error.
	down atomic.Bool
	// conns counts the connections clients opened.
	conns atomic.Int64

	mu       sync.Mutex
	accepted []*flowlensv1.Report // in arrival order, duplicates excluded
	dups     int
	attempts []uint64 // sequence of every decoded request
	// answer, if set, picks the status for a decoded request (before
	// acceptance); 0 or 200 accepts, acceptThenHangUp stores the report
	// but loses the answer.
	answer func(r *flowlensv1.Report, attempt int) (int, http.Header)
}

// acceptThenHangUp is an answer: the report is stored, then the connection
// is closed before the acknowledgement (a lost answer).
const acceptThenHangUp = -1

func newFakeIngest(t *testing.T) *fakeIngest {
	f := &fakeIngest{t: t}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.handle))
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIngest) handle(w http.ResponseWriter, req *http.Request) {
	if f.down.Load() {
		hangUp(w)
		return
	}
	if req.URL.Path != IngestPath || req.Method != http.MethodPost {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if req.Header.Get("Authorization") != "Bearer "+testToken {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	r, err := decodeRequest(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.attempts = append(f.attempts, r.Sequence)
	n := len(f.attempts)
	answer := f.answer
	f.mu.Unlock()
	if answer != nil {
		code, hdr := answer(r, n)
		if code == acceptThenHangUp {
			f.accept(r)
			hangUp(w)
			return
		}
		if code != 0 && code != http.StatusOK {
			for k, v := range hdr {
				w.Header()[k] = v
			}
			http.Error(w, "refused by test", code)
			return
		}
	}
	dup := f.accept(r)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"status":"stored","flows":%d,"duplicate":%v}`+"\n", len(r.Flows), dup)
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

func decodeRequest(req *http.Request) (*flowlensv1.Report, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	raw, err := wire.Decompress(body, req.Header.Get("Content-Encoding"), 64<<20)
	if err != nil {
		return nil, err
	}
	r := &flowlensv1.Report{}
	return r, proto.Unmarshal(raw, r)
}

// accept stores r unless the server has its key (agent id, epoch,
// sequence), like the real ingest, and reports whether it was a duplicate.
func (f *fakeIngest) accept(r *flowlensv1.Report) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.accepted {
		if a.AgentId == r.AgentId && a.Epoch == r.Epoch && a.Sequence == r.Sequence {
			f.dups++
			return true
		}
	}
	f.accepted = append(f.accepted, r)
	return false
}

// seqs returns the accepted sequence numbers in arrival order.
func (f *fakeIngest) seqs() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]uint64, len(f.accepted))
	for i, r := range f.accepted {
		out[i] = r.Sequence
	}
	return out
}

func (f *fakeIngest) reports() []*flowlensv1.Report {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.accepted)
}

func (f *fakeIngest) setAnswer(fn func(r *flowlensv1.Report, attempt int) (int, http.Header)) {
	f.mu.Lock()
	f.answer = fn
	f.mu.Unlock()
}

// testConfig is a config with backoffs short enough for tests.
func testConfig(dir, server string) Config {
	return Config{
		Server: server, Token: testToken, SpoolDir: dir,
		Timeout: 10 * time.Second, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	}
}

func newTestPublisher(t *testing.T, cfg Config) *Publisher {
	t.Helper()
	p, err := New(cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})), nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// stop stops p and fails the test on error.
func stop(t *testing.T, p *Publisher, ctx context.Context) {
	t.Helper()
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func flush(t *testing.T, p *Publisher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v (stats %+v)", err, p.Stats())
	}
}

// canceledCtx is a context that is already done: Stop with it gives up on
// delivery at once.
func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// testReport builds a report with n flows, numbered through their port.
func testReport(n int) *flowlensv1.Report {
	r := &flowlensv1.Report{
		AgentId:             "agent-1",
		Host:                &flowlensv1.Host{HostId: "h1", Hostname: "host-1", CollectorMode: "sim"},
		IntervalStartUnixMs: 1_700_000_000_000,
		IntervalEndUnixMs:   1_700_000_010_000,
		Stats:               &flowlensv1.AgentStats{FlowsTracked: uint64(n)},
	}
	for i := range n {
		r.Flows = append(r.Flows, &flowlensv1.Flow{
			LocalIp: []byte{10, 0, 0, 1}, RemoteIp: []byte{10, 0, 1, byte(i)},
			Port: uint32(1000 + i), Direction: flowlensv1.Direction_DIRECTION_CLIENT, Protocol: 6,
			BytesSent: uint64(100 * (i + 1)),
		})
	}
	return r
}

func publishN(t *testing.T, p *Publisher, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	for range n {
		r := testReport(1)
		if err := p.Publish(r); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		seqs = append(seqs, r.Sequence)
	}
	return seqs
}

// waitFor polls cond; it is for reaching a state, never for measuring time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
