package lab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoCgroup2 means no cgroup v2 hierarchy is mounted; the lab needs one so
// that each host's processes can be told apart (and an eBPF agent attached).
var ErrNoCgroup2 = errors.New("no cgroup v2 hierarchy mounted")

// CgroupDirName is the directory under the cgroup v2 mount that holds the
// host cgroups of every lab.
const CgroupDirName = "flowlens-lab"

// Cgroup2Mount finds where the cgroup v2 hierarchy is mounted. It reads
// mountinfo rather than assuming /sys/fs/cgroup because hybrid systems
// (systemd's "unified" layout, this CI's machine) mount it at
// /sys/fs/cgroup/unified.
func Cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("find cgroup v2 mount: %w", err)
	}
	defer f.Close()
	return parseCgroup2Mount(f)
}

// parseCgroup2Mount returns the first cgroup2 mount point of a mountinfo
// file: fields are "id parent major:minor root mountpoint opts... - fstype
// source superopts".
func parseCgroup2Mount(r interface{ Read([]byte) (int, error) }) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4], nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("find cgroup v2 mount: %w", err)
	}
	return "", ErrNoCgroup2
}

// cgroupPIDs lists the processes in a cgroup.
func cgroupPIDs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, l := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(l); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// moveToCgroup moves pid into the cgroup dir.
func moveToCgroup(dir string, pid int) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
}

// removeCgroup removes an empty cgroup directory, waiting briefly for
// killed processes to leave it (rmdir answers EBUSY until they are reaped
// from the cgroup).
func removeCgroup(dir string) error {
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := syscall.Rmdir(dir)
		switch {
		case err == nil || errors.Is(err, syscall.ENOENT):
			return nil
		case errors.Is(err, syscall.EBUSY) && time.Now().Before(deadline):
			time.Sleep(50 * time.Millisecond)
		default:
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
	}
}
