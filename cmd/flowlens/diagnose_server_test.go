package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/diagnose"
	"github.com/flowlens/flowlens/server"
)

// diagFixture writes a generated configuration and flow log into dir.
func diagFixture(t *testing.T, dir string) (cfgDir, logFile string) {
	t.Helper()
	cfgDir = filepath.Join(dir, "aws")
	if err := os.Mkdir(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	gc := diagnose.GenConfig{Interfaces: 120, Records: 4000, Seed: 7, Start: time.Now().Add(-2 * time.Hour).Unix()}
	for name, data := range diagnose.GenerateConfig(gc) {
		if err := os.WriteFile(filepath.Join(cfgDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logFile = filepath.Join(dir, "flows.log")
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := diagnose.GenerateFlowLog(f, gc); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return cfgDir, logFile
}

// startDiagServer runs a server whose diagnosis module has awsConfig
// ("" for none).
func startDiagServer(t *testing.T, awsConfig string) *server.Server {
	t.Helper()
	var mods moduleFlags
	mods.register(pflag.NewFlagSet("test", pflag.ContinueOnError))
	mods.web.AdminPassword = "pw"
	mods.diagnose.AWSConfigDir = awsConfig
	dir := t.TempDir()
	srv, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0", Tokens: []string{"tok"},
		OpenStore: embeddedStore(t, dir), Modules: mods.builder(nil)}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	return srv
}

func decodeReport(t *testing.T, out string) diagnose.Report {
	t.Helper()
	var rep diagnose.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rep.Seconds = 0
	return rep
}

// TestDiagnoseRejectsSameOverFilesQueryAPIAndServer: the same records
// diagnosed from the files, from the stored group through the query API
// with a local configuration, and by the server's diagnosis API give the
// same report (but for the seconds taken).
func TestDiagnoseRejectsSameOverFilesQueryAPIAndServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	cfgDir, logFile := diagFixture(t, t.TempDir())
	srv := startDiagServer(t, cfgDir)
	conn := []string{"--server", srv.URL(), "--token", "tok"}
	if out, err := runCLI(t, append(conn, "flowlogs", "import", "--group", "vpc-diag", logFile)...); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, err := runCLI(t, "diagnose", "rejects", "--aws-config", cfgDir, "--files", logFile, "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	fromFiles := decodeReport(t, out)
	if fromFiles.Rejects == 0 || len(fromFiles.Causes) < 2 {
		t.Fatalf("the fixture has too few rejects: %+v", fromFiles)
	}
	for name, args := range map[string][]string{
		"query API, local configuration": {"--aws-config", cfgDir},
		"server's diagnosis API":         nil,
	} {
		args = append(append(append([]string{}, conn...), "diagnose", "rejects", "--group", "vpc-diag", "--since", "24h", "--output", "json"), args...)
		out, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := decodeReport(t, out); !reflect.DeepEqual(got, fromFiles) {
			t.Errorf("%s: report differs from the files'\ngot  %+v\nwant %+v", name, got, fromFiles)
		}
	}
	// The text output of the server's diagnosis reads like the local one.
	out, err = runCLI(t, append(conn, "diagnose", "rejects", "--group", "vpc-diag", "--since", "24h")...)
	if err != nil || !strings.Contains(out, fromFiles.Causes[0].Code) {
		t.Errorf("text output: %v\n%s", err, out)
	}
}

// TestDiagnoseAPIWithoutConfiguration: a server started without
// --aws-config answers 503 naming the flag, and the CLI passes that on
// with the local alternative.
func TestDiagnoseAPIWithoutConfiguration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	srv := startDiagServer(t, "")
	for _, path := range []string{"/api/v1/diagnose/rejects?group=g", "/api/v1/diagnose/path?src=10.0.0.1&dst=10.0.0.2&protocol=icmp"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d, want 503", path, resp.StatusCode)
		}
	}
	_, err := runCLI(t, "--server", srv.URL(), "--token", "tok", "diagnose", "rejects", "--group", "g")
	if err == nil || !strings.Contains(err.Error(), "start the server with --aws-config") || !strings.Contains(err.Error(), "give --aws-config DIR to this command") {
		t.Errorf("error %v", err)
	}
}

// TestServerRefusesBadAWSConfig: a bad --aws-config fails the server's
// start, naming the file and the JSON path.
func TestServerRefusesBadAWSConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	cfgDir := t.TempDir()
	os.WriteFile(filepath.Join(cfgDir, "sg.json"), []byte(`{"SecurityGroups": [{"GroupId": 7}]}`), 0o644)
	var mods moduleFlags
	mods.register(pflag.NewFlagSet("test", pflag.ContinueOnError))
	mods.web.AdminPassword = "pw"
	mods.diagnose.AWSConfigDir = cfgDir
	dir := t.TempDir()
	srv, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0", Tokens: []string{"tok"},
		OpenStore: embeddedStore(t, dir), Modules: mods.builder(nil)}, slog.New(slog.DiscardHandler))
	if err == nil {
		err = srv.Start()
		if err == nil {
			srv.Stop(context.Background())
		}
	}
	if err == nil || !strings.Contains(err.Error(), "sg.json") || !strings.Contains(err.Error(), "$.SecurityGroups[0].GroupId") {
		t.Errorf("start error %v, want one naming sg.json and $.SecurityGroups[0].GroupId", err)
	}
}
