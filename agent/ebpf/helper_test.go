package ebpf

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowlens/flowlens/agent/collect"
	"github.com/flowlens/flowlens/agent/sockdiag"
)

// The tests generate traffic from subprocesses (this test binary re-run
// as a helper, or iperf3) started directly inside a cgroup the test
// creates (clone3 CLONE_INTO_CGROUP), so that the program sees exactly the
// test's sockets and nothing of the rest of the machine.

const helperEnv = "FLOWLENS_EBPF_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		if err := runHelper(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runHelper is the traffic generator:
//
//	serve ADDR                accept forever; read to EOF, answer "ok", close
//	clients ADDR N BYTES      N connections, each sends BYTES, reads the answer
//	connect ADDR              one connect; prints its error
//	refused ADDR N            N connects that must be refused
//	stream ADDR BYTES SECONDS one connection sending BYTES spread over SECONDS
//	hold ADDR [N]             N connections (default 1) sending a little, then waiting for stdin to close
func runHelper(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: MODE ADDR ...")
	}
	num := func(i int) int {
		n, _ := strconv.Atoi(args[i])
		return n
	}
	switch args[0] {
	case "serve":
		return serve(args[1])
	case "clients":
		for i := 0; i < num(2); i++ {
			if err := exchange(args[1], num(3), 0); err != nil {
				return err
			}
		}
		return nil
	case "connect":
		_, err := net.DialTimeout("tcp", args[1], 20*time.Second)
		fmt.Println(err)
		return nil
	case "refused":
		for i := 0; i < num(2); i++ {
			if c, err := net.Dial("tcp", args[1]); err == nil {
				c.Close()
				return fmt.Errorf("connect %s: not refused", args[1])
			}
		}
		return nil
	case "stream":
		return exchange(args[1], num(2), time.Duration(num(3))*time.Second)
	case "hold":
		n := 1
		if len(args) > 2 {
			n = num(2)
		}
		return hold(args[1], n)
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

// hold opens n connections, sends a little on each, says "connected",
// waits for stdin to close, then sends a little more and closes them.
func hold(addr string, n int) error {
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if _, err := c.Write(make([]byte, 1000)); err != nil {
			return err
		}
	}
	fmt.Println("connected")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		if _, err := c.Write(make([]byte, 1000)); err != nil {
			return err
		}
	}
	return nil
}

func serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("listening")
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			io.Copy(io.Discard, c)
			c.Write([]byte("ok"))
		}()
	}
}

// exchange sends n bytes (paced over d when d > 0), half-closes and reads
// the answer.
func exchange(addr string, n int, d time.Duration) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	chunks := (n + len(buf) - 1) / len(buf)
	start := time.Now()
	for sent, i := 0, 0; sent < n; i++ {
		k := min(len(buf), n-sent)
		if _, err := c.Write(buf[:k]); err != nil {
			return err
		}
		sent += k
		if d > 0 {
			time.Sleep(time.Until(start.Add(d * time.Duration(i+1) / time.Duration(chunks))))
		}
	}
	c.(*net.TCPConn).CloseWrite()
	_, err = io.ReadAll(c)
	return err
}

// env is a test's cgroup and network namespace.
type env struct {
	t      *testing.T
	cgroup string
	cgfd   *os.File
	netns  string // empty: the test's own namespace
}

// requireRoot skips tests that need root.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (eBPF, cgroups, network namespaces)")
	}
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newEnv creates a cgroup under the cgroup v2 root (and a network namespace
// with loopback up when withNetns), removed when the test ends.
func newEnv(t testing.TB, withNetns bool) *env {
	t.Helper()
	requireRoot(t)
	root, err := cgroup2Root()
	if err != nil {
		t.Skipf("no cgroup v2: %v", err)
	}
	e := &env{cgroup: filepath.Join(root, randomName("flowlens-test-"))}
	if err := os.Mkdir(e.cgroup, 0o755); err != nil {
		t.Skipf("cannot create a cgroup: %v", err)
	}
	t.Cleanup(func() { removeCgroup(t, root, e.cgroup) })
	e.cgfd, err = os.Open(e.cgroup)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cgfd.Close() })
	if withNetns {
		e.netns = randomName("flowlens-test-")
		if out, err := exec.Command("ip", "netns", "add", e.netns).CombinedOutput(); err != nil {
			t.Skipf("cannot create a network namespace: %v: %s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", e.netns).CombinedOutput(); err != nil {
				t.Errorf("delete netns %s: %v: %s", e.netns, err, out)
			}
		})
		e.ip(t, "link", "set", "lo", "up")
	}
	return e
}

// removeCgroup moves any process left out of the cgroup and removes it.
func removeCgroup(t testing.TB, root, cg string) {
	if procs, err := os.ReadFile(filepath.Join(cg, "cgroup.procs")); err == nil {
		for _, pid := range strings.Fields(string(procs)) {
			os.WriteFile(filepath.Join(root, "cgroup.procs"), []byte(pid), 0)
		}
	}
	var err error
	for i := 0; i < 50; i++ { // a killed process leaves the cgroup asynchronously
		if err = os.Remove(cg); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("remove cgroup %s: %v", cg, err)
}

// ip runs ip(8) in the namespace.
func (e *env) ip(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", e.netns}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

// inNetns runs a command inside the namespace (not in the cgroup).
func (e *env) inNetns(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"netns", "exec", e.netns, name}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

// command returns a command that runs in the cgroup and the namespace.
func (e *env) command(name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if e.netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", e.netns, name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(e.cgfd.Fd())}
	return cmd
}

// helper returns a command running this binary as the traffic helper.
func (e *env) helper(args ...string) *exec.Cmd {
	cmd := e.command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	return cmd
}

// start starts cmd, waits for its first output line (it is ready), and
// kills it when the test ends.
func start(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := make([]byte, 64)
	if _, err := out.Read(line); err != nil {
		t.Fatalf("%v did not start: %v", cmd.Args, err)
	}
	go io.Copy(io.Discard, out) // a closed pipe would kill it with SIGPIPE
}

// run runs cmd to its end and returns its output.
func run(t testing.TB, cmd *exec.Cmd) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %v: %s", cmd.Args, err, errb.String())
	}
	return out.String()
}

// recorder runs a collector and keeps its events.
type recorder struct {
	c    *Collector
	mu   sync.Mutex
	evs  []collect.Event
	done chan error
}

// startCollector loads and runs the collector on the env's cgroup, and
// stops it when the test ends. Load failures skip the test: they are the
// environment's (the agent falls back to sock_diag on the same error).
func startCollector(t testing.TB, e *env, opts Options) *recorder {
	t.Helper()
	opts.CgroupPath = e.cgroup
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := NewWithOptions(opts, log)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			t.Skipf("eBPF unavailable here: %v", err)
		}
		t.Fatal(err)
	}
	r := &recorder{c: c, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan collect.Event, 1024)
	go func() { r.done <- c.Run(ctx, events); close(events) }()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for ev := range events {
			r.mu.Lock()
			r.evs = append(r.evs, ev)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("collector: %v", err)
		}
		<-drained
	})
	select {
	case <-c.Ready():
	case err := <-r.done:
		r.done <- err // for the cleanup
		t.Fatalf("collector stopped before it was ready: %v", err)
	}
	return r
}

// events returns the events matching keep.
func (r *recorder) events(keep func(*collect.Event) bool) []collect.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []collect.Event
	for i := range r.evs {
		if keep(&r.evs[i]) {
			out = append(out, r.evs[i])
		}
	}
	return out
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// port selects the events of one service port: the client side (remote
// port) or the server side (passive, local port).
func port(p uint16, passive bool) func(*collect.Event) bool {
	return func(ev *collect.Event) bool {
		if passive {
			return ev.Passive && ev.Local.Port() == p
		}
		return !ev.Passive && ev.Remote.Port() == p
	}
}

func kind(k collect.Kind, sel func(*collect.Event) bool) func(*collect.Event) bool {
	return func(ev *collect.Event) bool { return ev.Kind == k && sel(ev) }
}

// waitAcked waits until the client connection to service port p (in the
// test's own namespace) has had at least n bytes acknowledged.
func waitAcked(t testing.TB, p uint16, n uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d bytes acknowledged to port %d", n, p), 15*time.Second, func() bool {
		socks, err := sockdiag.DumpAll()
		if err != nil {
			t.Fatalf("sock_diag dump: %v", err)
		}
		for _, s := range socks {
			if s.Remote.Port() == p && s.HasInfo && s.Info.Counters().BytesAcked >= n {
				return true
			}
		}
		return false
	})
}

// waitListening waits until something listens on TCP port p in the env's
// namespace.
func waitListening(t testing.TB, e *env, p uint16) {
	t.Helper()
	waitFor(t, fmt.Sprintf("a listener on port %d", p), 15*time.Second, func() bool {
		var socks []sockdiag.Socket
		err := sockdiag.InNetns(e.netns, func() (err error) {
			socks, err = sockdiag.DumpAll()
			return err
		})
		if err != nil {
			t.Fatalf("sock_diag dump in %s: %v", e.netns, err)
		}
		for _, s := range socks {
			if s.State == sockdiag.StateListen && s.Local.Port() == p {
				return true
			}
		}
		return false
	})
}
