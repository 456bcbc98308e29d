package sockdiag

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

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
		{4999, time.Second},
		{5000, 2 * time.Second},
		{20_000, 5 * time.Second},
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
