package logquery

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// slowPlanSQL is a statement DuckDB takes seconds to plan and cannot be
// interrupted while planning: nested SELECTs under a filter, which
// DuckDB's filter pushdown copies into every level below, doubling it at
// each (14 levels: ~4 s here). The compiler never writes such SQL (its
// size limits refuse the queries that would); the tests hand it to the
// engine directly, to stand for any statement that is slow to plan.
func slowPlanSQL(levels int) string {
	inner := `SELECT ("bytes" + "bytes") AS c1 FROM flowlog_records`
	for i := 2; i <= levels; i++ {
		inner = fmt.Sprintf(`SELECT (c%d + c%d) AS c%d FROM (%s) AS t%d`, i-1, i-1, i, inner, i)
	}
	return fmt.Sprintf(`SELECT c%d FROM (%s) AS t WHERE c%d > 0 AND (? IS NULL)`, levels, inner, levels)
}

// slowPlan is engine work that runs slowPlanSQL; started is closed when
// it is about to hand the statement to DuckDB. With deaf, DuckDB gets a
// context that is never canceled, so that it surely plans whatever the
// moment the test cancels the work's context. The work then waits for
// hold to close, so that the test's checks while it "still plans" do not
// depend on how long DuckDB takes to plan (seconds here, but a test must
// not rest on that).
func slowPlan(db *sql.DB, started chan struct{}, deaf bool, hold <-chan struct{}) func(context.Context) (*Result, error) {
	return func(ctx context.Context) (*Result, error) {
		close(started)
		defer func() { <-hold }()
		if deaf {
			ctx = context.WithoutCancel(ctx)
		}
		rows, err := db.QueryContext(ctx, slowPlanSQL(14), nil)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
		}
		return &Result{}, rows.Err()
	}
}

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 5 minutes", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestQueryTimeoutCoversPlanning: a statement that DuckDB is still
// planning when the timeout passes is answered with ErrTimeout at once
// (go-duckdb interrupts only execution), and keeps its slot until DuckDB
// has stopped, so other queries cannot pile more planning on the machine.
func TestQueryTimeoutCoversPlanning(t *testing.T) {
	st := examplesStore(t)
	e := NewEngineWith(st.DB(), testSources(), EngineConfig{Timeout: 100 * time.Millisecond, MaxConcurrent: 1})
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the store closes, should a check fail
	_, err := e.do(context.Background(), slowPlan(st.DB(), make(chan struct{}), false, hold))
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v: want ErrTimeout", err)
	}
	if e.Running() != 1 || e.Abandoned() != 1 {
		t.Fatalf("running %d, abandoned %d: the timeout must answer while DuckDB still plans, and keep the slot", e.Running(), e.Abandoned())
	}
	_, err = e.Run(context.Background(), Request{Query: "stats count(*)", Groups: []string{"vpc"}, Start: allTime.start, End: allTime.end})
	if !errors.Is(err, ErrBusy) || e.Busy() != 1 {
		t.Fatalf("a query while the slot is held: %v (busy %d), want ErrBusy", err, e.Busy())
	}
	release()
	waitFor(t, "DuckDB to finish planning and give the slot back", func() bool { return e.Running() == 0 })
	if _, err := e.do(context.Background(), func(context.Context) (*Result, error) { return &Result{}, nil }); err != nil {
		t.Fatalf("after the slot came back: %v", err)
	}
}

// TestClientGoneCancelsQuery: when the caller's context ends (the HTTP
// client went away), the engine answers context.Canceled at once even
// while DuckDB plans, without any timeout; the API handler counts it as
// canceled and frees the request.
func TestClientGoneCancelsQuery(t *testing.T) {
	st := examplesStore(t)
	e := NewEngineWith(st.DB(), testSources(), EngineConfig{MaxConcurrent: 1}) // no timeout: only the client can stop it
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	go func() { <-started; cancel() }()
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the store closes, should a check fail
	_, err := e.do(ctx, slowPlan(st.DB(), started, true, hold))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v: want context.Canceled", err)
	}
	if e.Running() != 1 {
		t.Fatal("answered only after DuckDB finished planning")
	}
	release()
	waitFor(t, "DuckDB to stop and give the slot back", func() bool { return e.Running() == 0 })

	// Through the API: a client that leaves while its query waits for the
	// only slot is answered and counted as canceled, not as a timeout.
	reg := prometheus.NewRegistry()
	m, err := New(Config{MaxConcurrent: 1, Timeout: time.Hour}, testSources(), Dependencies{DB: st, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Stop(context.Background())
	free, held := make(chan struct{}), make(chan struct{})
	go m.engine.do(context.Background(), func(context.Context) (*Result, error) { //nolint:errcheck
		close(held)
		<-free
		return &Result{}, nil
	})
	<-held
	defer close(free)
	mux := http.NewServeMux()
	m.Routes(mux, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cctx, ccancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(cctx, "POST", srv.URL+"/api/v1/query",
		bytes.NewBufferString(`{"query": "stats count(*)", "log_groups": ["vpc"], "start": 1400000000, "end": 1500000000}`))
	go func() {
		waitFor(t, "the request to wait for a slot", func() bool { return m.engine.Waiting() == 1 })
		ccancel()
	}()
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the client was answered %s while the only slot was held", resp.Status)
	}
	waitFor(t, "the handler to count the canceled query", func() bool {
		return counterValue(m.queries.WithLabelValues("canceled")) == 1
	})
	if n := counterValue(m.queries.WithLabelValues("timeout")); n != 0 {
		t.Errorf("%v timeouts counted", n)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
