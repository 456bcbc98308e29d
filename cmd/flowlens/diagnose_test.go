package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/diagnose"
)

const diagConfig = "../../diagnose/testdata/base"

func TestDiagnosePathJSONHasTheIssueFields(t *testing.T) {
	out, err := runCLI(t, "diagnose", "path", "--aws-config", diagConfig, "--src", "10.0.1.10", "--dst", "10.1.1.40",
		"--dst-port", "5432", "--protocol", "tcp", "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Reachable    *bool `json:"reachable"`
		Explanations []struct {
			Code, ComponentID, Direction, Message string
		} `json:"explanations"`
		Path []map[string]any `json:"path"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var raw map[string][]map[string]any
	json.Unmarshal([]byte(out), &raw)
	if res.Reachable == nil || *res.Reachable || len(res.Path) == 0 || len(raw["explanations"]) != 2 {
		t.Fatalf("unexpected result:\n%s", out)
	}
	first := raw["explanations"][0]
	if first["code"] != diagnose.CodeSGRulesMismatch || first["component_id"] != "eni-0b10000000000040a" || first["direction"] != "ingress" || first["message"] == "" {
		t.Errorf("first explanation %v", first)
	}
	if second := raw["explanations"][1]; second["code"] != diagnose.CodeNoRoute || second["component_id"] != "rtb-0main000000000000b" || second["direction"] != "" {
		t.Errorf("second explanation %v", second)
	}
}

func TestDiagnosePathTextAndInputErrors(t *testing.T) {
	out, err := runCLI(t, "diagnose", "path", "--aws-config", diagConfig, "--src", "10.0.2.20", "--dst", "10.0.3.30",
		"--dst-port", "5432", "--protocol", "tcp")
	if err != nil || !strings.HasPrefix(out, "reachable") || !strings.Contains(out, "acl-0db00000000000003") {
		t.Errorf("err %v, output:\n%s", err, out)
	}
	for _, args := range [][]string{
		{"--src", "10.0.2.20", "--dst", "10.0.3.30", "--protocol", "tcp"},                      // no port
		{"--src", "10.0.2.300", "--dst", "10.0.3.30", "--protocol", "udp", "--dst-port", "53"}, // bad address
		{"--src", "10.0.2.20", "--dst", "10.0.3.30", "--protocol", "tcpx", "--dst-port", "53"},
		{"--src", "192.0.2.1", "--dst", "192.0.2.2", "--protocol", "tcp", "--dst-port", "53"}, // neither known
	} {
		if _, err := runCLI(t, append([]string{"diagnose", "path", "--aws-config", diagConfig}, args...)...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestDiagnoseRejectsOverFiles(t *testing.T) {
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "aws")
	os.Mkdir(cfgDir, 0o755)
	gc := diagnose.GenConfig{Interfaces: 150, Records: 3000, Seed: 3, Start: time.Now().Add(-2 * time.Hour).Unix()}
	for name, data := range diagnose.GenerateConfig(gc) {
		os.WriteFile(filepath.Join(cfgDir, name), data, 0o644)
	}
	f, err := os.Create(filepath.Join(dir, "flows.log"))
	if err != nil {
		t.Fatal(err)
	}
	diagnose.GenerateFlowLog(f, gc)
	f.Close()
	out, err := runCLI(t, "diagnose", "rejects", "--aws-config", cfgDir, "--files", filepath.Join(dir, "flows.log"), "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Records int64            `json:"records"`
		Rejects int64            `json:"rejects"`
		Causes  []diagnose.Cause `json:"causes"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, c := range rep.Causes {
		sum += c.Records
	}
	if rep.Records != 3000 || rep.Rejects == 0 || sum != rep.Rejects {
		t.Errorf("records %d rejects %d, causes hold %d", rep.Records, rep.Rejects, sum)
	}
	if _, err := runCLI(t, "diagnose", "rejects", "--aws-config", cfgDir); err == nil {
		t.Error("neither --files nor --group: no error")
	}
}
