package flowlog

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// Scanner checks records exactly as Batch.AppendLine does (same field
// count, same integer checks, same bound on start and end, same errors)
// but stores nothing: it gives access to the fields of the last record
// scanned, without copies or allocations. It is for readers that need a
// few fields of millions of records (the diagnosis of REJECTs), where
// copying every field into columns would be most of the work.
type Scanner struct {
	format *Format
	types  []Type
	times  []bool // start or end: bounded by latest
	line   []byte
	tok    [maxFields][2]int32
	ints   [maxFields]int64
	latest int64
}

// NewScanner returns a Scanner for records in format f.
func NewScanner(f *Format) *Scanner {
	s := &Scanner{format: f, types: make([]Type, f.Len()), times: make([]bool, f.Len())}
	for i := range s.types {
		s.types[i] = f.Field(i).Type
		name := f.Field(i).Name
		s.times[i] = name == "start" || name == "end"
	}
	s.Reset()
	return s
}

// Reset takes the clock again for the bound on start and end (as
// Batch.Reset does); call it every few thousand records.
func (s *Scanner) Reset() { s.latest = time.Now().Add(MaxFuture).Unix() }

// Scan checks one record (without its newline); after a nil error, the
// accessors return its fields until the next Scan. The line is not
// copied: it must not change meanwhile. A trailing '\r' is ignored.
func (s *Scanner) Scan(line []byte) error {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	s.line = nil
	nf := len(s.types)
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
			s.tok[count] = [2]int32{int32(start), int32(i)}
		}
		count++
	}
	if count != nf {
		return recordError(fmt.Sprintf("%d fields, the format has %d", count, nf))
	}
	for k, typ := range s.types {
		if typ == String {
			continue
		}
		t := line[s.tok[k][0]:s.tok[k][1]]
		if len(t) == 1 && t[0] == '-' {
			s.ints[k] = nullInt
			continue
		}
		v, ok := parseUint(t)
		if !ok || (typ == Int32 && v > 1<<31-1) {
			return recordError(fmt.Sprintf("field %d (%s): %s is not a %s integer", k+1, s.format.Field(k).Name,
				strconv.Quote(clip(string(t))), typ))
		}
		if s.times[k] && v > s.latest {
			return recordError(fmt.Sprintf("field %d (%s): %d is more than %v in the future", k+1, s.format.Field(k).Name,
				v, MaxFuture))
		}
		s.ints[k] = v
	}
	s.line = line
	return nil
}

// Bytes returns string field k of the last record as it was read, without
// a copy (nil for NULL); false if field k is not a string field.
func (s *Scanner) Bytes(k int) ([]byte, bool) {
	if s.types[k] != String {
		return nil, false
	}
	t := s.line[s.tok[k][0]:s.tok[k][1]]
	if len(t) == 1 && t[0] == '-' {
		return nil, true
	}
	return t, true
}

// Int returns integer field k of the last record; false for NULL or a
// string field.
func (s *Scanner) Int(k int) (int64, bool) {
	if s.types[k] == String || s.ints[k] == nullInt {
		return 0, false
	}
	return s.ints[k], true
}

// Addr parses string field k of the last record as an IP address: false
// for NULL, a non-string field or text that is no address. A dotted-quad
// IPv4 address, what flow logs hold almost always, is parsed without
// allocating; anything else goes through netip.ParseAddr, so the same
// texts are accepted.
func (s *Scanner) Addr(k int) (netip.Addr, bool) {
	t, ok := s.Bytes(k)
	if !ok || t == nil {
		return netip.Addr{}, false
	}
	if a, ok := parseIPv4(t); ok {
		return a, true
	}
	a, err := netip.ParseAddr(string(t))
	return a, err == nil
}

// parseIPv4 reads the canonical dotted-quad form (four decimal fields of
// 0-255, no leading zeros), which netip.ParseAddr accepts with the same
// result; false for anything else, which the caller leaves to
// netip.ParseAddr.
func parseIPv4(t []byte) (netip.Addr, bool) {
	var ip [4]byte
	field, digits, v := 0, 0, 0
	for i := 0; i <= len(t); i++ {
		if i == len(t) || t[i] == '.' {
			if digits == 0 || field > 3 {
				return netip.Addr{}, false
			}
			ip[field] = byte(v)
			field, digits, v = field+1, 0, 0
			continue
		}
		d := int(t[i]) - '0'
		if d < 0 || d > 9 || (digits == 1 && v == 0) { // a leading zero
			return netip.Addr{}, false
		}
		v = v*10 + d
		digits++
		if v > 255 {
			return netip.Addr{}, false
		}
	}
	if field != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(ip), true
}
