package flowlog

import (
	"context"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/flowlens/flowlens/store/duckdb/arrowview"
)

// feed is one Arrow view registered on the importer's connection for one
// format (once: see internal/arrowview); every insert stages a batch's
// record and scans the view once.
type feed struct {
	name   string
	schema *arrow.Schema
	view   *arrowview.View
}

func feedSchema(f *Format) *arrow.Schema {
	fields := make([]arrow.Field, f.Len())
	encoded := dictEncoded(f)
	for i := range fields {
		fd := f.Field(i)
		var dt arrow.DataType = arrow.BinaryTypes.String
		switch {
		case encoded[i]:
			dt = arrow.PrimitiveTypes.Uint32
		case fd.Type == Int32:
			dt = arrow.PrimitiveTypes.Int32
		case fd.Type == Int64:
			dt = arrow.PrimitiveTypes.Int64
		}
		fields[i] = arrow.Field{Name: fd.Column, Type: dt, Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

func newFeed(dc any, formatID uint16, f *Format) (*feed, error) {
	fd := &feed{name: "flowlog_feed_" + strconv.Itoa(int(formatID)), schema: feedSchema(f)}
	var err error
	if fd.view, err = arrowview.Register(dc, fd.name, fd.schema); err != nil {
		return nil, err
	}
	return fd, nil
}

func (fd *feed) close(ctx context.Context, dc any) error {
	return fd.view.Close(ctx, dc)
}

// record wraps the batch's slices as Arrow arrays without copying them;
// valid until the batch is reset. Text columns the feed's schema has as
// Uint32 carry the ids the parser set (encode).
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
		switch {
		case dt.ID() == arrow.UINT32:
			bufs = []*memory.Buffer{validity, memory.NewBufferBytes(arrow.Uint32Traits.CastToBytes(c.ids))}
		case c.typ == Int32:
			bufs = []*memory.Buffer{validity, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(c.i32))}
		case c.typ == Int64:
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

// encode sets the dictionary ids of text column c (0 where NULL: never
// read, the validity bitmap says NULL). Parser goroutines run it, each with
// its own cache, so that the inserter only stages the batch.
func encode(c *column, n int, ids *cache) {
	c.ids = c.ids[:0]
	for r := range n {
		if c.nulls > 0 && c.valid[r/8]&(1<<(r%8)) == 0 {
			c.ids = append(c.ids, 0)
			continue
		}
		c.ids = append(c.ids, ids.id(c.data[c.off[r]:c.off[r+1]]))
	}
}

// dictEncoded says which columns of format f are stored as dictionary ids.
func dictEncoded(f *Format) []bool {
	out := make([]bool, f.Len())
	for i := range out {
		out[i] = physicalTable(f) == tableV2F && dictColumns[f.Field(i).Column]
	}
	return out
}
