package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrAgentMissing means no flowlens-agent binary was found.
var ErrAgentMissing = errors.New("flowlens-agent binary not found")

// AgentConfig starts one flowlens-agent per host. Agents run in the root
// network namespace and outside the host cgroups: they must reach the
// server (often on the root namespace's loopback), and their own reports
// must not show up among the host's measured flows. Each watches its host
// through --cgroup (ebpf) or --netns (sockdiag).
type AgentConfig struct {
	// Bin is the agent binary (default: flowlens-agent next to the running
	// executable, else on $PATH).
	Bin      string        `json:"bin"`
	Mode     string        `json:"mode"` // ebpf, sockdiag or auto (default sockdiag)
	Server   string        `json:"server"`
	Token    string        `json:"-"`
	Interval time.Duration `json:"interval"` // default 5s
	// MetricsBase, when non-zero, gives host i's agent the metrics address
	// 127.0.0.1:MetricsBase+i; zero disables the agents' /metrics (eight
	// agents cannot share the default port).
	MetricsBase int      `json:"metrics_base,omitempty"`
	Insecure    bool     `json:"insecure,omitempty"`
	ExtraArgs   []string `json:"extra_args,omitempty"`
}

// ResolveAgentBin finds the agent binary.
func ResolveAgentBin(bin string) (string, error) {
	if bin != "" {
		fi, err := os.Stat(bin)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%w: --agent-bin %s is not an executable file", ErrAgentMissing, bin)
		}
		return filepath.Abs(bin)
	}
	var tried []string
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "flowlens-agent")
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
		tried = append(tried, p)
	}
	if p, err := exec.LookPath("flowlens-agent"); err == nil {
		return filepath.Abs(p)
	}
	tried = append(tried, "$PATH")
	return "", fmt.Errorf("%w (looked in %s); build it with `make build` or pass --agent-bin", ErrAgentMissing, strings.Join(tried, " and "))
}

// agentTokenFile is where host h's agent reads its token.
func agentTokenFile(stateDir string, h Host) string {
	return filepath.Join(stateDir, h.Short, "token")
}

// agentArgs is the command line of host i's agent.
func agentArgs(c AgentConfig, h Host, i int, stateDir string) []string {
	argv := []string{c.Bin, "--server", c.Server, "--token-file", agentTokenFile(stateDir, h), "--mode", c.Mode,
		"--host-id", h.Name, "--interval", c.Interval.String(),
		"--spool-dir", filepath.Join(stateDir, h.Short, "agent")} // the agent's own: it hands it to its unprivileged user
	if c.Mode != "ebpf" {
		argv = append(argv, "--netns", h.Name)
	}
	if c.Mode != "sockdiag" {
		argv = append(argv, "--cgroup", h.Cgroup)
	}
	metrics := ""
	if c.MetricsBase > 0 {
		metrics = "127.0.0.1:" + strconv.Itoa(c.MetricsBase+i)
	}
	argv = append(argv, "--metrics-listen="+metrics)
	if c.Insecure {
		argv = append(argv, "--insecure")
	}
	return append(argv, c.ExtraArgs...)
}

// StartAgents starts one agent per host and checks that each is still
// running a moment later; if one is not, all are stopped and its stderr is
// in the error.
func (l *Lab) StartAgents(ctx context.Context, c AgentConfig) error {
	bin, err := ResolveAgentBin(c.Bin)
	if err != nil {
		return err
	}
	c.Bin = bin
	if c.Mode == "" {
		c.Mode = "sockdiag"
	}
	if c.Mode != "ebpf" && c.Mode != "sockdiag" && c.Mode != "auto" {
		return fmt.Errorf("agent mode %q: want ebpf, sockdiag or auto", c.Mode)
	}
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.Server == "" {
		return errors.New("agents need a server URL (--server)")
	}
	dir := l.StateDir()
	var procs []*Process
	for i, h := range l.Hosts() {
		if err := os.MkdirAll(filepath.Join(dir, h.Short), 0o755); err != nil {
			return err
		}
		// The token goes in a file only root can read, not on the command
		// line, where every local user could read it in /proc.
		if err := os.WriteFile(agentTokenFile(dir, h), []byte(c.Token+"\n"), 0o600); err != nil {
			return err
		}
		p, err := l.start(h.Short, "", "", RoleAgent, agentArgs(c, h, i, dir))
		if err != nil {
			return errors.Join(err, l.stopRole(isAgent))
		}
		procs = append(procs, p)
	}
	select {
	case <-ctx.Done():
		return errors.Join(ctx.Err(), l.stopRole(isAgent))
	case <-time.After(time.Second):
	}
	for _, p := range procs {
		select {
		case <-p.Done():
			msg, _ := p.ErrorOutput()
			return errors.Join(fmt.Errorf("agent for %s %w: %v: %s", p.Host, errExitedEarly, p.Wait(), strings.TrimSpace(string(msg))),
				l.stopRole(isAgent))
		default:
		}
	}
	return l.locked(func() error {
		l.state.Agents = &c
		return l.save()
	})
}

// StopAgents stops the agents.
func (l *Lab) StopAgents() error { return l.stopRole(isAgent) }

func isAgent(r string) bool { return r == RoleAgent }
