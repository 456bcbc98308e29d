// Package alarmtest gives tests the real receivers of alarm notifications:
// Debian's Prometheus Alertmanager, started on a free loopback port and
// killed when the test ends, and a recording webhook.
package alarmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/flowlens/flowlens/alarm"
)

// AlertmanagerBin is where Debian's prometheus-alertmanager installs it.
const AlertmanagerBin = "/usr/bin/prometheus-alertmanager"

// StartAlertmanager runs a real Alertmanager on a free loopback port with
// a temporary configuration (one receiver that sends nothing) and storage,
// and kills it by PID when the test ends. It skips the test, saying why,
// when the binary is missing. It returns the base URL.
func StartAlertmanager(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(AlertmanagerBin); err != nil {
		t.Skipf("needs Prometheus Alertmanager at %s (apt-get install prometheus-alertmanager)", AlertmanagerBin)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var logs bytes.Buffer
	var logMu sync.Mutex
	cmd := exec.Command(AlertmanagerBin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	w := lockedWriter{mu: &logMu, b: &logs}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start alertmanager: %v", err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
		cmd.Wait()
		if t.Failed() {
			logMu.Lock()
			t.Logf("alertmanager output:\n%s", logs.String())
			logMu.Unlock()
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready at %s after 20 s: %v", base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// Alert is an alert as Alertmanager's v2 API lists it.
type Alert struct {
	Labels   map[string]string `json:"labels"`
	StartsAt time.Time         `json:"startsAt"`
	EndsAt   time.Time         `json:"endsAt"`
	Status   struct {
		State string `json:"state"` // "active", "suppressed", "unprocessed"
	} `json:"status"`
}

// Alerts lists the alerts Alertmanager holds (resolved ones are not
// listed).
func Alerts(t testing.TB, base string) []Alert {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("alertmanager alerts: %s", resp.Status)
	}
	var out []Alert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Firing tells whether Alertmanager holds a firing alert for the alarm.
func Firing(t testing.TB, base, alarmName string) bool {
	for _, a := range Alerts(t, base) {
		if a.Labels["alertname"] == alarmName && a.EndsAt.After(time.Now()) {
			return true
		}
	}
	return false
}

// Webhook records the alarm notifications POSTed to it.
type Webhook struct {
	URL string
	mu  sync.Mutex
	got []alarm.WebhookPayload
}

// NewWebhook starts a recording webhook, closed when the test ends.
func NewWebhook(t testing.TB) *Webhook {
	w := &Webhook{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var p alarm.WebhookPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.got = append(w.got, p)
		w.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

// Payloads returns what was received, in order.
func (w *Webhook) Payloads() []alarm.WebhookPayload {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]alarm.WebhookPayload(nil), w.got...)
}

// Transitions returns "OLD>NEW" for each payload of the alarm, in order.
func (w *Webhook) Transitions(alarmName string) []string {
	var out []string
	for _, p := range w.Payloads() {
		if p.Alarm == alarmName {
			out = append(out, fmt.Sprintf("%s>%s", p.OldState, p.NewState))
		}
	}
	return out
}
