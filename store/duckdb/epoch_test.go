package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowlens/flowlens/store"
)

// TestNewEpochNotDroppedAfterCompactionAndReopen: an agent whose spool was
// lost starts again at sequence 1 in a new epoch; its batches are new even
// after batch_seen was compacted and the store reopened, while every
// (agent, epoch, sequence) stored before stays a duplicate.
func TestNewEpochNotDroppedAfterCompactionAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.duckdb")
	s := openAt(t, path)
	var first []*store.Batch
	for _, epoch := range []uint64{0, 0xfeedface} {
		for seq := uint64(1); seq <= 1500; seq++ {
			first = append(first, &store.Batch{AgentID: "host-a", Epoch: epoch, Sequence: seq})
		}
	}
	for i, d := range mustWrite(t, s, first) {
		if d {
			t.Fatalf("batch %d (epoch %x seq %d) taken for a duplicate on first write", i, first[i].Epoch, first[i].Sequence)
		}
	}
	if err := s.Maintain(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT count(*) FROM batch_seen`); n != 2 {
		t.Errorf("batch_seen has %d rows after compaction, want 2 (one interval per epoch)", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	for i, d := range mustWrite(t, s, first) {
		if !d {
			t.Fatalf("batch %d (epoch %x seq %d) not a duplicate after reopen", i, first[i].Epoch, first[i].Sequence)
		}
	}
	fresh := []*store.Batch{{AgentID: "host-a", Epoch: 7, Sequence: 1}, {AgentID: "host-a", Epoch: 7, Sequence: 2}}
	if dup := mustWrite(t, s, fresh); dup[0] || dup[1] {
		t.Fatalf("a new epoch's sequences 1 and 2 taken for duplicates: %v", dup)
	}
}

// TestMigrationKeepsSeenBatchesAsEpochZero: batches recorded by a binary
// without epochs stay duplicates for agents that send none (epoch 0), and
// do not shadow the same sequences in a real epoch.
func TestMigrationKeepsSeenBatchesAsEpochZero(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.duckdb")
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, conn, migrations[:1], testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO batch_seen VALUES ('host-old', 1, 10)`); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	db.Close()

	s := openAt(t, path)
	batches := []*store.Batch{
		{AgentID: "host-old", Sequence: 5},
		{AgentID: "host-old", Sequence: 11},
		{AgentID: "host-old", Epoch: 99, Sequence: 5},
	}
	got := fmt.Sprint(mustWrite(t, s, batches))
	if want := "[true false false]"; got != want {
		t.Errorf("duplicates after the epoch migration = %s, want %s", got, want)
	}
}
