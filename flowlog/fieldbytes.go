package flowlog

import "net/netip"

// Zero-allocation accessors of a Batch's fields, for readers that walk
// millions of records (the diagnosis of REJECTs) and cannot afford Value's
// boxing and string copies.

// Bytes returns record row's string field k as it was read, without a copy
// (nil for NULL). The slice is valid until the next Reset; false if field k
// is not a string field.
func (b *Batch) Bytes(row, k int) ([]byte, bool) {
	c := &b.cols[k]
	if c.typ != String {
		return nil, false
	}
	if c.nulls > 0 && c.valid[row/8]&(1<<(row%8)) == 0 {
		return nil, true
	}
	return c.data[c.off[row]:c.off[row+1]], true
}

// Int returns record row's integer field k; false for NULL or a string
// field.
func (b *Batch) Int(row, k int) (int64, bool) {
	c := &b.cols[k]
	if c.nulls > 0 && c.valid[row/8]&(1<<(row%8)) == 0 {
		return 0, false
	}
	switch c.typ {
	case Int32:
		return int64(c.i32[row]), true
	case Int64:
		return c.i64[row], true
	}
	return 0, false
}

// Addr parses record row's string field k as an IP address: false for
// NULL, a non-string field or text that is no address. A dotted-quad IPv4
// address, what flow logs hold almost always, is parsed without
// allocating; anything else goes through netip.ParseAddr, so the same
// texts are accepted.
func (b *Batch) Addr(row, k int) (netip.Addr, bool) {
	t, ok := b.Bytes(row, k)
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
