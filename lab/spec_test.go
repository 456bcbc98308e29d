package lab

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/topology"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"fl", true}, {"t1a2b3c4", true}, {"a", true}, {"abcdefghijkl", true},
		{"", false}, {"1fl", false}, {"Fl", false}, {"f-l", false}, {"abcdefghijklm", false}, {"f l", false},
	} {
		if err := ValidateName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestSpecMatchesExampleTopology proves that flows between lab hosts are
// classified by the example topology: each host lands in the subnet and
// zone the lab says, and pairs are intra-zone or inter-zone as expected.
func TestSpecMatchesExampleTopology(t *testing.T) {
	topo, err := topology.Parse(examples.Topology, examples.TopologyName)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSpec("fl", "/sys/fs/cgroup/flowlens-lab")
	if len(s.Hosts) != 8 || len(s.Routers) != 2 {
		t.Fatalf("got %d hosts, %d routers; want 8, 2", len(s.Hosts), len(s.Routers))
	}
	for _, h := range s.Hosts {
		loc := topo.Lookup(h.IP())
		if loc.Kind != topology.KindSubnet || loc.Subnet != h.Subnet || loc.Zone != h.Zone {
			t.Errorf("%s %s: topology says %+v, lab says subnet %s zone %s", h.Name, h.IP(), loc, h.Subnet, h.Zone)
		}
		if !h.Addr.Contains(h.Gateway) || h.Gateway == h.IP() {
			t.Errorf("%s: gateway %s not a different address of %s", h.Name, h.Gateway, h.Addr)
		}
	}
	a1, _ := s.Host("a1-h1")
	a2, _ := s.Host("fl-a2-h2")
	b1, _ := s.Host("b1-h1")
	if got := topology.Classify(topo.Lookup(a1.IP()), topo.Lookup(a2.IP())); got != topology.CategoryIntraZone {
		t.Errorf("a1-h1 -> a2-h2: %v, want intra-zone", got)
	}
	if got := topology.Classify(topo.Lookup(a1.IP()), topo.Lookup(b1.IP())); got != topology.CategoryInterZone {
		t.Errorf("a1-h1 -> b1-h1: %v, want inter-zone", got)
	}
}

// TestSpecNames checks the names the kernel and the CLI depend on:
// interface names fit IFNAMSIZ, addresses and names are unique, and every
// namespace carries the lab prefix.
func TestSpecNames(t *testing.T) {
	s := NewSpec("abcdefghijkl", "/cg")
	seen := map[string]bool{}
	uniq := func(kind, v string) {
		if seen[kind+v] {
			t.Errorf("duplicate %s %s", kind, v)
		}
		seen[kind+v] = true
	}
	for _, ns := range s.Namespaces() {
		uniq("netns", ns)
		if !strings.HasPrefix(ns, "abcdefghijkl-") {
			t.Errorf("namespace %s lacks the lab prefix", ns)
		}
	}
	ifname := func(n string) {
		if len(n) > 15 {
			t.Errorf("interface name %q longer than 15 bytes", n)
		}
	}
	for _, r := range s.Routers {
		ifname(r.LinkDev)
		for _, b := range r.Bridges {
			ifname(b.Name)
			uniq("addr", b.Addr.Addr().String())
		}
		uniq("addr", r.LinkIP.Addr().String())
	}
	for _, h := range s.Hosts {
		ifname(h.Port)
		uniq("addr", h.IP().String())
		if h.Cgroup != "/cg/"+h.Name {
			t.Errorf("%s cgroup %s", h.Name, h.Cgroup)
		}
	}
	if s.Link != "zone-a:zone-b" {
		t.Errorf("link %q", s.Link)
	}
	if _, ok := s.Host("zz"); ok {
		t.Error("found unknown host")
	}
	ra, _ := s.Router("zone-a")
	if ra.Peer != netip.MustParseAddr("10.255.0.2") || len(ra.Routes) != 2 {
		t.Errorf("router a: peer %s routes %v", ra.Peer, ra.Routes)
	}
}

func TestParseCgroup2Mount(t *testing.T) {
	hybrid := `25 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
`
	got, err := parseCgroup2Mount(strings.NewReader(hybrid))
	if err != nil || got != "/sys/fs/cgroup/unified" {
		t.Errorf("hybrid: %q, %v", got, err)
	}
	if _, err := parseCgroup2Mount(strings.NewReader("27 25 0:24 / /x rw - cgroup cgroup rw\n")); err != ErrNoCgroup2 {
		t.Errorf("v1 only: %v, want ErrNoCgroup2", err)
	}
}

func TestRPSMask(t *testing.T) {
	for n, want := range map[int]string{0: "1", 1: "1", 2: "3", 8: "ff", 32: "ffffffff", 36: "f,ffffffff", 64: "ffffffff,ffffffff", 200: "ffffffff,ffffffff"} {
		if got := rpsMask(n); got != want {
			t.Errorf("rpsMask(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	got := redact([]string{"agent", "--token", "s3cret", "--server", "u"})
	if strings.Contains(strings.Join(got, " "), "s3cret") || got[2] != "REDACTED" || got[4] != "u" {
		t.Errorf("redact: %v", got)
	}
}

func TestAgentArgs(t *testing.T) {
	s := NewSpec("fl", "/cg")
	h := s.Hosts[2]
	c := AgentConfig{Bin: "/bin/agent", Server: "http://x", Token: "t", Interval: 5e9}
	for mode, want := range map[string][]string{
		"sockdiag": {"--netns fl-a2-h1", "--metrics-listen= "},
		"ebpf":     {"--cgroup /cg/fl-a2-h1", "--spool-dir /st/a2-h1/agent"},
	} {
		c.Mode = mode
		c.MetricsBase = 0
		got := strings.Join(agentArgs(c, h, 2, "/st"), " ") + " "
		if strings.Contains(got, " t ") {
			t.Errorf("%s: the token is on the command line: %q", mode, got)
		}
		for _, w := range append(want, "--host-id fl-a2-h1", "--interval 5s", "--mode "+mode, "--token-file /st/a2-h1/token") {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", mode, got, w)
			}
		}
	}
	c.MetricsBase = 9110
	if got := strings.Join(agentArgs(c, h, 2, "/st"), " "); !strings.Contains(got, "--metrics-listen=127.0.0.1:9112") {
		t.Errorf("metrics: %q", got)
	}
}

func TestResolveAgentBin(t *testing.T) {
	if _, err := ResolveAgentBin("/nonexistent/flowlens-agent"); !errors.Is(err, ErrAgentMissing) {
		t.Errorf("missing binary: %v, want ErrAgentMissing", err)
	}
	if _, err := ResolveAgentBin(t.TempDir()); !errors.Is(err, ErrAgentMissing) {
		t.Errorf("directory: %v, want ErrAgentMissing", err)
	}
	if got, err := ResolveAgentBin("/bin/sh"); err != nil || got != "/bin/sh" {
		t.Errorf("/bin/sh: %q, %v", got, err)
	}
}
