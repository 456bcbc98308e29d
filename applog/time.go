package applog

import (
	"math"
	"strconv"
	"time"
)

// msThreshold separates epoch seconds from epoch milliseconds: a number
// at or above it is milliseconds (1e11 seconds is the year 5138, 1e11
// milliseconds is March 1973).
const msThreshold = 1e11

// parseTimeValue reads a JSON value as a time in Unix milliseconds: a
// string in RFC 3339 (fractions and offsets allowed), or a number (or a
// string holding one) of epoch seconds or milliseconds, fractions kept to
// the millisecond.
func parseTimeValue(v []byte) (int64, bool) {
	if len(v) >= 2 && v[0] == '"' {
		text := string(v[1 : len(v)-1])
		if t, err := time.Parse(time.RFC3339Nano, text); err == nil {
			return t.UnixMilli(), true
		}
		return epoch(text)
	}
	return epoch(string(v))
}

func epoch(text string) (int64, bool) {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	if f < msThreshold {
		f *= 1000
	}
	if f > math.MaxInt64/2 {
		return 0, false
	}
	return int64(math.Floor(f)), true
}
