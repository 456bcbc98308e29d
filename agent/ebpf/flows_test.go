package ebpf

import (
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/flowlens/flowlens/agent/aggregate"
	"github.com/flowlens/flowlens/agent/collect"
	"github.com/flowlens/flowlens/agent/sockdiag"
	"github.com/flowlens/flowlens/flow"
)

// totals runs the recorded events selected by sel through the agent's
// aggregator and returns the flow counters they add up to, per flow.
func totals(r *recorder, sel func(*collect.Event) bool) map[flow.Key]flow.Counters {
	a := aggregate.New(aggregate.Config{ReportCap: 1 << 20})
	for _, ev := range r.events(sel) {
		a.Add(ev)
	}
	out := map[flow.Key]flow.Counters{}
	for _, rec := range a.Flush() {
		out[rec.Key] = rec.Counters
	}
	return out
}

// sum adds up the counters of every flow.
func sum(flows map[flow.Key]flow.Counters) flow.Counters {
	var c flow.Counters
	for _, f := range flows {
		c.Add(&f)
	}
	return c
}

// waitTotals waits until the events selected by sel add up to counters
// for which done holds, and returns them.
func waitTotals(t testing.TB, r *recorder, what string, sel func(*collect.Event) bool, done func(*flow.Counters) bool) flow.Counters {
	t.Helper()
	var c flow.Counters
	waitFor(t, what, 30*time.Second, func() bool {
		c = sum(totals(r, sel))
		return done(&c)
	})
	return c
}

// destroyRecorder records the final tcp_info of every TCP socket (IPv4)
// destroyed in a network namespace, from the sock_diag destroy group: the
// sockets' own account of what they did.
type destroyRecorder struct {
	conn  *netlink.Conn
	mu    sync.Mutex
	socks []sockdiag.Socket
	err   error
	done  chan struct{}
}

func recordDestroyed(t *testing.T, netns string) *destroyRecorder {
	t.Helper()
	f, err := os.Open("/run/netns/" + netns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	conn, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, &netlink.Config{NetNS: int(f.Fd()), Groups: 1 << (1 - 1)})
	if err != nil {
		t.Fatalf("destroy group: %v", err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 128<<20) })
	if serr != nil {
		t.Fatalf("SO_RCVBUFFORCE: %v", serr)
	}
	d := &destroyRecorder{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		for {
			msgs, err := conn.Receive()
			if err != nil {
				d.mu.Lock()
				d.err = err // ENOBUFS, or closed at the end of the test
				d.mu.Unlock()
				return
			}
			d.mu.Lock()
			for _, m := range msgs {
				if s, err := sockdiag.ParseSocket(m.Data); err == nil && s.HasInfo {
					d.socks = append(d.socks, s)
				}
			}
			d.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-d.done })
	return d
}

// count returns how many connected sockets were destroyed.
func (d *destroyRecorder) count() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, s := range d.socks {
		if s.Remote.Port() != 0 {
			n++
		}
	}
	return n, d.err
}

// flows sums the destroyed sockets per flow as the agent keys them: a
// socket whose local port is a server port is the server end.
func (d *destroyRecorder) flows(serverPorts map[uint16]bool) map[flow.Key]flow.Counters {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[flow.Key]flow.Counters{}
	for _, s := range d.socks {
		if s.Remote.Port() == 0 {
			continue // never connected (Go's start-up probes of the stack)
		}
		ev := collect.Event{Local: s.Local, Remote: s.Remote, Passive: serverPorts[s.Local.Port()]}
		k := aggregate.KeyOf(&ev)
		c := out[k]
		n := s.Info.Counters()
		c.BytesSent += n.BytesAcked
		c.BytesReceived += n.BytesReceived
		c.SegmentsSent += n.SegsOut
		c.SegmentsReceived += n.SegsIn
		c.Retransmissions += n.TotalRetrans
		c.Timeouts += n.TotalRTO
		if s.Info.HasDelivered && s.Info.Delivered > 0 { // the handshake completed
			c.ConnectionsOpened++
			c.ConnectionsClosed++
			if n.SRTTUS > 0 {
				c.RTT.Observe(uint64(n.SRTTUS))
			}
		} else if s.Info.SegsIn > 0 {
			c.FailedRefused++
		} else {
			c.FailedTimeout++
		}
		out[k] = c
	}
	return out
}

// TestShortConnectionsSummedInKernel closes 100,000 short connections
// (98,304 exchanges on 24 ports, both ends watched, and 1,696 refused
// connects on 2 more: 50 flow keys) with no snapshot in between, and finds
// the flows the program summed in the kernel equal, counter by counter, to
// the sums of the sockets' own final tcp_info (the sock_diag destroy
// messages): bytes, segments, retransmissions, RTOs, opened, closed,
// refused, and the RTT histogram (one sample per short socket, its final
// srtt); the handshake histogram has one sample per opened connection.
func TestShortConnectionsSummedInKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 connections")
	}
	const (
		ports, perPort   = 24, 4096
		refusedPorts     = 2
		refusedPerPort   = 848
		conns            = ports*perPort + refusedPorts*refusedPerPort
		destroyedSockets = 2*ports*perPort + refusedPorts*refusedPerPort
		firstPort        = 20000
	)
	e := newEnv(t, true)
	d := recordDestroyed(t, e.netns)
	r := startCollector(t, e, Options{SnapshotEvery: time.Hour})
	serverPorts := map[uint16]bool{}
	for i := range ports {
		p := uint16(firstPort + i)
		serverPorts[p] = true
		start(t, e.helper("serve", fmt.Sprintf("127.0.0.1:%d", p)))
		waitListening(t, e, p)
	}
	var wg sync.WaitGroup
	errs := make(chan error, ports+refusedPorts)
	runAll := func(cmd *exec.Cmd) {
		defer wg.Done()
		if out, err := cmd.CombinedOutput(); err != nil {
			errs <- fmt.Errorf("%v: %v: %s", cmd.Args, err, out)
		}
	}
	for i := range ports {
		wg.Add(1)
		go runAll(e.helper("clients", fmt.Sprintf("127.0.0.1:%d", firstPort+i), fmt.Sprint(perPort), "100"))
	}
	for i := range refusedPorts {
		wg.Add(1)
		go runAll(e.helper("refused", fmt.Sprintf("127.0.0.1:%d", firstPort+ports+i), fmt.Sprint(refusedPerPort)))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every socket's end is in: the clients' sockets are destroyed as
	// they enter TIME_WAIT, the servers' once their last ACK came.
	waitFor(t, fmt.Sprintf("%d destroyed sockets", destroyedSockets), 2*time.Minute, func() bool {
		n, err := d.count()
		if err != nil {
			t.Fatalf("destroy group: %v (the test's own reader fell behind)", err)
		}
		return n >= destroyedSockets
	})
	synced := func(ev *collect.Event) bool { return ev.Kind == collect.Synced }
	r.c.Sync()
	waitFor(t, "Synced", 30*time.Second, func() bool { return len(r.events(synced)) == 1 })

	st := r.c.Stats()
	t.Logf("%d connections: %d sockets summed in the kernel, %d through the ring (flow map full)", conns, st.Aggregated, st.FlowMapFull)
	if st.Aggregated != destroyedSockets || st.FlowMapFull != 0 {
		t.Errorf("summed %d sockets in the kernel (flow map full %d), want all %d", st.Aggregated, st.FlowMapFull, destroyedSockets)
	}
	if n := len(r.events(func(ev *collect.Event) bool { return ev.Kind == collect.Closed || ev.Kind == collect.Failed })); n != 0 {
		t.Errorf("%d sockets sent one by one, want none", n)
	}
	got := totals(r, func(ev *collect.Event) bool { return ev.Kind == collect.Aggregated })
	want := d.flows(serverPorts)
	if len(got) != ports*2+refusedPorts || len(want) != len(got) {
		t.Errorf("%d flows summed in the kernel, %d from tcp_info, want %d", len(got), len(want), ports*2+refusedPorts)
	}
	keys := make([]flow.Key, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		w, g := want[k], got[k]
		if g.HandshakeLatency.Count != w.ConnectionsOpened {
			t.Errorf("%s: %d handshake samples, want one per opened connection (%d)", k, g.HandshakeLatency.Count, w.ConnectionsOpened)
		}
		g.HandshakeLatency = flow.Latency{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n kernel  %+v\n tcp_info %+v", k, g, w)
		}
	}
	all := sum(got)
	t.Logf("totals: opened %d closed %d refused %d, %d bytes sent, RTT p50 %.0f µs over %d samples",
		all.ConnectionsOpened, all.ConnectionsClosed, all.FailedRefused, all.BytesSent, all.RTT.Quantile(0.5), all.RTT.Count)
}

// TestFlowMapFull checks that a full flow map loses nothing: the ends of
// sockets of flows beyond it go through the ring buffer, and are counted.
func TestFlowMapFull(t *testing.T) {
	e := newEnv(t, false)
	r := startCollector(t, e, Options{SnapshotEvery: time.Hour, MaxFlows: 1})
	var addrs []string
	for range 3 {
		a := freeAddr(t)
		addrs = append(addrs, a)
		start(t, e.helper("serve", a))
	}
	for _, a := range addrs {
		run(t, e.helper("clients", a, "10", "100"))
	}
	mine := func(ev *collect.Event) bool {
		for _, a := range addrs {
			p := mustPort(t, a)
			if port(p, false)(ev) || port(p, true)(ev) {
				return true
			}
		}
		return false
	}
	r.c.Sync()
	c := waitTotals(t, r, "60 sockets closed", mine, func(c *flow.Counters) bool { return c.ConnectionsClosed >= 60 })
	st := r.c.Stats()
	t.Logf("summed in the kernel %d, through the ring %d; opened %d closed %d", st.Aggregated, st.FlowMapFull, c.ConnectionsOpened, c.ConnectionsClosed)
	if c.ConnectionsOpened != 60 || c.ConnectionsClosed != 60 || c.HandshakeLatency.Count != 60 || c.BytesSent < 30*(100+2) {
		t.Errorf("opened %d closed %d handshakes %d bytes sent %d, want 60, 60, 60, >= %d", c.ConnectionsOpened, c.ConnectionsClosed, c.HandshakeLatency.Count, c.BytesSent, 30*(100+2))
	}
	if st.FlowMapFull == 0 || st.Aggregated == 0 || st.Aggregated+st.FlowMapFull != 60 {
		t.Errorf("summed %d, full %d: want both > 0 and 60 in all", st.Aggregated, st.FlowMapFull)
	}
}

// TestIteratorOnlyWhenSocketsNeedIt checks that a snapshot runs the tcp
// iterator only when it has work: at the first snapshot (adoption of older
// sockets) and while a socket an earlier snapshot saw is open, not for
// short connections alone.
func TestIteratorOnlyWhenSocketsNeedIt(t *testing.T) {
	e := newEnv(t, false)
	r := startCollector(t, e, Options{SnapshotEvery: time.Hour})
	if r.c.iterLink == nil {
		t.Skipf("tcp iterator unavailable: %v", r.c.objs.iterErr)
	}
	synced := 0
	sync := func() {
		t.Helper()
		r.c.Sync()
		synced++
		waitFor(t, fmt.Sprintf("Synced #%d", synced), 10*time.Second, func() bool {
			return len(r.events(func(ev *collect.Event) bool { return ev.Kind == collect.Synced })) == synced
		})
	}
	addr := freeAddr(t)
	p := mustPort(t, addr)
	start(t, e.helper("serve", addr))
	sync()
	run(t, e.helper("clients", addr, "20", "100"))
	sync()
	sync()
	if n := r.c.iterRuns.Load(); n != 1 {
		t.Errorf("short connections only: %d iterator runs in 3 snapshots, want 1 (the first)", n)
	}
	hold := e.helper("hold", addr)
	stdin, err := hold.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	start(t, hold)
	waitAcked(t, p, 1000)
	sync() // sees the held connection open
	sync() // refreshes it
	if n := r.c.iterRuns.Load(); n != 2 {
		t.Errorf("with a connection an earlier snapshot saw: %d iterator runs, want 2", n)
	}
	stdin.Close()
}
