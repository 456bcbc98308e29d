// Command flowlens-bench measures sustained ingest: it starts `flowlens
// server` as its own process on a temporary data dir, drives it with the
// simulated fleet from this process (so the load generator shares the
// machine), and prints the acknowledged (durable) flow records per second
// every 10 s and overall, with the CPU time each side used.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flowlens/flowlens/internal/cpuprofile"

	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/sim"
	"github.com/flowlens/flowlens/topology"
)

func main() {
	bin := flag.String("flowlens", "bin/flowlens", "flowlens binary to run as the server")
	duration := flag.Duration("duration", 60*time.Second, "how long to generate load")
	agents := flag.Int("agents", 100, "simulated agents")
	flows := flag.Int("flows-per-agent", 1800, "conversations per agent")
	interval := flag.Duration("interval", time.Second, "report interval")
	replay := flag.Int("replay", 5, "generate this many intervals per agent, then resend them (0: generate every interval)")
	cpuProfile := flag.String("cpuprofile", "", "write the load generator's CPU profile here")
	slow := flag.Duration("slow-subscriber", 0, "attach a stored-flow subscriber to the server that sleeps this long per commit (it must not slow ingest; its drops are printed)")
	flag.Parse()
	stopProfile, err := cpuprofile.Start(*cpuProfile, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flowlens-bench:", err)
		os.Exit(1)
	}
	err = run(*bin, *duration, *agents, *flows, *interval, *replay, *slow)
	stopProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "flowlens-bench:", err)
		os.Exit(1)
	}
}

func run(bin string, duration time.Duration, agents, flows int, interval time.Duration, replay int, slow time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "flowlens-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	const token = "bench"
	args := []string{"server", "--data-dir", filepath.Join(dir, "data"), "--listen", addr,
		"--topology", filepath.Join(dir, "topology.yaml"), "--log-level", "warn", "--debug-listen", "127.0.0.1:6061"}
	if slow > 0 {
		args = append(args, "--feed-slow-subscriber", slow.String())
	}
	srv := exec.Command(bin, args...)
	if err := os.WriteFile(filepath.Join(dir, "topology.yaml"), examples.Topology, 0o644); err != nil {
		return err
	}
	srv.Env = append(os.Environ(), "FLOWLENS_TOKEN="+token)
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	if err := srv.Start(); err != nil {
		return fmt.Errorf("start %s (run `make build` first): %w", bin, err)
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	url := "http://" + addr
	if err := waitHealthy(url); err != nil {
		return err
	}
	topo, err := topology.Parse(examples.Topology, examples.TopologyName)
	if err != nil {
		return err
	}
	fmt.Printf("ingest benchmark: %d agents x %d conversations, %s interval, %s, server pid %d\n",
		agents, flows, interval, duration, srv.Process.Pid)
	start := time.Now()
	srvCPU0, _ := processCPU(srv.Process.Pid)
	selfCPU0 := selfCPU()
	var lastAcked uint64
	lastPrint := start
	cfg := sim.Config{Server: url, Token: token, Topology: topo, Agents: agents, FlowsPerAgent: flows,
		Interval: interval, Duration: duration, Seed: 1, Replay: replay, SpoolDir: filepath.Join(dir, "spool"),
		Progress: func(s sim.Summary) {
			if now := time.Now(); now.Sub(lastPrint) >= 10*time.Second {
				rate := float64(s.Acked.Flows-lastAcked) / now.Sub(lastPrint).Seconds()
				fmt.Printf("  t=%3.0fs  acked %10d flows  %8.0f flows/s  (sent %d)\n", now.Sub(start).Seconds(), s.Acked.Flows, rate, s.Sent.Flows)
				lastAcked, lastPrint = s.Acked.Flows, now
			}
		}}
	sum, err := sim.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	elapsed := time.Since(start)
	srvCPU1, _ := processCPU(srv.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("result: %d flow records acknowledged in %.1fs = %.0f flows/s sustained (%d reports, %d bytes of traffic)\n",
		sum.Acked.Flows, elapsed.Seconds(), float64(sum.Acked.Flows)/elapsed.Seconds(), sum.Acked.Reports, sum.Acked.Bytes)
	fmt.Printf("cpu: server %.1fs, load generator %.1fs, over %.1fs wall on %d cores\n",
		srvCPU1-srvCPU0, selfCPU()-selfCPU0, elapsed.Seconds(), numCPU())
	if slow > 0 {
		printFeedMetrics(url, token)
	}
	if sum.Acked != sum.Sent {
		return fmt.Errorf("sent %+v but acknowledged %+v", sum.Sent, sum.Acked)
	}
	return nil
}

// printFeedMetrics shows the feed subscribers' queues and drops from the
// server's /metrics.
func printFeedMetrics(url, token string) {
	req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println("feed metrics:", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "flowlens_feed_") {
			fmt.Println("  " + l)
		}
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

func waitHealthy(url string) error {
	for i := 0; i < 600; i++ {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("server at %s never became healthy", url)
}

// processCPU reads user+system CPU seconds of a process from /proc.
func processCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100, nil // USER_HZ is 100 on Linux
}

func selfCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}
