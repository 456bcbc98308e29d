package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// keptCapabilities are what each mode still needs once its collector is
// set up:
//
//   - sockdiag: nothing. Entering the namespace (CAP_SYS_ADMIN), joining
//     the destroy multicast groups and forcing the receive buffer
//     (CAP_NET_ADMIN) happen in the constructor; the kernel checks group
//     membership at bind time only, and dumps need no privilege.
//   - ebpf: CAP_BPF and CAP_PERFMON, for the collector's map and ring
//     buffer work while it runs, and CAP_NET_ADMIN for its sock_diag seed
//     and for detaching the cgroup program cleanly at shutdown.
//
// Everything else (CAP_SYS_ADMIN, CAP_DAC_OVERRIDE, CAP_SYS_PTRACE, ...) is
// dropped from the effective, permitted, inheritable, ambient and bounding
// sets, so neither the agent nor anything it could be tricked into running
// gets it back.
func keptCapabilities(mode string) []uintptr {
	if mode == ModeEBPF {
		return []uintptr{unix.CAP_BPF, unix.CAP_PERFMON, unix.CAP_NET_ADMIN}
	}
	return nil
}

// dropCapabilities reduces every thread of the process to the mode's
// capabilities. Capabilities are per thread in Linux, so this uses
// syscall.AllThreadsSyscall, which the Go runtime only supports without
// cgo: the agent is built with CGO_ENABLED=0, and a cgo build logs that it
// keeps its capabilities.
func dropCapabilities(mode string, log *slog.Logger) error {
	keep := keptCapabilities(mode)
	var mask [2]uint32
	for _, c := range keep {
		mask[c/32] |= 1 << (c % 32)
	}
	last := lastCap()
	// The bounding set needs CAP_SETPCAP, so it goes first.
	for c := uintptr(0); c <= last; c++ {
		if mask[c/32]&(1<<(c%32)) != 0 {
			continue
		}
		if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0); e != 0 {
			if e == syscall.ENOTSUP {
				return errors.New("this binary was built with cgo, which cannot change every thread's capabilities; build with CGO_ENABLED=0")
			}
			if e != unix.EINVAL && e != unix.EPERM { // unknown cap, or not ours to drop
				return fmt.Errorf("drop capability %d from the bounding set: %w", c, e)
			}
		}
	}
	if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 && e != unix.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", e)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: mask[0], Permitted: mask[0]},
		{Effective: mask[1], Permitted: mask[1]},
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	names := map[uintptr]string{unix.CAP_BPF: "CAP_BPF", unix.CAP_PERFMON: "CAP_PERFMON", unix.CAP_NET_ADMIN: "CAP_NET_ADMIN"}
	kept := make([]string, len(keep))
	for i, c := range keep {
		kept[i] = names[c]
	}
	log.Info("dropped capabilities", "mode", mode, "kept", strings.Join(kept, ","))
	return nil
}

// lastCap is the highest capability the kernel knows.
func lastCap() uintptr {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 40
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 {
		return 40
	}
	return uintptr(n)
}
