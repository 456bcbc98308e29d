package sockdiag

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowlens/flowlens/agent/collect"
	"github.com/flowlens/flowlens/flow"
)

// TestUnseenSocketsSummedPerFlow checks that destroy messages of sockets
// no dump saw are summed per flow (one Aggregated event per flow and
// batch, no per-socket state left behind), while a socket a dump saw
// still gets its own final event.
func TestUnseenSocketsSummedPerFlow(t *testing.T) {
	srv := netip.MustParseAddrPort("10.0.0.2:443")
	cli := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port) }
	info := func(acked uint64, rtt uint32, delivered, segsIn uint32) TCPInfo {
		return TCPInfo{BytesAcked: acked, RTTUS: rtt, Delivered: delivered, SegsIn: segsIn, SegsOut: 3,
			HasBytes: true, HasSegs: true, HasDelivered: true}
	}
	out := make(chan collect.Event, 16)
	c := &Collector{}
	tr := newTracker(c, out)
	tr.listeners = map[netip.AddrPort]bool{}
	// A socket the last dump saw.
	seen := Socket{Cookie: 9, Local: cli(50009), Remote: srv, HasInfo: true, State: StateEstablished, Info: info(10, 30, 2, 2)}
	if err := tr.polled(context.Background(), &seen, false); err != nil {
		t.Fatal(err)
	}
	for len(out) > 0 {
		<-out
	}
	batch := []Socket{
		{Cookie: 1, Local: cli(50001), Remote: srv, HasInfo: true, Info: info(102, 40, 2, 2)},
		{Cookie: 2, Local: cli(50002), Remote: srv, HasInfo: true, Info: info(102, 60, 2, 2)},
		{Cookie: 3, Local: cli(50003), Remote: srv, HasInfo: true, Info: info(0, 0, 0, 1)}, // refused: a RST came back
		{Cookie: 9, Local: cli(50009), Remote: srv, HasInfo: true, Info: info(20, 35, 2, 3)},
	}
	c.handleDestroyed(tr, batch)
	close(out)
	var kinds []string
	var sum *flow.Counters
	for ev := range out {
		kinds = append(kinds, fmt.Sprint(ev.Kind))
		if ev.Kind == collect.Aggregated {
			sum = ev.Flow
			if ev.Local.Port() != 0 || ev.Remote != srv || ev.Passive {
				t.Errorf("aggregated endpoints %v -> %v passive %v, want the ephemeral port zeroed", ev.Local, ev.Remote, ev.Passive)
			}
		}
	}
	if sum == nil {
		t.Fatalf("no Aggregated event; events %v", kinds)
	}
	if sum.ConnectionsOpened != 2 || sum.ConnectionsClosed != 2 || sum.FailedRefused != 1 || sum.BytesSent != 204 ||
		sum.SegmentsSent != 9 || sum.RTT.Count != 2 || sum.RTT.SumUS != 100 {
		t.Errorf("sums %+v, want 2 opened and closed, 1 refused, 204 bytes, 9 segments, RTT 40+60", sum)
	}
	if c.summed.Load() != 3 {
		t.Errorf("summed %d sockets, want 3", c.summed.Load())
	}
	if len(tr.sums) != 0 || len(tr.socks) != 0 || len(tr.dead) != 1 {
		t.Errorf("left %d sums, %d sockets, %d tombstones; want 0, 0, 1 (the seen socket's)", len(tr.sums), len(tr.socks), len(tr.dead))
	}
	if len(kinds) != 3 { // the seen socket's RTT sample and Closed, then the sums
		t.Errorf("events %v, want the seen socket's RTTSample and Closed and one Aggregated", kinds)
	}
}

func TestPollPeriodAdaptsToSockets(t *testing.T) {
	cases := []struct {
		sockets int
		want    time.Duration
	}{
		{0, time.Second},
		{9_999, time.Second},
		{10_000, 2 * time.Second},
		{20_000, 3 * time.Second}, // 10,000 live connections, both ends
		{60_000, 7 * time.Second}, // 1,000 connections/s: a minute of TIME_WAIT
		{1_000_000, 10 * time.Second},
	}
	for _, tc := range cases {
		if got := pollEvery(time.Second, DefaultMaxPollInterval, tc.sockets); got != tc.want {
			t.Errorf("%d sockets: every %s, want %s", tc.sockets, got, tc.want)
		}
	}
	if got := pollEvery(30*time.Second, DefaultMaxPollInterval, 0); got != 30*time.Second {
		t.Errorf("a base period above the maximum: %s, want it kept", got)
	}
}

func TestDumpsAskOnlyForConnectionStates(t *testing.T) {
	for state, want := range map[int]bool{
		StateEstablished: true, StateClose: true, 4 /* FIN_WAIT1 */ : true, 8 /* CLOSE_WAIT */ : true,
		StateSynSent: false, StateSynRecv: false, StateTimeWait: false, StateListen: false, StateNewSynRecv: false,
	} {
		if got := connStates&(1<<state) != 0; got != want {
			t.Errorf("state %d asked for: %v, want %v", state, got, want)
		}
	}
}

func TestParseSockstat(t *testing.T) {
	cases := []struct {
		in        string
		inuse, tw int
		wantErr   bool
	}{
		{"sockets: used 87\nTCP: inuse 69 orphan 0 tw 13599 alloc 69 mem 0\nUDP: inuse 0 mem 0\n", 69, 13599, false},
		{"TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 0", 1, 0, false},
		{"sockets: used 87\nUDP: inuse 0 mem 0\n", 0, 0, true},
		{"TCP: inuse x orphan 0 tw 1", 0, 0, true},
		{"TCP: inuse 1 orphan 0", 0, 0, true},
		{"TCP: inuse -1 tw 2", 0, 0, true},
		{"", 0, 0, true},
	}
	for _, tc := range cases {
		inuse, tw, err := parseSockstat([]byte(tc.in))
		if (err != nil) != tc.wantErr || inuse != tc.inuse || tw != tc.tw {
			t.Errorf("parseSockstat(%q) = %d, %d, %v; want %d, %d, error %v", tc.in, inuse, tw, err, tc.inuse, tc.tw, tc.wantErr)
		}
	}
}

func FuzzParseSockstat(f *testing.F) {
	f.Add([]byte("TCP: inuse 69 orphan 0 tw 13599 alloc 69 mem 0\n"))
	f.Add([]byte("TCP: inuse 1 tw"))
	f.Fuzz(func(t *testing.T, b []byte) {
		inuse, tw, err := parseSockstat(b)
		if err == nil && (inuse < 0 || tw < 0) {
			t.Errorf("negative counts %d %d without an error", inuse, tw)
		}
	})
}

// TestSockstatOfTheNamespace checks that the collector reads the socket
// counts of the namespace it watches.
func TestSockstatOfTheNamespace(t *testing.T) {
	ns := testNetns(t)
	ln := listen(t, ns)
	c, err := New(Config{Netns: ns}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.sockstat == nil {
		t.Fatal("no sockstat")
	}
	n, err := c.sockstat.sockets()
	if err != nil || n != 1 {
		t.Errorf("sockets in %s: %d, %v; want 1 (its listener %s)", ns, n, err, ln.Addr())
	}
}

func TestRecvQueuedRawDatagrams(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Skipf("socketpair: %v", err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	buf := make([]byte, 16)
	if _, err := recvQueuedRaw(fds[0], buf); err != unix.EAGAIN {
		t.Errorf("nothing queued: %v, want EAGAIN", err)
	}
	unix.Write(fds[1], []byte("hello"))
	unix.Write(fds[1], make([]byte, 100))
	if n, err := recvQueuedRaw(fds[0], buf); n != 5 || err != nil {
		t.Errorf("5-byte datagram: %d, %v", n, err)
	}
	if _, err := recvQueuedRaw(fds[0], buf); err != errTruncated {
		t.Errorf("100-byte datagram into 16 bytes: %v, want errTruncated", err)
	}
}
