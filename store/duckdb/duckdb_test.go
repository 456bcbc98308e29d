package duckdb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// genRows makes n rows of nKeys flows spread over resources, ending at
// random times in [from, from+span), with random latency samples.
func genRows(rng *rand.Rand, n, nKeys, nRes int, from time.Time, span time.Duration) []store.FlowRow {
	rows := make([]store.FlowRow, n)
	for i := range rows {
		k := rng.IntN(nKeys)
		res := k % nRes
		end := from.Add(time.Duration(rng.Int64N(int64(span))))
		var c flow.Counters
		c.BytesSent, c.BytesReceived = rng.Uint64N(1<<40), rng.Uint64N(1<<40)
		c.SegmentsSent, c.SegmentsReceived = rng.Uint64N(1e6), rng.Uint64N(1e6)
		c.Retransmissions, c.Timeouts = rng.Uint64N(100), rng.Uint64N(5)
		c.ConnectionsOpened, c.ConnectionsClosed = rng.Uint64N(9), rng.Uint64N(9)
		c.FailedRefused, c.FailedTimeout, c.FailedReset = rng.Uint64N(2), rng.Uint64N(2), rng.Uint64N(2)
		for range rng.IntN(6) {
			c.RTT.Observe(rng.Uint64N(1 << uint(4+rng.IntN(24))))
		}
		for range rng.IntN(2) {
			c.HandshakeLatency.Observe(rng.Uint64N(1 << 18))
		}
		rows[i] = store.FlowRow{
			Start: end.Add(-10 * time.Second), End: end,
			AgentID: fmt.Sprintf("agent-%d", k%7), HostID: fmt.Sprintf("host-%d", k%7),
			Record: flow.Record{Key: flow.Key{
				LocalIP:  netip.AddrFrom4([4]byte{10, 0, byte(k % 7), 1}),
				RemoteIP: netip.AddrFrom4([4]byte{10, 1, byte(k >> 8), byte(k)}),
				Port:     uint16(1000 + k), Direction: flow.DirectionClient, Protocol: flow.ProtocolTCP,
			}, Counters: c},
			Local:    topology.Location{Kind: topology.KindSubnet, Region: "r1", Zone: fmt.Sprintf("z%d", res%3), Subnet: fmt.Sprintf("s%d", res)},
			Remote:   topology.Location{Kind: topology.KindSubnet, Region: "r1", Zone: "z9", Subnet: fmt.Sprintf("peer%d", res%5), City: fmt.Sprintf("c%d", k%4)},
			Category: topology.Category(1 + res%6),
		}
	}
	return rows
}

// batchesOf cuts rows into batches of per rows for one agent id.
func batchesOf(agent string, firstSeq uint64, rows []store.FlowRow, per int) []*store.Batch {
	var out []*store.Batch
	for i := 0; i < len(rows); i += per {
		out = append(out, &store.Batch{AgentID: agent, Sequence: firstSeq + uint64(len(out)), Rows: rows[i:min(i+per, len(rows))]})
	}
	return out
}

func mustWrite(t *testing.T, s *Store, batches []*store.Batch) []bool {
	t.Helper()
	dup, err := s.Write(context.Background(), batches)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return dup
}

func count(t *testing.T, s *Store, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func columnsOf(t *testing.T, s *Store, table string) string {
	t.Helper()
	rows, err := s.db.Query(`SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	return strings.Join(cols, ", ")
}

// TestSchemaMatchesInserts guards the Appender and Arrow inserts, which
// rely on the table column order.
func TestSchemaMatchesInserts(t *testing.T) {
	s := openTemp(t)
	norm := func(cols string) string { return prefixed("", cols) }
	want := map[string]string{
		"flows":         norm(flowsColumnList),
		"resource_keys": norm("id, " + resourceColumns),
		"flow_keys":     norm("id, resource_id, " + flowKeyColumns),
		"batch_seen":    "agent_id, seq_lo, seq_hi, epoch",
	}
	for _, rt := range rollupTables {
		want[rt.name] = norm(rollupColumnList)
	}
	for table, cols := range want {
		if got := columnsOf(t, s, table); got != cols {
			t.Errorf("%s columns\n got %s\nwant %s", table, got, cols)
		}
	}
}

func TestMigrationsAreOrdered(t *testing.T) {
	for i, m := range migrations {
		if m.version != i+1 {
			t.Errorf("migration %d has version %d, want %d", i, m.version, i+1)
		}
		if m.name == "" || len(m.stmts) == 0 {
			t.Errorf("migration %d is empty", m.version)
		}
	}
}

func TestReopenDoesNotReapplyMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.duckdb")
	s := openAt(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	if n := count(t, s, `SELECT count(*) FROM schema_migrations`); n != int64(len(migrations)) {
		t.Errorf("%d migration rows, want %d", n, len(migrations))
	}
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.duckdb")
	s := openAt(t, path)
	if _, err := s.db.Exec(`INSERT INTO schema_migrations VALUES (?, 'from the future', now())`, latestVersion(migrations)+1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{Path: path}, testLogger(t))
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open newer schema: err = %v, want ErrSchemaTooNew", err)
	}
}

func TestTopSelection(t *testing.T) {
	s := openTemp(t)
	now := time.Date(2025, 3, 10, 12, 34, 56, 0, time.UTC)
	s.now = func() time.Time { return now }
	tests := []struct {
		name       string
		by         store.Grouping
		start, end time.Time
		table      string
		rStart     time.Time
	}{
		{"by flow is raw", store.ByFlow, now.Add(-30 * 24 * time.Hour), now, "flows", now.Add(-30 * 24 * time.Hour)},
		{"19 min is raw", store.ByResource, now.Add(-19 * time.Minute), now, "flows", now.Add(-19 * time.Minute)},
		{"20 min is 1m", store.ByResource, now.Add(-20 * time.Minute), now, "rollup_1m", now.Add(-20 * time.Minute).Truncate(time.Minute)},
		{"199 min is 1m", store.ByResource, now.Add(-199 * time.Minute), now, "rollup_1m", now.Add(-199 * time.Minute).Truncate(time.Minute)},
		{"200 min is 10m", store.ByResource, now.Add(-200 * time.Minute), now, "rollup_10m", now.Add(-200 * time.Minute).Truncate(10 * time.Minute)},
		{"20 h is 1h", store.ByResource, now.Add(-20 * time.Hour), now, "rollup_1h", now.Add(-20 * time.Hour).Truncate(time.Hour)},
		{"2 h 40 days ago: 1m expired, raw", store.ByResource, now.Add(-40 * 24 * time.Hour), now.Add(-40*24*time.Hour + 2*time.Hour), "flows", now.Add(-40 * 24 * time.Hour)},
		{"1 day 100 days ago: 1h", store.ByResource, now.Add(-100 * 24 * time.Hour), now.Add(-99 * 24 * time.Hour), "rollup_1h", now.Add(-100 * 24 * time.Hour).Truncate(time.Hour)},
	}
	for _, tt := range tests {
		sel := s.topSelection(store.TopQuery{By: tt.by, Start: tt.start, End: tt.end})
		if sel.table.name != tt.table || sel.startMs != tt.rStart.UnixMilli() {
			t.Errorf("%s: %s from %s, want %s from %s", tt.name, sel.table.name, time.UnixMilli(sel.startMs).UTC(), tt.table, tt.rStart)
		}
		// The end rounds up, so the freshest partial bucket stays in.
		if w := sel.table.width; w > 0 && sel.endMs != bucketOf(tt.end.UnixMilli()+w-1, w) {
			t.Errorf("%s: end not rounded up to a whole bucket", tt.name)
		}
	}
	// After Maintain ran with a later now, its cutoff wins over the clock.
	if err := s.Maintain(context.Background(), now.Add(10*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	sel := s.topSelection(store.TopQuery{By: store.ByResource, Start: now.Add(-2 * time.Hour), End: now})
	if sel.table.name != "rollup_1m" {
		t.Errorf("after Maintain: %s, want rollup_1m (raw no longer covers)", sel.table.name)
	}
}

func TestSeriesSelection(t *testing.T) {
	s := openTemp(t)
	now := time.Now()
	for _, tt := range []struct {
		by    store.Grouping
		step  time.Duration
		table string
	}{
		{store.ByResource, 0, "rollup_1m"},
		{store.ByResource, time.Hour, "rollup_1m"},
		{store.ByResource, 90 * time.Second, "flows"},
		{store.ByFlow, time.Hour, "flows"},
	} {
		q := store.SeriesQuery{TopQuery: store.TopQuery{By: tt.by, Start: now.Add(-24 * time.Hour), End: now}, Step: tt.step}
		if got := s.seriesSelection(q).table.name; got != tt.table {
			t.Errorf("by %d step %s: %s, want %s", tt.by, tt.step, got, tt.table)
		}
	}
	old := store.SeriesQuery{TopQuery: store.TopQuery{By: store.ByResource, Start: now.Add(-60 * 24 * time.Hour), End: now}, Step: time.Hour}
	if got := s.seriesSelection(old).table.name; got != "rollup_10m" {
		t.Errorf("60 days by 1h: %s, want rollup_10m (1m retention is 30 days)", got)
	}
}

// TestFailedWriteLeavesNothing aborts a Write just before COMMIT: nothing
// is stored, the batch is not marked seen, and the key ids it allocated are
// handed out again.
func TestFailedWriteLeavesNothing(t *testing.T) {
	s := openTemp(t)
	rng := rand.New(rand.NewPCG(1, 1))
	rows := genRows(rng, 500, 50, 5, time.Now().Add(-time.Hour), time.Hour)
	batches := batchesOf("a", 1, rows, 100)
	boom := errors.New("boom")
	s.beforeCommit = func() error { return boom }
	if _, err := s.Write(context.Background(), batches); !errors.Is(err, boom) {
		t.Fatalf("Write: err = %v, want boom", err)
	}
	for _, table := range []string{"flows", "flow_keys", "resource_keys", "batch_seen", "rollup_1m", "rollup_1h"} {
		if n := count(t, s, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%s has %d rows after failed write", table, n)
		}
	}
	if s.dict.nFlows != 0 || len(s.dict.flows) != 0 || s.dict.nextFlow != 0 || s.dict.nextRes != 0 {
		t.Errorf("dictionary kept %d keys, next ids %d/%d", s.dict.nFlows, s.dict.nextFlow, s.dict.nextRes)
	}
	s.beforeCommit = nil
	if dup := mustWrite(t, s, batches); dup[0] {
		t.Errorf("batch of a failed write reported duplicate")
	}
	if n := count(t, s, `SELECT count(*) FROM flows`); n != 500 {
		t.Errorf("flows has %d rows, want 500", n)
	}
	if n := count(t, s, `SELECT max(id) + 1 - count(*) FROM flow_keys`); n != 0 {
		t.Errorf("flow key ids have %d holes", n)
	}
}

func TestCanceledWrite(t *testing.T) {
	s := openTemp(t)
	rows := genRows(rand.New(rand.NewPCG(2, 2)), 100, 10, 2, time.Now().Add(-time.Hour), time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Write(ctx, batchesOf("a", 1, rows, 50)); err == nil {
		t.Fatal("Write with canceled context succeeded")
	}
	if n := count(t, s, `SELECT count(*) FROM flows`); n != 0 {
		t.Errorf("flows has %d rows", n)
	}
	if dup := mustWrite(t, s, batchesOf("a", 1, rows, 50)); dup[0] || dup[1] {
		t.Errorf("dup = %v after canceled write", dup)
	}
}

func TestInvalidBatches(t *testing.T) {
	s := openTemp(t)
	for _, b := range [][]*store.Batch{{nil}, {{AgentID: "", Sequence: 1}}} {
		if _, err := s.Write(context.Background(), b); err == nil {
			t.Errorf("Write(%v) succeeded", b)
		}
	}
}

// TestRowsWithoutLatency writes a call in which no row has a histogram,
// the all-NULL BLOB column.
func TestRowsWithoutLatency(t *testing.T) {
	s := openTemp(t)
	rows := genRows(rand.New(rand.NewPCG(3, 3)), 100, 10, 2, time.Now().Add(-time.Hour), time.Hour)
	for i := range rows {
		rows[i].Counters.RTT, rows[i].Counters.HandshakeLatency = flow.Latency{}, flow.Latency{}
	}
	mustWrite(t, s, batchesOf("a", 1, rows, 100))
	if n := count(t, s, `SELECT count(*) FROM flows WHERE latency_hist IS NULL`); n != 100 {
		t.Errorf("%d NULL histograms, want 100", n)
	}
	compareRollupsWithRaw(t, s)
}

// TestRollupsMatchRaw is the roll-up invariant: for every table, bucket and
// resource key, the roll-up rows sum to exactly the raw rows, every
// counter, latency summary and histogram bin, before and after compaction,
// with rows arriving out of order and late.
func TestRollupsMatchRaw(t *testing.T) {
	s := openTemp(t)
	rng := rand.New(rand.NewPCG(4, 4))
	from := time.Now().Add(-3 * 24 * time.Hour)
	seq := uint64(1)
	for round := range 6 {
		rows := genRows(rng, 3000+rng.IntN(3000), 400, 37, from, 3*24*time.Hour)
		bs := batchesOf("gen", seq, rows, 1+rng.IntN(500))
		seq += uint64(len(bs))
		mustWrite(t, s, bs)
		compareRollupsWithRaw(t, s)
		if round%2 == 1 {
			if err := s.Maintain(context.Background(), time.Now()); err != nil {
				t.Fatal(err)
			}
			compareRollupsWithRaw(t, s)
			if n := count(t, s, `SELECT count(*) FROM rollup_10m WHERE NOT compacted`); n != 0 {
				t.Errorf("%d partial rows after Maintain", n)
			}
		}
	}
	if n := count(t, s, `SELECT count(*) - count(DISTINCT (bucket_ms, resource_id)) FROM rollup_1h`); n != 0 {
		t.Errorf("rollup_1h has %d extra rows after compaction", n)
	}
}

// compareRollupsWithRaw recomputes every roll-up from the raw rows in Go
// and compares it with what the roll-up tables sum to.
func compareRollupsWithRaw(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	want := newRollupSet()
	rows, err := s.db.QueryContext(ctx, `SELECT f.end_ms, k.resource_id, `+prefixed("f.", strings.Join(valueColumns(), ", "))+
		`, f.latency_hist FROM flows f JOIN flow_keys k ON k.id = f.key_id`)
	if err != nil {
		t.Fatal(err)
	}
	var u [numValues]uint64
	var end int64
	var res uint32
	var hist []byte
	dest := []any{&end, &res}
	for i := range u {
		dest = append(dest, &u[i])
	}
	dest = append(dest, &hist)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		for ti, rt := range rollupTables {
			if err := want.get(ti, aggKey{bucketOf(end, rt.width), res}).addStored(1, &u, hist); err != nil {
				t.Fatal(err)
			}
		}
	}
	rows.Close()
	for ti, rt := range rollupTables {
		got := newRollupSet()
		if _, err := s.readAll(ctx, rt.name, got, ti); err != nil {
			t.Fatal(err)
		}
		if len(got.tables[ti]) != len(want.tables[ti]) {
			t.Errorf("%s: %d (bucket, resource) groups, want %d", rt.name, len(got.tables[ti]), len(want.tables[ti]))
		}
		for k, w := range want.tables[ti] {
			g, ok := got.tables[ti][k]
			if !ok {
				t.Errorf("%s: missing bucket %d resource %d", rt.name, k.bucket, k.resourceID)
				continue
			}
			if g.rows != w.rows || g.counters != w.counters || g.rtt != w.rtt || g.hs != w.hs ||
				g.rttHist.n != w.rttHist.n || g.hsHist.n != w.hsHist.n {
				t.Errorf("%s bucket %d resource %d differs from raw", rt.name, k.bucket, k.resourceID)
			}
		}
	}
}

// readAll sums every row of a roll-up table into set.tables[t].
func (s *Store) readAll(ctx context.Context, table string, set *rollupSet, t int) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT bucket_ms, resource_id, flow_rows, `+
		strings.Join(valueColumns(), ", ")+`, latency_hist FROM `+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var k aggKey
	var n uint64
	var u [numValues]uint64
	var hist []byte
	dest := []any{&k.bucket, &k.resourceID, &n}
	for i := range u {
		dest = append(dest, &u[i])
	}
	dest = append(dest, &hist)
	c := 0
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return 0, err
		}
		if err := set.get(t, k).addStored(n, &u, hist); err != nil {
			return 0, err
		}
		c++
	}
	return c, rows.Err()
}

// TestFlowKeysExpire checks that keys whose rows aged out of raw retention
// leave flow_keys and the dictionary, survive a reopen consistently, and
// are recreated with fresh ids when they come back.
func TestFlowKeysExpire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.duckdb")
	s := openAt(t, path)
	rng := rand.New(rand.NewPCG(5, 5))
	now := time.Now()
	old := genRows(rng, 400, 40, 4, now.Add(-9*24*time.Hour), time.Hour)
	recent := genRows(rng, 400, 40, 4, now.Add(-time.Hour), time.Hour)
	for i := range recent { // other ports: other keys
		recent[i].Key.Port += 10000
	}
	mustWrite(t, s, append(batchesOf("a", 1, old, 100), batchesOf("a", 100, recent, 100)...))
	keysBefore := count(t, s, `SELECT count(*) FROM flow_keys`)
	if err := s.Maintain(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	recentKeys := count(t, s, `SELECT count(DISTINCT key_id) FROM flows`)
	if n := count(t, s, `SELECT count(*) FROM flow_keys`); n != recentKeys || n >= keysBefore {
		t.Errorf("flow_keys has %d rows, want %d (was %d)", n, recentKeys, keysBefore)
	}
	if int64(s.dict.nFlows) != recentKeys {
		t.Errorf("dictionary has %d keys, want %d", s.dict.nFlows, recentKeys)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	if int64(s.dict.nFlows) != recentKeys {
		t.Errorf("after reopen dictionary has %d keys, want %d", s.dict.nFlows, recentKeys)
	}
	maxID := count(t, s, `SELECT max(id) FROM flow_keys`)
	back := old[:1]
	back[0].End, back[0].Start = now, now.Add(-time.Minute)
	mustWrite(t, s, batchesOf("a", 1000, back, 1))
	if id := count(t, s, `SELECT key_id FROM flows WHERE end_ms = ?`, now.UnixMilli()); id <= maxID {
		t.Errorf("returning key got id %d, want > %d", id, maxID)
	}
	if n := count(t, s, `SELECT count(*) FROM flows WHERE key_id NOT IN (SELECT id FROM flow_keys)`); n != 0 {
		t.Errorf("%d flows reference missing keys", n)
	}
}

// TestSeenCompaction checks that batch_seen is rewritten as intervals and
// still reloads to the same set.
func TestSeenCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.duckdb")
	s := openAt(t, path)
	var batches []*store.Batch
	for i := range 3000 {
		seq := uint64(i/3 + 1)
		if i/3 >= 600 {
			seq += 1024 // restart gap
		}
		batches = append(batches, &store.Batch{AgentID: fmt.Sprintf("agent-%d", i%3), Sequence: seq})
	}
	mustWrite(t, s, batches)
	if err := s.Maintain(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT count(*) FROM batch_seen`); n != 6 {
		t.Errorf("batch_seen has %d rows after compaction, want 6 (two intervals per agent)", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	for i, d := range mustWrite(t, s, batches) {
		if !d {
			t.Fatalf("batch %d not duplicate after compaction and reopen", i)
		}
	}
}

// TestHugeValuesClamped: values beyond a column's type are clamped the same
// way in raw rows and roll-ups, so the two still agree.
func TestHugeValuesClamped(t *testing.T) {
	s := openTemp(t)
	rows := genRows(rand.New(rand.NewPCG(6, 6)), 3, 1, 1, time.Now().Add(-time.Hour), time.Minute)
	rows[0].Counters.BytesSent = math.MaxUint64
	rows[0].Counters.Retransmissions = 1 << 40
	rows[0].Counters.RTT.MaxUS = 1 << 33
	rows[1].Counters.BytesSent, rows[2].Counters.BytesSent = 0, 0 // the sum fits BIGINT
	mustWrite(t, s, batchesOf("a", 1, rows, 3))
	if n := count(t, s, `SELECT max(retransmissions) FROM flows`); n != math.MaxUint32 {
		t.Errorf("retransmissions stored as %d, want %d", n, uint32(math.MaxUint32))
	}
	if n := count(t, s, `SELECT max(bytes_sent) FROM flows`); n != math.MaxInt64 {
		t.Errorf("bytes_sent stored as %d, want %d", n, int64(math.MaxInt64))
	}
	compareRollupsWithRaw(t, s)
}

// TestFailedCommitRefusesWrites: after a COMMIT error the in-memory state
// may disagree with the file, so the store refuses writes until reopened.
func TestFailedCommitRefusesWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.duckdb")
	s := openAt(t, path)
	s.noteFailure(fmt.Errorf("write: %w", &commitError{errors.New("disk on fire")}))
	if _, err := s.Write(context.Background(), []*store.Batch{{AgentID: "a", Sequence: 1}}); !errors.Is(err, ErrNeedsReopen) {
		t.Errorf("Write after failed commit: %v, want ErrNeedsReopen", err)
	}
	if err := s.Maintain(context.Background(), time.Now()); !errors.Is(err, ErrNeedsReopen) {
		t.Errorf("Maintain after failed commit: %v, want ErrNeedsReopen", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	mustWrite(t, s, []*store.Batch{{AgentID: "a", Sequence: 1}})
}

// TestRoundedRanges checks the documented ByResource semantics on ranges
// that are not aligned: a roll-up answers for rows with End in the range
// widened to whole buckets of its width, exactly as raw rows would.
func TestRoundedRanges(t *testing.T) {
	s := openTemp(t)
	rng := rand.New(rand.NewPCG(7, 7))
	now := time.Now()
	from := now.Add(-3 * 24 * time.Hour)
	rows := genRows(rng, 20000, 300, 11, from, 3*24*time.Hour)
	mustWrite(t, s, batchesOf("a", 1, rows, 1000))
	key := func(cat topology.Category, l, r topology.Location) string {
		return fmt.Sprint(cat, l.Region, l.Zone, l.Subnet, r.Kind, r.Region, r.Zone, r.Subnet)
	}
	for i := range 40 {
		start := from.Add(time.Duration(rng.Int64N(int64(48 * time.Hour))))
		span := time.Duration(rng.Int64N(int64(24 * time.Hour)))
		q := store.TopQuery{Start: start, End: start.Add(span + time.Minute), Limit: store.MaxLimit, By: store.ByResource}
		sel := s.topSelection(q)
		want := make(map[string]store.Totals)
		for j := range rows {
			r := &rows[j]
			if e := r.End.UnixMilli(); e < sel.startMs || e >= sel.endMs {
				continue
			}
			tot := want[key(r.Category, r.Local, r.Remote)]
			tot.Add(&r.Counters)
			want[key(r.Category, r.Local, r.Remote)] = tot
		}
		got, err := s.Top(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("case %d (%s, %s): %d groups, want %d", i, sel.table.name, span, len(got), len(want))
		}
		for _, r := range got {
			if w := want[key(r.Category, r.Local, r.Remote)]; r.Totals != w {
				t.Errorf("case %d (%s): totals %+v, want %+v", i, sel.table.name, r.Totals, w)
			}
		}
	}
}
