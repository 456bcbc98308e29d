package applog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
)

// chunkBytes is the text one parser goroutine takes at a time.
const chunkBytes = 4 << 20

// DefaultMaxErrors is how many refused lines a summary lists.
const DefaultMaxErrors = 100

// Summary is the answer to one put: events stored, lines refused (the
// first MaxErrors of them with their reason), events whose JSON had more
// than MaxFields fields or a timestamp field that is not a time.
type Summary struct {
	Group    string      `json:"group"`
	Events   int64       `json:"events"`
	BadLines int64       `json:"bad_lines"`
	Errors   []LineError `json:"errors,omitempty"`
	Capped   int64       `json:"capped_events,omitempty"`
	BadTimes int64       `json:"bad_timestamps,omitempty"`
	Bytes    int64       `json:"bytes"`
	// DurationMs is the time from the first byte read to the commit.
	DurationMs int64 `json:"duration_ms"`
}

// ReadOptions tune Read; zero values take defaults.
type ReadOptions struct {
	Options
	Workers   int // parser goroutines (default GOMAXPROCS)
	MaxErrors int // refused lines listed (default DefaultMaxErrors)
}

type job struct {
	data      []byte
	firstLine int
	batch     *Batch
	errs      []LineError
	done      chan struct{}
}

// Read parses r's lines on several goroutines and hands the batches to
// write in the body's order (write runs on the caller's goroutine, one
// batch at a time). Memory is bounded: a few chunks per worker.
func Read(ctx context.Context, r io.Reader, opt ReadOptions, sum *Summary, write func(*Batch) error) error {
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.MaxErrors <= 0 {
		opt.MaxErrors = DefaultMaxErrors
	}
	if opt.MaxLineBytes <= 0 {
		opt.MaxLineBytes = DefaultMaxLineBytes
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan *job, opt.Workers)
	order := make(chan *job, 2*opt.Workers)
	for range opt.Workers {
		go func() {
			for j := range jobs {
				j.batch = &Batch{}
				j.errs = Parse(j.batch, j.data, j.firstLine, opt.Options)
				close(j.done)
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(jobs)
		readErr <- split(ctx, r, opt.MaxLineBytes, &sum.Bytes, func(j *job) bool {
			select {
			case order <- j:
			case <-ctx.Done():
				return false
			}
			if j.batch != nil { // already parsed (a refused line)
				return true
			}
			select {
			case jobs <- j:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	var werr error
	for j := range order {
		if werr != nil {
			continue // drain: the reader stops at the cancel
		}
		select {
		case <-j.done:
		case <-ctx.Done():
			werr = ctx.Err()
			continue
		}
		sum.Events += int64(j.batch.Len())
		sum.Capped += int64(j.batch.Capped)
		sum.BadTimes += int64(j.batch.BadTimes)
		sum.addErrors(j.errs, opt.MaxErrors)
		if werr = write(j.batch); werr != nil {
			cancel()
		}
	}
	if werr != nil {
		return werr
	}
	return <-readErr
}

func (s *Summary) addErrors(errs []LineError, max int) {
	s.BadLines += int64(len(errs))
	for _, e := range errs {
		if len(s.Errors) >= max {
			return
		}
		s.Errors = append(s.Errors, e)
	}
}

// split cuts r into chunks of whole lines. A line longer than
// maxLine that does not fit a chunk is counted as refused and skipped to
// its end here, so chunks stay bounded.
func split(ctx context.Context, r io.Reader, maxLine int, bytesRead *int64, emit func(*job) bool) error {
	size := max(chunkBytes, 2*maxLine+2)
	line := 1
	var carry []byte
	skipping := false // inside an over-long line: drop up to its newline
	for {
		buf := make([]byte, size)
		n := copy(buf, carry)
		m, err := io.ReadFull(r, buf[n:])
		*bytesRead += int64(m)
		buf = buf[:n+m]
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return fmt.Errorf("read body: %w", err)
		}
		if skipping {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				carry = nil
				if eof {
					return nil
				}
				continue
			}
			buf, skipping = buf[i+1:], false
			line++
		}
		cut := len(buf)
		if !eof {
			cut = bytes.LastIndexByte(buf, '\n') + 1
			if cut == 0 { // no newline in a whole chunk: a line beyond the limit
				j := &job{batch: &Batch{}, errs: []LineError{{line, fmt.Sprintf("longer than the %d-byte limit", maxLine)}}, done: make(chan struct{})}
				close(j.done)
				if !emit(j) {
					return ctx.Err()
				}
				carry, skipping = nil, true
				continue
			}
		}
		carry = append([]byte(nil), buf[cut:]...)
		if cut > 0 {
			j := &job{data: buf[:cut], firstLine: line, done: make(chan struct{})}
			line += bytes.Count(j.data, []byte{'\n'})
			if !emit(j) {
				return ctx.Err()
			}
		}
		if eof {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
