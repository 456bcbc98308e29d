package e2e

// Acceptance point 4 of the agent issue, run inside TestAgentLab (both
// collector modes) alongside the other points' traffic: with a 10 Mbit HTB
// bottleneck on the client host's link loaded by iperf3, the RTT the agent
// reports rises well above the unloaded RTT, and its average RTT for the
// flow (the p50 of its histogram over the loaded intervals) is within 10%
// of the median of `ss -ti` srtt samples of the same socket over the same
// intervals.
//
// What is compared: the agent's RTT statistics are samples of the socket's
// smoothed RTT (srtt) taken on a clock — in eBPF mode at most one per
// 200 ms, on the first acknowledgment after that, in sock_diag mode one per
// 1 s poll while the socket moves data. ss prints the same srtt (rtt:X/...),
// sampled here every 100 ms. Both are time samples of one quantity; the
// test compares their means over the agent's report intervals that lie
// wholly inside the loaded transfer (leaving out its first 2 s, slow start,
// whose ~100 ms peak lasts a fraction of a second and would make the
// comparison a matter of which sampler caught it).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/lab"
)

const (
	rttClient, rttServer = "a2-h2", "b1-h2" // across zones; the client's link is shaped
	rttLoadSeconds       = 14
	rttSkipStart         = 2 * time.Second
	ssEvery              = 100 * time.Millisecond
)

// ssSample is one `ss -tin` reading of one socket.
type ssSample struct {
	at         time.Time
	local      string
	srttMS     float64
	bytesAcked uint64
}

// rttRun is what the RTT traffic measured, for the checks after the
// agents have reported.
type rttRun struct {
	unloadedStart      time.Time
	loadStart, loadEnd time.Time
	samples            []ssSample
	err                error
}

// runRTTTraffic makes the unloaded and the loaded traffic of point 4:
// 20 tiny HTTP requests on the idle path, then iperf3 through a 10 Mbit
// bottleneck while ss samples the sender's socket.
func runRTTTraffic(ctx context.Context, t *testing.T, l *lab.Lab) *rttRun {
	r := &rttRun{unloadedStart: time.Now()}
	server := l.HostIP(rttServer).String()
	url := fmt.Sprintf("http://%s/%s?n=[1-20]", server, lab.TinyFile)
	if _, err := l.Exec(ctx, rttClient, "curl", "-sS", "-o", "/dev/null", "-H", "Connection: close", url); err != nil {
		r.err = fmt.Errorf("unloaded curl: %w", err)
		return r
	}
	if err := l.Impair(ctx, lab.Impairment{Host: rttClient, Rate: "10mbit"}); err != nil {
		r.err = fmt.Errorf("impair rate: %w", err)
		return r
	}
	stop := filepath.Join(t.TempDir(), "stop")
	started := filepath.Join(t.TempDir(), "started")
	script := fmt.Sprintf(`touch %s; while [ ! -e %s ]; do echo "T $(date +%%s%%N)"; ss -tinH dst %s:5201; sleep %.1f; done`,
		started, stop, server, ssEvery.Seconds())
	sampled := make(chan []byte, 1)
	go func() {
		out, _ := l.Exec(ctx, rttClient, "sh", "-c", script)
		sampled <- out
	}()
	// The sampler runs before the load starts (no sleep "long enough").
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			r.err = fmt.Errorf("the ss sampler did not start")
			return r
		}
	}
	r.loadStart = time.Now()
	out, err := l.Exec(ctx, rttClient, "iperf3", "-c", server, "-p", "5201", "-t", strconv.Itoa(rttLoadSeconds))
	r.loadEnd = time.Now()
	os.WriteFile(stop, nil, 0o644)
	ssOut := <-sampled
	if err != nil {
		r.err = fmt.Errorf("loaded iperf3: %v: %s", err, tail(out, 300))
		return r
	}
	r.samples = parseSS(ssOut)
	return r
}

// parseSS reads the sampler's output: "T <unix ns>" lines, each followed by
// `ss -tinH` output (a socket line, then its indented info line).
func parseSS(out []byte) []ssSample {
	var (
		samples []ssSample
		at      time.Time
		local   string
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if ns, ok := strings.CutPrefix(line, "T "); ok {
			v, _ := strconv.ParseInt(strings.TrimSpace(ns), 10, 64)
			at = time.Unix(0, v)
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
			if len(f) >= 5 {
				local = f[3]
			}
			continue
		}
		s := ssSample{at: at, local: local}
		for _, kv := range f {
			if v, ok := strings.CutPrefix(kv, "rtt:"); ok {
				srtt, _, _ := strings.Cut(v, "/")
				s.srttMS, _ = strconv.ParseFloat(srtt, 64)
			}
			if v, ok := strings.CutPrefix(kv, "bytes_acked:"); ok {
				s.bytesAcked, _ = strconv.ParseUint(v, 10, 64)
			}
		}
		if s.srttMS > 0 {
			samples = append(samples, s)
		}
	}
	return samples
}

// checkRTT checks point 4 once the agents have reported.
func checkRTT(t *testing.T, mode string, al *agentLab, r *rttRun) {
	if r.err != nil {
		t.Fatal(r.err)
	}
	l := al.lab
	client, server := l.HostIP(rttClient), l.HostIP(rttServer)
	host := l.HostNetns(rttClient)

	// The data connection is the socket that acknowledged the most bytes
	// (iperf3's control connection moves a few hundred).
	var data string
	var most uint64
	for _, s := range r.samples {
		if s.bytesAcked > most {
			data, most = s.local, s.bytesAcked
		}
	}

	// The agent's intervals wholly inside the loaded transfer, minus slow start.
	from := r.loadStart.Add(rttSkipStart)
	var agent flow.Latency
	var lo, hi time.Time
	for _, iv := range al.tap.history(flowID{host: host, local: client, remote: server, port: 5201, direction: flow.DirectionClient}) {
		if iv.start.Before(from) || iv.end.After(r.loadEnd) {
			continue
		}
		agent.Merge(&iv.c.RTT)
		if lo.IsZero() || iv.start.Before(lo) {
			lo = iv.start
		}
		if iv.end.After(hi) {
			hi = iv.end
		}
	}
	var ssSum float64
	var ssAll []float64
	for _, s := range r.samples {
		if s.local == data && !s.at.Before(lo) && !s.at.After(hi) {
			ssSum += s.srttMS * 1000
			ssAll = append(ssAll, s.srttMS*1000)
		}
	}
	ssN := len(ssAll)
	unloaded := al.tap.counters(host, client, server, 80)
	t.Logf("%s: unloaded RTT (20 HTTP connections): avg %.0f µs over %d samples, handshake avg %.0f µs",
		mode, unloaded.RTT.AvgUS(), unloaded.RTT.Count, unloaded.HandshakeLatency.AvgUS())
	if agent.Count == 0 || ssN == 0 {
		t.Fatalf("no agent interval (or no ss sample) inside the loaded transfer %s-%s: agent samples %d, ss samples %d of socket %q",
			from.Format(time.TimeOnly), r.loadEnd.Format(time.TimeOnly), agent.Count, ssN, data)
	}
	ssMean := ssSum / float64(ssN)
	sort.Float64s(ssAll)
	ssMedian := ssAll[ssN/2]
	p50 := agent.Quantile(0.5)
	t.Logf("%s: loaded %s-%s: agent RTT p50 %.0f µs over %d samples (avg %.0f min %d max %d p90 %.0f); ss srtt median %.0f µs (mean %.0f) over %d samples of %s (%+.1f%%)",
		mode, lo.Format(time.TimeOnly), hi.Format(time.TimeOnly), p50, agent.Count, agent.AvgUS(), agent.MinUS, agent.MaxUS,
		agent.Quantile(0.9), ssMedian, ssMean, ssN, data, 100*(p50-ssMedian)/ssMedian)
	if unloaded.RTT.Count == 0 {
		t.Errorf("no RTT reported for the unloaded flow %s -> %s:80", client, server)
	} else if agent.AvgUS() < 5*unloaded.RTT.AvgUS() {
		t.Errorf("loaded RTT %.0f µs is not well above the unloaded %.0f µs (want at least 5x)", agent.AvgUS(), unloaded.RTT.AvgUS())
	}
	if math.Abs(p50-ssMedian) > 0.10*ssMedian {
		t.Errorf("agent RTT p50 %.0f µs not within 10%% of ss's median srtt %.0f µs", p50, ssMedian)
	}
}
