package server_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/publisher"
	"github.com/flowlens/flowlens/server"
	"github.com/flowlens/flowlens/sim"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/store/duckdb"
	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

// startServer runs a server on a temporary DuckDB file (no modules).
func startServer(t *testing.T, token string) *server.Server {
	t.Helper()
	dir := t.TempDir()
	s, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0", OpenStore: embeddedStoreIn(dir),
		TopologyPath: "../examples/topology.yaml", Tokens: []string{token}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s
}

// embeddedStoreIn opens the DuckDB store in dir, as `flowlens server`
// does by default.
func embeddedStoreIn(dir string) func(*slog.Logger, prometheus.Registerer) (store.Backend, error) {
	return func(log *slog.Logger, reg prometheus.Registerer) (store.Backend, error) {
		return duckdb.OpenBackend(duckdb.Config{Path: filepath.Join(dir, "flowlens.duckdb")}, log, reg)
	}
}

// storedBytes sums data transferred over every stored flow in [from, to).
func storedBytes(t *testing.T, s *server.Server, from, to time.Time) uint64 {
	t.Helper()
	rows, err := s.Store().Top(context.Background(), store.TopQuery{Metric: store.MetricDataTransferred,
		Start: from, End: to, Limit: store.MaxLimit, By: store.ByFlow})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == store.MaxLimit {
		t.Fatalf("%d rows: the limit cut the answer, the sum would not be total", len(rows))
	}
	var sum uint64
	for _, r := range rows {
		sum += r.Totals.BytesSent + r.Totals.BytesReceived
	}
	return sum
}

// TestSecondSimRunNotDroppedAsDuplicate: `flowlens sim --agents 2` run
// twice against one server (here: the same seed, on the same simulated
// minutes, so the reports are identical but for their epoch). Every
// report of both runs is acknowledged, and the server stores exactly the
// sum of both runs' acknowledged bytes: the second run's sequences, which
// restart at 1, are not taken for replays of the first run's.
func TestSecondSimRunNotDroppedAsDuplicate(t *testing.T) {
	const token = "sim-token"
	s := startServer(t, token)
	start := time.Now().Add(-30 * time.Minute).Truncate(time.Minute)
	var acked uint64
	for run := 1; run <= 2; run++ {
		sum, err := sim.Run(t.Context(), sim.Config{Server: s.URL(), Token: token, Topology: s.Topology(),
			Agents: 2, FlowsPerAgent: 10, Interval: 10 * time.Second, Duration: time.Minute, Seed: 1,
			Stepped: sim.NewSteppedClock(start), DrainTimeout: time.Minute}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if sum.Acked != sum.Sent || sum.Acked.Bytes == 0 || sum.UnexpectedDuplicates != 0 {
			t.Fatalf("run %d: sent %+v acked %+v, %d unexpected duplicates", run, sum.Sent, sum.Acked, sum.UnexpectedDuplicates)
		}
		acked += sum.Acked.Bytes
	}
	if got := storedBytes(t, s, start.Add(-time.Hour), time.Now().Add(time.Hour)); got != acked {
		t.Errorf("stored %d bytes, the two runs had %d acknowledged (lost %d)", got, acked, int64(acked)-int64(got))
	}
}

// TestAgentRestartedWithEmptySpoolNotDropped: a host re-imaged (its spool
// directory, with the sequence state, is gone) comes back with the same
// agent id and numbers its reports from 1 again. They are stored, not
// dropped as duplicates of what it sent in its earlier life.
func TestAgentRestartedWithEmptySpoolNotDropped(t *testing.T) {
	const token = "agent-token"
	s := startServer(t, token)
	now := time.Now()
	var sent uint64
	life := func(spool string, bytesPerReport uint64) publisher.Stats {
		p, err := publisher.New(publisher.Config{Server: s.URL(), Token: token, SpoolDir: spool}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.Start()
		for i := range 3 {
			end := now.Add(time.Duration(i-3) * time.Minute)
			r := &pb.Report{AgentId: "web-7", IntervalStartUnixMs: end.Add(-time.Minute).UnixMilli(), IntervalEndUnixMs: end.UnixMilli(),
				Flows: []*pb.Flow{{LocalIp: []byte{10, 1, 10, 10}, RemoteIp: []byte{10, 1, 11, 10}, Port: 443,
					Direction: pb.Direction_DIRECTION_CLIENT, Protocol: 6, BytesSent: bytesPerReport}}}
			if err := p.Publish(r); err != nil {
				t.Fatal(err)
			}
			sent += bytesPerReport
		}
		if err := p.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		return p.Stats()
	}
	if st := life(t.TempDir(), 1000); st.Acked != 3 {
		t.Fatalf("first life: %+v", st)
	}
	if st := life(t.TempDir(), 7); st.Acked != 3 || st.UnexpectedDuplicates != 0 {
		t.Fatalf("after re-imaging: %+v, want 3 acked and no unexpected duplicate", st)
	}
	if got := storedBytes(t, s, now.Add(-time.Hour), now.Add(time.Hour)); got != sent {
		t.Errorf("stored %d bytes, the agent had %d acknowledged", got, sent)
	}
}
