package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/alarm"
	"github.com/flowlens/flowlens/internal/golden"
	"github.com/flowlens/flowlens/metricfilter"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/server"
)

const (
	sampleFlowLogs = "../../metricfilter/testdata/flowlogs.log"
	reject22       = `[version, account, eni, source, destination, srcport, destport="22", protocol="6", packets, bytes, windowstart, windowend, action="REJECT", flowlogstatus]`
)

// TestMetricFiltersTestCommand is acceptance: `flowlens metric-filters
// test` with the REJECT-on-port-22 pattern over a sample file, locally.
func TestMetricFiltersTestCommand(t *testing.T) {
	out, err := runCLI(t, "metric-filters", "test", "--pattern", reject22, "--value", "$bytes", sampleFlowLogs)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "metric_filters_test_reject22.table.golden", out)
	out, err = runCLI(t, "metric-filters", "test", "--pattern", reject22, "--dimension", "source=$source", "-o", "json", sampleFlowLogs)
	if err != nil {
		t.Fatal(err)
	}
	var resp metricfilter.TestResponse
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp.Matched != 2 || resp.Total != 10 ||
		!resp.Results[7].Matched || resp.Results[7].Dimensions["source"] != "198.51.100.7" || resp.Results[1].Matched {
		t.Fatalf("json: %v %s", err, out)
	}
	// The same over a gzip copy, as flow logs are delivered.
	gz := t.TempDir() + "/flows.log.gz"
	data, _ := os.ReadFile(sampleFlowLogs)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(gz, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "metric-filters", "test", "--pattern", reject22, "--value", "$bytes", gz); err != nil ||
		!strings.HasSuffix(out, "2 of 10 lines matched\n") {
		t.Fatalf("gzip: %v %s", err, out)
	}
	if _, err := runCLI(t, "metric-filters", "test", "--pattern", "[a, b", sampleFlowLogs); err == nil ||
		!strings.Contains(err.Error(), "pattern: column 1: missing ]") {
		t.Fatalf("bad pattern: %v", err)
	}
	if _, err := runCLI(t, "metric-filters", "test", "--pattern", reject22, "--value", "$nope", sampleFlowLogs); err == nil ||
		!strings.Contains(err.Error(), "metric_value") {
		t.Fatalf("bad value: %v", err)
	}
}

// TestMetricFilterToAlarm runs a server with both modules: filters are
// created through the CLI, records reach the filter the way the flow-log
// importer hands them over (Ingested), the minute is written to the
// metric store, and an alarm on that metric goes to ALARM.
func TestMetricFilterToAlarm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	var mf *metricfilter.Module
	var alarms *alarm.Module
	dir := t.TempDir()
	srv, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0", Tokens: []string{"mf-token"},
		OpenStore: embeddedStore(t, dir), Modules: func(h *server.Host) ([]module.Named, error) {
			var err error
			if alarms, err = alarm.NewModule(alarm.Config{}, alarmDeps(h)); err != nil {
				return nil, err
			}
			if mf, err = metricfilter.NewModule(metricfilter.Config{}, metricfilterDeps(h)); err != nil {
				return nil, err
			}
			return []module.Named{{Name: "alarm", Module: alarms}, {Name: "metricfilter", Module: mf}}, nil
		}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	t.Setenv("FLOWLENS_SERVER", srv.URL())
	t.Setenv("FLOWLENS_TOKEN", "mf-token")

	if _, err := runCLI(t, "metric-filters", "create", "ssh-rejects", "--group", "/vpc/prod", "--metric-name", "ssh_rejects",
		"--pattern", reject22); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "metric-filters", "create", "bytes-by-src", "--group", "/vpc/prod", "--metric-name", "reject_bytes",
		"--pattern", reject22, "--metric-value", "$bytes", "--unit", "bytes", "--dimension", "src=$source"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "metric-filters", "list", "--group", "/vpc/prod")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "metric_filters_list.table.golden", out)

	// The records of a minute that ended at least a minute ago (so that the
	// alarm's 2 x 1 min window holds it whenever its evaluations run).
	data, err := os.ReadFile(sampleFlowLogs)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	at := time.Now().Add(-65 * time.Second).Unix()
	times := make([]int64, len(lines))
	for i := range times {
		times[i] = at
	}
	mf.Ingested("/vpc/prod", times, lines)
	if err := mf.Flush(context.Background(), false); err != nil {
		t.Fatal(err)
	}

	if _, err := runCLI(t, "alarms", "create", "ssh-scan", "--namespace", "FlowLens/Logs", "--metric", "ssh_rejects",
		"--statistic", "sum", "--period", "1m", "--evaluation-periods", "2", "--datapoints-to-alarm", "1",
		"--comparison", ">=", "--threshold", "2", "--treat-missing-data", "notBreaching"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the alarm on the filter's metric", 20*time.Second, func() bool {
		st, err := alarms.Get("ssh-scan")
		return err == nil && st.State == alarm.Alarming
	})
	st, _ := alarms.Get("ssh-scan")
	if !strings.Contains(st.StateReason, "1 out of the last 2 datapoints") {
		t.Errorf("reason: %s", st.StateReason)
	}
	if _, err := runCLI(t, "metric-filters", "delete", "/vpc/prod", "ssh-rejects"); err != nil {
		t.Fatal(err)
	}
	if out, _ := runCLI(t, "metric-filters", "list", "-o", "json"); !strings.Contains(out, "bytes-by-src") || strings.Contains(out, `"ssh-rejects"`) {
		t.Fatalf("after delete: %s", out)
	}
}

// TestFlowLogImportToMetricFilterToAlarm is the whole path with the
// server's real module list: `flowlens flowlogs import` stores a file, the
// importer hands the stored records to the metric filter, the filter's
// minute reaches the metric store, and an alarm on it fires.
func TestFlowLogImportToMetricFilterToAlarm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	mods := moduleFlags{alarm: alarm.Config{EvalDelay: 200 * time.Millisecond}, metricfilter: metricfilter.Config{FlushEvery: 200 * time.Millisecond}}
	dir := t.TempDir()
	srv, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0", Tokens: []string{"e2e-token"},
		OpenStore: embeddedStore(t, dir), Modules: mods.builder(nil)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	t.Setenv("FLOWLENS_SERVER", srv.URL())
	t.Setenv("FLOWLENS_TOKEN", "e2e-token")

	if _, err := runCLI(t, "metric-filters", "create", "ssh-rejects", "--group", "prod-vpc", "--metric-name", "ssh_rejects",
		"--pattern", reject22); err != nil {
		t.Fatal(err)
	}
	// The reference records, moved to a minute that ended at least a minute
	// ago (start and end are fields 11 and 12).
	data, err := os.ReadFile(sampleFlowLogs)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-65 * time.Second).Unix()
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		f[10], f[11] = fmt.Sprint(at), fmt.Sprint(at+30)
		lines = append(lines, strings.Join(f, " "))
	}
	file := t.TempDir() + "/flows.log"
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "flowlogs", "import", "--group", "prod-vpc", file); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "alarms", "create", "ssh-scan", "--namespace", "FlowLens/Logs", "--metric", "ssh_rejects",
		"--statistic", "sum", "--period", "1m", "--evaluation-periods", "2", "--datapoints-to-alarm", "1",
		"--comparison", ">=", "--threshold", "2", "--treat-missing-data", "notBreaching"); err != nil {
		t.Fatal(err)
	}
	var st alarm.Status
	waitUntil(t, "the alarm on the imported records", 30*time.Second, func() bool {
		out, err := runCLI(t, "alarms", "get", "ssh-scan", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatal(err)
		}
		return st.State == alarm.Alarming
	})
	if !strings.Contains(st.StateReason, "[2 (") {
		t.Errorf("the minute's sum must be the 2 SSH rejects: %s", st.StateReason)
	}
}
