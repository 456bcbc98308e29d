package lab

import (
	"strings"
	"testing"
	"time"
)

func TestParseLoss(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  string
	}{
		{"5%", 5, ""}, {"5", 5, ""}, {" 0.5% ", 0.5, ""}, {"100%", 100, ""}, {"0.25", 0.25, ""},
		{"0", 0, "more than 0"}, {"-1%", 0, "more than 0"}, {"101%", 0, "at most 100"},
		{"0.125%", 0, "two decimals"}, {"5x", 0, "percentage"}, {"", 0, "percentage"}, {"%", 0, "percentage"},
	} {
		got, err := ParseLoss(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseLoss(%q) = %v, %v; want error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseLoss(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		bits uint64
		ok   bool
	}{
		{"10mbit", "10mbit", 10e6, true}, {"10Mbit", "10mbit", 10e6, true}, {"500kbit", "500kbit", 500e3, true},
		{"1gbit", "1gbit", 1e9, true}, {"1.5mbit", "1.5mbit", 1.5e6, true}, {"8000bit", "8000bit", 8000, true},
		{"10mbps", "", 0, false}, {"10", "", 0, false}, {"mbit", "", 0, false}, {"1bit", "", 0, false},
		{"200gbit", "", 0, false}, {"-1mbit", "", 0, false},
	} {
		got, bits, err := ParseRate(tc.in)
		if (err == nil) != tc.ok || got != tc.want || bits != tc.bits {
			t.Errorf("ParseRate(%q) = %q, %d, %v; want %q, %d, ok=%v", tc.in, got, bits, err, tc.want, tc.bits, tc.ok)
		}
	}
}

func TestNormalize(t *testing.T) {
	s := NewSpec("fl", "/cg")
	for _, tc := range []struct {
		in   Impairment
		want string // Target(), or error text
		ok   bool
	}{
		{Impairment{Link: "zone-a:zone-b", Loss: 5}, "link zone-a:zone-b", true},
		{Impairment{Link: "zone-b:zone-a", Loss: 5}, "link zone-a:zone-b", true},
		{Impairment{Host: "a1-h1", Loss: 5}, "host fl-a1-h1", true},
		{Impairment{Host: "fl-b2-h2", Rate: "10mbit"}, "host fl-b2-h2", true},
		{Impairment{Link: "zone-a:zone-c", Loss: 5}, "unknown link", false},
		{Impairment{Link: "zone-a", Loss: 5}, "unknown link", false},
		{Impairment{Host: "c1-h1", Loss: 5}, "unknown lab host", false},
		{Impairment{Link: "zone-a:zone-b", Host: "a1-h1", Loss: 5}, "exactly one", false},
		{Impairment{Loss: 5}, "exactly one", false},
		{Impairment{Link: "zone-a:zone-b"}, "--loss and/or --rate", false},
		{Impairment{Link: "zone-a:zone-b", Rate: "10mbps"}, "bits per second", false},
	} {
		got, err := tc.in.normalize(s)
		if tc.ok {
			if err != nil || got.Target() != tc.want {
				t.Errorf("normalize(%+v) = %s, %v; want %s", tc.in, got.Target(), err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("normalize(%+v): error %v, want %q", tc.in, err, tc.want)
		}
	}
	got, _ := Impairment{Link: "zone-a:zone-b", Rate: "10Mbit"}.normalize(s)
	if got.Rate != "10mbit" || got.RateBits != 10e6 || got.Queue != DefaultQueue {
		t.Errorf("rate defaults: %+v", got)
	}
}

func TestMerge(t *testing.T) {
	link := func(loss float64, rate string) Impairment {
		i := Impairment{Link: "zone-a:zone-b", Loss: loss, Rate: rate}
		if rate != "" {
			i.Queue = DefaultQueue
		}
		return i
	}
	l := merge(nil, link(5, ""))
	l = merge(l, link(0, "10mbit"))
	l = merge(l, Impairment{Host: "fl-a1-h1", Loss: 1})
	l = merge(l, link(2, ""))
	if len(l) != 2 || l[0].Loss != 2 || l[0].Rate != "10mbit" || l[1].Host != "fl-a1-h1" {
		t.Errorf("merge: %+v", l)
	}
}

func TestNftScripts(t *testing.T) {
	s := NewSpec("fl", "/cg")
	got := nftScripts(s, []Impairment{
		{Link: "zone-a:zone-b", Loss: 5},
		{Host: "fl-a1-h1", Loss: 0.5},
		{Host: "fl-a1-h2", Rate: "10mbit"}, // no loss: no rule
	})
	if len(got) != 3 {
		t.Fatalf("scripts for %d namespaces, want 3 (fl-ra, fl-rb, fl-a1-h1): %v", len(got), got)
	}
	ra := got["fl-ra"]
	for _, want := range []string{
		"table netdev flowlens_lab\ndelete table netdev flowlens_lab\ntable netdev flowlens_lab {",
		`type filter hook ingress device "to-zone-b" priority -500; policy accept;`,
		`numgen random mod 100 < 5 counter drop comment "link zone-a:zone-b loss 5%"`,
		`chain in_a1_h1 {`, `device "a1-h1"`, `numgen random mod 10000 < 50 counter drop`,
	} {
		if !strings.Contains(ra, want) {
			t.Errorf("fl-ra script lacks %q:\n%s", want, ra)
		}
	}
	if !strings.Contains(got["fl-rb"], `device "to-zone-a"`) || !strings.Contains(got["fl-a1-h1"], `device "eth0"`) {
		t.Errorf("scripts: %v", got)
	}
}

func TestShapers(t *testing.T) {
	s := NewSpec("fl", "/cg")
	sh := shapers(s, []Impairment{{Link: "zone-a:zone-b", Rate: "10mbit", RateBits: 10e6, Queue: 100 * time.Millisecond}})
	if len(sh) != 2 || sh[0].point != (point{"fl-ra", "to-zone-b"}) || sh[1].point != (point{"fl-rb", "to-zone-a"}) || sh[0].limit != 125000 {
		t.Fatalf("shapers: %+v", sh)
	}
	cmds := tcCmds(sh[0])
	want := []string{
		"tc -n fl-ra qdisc replace dev to-zone-b root handle 1: htb default 1",
		"tc -n fl-ra class replace dev to-zone-b parent 1: classid 1:1 htb rate 10mbit ceil 10mbit",
		"tc -n fl-ra qdisc replace dev to-zone-b parent 1:1 handle 10: bfifo limit 125000",
	}
	for i, c := range cmds {
		if strings.Join(c, " ") != want[i] {
			t.Errorf("tc %d: %q, want %q", i, strings.Join(c, " "), want[i])
		}
	}
	if q := queueBytes(100e3, time.Millisecond); q != 4*1514 {
		t.Errorf("queue floor: %d", q)
	}
}

func TestTrafficScripts(t *testing.T) {
	s := NewSpec("fl", "/cg")
	c := TrafficConfig{}
	if err := c.defaults(); err != nil {
		t.Fatal(err)
	}
	bulk := trafficScript("bulk", c, s.Hosts, 0, "/st/a1-h1/traffic-bulk.log")
	if strings.Contains(bulk, "10.1.1.10 ") || !strings.Contains(bulk, "10.1.12.11") || !strings.Contains(bulk, BulkFile) {
		t.Errorf("bulk script for a1-h1 should download from the 7 others:\n%s", bulk)
	}
	ip := trafficScript("iperf", c, s.Hosts, 0, "/st/a1-h1/traffic-iperf.log")
	if !strings.Contains(ip, "iperf3 -c 10.1.11.10 ") {
		t.Errorf("a1-h1's iperf mirror should be b1-h1:\n%s", ip)
	}
	if m, _ := mirror(s.Hosts, 7); m.Short != "a2-h2" {
		t.Errorf("mirror of b2-h2: %s", m.Short)
	}
	short := trafficScript("short", c, s.Hosts, 3, "/st/a2-h2/traffic-short.log")
	if !strings.Contains(short, "Connection: close") || !strings.Contains(short, "?n=[1-5]") || !strings.Contains(short, "sleep 1\n") {
		t.Errorf("short:\n%s", short)
	}
	for _, sc := range []string{bulk, short} {
		if !strings.Contains(sc, curlOutcome) || !strings.Contains(sc, "2>>/st/") {
			t.Errorf("script does not log its outcomes:\n%s", sc)
		}
	}
	if !strings.Contains(ip, `echo "iperf $?" >>/st/a1-h1/traffic-iperf.log`) {
		t.Errorf("iperf script does not log its outcomes:\n%s", ip)
	}
	if got, err := ParseScenarios("bulk, short,"); err != nil || len(got) != 2 {
		t.Errorf("ParseScenarios: %v %v", got, err)
	}
	if _, err := ParseScenarios("bulk,udp"); err == nil {
		t.Error("ParseScenarios accepted udp")
	}
}

func TestParseTrafficLog(t *testing.T) {
	for _, tc := range []struct {
		name, log string
		want      TrafficCount
	}{
		{"downloads", "200 10485760\n200 10485760\n", TrafficCount{Runs: 2, Bytes: 20971520}},
		{"failed transfer and HTTP error", "000 0\n404 153\n200 5\n", TrafficCount{Runs: 3, Failed: 2, Bytes: 158}},
		{"iperf", "iperf 0\niperf 1\n", TrafficCount{Runs: 2, Failed: 1}},
		{"line cut by a stop", "200 5\n200 1", TrafficCount{Runs: 1, Bytes: 5}},
		{"noise", "curl: (7) refused\n\n", TrafficCount{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseTrafficLog([]byte(tc.log)); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	c := TrafficCount{Scenario: "bulk", Runs: 3, Failed: 1, Bytes: 20971520}
	if got, want := c.String(), "bulk 3 downloads, 21.0 MB (1 failed)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
