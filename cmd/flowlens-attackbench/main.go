// Command flowlens-attackbench sends one hostile request per attack to a
// real `flowlens server` process and prints, for each, the HTTP status, the
// time to the answer and the server's peak resident memory over its
// baseline (VmHWM from /proc, reset before every attack). Every attack runs
// against a fresh server on a temporary data dir and a free loopback port,
// so one attack's leftovers cannot hide or inflate another's figure. The
// target is at most 300 MB over baseline and an answer within 2 s.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/wire"
	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

const token = "attackbench"

// attack is one hostile request; setup (optional) runs against the fresh
// server before the baseline is read.
type attack struct {
	id, name string
	setup    func(url string) error
	request  func(url string) (*http.Request, error)
}

func main() {
	bin := flag.String("flowlens", "", "flowlens binary to run as the server (default: build ./cmd/flowlens into a temporary directory)")
	only := flag.String("attacks", "", "comma-separated attack ids to run (default: all)")
	timeout := flag.Duration("timeout", 60*time.Second, "give up on one attack's answer after this long")
	maxRSS := flag.Int64("max-rss-mb", 4096, "kill the server when its resident memory passes this many MB (protects a shared machine); the row then says so")
	flag.Parse()
	if err := run(*bin, *only, *timeout, *maxRSS<<20); err != nil {
		fmt.Fprintln(os.Stderr, "flowlens-attackbench:", err)
		os.Exit(1)
	}
}

func run(bin, only string, timeout time.Duration, maxRSS int64) error {
	dir, err := os.MkdirTemp("", "flowlens-attackbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "flowlens")
		fmt.Fprintln(os.Stderr, "building ./cmd/flowlens ...")
		build := exec.Command("go", "build", "-o", bin, "./cmd/flowlens")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build flowlens (run from the repository root, or give --flowlens): %w", err)
		}
	}
	fmt.Fprintln(os.Stderr, "preparing bodies ...")
	attacks, err := attacks()
	if err != nil {
		return err
	}
	fmt.Printf("%-3s %-52s %6s %10s %12s %12s  %s\n", "id", "attack", "status", "answer", "baseline", "peak over", "answer body")
	for _, a := range attacks {
		if only != "" && !strings.Contains(","+only+",", ","+a.id+",") {
			continue
		}
		res := runOne(bin, filepath.Join(dir, "data-"+a.id), a, timeout, maxRSS)
		fmt.Printf("%-3s %-52s %6s %10s %9d MB %9d MB  %s\n", a.id, a.name, res.status,
			res.elapsed.Round(time.Millisecond), res.baseline>>20, (res.peak-res.baseline)>>20, res.note)
	}
	return nil
}

type result struct {
	status         string
	elapsed        time.Duration
	baseline, peak int64
	note           string
}

// runOne starts a server, runs the attack's setup, resets the high-water
// mark, sends the request and reads the peak.
func runOne(bin, dataDir string, a attack, timeout time.Duration, maxRSS int64) result {
	srv, url, err := startServer(bin, dataDir)
	if err != nil {
		return result{status: "error", note: err.Error()}
	}
	defer stopServer(srv)
	pid := srv.Process.Pid
	if a.setup != nil {
		if err := a.setup(url); err != nil {
			return result{status: "error", note: "setup: " + err.Error()}
		}
	}
	req, err := a.request(url)
	if err != nil {
		return result{status: "error", note: err.Error()}
	}
	// Reset VmHWM to the current RSS: the peak then belongs to this request.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return result{status: "error", note: "reset VmHWM: " + err.Error()}
	}
	baseline, _ := procStatus(pid, "VmRSS")

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	killed := watchRSS(ctx, pid, maxRSS, srv.Process)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	var body []byte
	if err == nil {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
	}
	elapsed := time.Since(start)
	peak, _ := procStatus(pid, "VmHWM")
	res := result{elapsed: elapsed, baseline: baseline, peak: peak}
	switch {
	case killed.Load() > 0:
		res.status, res.peak = "killed", killed.Load()
		res.note = fmt.Sprintf("server killed at %d MB RSS (--max-rss-mb)", killed.Load()>>20)
	case err != nil:
		res.status, res.note = "error", err.Error()
	default:
		res.status, res.note = strconv.Itoa(resp.StatusCode), oneLine(body)
	}
	return res
}

func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 110 {
		s = s[:110] + "..."
	}
	return s
}

// startServer runs `flowlens server` on a fresh data dir and a free port
// and waits for /healthz.
func startServer(bin, dataDir string) (*exec.Cmd, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	srv := exec.Command(bin, "server", "--data-dir", dataDir, "--listen", addr, "--log-level", "warn")
	srv.Env = append(os.Environ(), "FLOWLENS_TOKEN="+token)
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	if err := srv.Start(); err != nil {
		return nil, "", fmt.Errorf("start %s: %w", bin, err)
	}
	url := "http://" + addr
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return srv, url, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopServer(srv)
	return nil, "", fmt.Errorf("server at %s never became healthy", url)
}

func stopServer(srv *exec.Cmd) {
	srv.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		srv.Process.Kill()
		<-done
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// procStatus reads a "kB" field of /proc/PID/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// watchRSS kills the server if its RSS passes max before ctx ends; Load
// gives the RSS it was killed at (0: not killed).
func watchRSS(ctx context.Context, pid int, max int64, p *os.Process) *atomic.Int64 {
	k := &atomic.Int64{}
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if rss, err := procStatus(pid, "VmRSS"); err == nil && rss > max {
					k.Store(rss)
					p.Kill()
					return
				}
			}
		}
	}()
	return k
}

// ---- the attacks ----

func attacks() ([]attack, error) {
	now := time.Now()
	head, err := proto.Marshal(&pb.Report{AgentId: "attacker", Sequence: 1,
		IntervalStartUnixMs: now.Add(-time.Minute).UnixMilli(), IntervalEndUnixMs: now.UnixMilli()})
	if err != nil {
		return nil, err
	}
	emptyFlow := []byte{6<<3 | 2, 0}
	minimal, _ := proto.Marshal(&pb.Flow{LocalIp: []byte{10, 0, 0, 1}, RemoteIp: []byte{10, 0, 0, 2}, Port: 443})
	minimalFlow := protowire.AppendBytes(protowire.AppendTag(nil, 6, protowire.BytesType), minimal)
	padded := protowire.AppendBytes(protowire.AppendTag(minimal, 1000, protowire.BytesType), make([]byte, 60<<10))
	paddedFlow := protowire.AppendBytes(protowire.AppendTag(nil, 6, protowire.BytesType), padded)

	a, err := compress("zstd", head, emptyFlow, 256<<20)
	if err != nil {
		return nil, err
	}
	a2, err := compress("zstd", head, minimalFlow, 256<<20)
	if err != nil {
		return nil, err
	}
	b, err := compress("zstd", nil, make([]byte, 1<<20), 1000<<20)
	if err != nil {
		return nil, err
	}
	b2, err := compress("zstd", head, paddedFlow, 1000<<20)
	if err != nil {
		return nil, err
	}
	c, err := compress("gzip", nil, make([]byte, 1<<20), 1000<<20)
	if err != nil {
		return nil, err
	}
	e, err := compress("gzip", []byte(flowLogHeader+"\n"), []byte(flowLogLine(now)+"\n"), 2<<30)
	if err != nil {
		return nil, err
	}
	legit, err := largestReport(now)
	if err != nil {
		return nil, err
	}
	ingest := func(body []byte, enc string) func(string) (*http.Request, error) {
		return func(url string) (*http.Request, error) { return post(url+"/api/v1/ingest", body, enc) }
	}
	return []attack{
		{id: "r", name: fmt.Sprintf("reference: valid report, %d flows (%d KB)", wire.MaxFlowsPerReport, len(legit)>>10), request: ingest(legit, "zstd")},
		{id: "r2", name: "reference again: the same report, a duplicate", request: ingest(legit, "zstd"),
			setup: func(url string) error { return send(ingest(legit, "zstd"), url) }},
		{id: "a", name: fmt.Sprintf("ingest zstd empty flows, 256 MiB decoded (%d KB)", len(a)>>10), request: ingest(a, "zstd")},
		{id: "a2", name: fmt.Sprintf("ingest zstd valid 16-byte flows, 256 MiB (%d KB)", len(a2)>>10), request: ingest(a2, "zstd")},
		{id: "b", name: fmt.Sprintf("ingest zstd 1000 MiB of zeros (%d KB)", len(b)>>10), request: ingest(b, "zstd")},
		{id: "b2", name: fmt.Sprintf("ingest zstd 1000 MiB of padded valid flows (%d KB)", len(b2)>>10), request: ingest(b2, "zstd")},
		{id: "c", name: fmt.Sprintf("ingest gzip 1000 MiB of zeros (%d KB)", len(c)>>10), request: ingest(c, "gzip")},
		{id: "d", name: "query concat fan-out a1..a14 over 1,000 records", setup: seedLogs(now), request: fanOutQuery},
		{id: "e", name: fmt.Sprintf("flow-log upload gzip expanding to 2 GiB (%d KB)", len(e)>>10), request: func(url string) (*http.Request, error) {
			return post(url+"/api/v1/logs/attack", e, "gzip")
		}},
	}, nil
}

// largestReport is a valid report at the flow limit, each flow with a
// three-bin RTT histogram, as the publisher would send it: the cost of
// the largest request the server accepts, for comparison.
func largestReport(now time.Time) ([]byte, error) {
	r := &pb.Report{AgentId: "reference", Sequence: 1, Host: &pb.Host{HostId: "reference"},
		IntervalStartUnixMs: now.Add(-time.Minute).UnixMilli(), IntervalEndUnixMs: now.UnixMilli()}
	for i := range wire.MaxFlowsPerReport {
		rec := flow.Record{Key: flow.Key{LocalIP: netip.AddrFrom4([4]byte{10, 1, 1, 10}),
			RemoteIP: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Port: 443,
			Direction: flow.DirectionClient, Protocol: flow.ProtocolTCP}}
		rec.Counters.BytesSent, rec.Counters.SegmentsSent = 12345, 20
		for _, us := range []uint64{150, 900, 20000} {
			rec.Counters.RTT.Observe(us)
		}
		r.Flows = append(r.Flows, wire.FromRecord(&rec))
	}
	return wire.Encode(r, wire.EncodingZstd)
}

// compress writes prefix, then unit repeated until size bytes, through a
// streaming encoder.
func compress(encoding string, prefix, unit []byte, size int64) ([]byte, error) {
	var buf bytes.Buffer
	var w io.WriteCloser
	if encoding == "zstd" {
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			return nil, err
		}
		w = zw
	} else {
		w, _ = gzip.NewWriterLevel(&buf, gzip.BestCompression)
	}
	if _, err := w.Write(prefix); err != nil {
		return nil, err
	}
	// Write whole units in chunks of about 1 MiB.
	chunk := bytes.Repeat(unit, max(1, (1<<20)/len(unit)))
	for left := size - int64(len(prefix)); left > 0; left -= int64(len(chunk)) {
		c := chunk
		if int64(len(c)) > left {
			c = c[:left/int64(len(unit))*int64(len(unit))]
			if len(c) == 0 {
				break
			}
		}
		if _, err := w.Write(c); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// send runs a request as setup, wanting 200.
func send(request func(string) (*http.Request, error), url string) error {
	req, err := request(url)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%d %s", resp.StatusCode, oneLine(body))
	}
	return nil
}

func post(url string, body []byte, encoding string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	return req, nil
}

const flowLogHeader = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"

func flowLogLine(t time.Time) string {
	return fmt.Sprintf("2 123456789012 eni-0a1b2c3d4e5f60718 10.1.1.10 10.1.11.10 49152 443 6 10 8400 %d %d ACCEPT OK",
		t.Add(-2*time.Minute).Unix(), t.Add(-time.Minute).Unix())
}

// seedLogs uploads 1,000 flow-log records for the query to fan out over.
func seedLogs(now time.Time) func(string) error {
	return func(url string) error {
		var b strings.Builder
		b.WriteString(flowLogHeader + "\n")
		for i := range 1000 {
			fmt.Fprintf(&b, "2 123456789012 eni-0a1b2c3d4e5f60718 10.1.1.%d 10.1.11.10 49152 443 6 10 8400 %d %d ACCEPT OK\n",
				i%250+1, now.Add(-2*time.Minute).Unix(), now.Add(-time.Minute).Unix())
		}
		req, err := post(url+"/api/v1/logs/seed", []byte(b.String()), "")
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			body, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("seed upload: %d %s", resp.StatusCode, oneLine(body))
		}
		return nil
	}
}

// fanOutQuery doubles @message fourteen times: 2^14 copies per record.
func fanOutQuery(url string) (*http.Request, error) {
	parts := []string{"fields concat(@message,@message) as a1"}
	for i := 2; i <= 14; i++ {
		parts = append(parts, fmt.Sprintf("fields concat(a%d,a%d) as a%d", i-1, i-1, i))
	}
	body, err := json.Marshal(map[string]any{"query": strings.Join(parts, " | "), "log_groups": []string{"seed"}})
	if err != nil {
		return nil, err
	}
	req, err := post(url+"/api/v1/query", body, "")
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}
