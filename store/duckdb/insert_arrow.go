//go:build !no_duckdb_arrow

package duckdb

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/flowlens/flowlens/store/duckdb/arrowview"
)

// feedView is the temporary view, private to the writer connection, over
// which every Write's record is inserted.
const feedView = "flowlens_flows_feed"

// arrowInserter streams flows columns into DuckDB as one Arrow record per
// Write, without copying them: the arrays point at flowColumns' slices.
//
// The view is registered once per connection and fed a new record per
// Write (see internal/arrowview: a view per Write pinned about 300 bytes
// per row, 6 MB per 20k-row write).
type arrowInserter struct {
	view   *arrowview.View
	bitmap []byte
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
	view, err := arrowview.Register(dc, feedView, flowsSchema)
	if err != nil {
		return nil, err
	}
	return &arrowInserter{view: view}, nil
}

func (a *arrowInserter) name() string { return "arrow" }

func (a *arrowInserter) insert(ctx context.Context, dc any, c *flowColumns) error {
	rec := a.record(c)
	a.view.Stage(rec)
	rec.Release()
	defer a.view.Drop()
	return execSQL(ctx, dc, "INSERT INTO flows ("+flowsColumnList+") SELECT "+flowsColumnList+" FROM "+feedView)
}

func (a *arrowInserter) close(dc any) error {
	return a.view.Close(context.Background(), dc)
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
