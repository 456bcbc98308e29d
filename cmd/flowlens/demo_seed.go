package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/flowlens/flowlens/alarm"
	"github.com/flowlens/flowlens/apiclient"
	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/geoip"
	"github.com/flowlens/flowlens/internal/flowloggen"
	"github.com/flowlens/flowlens/internet"
	"github.com/flowlens/flowlens/sim"
)

// The demo shows every feature with data: monitors evaluated every 10 s,
// an alarm on one of them, a flow-log group with metric filters, and an
// internet monitor over simulated clients placed by a generated GeoIP
// database. Its default faults make something happen a few minutes in.

// demoFaults are the default --fault values of the demo.
var demoFaults = []string{
	"segment=zone-a>zone-b,loss=0.03,after=4m,for=4m",
	"asn=64500,loss=0.05,after=6m,for=6m",
}

// demoConfig declares the demo's monitors in the server config file, the
// way a user would.
const demoConfig = `# Written by flowlens demo: the monitors it starts with.
monitors:
  - name: zone-a-to-zone-b
    local: [zone:zone-a]
    remote: [zone:zone-b]
    period: 10s
  - name: zone-b-to-zone-a
    local: [zone:zone-b]
    remote: [zone:zone-a]
    period: 10s
  - name: web-a-to-objstore
    local: [subnet:web-a]
    remote: [service:objstore]
    period: 30s
  - name: us-east
    local: [region:us-east]
    period: 60s
`

// prepareDemo writes the demo's config file and GeoIP database into the
// data dir and points the modules at them (unless the user gave their own).
func prepareDemo(dataDir string, mods *moduleFlags) error {
	if mods.configPath == "" {
		mods.configPath = filepath.Join(dataDir, "flowlens.yaml")
		if err := os.WriteFile(mods.configPath, []byte(demoConfig), 0o644); err != nil {
			return fmt.Errorf("write demo config: %w", err)
		}
	}
	if mods.geoip.CityPath == "" && mods.geoip.ASNPath == "" {
		path := filepath.Join(dataDir, "demo-geoip.mmdb")
		if err := geoip.Write(path, sim.GeoIPEntries(sim.InternetPlan()), geoip.WriteOptions{Layout: geoip.LayoutMaxMind}); err != nil {
			return fmt.Errorf("write demo GeoIP database: %w", err)
		}
		mods.geoip.CityPath, mods.geoip.ASNPath = path, path
	}
	return nil
}

// seedDemo creates, through the API as a user would, what the config file
// cannot: the alarm, the internet monitor, metric filters and a sample
// flow-log group. A failure is logged; the demo runs on without it.
func seedDemo(ctx context.Context, c *apiclient.Client, log *slog.Logger) {
	steps := []struct {
		what string
		fn   func(context.Context, *apiclient.Client) error
	}{
		{"alarm", seedDemoAlarm},
		{"internet monitor", seedDemoInternetMonitor},
		{"metric filters", seedDemoMetricFilters},
		{"flow logs", seedDemoFlowLogs},
	}
	for _, s := range steps {
		if err := s.fn(ctx, c); err != nil && ctx.Err() == nil {
			log.Warn("demo: could not create the sample "+s.what, "err", err)
		}
	}
}

func seedDemoAlarm(ctx context.Context, c *apiclient.Client) error {
	def := alarm.Definition{Name: "zone-a-to-zone-b-degraded",
		Description: "The network between zone-a and zone-b is degraded (health indicator of the monitor)",
		Namespace:   "FlowLens/Monitors", Metric: "health_indicator", Dimensions: map[string]string{"monitor": "zone-a-to-zone-b"},
		Statistic: alarm.Maximum, Period: alarm.Duration(10 * time.Second), EvaluationPeriods: 3, DatapointsToAlarm: 2,
		Comparison: alarm.GreaterOrEqual, Threshold: 1, TreatMissingData: alarm.NotBreaching, Severity: "warning"}
	return c.PutAlarm(ctx, def.Name, def, nil)
}

func seedDemoInternetMonitor(ctx context.Context, c *apiclient.Client) error {
	var existing []internet.Monitor
	if err := c.InternetMonitors(ctx, &existing); err != nil {
		return err
	}
	for _, m := range existing {
		if m.Name == "internet" {
			return nil
		}
	}
	return c.CreateInternetMonitor(ctx, internet.Monitor{Name: "internet", PeriodSeconds: 60, TrafficShare: 100}, nil)
}

func seedDemoMetricFilters(ctx context.Context, c *apiclient.Client) error {
	filters := []map[string]any{
		{"group": "demo-vpc", "name": "ssh-rejects", "metric_namespace": "FlowLens/Logs", "metric_name": "ssh_rejects", "metric_value": "1",
			"pattern": `[version, account, eni, source, destination, srcport, destport="22", protocol="6", packets, bytes, windowstart, windowend, action="REJECT", flowlogstatus]`},
		{"group": "demo-vpc", "name": "rejected-bytes", "metric_namespace": "FlowLens/Logs", "metric_name": "rejected_bytes", "metric_value": "$bytes",
			"pattern": `[version, account, eni, source, destination, srcport, destport, protocol, packets, bytes, windowstart, windowend, action="REJECT", flowlogstatus]`},
	}
	for _, f := range filters {
		if err := c.CreateMetricFilter(ctx, f, nil); err != nil {
			return err
		}
	}
	return nil
}

// seedDemoFlowLogs uploads an hour of generated VPC flow logs (gzip, with
// the S3 header line) into the group demo-vpc, once per data dir.
func seedDemoFlowLogs(ctx context.Context, c *apiclient.Client) error {
	var groups struct {
		Groups []flowlog.Group `json:"groups"`
	}
	if err := c.FlowLogGroups(ctx, &groups); err != nil {
		return err
	}
	for _, g := range groups.Groups {
		if g.Name == "demo-vpc" {
			return nil
		}
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	start := time.Now().Add(-2 * time.Hour).Unix()
	if err := flowloggen.Generate(zw, flowloggen.GenConfig{Records: 100_000, Seed: uint64(start), Start: start, Header: true}); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	up := apiclient.FlowLogUpload{Group: "demo-vpc", Source: "demo-vpc.log.gz", Size: int64(buf.Len())}
	return c.UploadFlowLog(ctx, up, &buf, nil)
}
