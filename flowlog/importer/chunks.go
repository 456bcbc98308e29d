package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/flowlens/flowlens/flowlog"
)

// maxLine bounds one record line; longer lines make the file unreadable.
const maxLine = 64 << 20

// parsedChunk is one chunk of text parsed into a batch; done returns its
// memory to the pools once the batch has been inserted.
type parsedChunk struct {
	batch *flowlog.Batch
	bad   int64
	errs  []flowlog.LineError
	err   error
	done  func()
}

type chunkJob struct {
	data      []byte
	batch     *flowlog.Batch
	firstLine int64
	res       chan parsedChunk
}

// parseChunks cuts r into chunks of whole lines and parses them on
// Parsers goroutines; the returned channel yields the results in file
// order and is closed at the end (or after an error result). Memory is
// bounded: Parsers+3 chunks and batches exist at once.
// prepare (may be nil) gives each parser goroutine the store's work on a
// parsed batch (see TextWriter.Prepare), e.g. dictionary ids.
func (im *Importer) parseChunks(ctx context.Context, r io.Reader, f *flowlog.Format, header []byte, prepare func() func(*flowlog.Batch)) <-chan parsedChunk {
	n, m := im.cfg.Parsers, 1 // parsers, chunks held by the inserter
	bufs := make(chan []byte, n+m+2)
	batches := make(chan *flowlog.Batch, n+m+2)
	for range n + m + 2 {
		bufs <- make([]byte, 0, im.cfg.ChunkBytes)
		batches <- flowlog.NewBatch(f, im.sink != nil)
	}
	jobs := make(chan chunkJob)
	order := make(chan chan parsedChunk, n+1)
	out := make(chan parsedChunk)

	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prep func(*flowlog.Batch)
			if prepare != nil {
				prep = prepare()
			}
			for j := range jobs {
				b := j.batch
				b.Reset()
				pc := im.parseChunk(j, b, header)
				if prep != nil {
					prep(b)
				}
				data := j.data
				pc.done = func() { batches <- b; bufs <- data[:0] }
				j.res <- pc
			}
		}()
	}
	go func() { // reader
		defer close(order)
		defer close(jobs)
		var carry []byte
		line := int64(1)
		for {
			var buf []byte
			select {
			case buf = <-bufs:
			case <-ctx.Done():
				return
			}
			buf = append(buf[:0], carry...)
			data, rest, err := fill(r, buf, im.cfg.ChunkBytes)
			if err != nil {
				res := make(chan parsedChunk, 1)
				res <- parsedChunk{err: err, done: func() {}}
				order <- res
				return
			}
			carry = append(carry[:0], rest...)
			if len(data) == 0 {
				return
			}
			// The batch is taken here, in file order, so the oldest
			// chunk never waits for one held by a later chunk.
			var b *flowlog.Batch
			select {
			case b = <-batches:
			case <-ctx.Done():
				return
			}
			j := chunkJob{data: data, batch: b, firstLine: line, res: make(chan parsedChunk, 1)}
			line += int64(bytes.Count(data, []byte{'\n'}))
			select {
			case order <- j.res:
			case <-ctx.Done():
				return
			}
			jobs <- j
		}
	}()
	go func() { // in-order delivery
		defer close(out)
		for res := range order {
			pc := <-res
			out <- pc
			if pc.err != nil {
				break
			}
		}
		for res := range order { // drain after an error
			pc := <-res
			pc.done()
		}
		wg.Wait()
	}()
	return out
}

// fill reads into buf (which may start with carried-over bytes) until it
// holds size bytes or the input ends, and splits it after the last
// newline: data is whole lines (or the final unterminated line), rest the
// partial line to carry over. A line longer than the chunk grows it, up to
// maxLine.
func fill(r io.Reader, buf []byte, size int) (data, rest []byte, err error) {
	for {
		for len(buf) < size {
			n, rerr := r.Read(buf[len(buf):min(cap(buf), size)])
			buf = buf[:len(buf)+n]
			if rerr == io.EOF {
				return buf, nil, nil
			}
			if rerr != nil {
				return nil, nil, fmt.Errorf("read: %w", rerr)
			}
			if len(buf) == cap(buf) {
				break
			}
		}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			return buf[:i+1], buf[i+1:], nil
		}
		if len(buf) >= maxLine {
			return nil, nil, errors.New("a line is longer than 64 MiB: not a flow-log file")
		}
		size = 2 * len(buf)
		nb := make([]byte, len(buf), size)
		copy(nb, buf)
		buf = nb
	}
}

// parseChunk parses every line of j into b. Blank lines and repeated
// header lines (concatenated files) are skipped silently.
func (im *Importer) parseChunk(j chunkJob, b *flowlog.Batch, header []byte) parsedChunk {
	pc := parsedChunk{batch: b}
	data := j.data
	ln := j.firstLine
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		if !blank(line) && !(header != nil && bytes.Equal(bytes.TrimRight(line, "\r"), header)) {
			if err := b.AppendLine(line); err != nil {
				pc.bad++
				if len(pc.errs) < im.cfg.MaxErrors {
					pc.errs = append(pc.errs, flowlog.LineError{Line: ln, Reason: err.Error()})
				}
			}
		}
		ln++
	}
	return pc
}

func blank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}
