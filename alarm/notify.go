package alarm

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Notification kinds (the "kind" label of the notification counters).
const (
	KindWebhook      = "webhook"
	KindAlertmanager = "alertmanager"
)

// WebhookPayload is the JSON body POSTed to a webhook on every state
// transition.
type WebhookPayload struct {
	Alarm      string            `json:"alarm"`
	OldState   State             `json:"old_state"`
	NewState   State             `json:"new_state"`
	Reason     string            `json:"reason"`
	Datapoints []DatapointJSON   `json:"datapoints"`
	Time       time.Time         `json:"time"`
	Namespace  string            `json:"namespace"`
	Metric     string            `json:"metric"`
	Dimensions map[string]string `json:"dimensions,omitempty"`
	Statistic  Statistic         `json:"statistic"`
	Comparison Comparison        `json:"comparison"`
	Threshold  float64           `json:"threshold"`
	Severity   string            `json:"severity"`
}

// amAlert is one alert of Alertmanager's v2 API (POST /api/v2/alerts).
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

// alertmanagerAlert builds the alert for s, which entered ALARM at since:
// firing until endsAt, or resolved when endsAt is now.
func alertmanagerAlert(s *Status, since, endsAt time.Time) amAlert {
	labels := map[string]string{
		"alertname": s.Name,
		"severity":  s.Severity,
		"namespace": s.Namespace,
		"metric":    s.Metric,
	}
	if len(s.Dimensions) > 0 {
		labels["dimensions"] = DimensionText(s.Dimensions)
	}
	return amAlert{
		Labels: labels,
		Annotations: map[string]string{
			"summary":     fmt.Sprintf("%s %s %s %s", s.Metric, s.Statistic, s.Comparison, fmtValue(s.Threshold)),
			"description": s.StateReason,
		},
		StartsAt: since.UTC(),
		EndsAt:   endsAt.UTC(),
	}
}

// job is one delivery: a JSON body to POST.
type job struct {
	kind string
	url  string
	body []byte
}

// notifier delivers jobs with retries. Each alarm has its own ordered queue
// so that an alarm's "resolved" never overtakes its "firing", while a slow
// endpoint of one alarm does not delay the others.
type notifier struct {
	client   *http.Client
	log      *slog.Logger
	attempts int
	backoff  time.Duration
	metrics  *metrics
	// result reports each job's outcome to the engine (alarm counters).
	result func(alarm string, j job, err error)

	mu     sync.Mutex
	queues map[string]chan job
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// queueLen bounds an alarm's pending deliveries; beyond it the newest is
// dropped and counted as failed (an endpoint down for long).
const queueLen = 64

func newNotifier(cfg Config, allow *Allowlist, log *slog.Logger, m *metrics, result func(string, job, error)) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	return &notifier{
		client:   notifyClient(cfg.NotifyTimeout, allow),
		log:      log,
		attempts: cfg.NotifyAttempts,
		backoff:  cfg.NotifyBackoff,
		metrics:  m,
		result:   result,
		queues:   map[string]chan job{},
		ctx:      ctx,
		cancel:   cancel,
	}
}

// enqueue queues jobs for alarm in order. It never blocks and never calls
// back: the errors of jobs dropped because the queue is full are returned
// for the caller to record.
func (n *notifier) enqueue(alarm string, jobs ...job) []error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ctx.Err() != nil {
		return nil
	}
	q, ok := n.queues[alarm]
	if !ok {
		q = make(chan job, queueLen)
		n.queues[alarm] = q
		n.wg.Add(1)
		go n.run(alarm, q)
	}
	var dropped []error
	for _, j := range jobs {
		select {
		case q <- j:
		default:
			n.metrics.failed.WithLabelValues(j.kind).Inc()
			dropped = append(dropped, fmt.Errorf("%s %s: %d notifications pending, this one dropped", j.kind, j.url, queueLen))
		}
	}
	return dropped
}

// forget closes an alarm's queue once its pending jobs are sent (the alarm
// was deleted).
func (n *notifier) forget(alarm string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if q, ok := n.queues[alarm]; ok {
		close(q)
		delete(n.queues, alarm)
	}
}

func (n *notifier) run(alarm string, q chan job) {
	defer n.wg.Done()
	for {
		select {
		case j, ok := <-q:
			if !ok {
				return
			}
			err := n.deliver(j)
			if err != nil {
				n.metrics.failed.WithLabelValues(j.kind).Inc()
				n.log.Warn("alarm notification failed", "alarm", alarm, "kind", j.kind, "url", j.url, "err", err)
			} else {
				n.metrics.sent.WithLabelValues(j.kind).Inc()
			}
			n.result(alarm, j, err)
		case <-n.ctx.Done():
			return
		}
	}
}

// deliver POSTs the job, retrying with exponential backoff (backoff,
// 2x, 4x, ...) up to the configured attempts. 4xx answers other than 408
// and 429 are not retried: the same body would be refused again.
func (n *notifier) deliver(j job) error {
	wait := n.backoff
	var err error
	for attempt := 1; attempt <= n.attempts; attempt++ {
		var retry bool
		retry, err = n.post(j)
		if err == nil {
			return nil
		}
		if !retry || attempt == n.attempts {
			break
		}
		n.metrics.retries.WithLabelValues(j.kind).Inc()
		select {
		case <-time.After(wait):
		case <-n.ctx.Done():
			return fmt.Errorf("%w (stopping)", err)
		}
		wait *= 2
	}
	return err
}

// notifyClient never follows redirects (a target could otherwise send
// the server on to an internal address) and, with an allowlist, connects
// only where it allows, without a proxy (whose address is not the
// target's).
func notifyClient(timeout time.Duration, allow *Allowlist) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if allow != nil {
		tr.Proxy = nil
		tr.DialContext = allow.dialContext(&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second})
	}
	return &http.Client{Timeout: timeout, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// maxDrain is how much of an answer is read (and thrown away) so that the
// connection can be reused.
const maxDrain = 4 << 10

// post sends one job. The answer's body is never kept or shown, and
// transport errors are reduced to their kind: a target may be an internal
// service whose answer (or banner, for a service that does not speak
// HTTP) must not reach the alarm's status, its history or the logs.
func (n *notifier) post(j job) (retry bool, err error) {
	req, err := http.NewRequestWithContext(n.ctx, http.MethodPost, j.url, bytes.NewReader(j.body))
	if err != nil {
		return false, fmt.Errorf("%s %s: not a valid URL", j.kind, j.url)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "flowlens-alarm")
	resp, err := n.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrNotAllowed) {
			n.metrics.refused.WithLabelValues(j.kind).Inc()
			return false, fmt.Errorf("%s %s: refused: %w", j.kind, j.url, allowlistError(err))
		}
		return true, fmt.Errorf("%s %s: %s", j.kind, j.url, failureKind(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain)) //nolint:errcheck // only to reuse the connection
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests
	if resp.StatusCode/100 == 3 {
		return false, fmt.Errorf("%s %s: answered %d (redirects are not followed)", j.kind, j.url, resp.StatusCode)
	}
	return retry, fmt.Errorf("%s %s: answered %d", j.kind, j.url, resp.StatusCode)
}

// allowlistError is the allowlist's own error (which names the host)
// inside the client's.
func allowlistError(err error) error {
	for u := errors.Unwrap(err); u != nil && u != ErrNotAllowed && errors.Is(u, ErrNotAllowed); u = errors.Unwrap(u) {
		err = u
	}
	return err
}

// failureKind names what went wrong with a connection without quoting
// anything the other end sent.
func failureKind(err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return "DNS lookup failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an HTTP answer"
	case errors.As(err, &certErr):
		return "TLS certificate not accepted"
	case errors.As(err, &recErr):
		return "not a TLS server"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "stopped"
	}
	return "no valid HTTP answer"
}

// stop abandons pending retries and waits for the senders to end.
func (n *notifier) stop() {
	n.mu.Lock()
	n.cancel()
	n.mu.Unlock()
	n.wg.Wait()
}

func webhookJob(url string, p WebhookPayload) job {
	b, _ := json.Marshal(p)
	return job{kind: KindWebhook, url: url, body: b}
}

func alertmanagerJob(base string, a amAlert) job {
	b, _ := json.Marshal([]amAlert{a})
	return job{kind: KindAlertmanager, url: strings.TrimRight(base, "/") + "/api/v2/alerts", body: b}
}
