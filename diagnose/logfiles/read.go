// Package logfiles reads VPC flow-log files (text, gzip; any format with
// the fields the diagnosis needs) with package flowlog's Scanner and feeds
// their records to diagnose.Groupers on several goroutines.
package logfiles

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"

	"github.com/flowlens/flowlens/diagnose"
	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/flowlog/source"
)

// Options bound a read.
type Options struct {
	Workers int // reading (one file each) and parsing goroutines; default GOMAXPROCS
	// MaxDecompressedBytes caps what one gzip file may expand to (a
	// decompression bomb); default 64 GiB.
	MaxDecompressedBytes int64
}

// Stats count what was read.
type Stats struct {
	Files    int   `json:"files"`
	Records  int64 `json:"records"`
	Rejects  int64 `json:"rejects"`
	BadLines int64 `json:"bad_lines"` // records the parser refused, and NODATA/SKIPDATA lines
}

// ErrLimit marks a file refused by a bound.
var ErrLimit = errors.New("flow-log file over a limit")

// needed are the fields the diagnosis reads.
var needed = []string{"interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "action"}

const chunkBytes = 4 << 20

type chunk struct {
	data   []byte
	format *flowlog.Format
}

// Read parses every input and returns one Grouper holding all records.
func Read(ctx context.Context, inputs []source.Input, m *diagnose.Model, opts Options) (*diagnose.Grouper, Stats, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.MaxDecompressedBytes <= 0 {
		opts.MaxDecompressedBytes = 64 << 30
	}
	seed := maphash.MakeSeed()
	chunks := make(chan chunk, opts.Workers)
	pool := sync.Pool{New: func() any { return make([]byte, 0, chunkBytes+64<<10) }}
	groupers := make([]*diagnose.Grouper, opts.Workers)
	stats := make([]Stats, opts.Workers)
	errs := make([]error, opts.Workers)
	var wg sync.WaitGroup
	for w := range opts.Workers {
		groupers[w] = diagnose.NewGrouper(m, seed)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &parser{g: groupers[w], st: &stats[w]}
			for c := range chunks {
				if errs[w] == nil {
					errs[w] = p.parse(c)
				}
				pool.Put(c.data[:0]) //nolint:staticcheck // a slice header is fine here
			}
		}()
	}
	files, readErr := readInputs(ctx, inputs, opts, chunks, &pool)
	close(chunks)
	wg.Wait()
	total := Stats{Files: files}
	for w := range opts.Workers {
		if errs[w] != nil && readErr == nil {
			readErr = errs[w]
		}
		total.Records += stats[w].Records
		total.Rejects += stats[w].Rejects
		total.BadLines += stats[w].BadLines
		if w > 0 {
			groupers[0].Merge(groupers[w])
		}
	}
	return groupers[0], total, readErr
}

// readInputs reads the inputs on up to opts.Workers goroutines, so that a
// directory of gzip files is decompressed on every core; it stops at the
// first error. It returns the number of files read whole and that error.
func readInputs(ctx context.Context, inputs []source.Input, opts Options, out chan<- chunk, pool *sync.Pool) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		files atomic.Int64
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for range min(opts.Workers, len(inputs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(inputs) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				if err := readInput(ctx, inputs[i], opts, out, pool); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					return
				}
				files.Add(1)
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err() // the caller's context
	}
	return int(files.Load()), first
}

// readInput cuts one file into chunks of whole lines.
func readInput(ctx context.Context, in source.Input, opts Options, out chan<- chunk, pool *sync.Pool) error {
	rc, err := in.Open(ctx)
	if err != nil {
		return fmt.Errorf("open %s: %w", in.Name, err)
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<20)
	var r io.Reader = br
	if magic, _ := br.Peek(4); len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: gzip: %w", in.Name, err)
		}
		r = &capped{r: zr, left: opts.MaxDecompressedBytes, name: in.Name}
	} else if len(magic) == 4 && string(magic) == "PAR1" {
		return fmt.Errorf("%s: Parquet files are read by the server: import them (flowlens flow-logs import) and use --group", in.Name)
	}
	lr := bufio.NewReaderSize(r, 1<<20)
	format := flowlog.Default
	first, err := lr.ReadBytes('\n')
	if err != nil && err != io.EOF {
		return fmt.Errorf("read %s: %w", in.Name, err)
	}
	if flowlog.IsHeader(first) {
		if format, err = flowlog.ParseHeader(string(bytes.TrimRight(first, "\r\n"))); err != nil {
			return fmt.Errorf("%s: line 1: %w", in.Name, err)
		}
		first = nil
	}
	for _, name := range needed {
		if !hasField(format, name) {
			return fmt.Errorf("%s: the format has no %s field, which the diagnosis needs", in.Name, name)
		}
	}
	buf := append(pool.Get().([]byte)[:0], first...)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := io.ReadFull(lr, buf[len(buf):cap(buf)-64<<10])
		buf = buf[:len(buf)+n]
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			if len(buf) > 0 {
				out <- chunk{data: buf, format: format}
			}
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read %s: %w", in.Name, rerr)
		}
		// Finish the last line, then hand the chunk over.
		rest, rerr := lr.ReadSlice('\n')
		buf = append(buf, rest...)
		if rerr != nil && rerr != io.EOF {
			if errors.Is(rerr, bufio.ErrBufferFull) {
				return fmt.Errorf("%s: a line longer than 1 MiB", in.Name)
			}
			return fmt.Errorf("read %s: %w", in.Name, rerr)
		}
		out <- chunk{data: buf, format: format}
		buf = pool.Get().([]byte)[:0]
		if rerr == io.EOF {
			return nil
		}
	}
}

func hasField(f *flowlog.Format, name string) bool {
	for i := range f.Len() {
		if f.Field(i).Name == name {
			return true
		}
	}
	return false
}

type capped struct {
	r    io.Reader
	left int64
	name string
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("%s: decompresses to more than the limit: %w", c.name, ErrLimit)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// parser turns chunks into records with flowlog.Scanner, which checks each
// record as the importer's parser does (same refusals) without copying its
// fields.
type parser struct {
	g      *diagnose.Grouper
	st     *Stats
	scan   *flowlog.Scanner
	format *flowlog.Format
	idx    [7]int // positions of the needed fields
}

// clockEvery is how many records share one reading of the clock (the
// bound on start and end).
const clockEvery = 4096

func (p *parser) parse(c chunk) error {
	if p.format != c.format {
		p.format, p.scan = c.format, flowlog.NewScanner(c.format)
		for k, name := range needed {
			for i := range c.format.Len() {
				if c.format.Field(i).Name == name {
					p.idx[k] = i
				}
			}
		}
	}
	p.scan.Reset()
	n := 0
	data := c.data
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		// Only a header starts with a lower-case field name; records
		// mostly start with a digit, so the full check is rare.
		if len(line) == 0 || (line[0] >= 'a' && line[0] <= 'z' && flowlog.IsHeader(line)) {
			continue
		}
		if n++; n%clockEvery == 0 {
			p.scan.Reset()
		}
		if err := p.scan.Scan(line); err != nil {
			p.st.BadLines++
			continue
		}
		p.record()
	}
	return nil
}

// record counts the record just scanned.
func (p *parser) record() {
	s := p.scan
	action, _ := s.Bytes(p.idx[6])
	accept := string(action) == "ACCEPT"
	if !accept && string(action) != "REJECT" { // NODATA, SKIPDATA
		p.st.BadLines++
		return
	}
	iface, _ := s.Bytes(p.idx[0])
	src, ok1 := s.Addr(p.idx[1])
	dst, ok2 := s.Addr(p.idx[2])
	sp, _ := s.Int(p.idx[3]) // NULL (no ports: ICMP, ...) is 0
	dp, _ := s.Int(p.idx[4])
	proto, ok3 := s.Int(p.idx[5])
	if !ok1 || !ok2 || !ok3 || !p.g.AddFields(iface, src, dst, int(sp), int(dp), int(proto), accept) {
		p.st.BadLines++
		return
	}
	p.st.Records++
	if !accept {
		p.st.Rejects++
	}
}
