package flowlog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/flowlens/flowlens/store/duckdb"
)

// Input is one file to import: a local file or an S3 object.
type Input struct {
	Name string // the path or s3://bucket/key, as reported
	Size int64
	// Local is the file's path when it is on this machine.
	Local string
	open  func(ctx context.Context) (io.ReadCloser, error)
}

// Open reads the input's bytes as stored (still compressed).
func (in Input) Open(ctx context.Context) (io.ReadCloser, error) { return in.open(ctx) }

// Hash returns the hex sha256 of a local input's content ("" for remote
// inputs, whose hash is computed while they are read).
func (in Input) Hash() (string, error) {
	if in.Local == "" {
		return "", nil
	}
	f, err := os.Open(in.Local)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", in.Local, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// flowLogFile says whether a file found in a directory is one to import.
func flowLogFile(name string) bool {
	n := strings.ToLower(name)
	for _, ext := range []string{".log", ".log.gz", ".gz", ".parquet", ".txt"} {
		if strings.HasSuffix(n, ext) {
			return true
		}
	}
	return false
}

// SourceOptions configure where inputs come from.
type SourceOptions struct {
	// S3Endpoint is the URL of an S3-compatible server; empty: AWS.
	S3Endpoint string
	// S3Region defaults to AWS_REGION, else us-east-1.
	S3Region string
}

// ExpandPaths turns paths into inputs: files as given, directories
// walked recursively for .log, .gz and .parquet files (sorted), and
// s3://bucket/prefix listed through the S3 API.
func ExpandPaths(ctx context.Context, paths []string, opts SourceOptions) ([]Input, error) {
	var out []Input
	for _, p := range paths {
		if strings.HasPrefix(p, "s3://") {
			ins, err := listS3(ctx, p, opts)
			if err != nil {
				return nil, err
			}
			out = append(out, ins...)
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("flow-log path: %w", err)
		}
		if !st.IsDir() {
			out = append(out, localInput(p, st.Size()))
			continue
		}
		var found []Input
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() && flowLogFile(d.Name()) {
				info, err := d.Info()
				if err != nil {
					return err
				}
				found = append(found, localInput(path, info.Size()))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", p, err)
		}
		sort.Slice(found, func(i, j int) bool { return found[i].Name < found[j].Name })
		out = append(out, found...)
	}
	return out, nil
}

func localInput(path string, size int64) Input {
	return Input{Name: path, Size: size, Local: path, open: func(context.Context) (io.ReadCloser, error) {
		return os.Open(path)
	}}
}

// Summary adds up the files of one import.
type Summary struct {
	Group            string        `json:"group"`
	Files            []FileSummary `json:"files"`
	Records          int64         `json:"records"`
	BadLines         int64         `json:"bad_lines"`
	Bytes            int64         `json:"bytes"`
	Duplicates       int           `json:"duplicates"`
	FailedFiles      int           `json:"failed_files"`
	DurationMs       float64       `json:"duration_ms"`
	RecordsPerSecond float64       `json:"records_per_second"`
}

// Add counts one file's outcome.
func (s *Summary) Add(f FileSummary) {
	s.Files = append(s.Files, f)
	s.Records += f.Records
	s.BadLines += f.BadLines
	s.Bytes += f.Bytes
	if f.Duplicate {
		s.Duplicates++
	}
	if f.Error != "" {
		s.FailedFiles++
	}
}

// Finish sets the duration and rate.
func (s *Summary) Finish(d time.Duration) {
	s.DurationMs = float64(d.Microseconds()) / 1000
	if d > 0 {
		s.RecordsPerSecond = float64(s.Records) / d.Seconds()
	}
}

// ImportOptions apply to every file of an import.
type ImportOptions struct {
	Stream   string
	Format   *Format
	Progress func(file string, read, size int64)
}

// ImportInputs imports each input in turn. A file that fails is reported
// in its summary (Error) and the others still import; the error return is
// for the context only.
func (im *Importer) ImportInputs(ctx context.Context, group string, inputs []Input, opts ImportOptions) (*Summary, error) {
	t0 := time.Now()
	sum := &Summary{Group: group}
	for _, in := range inputs {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		fs, err := im.importInput(ctx, group, in, opts)
		if err != nil {
			fs.Error = err.Error()
		}
		sum.Add(*fs)
	}
	sum.Finish(time.Since(t0))
	return sum, nil
}

func (im *Importer) importInput(ctx context.Context, group string, in Input, opts ImportOptions) (*FileSummary, error) {
	req := Request{Group: group, Stream: opts.Stream, Format: opts.Format, Source: in.Name, Size: in.Size}
	if opts.Progress != nil {
		req.Progress = func(n int64) { opts.Progress(in.Name, n, in.Size) }
	}
	// No hash before the import: reading the file twice cost 6% of an
	// import. The hash taken while reading finds a file already imported
	// into the group at the end, and its transaction is rolled back.
	r, err := in.Open(ctx)
	if err != nil {
		return &FileSummary{Source: in.Name}, err
	}
	defer r.Close()
	return im.Import(ctx, req, r)
}

func modTime(path string) time.Time {
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// ImportFiles imports paths (files, directories, s3:// prefixes) into
// group of any store, without a server: `flowlens query --files` loads
// files into a temporary store this way. The summary lists each file's
// outcome; the error is for what stops the whole import.
func ImportFiles(ctx context.Context, st *duckdb.Store, group string, paths []string, opts ImportOptions, src SourceOptions) (*Summary, error) {
	inputs, err := ExpandPaths(ctx, paths, src)
	if err != nil {
		return nil, err
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("no flow-log files in %s", strings.Join(paths, ", "))
	}
	im, err := NewImporter(ctx, st, ImporterConfig{}, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	sum, err := im.ImportInputs(ctx, group, inputs, opts)
	return sum, errors.Join(err, im.Close())
}
