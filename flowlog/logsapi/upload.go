package logsapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/internal/promset"
)

// Upload limits: defaults of ModuleConfig.
const (
	// DefaultMaxUploadBytes bounds an upload as sent. AWS delivers flow-log
	// files of at most a few hundred MB compressed.
	DefaultMaxUploadBytes = 1 << 30
	// DefaultMaxDecompressedBytes bounds what one upload decompresses to:
	// a 1 GiB file of records compresses about 10 times, while a gzip
	// bomb expands a thousand times.
	DefaultMaxDecompressedBytes = 16 << 30
	// DefaultUploadStallTimeout is how long an upload may take to deliver
	// each MinUploadBytes.
	DefaultUploadStallTimeout = 30 * time.Second
	// MinUploadBytes must arrive within every UploadStallTimeout (64 KiB
	// in 30 s: about 2 KiB/s).
	MinUploadBytes = 64 << 10
)

// Upload refusals (the module answers 413 and 408).
var (
	ErrTooLarge = importer.ErrTooLarge
	ErrTooSlow  = errors.New("too slow")
)

func (c ModuleConfig) withDefaults() ModuleConfig {
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if c.MaxDecompressedBytes <= 0 {
		c.MaxDecompressedBytes = DefaultMaxDecompressedBytes
	}
	if c.UploadStallTimeout <= 0 {
		c.UploadStallTimeout = DefaultUploadStallTimeout
	}
	if c.MaintainEvery == 0 {
		c.MaintainEvery = DefaultMaintainEvery
	}
	return c
}

// DefaultMaintainEvery is how often retention runs by default.
const DefaultMaintainEvery = 10 * time.Minute

// uploadMetrics count what the upload endpoint receives and refuses.
type uploadMetrics struct {
	refused *prometheus.CounterVec // by reason: too_large, too_slow
	spooled prometheus.Counter
	set     promset.Set
}

func newUploadMetrics() *uploadMetrics {
	m := &uploadMetrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "flowlens", Subsystem: "flowlog", Name: "uploads_refused_total",
			Help: "Uploads refused: too_large (--max-upload-bytes, --max-upload-decompressed-bytes), too_slow (--upload-stall-timeout)."}, []string{"reason"}),
		spooled: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "flowlens", Subsystem: "flowlog", Name: "upload_spooled_bytes_total",
			Help: "Upload bytes written to DATA_DIR/tmp before their import."}),
	}
	m.set = promset.Set{m.refused, m.spooled}
	return m
}

// refusal is the HTTP status of an upload error, and counts the refusals.
func (m *uploadMetrics) refusal(err error) int {
	switch {
	case errors.Is(err, ErrTooLarge):
		m.refused.WithLabelValues("too_large").Inc()
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrTooSlow):
		m.refused.WithLabelValues("too_slow").Inc()
		return http.StatusRequestTimeout
	case errors.Is(err, importer.ErrStore):
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// receive spools an upload's content (after its Content-Encoding) to the
// temporary directory and returns the file, at its start, and the
// content's sha256. The whole upload is received before the importer is
// asked for: one slow client never holds the importer, which every other
// upload waits for.
func (m *Module) receive(w http.ResponseWriter, r *http.Request, gzipped bool) (*os.File, string, error) {
	maxBody := m.cfg.MaxUploadBytes
	if r.ContentLength > maxBody {
		return nil, "", fmt.Errorf("%w: body of %d bytes, more than %d (--max-upload-bytes)", ErrTooLarge, r.ContentLength, maxBody)
	}
	body := importer.CapReader(r.Body, maxBody, fmt.Errorf("%w: body larger than %d bytes (--max-upload-bytes)", ErrTooLarge, maxBody))
	body = newRateReader(body, http.NewResponseController(w), m.cfg.UploadStallTimeout)
	if gzipped {
		zr, err := gzip.NewReader(body)
		if err != nil {
			if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrTooSlow) {
				return nil, "", err
			}
			return nil, "", fmt.Errorf("gzip body: %w", err)
		}
		body = importer.CapDecompressed(zr, m.cfg.MaxDecompressedBytes)
	}
	return m.spool(body)
}

// spool copies an upload to a temporary file and hashes it on the way.
func (m *Module) spool(r io.Reader) (*os.File, string, error) {
	f, err := os.CreateTemp(m.cfg.Importer.TempDir, "upload-*")
	if err != nil {
		return nil, "", fmt.Errorf("%w: spool upload: %w", importer.ErrStore, err)
	}
	cw := &countingWriter{w: f}
	sha, err := copyHash(cw, r)
	m.upload.spooled.Add(float64(cw.n))
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, "", fmt.Errorf("spool upload: %w", err)
	}
	return f, sha, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// copyHash copies r to w and returns the hex sha256 of what it copied.
// Large reads and writes: uploads of hundreds of MB are spooled this way.
func copyHash(w io.Writer, r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.CopyBuffer(io.MultiWriter(w, h), r, make([]byte, 1<<20)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// rateReader keeps a minimum rate on a request body: the connection's
// read deadline is set window ahead and moved again each time another
// MinUploadBytes have arrived, so a large upload on a good link never
// meets it while a stalled or trickling one is cut off within a window.
type rateReader struct {
	r      io.Reader
	rc     *http.ResponseController
	window time.Duration
	got    int64 // bytes since the deadline was last moved
}

func newRateReader(r io.Reader, rc *http.ResponseController, window time.Duration) *rateReader {
	rr := &rateReader{r: r, rc: rc, window: window}
	rr.extend()
	return rr
}

func (rr *rateReader) extend() {
	rr.got = 0
	rr.rc.SetReadDeadline(time.Now().Add(rr.window)) //nolint:errcheck // writers without deadlines (tests) have none to move
}

func (rr *rateReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	rr.got += int64(n)
	switch {
	case err == nil && rr.got >= MinUploadBytes:
		// Never after the end: the server watches the connection in the
		// background then, and a deadline would cancel the import.
		rr.extend()
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w: fewer than %d KiB arrived in %s (--upload-stall-timeout)", ErrTooSlow, MinUploadBytes>>10, rr.window)
	}
	return n, err
}
