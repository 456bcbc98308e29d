// Package applog is the log groups of any text (issue 15 item 5): lines
// posted as plain text or JSON lines become events with @message (the
// line), @timestamp (a JSON timestamp/time field, else the ingestion
// time), @ingestionTime, and, as CloudWatch Logs Insights does, the
// fields of a JSON line discovered automatically (nested keys joined with
// dots, array elements by index). Pure Go: the storage lives in
// store/duckdb/applogs, the server side in applog/applogapi.
package applog

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// MaxFields is how many fields one JSON event may give: Logs Insights
// extracts at most 200 fields of a JSON log event ("parse" page: "You can
// only parse JSON log events that include no more than 200 log event
// fields"); the rest of the event stays in @message, for parse.
const MaxFields = 200

// maxDepth bounds the nesting the scanner follows (recursion depth);
// deeper values are kept whole in @message only.
const maxDepth = 64

var errNotJSON = errors.New("not a JSON object")

// Discovered is what Discover found in one line.
type Discovered struct {
	// Fields is a flat JSON object: every leaf of the line (strings,
	// numbers, true, false, null) under its dotted name, in the line's
	// order, at most MaxFields of them; values as written in the line.
	Fields []byte
	N      int  // fields in Fields
	Capped bool // the line had more than MaxFields leaves
	// TimeMs is the top-level "timestamp" (else "time") field read as a
	// time, when HasTime.
	TimeMs  int64
	HasTime bool
	// BadTime is the text of a timestamp/time field that is not a time
	// (the event then takes the ingestion time).
	BadTime string
}

// Discover flattens line if it is one JSON object (RFC 8259, valid
// UTF-8), appending the flat object to dst; ok is false for anything
// else (a plain-text line), and dst is then returned unchanged. The line
// is scanned once without allocations beyond dst's growth.
func Discover(dst []byte, line []byte) (d Discovered, out []byte, ok bool) {
	return discover(dst, line, true)
}

// Check is Discover without writing the fields (Fields is nil; N and
// Capped still count them): what the import needs, the storage reading
// fields from @message itself.
func Check(line []byte) (Discovered, bool) {
	d, _, ok := discover(nil, line, false)
	return d, ok
}

func discover(dst []byte, line []byte, write bool) (d Discovered, out []byte, ok bool) {
	if !utf8.Valid(line) {
		return d, dst, false
	}
	s := scanner{src: line, dst: dst, start: len(dst), write: write}
	s.skipSpace()
	if s.i >= len(line) || line[s.i] != '{' {
		return d, dst, false
	}
	if write {
		s.dst = append(s.dst, '{')
	}
	if err := s.object(0, 0, true); err != nil {
		return Discovered{}, dst, false
	}
	s.skipSpace()
	if s.i != len(line) {
		return Discovered{}, dst, false
	}
	if write {
		s.dst = append(s.dst, '}')
	}
	d = Discovered{N: s.n, Capped: s.capped}
	if write {
		d.Fields = s.dst[s.start:]
	}
	if s.tsEnd > 0 {
		d.TimeMs, d.HasTime = parseTimeValue(line[s.tsStart:s.tsEnd])
		if !d.HasTime {
			d.BadTime = string(line[s.tsStart:s.tsEnd])
		}
	}
	return d, s.dst, true
}

// scanner walks a JSON text, writing each leaf to dst as "path":value.
// The path is kept in key: the raw (still escaped) keys joined by dots.
type scanner struct {
	src    []byte
	i      int
	dst    []byte
	start  int
	key    []byte
	n      int
	capped bool
	// tsStart..tsEnd is the value of the top-level timestamp field
	// ("timestamp" wins over "time").
	tsStart, tsEnd int
	tsIsTimestamp  bool
	write          bool // write the fields to dst (else only count them)
}

func (s *scanner) skipSpace() {
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// object scans an object whose '{' is at s.i; keyLen is the length of the
// path prefix in s.key.
func (s *scanner) object(depth, keyLen int, top bool) error {
	s.i++ // '{'
	s.skipSpace()
	if s.i < len(s.src) && s.src[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.skipSpace()
		ks, ke, err := s.str()
		if err != nil {
			return err
		}
		s.skipSpace()
		if s.i >= len(s.src) || s.src[s.i] != ':' {
			return errNotJSON
		}
		s.i++
		s.skipSpace()
		if s.write {
			s.key = s.key[:keyLen]
			if keyLen > 0 {
				s.key = append(s.key, '.')
			}
			s.key = append(s.key, s.src[ks+1:ke-1]...)
		}
		vs := s.i
		if err := s.value(depth+1, len(s.key)); err != nil {
			return err
		}
		if top {
			s.noteTime(s.src[ks+1:ke-1], vs, s.i)
		}
		s.skipSpace()
		if s.i >= len(s.src) {
			return errNotJSON
		}
		switch s.src[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return errNotJSON
		}
	}
}

// noteTime remembers the value of a top-level timestamp or time field.
func (s *scanner) noteTime(key []byte, vs, ve int) {
	switch string(key) {
	case "timestamp":
		s.tsStart, s.tsEnd, s.tsIsTimestamp = vs, ve, true
	case "time":
		if !s.tsIsTimestamp {
			s.tsStart, s.tsEnd = vs, ve
		}
	}
}

func (s *scanner) array(depth, keyLen int) error {
	s.i++ // '['
	s.skipSpace()
	if s.i < len(s.src) && s.src[s.i] == ']' {
		s.i++
		return nil
	}
	for idx := 0; ; idx++ {
		s.skipSpace()
		if s.write {
			s.key = s.key[:keyLen]
			if keyLen > 0 {
				s.key = append(s.key, '.')
			}
			s.key = strconv.AppendInt(s.key, int64(idx), 10)
		}
		if err := s.value(depth+1, len(s.key)); err != nil {
			return err
		}
		s.skipSpace()
		if s.i >= len(s.src) {
			return errNotJSON
		}
		switch s.src[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return errNotJSON
		}
	}
}

// value scans one value at s.i; leaves are written under s.key[:keyLen].
func (s *scanner) value(depth, keyLen int) error {
	if s.i >= len(s.src) {
		return errNotJSON
	}
	if depth > maxDepth {
		return errNotJSON
	}
	start := s.i
	switch c := s.src[s.i]; {
	case c == '{':
		return s.object(depth, keyLen, false)
	case c == '[':
		return s.array(depth, keyLen)
	case c == '"':
		if _, _, err := s.str(); err != nil {
			return err
		}
	case c == '-' || c >= '0' && c <= '9':
		if err := s.number(); err != nil {
			return err
		}
	default:
		if !s.literal("true") && !s.literal("false") && !s.literal("null") {
			return errNotJSON
		}
	}
	s.leaf(keyLen, s.src[start:s.i])
	return nil
}

// leaf writes "key":value unless MaxFields are already written.
func (s *scanner) leaf(keyLen int, v []byte) {
	if s.n >= MaxFields {
		s.capped = true
		return
	}
	if !s.write {
		s.n++
		return
	}
	if s.n > 0 {
		s.dst = append(s.dst, ',')
	}
	s.n++
	s.dst = append(s.dst, '"')
	s.dst = append(s.dst, s.key[:keyLen]...)
	s.dst = append(s.dst, '"', ':')
	s.dst = append(s.dst, v...)
}

func (s *scanner) literal(lit string) bool {
	if len(s.src)-s.i >= len(lit) && string(s.src[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// str scans a string at s.i and returns its bounds (quotes included).
func (s *scanner) str() (int, int, error) {
	if s.i >= len(s.src) || s.src[s.i] != '"' {
		return 0, 0, errNotJSON
	}
	start := s.i
	s.i++
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == '"':
			s.i++
			return start, s.i, nil
		case c < 0x20:
			return 0, 0, errNotJSON
		case c == '\\':
			s.i++
			if s.i >= len(s.src) {
				return 0, 0, errNotJSON
			}
			switch s.src[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.src)-s.i < 5 || !isHex4(s.src[s.i+1:s.i+5]) {
					return 0, 0, errNotJSON
				}
				s.i += 5
			default:
				return 0, 0, errNotJSON
			}
		default:
			s.i++
		}
	}
	return 0, 0, errNotJSON
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// number scans an RFC 8259 number at s.i.
func (s *scanner) number() error {
	if s.src[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.src) && s.src[s.i] == '0':
		s.i++
	case s.i < len(s.src) && s.src[s.i] >= '1' && s.src[s.i] <= '9':
		s.digits()
	default:
		return errNotJSON
	}
	if s.i < len(s.src) && s.src[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return errNotJSON
		}
	}
	if s.i < len(s.src) && (s.src[s.i] == 'e' || s.src[s.i] == 'E') {
		s.i++
		if s.i < len(s.src) && (s.src[s.i] == '+' || s.src[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return errNotJSON
		}
	}
	return nil
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.src) && s.src[s.i] >= '0' && s.src[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}
