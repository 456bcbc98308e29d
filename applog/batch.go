package applog

import (
	"bytes"
	"fmt"
	"time"
)

// DefaultMaxLineBytes bounds one event's message, as CloudWatch Logs
// bounds a PutLogEvents event (256 KiB per event); a longer line is a bad
// line, not cut.
const DefaultMaxLineBytes = 256 << 10

// MaxFuture is how far past the ingestion time an event's own timestamp
// may lie: further is a bad line (the flow logs' bound, flowlog.MaxFuture;
// CloudWatch refuses events more than 2 hours ahead). A future event would
// pre-fill a metric-filter period.
const MaxFuture = 10 * time.Minute

// Options say how lines are read.
type Options struct {
	// JSONLines: every line must be a JSON object (application/x-ndjson);
	// otherwise lines that are not JSON are plain-text events.
	JSONLines bool
	// MaxLineBytes bounds a line (default DefaultMaxLineBytes).
	MaxLineBytes int
	// IngestionMs is the ingestion time (Unix ms): @ingestionTime, and
	// @timestamp of events without a time of their own.
	IngestionMs int64
}

// Batch is a run of parsed events in Arrow-shaped columns (offsets and
// data for text, a validity bitmap for the discovered fields), handed to
// the store without copies.
type Batch struct {
	Times      []int64
	MsgOffsets []int32 // len = Len()+1
	MsgData    []byte
	// JSON has bit i set when event i is one JSON object (its fields
	// are discovered).
	JSON []byte
	// Capped counts events with more than MaxFields fields (the rest
	// stay in @message); BadTimes events whose timestamp field was not a
	// time (they take the ingestion time).
	Capped, BadTimes int
}

// Len is the number of events.
func (b *Batch) Len() int { return len(b.Times) }

// Message is event i's text (a copy-free view).
func (b *Batch) Message(i int) []byte { return b.MsgData[b.MsgOffsets[i]:b.MsgOffsets[i+1]] }

// IsJSON says whether event i is one JSON object.
func (b *Batch) IsJSON(i int) bool { return b.JSON[i/8]&(1<<(i%8)) != 0 }

// FieldsJSON is event i's discovered fields as a flat JSON object, nil
// when it has none (computed again: the batch keeps only the message).
func (b *Batch) FieldsJSON(i int) []byte {
	if !b.IsJSON(i) {
		return nil
	}
	d, _, _ := Discover(nil, b.Message(i))
	if d.N == 0 {
		return nil
	}
	return d.Fields
}

// Reset empties b, keeping its memory.
func (b *Batch) Reset() {
	*b = Batch{Times: b.Times[:0], MsgOffsets: append(b.MsgOffsets[:0], 0), MsgData: b.MsgData[:0], JSON: b.JSON[:0]}
}

// LineError is one refused line: its number (from 1) in the body, and why.
type LineError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Parse appends the events of chunk (whole lines; firstLine is the number
// of its first line) to b and returns the refused lines. Empty lines are
// skipped (CloudWatch has no empty events); a trailing "\r" is dropped.
func Parse(b *Batch, chunk []byte, firstLine int, opt Options) []LineError {
	if opt.MaxLineBytes <= 0 {
		opt.MaxLineBytes = DefaultMaxLineBytes
	}
	if len(b.MsgOffsets) == 0 {
		b.Reset()
	}
	maxTime := opt.IngestionMs + MaxFuture.Milliseconds()
	var errs []LineError
	line := firstLine - 1
	for len(chunk) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			l, chunk = chunk[:i], chunk[i+1:]
		} else {
			l, chunk = chunk, nil
		}
		if n := len(l); n > 0 && l[n-1] == '\r' {
			l = l[:n-1]
		}
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		if len(l) > opt.MaxLineBytes {
			errs = append(errs, LineError{line, fmt.Sprintf("%d bytes: longer than the %d-byte limit", len(l), opt.MaxLineBytes)})
			continue
		}
		if err := b.add(l, opt, maxTime); err != "" {
			errs = append(errs, LineError{line, err})
		}
	}
	return errs
}

// add appends one line; a non-empty result is why it was refused.
func (b *Batch) add(l []byte, opt Options, maxTime int64) string {
	n := len(b.Times)
	d, ok := Check(l)
	ts := opt.IngestionMs
	switch {
	case ok:
		if d.HasTime {
			if d.TimeMs > maxTime {
				return fmt.Sprintf("timestamp %s is more than %s after the ingestion time", time.UnixMilli(d.TimeMs).UTC().Format(time.RFC3339Nano), MaxFuture)
			}
			ts = d.TimeMs
		} else if d.BadTime != "" {
			b.BadTimes++
		}
		if d.Capped {
			b.Capped++
		}
	case opt.JSONLines:
		return "not a JSON object (application/x-ndjson wants one per line; send text/plain for other text)"
	}
	if n%8 == 0 {
		b.JSON = append(b.JSON, 0)
	}
	if ok {
		b.JSON[n/8] |= 1 << (n % 8)
	}
	b.Times = append(b.Times, ts)
	b.MsgData = append(b.MsgData, l...)
	b.MsgOffsets = append(b.MsgOffsets, int32(len(b.MsgData)))
	return ""
}
