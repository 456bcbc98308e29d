package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a background process the lab started, in a host's namespace
// and cgroup (or, for agents, in the root namespace). Its stdout and stderr
// go to files in the lab's state directory.
type Process struct {
	ProcRecord
	lab  *Lab
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	once sync.Once
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns its exit error.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Output is what the process wrote to stdout so far.
func (p *Process) Output() ([]byte, error) { return os.ReadFile(p.Stdout) }

// ErrorOutput is what the process wrote to stderr so far.
func (p *Process) ErrorOutput() ([]byte, error) { return os.ReadFile(p.Stderr) }

// Stop ends the process and its children (its whole process group): SIGTERM,
// then SIGKILL after a grace period. It is not an error if it already ended.
func (p *Process) Stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	stopGroup(p.PID, 3*time.Second, p.done)
	select {
	case <-p.done:
		return nil
	case <-time.After(2 * time.Second):
		return fmt.Errorf("process %d (%s) did not exit after SIGKILL", p.PID, p.Role)
	}
}

// launch starts argv detached in its own session (so it survives the CLI
// that started it and can be killed as a group), optionally inside a
// network namespace and born inside a cgroup. CLONE_INTO_CGROUP (through
// SysProcAttr.CgroupFD) places the child in the cgroup before it runs a
// single instruction, so no child it forks can escape.
func launch(netns, cgroup string, argv []string, stdout, stderr string) (*exec.Cmd, error) {
	full := argv
	if netns != "" {
		full = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	cmd := exec.Command(full[0], full[1:]...)
	out, err := os.OpenFile(stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	errf, err := os.OpenFile(stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	attr := &syscall.SysProcAttr{Setsid: true}
	if cgroup != "" {
		fd, err := syscall.Open(cgroup, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open cgroup %s: %w", cgroup, err)
		}
		defer syscall.Close(fd)
		attr.UseCgroupFD, attr.CgroupFD = true, fd
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", strings.Join(full, " "), err)
	}
	return cmd, nil
}

// execIn runs argv to completion in a namespace and cgroup and returns its
// stdout; the error carries the command and its stderr.
func execIn(ctx context.Context, netns, cgroup string, argv []string) ([]byte, error) {
	full := append([]string{"ip", "netns", "exec", netns}, argv...)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if cgroup != "" {
		fd, err := syscall.Open(cgroup, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open cgroup %s: %w", cgroup, err)
		}
		defer syscall.Close(fd)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	if err := cmd.Run(); err != nil {
		return out.Bytes(), &CommandError{Argv: full, Stderr: errb.String(), Err: err}
	}
	return out.Bytes(), nil
}

// procStartTime reads field 22 of /proc/PID/stat (start time in clock
// ticks after boot) and whether the process is a zombie.
func procStartTime(pid int) (start uint64, zombie bool, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false, err
	}
	// The command name (field 2) may contain spaces and parentheses; the
	// fields after the last ')' are fixed: state is field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, false, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, f[0] == "Z", err
}

// alive reports whether the recorded process still runs (and is the same
// process, not a reused PID).
func (r ProcRecord) alive() bool {
	st, zombie, err := procStartTime(r.PID)
	return err == nil && !zombie && st == r.StartTime
}

// stopRecorded stops a recorded process group if the PID still names the
// process the lab started.
func stopRecorded(r ProcRecord, grace time.Duration) {
	if !r.alive() {
		return
	}
	if pgid, err := syscall.Getpgid(r.PID); err != nil || pgid != r.PID {
		// Not the leader of its own group any more: signal only it.
		syscall.Kill(r.PID, syscall.SIGKILL)
		return
	}
	stopGroup(r.PID, grace, nil)
}

// stopGroup sends SIGTERM to the process group pgid, waits up to grace for
// its leader to go (done, when the caller reaps it, or /proc), then sends
// SIGKILL to whatever is left of the group.
func stopGroup(pgid int, grace time.Duration, done <-chan struct{}) {
	syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if done != nil {
			select {
			case <-done:
				syscall.Kill(-pgid, syscall.SIGKILL)
				return
			case <-time.After(20 * time.Millisecond):
			}
		} else {
			if _, zombie, err := procStartTime(pgid); err != nil || zombie {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// netnsInode is the inode that identifies a network namespace; a process is
// in it when /proc/PID/ns/net links to "net:[INODE]".
func netnsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// procNetnsInode is the network namespace inode of a process.
func procNetnsInode(pid int) (uint64, error) {
	return netnsInode("/proc/" + strconv.Itoa(pid) + "/ns/net")
}

// PIDsInNetns lists the processes whose network namespace has the given
// inode. Tests use it to prove that nothing outlives a lab.
func PIDsInNetns(inode uint64) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ino, err := procNetnsInode(pid); err == nil && ino == inode {
			if _, zombie, err := procStartTime(pid); err == nil && !zombie {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

var errExitedEarly = errors.New("exited right after start")
