package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/flowlens/flowlens/agent/collect"
	"github.com/flowlens/flowlens/publisher"
)

// The agent starts as root (or with the capabilities to load eBPF, enter a
// namespace and join the destroy groups), sets its collector up, and then
// becomes an unprivileged user before it reads anything from the network
// or the kernel's sockets: setgroups([]), setresgid, setresuid, then only
// the capabilities the running collector needs, no_new_privs, and a check
// of every thread's /proc status. A drop that fails stops the agent.
//
// The spool directory is chowned to that user before the switch: the
// publisher creates, renames and removes files there by name, which open
// descriptors could not cover.

// DefaultUser is the account the agent switches to when it exists;
// otherwise it becomes nobody (65534).
const DefaultUser = "flowlens"

// nobodyID is nobody's uid and gid where /etc/passwd has no nobody.
const nobodyID = 65534

// ErrCgoBuild means the binary was built with cgo, whose runtime cannot
// change every thread's capabilities and no_new_privs (Go's
// syscall.AllThreadsSyscall needs CGO_ENABLED=0).
var ErrCgoBuild = errors.New("this flowlens-agent was built with cgo, which cannot drop every thread's privileges; build it with CGO_ENABLED=0 (make build does), or run it with --no-drop-privileges")

// Identity is the user the agent runs as after the drop.
type Identity struct {
	Name     string
	UID, GID int
}

// ResolveUser finds the account to drop to: name (a user name or a numeric
// uid), or when empty DefaultUser if it exists, else nobody.
func ResolveUser(name string) (Identity, error) {
	if name != "" {
		return lookupUser(name)
	}
	if id, err := lookupUser(DefaultUser); err == nil {
		return id, nil
	}
	if id, err := lookupUser("nobody"); err == nil {
		return id, nil
	}
	return Identity{Name: "nobody", UID: nobodyID, GID: nobodyID}, nil
}

// dropTarget is the user to drop to: the one named, else, for an agent
// started as another user than root (with capabilities of its own), that
// user, else ResolveUser's default.
func dropTarget(name string) (Identity, error) {
	if name != "" || os.Getuid() == 0 {
		return ResolveUser(name)
	}
	id := Identity{Name: strconv.Itoa(os.Getuid()), UID: os.Getuid(), GID: os.Getgid()}
	if u, err := user.LookupId(id.Name); err == nil {
		id.Name = u.Username
	}
	return id, nil
}

func lookupUser(name string) (Identity, error) {
	var (
		u   *user.User
		err error
	)
	if _, nerr := strconv.Atoi(name); nerr == nil {
		u, err = user.LookupId(name)
	} else {
		u, err = user.Lookup(name)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("--user %q: %w", name, err)
	}
	uid, uerr := strconv.Atoi(u.Uid)
	gid, gerr := strconv.Atoi(u.Gid)
	if uerr != nil || gerr != nil {
		return Identity{}, fmt.Errorf("--user %q: uid %q gid %q are not numbers", name, u.Uid, u.Gid)
	}
	if uid == 0 || gid == 0 {
		return Identity{}, fmt.Errorf("--user %q: uid %d gid %d: dropping privileges to root is no drop", name, uid, gid)
	}
	return Identity{Name: u.Username, UID: uid, GID: gid}, nil
}

// MaxCapabilities are the most each mode's running collector may keep once
// it is set up:
//
//   - sockdiag: nothing. Entering the namespace (CAP_SYS_ADMIN), joining
//     the destroy multicast groups and forcing the receive buffer
//     (CAP_NET_ADMIN) happen in the constructor; the kernel checks group
//     membership at bind time only, and dumps of every socket with its
//     tcp_info need no privilege.
//   - ebpf: CAP_BPF at most. The program, the iterator and the ring buffer
//     are attached and mapped in the constructor; what runs later is map
//     lookups, deletes and batch reads, iterator runs and the sock_diag
//     seed dump. Since Linux 6.5 bpf() commands on an fd already open need
//     no capability; before, every bpf() command of a process without
//     CAP_BPF fails while unprivileged BPF is disabled (the distros'
//     default). The agent finds out which by probing (see keepForCollector)
//     and keeps CAP_BPF only where the probe needs it.
func MaxCapabilities(mode string) uint64 {
	if mode == ModeEBPF {
		return 1 << unix.CAP_BPF
	}
	return 0
}

// Prober is implemented by a collector whose needs after the drop depend
// on the kernel: Probe makes one of each kind of kernel call the running
// collector makes, without changing its state.
type Prober interface {
	Probe() error
}

// keepForCollector narrows the capabilities kept (effective and permitted,
// already set to max) to what the collector's probe needs: it runs the
// probe with none effective, and gives up max when that works.
func keepForCollector(coll any, max uint64) (uint64, error) {
	p, ok := coll.(Prober)
	if max == 0 || !ok {
		return max, nil
	}
	if err := capsetAllThreads(0, max); err != nil {
		return 0, err
	}
	err := p.Probe()
	switch {
	case err == nil:
		return 0, capsetAllThreads(0, 0)
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
		return max, capsetAllThreads(max, max)
	default:
		return 0, fmt.Errorf("probe the collector without capabilities: %w", err)
	}
}

// capNames names the capabilities a mode may keep, for logs and errors.
func capNames(mask uint64) string {
	var names []string
	for _, c := range []struct {
		n    int
		name string
	}{{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN"}, {unix.CAP_PERFMON, "CAP_PERFMON"}, {unix.CAP_BPF, "CAP_BPF"}} {
		if mask&(1<<c.n) != 0 {
			names = append(names, c.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// dropPrivileges makes every thread of the process run as id with only the
// mode's capabilities and no_new_privs, after handing it spoolDir, and
// checks the result in /proc. Any error means the drop did not happen (or
// not completely): the caller must not run.
//
// A process that already runs as id (started unprivileged, with file or
// ambient capabilities) keeps its groups, and its bounding set when it
// lacks CAP_SETPCAP to shrink it; it still sheds every other capability
// and sets no_new_privs, so an exec cannot gain any back.
func dropPrivileges(id Identity, coll collect.Collector, spoolDir string, log *slog.Logger) error {
	// A harmless all-threads call tells a cgo runtime (ENOTSUP) apart.
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_GET_NO_NEW_PRIVS, 0, 0); e == syscall.ENOTSUP {
		return ErrCgoBuild
	}
	self, err := readThreadStatus("/proc/thread-self/status")
	if err != nil {
		return fmt.Errorf("drop privileges: %w", err)
	}
	mode := coll.Mode()
	keep := MaxCapabilities(mode) & self.CapPrm
	want := Dropped{Identity: id, Bounding: MaxCapabilities(mode)}
	switchUser := self.UIDs != [4]int{id.UID, id.UID, id.UID, id.UID} || self.GIDs != [4]int{id.GID, id.GID, id.GID, id.GID}
	if !switchUser {
		want.Groups = self.Groups
		if self.CapEff&(1<<unix.CAP_SETPCAP) == 0 {
			want.Bounding = self.CapBnd
		}
	}
	if switchUser && spoolDir != "" {
		if err := chownSpool(spoolDir, id); err != nil {
			return err
		}
	}
	type step struct {
		what string
		do   func() error
	}
	var steps []step
	if want.Bounding != self.CapBnd {
		steps = append(steps, step{"drop the bounding set", func() error { return dropBoundingSet(keep) }})
	}
	steps = append(steps, step{"clear ambient capabilities", func() error {
		return allThreadsPrctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0)
	}})
	if switchUser {
		steps = append(steps,
			step{"keep capabilities across setuid", func() error { return allThreadsPrctl(unix.PR_SET_KEEPCAPS, 1, 0) }},
			// Go's syscall package applies these three to every thread.
			step{"setgroups", func() error { return syscall.Setgroups(nil) }},
			step{"setresgid", func() error { return syscall.Setresgid(id.GID, id.GID, id.GID) }},
			step{"setresuid", func() error { return syscall.Setresuid(id.UID, id.UID, id.UID) }},
		)
	}
	steps = append(steps,
		step{"capset", func() error { return capsetAllThreads(keep, keep) }},
		step{"probe the collector", func() (err error) { keep, err = keepForCollector(coll, keep); return err }},
	)
	if switchUser {
		steps = append(steps, step{"stop keeping capabilities across setuid", func() error { return allThreadsPrctl(unix.PR_SET_KEEPCAPS, 0, 0) }})
	}
	steps = append(steps, step{"no_new_privs", func() error { return allThreadsPrctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0) }})
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("drop privileges to %s (%d:%d): %s: %w", id.Name, id.UID, id.GID, s.what, err)
		}
	}
	want.Capabilities = keep
	if err := VerifyDropped(os.Getpid(), want); err != nil {
		return err
	}
	if spoolDir != "" {
		if err := checkWritable(spoolDir); err != nil {
			return fmt.Errorf("after dropping privileges to %s: --spool-dir %s is not writable: %w (its parent directories must be searchable by that user)", id.Name, spoolDir, err)
		}
	}
	log.Info("dropped privileges", "user", id.Name, "uid", id.UID, "gid", id.GID, "mode", mode,
		"capabilities", capNames(keep), "no_new_privs", true)
	return nil
}

func allThreadsPrctl(option, arg2, arg3 uintptr) error {
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, option, arg2, arg3); e != 0 {
		return e
	}
	return nil
}

// dropBoundingSet removes every capability but keep from the bounding set
// (which needs CAP_SETPCAP, so it goes before the switch): nothing the
// agent could be made to execute gets them back.
func dropBoundingSet(keep uint64) error {
	for c := uintptr(0); c <= lastCap(); c++ {
		if keep&(1<<c) != 0 {
			continue
		}
		if err := allThreadsPrctl(unix.PR_CAPBSET_DROP, c, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("capability %d: %w", c, err)
		}
	}
	return nil
}

// capsetAllThreads sets every thread's effective and permitted sets, and
// its inheritable set to nothing.
func capsetAllThreads(eff, prm uint64) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(eff), Permitted: uint32(prm)},
		{Effective: uint32(eff >> 32), Permitted: uint32(prm >> 32)},
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return e
	}
	return nil
}

// lastCap is the highest capability the kernel knows.
func lastCap() uintptr {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 63
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return 63
	}
	return uintptr(n)
}

// writeCheckPrefix names checkWritable's file.
const writeCheckPrefix = ".write-check-"

// chownSpool gives the spool directory and everything in it to id, so that
// the agent keeps writing its spool after the switch. It refuses a
// directory that holds anything the publisher did not create: pointing
// --spool-dir at /etc or /var/lib must not hand those to the agent's user.
// Symbolic links are not followed.
func chownSpool(dir string, id Identity) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("--spool-dir %s: %w", dir, err)
	}
	for _, e := range ents {
		if !publisher.OwnsSpoolEntry(e.Name()) && !strings.HasPrefix(e.Name(), writeCheckPrefix) {
			return fmt.Errorf("--spool-dir %s holds %q, which the agent did not create: give the agent a directory of its own (it hands it to %s)", dir, e.Name(), id.Name)
		}
	}
	err = filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, id.UID, id.GID)
	})
	if err != nil {
		return fmt.Errorf("hand --spool-dir %s to %s (%d:%d): %w", dir, id.Name, id.UID, id.GID, err)
	}
	return nil
}

// checkWritable creates and removes a file in dir.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, writeCheckPrefix+"*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// ThreadStatus is what /proc/PID/task/TID/status says of one thread's
// privileges.
type ThreadStatus struct {
	TID                            int
	UIDs, GIDs                     [4]int // real, effective, saved, filesystem
	Groups                         []int
	CapInh, CapPrm, CapEff, CapBnd uint64
	CapAmb                         uint64
	NoNewPrivs                     bool
}

// ReadThreads reads the privileges of every thread of process pid.
func ReadThreads(pid int) ([]ThreadStatus, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []ThreadStatus
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readThreadStatus(filepath.Join(dir, e.Name(), "status"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread exited
		}
		if err != nil {
			return nil, err
		}
		st.TID = tid
		out = append(out, st)
	}
	return out, nil
}

// readThreadStatus reads one status file.
func readThreadStatus(path string) (ThreadStatus, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ThreadStatus{}, err
	}
	st, err := parseThreadStatus(string(b))
	if err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// statusKeys are the fields parseThreadStatus needs (NoNewPrivs since
// Linux 4.10).
var statusKeys = []string{"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"}

// parseThreadStatus reads the privilege fields of a status file.
func parseThreadStatus(s string) (ThreadStatus, error) {
	var st ThreadStatus
	seen := map[string]bool{}
	for line := range strings.Lines(s) {
		key, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		var err error
		switch key {
		case "Uid", "Gid":
			ids := &st.UIDs
			if key == "Gid" {
				ids = &st.GIDs
			}
			if len(fields) != 4 {
				return st, fmt.Errorf("%s: %q: want 4 ids", key, val)
			}
			for i, f := range fields {
				if ids[i], err = strconv.Atoi(f); err != nil {
					return st, fmt.Errorf("%s: %w", key, err)
				}
			}
		case "Groups":
			for _, f := range fields {
				g, err := strconv.Atoi(f)
				if err != nil {
					return st, fmt.Errorf("Groups: %w", err)
				}
				st.Groups = append(st.Groups, g)
			}
		case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb":
			dst := map[string]*uint64{"CapInh": &st.CapInh, "CapPrm": &st.CapPrm, "CapEff": &st.CapEff, "CapBnd": &st.CapBnd, "CapAmb": &st.CapAmb}[key]
			if len(fields) != 1 {
				return st, fmt.Errorf("%s: %q", key, val)
			}
			if *dst, err = strconv.ParseUint(fields[0], 16, 64); err != nil {
				return st, fmt.Errorf("%s: %w", key, err)
			}
		case "NoNewPrivs":
			st.NoNewPrivs = strings.TrimSpace(val) == "1"
		default:
			continue
		}
		seen[key] = true
	}
	for _, key := range statusKeys {
		if !seen[key] {
			return st, fmt.Errorf("no %s field", key)
		}
	}
	return st, nil
}

// Dropped is the state of a process after the drop.
type Dropped struct {
	Identity
	// Groups are the supplementary groups allowed (none when the agent
	// switched user; its own when it started as that user).
	Groups []int
	// Capabilities are the effective and permitted sets (at most).
	Capabilities uint64
	// Bounding is the bounding set (at most): the mode's
	// MaxCapabilities, which stay there when the probe shows they are not
	// needed (dropping from it needs CAP_SETPCAP; no_new_privs keeps an
	// exec from gaining them anyway).
	Bounding uint64
}

// VerifyDropped checks that every thread of process pid runs as want's
// user, in no supplementary group, with no capability beyond want's in its
// effective, permitted and bounding sets, none in its inheritable and
// ambient sets, and with no_new_privs.
func VerifyDropped(pid int, want Dropped) error {
	threads, err := ReadThreads(pid)
	if err != nil {
		return fmt.Errorf("verify the privilege drop: %w", err)
	}
	if len(threads) == 0 {
		return fmt.Errorf("verify the privilege drop: no thread of process %d", pid)
	}
	if err := verifyThreads(threads, want); err != nil {
		return fmt.Errorf("verify the privilege drop: process %d: %w", pid, err)
	}
	return nil
}

// verifyThreads is VerifyDropped on threads already read.
func verifyThreads(threads []ThreadStatus, want Dropped) error {
	id, keep := want.Identity, want.Capabilities
	for _, t := range threads {
		var bad []string
		for i := range 4 {
			if t.UIDs[i] != id.UID {
				bad = append(bad, fmt.Sprintf("Uid %v", t.UIDs))
				break
			}
		}
		for i := range 4 {
			if t.GIDs[i] != id.GID {
				bad = append(bad, fmt.Sprintf("Gid %v", t.GIDs))
				break
			}
		}
		for _, g := range t.Groups {
			if !slices.Contains(want.Groups, g) {
				bad = append(bad, fmt.Sprintf("Groups %v", t.Groups))
				break
			}
		}
		for _, c := range []struct {
			name  string
			set   uint64
			allow uint64
		}{{"CapEff", t.CapEff, keep}, {"CapPrm", t.CapPrm, keep}, {"CapBnd", t.CapBnd, want.Bounding}, {"CapInh", t.CapInh, 0}, {"CapAmb", t.CapAmb, 0}} {
			if c.set&^c.allow != 0 {
				bad = append(bad, fmt.Sprintf("%s %016x (allowed %016x)", c.name, c.set, c.allow))
			}
		}
		if !t.NoNewPrivs {
			bad = append(bad, "NoNewPrivs 0")
		}
		if len(bad) > 0 {
			return fmt.Errorf("thread %d: %s", t.TID, strings.Join(bad, ", "))
		}
	}
	return nil
}
