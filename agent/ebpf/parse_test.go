package ebpf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseCgroup2Root(t *testing.T) {
	for _, tc := range []struct {
		name, mountinfo, want string
		err                   error
	}{
		{"debian", "24 30 0:22 / /sys rw,nosuid - sysfs sysfs rw\n35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate\n", "/sys/fs/cgroup", nil},
		{"escaped", "35 24 0:30 / /mnt/my\\040cg rw shared:9 - cgroup2 none rw\n", "/mnt/my cg", nil},
		{"v1 only", "35 24 0:30 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", "", ErrNoCgroup2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCgroup2Root(bufio.NewScanner(strings.NewReader(tc.mountinfo)))
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("got %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestKernelAddr(t *testing.T) {
	word := func(b ...byte) uint32 { return binary.NativeEndian.Uint32(b) }
	v4 := kernelAddr(afInet, [4]uint32{word(10, 1, 2, 3)})
	if v4 != netip.MustParseAddr("10.1.2.3") {
		t.Errorf("v4: %v", v4)
	}
	v6 := kernelAddr(afInet6, [4]uint32{word(0x20, 0x01, 0x0d, 0xb8), 0, 0, word(0, 0, 0, 1)})
	if v6 != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("v6: %v", v6)
	}
}

func TestRTTBudgetPerWindow(t *testing.T) {
	for _, tc := range []struct {
		perSecond int
		want      uint64
	}{
		{1, 1},     // never below one per window (about 60 per second)
		{10, 1},    // 0.17
		{1000, 16}, // the default: 16.8
		{100000, 1677},
	} {
		if got := rttBudgetPerWindow(tc.perSecond); got != tc.want {
			t.Errorf("rttBudgetPerWindow(%d) = %d, want %d", tc.perSecond, got, tc.want)
		}
	}
}

func TestMemTotal(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       int64
		err        string
	}{
		{"linux", "MemTotal:       24550580 kB\nMemFree:         1000 kB\n", 24550580 << 10, ""},
		{"not first", "Foo: 1 kB\nMemTotal: 1024 kB\n", 1 << 20, ""},
		{"missing", "MemFree: 1 kB\n", 0, "no MemTotal"},
		{"malformed", "MemTotal: lots kB\n", 0, "MemTotal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "meminfo")
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := memTotal(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	if n := MaxSocketsForHost(); n < minHostSockets || n > maxHostSockets {
		t.Errorf("MaxSocketsForHost() = %d, out of [%d, %d]", n, minHostSockets, maxHostSockets)
	}
}
