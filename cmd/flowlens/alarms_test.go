package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowlens/flowlens/alarm"
	"github.com/flowlens/flowlens/alarm/alarmtest"
	"github.com/flowlens/flowlens/internal/golden"
	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/server"
)

// runCLI runs a flowlens command in-process and returns its stdout.
func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
	}
}

// TestAlarmFiresToWebhookAndAlertmanager is the end-to-end path: metric
// points stored in a real server's DuckDB file, an alarm created and read
// through the CLI, a transition to ALARM delivered to a webhook and to a
// real Alertmanager, and the return to OK resolving it there.
func TestAlarmFiresToWebhookAndAlertmanager(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and Alertmanager")
	}
	am := alarmtest.StartAlertmanager(t)
	hook := alarmtest.NewWebhook(t)
	hookStates := func() []string { return hook.Transitions("web-degraded") }

	var metrics metricstore.Store
	dir := t.TempDir()
	srv, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0", Tokens: []string{"alarm-test-token"},
		OpenStore: embeddedStore(t, dir), Modules: func(h *server.Host) ([]module.Named, error) {
			metrics = h.Metrics
			al, err := alarm.NewModule(alarm.Config{EvalDelay: 300 * time.Millisecond, ResendInterval: 2 * time.Second,
				NotifyBackoff: 100 * time.Millisecond}, alarmDeps(h))
			return []module.Named{{Name: "alarm", Module: al}}, err
		}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	t.Setenv("FLOWLENS_SERVER", srv.URL())
	t.Setenv("FLOWLENS_TOKEN", "alarm-test-token")

	// A monitor-like publisher: every 250 ms it (re)stores the point of
	// the current 1 s period with the current value (copies of a period
	// supersede each other, as a re-published monitor period does).
	var value atomic.Int64
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			now := time.Now()
			p := metricstore.Point{Namespace: "FlowLens/Monitors", Metric: "health_indicator", Dimensions: map[string]string{"monitor": "web"},
				Time: now.Truncate(time.Second), Period: time.Second, Value: float64(value.Load())}
			if err := metrics.Put(ctx, []metricstore.Point{p}); err != nil && ctx.Err() == nil {
				t.Errorf("put point: %v", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { stop(); wg.Wait() }()

	if _, err := runCLI(t, "alarms", "create", "web-degraded", "--namespace", "FlowLens/Monitors", "--metric", "health_indicator",
		"--dimension", "monitor=web", "--statistic", "maximum", "--period", "1s", "--evaluation-periods", "3",
		"--datapoints-to-alarm", "1", "--comparison", ">=", "--threshold", "1", "--treat-missing-data", "missing",
		"--webhook", hook.URL, "--alertmanager", am, "--severity", "critical"); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		out, err := runCLI(t, "alarms", "get", "web-degraded", "--output", "json")
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("get -o json: %v: %s", err, out)
		}
		return s.State
	}
	waitUntil(t, "OK on healthy points", 15*time.Second, func() bool { return state() == "OK" })

	value.Store(1)
	waitUntil(t, "ALARM", 15*time.Second, func() bool { return state() == "ALARM" })
	waitUntil(t, "the webhook of OK>ALARM", 10*time.Second, func() bool {
		h := hookStates()
		return len(h) == 2 && h[1] == "OK>ALARM"
	})
	waitUntil(t, "the alert in Alertmanager", 10*time.Second, func() bool {
		for _, a := range alarmtest.Alerts(t, am) {
			if a.Labels["alertname"] == "web-degraded" && a.Status.State == "active" {
				if a.Labels["severity"] != "critical" || a.Labels["namespace"] != "FlowLens/Monitors" ||
					a.Labels["metric"] != "health_indicator" || a.Labels["dimensions"] != "monitor=web" {
					t.Fatalf("alert labels: %+v", a.Labels)
				}
				return true
			}
		}
		return false
	})

	value.Store(0)
	waitUntil(t, "OK again", 20*time.Second, func() bool { return state() == "OK" })
	waitUntil(t, "the webhook of ALARM>OK", 10*time.Second, func() bool {
		h := hookStates()
		return len(h) == 3 && h[2] == "ALARM>OK"
	})
	waitUntil(t, "the alert resolved in Alertmanager", 10*time.Second, func() bool { return !alarmtest.Firing(t, am, "web-degraded") })

	out, err := runCLI(t, "alarms", "history", "web-degraded", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var hist []alarm.HistoryItem
	if err := json.Unmarshal([]byte(out), &hist); err != nil || len(hist) < 4 || hist[0].NewState != alarm.OK || hist[1].NewState != alarm.Alarming {
		t.Fatalf("history: %v %s", err, out)
	}
	out, err = runCLI(t, "alarms", "get", "web-degraded", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var st alarm.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Notifications.Failed != 0 || st.Notifications.Sent < 5 {
		t.Fatalf("notifications: %v %+v", err, st.Notifications)
	}
	if out, err := runCLI(t, "alarms", "list"); err != nil || !strings.Contains(out, "web-degraded  OK") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "alarms", "delete", "web-degraded"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "alarms", "get", "web-degraded"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestAlarmCLIErrorsNameTheField(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"alarms", "create", "bad name", "--namespace", "N", "--metric", "m"}, "name:"},
		{[]string{"alarms", "create", "a", "--namespace", "N", "--metric", "m", "--comparison", "=="}, "comparison:"},
		{[]string{"alarms", "create", "a", "--namespace", "N", "--metric", "m", "--evaluation-periods", "2", "--datapoints-to-alarm", "3"}, "datapoints_to_alarm:"},
		{[]string{"alarms", "create", "a", "--namespace", "N", "--metric", "m", "--dimension", "novalue"}, "--dimension"},
		{[]string{"alarms", "list", "-o", "csv"}, "--output"},
	}
	for _, c := range cases {
		_, err := runCLI(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

func TestAlarmOutputGolden(t *testing.T) {
	v := 1.0
	at := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	st := alarm.Status{
		Definition: alarm.Definition{Name: "web-degraded", Namespace: "FlowLens/Monitors", Metric: "health_indicator",
			Dimensions: map[string]string{"monitor": "web"}, Statistic: alarm.Maximum, Period: alarm.Duration(10 * time.Second),
			EvaluationPeriods: 3, DatapointsToAlarm: 1, Comparison: alarm.GreaterOrEqual, Threshold: 1, TreatMissingData: alarm.Missing,
			Severity: "warning", Webhooks: []string{"http://127.0.0.1:9000/hook"}},
		State: alarm.Alarming, StateReason: "Threshold Crossed: 1 out of the last 3 datapoints was greater than or equal to the threshold (1)",
		StateUpdated: at, LastEvaluated: at, Created: at,
		Datapoints:    []alarm.DatapointJSON{{Time: at.Add(-30 * time.Second)}, {Time: at.Add(-20 * time.Second), Value: &v}},
		Notifications: alarm.NotifyStatus{Sent: 2, Failed: 1, LastError: "webhook http://127.0.0.1:9000/hook: answered 503", LastErrAt: at},
	}
	var buf bytes.Buffer
	printAlarmList(&buf, "table", []alarm.Status{st})
	golden.Check(t, "alarms_list.table.golden", buf.String())
	buf.Reset()
	printAlarmStatus(&buf, "table", st)
	golden.Check(t, "alarms_get.table.golden", buf.String())
	buf.Reset()
	printAlarmStatus(&buf, "json", st)
	golden.Check(t, "alarms_get.json.golden", buf.String())
}
