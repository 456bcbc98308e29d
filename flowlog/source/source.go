// Package source finds flow-log files to import: local files, directories
// (walked recursively), s3://bucket/prefix through the AWS SDK, and a
// polling watcher for a directory; it imports them with an
// importer.Importer.
package source

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

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/flowlog/importer"
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

// ImportOptions apply to every file of an import.
type ImportOptions struct {
	Stream   string
	Format   *flowlog.Format
	Progress func(file string, read, size int64)
}

// ImportInputs imports each input in turn. A file that fails is reported
// in its summary (Error) and the others still import; the error return is
// for the context only.
func ImportInputs(ctx context.Context, im *importer.Importer, group string, inputs []Input, opts ImportOptions) (*importer.Summary, error) {
	t0 := time.Now()
	sum := &importer.Summary{Group: group}
	for _, in := range inputs {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		fs, err := importInput(ctx, im, group, in, opts)
		if err != nil {
			fs.Error = err.Error()
		}
		sum.Add(*fs)
	}
	sum.Finish(time.Since(t0))
	return sum, nil
}

func importInput(ctx context.Context, im *importer.Importer, group string, in Input, opts ImportOptions) (*importer.FileSummary, error) {
	req := importer.Request{Group: group, Stream: opts.Stream, Format: opts.Format, Source: in.Name, Size: in.Size}
	if opts.Progress != nil {
		req.Progress = func(n int64) { opts.Progress(in.Name, n, in.Size) }
	}
	// No hash before the import: reading the file twice cost 6% of an
	// import. The hash taken while reading finds a file already imported
	// into the group at the end, and its transaction is rolled back.
	r, err := in.Open(ctx)
	if err != nil {
		return &importer.FileSummary{Source: in.Name}, err
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
// group of a record store, without a server: `flowlens query --files`
// loads files into a temporary store this way. st is closed at the end.
// The summary lists each file's outcome; the error is for what stops the
// whole import.
func ImportFiles(ctx context.Context, st importer.Store, group string, paths []string, opts ImportOptions, src SourceOptions) (*importer.Summary, error) {
	inputs, err := ExpandPaths(ctx, paths, src)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	if len(inputs) == 0 {
		return nil, errors.Join(fmt.Errorf("no flow-log files in %s", strings.Join(paths, ", ")), st.Close())
	}
	im, err := importer.New(st, importer.Config{}, nil, nil, nil)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	sum, err := ImportInputs(ctx, im, group, inputs, opts)
	return sum, errors.Join(err, im.Close())
}
