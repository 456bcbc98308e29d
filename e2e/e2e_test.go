// Package e2e runs the real binaries against each other: a server on a
// temporary data dir, the simulated fleet posting through the publisher, and
// the CLI reading insights back.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

var flowlensBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flowlens-e2e-bin-")
	if err != nil {
		panic(err)
	}
	flowlensBin = filepath.Join(dir, "flowlens")
	build := exec.Command("go", "build", "-o", flowlensBin, "../cmd/flowlens")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build flowlens:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const token = "e2e-secret-token"

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type serverProc struct {
	cmd *exec.Cmd
	url string
	log *bytes.Buffer
}

// startServer runs `flowlens server` and waits for /healthz.
func startServer(t *testing.T, dataDir, addr string) *serverProc {
	t.Helper()
	log := &bytes.Buffer{}
	cmd := exec.Command(flowlensBin, "server", "--data-dir", dataDir, "--listen", addr, "--topology", "../examples/topology.yaml")
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
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("server did not become healthy; log:\n%s", log.String())
	return nil
}

func (s *serverProc) kill(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(os.Kill)
	s.cmd.Wait()
}

func (s *serverProc) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(os.Interrupt)
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("server exit: %v\n%s", err, s.log.String())
	}
}

// cli runs a flowlens client command against url.
func cli(t *testing.T, url string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(flowlensBin, args...)
	cmd.Env = append(os.Environ(), "FLOWLENS_TOKEN="+token, "FLOWLENS_SERVER="+url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("flowlens %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

type totals struct {
	Bytes           uint64 `json:"bytes"`
	Retransmissions uint64 `json:"retransmissions"`
	Flows           uint64 `json:"flows"`
	Reports         uint64 `json:"reports"`
}

type summary struct {
	Sent  totals `json:"sent"`
	Acked totals `json:"acked"`
}

func parseSummary(t *testing.T, out []byte) summary {
	t.Helper()
	var s summary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("sim summary %q: %v", out, err)
	}
	return s
}

// sumTop sums the value column of `insights top --limit 500` over every
// category.
func sumTop(t *testing.T, url, metric string) (float64, int) {
	t.Helper()
	out := cli(t, url, "insights", "top", "--metric", metric, "--since", "1h", "--limit", "500", "--output", "json")
	var rows []struct {
		Value    float64 `json:"value"`
		Category string  `json:"category"`
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("insights json %q: %v", out, err)
	}
	var sum float64
	for _, r := range rows {
		sum += r.Value
	}
	return sum, len(rows)
}

func checkTotals(t *testing.T, url string, s summary) {
	t.Helper()
	bytesStored, rows := sumTop(t, url, "data-transferred")
	if rows >= 500 {
		t.Fatalf("%d rows: the limit cut the answer, the sum would not be total", rows)
	}
	retrStored, _ := sumTop(t, url, "retransmissions")
	t.Logf("acked %+v; stored bytes %.0f retransmissions %.0f over %d rows", s.Acked, bytesStored, retrStored, rows)
	if uint64(bytesStored) != s.Acked.Bytes {
		t.Errorf("data transferred: insights %.0f, simulator acknowledged %d", bytesStored, s.Acked.Bytes)
	}
	if uint64(retrStored) != s.Acked.Retransmissions {
		t.Errorf("retransmissions: insights %.0f, simulator acknowledged %d", retrStored, s.Acked.Retransmissions)
	}
}

// TestSimulatedFleetTotalsExact: 20 agents for 30 s at a 5 s interval; the
// insights totals equal what the simulator had acknowledged, exactly.
func TestSimulatedFleetTotalsExact(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run takes about 40 s")
	}
	srv := startServer(t, t.TempDir(), freeAddr(t))
	out := cli(t, srv.url, "sim", "--agents", "20", "--duration", "30s", "--interval", "5s", "--seed", "7", "--quiet")
	s := parseSummary(t, out)
	if s.Acked.Reports == 0 || s.Acked.Bytes == 0 {
		t.Fatalf("simulator delivered nothing: %+v", s)
	}
	if s.Acked != s.Sent {
		t.Errorf("not everything sent was acknowledged: sent %+v acked %+v", s.Sent, s.Acked)
	}
	checkTotals(t, srv.url, s)
	srv.stop(t)
}

// TestKillDuringIngestLosesNothing: SIGKILL the server while the simulator
// sends, restart it on the same data dir, let the simulator finish: nothing
// acknowledged is lost and nothing is counted twice.
func TestKillDuringIngestLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run takes about 45 s")
	}
	dataDir, addr := t.TempDir(), freeAddr(t)
	srv := startServer(t, dataDir, addr)
	simCmd := exec.Command(flowlensBin, "sim", "--agents", "20", "--flows-per-agent", "100", "--duration", "25s",
		"--interval", "1s", "--seed", "11", "--quiet")
	simCmd.Env = append(os.Environ(), "FLOWLENS_TOKEN="+token, "FLOWLENS_SERVER="+srv.url)
	var simOut, simErr bytes.Buffer
	simCmd.Stdout, simCmd.Stderr = &simOut, &simErr
	if err := simCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if simCmd.ProcessState == nil {
			simCmd.Process.Kill()
			simCmd.Wait()
		}
	})
	time.Sleep(8 * time.Second)
	srv.kill(t)
	time.Sleep(4 * time.Second) // the simulator keeps reporting into its spool
	srv = startServer(t, dataDir, addr)
	if err := simCmd.Wait(); err != nil {
		t.Fatalf("sim: %v\n%s", err, simErr.String())
	}
	s := parseSummary(t, simOut.Bytes())
	if s.Acked != s.Sent {
		t.Errorf("not everything sent was acknowledged after the restart: sent %+v acked %+v", s.Sent, s.Acked)
	}
	checkTotals(t, srv.url, s)
	srv.stop(t)
}
