package onethread_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/duckdb/onethread"
)

func TestOverlappingHoldersRestoreTheFirstValue(t *testing.T) {
	for _, order := range []string{"first ends first", "second ends first"} {
		t.Run(order, func(t *testing.T) {
			st, err := duckdb.Open(duckdb.Config{Path: filepath.Join(t.TempDir(), "t.duckdb")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			db := st.DB()
			if _, err := db.Exec(`SET threads = 3`); err != nil {
				t.Fatal(err)
			}
			threads := func() int64 {
				var n int64
				if err := db.QueryRow(`SELECT current_setting('threads')`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			c1, _ := db.Conn(ctx)
			c2, _ := db.Conn(ctx)
			defer c1.Close()
			defer c2.Close()
			r1, err := onethread.Hold(ctx, db, c1)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := onethread.Hold(ctx, db, c2)
			if err != nil {
				t.Fatal(err)
			}
			if n := threads(); n != 1 {
				t.Fatalf("threads %d while held", n)
			}
			first, second := r1, r2
			if order == "second ends first" {
				first, second = r2, r1
			}
			first() //nolint:errcheck
			first() //nolint:errcheck // a second call does nothing
			if n := threads(); n != 1 {
				t.Fatalf("threads %d with one holder left", n)
			}
			if err := second(); err != nil {
				t.Fatal(err)
			}
			if n := threads(); n != 3 {
				t.Fatalf("threads %d after both, want 3", n)
			}
		})
	}
}
