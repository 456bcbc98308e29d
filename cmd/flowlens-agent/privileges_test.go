package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/wire/flowlensv1"
	"github.com/flowlens/flowlens/wire/wiretest"
)

// These tests run the real command in a child process: this package's
// test binary, rebuilt with CGO_ENABLED=0 as the agent is (a cgo runtime
// cannot drop every thread's privileges, and `go test` links cgo where a C
// compiler exists). In the child, TestMain runs main() and, when asked
// with SIGUSR1, tries to open /etc/shadow from it and prints the outcome.

const helperEnv = "FLOWLENS_AGENT_TEST_HELPER"

var (
	helperOnce sync.Once
	helperDir  string
	helperBin  string
	helperErr  error
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		go probeShadowOnSignal()
		main()
		return
	}
	code := m.Run()
	if helperDir != "" {
		os.RemoveAll(helperDir)
	}
	os.Exit(code)
}

// probeShadowOnSignal opens /etc/shadow each time the process gets
// SIGUSR1 and prints "shadow: " and the outcome on stdout.
func probeShadowOnSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	for range sig {
		f, err := os.Open("/etc/shadow")
		switch {
		case err == nil:
			f.Close()
			fmt.Println("shadow: opened")
		case errors.Is(err, os.ErrPermission):
			fmt.Println("shadow: permission denied")
		default:
			fmt.Println("shadow:", err)
		}
	}
}

// requireRoot skips tests that need to drop privileges.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the agent drops privileges it must have first")
	}
}

// helper builds the child binary once per test run.
func helper(t *testing.T) string {
	t.Helper()
	helperOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			helperErr = fmt.Errorf("no go toolchain to build the CGO_ENABLED=0 agent: %w", err)
			return
		}
		if helperDir, helperErr = os.MkdirTemp("", "flowlens-agent-test-"); helperErr != nil {
			return
		}
		helperBin = filepath.Join(helperDir, "flowlens-agent.test")
		cmd := exec.Command(goBin, "test", "-c", "-o", helperBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			helperErr = fmt.Errorf("build the CGO_ENABLED=0 agent: %v\n%s", err, out)
		}
	})
	if errors.Is(helperErr, exec.ErrNotFound) {
		t.Skip(helperErr)
	}
	if helperErr != nil {
		t.Fatal(helperErr)
	}
	return helperBin
}

// lockedBuffer is a bytes.Buffer written by a child's output copier.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// agentProc is a running agent child.
type agentProc struct {
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	done           chan error
	err            error
}

// startAgent starts the agent with args; cgroupFD >= 0 starts it inside
// that cgroup. It is killed when the test ends if still running.
func startAgent(t *testing.T, cgroupFD int, args ...string) *agentProc {
	t.Helper()
	return startAgentVia(t, cgroupFD, nil, args...)
}

// startAgentVia is startAgent with the agent run by a wrapper command
// (wrapper..., agent, args...).
func startAgentVia(t *testing.T, cgroupFD int, wrapper []string, args ...string) *agentProc {
	t.Helper()
	argv := append(append(wrapper[:len(wrapper):len(wrapper)], helper(t)), args...)
	p := &agentProc{cmd: exec.Command(argv[0], argv[1:]...), done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), helperEnv+"=1")
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if cgroupFD >= 0 {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgroupFD}
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start the agent: %v", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.exited() {
			return
		}
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// exited says whether the child has exited (its error is then in p.err).
func (p *agentProc) exited() bool {
	if p.done == nil {
		return true
	}
	select {
	case p.err = <-p.done:
		p.done = nil
		return true
	default:
		return false
	}
}

// wait waits for the child to exit by itself and returns its error.
func (p *agentProc) wait(t *testing.T) error {
	t.Helper()
	waitFor(t, "the agent to exit", func() bool { return p.exited() })
	return p.err
}

// stop sends SIGTERM and waits for the exit, which must be clean.
func (p *agentProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Errorf("agent exit after SIGTERM: %v\n%s", err, p.stderr.String())
	}
}

// waitFor polls cond until it holds; the bound only keeps a broken build
// from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clientBytes is the most bytes any report counts the agent sending to
// port p (its own report uploads).
func clientBytes(in *wiretest.Recorder, p uint32) uint64 {
	var most uint64
	for _, r := range in.Reports() {
		for _, f := range r.Flows {
			if f.Port == p && f.Direction == flowlensv1.Direction_DIRECTION_CLIENT {
				most = max(most, f.BytesSent)
			}
		}
	}
	return most
}

// spoolDir returns a spool directory the agent's user can reach (the
// tests' temporary directories are 0700).
func spoolDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "flowlens-agent-spool-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "spool")
}

// testCgroup creates a cgroup v2 of the test's own (removed when it ends),
// or skips.
func testCgroup(t *testing.T) (path string, fd int) {
	t.Helper()
	root, err := cgroup2Mount()
	if err != nil {
		t.Skipf("no cgroup v2: %v", err)
	}
	path, err = os.MkdirTemp(root, "flowlens-agent-test-")
	if err != nil {
		t.Skipf("cannot create a cgroup: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		deadline := time.Now().Add(30 * time.Second) // a killed process leaves it asynchronously
		for os.Remove(path) != nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	})
	return path, int(f.Fd())
}

// cgroup2Mount finds the cgroup v2 mount in mountinfo.
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, fl := range fields {
			if fl == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4], nil
			}
		}
	}
	return "", errors.New("no cgroup2 mount")
}

// TestAgentCannotReadShadowAfterDrop runs the agent as root in each mode
// and checks that once running it cannot open /etc/shadow, that every one
// of its threads runs as the agent's user with no capability beyond its
// collector's and no_new_privs, and that it still measures and reports
// traffic (its own report uploads to a server on loopback).
func TestAgentCannotReadShadowAfterDrop(t *testing.T) {
	requireRoot(t)
	for _, mode := range []string{"ebpf", "sockdiag"} {
		t.Run(mode, func(t *testing.T) {
			in := &wiretest.Recorder{}
			srv := httptest.NewServer(in)
			defer srv.Close()
			port := uint32(srv.Listener.Addr().(*net.TCPAddr).Port)
			args := []string{"--mode", mode, "--server", srv.URL, "--interval", "1s", "--host-id", "drop-test",
				"--spool-dir", spoolDir(t), "--metrics-listen", "127.0.0.1:0"}
			cgroupFD := -1
			if mode == "ebpf" {
				// The agent runs in a cgroup of its own and watches it:
				// its uploads are the traffic it measures.
				path, fd := testCgroup(t)
				args, cgroupFD = append(args, "--cgroup", path), fd
			}
			p := startAgent(t, cgroupFD, args...)
			waitFor(t, "a report counting the agent's own uploads", func() bool {
				if p.exited() {
					if mode == "ebpf" && strings.Contains(p.stderr.String(), "eBPF collector") {
						t.Skipf("eBPF cannot load here: %s", p.stderr.String())
					}
					t.Fatalf("agent exited: %v\n%s", p.err, p.stderr.String())
				}
				return clientBytes(in, port) > 0
			})
			id, err := agent.ResolveUser("")
			if err != nil {
				t.Fatal(err)
			}
			caps := agent.MaxCapabilities(mode)
			if err := agent.VerifyDropped(p.cmd.Process.Pid, agent.Dropped{Identity: id, Capabilities: caps, Bounding: caps}); err != nil {
				t.Error(err)
			}
			p.cmd.Process.Signal(syscall.SIGUSR1)
			waitFor(t, "the agent's /etc/shadow probe", func() bool { return strings.Contains(p.stdout.String(), "shadow: ") })
			if out := p.stdout.String(); !strings.Contains(out, "shadow: permission denied") {
				t.Errorf("the running agent's process: %s", strings.TrimSpace(out))
			}
			if !strings.Contains(p.stderr.String(), "msg=\"dropped privileges\"") {
				t.Errorf("no \"dropped privileges\" in the log:\n%s", p.stderr.String())
			}
			p.stop(t)
		})
	}
}

// TestAgentStartedWithAmbientCapabilitiesShedsThem starts the agent the
// way a service manager gives an unprivileged user the capabilities to set
// up a collector (setpriv: nobody with ambient CAP_NET_ADMIN and friends),
// and checks that once running it keeps none of them and sets
// no_new_privs, so that neither it nor anything it executes has them.
func TestAgentStartedWithAmbientCapabilitiesShedsThem(t *testing.T) {
	requireRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs util-linux's setpriv")
	}
	nobody, err := agent.ResolveUser("nobody")
	if err != nil {
		t.Skipf("no nobody user: %v", err)
	}
	in := &wiretest.Recorder{}
	srv := httptest.NewServer(in)
	defer srv.Close()
	port := uint32(srv.Listener.Addr().(*net.TCPAddr).Port)
	spool := spoolDir(t)
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(spool, nobody.UID, nobody.GID); err != nil {
		t.Fatal(err)
	}
	const caps = "+net_admin,+bpf,+perfmon"
	p := startAgentVia(t, -1, []string{setpriv, fmt.Sprintf("--reuid=%d", nobody.UID), fmt.Sprintf("--regid=%d", nobody.GID),
		"--clear-groups", "--inh-caps=" + caps, "--ambient-caps=" + caps},
		"--mode", "sockdiag", "--server", srv.URL, "--interval", "1s", "--spool-dir", spool, "--metrics-listen", "")
	waitFor(t, "a report counting the agent's own uploads", func() bool {
		if p.exited() {
			t.Fatalf("agent exited: %v\n%s", p.err, p.stderr.String())
		}
		return clientBytes(in, port) > 0
	})
	// Without CAP_SETPCAP it cannot shrink its bounding set; no_new_privs
	// keeps an exec from gaining anything from it.
	if err := agent.VerifyDropped(p.cmd.Process.Pid, agent.Dropped{Identity: nobody, Bounding: ^uint64(0)}); err != nil {
		t.Error(err)
	}
	p.stop(t)
}

// TestDropFailureRefusesToStart checks that the agent does not run with
// the privileges it started with when the drop cannot happen, unless
// --no-drop-privileges says so.
func TestDropFailureRefusesToStart(t *testing.T) {
	requireRoot(t)
	unreachable := func(t *testing.T) string { // under a directory nobody cannot search
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, "spool")
	}
	foreign := func(t *testing.T) string { // a directory that is not the agent's own
		dir := spoolDir(t)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "shadow"), []byte("root:x:"), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, tc := range []struct {
		name  string
		spool func(*testing.T) string
		args  []string
		err   string
	}{
		{"unknown user", spoolDir, []string{"--user", "flowlens-no-such-user"}, `--user "flowlens-no-such-user"`},
		{"root as the user", spoolDir, []string{"--user", "root"}, "no drop"},
		{"spool the user cannot reach", unreachable, nil, "is not writable"},
		{"spool dir of someone else", foreign, nil, `holds "shadow"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--mode", "sockdiag", "--server", "http://127.0.0.1:1", "--interval", "1s",
				"--metrics-listen", "", "--spool-dir", tc.spool(t)}, tc.args...)
			p := startAgent(t, -1, args...)
			err := p.wait(t)
			if err == nil {
				t.Fatalf("agent ran; want a refusal naming %q:\n%s", tc.err, p.stderr.String())
			}
			if !strings.Contains(p.stderr.String(), tc.err) {
				t.Fatalf("agent exit %v; its output does not name %q:\n%s", err, tc.err, p.stderr.String())
			}
			if strings.Contains(p.stderr.String(), "flowlens-agent running") {
				t.Errorf("agent said it was running before it refused:\n%s", p.stderr.String())
			}
		})
	}

	t.Run("no-drop-privileges", func(t *testing.T) {
		srv := httptest.NewServer(&wiretest.Recorder{})
		defer srv.Close()
		p := startAgent(t, -1, "--mode", "sockdiag", "--server", srv.URL, "--interval", "1s",
			"--metrics-listen", "", "--spool-dir", spoolDir(t), "--no-drop-privileges")
		waitFor(t, "the agent to run", func() bool {
			if p.exited() {
				t.Fatalf("agent exited: %v\n%s", p.err, p.stderr.String())
			}
			return strings.Contains(p.stderr.String(), "flowlens-agent running")
		})
		threads, err := agent.ReadThreads(p.cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if threads[0].UIDs[0] != 0 {
			t.Errorf("with --no-drop-privileges the agent runs as uid %d, want 0", threads[0].UIDs[0])
		}
		p.stop(t)
	})
}
