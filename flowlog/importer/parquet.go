package importer

import (
	"context"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"github.com/flowlens/flowlens/flowlog"
)

// Parquet files are read by the store (DuckDB reads them itself, with the
// columns matched by name: flowlog.ColumnsFormat); the importer spools a
// stream to a file first, then commits, dedupes and notifies as for text.

// importParquetStream spools an uploaded Parquet file (DuckDB reads
// files, not streams), hashing it on the way, then imports it.
func (im *Importer) importParquetStream(ctx context.Context, req Request, r io.Reader, sum *FileSummary, h hash.Hash) error {
	tmp, err := os.CreateTemp(im.cfg.TempDir, "flowlog-*.parquet")
	if err != nil {
		return fmt.Errorf("%s: spool parquet: %w", req.Source, err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: spool parquet: %w", req.Source, err)
	}
	return im.importParquetFile(ctx, req, tmp.Name(), sum, h)
}

func (im *Importer) importParquetFile(ctx context.Context, req Request, path string, sum *FileSummary, h hash.Hash) error {
	w, err := im.store.BeginParquet(ctx, meta(req, time.Now()), path, req.Format)
	if err != nil {
		return err
	}
	sum.Format = w.Format().String()
	for _, warning := range w.Warnings() {
		im.warn(req, sum, warning)
	}
	im.warn(req, sum, w.Format().UnknownWarning())
	records, leftOut := w.Stored()
	sum.Records = records
	if leftOut > 0 {
		// Left out by the insert, like bad text records.
		sum.BadLines += leftOut
		sum.Errors = append(sum.Errors, flowlog.LineError{File: sum.Source,
			Reason: fmt.Sprintf("%d rows left out: a value that is not a non-negative integer of its field's size, or a start or end more than %v in the future", leftOut, flowlog.MaxFuture)})
	}
	if st, err := os.Stat(path); err == nil {
		sum.Bytes = st.Size()
	}
	if err := im.finish(ctx, w, req, sum, h); err != nil || sum.Duplicate {
		return err
	}
	if im.sink == nil {
		return nil
	}
	// Parquet files have no text: the sink gets the records as read back.
	return w.Messages(ctx, func(unixSec []int64, msgs []string) { im.sink.Ingested(req.Group, unixSec, msgs) })
}
