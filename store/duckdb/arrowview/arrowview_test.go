package arrowview

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/marcboeker/go-duckdb"
)

// Every record staged before an insert is inserted once; after Drop the
// view is empty and can be fed again; Close removes it.
func TestStageInsertDropClose(t *testing.T) {
	ctx := context.Background()
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE t (v BIGINT)`); err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	record := func(vs ...int64) arrow.Record {
		b := array.NewInt64Builder(memory.DefaultAllocator)
		defer b.Release()
		b.AppendValues(vs, nil)
		arr := b.NewArray()
		defer arr.Release()
		return array.NewRecord(schema, []arrow.Array{arr}, int64(len(vs)))
	}
	exec := func(dc any, q string) error {
		_, err := dc.(driver.ExecerContext).ExecContext(ctx, q, nil)
		return err
	}
	err = conn.Raw(func(dc any) error {
		v, err := Register(dc, "feed_test", schema)
		if err != nil {
			return err
		}
		for _, vals := range [][][]int64{{{1, 2}, {3}}, {{4}}} {
			for _, vs := range vals {
				rec := record(vs...)
				v.Stage(rec)
				rec.Release()
			}
			if err := exec(dc, `INSERT INTO t SELECT v FROM feed_test`); err != nil {
				return err
			}
			v.Drop()
		}
		if err := exec(dc, `INSERT INTO t SELECT v FROM feed_test`); err != nil {
			return err // nothing staged: inserts nothing
		}
		return v.Close(ctx, dc)
	})
	if err != nil {
		t.Fatal(err)
	}
	var n, sum int64
	if err := conn.QueryRowContext(ctx, `SELECT count(*), sum(v) FROM t`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 4 || sum != 10 {
		t.Fatalf("inserted %d rows summing to %d, want 4 rows summing to 10", n, sum)
	}
	if _, err := conn.ExecContext(ctx, `SELECT * FROM feed_test`); err == nil {
		t.Fatal("Close must drop the view")
	}
}
