package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInternetBinaries wires the internet monitor through the real
// binaries: `flowlens sim geoip` writes the database, `flowlens server
// --geoip-city/--geoip-asn` enriches the simulator's internet clients at
// ingest, and the internet CLI creates and lists monitors and events. (The
// scoring and events are covered on simulated time in package internet:
// a real-time run needs several minutes.)
func TestInternetBinaries(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sim.mmdb")
	if out, err := exec.Command(flowlensBin, "sim", "geoip", "--out", db).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "1060 city-networks") {
		t.Fatalf("sim geoip: %v %s", err, out)
	}
	addr := freeAddr(t)
	log := &bytes.Buffer{}
	srv := exec.Command(flowlensBin, "server", "--data-dir", filepath.Join(dir, "data"), "--listen", addr,
		"--topology", "../examples/topology.yaml", "--geoip-city", db, "--geoip-asn", db)
	srv.Env = append(os.Environ(), "FLOWLENS_TOKEN="+token)
	srv.Stdout, srv.Stderr = log, log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	})
	url := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not become healthy")
		}
		time.Sleep(100 * time.Millisecond)
	}

	if out := cli(t, url, "internet", "monitors", "create", "web", "--period", "1m"); !strings.Contains(string(out), "web") {
		t.Fatalf("create: %s", out)
	}
	var mons []struct {
		Name          string `json:"name"`
		PeriodSeconds int    `json:"period_seconds"`
	}
	if err := json.Unmarshal(cli(t, url, "internet", "monitors", "-o", "json"), &mons); err != nil || len(mons) != 1 || mons[0].PeriodSeconds != 60 {
		t.Fatalf("monitors: %+v %v", mons, err)
	}
	cli(t, url, "sim", "--agents", "4", "--flows-per-agent", "5", "--internet-clients", "200", "--interval", "1s",
		"--duration", "3s", "--quiet")

	// Enriched at ingest: internet traffic ranks by provider.
	var top []struct {
		RemoteASN uint32 `json:"remote_asn"`
	}
	if err := json.Unmarshal(cli(t, url, "insights", "top", "--category", "internet", "--since", "15m", "-o", "json"), &top); err != nil {
		t.Fatal(err)
	}
	withASN := 0
	for _, r := range top {
		if r.RemoteASN != 0 {
			withASN++
		}
	}
	if withASN == 0 {
		t.Fatalf("no internet row carries an ASN: %+v", top)
	}
	if out := strings.TrimSpace(string(cli(t, url, "internet", "events", "--output", "json"))); out != "[]" {
		t.Fatalf("events: %s", out)
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "flowlens_geoip_databases 1") {
		t.Fatal("/metrics lacks flowlens_geoip_databases 1")
	}
}
