package ebpf

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/agent/collect"
	"github.com/flowlens/flowlens/flow"
)

// TestCollector runs the collector on a cgroup of its own and checks what it
// reports against traffic it generates in a network namespace of its own.
func TestCollector(t *testing.T) {
	e := newEnv(t, true)
	r := startCollector(t, e, Options{})

	t.Run("bytes", func(t *testing.T) {
		const n = 20 << 20
		start(t, e.helper("serve", "127.0.0.1:9001"))
		run(t, e.helper("clients", "127.0.0.1:9001", "1", fmt.Sprint(n)))
		// A connection no snapshot saw is summed in the kernel with its
		// flow; one a snapshot saw sends its final event: both add up.
		closed := func(c *flow.Counters) bool { return c.ConnectionsClosed == 1 }
		cli := waitTotals(t, r, "client closed", port(9001, false), closed)
		srv := waitTotals(t, r, "server closed", port(9001, true), closed)
		t.Logf("client acked %d, server received %d, sent %d", cli.BytesSent, srv.BytesReceived, n)
		within(t, "client bytes acked", cli.BytesSent, n, 0.01)
		within(t, "server bytes received", srv.BytesReceived, n, 0.01)
	})

	t.Run("short connections", func(t *testing.T) {
		const n = 300
		start(t, e.helper("serve", "127.0.0.1:9002"))
		run(t, e.helper("clients", "127.0.0.1:9002", fmt.Sprint(n), "100"))
		for _, passive := range []bool{false, true} {
			c := waitTotals(t, r, fmt.Sprintf("passive=%v: %d closed", passive, n), port(9002, passive),
				func(c *flow.Counters) bool { return c.ConnectionsClosed >= n })
			t.Logf("passive=%v: opened %d, closed %d, handshakes %d (avg %.0f µs), RTT samples %d", passive,
				c.ConnectionsOpened, c.ConnectionsClosed, c.HandshakeLatency.Count, c.HandshakeLatency.AvgUS(), c.RTT.Count)
			if c.ConnectionsOpened != n || c.ConnectionsClosed != n || c.HandshakeLatency.Count != n {
				t.Errorf("passive=%v: opened %d closed %d handshakes %d, want %d each", passive, c.ConnectionsOpened, c.ConnectionsClosed, c.HandshakeLatency.Count, n)
			}
			if hs := c.HandshakeLatency.MaxUS; hs == 0 || hs > 1e6 {
				t.Errorf("passive=%v: handshake max %d µs", passive, hs)
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		out := run(t, e.helper("connect", "127.0.0.1:9003"))
		if !strings.Contains(out, "refused") {
			t.Fatalf("connect: %s, want refused", out)
		}
		c := waitTotals(t, r, "a failed connect", port(9003, false), func(c *flow.Counters) bool { return c.ConnectionsFailed() > 0 })
		if c.FailedRefused != 1 || c.ConnectionsFailed() != 1 || c.ConnectionsOpened != 0 {
			t.Errorf("got refused %d failed %d opened %d, want one refused", c.FailedRefused, c.ConnectionsFailed(), c.ConnectionsOpened)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		e.inNetns(t, "sysctl", "-qw", "net.ipv4.tcp_syn_retries=1")
		nft(t, e, "add table inet flowlens_test_drop",
			"add chain inet flowlens_test_drop in { type filter hook input priority 0; }",
			"add rule inet flowlens_test_drop in tcp dport 9004 drop")
		out := run(t, e.helper("connect", "127.0.0.1:9004"))
		if !strings.Contains(out, "timed out") {
			t.Fatalf("connect: %s, want a timeout", out)
		}
		c := waitTotals(t, r, "a failed connect", port(9004, false), func(c *flow.Counters) bool { return c.ConnectionsFailed() > 0 })
		t.Logf("timeout: retrans %d, rto %d, segs out %d", c.Retransmissions, c.Timeouts, c.SegmentsSent)
		if c.FailedTimeout != 1 || c.ConnectionsFailed() != 1 {
			t.Errorf("got timeout %d failed %d, want one timeout", c.FailedTimeout, c.ConnectionsFailed())
		}
		// Each SYN retransmission follows an RTO (how many before the
		// kernel gives up depends on timer rounding).
		if c.Retransmissions == 0 || c.Timeouts != c.Retransmissions {
			t.Errorf("retrans %d rto %d, want equal and > 0", c.Retransmissions, c.Timeouts)
		}
	})

	t.Run("iperf3 with 5% loss", func(t *testing.T) {
		if _, err := exec.LookPath("iperf3"); err != nil {
			t.Skip("no iperf3")
		}
		nft(t, e, "add table inet flowlens_test_loss",
			"add chain inet flowlens_test_loss in { type filter hook input priority 0; }",
			"add rule inet flowlens_test_loss in tcp dport 5201 numgen random mod 100 < 5 drop")
		start(t, e.command("iperf3", "-s", "-1", "-p", "5201", "--forceflush"))
		waitListening(t, e, 5201)
		res := iperf(t, run(t, e.command("iperf3", "-c", "127.0.0.1", "-p", "5201", "-t", "3", "-b", "200M", "-J")))
		final := waitFinal(t, r, port(5201, false), 2) // control and data connections
		data := final[0]
		for _, ev := range final {
			if ev.Counters.BytesAcked > data.Counters.BytesAcked {
				data = ev
			}
		}
		t.Logf("iperf3: sent %d bytes, received %d, %d retransmits; collector: %v (reason %v) acked %d, retrans %d, rto %d, srtt %d µs",
			res.bytes, res.received, res.retrans, data.Kind, data.Reason, data.Counters.BytesAcked, data.Counters.TotalRetrans, data.Counters.TotalRTO, data.Counters.SRTTUS)
		if data.Counters.TotalRetrans == 0 {
			t.Errorf("no retransmissions under 5%% loss")
		}
		// iperf3 reads its sender's tcp_info before it closes, and the
		// collector's count is the socket's final one: a retransmission
		// during the close (the server resets a connection with data in
		// flight) is one more. 3 s on loopback make ~50 retransmissions,
		// where 2% is less than one.
		if got, want := data.Counters.TotalRetrans, res.retrans; got < want || float64(got) > max(1.02*float64(want), float64(want+1)) {
			t.Errorf("retransmissions: got %d, want %d (+2%% or +1 for the close)", got, want)
		}
		// iperf3's sender counts bytes written; when its server closes the
		// data connection with segments still in flight (it resets it),
		// those are never acknowledged. What was transferred is what the
		// receiver got.
		within(t, "bytes", data.Counters.BytesAcked, res.received, 0.01)
		samples := 0
		for _, ev := range r.events(port(5201, false)) {
			samples += int(ev.NumRTT)
		}
		// 3 s at one sample per 200 ms, for the data connection.
		t.Logf("RTT samples: %d", samples)
		if samples < 10 {
			t.Errorf("%d RTT samples, want at least 10", samples)
		}
	})
}

// TestReceiverSnapshots checks that a socket that only receives, which gets
// no RTT callbacks, still has its counters refreshed every second (by the
// tcp iterator, which covers the agent's own network namespace).
func TestReceiverSnapshots(t *testing.T) {
	e := newEnv(t, false)
	r := startCollector(t, e, Options{})
	if r.c.objs.iter == nil {
		t.Skipf("tcp iterator unavailable: %v", r.c.objs.iterErr)
	}
	addr := freeAddr(t)
	start(t, e.helper("serve", addr))
	run(t, e.helper("stream", addr, fmt.Sprint(3<<20), "3"))
	p := mustPort(t, addr)
	final := waitFinal(t, r, port(p, true), 1)[0]
	var growing []uint64
	// The first snapshot that sees the socket reports its opening (an
	// Opened event, with its counters), the next ones Snapshot events.
	live := func(ev *collect.Event) bool {
		return (ev.Kind == collect.Snapshot || ev.Kind == collect.Opened) && port(p, true)(ev)
	}
	for _, ev := range r.events(live) {
		if ev.Counters.BytesReceived > 0 && ev.Counters.BytesReceived < final.Counters.BytesReceived {
			growing = append(growing, ev.Counters.BytesReceived)
		}
	}
	t.Logf("receiver snapshots before close: %v; final %d", growing, final.Counters.BytesReceived)
	if len(growing) < 2 {
		t.Errorf("%d snapshots of the receiver's growth in 3 s, want >= 2", len(growing))
	}
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string { return freeAddrTB(t) }

func freeAddrTB(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func mustPort(t *testing.T, addr string) uint16 {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Port()
}

// waitFinal waits for n Closed or Failed events selected by sel.
func waitFinal(t *testing.T, r *recorder, sel func(*collect.Event) bool, n int) []collect.Event {
	t.Helper()
	final := func(ev *collect.Event) bool {
		return (ev.Kind == collect.Closed || ev.Kind == collect.Failed) && sel(ev)
	}
	waitFor(t, fmt.Sprintf("%d closed sockets", n), 15*time.Second, func() bool { return len(r.events(final)) >= n })
	time.Sleep(100 * time.Millisecond) // and no more
	return r.events(final)
}

// within checks got against want with a relative tolerance.
func within(t *testing.T, what string, got, want uint64, tol float64) {
	t.Helper()
	if math.Abs(float64(got)-float64(want)) > tol*float64(want) {
		t.Errorf("%s: got %d, want %d (±%.0f%%)", what, got, want, tol*100)
	}
}

// nft applies nft commands in the namespace; the tables go with it, and
// are also deleted when the test ends.
func nft(t *testing.T, e *env, cmds ...string) {
	t.Helper()
	table := strings.Fields(cmds[0])[2:4]
	t.Cleanup(func() {
		exec.Command("ip", "netns", "exec", e.netns, "nft", "delete", "table", table[0], table[1]).Run()
	})
	e.inNetns(t, "nft", strings.Join(cmds, "; "))
}

type iperfResult struct {
	bytes, received, retrans uint64
}

// iperf reads the sender's totals from iperf3 -J.
func iperf(t *testing.T, out string) iperfResult {
	t.Helper()
	var v struct {
		End struct {
			SumSent struct {
				Bytes       uint64 `json:"bytes"`
				Retransmits uint64 `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				Bytes uint64 `json:"bytes"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("iperf3 output: %v", err)
	}
	return iperfResult{v.End.SumSent.Bytes, v.End.SumReceived.Bytes, v.End.SumSent.Retransmits}
}

// TestPreexisting checks a connection older than the collector: seeded with
// a baseline from the sock_diag dump, then adopted by the iterator so that
// its later traffic and its close are seen.
func TestPreexisting(t *testing.T) {
	e := newEnv(t, false)
	addr := freeAddr(t)
	p := mustPort(t, addr)
	start(t, e.helper("serve", addr))
	hold := e.helper("hold", addr)
	stdin, err := hold.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	start(t, hold)

	r := startCollector(t, e, Options{})
	if r.c.objs.iter == nil {
		t.Skipf("tcp iterator unavailable: %v", r.c.objs.iterErr)
	}
	isBase := func(ev *collect.Event) bool { return ev.Baseline && (port(p, false)(ev) || port(p, true)(ev)) }
	waitFor(t, "baselines", 10*time.Second, func() bool { return len(r.events(isBase)) >= 2 })
	base := r.events(isBase)
	if len(base) != 2 {
		t.Fatalf("%d baselines, want the client's and the server's: %+v", len(base), base)
	}
	// Its close is seen only once the iterator has adopted it (enabled
	// its callbacks), which the backstop snapshot does within a second.
	for _, b := range base {
		waitFor(t, fmt.Sprintf("socket %d adopted by the iterator", b.Cookie), 15*time.Second, func() bool {
			var st sockopsSockState
			return r.c.objs.core.Socks.Lookup(b.Cookie, &st) == nil
		})
	}
	stdin.Close()
	final := waitFinal(t, r, port(p, false), 1)[0]
	var cli collect.Event
	for _, b := range base {
		if !b.Passive {
			cli = b
		}
	}
	t.Logf("client baseline acked %d, final acked %d", cli.Counters.BytesAcked, final.Counters.BytesAcked)
	if final.Cookie != cli.Cookie || final.Counters.BytesAcked < cli.Counters.BytesAcked+1000 {
		t.Errorf("final %+v does not follow baseline %+v", final, cli)
	}
}

// TestSync checks the agent's way of reading counters: with no periodic
// snapshots, Sync drains the ring buffer and snapshots the map, reporting
// a still-open connection's opening and counters, then sends Synced; the
// connection's final event does not count its opening again.
func TestSync(t *testing.T) {
	e := newEnv(t, false)
	r := startCollector(t, e, Options{SnapshotEvery: time.Hour})
	addr := freeAddr(t)
	p := mustPort(t, addr)
	start(t, e.helper("serve", addr))
	hold := e.helper("hold", addr)
	stdin, err := hold.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	start(t, hold)
	waitAcked(t, p, 1000)
	synced := func(ev *collect.Event) bool { return ev.Kind == collect.Synced }
	r.c.Sync()
	waitFor(t, "Synced", 5*time.Second, func() bool { return len(r.events(synced)) == 1 })
	opened := r.events(kind(collect.Opened, port(p, false)))
	if len(opened) != 1 || opened[0].Counters.BytesAcked == 0 {
		t.Fatalf("after Sync: client Opened events %+v, want one with its bytes", opened)
	}
	stdin.Close()
	final := waitFinal(t, r, port(p, false), 1)[0]
	if final.Opened {
		t.Errorf("final event counts the opening again after a snapshot reported it")
	}
	r.c.Sync()
	waitFor(t, "second Synced", 5*time.Second, func() bool { return len(r.events(synced)) == 2 })
}

// TestRTTBudget checks that RTT callbacks over the per-CPU budget are
// skipped and counted, and that the callbacks within it still give samples.
func TestRTTBudget(t *testing.T) {
	e := newEnv(t, false)
	r := startCollector(t, e, Options{RTTBudget: 10}) // the floor: one callback per CPU per 16.8 ms window
	addr := freeAddr(t)
	start(t, e.helper("serve", addr))
	run(t, e.helper("stream", addr, fmt.Sprint(64<<20), "3"))
	p := mustPort(t, addr)
	waitFinal(t, r, port(p, false), 1)
	samples := 0
	for _, ev := range r.events(port(p, false)) {
		samples += int(ev.NumRTT)
	}
	waitFor(t, "a snapshot with the budget's stats", 5*time.Second, func() bool { return r.c.Stats().RTTSkipped > 0 })
	t.Logf("sender: %d RTT samples; %d callbacks skipped over the budget", samples, r.c.Stats().RTTSkipped)
	if samples < 2 {
		t.Errorf("%d RTT samples in 3 s within the budget, want >= 2", samples)
	}
}

// TestMapFull checks a full socket map: the sockets beyond it are left
// untracked and counted as sampled, nothing fails, and once the tracked
// ones close, new connections are tracked again.
func TestMapFull(t *testing.T) {
	const size, conns = 16, 20 // 40 sockets, both ends in the cgroup
	e := newEnv(t, false)
	r := startCollector(t, e, Options{MaxSockets: size})
	addr := freeAddr(t)
	p := mustPort(t, addr)
	start(t, e.helper("serve", addr))
	hold := e.helper("hold", addr, fmt.Sprint(conns))
	stdin, err := hold.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	start(t, hold)
	waitFor(t, "the full map counted", 5*time.Second, func() bool { return r.c.Stats().SampledSockets >= 2*conns-size })
	st := r.c.Stats()
	t.Logf("full: tracked %d, sampled %d, map-full events %d", st.SocketsTracked, st.SampledSockets, st.MapFullEvents)
	if st.SampledSockets != 2*conns-size || st.MapFullEvents != st.SampledSockets || st.SocketsTracked > size {
		t.Errorf("tracked %d sampled %d map-full %d, want <= %d, %d, %d", st.SocketsTracked, st.SampledSockets, st.MapFullEvents, size, 2*conns-size, 2*conns-size)
	}
	stdin.Close()
	both := func(p uint16) func(*collect.Event) bool {
		return func(ev *collect.Event) bool { return port(p, false)(ev) || port(p, true)(ev) }
	}
	held := waitFinal(t, r, both(p), size)
	if len(held) > 2*conns {
		t.Errorf("%d final events for %d sockets", len(held), 2*conns)
	}
	heldTotals := sum(totals(r, both(p)))
	if heldTotals.ConnectionsClosed > 2*conns {
		t.Errorf("%d sockets closed of %d", heldTotals.ConnectionsClosed, 2*conns)
	}

	// Room again: a new connection is tracked (seen on another port, as
	// a snapshot may have adopted some of the held sockets before they
	// closed).
	addr2 := freeAddr(t)
	start(t, e.helper("serve", addr2))
	run(t, e.helper("clients", addr2, "3", "100"))
	after := waitTotals(t, r, "3 new connections closed", both(mustPort(t, addr2)), func(c *flow.Counters) bool { return c.ConnectionsClosed >= 6 })
	t.Logf("%d final events of the held sockets (%d tracked); 3 new connections: %d sockets opened, %d closed", len(held), size, after.ConnectionsOpened, after.ConnectionsClosed)
	if after.ConnectionsOpened != 6 || after.ConnectionsClosed != 6 {
		t.Errorf("3 new connections: %d sockets opened, %d closed, want 6", after.ConnectionsOpened, after.ConnectionsClosed)
	}
}
