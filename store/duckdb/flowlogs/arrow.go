package flowlogs

import (
	"context"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/store/duckdb/arrowview"
)

// feed is one Arrow view registered on the writer connection for one
// format (once: see internal/arrowview); every insert stages a batch's
// record and scans the view once.
type feed struct {
	name   string
	schema *arrow.Schema
	view   *arrowview.View
}

func feedSchema(f *flowlog.Format) *arrow.Schema {
	fields := make([]arrow.Field, f.Len())
	encoded := dictEncoded(f)
	for i := range fields {
		fd := f.Field(i)
		var dt arrow.DataType = arrow.BinaryTypes.String
		switch {
		case encoded[i]:
			dt = arrow.PrimitiveTypes.Uint32
		case fd.Type == flowlog.Int32:
			dt = arrow.PrimitiveTypes.Int32
		case fd.Type == flowlog.Int64:
			dt = arrow.PrimitiveTypes.Int64
		}
		fields[i] = arrow.Field{Name: feedColumn(f, i), Type: dt, Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// feedColumn is field i's column in a format's Arrow view: the field's
// column, or x0, x1, ... for fields the catalogue does not know (they end
// up in the record's extra list).
func feedColumn(f *flowlog.Format, i int) string {
	if k := f.UnknownIndex(i); k >= 0 {
		return "x" + strconv.Itoa(k)
	}
	return f.Field(i).Column
}

func newFeed(dc any, formatID uint16, f *flowlog.Format) (*feed, error) {
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
// Uint32 carry the ids the parser goroutine set (textWriter.Prepare).
func (fd *feed) record(b *flowlog.Batch) arrow.Record {
	n := b.Len()
	cols := make([]arrow.Array, b.Format().Len())
	for i := range cols {
		c := b.Column(i)
		var validity *memory.Buffer
		if c.Nulls > 0 {
			validity = memory.NewBufferBytes(c.Valid)
		}
		var bufs []*memory.Buffer
		dt := fd.schema.Field(i).Type
		switch {
		case dt.ID() == arrow.UINT32:
			bufs = []*memory.Buffer{validity, memory.NewBufferBytes(arrow.Uint32Traits.CastToBytes(c.IDs))}
		case c.Type == flowlog.Int32:
			bufs = []*memory.Buffer{validity, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(c.Int32))}
		case c.Type == flowlog.Int64:
			bufs = []*memory.Buffer{validity, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(c.Int64))}
		default:
			data := c.Data
			if len(data) == 0 {
				data = []byte{0} // never read: every value is NULL or empty
			}
			bufs = []*memory.Buffer{validity, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(c.Offsets)), memory.NewBufferBytes(data)}
		}
		d := array.NewData(dt, n, bufs, nil, c.Nulls, 0)
		cols[i] = array.MakeFromData(d)
		d.Release()
	}
	rec := array.NewRecord(fd.schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// dictEncoded says which columns of format f are stored as dictionary ids.
func dictEncoded(f *flowlog.Format) []bool {
	out := make([]bool, f.Len())
	for i := range out {
		out[i] = physicalTable(f) == tableV2F && dictColumns[f.Field(i).Column]
	}
	return out
}
