package ingest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/flowlens/flowlens/wire"
	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

// A report whose interval ends in the year 292,278,994 used to be stored,
// never to expire, pre-filling future monitor windows.
func TestFutureIntervalEndRefused(t *testing.T) {
	st := &recordingStore{seen: map[string]bool{}}
	in := newTestIngester(t, Config{}, st)
	r := report(1, "10.1.1.10", "10.1.11.10")
	r.IntervalStartUnixMs, r.IntervalEndUnixMs = math.MaxInt64-5000, math.MaxInt64
	w, resp := post(t, in, mustEncode(r), "")
	if w.Code != http.StatusBadRequest || !strings.Contains(resp.Error, "interval_end_unix_ms") {
		t.Fatalf("got %d %q, want 400 naming interval_end_unix_ms", w.Code, resp.Error)
	}
	if len(st.batches) != 0 || in.agents.Len() != 0 {
		t.Errorf("refused report left %d batches and %d agents", len(st.batches), in.agents.Len())
	}
}

// An 8 MB hostname used to be kept in the agent registry and served back
// by GET /api/v1/agents and the web UI.
func TestHugeHostnameNotKept(t *testing.T) {
	st := &recordingStore{seen: map[string]bool{}}
	in := newTestIngester(t, Config{}, st)

	huge := report(1, "10.1.1.10", "10.1.11.10")
	huge.Host.Hostname = strings.Repeat("h", 8<<20)
	w, resp := post(t, in, mustEncode(huge), "")
	if w.Code != http.StatusBadRequest || !strings.Contains(resp.Error, "field 3") || in.agents.Len() != 0 {
		t.Fatalf("8 MB hostname: %d %q, %d agents; want 400 naming field 3 (host) and none listed", w.Code, resp.Error, in.agents.Len())
	}

	long := report(2, "10.1.1.10", "10.1.11.10")
	long.Host.Hostname = strings.Repeat("h", 512<<10)
	long.Host.AgentVersion = strings.Repeat("v", 10_000)
	for i := range 100 {
		long.Host.Addresses = append(long.Host.Addresses, []byte{10, 9, 0, byte(i)})
	}
	if w, resp := post(t, in, mustEncode(long), ""); w.Code != 200 {
		t.Fatalf("512 KiB hostname: %d %q, want the flows stored", w.Code, resp.Error)
	}
	a := in.agents.List()[0]
	if len(a.Hostname) != MaxAgentHostnameLen || len(a.AgentVersion) != MaxAgentVersionLen ||
		len(a.Addresses) != MaxAgentAddresses || a.AddressesOmitted != 100-MaxAgentAddresses {
		t.Errorf("registry kept hostname %d bytes, version %d, %d addresses (+%d omitted)",
			len(a.Hostname), len(a.AgentVersion), len(a.Addresses), a.AddressesOmitted)
	}
}

// A client inventing agent ids must not grow the registry without bound.
func TestInventedAgentIDsDoNotGrowRegistry(t *testing.T) {
	agents := NewAgentsWith(AgentsConfig{MaxAgents: 3})
	now := time.Now()
	for i := range 10 {
		listed := agents.Seen(&pb.Report{AgentId: fmt.Sprint("a", i)}, now)
		if listed != (i < 3) {
			t.Errorf("agent %d listed=%v", i, listed)
		}
	}
	if agents.Len() != 3 {
		t.Fatalf("%d agents held, limit 3", agents.Len())
	}
	// Known agents keep reporting while the registry is full.
	if !agents.Seen(&pb.Report{AgentId: "a0", Sequence: 7}, now) || agents.List()[0].LastSequence != 7 {
		t.Error("a known agent was not updated while the registry was full")
	}
}

// Agents that stopped reporting are forgotten, which frees their places.
func TestIdleAgentsExpire(t *testing.T) {
	agents := NewAgentsWith(AgentsConfig{MaxAgents: 2, IdleExpiry: 24 * time.Hour})
	now := time.Now()
	agents.Seen(&pb.Report{AgentId: "old"}, now.Add(-48*time.Hour))
	agents.Seen(&pb.Report{AgentId: "recent"}, now.Add(-time.Hour))
	if list := agents.List(); len(list) != 1 || list[0].AgentID != "recent" {
		t.Errorf("List shows %+v, want only the recent agent", list)
	}
	if !agents.Seen(&pb.Report{AgentId: "new"}, now) || agents.Len() != 2 {
		t.Errorf("new agent not listed after the idle one expired (%d held)", agents.Len())
	}
}

// Bombs sent at once must not all be decoding together: a report that
// finds every decode slot taken waits, then gets 503 with Retry-After.
func TestConcurrentBombsWaitForDecodeSlot(t *testing.T) {
	st := &recordingStore{seen: map[string]bool{}}
	in := newTestIngester(t, Config{MaxConcurrentDecodes: 1, DecodeWait: time.Millisecond}, st)
	in.decodeSlots <- struct{}{} // a decode in progress
	body := mustEncode(report(1, "10.1.1.10", "10.1.11.10"))
	w, _ := post(t, in, body, "")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("busy decoders: %d Retry-After=%q, want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}

	// A client that gives up stops waiting at once.
	in.cfg.DecodeWait = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/ingest", bytes.NewReader(body)).WithContext(ctx)
	rec := httptest.NewRecorder()
	in.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("cancelled request: %d, want 503", rec.Code)
	}

	<-in.decodeSlots
	if w, _ := post(t, in, body, ""); w.Code != 200 {
		t.Errorf("free decoder: %d, want 200", w.Code)
	}
}

// Decoding bombs reach the client as 400 or 413 naming the limit.
func TestBombsRefusedWithStatus(t *testing.T) {
	st := &recordingStore{seen: map[string]bool{}}
	in := newTestIngester(t, Config{}, st)
	head, _ := wire.Encode(&pb.Report{AgentId: "a1"}, "")
	flow := mustEncode(&pb.Report{Flows: []*pb.Flow{{LocalIp: []byte{10, 0, 0, 1}, RemoteIp: []byte{10, 0, 0, 2}}}})
	cases := []struct {
		name string
		raw  []byte
		code int
		want string
	}{
		{"empty flows", append(append([]byte(nil), head...), bytes.Repeat([]byte{6<<3 | 2, 0}, 1<<20)...), 400, "flows[0]"},
		{"too many flows", append(append([]byte(nil), head...), bytes.Repeat(flow, wire.MaxFlowsPerReport+1)...), 413, "50000 flows"},
		{"zeros", make([]byte, 4<<20), 400, "field number 0"},
	}
	for _, c := range cases {
		w, resp := post(t, in, zstdEncoder.EncodeAll(c.raw, nil), wire.EncodingZstd)
		if w.Code != c.code || !strings.Contains(resp.Error, c.want) {
			t.Errorf("%s: %d %q, want %d naming %q", c.name, w.Code, resp.Error, c.code, c.want)
		}
	}
}

var zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
