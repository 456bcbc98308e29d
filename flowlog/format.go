package flowlog

import (
	"errors"
	"fmt"
	"strings"
)

// ErrFormat marks a format that cannot be used: empty, a name that cannot
// be a field, a field given twice, or text outside ${field} tokens.
var ErrFormat = errors.New("bad flow-log format")

// maxFields bounds a format: every known field once, and room for fields
// AWS adds later.
const maxFields = 96

// maxNameLen bounds the name of a field the catalogue does not know.
const maxNameLen = 64

// Format is the order of the fields in a record. It is immutable.
type Format struct {
	fields   []Field // in record order; Unknown ones are kept as text
	version  int     // the highest version among the known fields
	startPos int     // position of start, or -1
	endPos   int     // position of end, or -1
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
var fieldIndex = func() map[string]int {
	m := make(map[string]int, len(Fields))
	for i, f := range Fields {
		m[f.Name] = i
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

// IsHeader says whether line is a header: every token could be a field
// name (lower-case letters, digits and dashes) and more than half of them
// are fields of the catalogue, so that a header naming a field AWS added
// later is still one. No record looks like that: records hold numbers,
// addresses, "-", ids with digits and upper-case words (ACCEPT, OK, IPv4).
func IsHeader(line []byte) bool {
	toks := strings.Fields(string(line))
	if len(toks) == 0 {
		return false
	}
	known := 0
	for _, t := range toks {
		if _, ok := fieldIndex[t]; ok {
			known++
			continue
		}
		if !headerName(t) {
			return false
		}
	}
	return 2*known > len(toks)
}

// headerName: how AWS spells field names (lower case, digits, dashes).
func headerName(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return t != "" && t[0] >= 'a' && t[0] <= 'z'
}

// validName says whether a name the catalogue does not know can still be
// a field: 1-64 letters, digits, '-' and '_', starting with a letter.
func validName(n string) bool {
	if n == "" || len(n) > maxNameLen {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	c := n[0]
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func newFormat(names []string) (*Format, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no fields", ErrFormat)
	}
	if len(names) > maxFields {
		return nil, fmt.Errorf("%w: %d fields, at most %d", ErrFormat, len(names), maxFields)
	}
	f := &Format{startPos: -1, endPos: -1}
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		fd, ok := FieldByName(n)
		if !ok {
			if !validName(n) {
				return nil, fmt.Errorf("%w: field %d: %q is not a field name (letters, digits, '-' and '_', at most %d)",
					ErrFormat, i+1, clip(n), maxNameLen)
			}
			fd = unknownField(n)
		}
		if seen[n] {
			return nil, fmt.Errorf("%w: field %d: %q given twice", ErrFormat, i+1, n)
		}
		seen[n] = true
		f.fields = append(f.fields, fd)
		f.version = max(f.version, fd.Version)
		switch n {
		case "start":
			f.startPos = i
		case "end":
			f.endPos = i
		}
	}
	if f.version == 0 {
		f.version = 2 // only unknown fields: the lowest version there is
	}
	return f, nil
}

// Unknown lists the fields of f the catalogue does not know (kept as
// text), each with a "did you mean" when it looks like a known one's
// misspelling, for the one warning an import gives about them.
func (f *Format) Unknown() []string {
	var out []string
	for _, fd := range f.fields {
		if fd.Unknown {
			out = append(out, fd.Name+suggest(fd.Name))
		}
	}
	return out
}

// UnknownWarning is the warning an import gives for a format with fields
// the catalogue does not know, "" when it has none.
func (f *Format) UnknownWarning() string {
	u := f.Unknown()
	if len(u) == 0 {
		return ""
	}
	return fmt.Sprintf("unknown field(s) %s stored as text (queryable by their camelCase name)", strings.Join(u, ", "))
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

// ColumnName is the field a column of a Parquet file (or any named-column
// source) stands for: a field's AWS name or its name with '_' for '-'
// (account_id, pkt_src_aws_service, as AWS's Parquet delivery names them);
// another column's name with '_' as '-' (an unknown field).
func ColumnName(column string) string {
	return strings.ReplaceAll(strings.TrimSpace(column), "_", "-")
}

// ColumnsFormat is the format of records stored as named columns (Parquet
// files as AWS delivers them), in column order (ColumnName).
func ColumnsFormat(columns []string) (*Format, error) {
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = ColumnName(c)
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
	for i, fd := range f.fields {
		if fd.Name == name {
			return i
		}
	}
	return -1
}

// Len is the number of fields in a record.
func (f *Format) Len() int { return len(f.fields) }

// Field returns the i-th field of a record.
func (f *Format) Field(i int) Field { return f.fields[i] }

// HasTime says whether records of f carry their own time (start or end).
func (f *Format) HasTime() bool { return f.startPos >= 0 || f.endPos >= 0 }

// HasStart says whether records of f have a start field.
func (f *Format) HasStart() bool { return f.startPos >= 0 }

// UnknownIndex is the position of field i among f's unknown fields (its
// place in a stored record's list of extra values), or -1 when field i is
// known.
func (f *Format) UnknownIndex(i int) int {
	if !f.fields[i].Unknown {
		return -1
	}
	n := 0
	for _, fd := range f.fields[:i] {
		if fd.Unknown {
			n++
		}
	}
	return n
}

// Version is the version of records in this format: the highest version
// among its fields (AWS: "the version is the highest version among the
// specified fields"); resource-id and encryption-status count as 8.
func (f *Format) Version() int { return f.version }

// Names is the field names joined by one space: the header line of a file
// in this format, and the key of flowlog_formats.
func (f *Format) Names() string {
	var b strings.Builder
	for i, fd := range f.fields {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(fd.Name)
	}
	return b.String()
}

// String is the format as ${field} tokens.
func (f *Format) String() string {
	var b strings.Builder
	for i, fd := range f.fields {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("${" + fd.Name + "}")
	}
	return b.String()
}

// Equal says whether both formats list the same fields in the same order.
func (f *Format) Equal(g *Format) bool {
	if len(f.fields) != len(g.fields) {
		return false
	}
	for i := range f.fields {
		if f.fields[i].Name != g.fields[i].Name {
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
