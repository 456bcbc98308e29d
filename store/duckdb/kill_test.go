package duckdb

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// The SIGKILL test runs the store in a child process (this test binary
// re-invoked with -test.run=TestKillChild), which writes and acknowledges
// batches until the parent kills it at a random moment, mid-write as often
// as not. The parent then opens the file and checks that every
// acknowledged batch is stored, and that each batch is either entirely
// stored and marked seen, or absent and unseen.

const (
	killAgent        = "kill-agent"
	killRowsPerBatch = 200
	killNewKeys      = 50 // rows per batch with a never-seen flow key
	envKillDB        = "FLOWLENS_KILL_CHILD_DB"
	envKillBase      = "FLOWLENS_KILL_CHILD_BASE_MS"
)

// killRows derives a batch's rows from its sequence: SegmentsSent carries
// the sequence so the parent can group stored rows by batch, and BytesSent
// is checkable.
func killRows(seq uint64, base time.Time) []store.FlowRow {
	rows := make([]store.FlowRow, killRowsPerBatch)
	end := base.Add(time.Duration(seq%3000) * time.Second)
	for i := range rows {
		k := i
		remote := netip.AddrFrom4([4]byte{10, 9, byte(k >> 8), byte(k)})
		port := uint16(443)
		if i < killNewKeys {
			remote = netip.AddrFrom4([4]byte{172, 16 + byte(seq>>16), byte(seq >> 8), byte(seq)})
			port = uint16(1024 + i)
		}
		var c flow.Counters
		c.BytesSent = seq*1000 + uint64(i)
		c.RTT.Observe(100 + seq%5000)
		c.SegmentsSent = seq
		rows[i] = store.FlowRow{
			Start: end.Add(-time.Minute), End: end, AgentID: killAgent, HostID: "kill-host",
			Record: flow.Record{Key: flow.Key{LocalIP: netip.MustParseAddr("10.0.0.1"), RemoteIP: remote, Port: port,
				Direction: flow.DirectionClient, Protocol: flow.ProtocolTCP}, Counters: c},
			Local:    topology.Location{Kind: topology.KindSubnet, Region: "r", Zone: "z", Subnet: "s"},
			Remote:   topology.Location{Kind: topology.KindSubnet, Region: "r", Zone: "z", Subnet: fmt.Sprintf("s%d", k%7)},
			Category: topology.CategoryIntraZone,
		}
	}
	return rows
}

// TestKillChild is the child half of TestSIGKILLDurability.
func TestKillChild(t *testing.T) {
	path := os.Getenv(envKillDB)
	if path == "" {
		t.Skip("helper process of TestSIGKILLDurability")
	}
	baseMs, err := strconv.ParseInt(os.Getenv(envKillBase), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	base := time.UnixMilli(baseMs)
	s, err := Open(Config{Path: path, Threads: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Printf("ERR open: %v\n", err)
		os.Exit(1)
	}
	// Like a restarted agent: continue after a gap, and replay a few old
	// sequences, which must come back as duplicates.
	next := uint64(1)
	var old []uint64
	if set := s.seen[seenKey{agent: killAgent}]; set != nil {
		rs := set.ranges()
		next = rs[len(rs)-1].hi + 1 + 1024
		old = append(old, rs[0].lo, rs[len(rs)-1].hi)
	}
	fmt.Println("READY")
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(next, 1))
	for w := 0; ; w++ {
		var batches []*store.Batch
		for range 10 + rng.IntN(20) {
			batches = append(batches, &store.Batch{AgentID: killAgent, Sequence: next, Rows: killRows(next, base)})
			next++
		}
		for _, seq := range old {
			batches = append(batches, &store.Batch{AgentID: killAgent, Sequence: seq, Rows: killRows(seq, base)})
		}
		old = old[:0]
		dup, err := s.Write(ctx, batches)
		if err != nil {
			fmt.Printf("ERR write: %v\n", err)
			os.Exit(1)
		}
		var acks []string
		for i, b := range batches {
			if !dup[i] {
				acks = append(acks, strconv.FormatUint(b.Sequence, 10))
			}
		}
		fmt.Println("ACK " + strings.Join(acks, " "))
		if w%5 == 4 {
			if err := s.Maintain(ctx, time.Now()); err != nil {
				fmt.Printf("ERR maintain: %v\n", err)
				os.Exit(1)
			}
		}
	}
}

func TestSIGKILLDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills child processes")
	}
	path := filepath.Join(t.TempDir(), "kill.duckdb")
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	acked := make(map[uint64]bool)
	for round := range 6 {
		// Round 0 may kill the child while it creates the schema.
		delay := time.Duration(rng.Int64N(int64(700 * time.Millisecond)))
		n := runAndKill(t, path, base, round == 0, delay, acked)
		t.Logf("round %d: killed %s after the first ack (after start in round 0); %d batches acknowledged so far (+%d)", round, delay, len(acked), n)
		verifyAfterKill(t, path, base, acked)
	}
}

// runAndKill starts the child, kills it delay after its first
// acknowledgement (after start when early), and records what it acked.
func runAndKill(t *testing.T, path string, base time.Time, early bool, delay time.Duration, acked map[uint64]bool) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envKillDB+"="+path, envKillBase+"="+strconv.FormatInt(base.UnixMilli(), 10))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var kill <-chan time.Time
	if early {
		kill = time.After(delay)
	}
	killed := false
	timeout := time.After(2 * time.Minute)
	n := 0
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				err := cmd.Wait()
				if !killed {
					t.Fatalf("child exited before being killed: %v", err)
				}
				return n
			}
			switch {
			case strings.HasPrefix(line, "ERR"):
				t.Fatalf("child: %s", line)
			case strings.HasPrefix(line, "ACK"):
				for _, f := range strings.Fields(line)[1:] {
					seq, err := strconv.ParseUint(f, 10, 64)
					if err != nil {
						t.Fatalf("child ack %q: %v", line, err)
					}
					acked[seq] = true
					n++
				}
				if kill == nil && !killed {
					kill = time.After(delay)
				}
			}
		case <-kill:
			if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
				t.Fatal(err)
			}
			kill, killed = nil, true
		case <-timeout:
			cmd.Process.Kill()
			t.Fatal("child made no progress in 2 minutes")
		}
	}
}

// verifyAfterKill opens the file like a restarted server and checks
// atomicity and durability.
func verifyAfterKill(t *testing.T, path string, base time.Time, acked map[uint64]bool) {
	t.Helper()
	if _, err := os.Stat(path); os.IsNotExist(err) {
		if len(acked) > 0 {
			t.Fatal("database file missing after acknowledgements")
		}
		return
	}
	s, err := Open(Config{Path: path}, testLogger(t))
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	seen := make(map[uint64]bool)
	if set := s.seen[seenKey{agent: killAgent}]; set != nil {
		for _, r := range set.ranges() {
			for x := r.lo; x <= r.hi; x++ {
				seen[x] = true
			}
		}
	}
	for seq := range acked {
		if !seen[seq] {
			t.Errorf("acknowledged batch %d lost", seq)
		}
	}
	rows, err := s.db.Query(`SELECT segments_sent, count(*), sum(bytes_sent)::UBIGINT FROM flows GROUP BY segments_sent`)
	if err != nil {
		t.Fatal(err)
	}
	stored := make(map[uint64]bool)
	for rows.Next() {
		var seq, n, sum uint64
		if err := rows.Scan(&seq, &n, &sum); err != nil {
			t.Fatal(err)
		}
		stored[seq] = true
		wantSum := seq*1000*killRowsPerBatch + killRowsPerBatch*(killRowsPerBatch-1)/2
		if n != killRowsPerBatch || sum != wantSum {
			t.Errorf("batch %d: %d rows summing %d, want %d rows summing %d", seq, n, sum, killRowsPerBatch, wantSum)
		}
		if !seen[seq] {
			t.Errorf("batch %d has rows but is not marked seen", seq)
		}
	}
	rows.Close()
	for seq := range seen {
		if !stored[seq] {
			t.Errorf("batch %d is marked seen but has no rows", seq)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM flows WHERE key_id NOT IN (SELECT id FROM flow_keys)`); n != 0 {
		t.Errorf("%d rows reference flow keys that were not stored", n)
	}
	compareRollupsWithRaw(t, s)
}
