package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/agent/collect"
	"github.com/flowlens/flowlens/wire/flowlensv1"
	"github.com/flowlens/flowlens/wire/wiretest"
)

// fakeCollector replays scripted events, then waits for the end.
type fakeCollector struct {
	events []collect.Event
	sent   chan struct{}
}

func (f *fakeCollector) Mode() string { return "fake" }
func (f *fakeCollector) Stats() collect.Stats {
	return collect.Stats{SocketsTracked: 1, SampledSockets: 2, MapFullEvents: 3}
}
func (f *fakeCollector) Run(ctx context.Context, out chan<- collect.Event) error {
	for _, ev := range f.events {
		out <- ev
	}
	close(f.sent)
	<-ctx.Done()
	return nil
}

func TestAgentPublishesIntervals(t *testing.T) {
	in := &wiretest.Recorder{}
	srv := httptest.NewServer(in)
	defer srv.Close()
	local, remote := netip.MustParseAddrPort("10.1.0.5:41000"), netip.MustParseAddrPort("10.2.0.9:443")
	fc := &fakeCollector{sent: make(chan struct{}), events: []collect.Event{
		{Kind: collect.Opened, Cookie: 1, Local: local, Remote: remote, HandshakeUS: 300},
		{Kind: collect.Snapshot, Cookie: 1, Local: local, Remote: remote, Counters: collect.Counters{BytesAcked: 1000, BytesReceived: 50, SegsOut: 3, SegsIn: 2}},
		{Kind: collect.RTTSample, Cookie: 1, Local: local, Remote: remote, RTT: [8]uint32{800}, NumRTT: 1},
		{Kind: collect.Closed, Cookie: 1, Local: local, Remote: remote, Counters: collect.Counters{BytesAcked: 5000, BytesReceived: 60, SegsOut: 9, SegsIn: 5, TotalRetrans: 2}},
	}}
	reg := prometheus.NewRegistry()
	a, err := NewWithCollector(Config{Server: srv.URL, HostID: "host-a", SpoolDir: t.TempDir(), Interval: time.Second,
		MetricsListen: "127.0.0.1:0", Version: "test"}, fc, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	<-fc.sent
	metrics := scrape(t, "http://"+a.MetricsAddr()+"/metrics")
	if err := a.Stop(); err != nil { // publishes the partial interval
		t.Fatal(err)
	}
	reps := in.Reports()
	if len(reps) == 0 {
		t.Fatal("no report arrived")
	}
	var flows []*flowlensv1.Flow
	for i, r := range reps {
		if r.AgentId != "host-a" || r.Host.GetCollectorMode() != "fake" || r.Host.GetAgentVersion() != "test" {
			t.Errorf("report %d: agent %q host %+v", i, r.AgentId, r.Host)
		}
		if i > 0 && r.IntervalStartUnixMs != reps[i-1].IntervalEndUnixMs {
			t.Errorf("report %d starts at %d, the previous ended at %d", i, r.IntervalStartUnixMs, reps[i-1].IntervalEndUnixMs)
		}
		flows = append(flows, r.Flows...)
	}
	if len(flows) != 1 {
		t.Fatalf("%d flows, want 1: %v", len(flows), flows)
	}
	f := flows[0]
	if f.Port != 443 || f.Direction != flowlensv1.Direction(1) || f.BytesSent != 5000 || f.BytesReceived != 60 ||
		f.Retransmissions != 2 || f.ConnectionsOpened != 1 || f.ConnectionsClosed != 1 || f.Rtt.GetCount() != 1 || f.Handshake.GetMaxUs() != 300 {
		t.Errorf("flow %v", f)
	}
	for _, want := range []string{"flowlens_agent_collector_info{mode=\"fake\"} 1", "flowlens_agent_sampled_sockets_total 2",
		"flowlens_agent_map_full_events_total 3", "flowlens_publisher_reports_acked_total", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestModeSelection(t *testing.T) {
	defer func(f func(string, int, int, *slog.Logger) (collect.Collector, error)) { NewEBPF = f }(NewEBPF)
	base := Config{Server: "http://127.0.0.1:1", HostID: "h", SpoolDir: t.TempDir()}

	NewEBPF = func(string, int, int, *slog.Logger) (collect.Collector, error) { return &fakeCollector{}, nil }
	cfg := base
	cfg.Mode = ModeEBPF
	cfg.Netns = "x"
	if _, err := chooseCollector(&cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("--mode ebpf with --netns accepted")
	}
	cfg = base
	cfg.Mode = ModeAuto
	c, err := chooseCollector(&cfg, slog.New(slog.DiscardHandler))
	if err != nil || c.Mode() != "fake" {
		t.Errorf("auto with a working eBPF: %v %v", c, err)
	}

	NewEBPF = nil
	cfg.Mode = ModeEBPF
	if _, err := chooseCollector(&cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("--mode ebpf without an eBPF collector accepted")
	}

	if os.Geteuid() != 0 {
		t.Skip("the sock_diag fallback needs CAP_NET_ADMIN to join the destroy groups; run as root")
	}
	var logs strings.Builder
	NewEBPF = func(string, int, int, *slog.Logger) (collect.Collector, error) {
		return nil, errors.New("verifier said no")
	}
	cfg.Mode = ModeAuto
	c, err = chooseCollector(&cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer closeCollector(c)
	if c.Mode() != ModeSockdiag || !strings.Contains(logs.String(), "verifier said no") || !strings.Contains(logs.String(), "falling back to sock_diag") {
		t.Errorf("fallback: mode %s, log:\n%s", c.Mode(), logs.String())
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{
		{HostID: "h", Mode: "bpf"},
		{HostID: "h", Interval: time.Millisecond},
		{HostID: "h", Interval: time.Hour},
		{},
		{HostID: "h", ReportCap: -1},
	} {
		if err := c.setDefaults(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// syncCollector answers every Sync with a snapshot of its one socket,
// whose counters grow by 1,000 bytes per sync, then Synced.
type syncCollector struct {
	syncs chan struct{}
}

func (s *syncCollector) Mode() string         { return "sync" }
func (s *syncCollector) Stats() collect.Stats { return collect.Stats{} }
func (s *syncCollector) Sync()                { s.syncs <- struct{}{} }
func (s *syncCollector) Run(ctx context.Context, out chan<- collect.Event) error {
	local, remote := netip.MustParseAddrPort("10.1.0.5:41000"), netip.MustParseAddrPort("10.2.0.9:443")
	out <- collect.Event{Kind: collect.Opened, Cookie: 1, Local: local, Remote: remote}
	for n := uint64(1); ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-s.syncs:
		}
		time.Sleep(50 * time.Millisecond) // a snapshot takes a while
		out <- collect.Event{Kind: collect.Snapshot, Cookie: 1, Local: local, Remote: remote, Counters: collect.Counters{BytesAcked: 1000 * n}}
		out <- collect.Event{Kind: collect.Synced}
	}
}

// TestAgentWaitsForSync checks that with a Syncer collector each report
// carries the counters the collector read when asked at the interval's end.
func TestAgentWaitsForSync(t *testing.T) {
	in := &wiretest.Recorder{}
	srv := httptest.NewServer(in)
	defer srv.Close()
	sc := &syncCollector{syncs: make(chan struct{}, 4)}
	a, err := NewWithCollector(Config{Server: srv.URL, HostID: "host-s", SpoolDir: t.TempDir(), Interval: time.Second},
		sc, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(in.Reports()) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	reps := in.Reports()
	if len(reps) < 2 {
		t.Fatalf("%d reports in 10 s at a 1 s interval", len(reps))
	}
	for i, r := range reps[:2] {
		var sent uint64
		for _, f := range r.Flows {
			sent += f.BytesSent
		}
		if sent != 1000 {
			t.Errorf("report %d: bytes_sent %d, want the 1000 bytes the sync at its end read", i, sent)
		}
		if i > 0 && r.IntervalStartUnixMs != reps[i-1].IntervalEndUnixMs {
			t.Errorf("report %d starts at %d, the previous ended at %d", i, r.IntervalStartUnixMs, reps[i-1].IntervalEndUnixMs)
		}
	}
}
