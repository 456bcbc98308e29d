// Package logsapi is the flow-log feature inside flowlens server: the
// /api/v1/logs endpoints (uploads, groups, files) over an importer.Importer
// on the server's record store.
package logsapi

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/internal/httpjson"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/store"
)

// HeaderSHA256 carries the hex sha256 of an upload's content (after any
// Content-Encoding is removed). With it the server streams the upload
// straight into the store; without it the server spools the upload to
// disk first to learn its hash, so that a duplicate never reaches metric
// filters.
const HeaderSHA256 = "X-Flowlens-Sha256"

// ModuleConfig configures the server module; zero limits take the
// defaults.
type ModuleConfig struct {
	Importer importer.Config
	// MaxUploadBytes bounds an upload's body as sent (compressed when it
	// is). Default 1 GiB.
	MaxUploadBytes int64
	// MaxDecompressedBytes bounds what an upload decompresses to, both a
	// gzip Content-Encoding and a .gz file. Default 16 GiB.
	MaxDecompressedBytes int64
	// UploadStallTimeout: an upload is cut off when fewer than
	// MinUploadBytes arrive within it. Default 30 s.
	UploadStallTimeout time.Duration
	// MaintainEvery is how often groups' retention is applied (default
	// 10 min; retention deletes whole UTC days, so the first run after
	// midnight does the day's work). Negative: never (tests call
	// Maintain).
	MaintainEvery time.Duration
}

// OpenStore opens the record store in the server's database (Start calls
// it): cmd/flowlens passes the DuckDB one (store/duckdb/flowlogs.Open).
type OpenStore func(ctx context.Context, db store.ComponentDB, log *slog.Logger) (importer.Store, error)

// Dependencies are what the module uses of the server.
type Dependencies struct {
	Log      *slog.Logger
	Registry prometheus.Registerer
	// DataDir holds the uploads' temporary files (DATA_DIR/tmp) unless
	// the importer's TempDir says otherwise.
	DataDir string
	// DB is the component database the record store lives in.
	DB store.ComponentDB
	// OpenStore opens the record store in DB.
	OpenStore OpenStore
	// Ingester sees every stored batch (the metric-filter module); nil:
	// nobody does.
	Ingester importer.Ingester
	// TextLogs takes the posts it Handles (application logs sent as
	// text/plain or JSON lines, applog/applogapi); nil: none.
	TextLogs TextLogs
}

// TextLogs serves the posts to /api/v1/logs/{group} that are not flow-log
// files (told apart by their Content-Type).
type TextLogs interface {
	http.Handler
	Handles(r *http.Request) bool
}

// Module is the flow-log feature inside flowlens server: the importer on
// the server's record store and its HTTP endpoints.
type Module struct {
	cfg    ModuleConfig
	deps   Dependencies
	log    *slog.Logger
	sink   importer.Ingester
	im     *importer.Importer
	upload *uploadMetrics
	stop   chan struct{}
	done   chan struct{}
}

var _ module.Module = (*Module)(nil)

// NewModule is inert: the store and the importer are opened by Start.
func NewModule(cfg ModuleConfig, d Dependencies) *Module {
	m := &Module{cfg: cfg.withDefaults(), deps: d, log: d.Log, sink: d.Ingester, upload: newUploadMetrics()}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.cfg.Importer.TempDir == "" && d.DataDir != "" {
		m.cfg.Importer.TempDir = filepath.Join(d.DataDir, "tmp")
	}
	return m
}

// Start opens the store (which migrates its tables) and the importer.
func (m *Module) Start(ctx context.Context) error {
	if dir := m.cfg.Importer.TempDir; dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("flow-log temp dir: %w", err)
		}
	}
	st, err := m.deps.OpenStore(ctx, m.deps.DB, m.log)
	if err != nil {
		return err
	}
	im, err := importer.New(st, m.cfg.Importer, m.log, m.sink, m.deps.Registry)
	if err != nil {
		st.Close()
		return err
	}
	if err := m.upload.set.Register(m.deps.Registry); err != nil {
		im.Close()
		return fmt.Errorf("flow-log upload metrics: %w", err)
	}
	m.im = im
	if m.cfg.MaintainEvery > 0 {
		m.stop, m.done = make(chan struct{}), make(chan struct{})
		go m.maintainLoop()
	}
	return nil
}

// maintainLoop applies retention every MaintainEvery until Stop.
func (m *Module) maintainLoop() {
	defer close(m.done)
	t := time.NewTicker(m.cfg.MaintainEvery)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			if _, err := m.im.Maintain(context.Background(), now); err != nil {
				m.log.Warn("flow-log retention failed", "err", err)
			}
		case <-m.stop:
			return
		}
	}
}

// Stop closes the importer.
func (m *Module) Stop(context.Context) error {
	if m.im == nil {
		return nil
	}
	if m.stop != nil {
		close(m.stop)
		<-m.done
		m.stop = nil
	}
	m.im.Unregister(m.deps.Registry)
	m.upload.set.Unregister(m.deps.Registry)
	return m.im.Close()
}

// Importer is the module's importer (nil before Start), for other modules.
func (m *Module) Importer() *importer.Importer { return m.im }

// Routes mounts the flow-log API.
func (m *Module) Routes(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	mux.Handle("POST /api/v1/logs/{group}", protect(http.HandlerFunc(m.handleUpload)))
	mux.Handle("GET /api/v1/logs", protect(http.HandlerFunc(m.handleGroups)))
	mux.Handle("GET /api/v1/logs/{group}/files/{sha256}", protect(http.HandlerFunc(m.handleFile)))
	mux.Handle("PUT /api/v1/logs/{group}/retention", protect(http.HandlerFunc(m.handleRetention)))
	mux.Handle("DELETE /api/v1/logs/{group}", protect(http.HandlerFunc(m.handleDeleteGroup)))
}

// RetentionRequest is the body of PUT /api/v1/logs/{group}/retention:
// retention_days is a CloudWatch value, null or absent for never.
type RetentionRequest struct {
	RetentionDays *int `json:"retention_days"`
}

// handleRetention sets a group's retention: 200 with the group, 400 for a
// value CloudWatch would refuse, 404 for a group without files.
func (m *Module) handleRetention(w http.ResponseWriter, r *http.Request) {
	if m.im == nil {
		httpjson.ErrorCode(w, http.StatusServiceUnavailable, errors.New("flow-log importer not started"))
		return
	}
	group := r.PathValue("group")
	var req RetentionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpjson.ErrorCode(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return
	}
	days := 0
	if req.RetentionDays != nil {
		if days = *req.RetentionDays; days == 0 {
			httpjson.ErrorCode(w, http.StatusBadRequest, fmt.Errorf("%w: 0 days: give null for never", flowlog.ErrRetention))
			return
		}
	}
	err := m.im.SetRetention(r.Context(), group, days)
	switch {
	case errors.Is(err, flowlog.ErrRetention), errors.Is(err, flowlog.ErrGroup):
		httpjson.ErrorCode(w, http.StatusBadRequest, err)
		return
	case errors.Is(err, importer.ErrNoGroup):
		httpjson.ErrorCode(w, http.StatusNotFound, err)
		return
	case err != nil:
		httpjson.ErrorCode(w, http.StatusInternalServerError, err)
		return
	}
	m.log.Info("flow-log group retention set", "group", group, "days", days)
	gs, err := m.im.Groups(r.Context())
	if err != nil {
		httpjson.ErrorCode(w, http.StatusInternalServerError, err)
		return
	}
	for _, g := range gs {
		if g.Name == group {
			httpjson.WriteCompact(w, http.StatusOK, g)
			return
		}
	}
	httpjson.ErrorCode(w, http.StatusNotFound, fmt.Errorf("%w: %q", importer.ErrNoGroup, group))
}

// handleDeleteGroup deletes a group, its files and records: 200
// {"deleted": group}, 404 when there is no such group.
func (m *Module) handleDeleteGroup(w http.ResponseWriter, r *http.Request) {
	if m.im == nil {
		httpjson.ErrorCode(w, http.StatusServiceUnavailable, errors.New("flow-log importer not started"))
		return
	}
	group := r.PathValue("group")
	ok, err := m.im.DeleteGroup(r.Context(), group)
	switch {
	case err != nil:
		httpjson.ErrorCode(w, http.StatusInternalServerError, err)
	case !ok:
		httpjson.ErrorCode(w, http.StatusNotFound, fmt.Errorf("%w: %q", importer.ErrNoGroup, group))
	default:
		httpjson.WriteCompact(w, http.StatusOK, map[string]string{"deleted": group})
	}
}

// handleUpload stores newline-delimited records (or a whole .gz or
// .parquet file) posted to /api/v1/logs/{group}?format=&stream=&source=.
// The answer is the file summary, bad lines included. The body is
// received whole into the temporary directory first (bounded in size and
// kept to a minimum rate); only then does the upload wait for the
// importer, so that a slow client never holds up other uploads.
func (m *Module) handleUpload(w http.ResponseWriter, r *http.Request) {
	if m.deps.TextLogs != nil && m.deps.TextLogs.Handles(r) {
		m.deps.TextLogs.ServeHTTP(w, r)
		return
	}
	req, err := uploadRequest(r)
	if err != nil {
		httpjson.ErrorCode(w, http.StatusBadRequest, err)
		return
	}
	gzipped := false
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		gzipped = true
	default:
		httpjson.ErrorCode(w, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Encoding %q: only gzip is accepted", enc))
		return
	}
	if m.im == nil {
		httpjson.ErrorCode(w, http.StatusServiceUnavailable, errors.New("flow-log importer not started"))
		return
	}
	if req.SHA256 != "" {
		// Known content is answered without receiving it again.
		dup, err := m.im.Duplicate(r.Context(), req.Group, req.SHA256)
		if err != nil {
			httpjson.ErrorCode(w, http.StatusInternalServerError, err)
			return
		}
		if dup {
			m.im.CountDuplicate()
			httpjson.WriteCompact(w, http.StatusOK, &importer.FileSummary{Source: req.Source, SHA256: req.SHA256, Duplicate: true})
			return
		}
	}
	spooled, sha, err := m.receive(w, r, gzipped)
	if err != nil {
		m.log.Warn("flow-log upload refused", "group", req.Group, "source", req.Source, "err", err)
		drainRefused(r.Body)
		httpjson.ErrorCode(w, m.upload.refusal(err), err)
		return
	}
	defer os.Remove(spooled.Name())
	defer spooled.Close()
	if req.SHA256 != "" && req.SHA256 != sha {
		httpjson.ErrorCode(w, http.StatusBadRequest, fmt.Errorf("%s: %w (given %s, read %s)", req.Source, importer.ErrChecksum, req.SHA256, sha))
		return
	}
	req.SHA256, req.MaxDecompressedBytes = sha, m.cfg.MaxDecompressedBytes
	sum, err := m.im.Import(r.Context(), req, spooled)
	if err != nil {
		m.log.Warn("flow-log upload failed", "group", req.Group, "source", req.Source, "err", err)
		httpjson.WriteCompact(w, m.upload.refusal(err), struct {
			Error string `json:"error"`
			*importer.FileSummary
		}{err.Error(), sum})
		return
	}
	m.log.Info("flow-log upload", "group", req.Group, "source", req.Source, "records", sum.Records,
		"bad_lines", sum.BadLines, "duplicate", sum.Duplicate, "ms", sum.DurationMs)
	httpjson.WriteCompact(w, http.StatusOK, sum)
}

// uploadRequest reads the group, the query parameters and the hash header.
func uploadRequest(r *http.Request) (importer.Request, error) {
	req := importer.Request{Group: r.PathValue("group"), Stream: r.URL.Query().Get("stream"), Source: r.URL.Query().Get("source")}
	if err := flowlog.CheckGroup(req.Group); err != nil {
		return req, err
	}
	if req.Source == "" {
		req.Source = "upload"
	}
	if fs := r.URL.Query().Get("format"); fs != "" {
		f, err := flowlog.ParseFormat(fs)
		if err != nil {
			return req, fmt.Errorf("format: %w", err)
		}
		req.Format = f
	}
	if sha := strings.ToLower(r.Header.Get(HeaderSHA256)); sha != "" {
		if b, err := hex.DecodeString(sha); err != nil || len(b) != 32 {
			return req, fmt.Errorf("%s: want 64 hex digits", HeaderSHA256)
		}
		req.SHA256 = sha
	}
	return req, nil
}

func (m *Module) handleGroups(w http.ResponseWriter, r *http.Request) {
	if m.im == nil {
		httpjson.ErrorCode(w, http.StatusServiceUnavailable, errors.New("flow-log importer not started"))
		return
	}
	gs, err := m.im.Groups(r.Context())
	if err != nil {
		httpjson.ErrorCode(w, http.StatusInternalServerError, err)
		return
	}
	if gs == nil {
		gs = []flowlog.Group{}
	}
	httpjson.WriteCompact(w, http.StatusOK, map[string]any{"groups": gs})
}

// handleFile answers whether content with this hash is already in the
// group (200 with the file, 404 otherwise): the CLI asks before uploading.
func (m *Module) handleFile(w http.ResponseWriter, r *http.Request) {
	if m.im == nil {
		httpjson.ErrorCode(w, http.StatusServiceUnavailable, errors.New("flow-log importer not started"))
		return
	}
	f, err := m.im.File(r.Context(), r.PathValue("group"), r.PathValue("sha256"))
	if err != nil {
		httpjson.ErrorCode(w, http.StatusInternalServerError, err)
		return
	}
	if f == nil {
		httpjson.ErrorCode(w, http.StatusNotFound, errors.New("no such file in the group"))
		return
	}
	httpjson.WriteCompact(w, http.StatusOK, f)
}

// refusedDrainLimit is how much of a refused upload's unread body is read
// before the answer. A client still sending when the server answers and
// closes gets a connection reset instead of the answer; reading the rest
// of a small body (a decompression bomb is small) lets it read the 413.
// Larger bodies are cut off: the connection closes after the answer.
const refusedDrainLimit = 1 << 20

func drainRefused(body io.Reader) {
	io.CopyN(io.Discard, body, refusedDrainLimit) //nolint:errcheck // best effort
}
