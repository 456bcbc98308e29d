package aggregate

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	goldenfile "github.com/flowlens/flowlens/internal/golden"

	"github.com/flowlens/flowlens/agent/collect"
	"github.com/flowlens/flowlens/flow"
)

func golden(t *testing.T, name string, got string) {
	t.Helper()
	goldenfile.Check(t, name, got)
}

// Endpoints used by the cases.
var (
	cli     = netip.MustParseAddrPort("10.0.0.1:40001")
	cli2    = netip.MustParseAddrPort("10.0.0.1:40002")
	srv     = netip.MustParseAddrPort("10.0.1.9:443")
	mapped  = netip.MustParseAddrPort("[::ffff:10.0.0.1]:8080")
	mapped2 = netip.MustParseAddrPort("[::ffff:192.0.2.7]:51000")
)

// flushMark in a step list means "call Flush and print the records".
var flushMark = collect.Event{}

func cnt(acked, rcvd, out, in, retr, rto uint64) collect.Counters {
	return collect.Counters{BytesAcked: acked, BytesReceived: rcvd, SegsOut: out, SegsIn: in, TotalRetrans: retr, TotalRTO: rto}
}

func snap(cookie uint64, c collect.Counters) collect.Event {
	return collect.Event{Kind: collect.Snapshot, Cookie: cookie, Local: cli, Remote: srv, Counters: c}
}

func TestAggregateGolden(t *testing.T) {
	base := snap(1, cnt(1000, 2000, 10, 20, 1, 0))
	base.Baseline = true
	cases := []struct {
		name  string
		steps []collect.Event
	}{
		{"baseline_then_growth", []collect.Event{
			base,
			flushMark, // baseline only: nothing to report
			snap(1, cnt(1500, 2600, 14, 25, 3, 1)),
			flushMark,
			snap(1, cnt(1500, 2600, 14, 25, 3, 1)), // idle: not reported
			flushMark,
		}},
		{"opened_with_final_event", []collect.Event{
			// A short connection: its opening, handshake and RTT samples
			// ride on its final event; a duplicate final counts nothing.
			{Kind: collect.Closed, Cookie: 20, Local: cli, Remote: srv, Opened: true, HandshakeUS: 120,
				RTT: [collect.MaxRTT]uint32{300, 500}, NumRTT: 2, Counters: cnt(100, 2, 4, 4, 0, 0)},
			{Kind: collect.Closed, Cookie: 20, Local: cli, Remote: srv, Opened: true, HandshakeUS: 120,
				RTT: [collect.MaxRTT]uint32{300, 500}, NumRTT: 2, Counters: cnt(100, 2, 4, 4, 0, 0)},
			// Opened by a snapshot, closed later without the flag.
			{Kind: collect.Opened, Cookie: 21, Local: cli2, Remote: srv, HandshakeUS: 90, Counters: cnt(10, 0, 2, 1, 0, 0)},
			flushMark,
			{Kind: collect.RTTSample, Cookie: 21, Local: cli2, Remote: srv, RTT: [collect.MaxRTT]uint32{700, 900, 800}, NumRTT: 3},
			{Kind: collect.Failed, Reason: collect.FailReset, Cookie: 21, Local: cli2, Remote: srv, Counters: cnt(50, 0, 5, 2, 1, 0)},
			flushMark,
		}},
		{"new_socket_counts_from_zero", []collect.Event{
			{Kind: collect.Opened, Cookie: 2, Local: cli, Remote: srv, HandshakeUS: 250, Counters: cnt(0, 0, 2, 1, 0, 0)},
			snap(2, cnt(100, 50, 5, 4, 0, 0)),
			flushMark,
			{Kind: collect.Closed, Cookie: 2, Local: cli, Remote: srv, Counters: cnt(300, 80, 9, 7, 0, 0)},
			flushMark,
		}},
		{"close_races_with_snapshot", []collect.Event{
			snap(3, cnt(100, 0, 1, 1, 0, 0)),
			{Kind: collect.Closed, Cookie: 3, Local: cli, Remote: srv, Counters: cnt(150, 0, 2, 2, 0, 0)},
			snap(3, cnt(120, 0, 2, 1, 0, 0)), // dump read before the close, delivered after
			{Kind: collect.Closed, Cookie: 3, Local: cli, Remote: srv, Counters: cnt(150, 0, 2, 2, 0, 0)}, // duplicate close
			flushMark,
			snap(3, cnt(150, 0, 2, 2, 0, 0)), // still late in the next interval
			flushMark,
		}},
		{"reordered_snapshots", []collect.Event{
			snap(4, cnt(200, 0, 0, 0, 0, 0)),
			snap(4, cnt(150, 0, 0, 0, 0, 0)),
			{Kind: collect.Closed, Cookie: 4, Local: cli, Remote: srv, Counters: cnt(250, 0, 0, 0, 0, 0)},
			flushMark,
		}},
		{"failures", []collect.Event{
			{Kind: collect.Failed, Cookie: 5, Local: cli, Remote: srv, Reason: collect.FailRefused, Counters: cnt(0, 0, 1, 1, 0, 0)},
			{Kind: collect.Failed, Cookie: 6, Local: cli2, Remote: srv, Reason: collect.FailTimeout, Counters: cnt(0, 0, 2, 0, 1, 1)},
			{Kind: collect.Failed, Cookie: 7, Local: cli2, Remote: srv, Reason: collect.FailReset, Counters: cnt(10, 0, 3, 2, 0, 0)},
			flushMark,
		}},
		{"passive_and_mapped", []collect.Event{
			{Kind: collect.Opened, Cookie: 8, Local: mapped, Remote: mapped2, Passive: true},
			{Kind: collect.RTTSample, Cookie: 8, Local: mapped, Remote: mapped2, Passive: true, RTT: [8]uint32{90}, NumRTT: 1},
			{Kind: collect.RTTSample, Cookie: 8, Local: mapped, Remote: mapped2, Passive: true, RTT: [8]uint32{110}, NumRTT: 1},
			{Kind: collect.Closed, Cookie: 8, Local: mapped, Remote: mapped2, Passive: true, Counters: cnt(10, 20, 3, 4, 0, 0)},
			{Kind: collect.RTTSample, Cookie: 8, Local: mapped, Remote: mapped2, Passive: true, RTT: [8]uint32{130}, NumRTT: 1}, // after close
			flushMark,
		}},
		{"two_sockets_one_flow", []collect.Event{
			{Kind: collect.Opened, Cookie: 9, Local: cli, Remote: srv},
			{Kind: collect.Opened, Cookie: 10, Local: cli2, Remote: srv},
			snap(9, cnt(1, 1, 1, 1, 0, 0)),
			{Kind: collect.Closed, Cookie: 10, Local: cli2, Remote: srv, Counters: cnt(2, 2, 2, 2, 0, 0)},
			flushMark,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := New(Config{})
			var b strings.Builder
			n := 0
			for _, ev := range tc.steps {
				if ev == flushMark {
					n++
					fmt.Fprintf(&b, "flush %d\n", n)
					for _, r := range a.Flush() {
						fmt.Fprintf(&b, "  %s\n", formatRecord(&r))
					}
					continue
				}
				a.Add(ev)
			}
			golden(t, tc.name+".txt", b.String())
		})
	}
}

// formatRecord prints every field a golden file checks.
func formatRecord(r *flow.Record) string {
	c := &r.Counters
	s := fmt.Sprintf("%s sent=%d rcvd=%d segout=%d segin=%d retr=%d rto=%d opened=%d closed=%d refused=%d timeout=%d reset=%d",
		r.Key, c.BytesSent, c.BytesReceived, c.SegmentsSent, c.SegmentsReceived, c.Retransmissions, c.Timeouts,
		c.ConnectionsOpened, c.ConnectionsClosed, c.FailedRefused, c.FailedTimeout, c.FailedReset)
	if c.RTT.Count > 0 {
		s += fmt.Sprintf(" rtt=%d/%d/%.0f/%d", c.RTT.Count, c.RTT.MinUS, c.RTT.AvgUS(), c.RTT.MaxUS)
	}
	if c.HandshakeLatency.Count > 0 {
		s += fmt.Sprintf(" hs=%d/%d", c.HandshakeLatency.Count, c.HandshakeLatency.MaxUS)
	}
	if r.Merged {
		s += fmt.Sprintf(" merged/%d", r.RemoteBits)
	}
	return s
}

// manyFlows returns n closed sockets to distinct remotes spread over a few
// /24s (IPv4) and /48s (IPv6), with varied sizes and a few retransmitting.
func manyFlows(n int) []collect.Event {
	evs := make([]collect.Event, 0, n)
	for i := range n {
		var remote netip.Addr
		if i%4 == 3 {
			remote = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(i % 3), 0, 0, 0, 0, 0, 0, 0, 0, byte(i >> 8), byte(i)})
		} else {
			remote = netip.AddrFrom4([4]byte{198, 51, byte(i % 5), byte(i)})
		}
		local := netip.MustParseAddr("10.0.0.1")
		if remote.Is6() {
			local = netip.MustParseAddr("2001:db8:ffff::1")
		}
		retr := uint64(0)
		if i%17 == 0 {
			retr = uint64(i)
		}
		evs = append(evs, collect.Event{Kind: collect.Closed, Cookie: uint64(i + 1),
			Local: netip.AddrPortFrom(local, 40000), Remote: netip.AddrPortFrom(remote, uint16(443+i%2)),
			Counters: cnt(uint64(1000+i*37), uint64(i*11), 3, 3, retr, 0)})
	}
	return evs
}

// total sums every counter of recs.
func total(recs []flow.Record) flow.Counters {
	var t flow.Counters
	for i := range recs {
		t.Add(&recs[i].Counters)
	}
	return t
}

func TestReportCapKeepsTotalsExact(t *testing.T) {
	for _, tc := range []struct{ flows, limit int }{{200, 50}, {200, 10}, {200, 3}, {200, 2}, {50, 50}, {1000, 999}} {
		t.Run(fmt.Sprintf("%d_flows_cap_%d", tc.flows, tc.limit), func(t *testing.T) {
			uncapped, capped := New(Config{ReportCap: 1 << 30}), New(Config{ReportCap: tc.limit})
			for _, ev := range manyFlows(tc.flows) {
				uncapped.Add(ev)
				capped.Add(ev)
			}
			all, got := uncapped.Flush(), capped.Flush()
			if len(got) > tc.limit {
				t.Errorf("%d rows, cap %d", len(got), tc.limit)
			}
			want, have := total(all), total(got)
			if fmt.Sprint(want) != fmt.Sprint(have) {
				t.Errorf("totals changed by the cap:\n got %+v\nwant %+v", have, want)
			}
			merged := 0
			for _, r := range got {
				if r.Merged {
					merged++
					if p := prefixOf(r.Key.RemoteIP, int(r.RemoteBits)); p.Addr() != r.Key.RemoteIP {
						t.Errorf("merged row %s is not a prefix address", r.Key)
					}
				}
			}
			if (merged > 0) != (tc.flows > tc.limit) {
				t.Errorf("%d merged rows for %d flows under cap %d", merged, tc.flows, tc.limit)
			}
			if wantMerged := uint64(len(all) - (len(got) - merged)); capped.Stats().MergedFlows != wantMerged {
				t.Errorf("MergedFlows = %d, want %d", capped.Stats().MergedFlows, wantMerged)
			}
		})
	}
}

func TestReportCapGolden(t *testing.T) {
	a := New(Config{ReportCap: 12})
	for _, ev := range manyFlows(40) {
		a.Add(ev)
	}
	var b strings.Builder
	for _, r := range a.Flush() {
		fmt.Fprintf(&b, "%s\n", formatRecord(&r))
	}
	golden(t, "report_cap.txt", b.String())
}

// TestRandomEventsCountOnce replays random interleavings of snapshots and
// closes (with stale, reordered and duplicated events, as racing dumps and
// destroy messages produce) and checks that every socket's final counters
// are counted exactly once over all intervals.
func TestRandomEventsCountOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := New(Config{})
	var want, got flow.Counters
	for cookie := uint64(1); cookie <= 300; cookie++ {
		final := cnt(rng.Uint64N(1e6), rng.Uint64N(1e6), rng.Uint64N(1e3), rng.Uint64N(1e3), rng.Uint64N(10), rng.Uint64N(3))
		want.BytesSent += final.BytesAcked
		want.BytesReceived += final.BytesReceived
		want.Retransmissions += final.TotalRetrans
		want.ConnectionsClosed++
		var evs []collect.Event
		for range rng.IntN(5) {
			f := rng.Float64()
			evs = append(evs, snap(cookie, cnt(uint64(f*float64(final.BytesAcked)), uint64(f*float64(final.BytesReceived)),
				0, 0, uint64(f*float64(final.TotalRetrans)), 0)))
		}
		closed := collect.Event{Kind: collect.Closed, Cookie: cookie, Local: cli, Remote: srv, Counters: final}
		evs = append(evs, closed, closed)
		rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
		flushed := false // a late event arrives within one interval boundary
		for _, ev := range evs {
			a.Add(ev)
			if !flushed && rng.IntN(4) == 0 {
				flushed = true
				for _, r := range a.Flush() {
					got.Add(&r.Counters)
				}
			}
		}
	}
	for _, r := range a.Flush() {
		got.Add(&r.Counters)
	}
	// A snapshot shuffled after the close is ignored; one before it is
	// counted and the close adds the rest: either way, exactly the final.
	if got.BytesSent != want.BytesSent || got.BytesReceived != want.BytesReceived ||
		got.Retransmissions != want.Retransmissions || got.ConnectionsClosed != want.ConnectionsClosed {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// TestAggregatedEventsAddToTheirFlow checks that sums a collector made per
// flow (Aggregated) land on the flow their endpoints and direction key,
// next to the same flow's per-socket events, and count once.
func TestAggregatedEventsAddToTheirFlow(t *testing.T) {
	sums := func(opened, closed, refused uint64, rtt ...uint64) *flow.Counters {
		c := &flow.Counters{BytesSent: 100 * opened, ConnectionsOpened: opened, ConnectionsClosed: closed, FailedRefused: refused}
		for _, us := range rtt {
			c.RTT.Observe(us)
		}
		return c
	}
	cases := []struct {
		name   string
		events []collect.Event
		want   map[flow.Key]flow.Counters
	}{
		{
			name: "client flow: the service port is the remote one",
			events: []collect.Event{
				{Kind: collect.Aggregated, Local: netip.AddrPortFrom(cli.Addr(), 0), Remote: srv, Flow: sums(3, 3, 1, 40, 50)},
				{Kind: collect.Closed, Cookie: 7, Local: cli, Remote: srv, Counters: cnt(100, 0, 0, 0, 0, 0), Opened: true},
			},
			want: map[flow.Key]flow.Counters{
				{LocalIP: cli.Addr(), RemoteIP: srv.Addr(), Port: 443, Direction: flow.DirectionClient, Protocol: flow.ProtocolTCP}: *sums(4, 4, 1, 40, 50),
			},
		},
		{
			name: "server flow, IPv4-mapped addresses unmapped",
			events: []collect.Event{
				{Kind: collect.Aggregated, Local: mapped, Remote: netip.AddrPortFrom(mapped2.Addr(), 0), Passive: true, Flow: sums(2, 2, 0)},
				{Kind: collect.Aggregated, Local: netip.MustParseAddrPort("10.0.0.1:8080"), Remote: netip.MustParseAddrPort("192.0.2.7:0"), Passive: true, Flow: sums(1, 1, 0, 7)},
			},
			want: map[flow.Key]flow.Counters{
				{LocalIP: netip.MustParseAddr("10.0.0.1"), RemoteIP: netip.MustParseAddr("192.0.2.7"), Port: 8080, Direction: flow.DirectionServer, Protocol: flow.ProtocolTCP}: *sums(3, 3, 0, 7),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := New(Config{})
			for _, ev := range tc.events {
				a.Add(ev)
			}
			got := map[flow.Key]flow.Counters{}
			for _, r := range a.Flush() {
				got[r.Key] = r.Counters
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
