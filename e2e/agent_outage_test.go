package e2e

// TestAgentLabServerOutage proves acceptance point 5 of the agent issue:
// the server is stopped for 2 minutes while traffic flows, then started
// again on the same data dir and address; every interval of every agent
// arrives (contiguous intervals from the first report to the last) and none
// is counted twice (the stored totals of the traffic flow equal the sum over
// the unique reports the server acknowledged, and cover what the traffic
// generator transferred).
//
// While the server is down the tap cannot reach it and answers 502, which
// the agents' publisher retries and spools.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowlens/flowlens/lab"
	"github.com/flowlens/flowlens/wire"
)

const (
	outageBefore   = 15 * time.Second  // traffic before the server stops
	outageDuration = 120 * time.Second // server down
	outageAfter    = 15 * time.Second  // traffic after the restart
)

type reportInterval struct {
	seq        uint64
	start, end int64 // unix ms
}

// outageTap wraps reportTap: it forwards through it unchanged and also
// records, per host, the interval of every report the server acknowledged
// (once per agent and sequence) and how many acknowledged reports repeated a
// sequence already acknowledged.
type outageTap struct {
	*reportTap

	mu        sync.Mutex
	seen      map[string]bool
	intervals map[string][]reportInterval
	repeats   int
	bad       int // answers other than 200 (502 while the server is down)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (p *outageTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sr := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	p.reportTap.ServeHTTP(sr, r)
	if r.URL.Path != "/api/v1/ingest" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if sr.code != http.StatusOK {
		p.bad++
		return
	}
	rep, err := wire.Decode(body, r.Header.Get("Content-Encoding"), 256<<20)
	if err != nil {
		return // reportTap records the decode error
	}
	id := fmt.Sprintf("%s/%d", rep.GetAgentId(), rep.GetSequence())
	if p.seen[id] {
		p.repeats++
		return
	}
	p.seen[id] = true
	h := rep.GetHost().GetHostId()
	p.intervals[h] = append(p.intervals[h], reportInterval{seq: rep.GetSequence(),
		start: rep.GetIntervalStartUnixMs(), end: rep.GetIntervalEndUnixMs()})
}

// TestAgentLabServerOutage runs both collector modes at once, each with its
// own server, tap and lab: the test is mostly waiting for the outage to
// end, so the second mode costs CI almost no time.
func TestAgentLabServerOutage(t *testing.T) {
	requireAgentLab(t)
	for _, mode := range []string{"ebpf", "sockdiag"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			testServerOutage(t, mode)
		})
	}
}

func testServerOutage(t *testing.T, mode string) {
	testStart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	bin := buildAgent(t)
	dataDir, srvAddr := t.TempDir(), freeAddr(t)
	srv := startServer(t, dataDir, srvAddr)
	tap := &outageTap{reportTap: newReportTap(t, srv.url), seen: map[string]bool{}, intervals: map[string][]reportInterval{}}
	tapAddr := freeAddr(t)
	hs := &http.Server{Addr: tapAddr, Handler: tap}
	go hs.ListenAndServe()
	t.Cleanup(func() { hs.Close() })

	l := upAgentLab(ctx, t, "o", lab.AgentConfig{Bin: bin, Mode: mode, Server: "http://" + tapAddr, Token: token, Interval: labInterval}, false)
	ip := l.HostIP
	var hosts []string
	for _, h := range l.Hosts() {
		hosts = append(hosts, h.Name)
	}

	// Steady traffic for the whole test: 1 Mbit/s from one zone to the other.
	traffic := outageBefore + outageDuration + outageAfter
	var ip3 iperfJSON
	var iperfErr error
	iperfDone := make(chan struct{})
	go func() {
		defer close(iperfDone)
		out, err := l.Exec(ctx, iperfClient, "iperf3", "-J", "-c", ip(iperfServer).String(), "-p", "5201",
			"-b", "1M", "-t", fmt.Sprint(int(traffic.Seconds())))
		if jerr := json.Unmarshal(out, &ip3); jerr != nil || ip3.Error != "" || err != nil {
			iperfErr = fmt.Errorf("iperf3 %s -> %s: %v / %v / %s", iperfClient, iperfServer, err, jerr, ip3.Error)
		}
	}()

	time.Sleep(outageBefore)
	srv.cmd.Process.Signal(syscall.SIGTERM)
	if err := srv.cmd.Wait(); err != nil {
		t.Errorf("server exit after SIGTERM: %v", err)
	}
	stopped := time.Now()
	t.Logf("server stopped at %s", stopped.Format(time.TimeOnly))
	time.Sleep(outageDuration)
	srv = startServer(t, dataDir, srvAddr)
	restarted := time.Now()
	tap.mu.Lock()
	bad := tap.bad
	tap.mu.Unlock()
	t.Logf("server restarted at %s after %s down; tap answered %d ingest requests with an error meanwhile",
		restarted.Format(time.TimeOnly), restarted.Sub(stopped).Round(time.Second), bad)
	if bad == 0 {
		t.Errorf("no agent tried to report while the server was down")
	}

	<-iperfDone
	if iperfErr != nil {
		t.Fatal(iperfErr)
	}
	trafficEnd := time.Now()
	t.Logf("iperf3: %d bytes written, %d received, %.2f Mbit/s", ip3.End.SumSent.Bytes, ip3.End.SumReceived.Bytes, ip3.End.SumSent.BitsPerSecond/1e6)

	// Every agent: reports through two intervals after the traffic ended
	// (which is after the restart), spooled ones drained first.
	waitUntil := trafficEnd.Add(2 * labInterval)
	deadline := time.Now().Add(90 * time.Second)
	for {
		var behind []string
		tap.mu.Lock()
		for _, h := range hosts {
			iv := tap.intervals[h]
			var last int64
			for _, x := range iv {
				last = max(last, x.end)
			}
			if last < waitUntil.UnixMilli() {
				behind = append(behind, fmt.Sprintf("%s (%d reports, last end %s)", h, len(iv), time.UnixMilli(last).Format(time.TimeOnly)))
			}
		}
		tap.mu.Unlock()
		if len(behind) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agents did not report through %s: %s", waitUntil.Format(time.TimeOnly), strings.Join(behind, ", "))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("every agent reported through %s, %s after the restart", waitUntil.Format(time.TimeOnly), time.Since(restarted).Round(time.Second))

	// (a) contiguous intervals per agent, spanning the outage.
	tap.mu.Lock()
	for _, h := range hosts {
		iv := append([]reportInterval(nil), tap.intervals[h]...)
		sort.Slice(iv, func(i, j int) bool { return iv[i].start < iv[j].start })
		gaps := 0
		for i := 1; i < len(iv); i++ {
			if iv[i].start != iv[i-1].end {
				gaps++
				if gaps <= 5 {
					t.Errorf("%s: interval %d (seq %d) starts %s, previous (seq %d) ends %s",
						h, i, iv[i].seq, time.UnixMilli(iv[i].start).Format("15:04:05.000"), iv[i-1].seq, time.UnixMilli(iv[i-1].end).Format("15:04:05.000"))
				}
			}
		}
		first, last := time.UnixMilli(iv[0].start), time.UnixMilli(iv[len(iv)-1].end)
		if !first.Before(stopped) || !last.After(restarted) {
			t.Errorf("%s: reports cover %s-%s, not the outage %s-%s", h, first.Format(time.TimeOnly), last.Format(time.TimeOnly),
				stopped.Format(time.TimeOnly), restarted.Format(time.TimeOnly))
		}
		t.Logf("%s: %d unique reports, %s-%s, %d gaps", h, len(iv), first.Format(time.TimeOnly), last.Format(time.TimeOnly), gaps)
	}
	repeats := tap.repeats
	tap.mu.Unlock()
	t.Logf("acknowledged reports repeating an acknowledged (agent, sequence): %d (retries; must not be stored twice)", repeats)

	// (b) nothing stored twice: insights equal the unique acknowledged
	// reports exactly; (c) the outage's bytes are there: within 1% of
	// what iperf3 transferred.
	row := insightsFlow(t, srv.url, "data-transferred", ip(iperfClient), ip(iperfServer), 5201)
	tapped := tap.counters(l.HostNetns(iperfClient), ip(iperfClient), ip(iperfServer), 5201)
	t.Logf("flow %s -> %s:5201: insights bytes_sent %d, unique reports %d, iperf3 received %d (%+.3f%%)",
		ip(iperfClient), ip(iperfServer), row.BytesSent, tapped.BytesSent, ip3.End.SumReceived.Bytes, pct(row.BytesSent, ip3.End.SumReceived.Bytes))
	if row.BytesSent != tapped.BytesSent || row.BytesReceived != tapped.BytesReceived ||
		row.ConnectionsOpened != tapped.ConnectionsOpened || row.ConnectionsClosed != tapped.ConnectionsClosed {
		t.Errorf("insights %+v differ from the unique acknowledged reports %+v: something was stored twice or lost", row, tapped)
	}
	if !within(row.BytesSent, ip3.End.SumReceived.Bytes, 0.01) {
		t.Errorf("bytes_sent %d not within 1%% of iperf3's transferred bytes %d: the outage's bytes are missing or doubled",
			row.BytesSent, ip3.End.SumReceived.Bytes)
	}
	srv.stop(t)
	t.Logf("took %s", time.Since(testStart).Round(time.Second))
}
