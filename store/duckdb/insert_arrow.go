//go:build !no_duckdb_arrow

package duckdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/marcboeker/go-duckdb"
)

// feedView is the temporary view, private to the writer connection, over
// which every Write's record is inserted.
const feedView = "flowlens_flows_feed"

// arrowInserter streams flows columns into DuckDB as one Arrow record per
// Write, without copying them: the arrays point at flowColumns' slices.
//
// The view is registered once per connection and fed a new record per
// Write. Registering a view per Write (the obvious use of RegisterView)
// leaks every record: DuckDB never calls the stream's release callback, so
// the exported reader and its buffers stay pinned (about 300 bytes per row,
// measured: 6 MB per 20k-row write).
type arrowInserter struct {
	feed    *feedReader
	release func()
	bitmap  []byte
}

var flowsSchema = func() *arrow.Schema {
	fields := []arrow.Field{
		{Name: "end_ms", Type: arrow.PrimitiveTypes.Int64},
		{Name: "dur_ms", Type: arrow.PrimitiveTypes.Uint32},
		{Name: "key_id", Type: arrow.PrimitiveTypes.Uint32},
	}
	// wide value columns, then narrow ones: the INSERT names its columns
	for i, c := range valueColumns() {
		if !narrowValue[i] {
			fields = append(fields, arrow.Field{Name: c, Type: arrow.PrimitiveTypes.Int64})
		}
	}
	for i, c := range valueColumns() {
		if narrowValue[i] {
			fields = append(fields, arrow.Field{Name: c, Type: arrow.PrimitiveTypes.Uint32})
		}
	}
	fields = append(fields, arrow.Field{Name: "latency_hist", Type: arrow.BinaryTypes.Binary, Nullable: true})
	return arrow.NewSchema(fields, nil)
}()

func newFlowInserter(dc any) (flowInserter, error) {
	conn, ok := dc.(driver.Conn)
	if !ok {
		return nil, errors.New("not a driver connection")
	}
	ar, err := duckdb.NewArrowFromConn(conn)
	if err != nil {
		return nil, fmt.Errorf("arrow interface: %w", err)
	}
	feed := &feedReader{schema: flowsSchema}
	feed.refs.Store(1)
	release, err := ar.RegisterView(feed, feedView)
	if err != nil {
		return nil, fmt.Errorf("register arrow view: %w", err)
	}
	return &arrowInserter{feed: feed, release: release}, nil
}

func (a *arrowInserter) name() string { return "arrow" }

func (a *arrowInserter) insert(ctx context.Context, dc any, c *flowColumns) error {
	rec := a.record(c)
	a.feed.stage(rec)
	rec.Release()
	defer a.feed.drop()
	return execSQL(ctx, dc, "INSERT INTO flows ("+flowsColumnList+") SELECT "+flowsColumnList+" FROM "+feedView)
}

func (a *arrowInserter) close(dc any) error {
	err := execSQL(context.Background(), dc, "DROP VIEW IF EXISTS "+feedView)
	a.release()
	a.feed.drop()
	return err
}

// record wraps c's slices as Arrow arrays; valid until c is reset.
func (a *arrowInserter) record(c *flowColumns) arrow.Record {
	n := c.len()
	cols := make([]arrow.Array, 0, len(flowsSchema.Fields()))
	cols = append(cols,
		fixedArray(arrow.PrimitiveTypes.Int64, n, arrow.Int64Traits.CastToBytes(c.endMs)),
		fixedArray(arrow.PrimitiveTypes.Uint32, n, arrow.Uint32Traits.CastToBytes(c.durMs)),
		fixedArray(arrow.PrimitiveTypes.Uint32, n, arrow.Uint32Traits.CastToBytes(c.keyID)))
	for i := range c.wide { // clamped to 2^63-1: same bits as int64
		cols = append(cols, fixedArray(arrow.PrimitiveTypes.Int64, n, arrow.Uint64Traits.CastToBytes(c.wide[i])))
	}
	for i := range c.narrow {
		cols = append(cols, fixedArray(arrow.PrimitiveTypes.Uint32, n, arrow.Uint32Traits.CastToBytes(c.narrow[i])))
	}
	cols = append(cols, a.histArray(c))
	rec := array.NewRecord(flowsSchema, cols, int64(n))
	for _, col := range cols {
		col.Release()
	}
	return rec
}

func fixedArray(dt arrow.DataType, n int, buf []byte) arrow.Array {
	data := array.NewData(dt, n, []*memory.Buffer{nil, memory.NewBufferBytes(buf)}, nil, 0, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// histArray builds the nullable binary column; the validity bitmap is the
// only part that is copied.
func (a *arrowInserter) histArray(c *flowColumns) arrow.Array {
	n := c.len()
	var validity *memory.Buffer
	if c.histNulls > 0 {
		size := int(bitutil.BytesForBits(int64(n)))
		if cap(a.bitmap) < size {
			a.bitmap = make([]byte, size)
		}
		a.bitmap = a.bitmap[:size]
		clear(a.bitmap)
		for i, ok := range c.histValid {
			if ok {
				bitutil.SetBit(a.bitmap, i)
			}
		}
		validity = memory.NewBufferBytes(a.bitmap)
	}
	data := c.histData
	if len(data) == 0 {
		data = []byte{0} // never read: every row is NULL
	}
	d := array.NewData(arrow.BinaryTypes.Binary, n, []*memory.Buffer{validity,
		memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(c.histOff)), memory.NewBufferBytes(data)},
		nil, c.histNulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

// feedReader is the array.RecordReader behind the feed view: each scan
// yields the record staged by the current Write, then ends. DuckDB may call
// it from its own threads, hence the mutex.
type feedReader struct {
	refs   atomic.Int64
	schema *arrow.Schema
	mu     sync.Mutex
	next   arrow.Record
	cur    arrow.Record
}

func (r *feedReader) Retain()               { r.refs.Add(1) }
func (r *feedReader) Release()              { r.refs.Add(-1) }
func (r *feedReader) Schema() *arrow.Schema { return r.schema }
func (r *feedReader) Err() error            { return nil }

func (r *feedReader) Record() arrow.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// stage makes rec the next (and only) record of the next scan.
func (r *feedReader) stage(rec arrow.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec.Retain()
	if r.next != nil {
		r.next.Release()
	}
	r.next = rec
}

// drop forgets any record, consumed or not, so nothing outlives the Write.
func (r *feedReader) drop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range []*arrow.Record{&r.next, &r.cur} {
		if *rec != nil {
			(*rec).Release()
			*rec = nil
		}
	}
}

func (r *feedReader) Next() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.next == nil {
		return false
	}
	r.cur, r.next = r.next, nil
	return true
}
