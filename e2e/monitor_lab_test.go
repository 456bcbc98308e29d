package e2e

// TestMonitorLabAlarm is acceptance 3 of the monitors issue, with the real
// binaries and real traffic: a `flowlens server`, a netns lab with one
// sock_diag agent per host (2 s intervals), iperf3 streams between mirror
// hosts of zone-a and zone-b, a zone-a -> zone-b monitor with a 10 s
// period and an alarm on its health_indicator that notifies a webhook and
// a real Alertmanager (Debian's prometheus-alertmanager, started here on a
// loopback port and killed by PID). 5% loss on the zone-a/zone-b link must
// turn the monitor DEGRADED and fire the alarm within 60 s; after `lab
// heal` the alarm must return to OK within 60 s. The measured times are
// logged (and recorded in BENCHMARKS.md).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/flowlens/flowlens/alarm/alarmtest"
	"github.com/flowlens/flowlens/lab"
)

// startMonitorServer runs `flowlens server` with short monitor and alarm
// delays (the test's 10 s periods).
func startMonitorServer(t *testing.T, dataDir, addr string) *serverProc {
	t.Helper()
	log := &bytes.Buffer{}
	cmd := exec.Command(flowlensBin, "server", "--data-dir", dataDir, "--listen", addr, "--topology", "../examples/topology.yaml",
		"--monitor-grace", "2s", "--alarm-eval-delay", "5s", "--alarm-resend-interval", "10s")
	cmd.Env = append(os.Environ(), "FLOWLENS_TOKEN="+token)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serverProc{cmd: cmd, url: "http://" + addr, log: log}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.log.String())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
	}
	t.Fatalf("server did not become healthy; log:\n%s", log.String())
	return nil
}

// webhookLog records the payloads a webhook received, with their time.
type webhookLog struct {
	mu   sync.Mutex
	msgs []webhookMsg
}

type webhookMsg struct {
	at       time.Time
	Alarm    string `json:"alarm"`
	OldState string `json:"old_state"`
	NewState string `json:"new_state"`
	Reason   string `json:"reason"`
}

func (h *webhookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m webhookMsg
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &m); err == nil {
		m.at = time.Now()
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		h.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

// first returns the first payload after since with new_state state.
func (h *webhookLog) first(state string, since time.Time) (webhookMsg, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.msgs {
		if m.NewState == state && !m.at.Before(since) {
			return m, true
		}
	}
	return webhookMsg{}, false
}

func TestMonitorLabAlarm(t *testing.T) {
	requireAgentLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin := buildAgent(t)
	am := alarmtest.StartAlertmanager(t) // skips without prometheus-alertmanager
	hook := &webhookLog{}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	srv := startMonitorServer(t, t.TempDir(), freeAddr(t))

	l := upAgentLab(ctx, t, "m", lab.AgentConfig{Bin: bin, Mode: "sockdiag", Server: srv.url, Token: token, Interval: 2 * time.Second}, true)
	// Continuous iperf3 streams between mirror hosts (a1-h1 <-> b1-h1, ...):
	// four independent host pairs cross the link each way.
	if err := l.StartTraffic(ctx, lab.TrafficConfig{Scenarios: []string{"iperf"}, IperfTime: 9 * time.Second,
		IperfEvery: time.Second, IperfRate: "20M"}); err != nil {
		t.Fatalf("lab traffic: %v", err)
	}

	cli(t, srv.url, "monitors", "create", "a-to-b", "--local", "zone:zone-a", "--remote", "zone:zone-b", "--period", "10s")
	cli(t, srv.url, "alarms", "create", "a-to-b-degraded", "--namespace", "FlowLens/Monitors", "--metric", "health_indicator",
		"--dimension", "monitor=a-to-b", "--statistic", "maximum", "--period", "10s", "--evaluation-periods", "2",
		"--datapoints-to-alarm", "1", "--comparison", ">=", "--threshold", "1", "--treat-missing-data", "notBreaching",
		"--webhook", hs.URL, "--alertmanager", am)

	state := func() (monitorState, alarmState string) {
		var m struct {
			Health struct {
				State    string `json:"state"`
				Evidence struct {
					Summary  string `json:"summary"`
					Segments []struct {
						ID string `json:"id"`
					} `json:"segments"`
				} `json:"evidence"`
			} `json:"health"`
		}
		if err := json.Unmarshal(cli(t, srv.url, "monitors", "get", "a-to-b", "--output", "json"), &m); err != nil {
			t.Fatal(err)
		}
		var a struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal(cli(t, srv.url, "alarms", "get", "a-to-b-degraded", "--output", "json"), &a); err != nil {
			t.Fatal(err)
		}
		return m.Health.State, a.State
	}

	// A healthy baseline: the monitor evaluated HEALTHY and the alarm OK.
	waitUntilState(t, "a healthy baseline", 60*time.Second, func() bool {
		ms, as := state()
		return ms == "HEALTHY" && as == "OK"
	})
	time.Sleep(10 * time.Second) // one more healthy window for the baselines

	faultAt := time.Now()
	if err := l.Impair(ctx, lab.Impairment{Link: "zone-a:zone-b", Loss: 5}); err != nil {
		t.Fatalf("impair: %v", err)
	}
	var degradedAfter, webhookAfter, amAfter time.Duration
	waitUntilState(t, "DEGRADED, the alarm in ALARM, the webhook and Alertmanager notified", 60*time.Second, func() bool {
		ms, _ := state()
		if ms == "DEGRADED" && degradedAfter == 0 {
			degradedAfter = time.Since(faultAt)
		}
		if _, ok := hook.first("ALARM", faultAt); ok && webhookAfter == 0 {
			webhookAfter = time.Since(faultAt)
		}
		if amAfter == 0 && alarmtest.Firing(t, am, "a-to-b-degraded") {
			amAfter = time.Since(faultAt)
		}
		return degradedAfter > 0 && webhookAfter > 0 && amAfter > 0
	})
	t.Logf("5%% loss on zone-a:zone-b: monitor DEGRADED after %s, webhook ALARM after %s, Alertmanager firing after %s",
		degradedAfter.Round(time.Second), webhookAfter.Round(time.Second), amAfter.Round(time.Second))
	out := cli(t, srv.url, "monitors", "get", "a-to-b")
	t.Logf("monitor during the fault:\n%s", out)

	healAt := time.Now()
	if err := l.Heal(ctx, ""); err != nil {
		t.Fatalf("heal: %v", err)
	}
	var okAfter time.Duration
	waitUntilState(t, "the alarm back to OK with a webhook", 60*time.Second, func() bool {
		_, as := state()
		_, hooked := hook.first("OK", healAt)
		if as == "OK" && hooked {
			okAfter = time.Since(healAt)
			return true
		}
		return false
	})
	t.Logf("after lab heal: alarm OK after %s", okAfter.Round(time.Second))
	fmt.Printf("monitor_lab detection_seconds=%.0f webhook_seconds=%.0f alertmanager_seconds=%.0f recovery_seconds=%.0f\n",
		degradedAfter.Seconds(), webhookAfter.Seconds(), amAfter.Seconds(), okAfter.Seconds())
	if err := l.StopTraffic(); err != nil {
		t.Errorf("stop traffic: %v", err)
	}
}

func waitUntilState(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(time.Second) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
		}
	}
}
