package publisher

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/wire/flowlensv1"
)

func TestDeliveryAndSequenceAcrossRestart(t *testing.T) {
	srv := newFakeIngest(t)
	dir := t.TempDir()
	var (
		mu    sync.Mutex
		acked []uint64
	)
	cfg := testConfig(dir, srv.srv.URL)
	cfg.OnAck = func(r *flowlensv1.Report) {
		mu.Lock()
		acked = append(acked, r.Sequence)
		mu.Unlock()
	}

	var runs [][]uint64
	for i, compression := range []string{"zstd", "gzip"} {
		cfg.Compression = compression
		p := newTestPublisher(t, cfg)
		p.Start()
		runs = append(runs, publishN(t, p, 5))
		flush(t, p)
		stop(t, p, t.Context())
		if st := p.Stats(); st.Published != 5 || st.Acked != 5 || st.Pending != 0 {
			t.Fatalf("run %d: stats %+v, want 5 published and acked, none pending", i, st)
		}
	}

	published := slices.Concat(runs...)
	for i := 1; i < len(published); i++ {
		if published[i] <= published[i-1] {
			t.Fatalf("sequences not strictly increasing across the restart: %v", published)
		}
	}
	if got := srv.seqs(); !slices.Equal(got, published) {
		t.Fatalf("server got %v, want %v", got, published)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(acked, published) {
		t.Fatalf("OnAck saw %v, want %v", acked, published)
	}
	// The restart resumes after the first run's reservation, and only the
	// reservation is on disk.
	if want := runs[0][0] + seqBlock; runs[1][0] != want {
		t.Fatalf("second run started at %d, want %d (after the reservation)", runs[1][0], want)
	}
	b, err := os.ReadFile(filepath.Join(dir, "sequence"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.FormatUint(runs[1][0]+seqBlock, 10); strings.TrimSpace(string(b)) != want {
		t.Fatalf("sequence file holds %q, want %s", b, want)
	}
}

func TestKeepAlive(t *testing.T) {
	srv := newFakeIngest(t)
	p := newTestPublisher(t, testConfig(t.TempDir(), srv.srv.URL))
	p.Start()
	defer p.Stop(canceledCtx())
	for range 10 {
		publishN(t, p, 1)
		flush(t, p) // one at a time: each request follows an answer
	}
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("10 reports used %d connections, want 1 kept alive", n)
	}
}

func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	cfg := testConfig(t.TempDir(), "http://127.0.0.1:1")
	p, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(testConfig(t.TempDir(), "http://127.0.0.1:1"), nil, reg); err == nil {
		t.Fatal("a second publisher registered the same metrics")
	}
	publishN(t, p, 2)
	if got := metricValue(t, reg, "flowlens_publisher_reports_pending", ""); got != 2 {
		t.Fatalf("reports_pending = %v, want 2", got)
	}
	stop(t, p, t.Context())
	p2, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatalf("registering again after Stop: %v", err)
	}
	if got := metricValue(t, reg, "flowlens_publisher_spool_bytes", ""); got == 0 {
		t.Fatal("spool_bytes is 0 with two reports spooled")
	}
	stop(t, p2, t.Context())
}

func TestServerDownThenUp(t *testing.T) {
	srv := newFakeIngest(t)
	srv.down.Store(true)
	cfg := testConfig(t.TempDir(), srv.srv.URL)
	cfg.QueueSize = 4
	p := newTestPublisher(t, cfg)
	p.Start()
	defer p.Stop(canceledCtx())

	published := publishN(t, p, 10)
	waitFor(t, "a failed attempt", func() bool { return p.Stats().Retries > 0 })
	published = append(published, publishN(t, p, 10)...) // while degraded: straight to disk
	if st := p.Stats(); st.Spooled == 0 {
		t.Fatalf("nothing spooled while the server was down: %+v", st)
	}
	srv.down.Store(false)
	flush(t, p)

	if got := srv.seqs(); !slices.Equal(got, published) {
		t.Fatalf("server got %v, want each of %v once, in order", got, published)
	}
	if st := p.Stats(); st.Acked != 20 || st.Pending != 0 || st.Dropped != 0 || st.Failed != 0 || st.SpooledBytes != 0 {
		t.Fatalf("stats %+v, want 20 acked and an empty spool", st)
	}
}

func TestPublishDoesNotWaitForServer(t *testing.T) {
	srv := newFakeIngest(t)
	release := make(chan struct{})
	var once sync.Once
	srv.setAnswer(func(*flowlensv1.Report, int) (int, http.Header) {
		<-release // the first request hangs until the test has published
		return 0, nil
	})
	defer once.Do(func() { close(release) })
	cfg := testConfig(t.TempDir(), srv.srv.URL)
	cfg.QueueSize = 2
	p := newTestPublisher(t, cfg)
	p.Start()
	defer p.Stop(canceledCtx())

	published := publishN(t, p, 50) // would deadlock if Publish waited for the sender
	if st := p.Stats(); st.Spooled == 0 {
		t.Fatalf("a full memory queue did not spill: %+v", st)
	}
	once.Do(func() { close(release) })
	flush(t, p)
	if got := srv.seqs(); !slices.Equal(got, published) {
		t.Fatalf("server got %v, want %v", got, published)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	srv := newFakeIngest(t)
	srv.setAnswer(func(_ *flowlensv1.Report, attempt int) (int, http.Header) {
		switch attempt {
		case 1:
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"7"}}
		case 2:
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"3"}}
		}
		return 0, nil
	})
	p := newTestPublisher(t, testConfig(t.TempDir(), srv.srv.URL))
	waits := recordWaits(p)
	p.Start()
	defer p.Stop(canceledCtx())

	published := publishN(t, p, 1)
	flush(t, p)
	got := waits()
	if len(got) != 2 || got[0] < 7*time.Second || got[1] < 3*time.Second {
		t.Fatalf("waits %v, want at least [7s 3s] from Retry-After", got)
	}
	if !slices.Equal(srv.seqs(), published) {
		t.Fatalf("server got %v, want %v", srv.seqs(), published)
	}
	if st := p.Stats(); st.Retries != 2 || st.Acked != 1 {
		t.Fatalf("stats %+v, want 2 retries and 1 ack", st)
	}
}

// recordWaits replaces p's sleep with one that records the requested wait
// and returns at once, so tests see the backoff without spending it.
func recordWaits(p *Publisher) func() []time.Duration {
	var (
		mu    sync.Mutex
		waits []time.Duration
	)
	p.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	return func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(waits)
	}
}

func TestBadRequestDroppedAndCounted(t *testing.T) {
	srv := newFakeIngest(t)
	srv.setAnswer(func(r *flowlensv1.Report, _ int) (int, http.Header) {
		if r.Sequence == 2 {
			return http.StatusBadRequest, nil
		}
		return 0, nil
	})
	reg := prometheus.NewPedanticRegistry()
	p, err := New(testConfig(t.TempDir(), srv.srv.URL), slog.New(slog.NewTextHandler(t.Output(), nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	defer p.Stop(canceledCtx())

	publishN(t, p, 3)
	flush(t, p)
	if got := srv.seqs(); !slices.Equal(got, []uint64{1, 3}) {
		t.Fatalf("server accepted %v, want [1 3]", got)
	}
	if st := p.Stats(); st.Failed != 1 || st.Acked != 2 || st.Retries != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v, want 1 failed without retry, 2 acked", st)
	}
	if got := metricValue(t, reg, "flowlens_publisher_reports_failed_total", "rejected"); got != 1 {
		t.Fatalf("reports_failed_total{reason=rejected} = %v, want 1", got)
	}
	if got := metricValue(t, reg, "flowlens_publisher_reports_acked_total", ""); got != 2 {
		t.Fatalf("reports_acked_total = %v, want 2", got)
	}
	// The reasons that did not happen show at 0.
	if got := metricValue(t, reg, "flowlens_publisher_reports_failed_total", "too_large"); got != 0 {
		t.Fatalf("reports_failed_total{reason=too_large} = %v, want 0", got)
	}
	if got := metricValue(t, reg, "flowlens_publisher_reports_dropped_total", "spool_full"); got != 0 {
		t.Fatalf("reports_dropped_total{reason=spool_full} = %v, want 0", got)
	}
}

// metricValue gathers reg and returns the value of the named series, with
// the given reason label if not empty.
func metricValue(t *testing.T, reg prometheus.Gatherer, name, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if reason != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != reason) {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s{reason=%q} not found", name, reason)
	return 0
}

func TestTooLargeSplits(t *testing.T) {
	srv := newFakeIngest(t)
	const poisonPort = 666
	srv.setAnswer(func(r *flowlensv1.Report, _ int) (int, http.Header) {
		if len(r.Flows) > 2 || (len(r.Flows) == 1 && r.Flows[0].Port == poisonPort) {
			return http.StatusRequestEntityTooLarge, nil
		}
		return 0, nil
	})
	var (
		mu         sync.Mutex
		ackedFlows int
	)
	cfg := testConfig(t.TempDir(), srv.srv.URL)
	cfg.OnAck = func(r *flowlensv1.Report) {
		mu.Lock()
		ackedFlows += len(r.Flows)
		mu.Unlock()
	}
	p := newTestPublisher(t, cfg)
	p.Start()
	defer p.Stop(canceledCtx())

	big := testReport(5)
	poison := testReport(1)
	poison.Flows[0].Port = poisonPort
	last := testReport(1)
	for _, r := range []*flowlensv1.Report{big, poison, last} {
		if err := p.Publish(r); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, p)

	got := srv.reports()
	if len(got) != 4 || got[3].Sequence != last.Sequence {
		t.Fatalf("server accepted %v, want the 3 pieces of the big report, then the last one", srv.seqs())
	}
	seen := map[uint32]bool{}
	for i, r := range got[:3] {
		if r.Sequence == big.Sequence || len(r.Flows) > 2 || len(r.Flows) == 0 {
			t.Fatalf("piece %d: sequence %d with %d flows; want a new sequence and 1-2 flows", i, r.Sequence, len(r.Flows))
		}
		if (r.Stats != nil) != (i == 0) {
			t.Fatalf("piece %d: agent stats %v; want them on the first piece only", i, r.Stats)
		}
		for _, f := range r.Flows {
			seen[f.Port] = true
		}
	}
	if len(seen) != 5 {
		t.Fatalf("pieces carry flows %v, want the 5 flows of the big report once each", seen)
	}
	if st := p.Stats(); st.Failed != 1 || st.Acked != 4 || st.Pending != 0 {
		t.Fatalf("stats %+v, want the single-flow report failed and 4 acked", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if ackedFlows != 6 {
		t.Fatalf("OnAck saw %d flows, want 6", ackedFlows)
	}
}

// A split interrupted by a stop resumes with the same pieces and sequence
// numbers, so that the server's deduplication still holds.
func TestSplitSurvivesRestart(t *testing.T) {
	srv := newFakeIngest(t)
	srv.setAnswer(func(r *flowlensv1.Report, _ int) (int, http.Header) {
		if len(r.Flows) > 2 {
			return http.StatusRequestEntityTooLarge, nil
		}
		if len(srv.seqs()) == 1 { // the second piece: fail until restart
			return http.StatusInternalServerError, nil
		}
		return 0, nil
	})
	dir := t.TempDir()
	p := newTestPublisher(t, testConfig(dir, srv.srv.URL))
	p.Start()
	big := testReport(4)
	if err := p.Publish(big); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second piece to fail", func() bool { return p.Stats().Retries > 0 })
	stop(t, p, canceledCtx())
	srv.mu.Lock()
	secondPiece := srv.attempts[len(srv.attempts)-1]
	srv.mu.Unlock()

	srv.setAnswer(func(r *flowlensv1.Report, _ int) (int, http.Header) {
		if len(r.Flows) > 2 {
			return http.StatusRequestEntityTooLarge, nil
		}
		return 0, nil
	})
	p2 := newTestPublisher(t, testConfig(dir, srv.srv.URL))
	p2.Start()
	defer p2.Stop(canceledCtx())
	flush(t, p2)

	got := srv.reports()
	if len(got) != 2 || got[1].Sequence != secondPiece {
		t.Fatalf("server accepted %v, want the first piece, then the second with its original sequence %d", srv.seqs(), secondPiece)
	}
	if n := len(got[0].Flows) + len(got[1].Flows); n != 4 {
		t.Fatalf("pieces hold %d flows, want 4", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "split")); err != nil {
		t.Fatalf("split state should stay until the queue moves past it: %v", err)
	}
}

func TestUnauthorizedRetriesSlowlyWithoutLoggingToken(t *testing.T) {
	srv := newFakeIngest(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	cfg := testConfig(t.TempDir(), srv.srv.URL)
	cfg.Token = "wrong-" + testToken
	cfg.MaxBackoff = time.Minute
	p, err := New(cfg, slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	waits := recordWaits(p)
	p.Start()
	publishN(t, p, 1)
	waitFor(t, "three refused attempts", func() bool { return len(waits()) >= 3 })
	stop(t, p, canceledCtx())

	for _, w := range waits() {
		if w < cfg.MaxBackoff/2 {
			t.Fatalf("waits %v: a refused token should be retried slowly (>= %v)", waits(), cfg.MaxBackoff/2)
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if strings.Contains(logs.String(), testToken) {
		t.Fatalf("the token leaked into the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "refused the bearer token") {
		t.Fatalf("log does not say the token was refused:\n%s", logs.String())
	}
	if st := p.Stats(); st.Pending != 1 || st.Acked != 0 {
		t.Fatalf("stats %+v, want the report kept", st)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func TestStopWithUndeliveredThenRestartDelivers(t *testing.T) {
	srv := newFakeIngest(t)
	srv.down.Store(true)
	dir := t.TempDir()
	p := newTestPublisher(t, testConfig(dir, srv.srv.URL))
	p.Start()
	published := publishN(t, p, 5)
	waitFor(t, "a failed attempt", func() bool { return p.Stats().Retries > 0 })
	stop(t, p, canceledCtx())
	if st := p.Stats(); st.Pending != 5 || st.SpooledBytes == 0 {
		t.Fatalf("after Stop: %+v, want 5 pending in the spool", st)
	}
	if err := p.Publish(testReport(1)); err != ErrStopped {
		t.Fatalf("Publish after Stop: %v, want ErrStopped", err)
	}

	srv.down.Store(false)
	p2 := newTestPublisher(t, testConfig(dir, srv.srv.URL))
	if st := p2.Stats(); st.Pending != 5 {
		t.Fatalf("restarted publisher sees %d pending, want 5", st.Pending)
	}
	p2.Start()
	more := publishN(t, p2, 2)
	flush(t, p2)
	stop(t, p2, t.Context())
	if want := append(published, more...); !slices.Equal(srv.seqs(), want) {
		t.Fatalf("server got %v, want %v", srv.seqs(), want)
	}
	if srv.dups != 0 {
		t.Fatalf("%d duplicates", srv.dups)
	}
}

func TestStopWithoutStartSpools(t *testing.T) {
	dir := t.TempDir()
	p := newTestPublisher(t, testConfig(dir, "http://127.0.0.1:1"))
	published := publishN(t, p, 3)
	stop(t, p, t.Context())

	srv := newFakeIngest(t)
	p2 := newTestPublisher(t, testConfig(dir, srv.srv.URL))
	p2.Start()
	flush(t, p2)
	stop(t, p2, t.Context())
	if !slices.Equal(srv.seqs(), published) {
		t.Fatalf("server got %v, want %v", srv.seqs(), published)
	}
}

func TestSpoolBoundDropsOldest(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, "http://127.0.0.1:1")
	cfg.QueueSize = 1
	cfg.SpoolMaxBytes = 2048
	p := newTestPublisher(t, cfg)
	published := publishN(t, p, 100) // never started: everything spills
	stop(t, p, t.Context())
	st := p.Stats()
	if st.Dropped == 0 || st.SpooledBytes > uint64(cfg.SpoolMaxBytes) {
		t.Fatalf("stats %+v: want drops and at most %d bytes spooled", st, cfg.SpoolMaxBytes)
	}
	if st.Dropped+uint64(st.Pending) != 100 {
		t.Fatalf("stats %+v: dropped + pending != published", st)
	}

	srv := newFakeIngest(t)
	cfg.Server = srv.srv.URL
	p2 := newTestPublisher(t, cfg)
	p2.Start()
	flush(t, p2)
	stop(t, p2, t.Context())
	if want := published[st.Dropped:]; !slices.Equal(srv.seqs(), want) {
		t.Fatalf("server got %v, want the newest %d: %v", srv.seqs(), len(want), want)
	}
}

func TestCorruptSpoolTailTolerated(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, path string)
		deliver int
	}{
		{"torn last record", func(t *testing.T, path string) { truncateBy(t, path, 3) }, 4},
		{"torn header", func(t *testing.T, path string) { appendBytes(t, path, []byte{1, 2, 3, 4, 5}) }, 5},
		{"garbage tail", func(t *testing.T, path string) { appendBytes(t, path, bytes.Repeat([]byte{0xff}, 100)) }, 5},
		{"zeroed tail", func(t *testing.T, path string) { appendBytes(t, path, make([]byte, 64)) }, 5},
		{"flipped bit in last record", func(t *testing.T, path string) { flipByte(t, path, -2) }, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := newTestPublisher(t, testConfig(dir, "http://127.0.0.1:1"))
			published := publishN(t, p, 5)
			stop(t, p, t.Context())
			segs, _ := filepath.Glob(filepath.Join(dir, "spool", "*"+segmentSuffix))
			if len(segs) != 1 {
				t.Fatalf("want one segment, have %v", segs)
			}
			tc.damage(t, segs[0])

			srv := newFakeIngest(t)
			p2 := newTestPublisher(t, testConfig(dir, srv.srv.URL))
			p2.Start()
			more := publishN(t, p2, 1)
			flush(t, p2)
			stop(t, p2, t.Context())
			if want := append(published[:tc.deliver], more...); !slices.Equal(srv.seqs(), want) {
				t.Fatalf("server got %v, want %v", srv.seqs(), want)
			}
		})
	}
}

func truncateBy(t *testing.T, path string, n int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-n); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// flipByte inverts the byte at off, counted from the end when negative.
func flipByte(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += len(b)
	}
	b[off] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no spool dir", Config{Server: "http://x"}, "SpoolDir"},
		{"no server", Config{SpoolDir: t.TempDir()}, "Server"},
		{"bad scheme", Config{Server: "ftp://x", SpoolDir: t.TempDir()}, "want http"},
		{"bad compression", Config{Server: "http://x", SpoolDir: t.TempDir(), Compression: "lz4"}, "Compression"},
		{"missing CA", Config{Server: "https://x", SpoolDir: t.TempDir(), TLSCAFile: "/nonexistent/ca.pem"}, "CA file"},
		{"password hidden", Config{Server: "ftp://u:hunter2@x", SpoolDir: t.TempDir()}, "xxxxx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestPublishRejectsUnkeyedReport(t *testing.T) {
	p := newTestPublisher(t, testConfig(t.TempDir(), "http://127.0.0.1:1"))
	defer p.Stop(t.Context())
	if err := p.Publish(&flowlensv1.Report{}); err == nil {
		t.Fatal("a report without agent_id was accepted")
	}
	if err := p.Publish(nil); err == nil {
		t.Fatal("a nil report was accepted")
	}
}
