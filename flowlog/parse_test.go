package flowlog

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flowloggen"
)

// The example records of the AWS reference (default format) and their
// values.
var referenceRecords = []struct {
	line string
	want []any
}{
	{flowloggen.Reference[0],
		[]any{int32(2), "123456789010", "eni-1235b8ca123456789", "172.31.16.139", "172.31.16.21", int32(20641), int32(22), int32(6), int64(20), int64(4249), int64(1418530010), int64(1418530070), "ACCEPT", "OK"}},
	{flowloggen.Reference[1],
		[]any{int32(2), "123456789010", "eni-1235b8ca123456789", "172.31.9.69", "172.31.9.12", int32(49761), int32(3389), int32(6), int64(20), int64(4249), int64(1418530010), int64(1418530070), "REJECT", "OK"}},
	{flowloggen.Reference[2],
		[]any{int32(2), "123456789010", "eni-1235b8ca123456789", nil, nil, nil, nil, nil, nil, nil, int64(1431280876), int64(1431280934), nil, "NODATA"}},
	{flowloggen.Reference[3],
		[]any{int32(2), "123456789010", "eni-11111111aaaaaaaaa", nil, nil, nil, nil, nil, nil, nil, int64(1431280876), int64(1431280934), nil, "SKIPDATA"}},
	{flowloggen.Reference[4],
		[]any{int32(2), "123456789010", "eni-1235b8ca123456789", "203.0.113.12", "172.31.16.139", int32(0), int32(0), int32(1), int64(4), int64(336), int64(1432917027), int64(1432917142), "ACCEPT", "OK"}},
	{flowloggen.Reference[5],
		[]any{int32(2), "123456789010", "eni-1235b8ca123456789", "172.31.16.139", "203.0.113.12", int32(0), int32(0), int32(1), int64(4), int64(336), int64(1432917094), int64(1432917142), "REJECT", "OK"}},
	{flowloggen.Reference[6],
		[]any{int32(2), "123456789010", "eni-1235b8ca123456789", "2001:db8:1234:a100:8d6e:3477:df66:f105", "2001:db8:1234:a102:3304:8879:34cf:4071", int32(34892), int32(22), int32(6), int64(54), int64(8855), int64(1477913708), int64(1477913820), "ACCEPT", "OK"}},
}

func TestReferenceRecords(t *testing.T) {
	b := NewBatch(Default, true)
	for _, r := range referenceRecords {
		if err := b.AppendLine([]byte(r.line)); err != nil {
			t.Fatalf("%s: %v", r.line, err)
		}
	}
	for row, r := range referenceRecords {
		for k, want := range r.want {
			if got := b.Value(row, k); got != want {
				t.Errorf("record %d field %s: %#v, want %#v", row+1, Default.Field(k).Name, got, want)
			}
		}
		if got := string(b.Text(row)); got != r.line {
			t.Errorf("record %d text %q", row+1, got)
		}
	}
}

func TestParseLine(t *testing.T) {
	custom, err := ParseFormat("${version} ${vpc-id} ${srcaddr} ${tcp-flags} ${traffic-path} ${encryption-status} ${reject-reason}")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		format *Format
		line   string
		want   []any
		err    string
	}{
		{"runs of spaces and tabs", Default, "  2  123 eni-1\t10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK \r", []any{int32(2), "123", "eni-1", "10.0.0.1", "10.0.0.2", int32(1), int32(2), int32(6), int64(3), int64(4), int64(5), int64(6), "ACCEPT", "OK"}, ""},
		{"custom v8", custom, "8 vpc-0a 10.0.0.1 19 1 2 -", []any{int32(8), "vpc-0a", "10.0.0.1", int32(19), int32(1), int32(2), nil}, ""},
		{"too few fields", Default, "2 123 eni-1 10.0.0.1", nil, "4 fields, the format has 14"},
		{"too many fields", custom, "8 vpc-0a 10.0.0.1 19 1 2 - extra", nil, "8 fields, the format has 7"},
		{"not a number", Default, "2 123 eni-1 10.0.0.1 10.0.0.2 http 2 6 3 4 5 6 ACCEPT OK", nil, `field 6 (srcport): "http" is not a non-negative 32-bit integer`},
		{"negative", Default, "2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 -3 4 5 6 ACCEPT OK", nil, `field 9 (packets): "-3" is not a non-negative 64-bit integer`},
		{"int32 overflow", custom, "8 vpc-0a 10.0.0.1 2147483648 1 2 -", nil, `field 4 (tcp-flags): "2147483648" is not a non-negative 32-bit integer`},
		{"int64 overflow", Default, "2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 99999999999999999999 5 6 ACCEPT OK", nil, "field 10 (bytes)"},
		{"empty", Default, "", nil, "0 fields, the format has 14"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := NewBatch(c.format, false)
			err := b.AppendLine([]byte(c.line))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrRecord) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				if b.Len() != 0 {
					t.Fatal("a bad record was appended")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range c.want {
				if got := b.Value(0, k); got != want {
					t.Errorf("field %s: %#v, want %#v", c.format.Field(k).Name, got, want)
				}
			}
		})
	}
}

// A bad record between good ones leaves no trace, and NULL bitmaps stay
// aligned across the 8-row boundaries of the bitmap.
func TestBatchNullsAcrossRows(t *testing.T) {
	b := NewBatch(Default, false)
	for i := range 20 {
		line := referenceRecords[i%len(referenceRecords)].line
		if i%5 == 4 {
			if b.AppendLine([]byte("2 bad")) == nil {
				t.Fatal("bad line accepted")
			}
		}
		if err := b.AppendLine([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		want := referenceRecords[i%len(referenceRecords)].want
		for k := range want {
			if got := b.Value(i, k); got != want[k] {
				t.Fatalf("row %d field %d: %#v, want %#v", i, k, got, want[k])
			}
		}
	}
}

func TestAppendLineAllocs(t *testing.T) {
	b := NewBatch(Default, false)
	line := []byte(referenceRecords[0].line)
	for range 5000 {
		b.AppendLine(line)
	}
	b.Reset()
	allocs := testing.AllocsPerRun(1000, func() {
		if err := b.AppendLine(line); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per record", allocs)
	}
}

func BenchmarkAppendLine(b *testing.B) {
	batch := NewBatch(Default, false)
	line := []byte(referenceRecords[0].line)
	b.SetBytes(int64(len(line)))
	for i := 0; b.Loop(); i++ {
		if batch.Len() == 100000 {
			batch.Reset()
		}
		batch.AppendLine(line)
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, r := range referenceRecords {
		f.Add(r.line)
	}
	f.Add("8 vpc-0a 10.0.0.1 19 1 2 -")
	f.Add("2  -\t- - - - - - - - - - - - -\r")
	custom := mustFormat("${version} ${vpc-id} ${srcaddr} ${tcp-flags} ${traffic-path} ${encryption-status} ${reject-reason}")
	f.Fuzz(func(t *testing.T, line string) {
		for _, format := range []*Format{Default, custom} {
			b := NewBatch(format, true)
			err := b.AppendLine([]byte(line))
			if err != nil {
				if b.Len() != 0 {
					t.Fatal("bad record appended")
				}
				continue
			}
			// Every accepted record has the format's field count and
			// reads back as the tokens it was made of.
			toks := strings.FieldsFunc(strings.TrimSuffix(line, "\r"), func(r rune) bool { return r == ' ' || r == '\t' })
			if len(toks) != format.Len() {
				t.Fatalf("%d tokens accepted for %d fields", len(toks), format.Len())
			}
			for k, tok := range toks {
				v := b.Value(0, k)
				if tok == "-" {
					if v != nil {
						t.Fatalf("'-' read back as %#v", v)
					}
					continue
				}
				if s, ok := v.(string); ok && s != tok {
					t.Fatalf("field %d: %q, want %q", k, s, tok)
				}
			}
		}
	})
}

// A record whose start or end lies more than MaxFuture ahead is a bad line:
// stored, it would pre-fill a future metric-filter period and flip that
// period's alarm later (as a future agent interval could a monitor's).
func TestFutureFlowLogRecordRefused(t *testing.T) {
	cases := []struct {
		name string
		line string
		err  string
	}{
		{"start in the year 2286", "2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 9999999999 9999999999 ACCEPT OK", "field 11 (start): 9999999999 is more than 10m0s in the future"},
		{"end in the future", fmt.Sprintf("2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 %d %d ACCEPT OK", time.Now().Unix(), time.Now().Add(time.Hour).Unix()), "field 12 (end)"},
		{"end just ahead (clock skew)", fmt.Sprintf("2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 %d ACCEPT OK", time.Now().Add(5*time.Minute).Unix()), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := NewBatch(Default, false)
			err := b.AppendLine([]byte(c.line))
			if c.err == "" {
				if err != nil || b.Len() != 1 {
					t.Fatalf("error %v, want the record stored", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrRecord) || b.Len() != 0 {
				t.Fatalf("error %v (%d records), want %q and nothing stored", err, b.Len(), c.err)
			}
		})
	}
}

type mapDict map[string]uint32

func (d mapDict) ID(v []byte) uint32 {
	if id, ok := d[string(v)]; ok {
		return id
	}
	d[string(v)] = uint32(len(d) + 1)
	return uint32(len(d))
}

// The columns a storage writer reads are the parsed values, NULLs in the
// validity bitmap only when a NULL was seen; dictionary ids are 0 where
// NULL; starts and texts follow the records.
func TestBatchColumnsForStorage(t *testing.T) {
	b := NewBatch(Default, true)
	for _, r := range referenceRecords {
		if err := b.AppendLine([]byte(r.line)); err != nil {
			t.Fatal(err)
		}
	}
	ver := b.Column(0)
	if ver.Type != Int32 || len(ver.Int32) != 7 || ver.Valid != nil || ver.Nulls != 0 {
		t.Errorf("version column %+v", ver)
	}
	src := b.Column(3)
	if src.Type != String || src.Nulls != 2 || src.Valid == nil || len(src.Offsets) != 8 ||
		string(src.Data[src.Offsets[1]:src.Offsets[2]]) != "172.31.9.69" {
		t.Errorf("srcaddr column %+v", src)
	}
	b.EncodeColumn(12, mapDict{"ACCEPT": 1, "REJECT": 2}) // action
	if got := fmt.Sprint(b.Column(12).IDs); got != "[1 2 0 0 1 2 1]" {
		t.Errorf("action ids %s", got)
	}
	if got := fmt.Sprint(b.Starts()); got != "[1418530010 1418530010 1431280876 1431280876 1432917027 1432917094 1477913708]" {
		t.Errorf("starts %s", got)
	}
	if texts := b.Texts(); len(texts) != 7 || texts[3] != referenceRecords[3].line || !b.KeepsText() {
		t.Errorf("texts %q", texts)
	}
	b.Reset()
	if b.Column(3).Nulls != 0 || b.Column(3).Valid != nil || len(b.Starts()) != 0 {
		t.Error("reset batch still has values")
	}
}
