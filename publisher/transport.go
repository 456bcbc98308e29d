package publisher

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// IngestPath is where the server takes reports.
const IngestPath = "/api/v1/ingest"

// maxRetryAfter caps a server's Retry-After, so that a garbled header cannot
// park the agent for days.
const maxRetryAfter = time.Hour

// outcome is what one send attempt, or one report's delivery, came to.
type outcome int

const (
	outAcked    outcome = iota // 2xx: durable on the server
	outRejected                // 400: malformed, retrying cannot help
	outTooLarge                // 413: split and resend
	outRetry                   // anything else: try again later
	outCanceled                // the publisher is stopping
)

// attempt is the classified result of one POST.
type attempt struct {
	out    outcome
	status int           // HTTP status, 0 for a network error
	wait   time.Duration // the server's Retry-After, if any
	auth   bool          // 401/403: a configuration error, retried slowly
	// duplicate is the server's duplicate:true on a 2xx: it already had a
	// report under this (agent id, epoch, sequence).
	duplicate bool
	detail    string // for logs: the error or the start of the answer body
}

// transport posts compressed reports. It is used by the sender goroutine
// only, so the compressors are reused without locking.
type transport struct {
	client   *http.Client
	url      string
	token    string
	encoding string
	zstd     *zstd.Encoder
	gzip     *gzip.Writer
	buf      bytes.Buffer
}

func newTransport(cfg Config) (*transport, error) {
	u, err := ingestURL(cfg.Server)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	t := &transport{
		url:      u,
		token:    cfg.Token,
		encoding: cfg.Compression,
		client: &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			TLSClientConfig:     tlsCfg,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 2, // one sender; keep its connection alive
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		}},
	}
	if t.encoding == "zstd" {
		t.zstd, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd encoder: %w", err)
		}
	} else {
		t.gzip = gzip.NewWriter(&t.buf)
	}
	return t, nil
}

// ingestURL checks the configured server and appends the ingest path.
func ingestURL(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("server %q: %w", server, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("server %q: want http://host:port or https://host:port", u.Redacted())
	}
	return strings.TrimRight(u.String(), "/") + IngestPath, nil
}

// tlsConfig builds the client TLS settings; nil means Go's defaults.
func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.TLSCAFile == "" && !cfg.InsecureSkipVerify {
		return nil, nil
	}
	c := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // explicit operator choice
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("read TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA file %s: no PEM certificate found", cfg.TLSCAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// compress encodes a marshalled report with the configured encoding. The
// result is a new slice: it is kept across the retries of one report.
func (t *transport) compress(raw []byte) ([]byte, error) {
	if t.zstd != nil {
		return t.zstd.EncodeAll(raw, make([]byte, 0, len(raw)/2+64)), nil
	}
	t.buf.Reset()
	t.gzip.Reset(&t.buf)
	if _, err := t.gzip.Write(raw); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := t.gzip.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return bytes.Clone(t.buf.Bytes()), nil
}

// post sends one compressed report and classifies the answer.
func (t *transport) post(ctx context.Context, body []byte, timeout time.Duration) attempt {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return attempt{out: outRetry, detail: err.Error()}
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", t.encoding)
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return attempt{out: outRetry, detail: err.Error()}
	}
	defer drainClose(resp.Body)
	return classify(resp, time.Now())
}

// drainClose reads what is left of a small answer so that the connection
// goes back to the keep-alive pool.
func drainClose(body io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	body.Close()
}

// classify maps an answer to what the sender does next.
func classify(resp *http.Response, now time.Time) attempt {
	a := attempt{status: resp.StatusCode}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		a.out = outAcked
		a.duplicate = ackedDuplicate(resp.Body)
		return a
	case code == http.StatusBadRequest:
		a.out = outRejected
	case code == http.StatusRequestEntityTooLarge:
		a.out = outTooLarge
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		a.out, a.auth = outRetry, true
	default:
		a.out = outRetry
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			a.wait, _ = parseRetryAfter(resp.Header.Get("Retry-After"), now)
		}
	}
	a.detail = answerSnippet(resp)
	return a
}

// ackedDuplicate reads the duplicate flag of an acknowledgement,
// {"status":"stored","flows":N,"duplicate":true}; anything unreadable
// counts as not a duplicate.
func ackedDuplicate(body io.Reader) bool {
	var ack struct {
		Duplicate bool `json:"duplicate"`
	}
	json.NewDecoder(io.LimitReader(body, 4<<10)).Decode(&ack) //nolint:errcheck // best effort
	return ack.Duplicate
}

// answerSnippet is the start of an error answer, for the log: the server
// says there why it refused.
func answerSnippet(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	if s == "" {
		return resp.Status
	}
	return resp.Status + ": " + s
}

// parseRetryAfter reads delay-seconds or an HTTP date, capped at
// maxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = max(at.Sub(now), 0)
	} else {
		return 0, false
	}
	return min(d, maxRetryAfter), true
}

// fullJitter is exponential backoff with full jitter: uniform in
// [0, min(maxD, minD*2^n)]. Spreading retries over the whole window keeps a
// fleet that lost the server at the same moment from coming back in step.
func fullJitter(minD, maxD time.Duration, n int) time.Duration {
	ceiling := minD
	for i := 0; i < n && ceiling < maxD; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, maxD)
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// close releases idle connections and the compressor.
func (t *transport) close() {
	t.client.CloseIdleConnections()
	if t.zstd != nil {
		t.zstd.Close()
	}
}

// redactedURL is the ingest URL for logs, without any userinfo password.
func (t *transport) redactedURL() string {
	u, err := url.Parse(t.url)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}
