package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// DefaultStateRoot holds one state file and one state directory per lab. It
// is on tmpfs, like the namespaces under /run/netns, so a reboot (which
// removes every lab) also forgets them.
const DefaultStateRoot = "/run/flowlens-lab"

// State is what a lab created, written after every step so that `down`
// (even from another process, even after a crash half way through `up`)
// removes exactly that.
type State struct {
	Name       string    `json:"name"`
	Created    time.Time `json:"created"`
	StateDir   string    `json:"state_dir"`
	CgroupRoot string    `json:"cgroup_root"`
	// Cgroup2Mount is where processes found in a host cgroup that the lab
	// did not start are moved back to on `down`.
	Cgroup2Mount string `json:"cgroup2_mount"`
	Spec         Spec   `json:"spec"`
	// Namespaces and Cgroups are those actually created, in order. Links,
	// bridges, nft tables and qdiscs live inside the namespaces and go
	// with them.
	Namespaces  []string     `json:"namespaces"`
	Cgroups     []string     `json:"cgroups"`
	Impairments []Impairment `json:"impairments,omitempty"`
	Processes   []ProcRecord `json:"processes,omitempty"`
	Agents      *AgentConfig `json:"agents,omitempty"`
	Complete    bool         `json:"complete"`
}

// ProcRecord identifies a process the lab started. StartTime (clock ticks
// after boot, /proc/PID/stat field 22) guards against PID reuse: a recorded
// PID whose start time differs is somebody else's process and is left alone.
type ProcRecord struct {
	PID       int      `json:"pid"`
	StartTime uint64   `json:"start_time"`
	Host      string   `json:"host,omitempty"`
	Role      string   `json:"role"`
	Argv      []string `json:"argv"`
	Stdout    string   `json:"stdout"`
	Stderr    string   `json:"stderr"`
}

func stateFile(root, name string) string { return filepath.Join(root, name+".json") }
func lockFile(root, name string) string  { return filepath.Join(root, name+".lock") }

// readState loads a lab's state file.
func readState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read lab state %s: %w", path, err)
	}
	return &s, nil
}

// writeState replaces the state file atomically, so a reader never sees
// half a file.
func writeState(path string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return nil
}

// lockState takes the lab's exclusive lock, so that two commands (say
// `impair` and `down`) never interleave their read-modify-write of the
// state. The returned function releases it.
func lockState(root, name string) (func(), error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("lab state root: %w", err)
	}
	f, err := os.OpenFile(lockFile(root, name), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lab lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}
