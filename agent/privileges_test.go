package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// readStatus parses a status file of testdata/.
func readStatus(t *testing.T, name string) ThreadStatus {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseThreadStatus(string(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	st.TID = 1234
	return st
}

// TestVerifyRefusesThreadLeftPrivileged checks the check that follows the
// drop: a thread still root, with a capability beyond the collector's,
// in a supplementary group or without no_new_privs fails it (the agent then
// refuses to run), and the real status of a dropped agent thread passes.
func TestVerifyRefusesThreadLeftPrivileged(t *testing.T) {
	nobody := Identity{Name: "nobody", UID: 65534, GID: 65534}
	ebpf := Dropped{Identity: nobody, Capabilities: 0, Bounding: MaxCapabilities(ModeEBPF)}
	dropped := readStatus(t, "status-dropped.txt")
	for _, tc := range []struct {
		name   string
		status func() ThreadStatus
		want   Dropped
		err    string // "" passes
	}{
		{"dropped agent thread", func() ThreadStatus { return dropped }, ebpf, ""},
		{"root thread", func() ThreadStatus { return readStatus(t, "status-root.txt") }, ebpf, "Uid [0 0 0 0]"},
		{"saved uid still root", func() ThreadStatus { s := dropped; s.UIDs[2] = 0; return s }, ebpf, "Uid [65534 65534 0 65534]"},
		{"gid still root", func() ThreadStatus { s := dropped; s.GIDs = [4]int{0, 0, 0, 0}; return s }, ebpf, "Gid"},
		{"supplementary group", func() ThreadStatus { s := dropped; s.Groups = []int{42}; return s }, ebpf, "Groups [42]"},
		{"CAP_DAC_OVERRIDE effective", func() ThreadStatus { s := dropped; s.CapEff = 1 << unix.CAP_DAC_OVERRIDE; return s }, ebpf, "CapEff"},
		{"CAP_SYS_ADMIN permitted", func() ThreadStatus { s := dropped; s.CapPrm = 1 << unix.CAP_SYS_ADMIN; return s }, ebpf, "CapPrm"},
		{"CAP_BPF kept where the probe needed it", func() ThreadStatus {
			s := dropped
			s.CapEff, s.CapPrm = 1<<unix.CAP_BPF, 1<<unix.CAP_BPF
			return s
		}, Dropped{Identity: nobody, Capabilities: 1 << unix.CAP_BPF, Bounding: 1 << unix.CAP_BPF}, ""},
		{"CAP_BPF left in sock_diag mode", func() ThreadStatus { return dropped }, Dropped{Identity: nobody}, "CapBnd"},
		{"inheritable", func() ThreadStatus { s := dropped; s.CapInh = 1 << unix.CAP_BPF; return s }, ebpf, "CapInh"},
		{"ambient", func() ThreadStatus { s := dropped; s.CapAmb = 1 << unix.CAP_BPF; return s }, ebpf, "CapAmb"},
		{"no no_new_privs", func() ThreadStatus { s := dropped; s.NoNewPrivs = false; return s }, ebpf, "NoNewPrivs 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A clean first thread: the bad one is found wherever it is.
			err := verifyThreads([]ThreadStatus{dropped, tc.status()}, tc.want)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && err == nil:
				t.Fatalf("passed, want a refusal naming %q", tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("error %q does not name %q", err, tc.err)
			}
		})
	}
}

func TestParseThreadStatusErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, err string }{
		{"empty", "", "no Uid field"},
		{"no Uid", "Gid:\t0 0 0 0\nGroups:\nCapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\nCapAmb:\t0\nNoNewPrivs:\t0\n", "no Uid field"},
		{"short Uid", "Uid:\t0\t0\n", "want 4 ids"},
		{"bad capability", "CapEff:\tzz\n", "CapEff"},
		{"bad group", "Groups:\tx\n", "Groups"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseThreadStatus(tc.text); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one naming %q", err, tc.err)
			}
		})
	}
}

// TestSpoolDirHandOverRefusesForeignFiles checks that --spool-dir pointing
// at a directory the agent does not own (/etc, /var/lib) is refused rather
// than chowned to the agent's user.
func TestSpoolDirHandOverRefusesForeignFiles(t *testing.T) {
	id := Identity{Name: "me", UID: os.Getuid(), GID: os.Getgid()} // chown to oneself works unprivileged
	for _, tc := range []struct {
		name  string
		files []string
		err   string
	}{
		{"publisher's own files", []string{"sequence", "spool/000001.seg", "split"}, ""},
		{"a directory of the system", []string{"sequence", "shadow"}, `holds "shadow"`},
		{"a subdirectory of someone else", []string{"ssh/sshd_config"}, `holds "ssh"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				p := filepath.Join(dir, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := chownSpool(dir, id)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one naming %s", err, tc.err)
			}
		})
	}
}

func TestResolveUser(t *testing.T) {
	if _, err := ResolveUser("flowlens-no-such-user"); err == nil || !strings.Contains(err.Error(), `--user "flowlens-no-such-user"`) {
		t.Errorf("unknown user: error %v, want one naming --user", err)
	}
	if _, err := ResolveUser("root"); err == nil || !strings.Contains(err.Error(), "no drop") {
		t.Errorf("root: error %v, want a refusal", err)
	}
	id, err := ResolveUser("")
	if err != nil {
		t.Fatal(err)
	}
	if id.UID == 0 || id.GID == 0 || (id.Name != DefaultUser && id.Name != "nobody") {
		t.Errorf("default user %+v, want %s or nobody", id, DefaultUser)
	}
}

// cgoRuntime says whether this test binary has a cgo runtime, whose
// threads AllThreadsSyscall cannot reach.
func cgoRuntime() bool {
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_GET_NO_NEW_PRIVS, 0, 0)
	return e == syscall.ENOTSUP
}

// TestCgoBuildRefusesToStart checks that a cgo build, which cannot drop
// every thread's privileges, refuses to start instead of running with
// them all (it used to log a warning and keep every capability). It runs
// where the test binary has cgo (CI's default); elsewhere a drop would
// drop the test process's own privileges.
func TestCgoBuildRefusesToStart(t *testing.T) {
	if !cgoRuntime() {
		t.Skip("this test binary has no cgo runtime (CGO_ENABLED=0); cmd/flowlens-agent's tests cover the drop itself")
	}
	f := &fakeCollector{sent: make(chan struct{})}
	_, err := NewWithCollector(Config{Server: "http://127.0.0.1:1", HostID: "h", SpoolDir: t.TempDir(), DropPrivileges: true},
		f, nil, prometheus.NewRegistry())
	if !errors.Is(err, ErrCgoBuild) {
		t.Fatalf("NewWithCollector in a cgo build: %v, want ErrCgoBuild", err)
	}
	if os.Getuid() == 0 {
		st, err := ReadThreads(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if st[0].UIDs[0] != 0 {
			t.Fatalf("the refusal changed the test process's uid: %v", st[0].UIDs)
		}
	}
}

// FuzzParseThreadStatus checks that no status file makes the parser panic,
// and that what it accepts has every privilege field.
func FuzzParseThreadStatus(f *testing.F) {
	for _, name := range []string{"status-root.txt", "status-dropped.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("Uid:\t0\t0\t0\t0\nGid:\t1\t1\t1\t1\nGroups:\nCapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\nCapAmb:\t0\nNoNewPrivs:\t1\n")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := parseThreadStatus(s)
		if err != nil {
			return
		}
		for _, key := range statusKeys {
			if !strings.Contains(s, key) {
				t.Fatalf("accepted a status without %s: %+v", key, st)
			}
		}
	})
}
