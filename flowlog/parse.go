package flowlog

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// MaxFuture is how far past the importer's clock a record's start or end
// may lie. Flow-log records describe traffic that happened; one from the
// future could only pre-fill a future metric-filter period and flip its
// alarm later, so it is a bad record (the same 10 minutes of clock skew
// that agent reports get).
const MaxFuture = 10 * time.Minute

// ErrRecord marks a record that cannot be stored; LineError carries it.
var ErrRecord = errors.New("bad flow-log record")

// column is one field's values in a Batch, laid out as Arrow wants them:
// fixed-width values or offsets+bytes, and a validity bitmap (bit set =
// value present) that only exists once a NULL has been seen.
type column struct {
	typ   Type
	i32   []int32
	i64   []int64
	off   []int32 // len n+1 for strings
	data  []byte
	valid []byte
	nulls int
	ids   []uint32 // dictionary ids of a text column (EncodeColumn)
	time  bool     // start or end: bounded by Batch.latest
}

func (c *column) reset() {
	c.i32, c.i64, c.data, c.valid = c.i32[:0], c.i64[:0], c.data[:0], c.valid[:0]
	c.off = append(c.off[:0], 0)
	c.nulls = 0
}

// setValid records row's validity. The bitmap is materialized at the first
// NULL (every earlier row valid) and kept up to date from then on.
func (c *column) setValid(row int, ok bool) {
	if ok && c.nulls == 0 {
		return
	}
	if c.nulls == 0 { // first NULL: every earlier row was valid
		c.valid = c.valid[:0]
		for i := 0; i < row; i += 8 {
			c.valid = append(c.valid, 0xff)
		}
	}
	for len(c.valid) <= row/8 {
		c.valid = append(c.valid, 0)
	}
	if ok {
		c.valid[row/8] |= 1 << (row % 8)
	} else {
		c.valid[row/8] &^= 1 << (row % 8)
		c.nulls++
	}
}

// Batch is a column-wise set of parsed records of one format. The hot path
// (AppendLine) does not allocate once the slices have grown.
type Batch struct {
	format *Format
	cols   []column
	n      int

	// keepText keeps every record's line (for metric filters, which
	// match the text as written).
	keepText bool
	text     []byte
	textOff  []int32

	tok  [maxFields][2]int32
	ints [maxFields]int64

	// latest is the largest start or end accepted (Unix seconds), set
	// from the clock at every Reset.
	latest int64
}

// NewBatch returns an empty batch for records in format f.
func NewBatch(f *Format, keepText bool) *Batch {
	b := &Batch{format: f, cols: make([]column, f.Len()), keepText: keepText}
	for i := range b.cols {
		b.cols[i].typ = f.Field(i).Type
		name := f.Field(i).Name
		b.cols[i].time = name == "start" || name == "end"
	}
	b.Reset()
	return b
}

// Len is the number of records in the batch.
func (b *Batch) Len() int { return b.n }

// Format is the batch's format.
func (b *Batch) Format() *Format { return b.format }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	b.n = 0
	for i := range b.cols {
		b.cols[i].reset()
	}
	b.text = b.text[:0]
	b.textOff = append(b.textOff[:0], 0)
	b.latest = time.Now().Add(MaxFuture).Unix()
}

// LineError is a record that was skipped: where it is and why.
type LineError struct {
	File   string `json:"file"`
	Line   int64  `json:"line"`
	Reason string `json:"reason"`
}

func (e LineError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
}

func (e LineError) Unwrap() error { return ErrRecord }

// recordError is returned by AppendLine; the caller adds file and line.
type recordError string

func (e recordError) Error() string { return string(e) }
func (e recordError) Unwrap() error { return ErrRecord }

// isSpace: AWS separates fields with one space; runs of spaces and tabs
// are accepted too.
func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// AppendLine parses one record (without its newline) and appends it. A
// record that does not parse leaves the batch unchanged and returns an
// error naming the field. A trailing '\r' is ignored.
func (b *Batch) AppendLine(line []byte) error {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	nf := len(b.cols)
	count := 0
	for i := 0; i < len(line); {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			break
		}
		start := i
		for i < len(line) && !isSpace(line[i]) {
			i++
		}
		if count < nf {
			b.tok[count] = [2]int32{int32(start), int32(i)}
		}
		count++
	}
	if count != nf {
		return recordError(fmt.Sprintf("%d fields, the format has %d", count, nf))
	}
	// Check every number before appending anything, so that a bad record
	// leaves no partial row behind.
	for k := range nf {
		c := &b.cols[k]
		if c.typ == String {
			continue
		}
		t := line[b.tok[k][0]:b.tok[k][1]]
		if len(t) == 1 && t[0] == '-' {
			b.ints[k] = nullInt
			continue
		}
		v, ok := parseUint(t)
		if !ok || (c.typ == Int32 && v > 1<<31-1) {
			return recordError(fmt.Sprintf("field %d (%s): %s is not a %s integer", k+1, b.format.Field(k).Name,
				strconv.Quote(clip(string(t))), c.typ))
		}
		if c.time && v > b.latest {
			return recordError(fmt.Sprintf("field %d (%s): %d is more than %v in the future", k+1, b.format.Field(k).Name,
				v, MaxFuture))
		}
		b.ints[k] = v
	}
	row := b.n
	for k := range nf {
		c := &b.cols[k]
		t := line[b.tok[k][0]:b.tok[k][1]]
		switch c.typ {
		case String:
			null := len(t) == 1 && t[0] == '-'
			if !null {
				c.data = append(c.data, t...)
			}
			c.off = append(c.off, int32(len(c.data)))
			c.setValid(row, !null)
		case Int32:
			v := b.ints[k]
			c.i32 = append(c.i32, int32(v))
			c.setValid(row, v != nullInt)
		case Int64:
			v := b.ints[k]
			c.i64 = append(c.i64, v)
			c.setValid(row, v != nullInt)
		}
	}
	if b.keepText {
		b.text = append(b.text, line...)
		b.textOff = append(b.textOff, int32(len(b.text)))
	}
	b.n++
	return nil
}

// nullInt stands for '-' between checking and appending (no field value
// can be negative).
const nullInt = -1

// parseUint reads a non-negative decimal that fits in int64.
func parseUint(t []byte) (int64, bool) {
	if len(t) == 0 || len(t) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range t {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		v = v*10 + int64(d)
	}
	return v, true
}

// Value returns record row's field k as a Go value (nil for NULL): for
// tests and small reads, not the hot path.
func (b *Batch) Value(row, k int) any {
	c := &b.cols[k]
	if c.nulls > 0 && c.valid[row/8]&(1<<(row%8)) == 0 {
		return nil
	}
	switch c.typ {
	case Int32:
		return c.i32[row]
	case Int64:
		return c.i64[row]
	}
	return string(c.data[c.off[row]:c.off[row+1]])
}

// Text returns record row's line as it was read (keepText batches only).
func (b *Batch) Text(row int) []byte { return b.text[b.textOff[row]:b.textOff[row+1]] }

// KeepsText says whether the batch keeps every record's line (Texts).
func (b *Batch) KeepsText() bool { return b.keepText }

// Texts returns every line as strings sharing one allocation.
func (b *Batch) Texts() []string {
	all := string(b.text)
	out := make([]string, b.n)
	for i := range out {
		out[i] = all[b.textOff[i]:b.textOff[i+1]]
	}
	return out
}

// Starts returns every record's start (Unix seconds; 0 when absent).
func (b *Batch) Starts() []int64 {
	out := make([]int64, b.n)
	p := b.format.startPos
	if p < 0 {
		return out
	}
	c := &b.cols[p]
	for i := range out {
		if c.nulls == 0 || c.valid[i/8]&(1<<(i%8)) != 0 {
			out[i] = c.i64[i]
		}
	}
	return out
}

// Column is one field's values in a batch, laid out as Arrow wants them,
// for the storage that writes the batch: the slices are the batch's own
// (no copy), valid until the batch is reset, and must not be modified.
type Column struct {
	Type    Type
	Int32   []int32  // Int32 fields: one value per record
	Int64   []int64  // Int64 fields: one value per record
	Offsets []int32  // String fields: len records+1, into Data
	Data    []byte   // String fields: the values, back to back
	Valid   []byte   // validity bitmap (bit set = present); nil when Nulls == 0
	Nulls   int      // records where the field is NULL ('-')
	IDs     []uint32 // String fields after EncodeColumn: one id per record, 0 where NULL
}

// Column returns field k's values.
func (b *Batch) Column(k int) Column {
	c := &b.cols[k]
	col := Column{Type: c.typ, Int32: c.i32, Int64: c.i64, Offsets: c.off, Data: c.data, Nulls: c.nulls, IDs: c.ids}
	if c.nulls > 0 {
		col.Valid = c.valid
	}
	return col
}

// Dictionary gives text values integer ids, for storage that keeps a text
// column as ids into a table of its values.
type Dictionary interface {
	ID(value []byte) uint32
}

// EncodeColumn sets the ids of text field k from d (0 where NULL: never
// read, the validity bitmap says NULL); Column(k).IDs returns them. The
// storage's parser-side work (see importer.TextWriter.Prepare) runs it, so
// that encoding runs on the parser goroutines.
func (b *Batch) EncodeColumn(k int, d Dictionary) {
	c := &b.cols[k]
	c.ids = c.ids[:0]
	for r := range b.n {
		if c.nulls > 0 && c.valid[r/8]&(1<<(r%8)) == 0 {
			c.ids = append(c.ids, 0)
			continue
		}
		c.ids = append(c.ids, d.ID(c.data[c.off[r]:c.off[r+1]]))
	}
}

// Times returns every record's timestamp (Unix seconds): its start, else
// its end, else fallback (the file's time, see FileTime, or the ingestion
// time), so that every record has one.
func (b *Batch) Times(fallback int64) []int64 {
	out := make([]int64, b.n)
	pos := []int{b.format.startPos, b.format.endPos}
	for i := range out {
		out[i] = fallback
		for _, p := range pos {
			if p < 0 {
				continue
			}
			c := &b.cols[p]
			if c.nulls == 0 || c.valid[i/8]&(1<<(i%8)) != 0 {
				out[i] = c.i64[i]
				break
			}
		}
	}
	return out
}
