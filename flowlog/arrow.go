package flowlog

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/marcboeker/go-duckdb"
)

// feed is one Arrow view registered on the importer's connection for one
// format; every insert stages a batch's record and scans the view once.
// Views are registered once per connection and format and fed a new record
// each time: DuckDB never releases a registered stream, so registering one
// per insert would pin every record (see store/duckdb/insert_arrow.go).
type feed struct {
	name    string
	schema  *arrow.Schema
	reader  *feedReader
	release func()
}

func feedSchema(f *Format) *arrow.Schema {
	fields := make([]arrow.Field, f.Len())
	for i := range fields {
		fd := f.Field(i)
		var dt arrow.DataType = arrow.BinaryTypes.String
		switch fd.Type {
		case Int32:
			dt = arrow.PrimitiveTypes.Int32
		case Int64:
			dt = arrow.PrimitiveTypes.Int64
		}
		fields[i] = arrow.Field{Name: fd.Column, Type: dt, Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

func newFeed(dc any, formatID uint16, f *Format) (*feed, error) {
	conn, ok := dc.(driver.Conn)
	if !ok {
		return nil, errors.New("not a driver connection")
	}
	ar, err := duckdb.NewArrowFromConn(conn)
	if err != nil {
		return nil, fmt.Errorf("arrow interface: %w", err)
	}
	fd := &feed{name: "flowlog_feed_" + strconv.Itoa(int(formatID)), schema: feedSchema(f)}
	fd.reader = &feedReader{schema: fd.schema}
	fd.reader.refs.Store(1)
	if fd.release, err = ar.RegisterView(fd.reader, fd.name); err != nil {
		return nil, fmt.Errorf("register arrow view: %w", err)
	}
	return fd, nil
}

func (fd *feed) close(ctx context.Context, dc any) error {
	err := execDriver(ctx, dc, "DROP VIEW IF EXISTS "+fd.name)
	fd.release()
	fd.reader.drop()
	return err
}

// record wraps the batch's slices as Arrow arrays without copying them;
// valid until the batch is reset.
func (fd *feed) record(b *Batch) arrow.Record {
	n := b.n
	cols := make([]arrow.Array, len(b.cols))
	for i := range b.cols {
		c := &b.cols[i]
		var validity *memory.Buffer
		if c.nulls > 0 {
			validity = memory.NewBufferBytes(c.valid)
		}
		var bufs []*memory.Buffer
		dt := fd.schema.Field(i).Type
		switch c.typ {
		case Int32:
			bufs = []*memory.Buffer{validity, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(c.i32))}
		case Int64:
			bufs = []*memory.Buffer{validity, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(c.i64))}
		default:
			data := c.data
			if len(data) == 0 {
				data = []byte{0} // never read: every value is NULL or empty
			}
			bufs = []*memory.Buffer{validity, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(c.off)), memory.NewBufferBytes(data)}
		}
		d := array.NewData(dt, n, bufs, nil, c.nulls, 0)
		cols[i] = array.MakeFromData(d)
		d.Release()
	}
	rec := array.NewRecord(fd.schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// feedReader is the array.RecordReader behind a view: each scan yields
// the staged records, then ends. DuckDB may call it from its own threads
// (an INSERT of several records runs on several threads), hence the mutex.
type feedReader struct {
	refs   atomic.Int64
	schema *arrow.Schema
	mu     sync.Mutex
	queue  []arrow.Record
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

// stage adds rec to the next scan.
func (r *feedReader) stage(rec arrow.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec.Retain()
	r.queue = append(r.queue, rec)
}

// drop forgets every record, consumed or not, so none outlives its insert.
func (r *feedReader) drop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.queue {
		rec.Release()
	}
	r.queue = r.queue[:0]
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
}

func (r *feedReader) Next() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if len(r.queue) == 0 {
		return false
	}
	r.cur = r.queue[0]
	r.queue = append(r.queue[:0], r.queue[1:]...)
	return true
}

// execDriver runs a statement on a raw driver connection.
func execDriver(ctx context.Context, dc any, query string, args ...driver.NamedValue) error {
	ex, ok := dc.(driver.ExecerContext)
	if !ok {
		return errors.New("driver connection cannot exec")
	}
	_, err := ex.ExecContext(ctx, query, args)
	return err
}
