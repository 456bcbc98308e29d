package publisher

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flowlens/flowlens/wire/flowlensv1"
)

// syncBuffer is a log sink tests read while the sender writes.
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

func newLoggedPublisher(t *testing.T, cfg Config) (*Publisher, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	p, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p, &logs
}

// TestEpochDrawnOncePerSpool: the epoch is drawn once per spool directory,
// kept across restarts, different for another directory, stamped on every
// report, and replaced (not fatal) when its file is damaged.
func TestEpochDrawnOncePerSpool(t *testing.T) {
	srv := newFakeIngest(t)
	dir := t.TempDir()
	p := newTestPublisher(t, testConfig(dir, srv.srv.URL))
	p.Start()
	publishN(t, p, 2)
	flush(t, p)
	stop(t, p, t.Context())
	epoch := p.Epoch()
	if epoch == 0 {
		t.Fatal("epoch 0: reserved for agents without one")
	}
	for _, r := range srv.reports() {
		if r.Epoch != epoch {
			t.Fatalf("report %d carries epoch %x, want the spool's %x", r.Sequence, r.Epoch, epoch)
		}
	}
	again := newTestPublisher(t, testConfig(dir, srv.srv.URL))
	stop(t, again, t.Context())
	if again.Epoch() != epoch {
		t.Errorf("restart on the same spool: epoch %x, want %x", again.Epoch(), epoch)
	}
	other := newTestPublisher(t, testConfig(t.TempDir(), srv.srv.URL))
	stop(t, other, t.Context())
	if other.Epoch() == epoch || other.Epoch() == 0 {
		t.Errorf("a new spool got epoch %x (first spool %x), want a fresh non-zero one", other.Epoch(), epoch)
	}
	if err := os.WriteFile(filepath.Join(dir, "epoch"), []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	damaged := newTestPublisher(t, testConfig(dir, srv.srv.URL))
	stop(t, damaged, t.Context())
	if damaged.Epoch() == 0 || damaged.Epoch() == epoch {
		t.Errorf("damaged epoch file: epoch %x, want a new non-zero one", damaged.Epoch())
	}
}

// TestUnexpectedDuplicateWarns: when the server answers duplicate:true to
// the first sending of a report this process numbered, its data was not
// stored (another agent holds the key); the publisher says so loudly and
// counts it. Duplicates that retries and replays cause are expected and
// stay quiet.
func TestUnexpectedDuplicateWarns(t *testing.T) {
	const warning = "DATA LOSS"
	t.Run("cloned spool directory", func(t *testing.T) {
		srv := newFakeIngest(t)
		dirA := t.TempDir()
		p := newTestPublisher(t, testConfig(dirA, srv.srv.URL))
		p.Start()
		publishN(t, p, 2)
		flush(t, p)
		stop(t, p, t.Context())
		// A disk image taken now is started on a second host with the same
		// host id: same epoch, same next sequence.
		dirB := t.TempDir()
		copyDir(t, dirA, dirB)
		a, logsA := newLoggedPublisher(t, testConfig(dirA, srv.srv.URL))
		a.Start()
		publishN(t, a, 1)
		flush(t, a)
		stop(t, a, t.Context())
		b, logsB := newLoggedPublisher(t, testConfig(dirB, srv.srv.URL))
		b.Start()
		publishN(t, b, 1)
		flush(t, b)
		stop(t, b, t.Context())
		if st := a.Stats(); st.UnexpectedDuplicates != 0 || strings.Contains(logsA.String(), warning) {
			t.Errorf("the first host: %d unexpected duplicates, logs %q; want none", st.UnexpectedDuplicates, logsA)
		}
		if st := b.Stats(); st.UnexpectedDuplicates != 1 || st.Acked != 1 {
			t.Errorf("the clone: stats %+v, want its one report acked and counted as an unexpected duplicate", st)
		}
		if logs := logsB.String(); !strings.Contains(logs, warning) || !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "agent_id=agent-1") {
			t.Errorf("the clone logged %q; want an ERROR saying data was lost, with the agent id", logs)
		}
	})
	t.Run("retry after a lost answer", func(t *testing.T) {
		srv := newFakeIngest(t)
		srv.setAnswer(func(_ *flowlensv1.Report, attempt int) (int, http.Header) {
			if attempt == 1 {
				return acceptThenHangUp, nil
			}
			return 0, nil
		})
		p, logs := newLoggedPublisher(t, testConfig(t.TempDir(), srv.srv.URL))
		p.Start()
		publishN(t, p, 1)
		flush(t, p)
		stop(t, p, t.Context())
		if st := p.Stats(); st.UnexpectedDuplicates != 0 || st.Retries != 1 || strings.Contains(logs.String(), warning) {
			t.Errorf("stats %+v, logs %q; want one retry answered duplicate, and no warning", st, logs)
		}
	})
	t.Run("replay of an earlier run's spool", func(t *testing.T) {
		srv := newFakeIngest(t)
		srv.setAnswer(func(*flowlensv1.Report, int) (int, http.Header) { return acceptThenHangUp, nil })
		dir := t.TempDir()
		p := newTestPublisher(t, testConfig(dir, srv.srv.URL))
		p.Start()
		publishN(t, p, 2)
		waitFor(t, "a stored report whose answer was lost", func() bool { return len(srv.seqs()) > 0 })
		stop(t, p, canceledCtx())
		srv.setAnswer(nil)
		again, logs := newLoggedPublisher(t, testConfig(dir, srv.srv.URL))
		again.Start()
		flush(t, again)
		stop(t, again, t.Context())
		srv.mu.Lock()
		dups := srv.dups
		srv.mu.Unlock()
		if dups == 0 {
			t.Fatal("the replay met no duplicate; the test did not set up what it means to")
		}
		if st := again.Stats(); st.UnexpectedDuplicates != 0 || strings.Contains(logs.String(), warning) {
			t.Errorf("stats %+v, logs %q; want the replayed duplicate quiet", st, logs)
		}
	})
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSplitsBoundedWhenServerAlways413: a server (or a proxy in front of
// it) that answers 413 to everything must not make the agent halve a
// report down to single flows, one request and one rewrite of the split
// state per flow: a report is cut into at most MaxSplitPieces pieces,
// which are then dropped and counted.
func TestSplitsBoundedWhenServerAlways413(t *testing.T) {
	for _, tc := range []struct {
		name      string
		maxPieces int
		want      int // pieces dropped
	}{
		{"default bound", 0, DefaultMaxSplitPieces},
		{"configured bound", 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeIngest(t)
			srv.setAnswer(func(*flowlensv1.Report, int) (int, http.Header) {
				return http.StatusRequestEntityTooLarge, nil
			})
			cfg := testConfig(t.TempDir(), srv.srv.URL)
			cfg.MaxSplitPieces = tc.maxPieces
			p := newTestPublisher(t, cfg)
			p.Start()
			defer p.Stop(canceledCtx())
			if err := p.Publish(testReport(1000)); err != nil {
				t.Fatal(err)
			}
			flush(t, p)
			srv.mu.Lock()
			requests := len(srv.attempts)
			srv.mu.Unlock()
			// Each request either splits a piece or drops one: want-1
			// splits, want drops.
			if st := p.Stats(); st.Failed != uint64(tc.want) || st.Acked != 0 || requests != 2*tc.want-1 {
				t.Errorf("%d requests, stats %+v; want %d requests and %d pieces failed", requests, st, 2*tc.want-1, tc.want)
			}
		})
	}
}

// TestSplitStateWithoutPieceCount: a split state written before the split
// bound (no trailer) still loads, counting its pieces as made.
func TestSplitStateWithoutPieceCount(t *testing.T) {
	st := &splitState{orig: 9, pieces: []item{{seq: 10, data: []byte("a")}, {seq: 11, data: []byte("b")}}, made: 5}
	b := encodeSplit(st)
	got, err := decodeSplit(b)
	if err != nil || got.made != 5 || len(got.pieces) != 2 {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	old := b[:len(b)-4] // the layout before the trailer, CRC recomputed
	binary.LittleEndian.PutUint32(old, crc32.Checksum(old[4:], castagnoli()))
	got, err = decodeSplit(old)
	if err != nil || got.made != 2 {
		t.Fatalf("old layout: %+v, %v; want made = its 2 pieces", got, err)
	}
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want, err     string
		warn          bool
	}{
		{name: "token and newline", content: "s3cret-token\n", mode: 0o600, want: "s3cret-token"},
		{name: "CRLF", content: "s3cret-token\r\n", mode: 0o600, want: "s3cret-token"},
		{name: "world readable", content: "s3cret-token", mode: 0o644, want: "s3cret-token", warn: true},
		{name: "empty", content: "\n\n", mode: 0o600, err: "is empty"},
		{name: "two lines", content: "s3cret-token\nother\n", mode: 0o600, err: "one token on one line"},
		{name: "huge", content: strings.Repeat("x", 5000), mode: 0o600, err: "over 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tc.mode) // past the umask
			var logs syncBuffer
			got, err := ReadTokenFile(path, slog.New(slog.NewTextHandler(&logs, nil)))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want it to name %s and say %q", err, path, tc.err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q shows the token", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
			if warned := strings.Contains(logs.String(), "readable by other users"); warned != tc.warn {
				t.Errorf("warned %v (logs %q), want %v", warned, logs.String(), tc.warn)
			}
			if strings.Contains(logs.String(), "s3cret") {
				t.Errorf("log %q shows the token", logs.String())
			}
		})
	}
	if _, err := ReadTokenFile(filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("a missing token file was accepted")
	}
}

// Every name a publisher leaves in its spool directory is one it claims
// (OwnsSpoolEntry): the agent refuses to hand a directory holding anything
// else to its unprivileged user, and refused its own spool once the epoch
// file was added without being claimed.
func TestOwnsEverySpoolEntryItCreates(t *testing.T) {
	srv := newFakeIngest(t)
	srv.setAnswer(func(*flowlensv1.Report, int) (int, http.Header) {
		return http.StatusRequestEntityTooLarge, nil // splits: the split state is written too
	})
	dir := t.TempDir()
	cfg := testConfig(dir, srv.srv.URL)
	cfg.MaxSplitPieces = 2
	p := newTestPublisher(t, cfg)
	p.Start()
	if err := p.Publish(testReport(10)); err != nil {
		t.Fatal(err)
	}
	flush(t, p)
	p.Stop(canceledCtx())
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		if !OwnsSpoolEntry(e.Name()) {
			t.Errorf("the publisher created %q but does not claim it", e.Name())
		}
	}
	if len(names) < 3 {
		t.Errorf("spool holds only %v", names)
	}
	for _, foreign := range []string{"shadow", "epoch.bak", "spool.tmp", "..", "passwd"} {
		if OwnsSpoolEntry(foreign) {
			t.Errorf("claims %q", foreign)
		}
	}
}
