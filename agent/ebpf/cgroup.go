package ebpf

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrNoCgroup2 means no cgroup v2 hierarchy is mounted.
var ErrNoCgroup2 = errors.New("no cgroup v2 mount")

// cgroup2Root returns the mount point of the cgroup v2 hierarchy, read from
// /proc/self/mountinfo (it is /sys/fs/cgroup on most systems, but not all).
func cgroup2Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("find cgroup v2 mount: %w", err)
	}
	defer f.Close()
	return parseCgroup2Root(bufio.NewScanner(f))
}

// parseCgroup2Root scans mountinfo lines: "36 35 0:30 / /sys/fs/cgroup rw,... - cgroup2 cgroup2 rw".
func parseCgroup2Root(sc *bufio.Scanner) (string, error) {
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		if fstype, _, _ := strings.Cut(post, " "); fstype != "cgroup2" {
			continue
		}
		fields := strings.Fields(pre)
		if len(fields) >= 5 {
			return unescapeMountinfo(fields[4]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	return "", ErrNoCgroup2
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupInfo is where the program is attached.
type cgroupInfo struct {
	path   string
	isRoot bool
	id     uint64 // cgroup id: the inode number of its directory
	level  uint32 // depth below the root
}

// resolveCgroup checks path (empty: the cgroup v2 root) and returns what
// the programs need to know about it.
func resolveCgroup(path string) (cgroupInfo, error) {
	root, err := cgroup2Root()
	if err != nil {
		return cgroupInfo{}, err
	}
	if path == "" {
		path = root
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return cgroupInfo{}, fmt.Errorf("cgroup %s: %w", path, err)
	}
	const cgroup2Magic = 0x63677270
	if st.Type != cgroup2Magic {
		return cgroupInfo{}, fmt.Errorf("cgroup %s: not a cgroup v2 directory", path)
	}
	id, err := inode(path)
	if err != nil {
		return cgroupInfo{}, err
	}
	rel, err := filepath.Rel(root, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return cgroupInfo{}, fmt.Errorf("cgroup %s: not under the cgroup v2 mount %s", path, root)
	}
	info := cgroupInfo{path: path, id: id, isRoot: rel == "."}
	if !info.isRoot {
		info.level = uint32(len(strings.Split(rel, string(filepath.Separator))))
	}
	return info, nil
}

func inode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Ino, nil
}

// descendantIDs returns the ids of cgroup and every cgroup below it, to
// filter a sock_diag dump (which reports each socket's own cgroup) to the
// program's scope.
func descendantIDs(path string) (map[uint64]bool, error) {
	ids := map[uint64]bool{}
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != path && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if id, err := inode(p); err == nil {
			ids[id] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk cgroup %s: %w", path, err)
	}
	return ids, nil
}
