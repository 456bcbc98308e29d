package sockdiag

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// NetnsDir is where `ip netns add` bind-mounts named network namespaces.
const NetnsDir = "/run/netns"

// openNetns opens the named network namespace (a name under NetnsDir, or
// an absolute path such as /proc/PID/ns/net).
func openNetns(name string) (*os.File, error) {
	path := name
	if !strings.HasPrefix(name, "/") {
		if strings.Contains(name, "/") || name == "." || name == ".." {
			return nil, fmt.Errorf("netns name %q: want a name under %s or an absolute path", name, NetnsDir)
		}
		path = filepath.Join(NetnsDir, name)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", name, err)
	}
	return f, nil
}

// InNetns runs fn on an OS thread that has entered the named network
// namespace, so that sockets fn creates live there (a socket keeps its
// namespace for life, whatever thread uses it later). The thread returns to
// its original namespace afterwards; if it cannot, it is not unlocked, so
// the Go runtime retires it instead of reusing a thread in the wrong
// namespace. fn must not start goroutines that create sockets.
func InNetns(name string, fn func() error) error {
	target, err := openNetns(name)
	if err != nil {
		return err
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %s: %w", name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- fmt.Errorf("return from network namespace %s: %w", name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
