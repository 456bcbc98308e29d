// Package labtest holds what tests that build a network-namespace lab
// share: the check that skips them where a lab cannot run, unique names and
// a logger into the test log.
package labtest

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Require skips t unless this machine can build a lab: not -short, root,
// the tools on $PATH, a cgroup v2 mount (cgroup2 is lab.Cgroup2Mount;
// passed in so that the lab package's own tests can use this one) and a
// working `ip netns add`. what names the test in the skip reasons.
func Require(t testing.TB, what string, cgroup2 func() (string, error), tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("%s skipped in -short mode", what)
	}
	if os.Geteuid() != 0 {
		t.Skipf("%s needs root (network namespaces, cgroups, nft, tc)", what)
	}
	var missing []string
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Skipf("%s needs %s on $PATH", what, strings.Join(missing, ", "))
	}
	if cgroup2 != nil {
		if _, err := cgroup2(); err != nil {
			t.Skipf("%s needs cgroup v2: %v", what, err)
		}
	}
	probe := "flprobe-" + RandomHex(t, 4)
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("%s: `ip netns add` does not work here: %v: %s", what, err, out)
	}
	exec.Command("ip", "netns", "del", probe).Run()
}

// RandomHex is n random bytes in hex, for lab and namespace names that
// do not collide with a concurrent test.
func RandomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Logger writes the lab's log lines at level and above to the test log.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: level}))
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
