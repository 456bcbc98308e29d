package sockdiag

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowlens/flowlens/agent/aggregate"
	"github.com/flowlens/flowlens/agent/collect"
	"github.com/flowlens/flowlens/flow"
)

// testNetns creates a network namespace of its own (loopback up, SYN
// retries cut to 1 so a dropped connect times out in about 3 s) and
// deletes it when the test ends, passed or failed. It skips the test when
// it cannot: not root, no `ip`, or namespaces not allowed.
func testNetns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace (run the agent tests as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's `ip` to create a network namespace")
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	ns := "flowlens-test-" + hex.EncodeToString(rnd[:])
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("delete netns %s: %v: %s", ns, err, out)
		}
	})
	mustRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
	mustRun(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_syn_retries=1")
	return ns
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// harness runs the collector and an aggregator and accumulates every
// flushed record per flow key.
type harness struct {
	t      *testing.T
	c      *Collector
	mu     sync.Mutex
	agg    *aggregate.Aggregator
	totals map[flow.Key]*flow.Counters
}

func startHarness(t *testing.T, ns string) *harness {
	c, err := New(Config{Netns: ns, PollInterval: 100 * time.Millisecond}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("sockdiag collector: %v", err)
	}
	h := &harness{t: t, c: c, agg: aggregate.New(aggregate.Config{}), totals: make(map[flow.Key]*flow.Counters)}
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan collect.Event, 4096)
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx, events); close(events) }()
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for ev := range events {
			h.mu.Lock()
			h.agg.Add(ev)
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("collector Run: %v", err)
		}
		<-consumed
	})
	select {
	case <-c.Ready():
	case err := <-runErr:
		t.Fatalf("collector stopped before it was ready: %v", err)
	}
	return h
}

// flow flushes the aggregator and returns the totals of one flow so far.
func (h *harness) flow(port uint16, dir flow.Direction) flow.Counters {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.agg.Flush() {
		c := h.totals[r.Key]
		if c == nil {
			c = &flow.Counters{}
			h.totals[r.Key] = c
		}
		c.Add(&r.Counters)
	}
	var sum flow.Counters
	for k, c := range h.totals {
		if k.Port == port && k.Direction == dir {
			sum.Add(c)
		}
	}
	return sum
}

// waitFor polls cond until it holds; the bound only keeps a broken build
// from hanging, it is not a performance assertion.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settle waits for a few more polls so that anything counted twice would
// show.
func (h *harness) settle() {
	target := h.c.dumps.Load() + 3
	h.waitFor("three more polls", func() bool { return h.c.dumps.Load() >= target })
}

// listen opens a loopback listener inside ns.
func listen(t *testing.T, ns string) net.Listener {
	var ln net.Listener
	err := InNetns(ns, func() (err error) {
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func portOf(a net.Addr) uint16 { return uint16(a.(*net.TCPAddr).Port) }

func dialIn(ns string, port uint16) (net.Conn, error) {
	var c net.Conn
	err := InNetns(ns, func() (err error) {
		c, err = net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		return err
	})
	return c, err
}

func TestIntegrationInNetns(t *testing.T) {
	ns := testNetns(t)
	bulk, short := listen(t, ns), listen(t, ns)
	closed := listen(t, ns)
	closedPort := portOf(closed.Addr())
	closed.Close() // nothing listens there any more: connects are refused

	received := make(chan int64, 1)
	go func() { // bulk sink: counts what it reads
		c, err := bulk.Accept()
		if err != nil {
			received <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		received <- n
	}()
	go func() { // short server: one request, one answer, close
		for {
			c, err := short.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4)
				if _, err := io.ReadFull(c, buf); err == nil {
					c.Write([]byte("pong"))
				}
			}()
		}
	}()

	h := startHarness(t, ns)

	t.Run("bulk bytes", func(t *testing.T) {
		port := portOf(bulk.Addr())
		c, err := dialIn(ns, port)
		if err != nil {
			t.Fatal(err)
		}
		// Write across several polls, so snapshots and the final close
		// both contribute.
		var sent int64
		chunk := make([]byte, 64<<10)
		for start := time.Now(); time.Since(start) < 700*time.Millisecond; {
			n, err := c.Write(chunk)
			sent += int64(n)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
		c.Close()
		got := <-received
		if got != sent {
			t.Fatalf("server read %d of %d bytes", got, sent)
		}
		h.waitFor("the bulk connection to close on both sides", func() bool {
			return h.flow(port, flow.DirectionClient).ConnectionsClosed == 1 && h.flow(port, flow.DirectionServer).ConnectionsClosed == 1
		})
		h.settle()
		cl, sv := h.flow(port, flow.DirectionClient), h.flow(port, flow.DirectionServer)
		t.Logf("sent %d bytes; client flow: sent %d, %d segments, %d retransmissions, rtt n=%d avg %.0fus; server flow: received %d",
			sent, cl.BytesSent, cl.SegmentsSent, cl.Retransmissions, cl.RTT.Count, cl.RTT.AvgUS(), sv.BytesReceived)
		within1pc(t, "client bytes sent", cl.BytesSent, sent)
		within1pc(t, "server bytes received", sv.BytesReceived, sent)
		if cl.ConnectionsOpened != 1 || sv.ConnectionsOpened != 1 || cl.ConnectionsClosed != 1 || sv.ConnectionsClosed != 1 {
			t.Errorf("opened/closed client %d/%d server %d/%d, want 1/1 each", cl.ConnectionsOpened, cl.ConnectionsClosed, sv.ConnectionsOpened, sv.ConnectionsClosed)
		}
		if cl.RTT.Count == 0 {
			t.Error("no RTT sample for the bulk flow")
		}
	})

	t.Run("short connections", func(t *testing.T) {
		const n = 300
		port := portOf(short.Addr())
		err := InNetns(ns, func() error {
			buf := make([]byte, 4)
			for i := range n {
				c, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil {
					return fmt.Errorf("connection %d: %w", i, err)
				}
				c.Write([]byte("ping"))
				_, err = io.ReadFull(c, buf)
				c.Close()
				if err != nil {
					return fmt.Errorf("connection %d: %w", i, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		h.waitFor("every short connection to close", func() bool {
			return h.flow(port, flow.DirectionClient).ConnectionsClosed >= n && h.flow(port, flow.DirectionServer).ConnectionsClosed >= n
		})
		h.settle()
		for _, dir := range []flow.Direction{flow.DirectionClient, flow.DirectionServer} {
			c := h.flow(port, dir)
			t.Logf("%s flow: opened %d closed %d failed %d, sent %d received %d, rtt n=%d", dir, c.ConnectionsOpened, c.ConnectionsClosed, c.ConnectionsFailed(), c.BytesSent, c.BytesReceived, c.RTT.Count)
			if c.ConnectionsOpened != n || c.ConnectionsClosed != n || c.ConnectionsFailed() != 0 {
				t.Errorf("%s flow: opened %d closed %d failed %d, want %d %d 0", dir, c.ConnectionsOpened, c.ConnectionsClosed, c.ConnectionsFailed(), n, n)
			}
			// tcpi_bytes_acked and tcpi_bytes_received advance with the
			// sequence numbers, so the SYN and the FIN count one byte each.
			if c.BytesSent < 4*n || c.BytesSent > 6*n || c.BytesReceived < 4*n || c.BytesReceived > 6*n {
				t.Errorf("%s flow: sent %d received %d, want %d each plus at most SYN and FIN", dir, c.BytesSent, c.BytesReceived, 4*n)
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		_, err := dialIn(ns, closedPort)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("connect to a closed port: %v, want connection refused", err)
		}
		h.waitFor("the refused connect", func() bool { c := h.flow(closedPort, flow.DirectionClient); return c.ConnectionsFailed() >= 1 })
		h.settle()
		c := h.flow(closedPort, flow.DirectionClient)
		if c.FailedRefused != 1 || c.ConnectionsFailed() != 1 || c.ConnectionsOpened != 0 {
			t.Errorf("refused %d, failed %d, opened %d; want 1, 1, 0", c.FailedRefused, c.ConnectionsFailed(), c.ConnectionsOpened)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		if _, err := exec.LookPath("nft"); err != nil {
			t.Skip("needs nft to drop SYNs")
		}
		const dropPort = 9
		table := "flowlens_test"
		rules := fmt.Sprintf("table inet %s {\n chain in {\n  type filter hook input priority 0;\n  tcp dport %d tcp flags & (syn|ack) == syn drop\n }\n}\n", table, dropPort)
		cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v: %s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", table).CombinedOutput(); err != nil {
				t.Errorf("delete nft table: %v: %s", err, out)
			}
		})
		_, err := dialIn(ns, dropPort)
		if !errors.Is(err, syscall.ETIMEDOUT) {
			t.Fatalf("connect with SYNs dropped: %v, want connection timed out", err)
		}
		h.waitFor("the timed out connect", func() bool { c := h.flow(dropPort, flow.DirectionClient); return c.ConnectionsFailed() >= 1 })
		h.settle()
		c := h.flow(dropPort, flow.DirectionClient)
		t.Logf("timeout flow: failed timeout %d, retransmissions %d, segments sent %d", c.FailedTimeout, c.Retransmissions, c.SegmentsSent)
		if c.FailedTimeout != 1 || c.ConnectionsFailed() != 1 {
			t.Errorf("timeout %d, failed %d; want 1, 1", c.FailedTimeout, c.ConnectionsFailed())
		}
	})

	if st := h.c.Stats(); st.ENOBUFS != 0 || st.LostEvents != 0 {
		t.Errorf("collector lost events: %+v", st)
	}
}

func within1pc(t *testing.T, what string, got uint64, want int64) {
	t.Helper()
	if d := float64(got) - float64(want); d > 0.01*float64(want) || d < -0.01*float64(want) {
		t.Errorf("%s = %d, want %d within 1%%", what, got, want)
	}
}

// TestOneDumpForBothFamilies checks the dump of both families in one walk
// (the inet_diag_req interface): it returns the IPv4 and the IPv6
// connections, with tcp_info, and the collector does not fall back to one
// dump per family.
func TestOneDumpForBothFamilies(t *testing.T) {
	ns := testNetns(t)
	var ln4, ln6 net.Listener
	err := InNetns(ns, func() (err error) {
		if ln4, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
			return err
		}
		ln6, err = net.Listen("tcp6", "[::1]:0")
		return err
	})
	if err != nil {
		t.Skipf("listeners: %v", err)
	}
	defer ln4.Close()
	defer ln6.Close()
	var c4, c6 net.Conn
	err = InNetns(ns, func() (err error) {
		if c4, err = net.Dial("tcp4", ln4.Addr().String()); err != nil {
			return err
		}
		c6, err = net.Dial("tcp6", ln6.Addr().String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	defer c6.Close()
	c, err := New(Config{Netns: ns}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	families := map[uint8]int{}
	err = c.dumpFamilies(connStates, true, func(s *Socket) error {
		if s.HasInfo {
			families[s.Family]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.perFamily {
		t.Errorf("the kernel refused the dump of both families; fell back to one per family")
	}
	// Each connection twice: its client and its accepted end (the
	// accepted sockets exist once the handshake is done, even unaccepted).
	if families[afInet] != 2 || families[afInet6] != 2 {
		t.Errorf("dumped sockets with tcp_info by family %v, want 2 IPv4 and 2 IPv6", families)
	}
}
