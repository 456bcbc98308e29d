package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/lab/labtest"
)

// requireLab skips unless this machine can build a lab with traffic.
func requireLab(t *testing.T) {
	t.Helper()
	labtest.Require(t, "lab integration test", Cgroup2Mount, "nft", "tc", "iperf3", "curl", "nginx")
}

// upTestLab brings up a lab under a random name and removes it when the
// test ends, passed or failed.
func upTestLab(t *testing.T, ctx context.Context) *Lab {
	t.Helper()
	cfg := Config{
		Name: "t" + labtest.RandomHex(t, 4), StateRoot: t.TempDir(),
		Logger: labtest.Logger(t, slog.LevelInfo),
	}
	start := time.Now()
	l, err := Up(ctx, cfg)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Logf("lab %s up in %s", cfg.Name, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("cleanup: lab down: %v", err)
		}
	})
	return l
}

// iperfResult is the part of `iperf3 -J` the test reads.
type iperfResult struct {
	End struct {
		SumSent struct {
			Bytes         int64   `json:"bytes"`
			Retransmits   int     `json:"retransmits"`
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_sent"`
	} `json:"end"`
	Error string `json:"error"`
}

// iperf runs an iperf3 client in from for secs seconds to the iperf3 server
// of to.
func iperf(t *testing.T, ctx context.Context, l *Lab, from, to string, secs int) iperfResult {
	t.Helper()
	out, err := l.Exec(ctx, from, "iperf3", "-J", "-c", l.HostIP(to).String(), "-t", strconv.Itoa(secs))
	var r iperfResult
	if jerr := json.Unmarshal(out, &r); jerr != nil || r.Error != "" || err != nil {
		t.Fatalf("iperf3 %s -> %s: %v / %v / %s", from, to, err, jerr, r.Error)
	}
	return r
}

// connectRTT is the median TCP handshake time (curl's time_connect) of n
// connections from one host to another's nginx: the lab's ping, since
// the lab may not have ping.
func connectRTT(t *testing.T, ctx context.Context, l *Lab, from, to string, n int) time.Duration {
	t.Helper()
	var ds []time.Duration
	url := fmt.Sprintf("http://%s/%s", l.HostIP(to), TinyFile)
	for range n {
		out, err := l.Exec(ctx, from, "curl", "-s", "-o", "/dev/null", "--max-time", "5", "-w", "%{time_connect}", url)
		if err != nil {
			t.Fatalf("curl %s -> %s: %v", from, to, err)
		}
		sec, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil {
			t.Fatalf("curl time_connect %q: %v", out, err)
		}
		ds = append(ds, time.Duration(sec*float64(time.Second)))
		time.Sleep(100 * time.Millisecond)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// TestLab builds a lab and checks what the agent tests rely on:
// reachability across zones, host cgroups, link loss that shows up as
// iperf3 retransmissions only across the link, a shaper that raises RTT
// under load, traffic processes, and a down that leaves nothing behind.
func TestLab(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	l := upTestLab(t, ctx)
	name := l.Name()

	if _, err := Up(ctx, Config{Name: name, StateRoot: l.cfg.StateRoot}); !errors.Is(err, ErrAlreadyUp) {
		t.Fatalf("second up: %v, want ErrAlreadyUp", err)
	}

	// Namespace inodes, to find leftover processes after down.
	var inodes []uint64
	for _, ns := range l.Spec().Namespaces() {
		ino, err := netnsInode(filepath.Join("/run/netns", ns))
		if err != nil {
			t.Fatal(err)
		}
		inodes = append(inodes, ino)
	}

	if err := l.StartServers(ctx); err != nil {
		t.Fatalf("start servers: %v", err)
	}
	for _, h := range l.Hosts() {
		if h.Short == "a1-h1" {
			continue
		}
		url := fmt.Sprintf("http://%s/%s", h.IP(), TinyFile)
		if out, err := l.Exec(ctx, "a1-h1", "curl", "-sf", "--max-time", "3", url); err != nil || string(out) != "ok\n" {
			t.Errorf("a1-h1 -> %s (%s): %q, %v", h.Short, h.IP(), out, err)
		}
	}
	checkCgroups(t, l)

	t.Run("link loss", func(t *testing.T) {
		if err := l.Impair(ctx, Impairment{Link: "zone-b:zone-a", Loss: 20}); err != nil {
			t.Fatal(err)
		}
		cross := iperf(t, ctx, l, "a1-h1", "b1-h1", 2)
		intra := iperf(t, ctx, l, "a1-h2", "a2-h1", 2)
		cs, is := cross.End.SumSent, intra.End.SumSent
		crossSegs, intraSegs := max(cs.Bytes/1448, 1), max(is.Bytes/1448, 1)
		t.Logf("20%% loss on the link: cross-zone %d retransmits / ~%d segments (%.1f%%) at %.1f Mbit/s; intra-zone %d / ~%d at %.0f Mbit/s; nft drops %v",
			cs.Retransmits, crossSegs, 100*float64(cs.Retransmits)/float64(crossSegs), cs.BitsPerSecond/1e6,
			is.Retransmits, intraSegs, is.BitsPerSecond/1e6, l.Status(ctx).Drops)
		if float64(cs.Retransmits) < 0.05*float64(crossSegs) {
			t.Errorf("cross-zone: %d retransmits for ~%d segments; want at least 5%%", cs.Retransmits, crossSegs)
		}
		if limit := max(5, intraSegs/1000); int64(is.Retransmits) > limit {
			t.Errorf("intra-zone: %d retransmits for ~%d segments; want at most %d", is.Retransmits, intraSegs, limit)
		}
		if err := l.Heal(ctx, ""); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("rate", func(t *testing.T) {
		idle := connectRTT(t, ctx, l, "a1-h1", "b1-h1", 5)
		if err := l.Impair(ctx, Impairment{Link: "zone-a:zone-b", Rate: "10mbit"}); err != nil {
			t.Fatal(err)
		}
		load, err := l.Start("a1-h2", "iperf3", "-J", "-c", l.HostIP("b1-h2").String(), "-t", "5")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		loaded := connectRTT(t, ctx, l, "a1-h1", "b1-h1", 5)
		if err := load.Wait(); err != nil {
			t.Fatalf("iperf3 load: %v", err)
		}
		var r iperfResult
		out, _ := load.Output()
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("iperf3 load output: %v: %s", err, out)
		}
		t.Logf("10mbit HTB: handshake RTT idle %s, under iperf3 load %s; iperf3 %.2f Mbit/s, %d retransmits",
			idle, loaded, r.End.SumSent.BitsPerSecond/1e6, r.End.SumSent.Retransmits)
		// A 10 Mbit/s queue of even 3 packets adds 3.6 ms; idle is well under
		// 1 ms. The bounds leave room for a busy shared machine.
		if loaded < 2*time.Millisecond || loaded < 2*idle {
			t.Errorf("RTT under load %s vs idle %s: want at least 2ms and twice idle", loaded, idle)
		}
		if bps := r.End.SumSent.BitsPerSecond; bps > 12e6 || bps < 5e6 {
			t.Errorf("iperf3 through 10mbit: %.2f Mbit/s", bps/1e6)
		}
		if err := l.Heal(ctx, ""); err != nil {
			t.Fatal(err)
		}
		out, err = l.ExecRouter(ctx, "zone-a", "tc", "qdisc", "show", "dev", "to-zone-b")
		if err != nil || strings.Contains(string(out), "htb") {
			t.Errorf("after heal: %s %v", out, err)
		}
	})

	t.Run("traffic", func(t *testing.T) {
		err := l.StartTraffic(ctx, TrafficConfig{BulkEvery: time.Second, IperfEvery: time.Second, IperfTime: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		var running []string
		for _, p := range l.Processes() {
			if p.Alive {
				running = append(running, p.Role)
			}
		}
		for _, role := range []string{RoleNginx, RoleIperfServer, "traffic-bulk", "traffic-iperf", "traffic-short"} {
			if n := countOf(running, role); n != 8 {
				t.Errorf("%d %s processes running, want 8", n, role)
			}
		}
		counts, err := l.TrafficCounts()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("traffic counts after 2 s: %v", counts)
		if len(counts) != 3 || counts[2].Scenario != "short" || counts[2].Runs == 0 || counts[2].Failed != 0 {
			t.Errorf("traffic counts %v: want the three scenarios, short requests made and none failed", counts)
		}
	})

	procs := l.Processes()
	cgroups := l.snapshot().Cgroups
	start := time.Now()
	if err := l.Down(context.Background()); err != nil {
		t.Fatalf("down: %v", err)
	}
	t.Logf("lab down in %s (%d recorded processes)", time.Since(start).Round(time.Millisecond), len(procs))
	assertGone(t, name, cgroups, inodes, procs, l.cfg.StateRoot)
}

// checkCgroups proves that lab processes are born in their host's cgroup.
func checkCgroups(t *testing.T, l *Lab) {
	t.Helper()
	for _, p := range l.Processes() {
		h, _ := l.Host(p.Host)
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.PID))
		if err != nil {
			t.Errorf("%s %s: %v", p.Host, p.Role, err)
			continue
		}
		mount := l.snapshot().Cgroup2Mount
		want := "0::" + strings.TrimPrefix(h.Cgroup, mount) + "\n"
		if !strings.Contains(string(b), want) {
			t.Errorf("%s %s (pid %d) cgroup:\n%s\nwant line %q", p.Host, p.Role, p.PID, b, want)
		}
	}
}

func countOf(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// assertGone checks that nothing of the lab is left: namespaces, cgroups,
// processes (recorded ones and anything in its namespaces) and state.
func assertGone(t *testing.T, name string, cgroups []string, inodes []uint64, procs []ProcStatus, stateRoot string) {
	t.Helper()
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name+"-") {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
	for _, cg := range cgroups {
		if _, err := os.Stat(cg); err == nil {
			t.Errorf("cgroup %s left behind", cg)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, ino := range inodes {
		for {
			left := PIDsInNetns(ino)
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("processes %v still in a lab namespace", left)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, p := range procs {
		if p.alive() {
			t.Errorf("process %d (%s %s) still running", p.PID, p.Host, p.Role)
		}
	}
	for _, f := range []string{stateFile(stateRoot, name), filepath.Join(stateRoot, name)} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s left behind", f)
		}
	}
}

// TestLabUpFailsCleanly makes up fail at its last step (a host cgroup that
// already exists) and checks that everything created before is removed,
// and the cgroup the lab did not create is left alone.
func TestLabUpFailsCleanly(t *testing.T) {
	requireLab(t)
	mount, _ := Cgroup2Mount()
	name := "t" + labtest.RandomHex(t, 4)
	root := filepath.Join(mount, CgroupDirName)
	os.MkdirAll(root, 0o755)
	blocker := filepath.Join(root, name+"-b2-h2")
	if err := os.Mkdir(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(blocker); os.Remove(root) })
	stateRoot := t.TempDir()
	_, err := Up(context.Background(), Config{Name: name, StateRoot: stateRoot})
	if !errors.Is(err, ErrAlreadyUp) || !strings.Contains(err.Error(), blocker) {
		t.Fatalf("up: %v, want ErrAlreadyUp naming %s", err, blocker)
	}
	spec := NewSpec(name, root)
	var cgs []string
	for _, h := range spec.Hosts {
		if h.Cgroup != blocker {
			cgs = append(cgs, h.Cgroup)
		}
	}
	assertGone(t, name, cgs, nil, nil, stateRoot)
	if _, err := os.Stat(blocker); err != nil {
		t.Errorf("the cgroup the lab did not create was removed: %v", err)
	}
	if left := existingNamespaces(spec.Namespaces()); len(left) > 0 || slices.Contains(left, name+"-ra") {
		t.Errorf("namespaces left: %v", left)
	}
}
