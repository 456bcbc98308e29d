package flowlog

import (
	"errors"
	"fmt"
	"strings"
)

// ErrFormat marks a format that cannot be used: empty, an unknown field, a
// field given twice, or text outside ${field} tokens.
var ErrFormat = errors.New("bad flow-log format")

// maxFields bounds a format: every known field once.
const maxFields = 64

// Format is the order of the fields in a record. It is immutable.
type Format struct {
	idx      []uint8 // indexes into Fields, in record order
	version  int     // the highest version among the fields
	startPos int     // position of start, or -1
}

// Default is the version 2 default format.
var Default = mustFormat(DefaultFormat)

func mustFormat(s string) *Format {
	f, err := ParseFormat(s)
	if err != nil {
		panic(err)
	}
	return f
}

// fieldIndex maps an AWS field name to its index in Fields.
var fieldIndex = func() map[string]uint8 {
	m := make(map[string]uint8, len(Fields))
	for i, f := range Fields {
		m[f.Name] = uint8(i)
	}
	return m
}()

// ParseFormat reads a format written as ${field} tokens separated by
// spaces, as in the AWS console and API: "${version} ${srcaddr} ...".
func ParseFormat(s string) (*Format, error) {
	var names []string
	rest := strings.TrimSpace(s)
	col := 1 + len(s) - len(strings.TrimLeft(s, " \t"))
	for rest != "" {
		if !strings.HasPrefix(rest, "${") {
			return nil, fmt.Errorf("%w: column %d: want ${field}, found %q", ErrFormat, col, clip(rest))
		}
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return nil, fmt.Errorf("%w: column %d: unterminated %q", ErrFormat, col, clip(rest))
		}
		names = append(names, rest[2:end])
		next := strings.TrimLeft(rest[end+1:], " \t")
		if next != "" && len(next) == len(rest[end+1:]) {
			return nil, fmt.Errorf("%w: column %d: want a space after %q", ErrFormat, col, rest[:end+1])
		}
		col += len(rest) - len(next)
		rest = next
	}
	return newFormat(names)
}

// ParseHeader reads the header line of an S3 text file: field names
// separated by spaces ("version account-id interface-id ...").
func ParseHeader(line string) (*Format, error) {
	return newFormat(strings.Fields(line))
}

// IsHeader says whether line is a header: every token is a field name.
// No record can look like one: records hold numbers, addresses, ids and
// upper-case words, never a lower-case field name in every position.
func IsHeader(line []byte) bool {
	toks := strings.Fields(string(line))
	if len(toks) == 0 {
		return false
	}
	for _, t := range toks {
		if _, ok := fieldIndex[t]; !ok {
			return false
		}
	}
	return true
}

func newFormat(names []string) (*Format, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no fields", ErrFormat)
	}
	f := &Format{startPos: -1}
	seen := make(map[uint8]bool, len(names))
	for i, n := range names {
		ix, ok := fieldIndex[n]
		if !ok {
			return nil, fmt.Errorf("%w: field %d: unknown field %q%s", ErrFormat, i+1, clip(n), suggest(n))
		}
		if seen[ix] {
			return nil, fmt.Errorf("%w: field %d: %q given twice", ErrFormat, i+1, n)
		}
		seen[ix] = true
		f.idx = append(f.idx, ix)
		f.version = max(f.version, Fields[ix].Version)
		if n == "start" {
			f.startPos = i
		}
	}
	return f, nil
}

// suggest names the field a typo probably meant (Logs Insights names and
// underscores are the usual mistakes).
func suggest(n string) string {
	for _, f := range Fields {
		if strings.EqualFold(n, f.Query) || n == f.Column || strings.EqualFold(strings.ReplaceAll(n, "_", "-"), f.Name) {
			return fmt.Sprintf(" (did you mean %q?)", f.Name)
		}
	}
	return ""
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// ColumnsFormat is the format of records stored as named columns (Parquet
// files as AWS delivers them): each column is a field's AWS name or its
// name with '_' for '-' (account_id, pkt_src_aws_service), in column order.
func ColumnsFormat(columns []string) (*Format, error) {
	names := make([]string, len(columns))
	for i, c := range columns {
		f, ok := FieldByName(strings.ReplaceAll(c, "_", "-"))
		if !ok {
			return nil, fmt.Errorf("column %q: %w: unknown field%s", c, ErrFormat, suggest(c))
		}
		names[i] = f.Name
	}
	f, err := newFormat(names)
	if err != nil {
		return nil, fmt.Errorf("columns: %w", err)
	}
	return f, nil
}

// Position is the index of the field named name (AWS name) in a record,
// or -1 when the format does not have it.
func (f *Format) Position(name string) int {
	for i, ix := range f.idx {
		if Fields[ix].Name == name {
			return i
		}
	}
	return -1
}

// Len is the number of fields in a record.
func (f *Format) Len() int { return len(f.idx) }

// Field returns the i-th field of a record.
func (f *Format) Field(i int) Field { return Fields[f.idx[i]] }

// Version is the version of records in this format: the highest version
// among its fields (AWS: "the version is the highest version among the
// specified fields"); resource-id and encryption-status count as 8.
func (f *Format) Version() int { return f.version }

// Names is the field names joined by one space: the header line of a file
// in this format, and the key of flowlog_formats.
func (f *Format) Names() string {
	var b strings.Builder
	for i, ix := range f.idx {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(Fields[ix].Name)
	}
	return b.String()
}

// String is the format as ${field} tokens.
func (f *Format) String() string {
	var b strings.Builder
	for i, ix := range f.idx {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("${" + Fields[ix].Name + "}")
	}
	return b.String()
}

// Equal says whether both formats list the same fields in the same order.
func (f *Format) Equal(g *Format) bool {
	if len(f.idx) != len(g.idx) {
		return false
	}
	for i := range f.idx {
		if f.idx[i] != g.idx[i] {
			return false
		}
	}
	return true
}

func (t Type) String() string {
	switch t {
	case Int32:
		return "non-negative 32-bit"
	case Int64:
		return "non-negative 64-bit"
	}
	return "string"
}
