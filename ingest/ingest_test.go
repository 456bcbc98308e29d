package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
	"github.com/flowlens/flowlens/wire"
	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

// recordingStore keeps batches in memory; it stands in for the database so
// these tests exercise only the HTTP and batching logic.
type recordingStore struct {
	mu      sync.Mutex
	seen    map[string]bool
	batches []*store.Batch
	fail    error
	block   chan struct{}
}

func (s *recordingStore) Write(_ context.Context, batches []*store.Batch) ([]bool, error) {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	dup := make([]bool, len(batches))
	for i, b := range batches {
		k := fmt.Sprintf("%s/%d", b.AgentID, b.Sequence)
		dup[i] = s.seen[k]
		if !dup[i] {
			s.seen[k] = true
			s.batches = append(s.batches, b)
		}
	}
	return dup, nil
}
func (s *recordingStore) Top(context.Context, store.TopQuery) ([]store.TopRow, error) {
	return nil, nil
}
func (s *recordingStore) Series(context.Context, store.SeriesQuery) ([]store.Series, error) {
	return nil, nil
}
func (s *recordingStore) Maintain(context.Context, time.Time) error { return nil }
func (s *recordingStore) Close() error                              { return nil }

func newTestIngester(t *testing.T, cfg Config, st store.Store) *Ingester {
	t.Helper()
	topo, err := topology.Parse(examples.Topology, examples.TopologyName)
	if err != nil {
		t.Fatal(err)
	}
	var p atomic.Pointer[topology.Topology]
	p.Store(topo)
	in := New(cfg, st, &p, NewAgents(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	in.Start()
	t.Cleanup(func() { in.Stop(context.Background()) })
	return in
}

func report(seq uint64, local, remote string) *pb.Report {
	rec := flow.Record{Key: flow.Key{LocalIP: netip.MustParseAddr(local), RemoteIP: netip.MustParseAddr(remote),
		Port: 443, Direction: flow.DirectionClient, Protocol: 6}}
	rec.Counters.BytesSent = 100
	end := time.Now().Add(-time.Minute).UnixMilli()
	return &pb.Report{AgentId: "a1", Sequence: seq, IntervalStartUnixMs: end - 5000, IntervalEndUnixMs: end,
		Host: &pb.Host{HostId: "sim-0"}, Flows: []*pb.Flow{wire.FromRecord(&rec)}}
}

func post(t *testing.T, h http.Handler, body []byte, enc string) (*httptest.ResponseRecorder, ingestResponse) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/ingest", bytes.NewReader(body))
	req.Header.Set("Content-Encoding", enc)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var resp ingestResponse
	json.Unmarshal(w.Body.Bytes(), &resp)
	return w, resp
}

func TestIngestAnswers(t *testing.T) {
	st := &recordingStore{seen: map[string]bool{}}
	in := newTestIngester(t, Config{MaxBodyBytes: 4096}, st)
	good, _ := wire.Encode(report(1, "10.1.1.10", "10.1.11.10"), wire.EncodingZstd)

	w, resp := post(t, in, good, wire.EncodingZstd)
	if w.Code != 200 || resp.Duplicate || resp.Flows != 1 {
		t.Fatalf("first post: %d %+v", w.Code, resp)
	}
	w, resp = post(t, in, good, wire.EncodingZstd)
	if w.Code != 200 || !resp.Duplicate {
		t.Fatalf("retry must be acknowledged as a duplicate: %d %+v", w.Code, resp)
	}
	if len(st.batches) != 1 {
		t.Fatalf("%d batches stored, want 1", len(st.batches))
	}
	row := st.batches[0].Rows[0]
	if row.Local.Zone != "zone-a" || row.Remote.Zone != "zone-b" || row.Category != topology.CategoryInterZone || row.HostID != "sim-0" {
		t.Errorf("enrichment wrong: %+v", row)
	}

	cases := []struct {
		name string
		body []byte
		enc  string
		code int
		want string
	}{
		{"garbage", []byte("xxxx"), wire.EncodingZstd, 400, "malformed report"},
		{"bad encoding", good, "br", 400, "Content-Encoding"},
		{"invalid report", mustEncode(&pb.Report{Sequence: 1}), "", 400, "agent_id is empty"},
		{"oversized", bytes.Repeat([]byte{1}, 5000), "", 413, "body over 4096 bytes"},
	}
	for _, c := range cases {
		w, resp := post(t, in, c.body, c.enc)
		if w.Code != c.code || !bytes.Contains([]byte(resp.Error), []byte(c.want)) {
			t.Errorf("%s: %d %q, want %d containing %q", c.name, w.Code, resp.Error, c.code, c.want)
		}
	}
}

func mustEncode(r *pb.Report) []byte {
	b, err := wire.Encode(r, "")
	if err != nil {
		panic(err)
	}
	return b
}

func TestIngestStoreFailureIsRetryable(t *testing.T) {
	st := &recordingStore{seen: map[string]bool{}, fail: errors.New("disk full")}
	in := newTestIngester(t, Config{}, st)
	w, _ := post(t, in, mustEncode(report(1, "10.1.1.10", "8.8.8.8")), "")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("store failure: %d Retry-After=%q, want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
}

func TestIngestOverload(t *testing.T) {
	st := &recordingStore{seen: map[string]bool{}, block: make(chan struct{})}
	in := newTestIngester(t, Config{MaxPendingRows: 1}, st)
	first := make(chan int)
	go func() {
		w, _ := post(t, in, mustEncode(report(1, "10.1.1.10", "8.8.8.8")), "")
		first <- w.Code
	}()
	// Wait until the first report holds the only pending slot.
	for in.pending.Load() == 0 {
		runtime.Gosched()
	}
	w, _ := post(t, in, mustEncode(report(2, "10.1.1.10", "8.8.8.8")), "")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
		t.Errorf("overload: %d Retry-After=%q, want 503 with Retry-After 1", w.Code, w.Header().Get("Retry-After"))
	}
	close(st.block)
	if code := <-first; code != 200 {
		t.Errorf("first report: %d", code)
	}
}

func TestSubscribersSeeStoredBatchesOnce(t *testing.T) {
	st := &recordingStore{seen: map[string]bool{}}
	topo, _ := topology.Parse(examples.Topology, examples.TopologyName)
	var p atomic.Pointer[topology.Topology]
	p.Store(topo)
	in := New(Config{}, st, &p, NewAgents(), slog.New(slog.DiscardHandler), nil)
	var mu sync.Mutex
	var got []uint64
	in.Subscribe("test", func(bs []*store.Batch) {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range bs {
			got = append(got, b.Sequence)
			if b.Rows[0].Local.Zone != "zone-a" {
				t.Errorf("subscriber got an unenriched row: %+v", b.Rows[0])
			}
		}
	})
	in.Start()
	t.Cleanup(func() { in.Stop(context.Background()) })
	for _, seq := range []uint64{1, 1, 2} {
		if w, _ := post(t, in, mustEncode(report(seq, "10.1.1.10", "10.1.11.10")), ""); w.Code != 200 {
			t.Fatalf("post %d: %d", seq, w.Code)
		}
	}
	if err := in.SyncFeed(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("subscriber saw sequences %v, want [1 2] (the duplicate not again)", got)
	}
}
