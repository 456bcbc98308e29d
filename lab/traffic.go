package lab

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Files every host's nginx serves.
const (
	BulkFile  = "10mb.bin"
	TinyFile  = "tiny.txt"
	bulkBytes = 10 << 20
)

// Process roles, as shown by status.
const (
	RoleNginx       = "nginx"
	RoleIperfServer = "iperf3-server"
	RoleAgent       = "agent"
	trafficPrefix   = "traffic-"
)

// Scenarios lab traffic can run.
var Scenarios = []string{"bulk", "iperf", "short"}

// TrafficConfig sets what `lab traffic` generates. Zero values take
// defaults sized for a shared 2-core machine.
type TrafficConfig struct {
	// Scenarios to run (default all): "bulk" downloads the 10 MB file from
	// every other host in turn, then pauses BulkEvery; "iperf" runs an
	// iperf3 burst (IperfTime at IperfRate) to the host's mirror in the other
	// zone every IperfEvery; "short" opens ShortPerPeer one-request HTTP
	// connections to every other host every ShortEvery.
	Scenarios    []string
	BulkEvery    time.Duration
	IperfEvery   time.Duration
	IperfTime    time.Duration
	IperfRate    string
	ShortPerPeer int
	ShortEvery   time.Duration
}

func (c *TrafficConfig) defaults() error {
	if len(c.Scenarios) == 0 {
		c.Scenarios = Scenarios
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(Scenarios, s) {
			return fmt.Errorf("traffic scenario %q: want %s", s, strings.Join(Scenarios, ", "))
		}
	}
	setDur(&c.BulkEvery, 20*time.Second)
	setDur(&c.IperfEvery, 30*time.Second)
	setDur(&c.IperfTime, 5*time.Second)
	setDur(&c.ShortEvery, time.Second)
	if c.IperfRate == "" {
		c.IperfRate = "100M"
	}
	if c.ShortPerPeer <= 0 {
		c.ShortPerPeer = 5
	}
	return nil
}

func setDur(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// ParseScenarios reads a comma-separated scenario list ("bulk,short").
func ParseScenarios(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.Contains(Scenarios, f) {
			return nil, fmt.Errorf("traffic scenario %q: want %s", f, strings.Join(Scenarios, ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

// StartServers starts, in every host that lacks them, nginx on port 80
// (serving BulkFile and TinyFile) and an iperf3 server on port 5201, and
// waits until every nginx answers. They run until Down.
func (l *Lab) StartServers(ctx context.Context) error {
	dir := l.StateDir()
	www := filepath.Join(dir, "www")
	if err := writeWWW(www); err != nil {
		return err
	}
	running := map[string]bool{}
	for _, p := range l.Processes() {
		if p.Alive {
			running[p.Host+"/"+p.Role] = true
		}
	}
	for _, h := range l.Hosts() {
		if !running[h.Short+"/"+RoleNginx] {
			conf, err := writeNginxConf(filepath.Join(dir, h.Short, "nginx"), www)
			if err != nil {
				return err
			}
			ndir := filepath.Dir(conf)
			if _, err := l.StartRole(h.Short, RoleNginx, "nginx", "-p", ndir, "-e", filepath.Join(ndir, "error.log"), "-c", conf); err != nil {
				return err
			}
		}
		if !running[h.Short+"/"+RoleIperfServer] {
			if _, err := l.StartRole(h.Short, RoleIperfServer, "iperf3", "-s", "-p", "5201"); err != nil {
				return err
			}
		}
	}
	return l.waitServers(ctx)
}

// waitServers polls every host's nginx (from inside the host) until it
// serves the tiny file, so that callers can measure right away.
func (l *Lab) waitServers(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for _, h := range l.Hosts() {
		url := fmt.Sprintf("http://%s/%s", h.IP(), TinyFile)
		for {
			_, err := l.Exec(ctx, h.Short, "curl", "-sf", "--max-time", "1", "-o", "/dev/null", url)
			if err == nil {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("nginx in %s did not come up: %w", h.Name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// writeWWW creates the document root shared by every host's nginx.
func writeWWW(www string) error {
	if err := os.MkdirAll(www, 0o755); err != nil {
		return fmt.Errorf("lab www: %w", err)
	}
	if err := os.WriteFile(filepath.Join(www, TinyFile), []byte("ok\n"), 0o644); err != nil {
		return fmt.Errorf("lab www: %w", err)
	}
	bulk := filepath.Join(www, BulkFile)
	if fi, err := os.Stat(bulk); err == nil && fi.Size() == bulkBytes {
		return nil
	}
	// Random bytes, so that nothing on the path can compress them away.
	b := make([]byte, bulkBytes)
	rand.Read(b)
	if err := os.WriteFile(bulk, b, 0o644); err != nil {
		return fmt.Errorf("lab www: %w", err)
	}
	return nil
}

// writeNginxConf writes a self-contained nginx config (pid, logs and temp
// paths in dir, so nothing touches /etc/nginx or /var) and returns its
// path. The master runs as root inside the host's namespace and cgroup;
// its workers are its children, so they are in both too.
func writeNginxConf(dir, www string) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return "", fmt.Errorf("nginx dir: %w", err)
	}
	conf := fmt.Sprintf(`# Written by flowlens lab.
daemon off;
master_process on;
user root;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 30s;
	client_body_temp_path %[1]s/tmp/body;
	proxy_temp_path %[1]s/tmp/proxy;
	fastcgi_temp_path %[1]s/tmp/fastcgi;
	types { application/octet-stream bin; text/plain txt; }
	server {
		listen 80 backlog=4096;
		root %[2]s;
	}
}
`, dir, www)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return "", fmt.Errorf("nginx config: %w", err)
	}
	return path, nil
}

// StartTraffic starts the servers and then, in every host, one shell loop
// per scenario. The loops (and the curl and iperf3 they run) live in the
// host's namespace and cgroup until StopTraffic or Down.
func (l *Lab) StartTraffic(ctx context.Context, cfg TrafficConfig) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if err := l.StartServers(ctx); err != nil {
		return err
	}
	hosts := l.Hosts()
	for i, h := range hosts {
		if err := os.MkdirAll(filepath.Join(l.StateDir(), h.Short), 0o755); err != nil {
			return err
		}
		for _, sc := range cfg.Scenarios {
			log := l.trafficLog(h, sc)
			if err := os.WriteFile(log, nil, 0o644); err != nil { // counts start afresh
				return err
			}
			script := trafficScript(sc, cfg, hosts, i, log)
			if script == "" {
				continue
			}
			if _, err := l.StartRole(h.Short, trafficPrefix+sc, "sh", "-c", script); err != nil {
				return errors.Join(err, l.StopTraffic())
			}
		}
	}
	return nil
}

// StopTraffic stops the traffic loops (servers keep running).
func (l *Lab) StopTraffic() error {
	return l.stopRole(func(r string) bool { return strings.HasPrefix(r, trafficPrefix) })
}

// trafficLog is where a host's loop of one scenario appends a line per
// request or burst (see TrafficCounts).
func (l *Lab) trafficLog(h Host, scenario string) string {
	return filepath.Join(l.StateDir(), h.Short, "traffic-"+scenario+".log")
}

// curlOutcome makes curl append "<HTTP status> <bytes>" per transfer to the
// log (through stderr: with a URL range, bodies go to stdout).
const curlOutcome = `-w '%{stderr}%{http_code} %{size_download}\n'`

// trafficScript is the shell loop of one scenario for hosts[i], appending
// its outcomes to log. Starts are staggered by host so the hosts do not all
// hit the link at once.
func trafficScript(scenario string, c TrafficConfig, hosts []Host, i int, log string) string {
	var peers []string
	for j, p := range hosts {
		if j != i {
			peers = append(peers, p.IP().String())
		}
	}
	ps := strings.Join(peers, " ")
	stagger := fmt.Sprintf("sleep %d.%d\n", i/4, (i%4)*25)
	switch scenario {
	case "bulk":
		return stagger + fmt.Sprintf(`while :; do
  for p in %s; do curl -s -o /dev/null --max-time 120 %s http://$p/%s 2>>%s; done
  sleep %d
done`, ps, curlOutcome, BulkFile, log, secs(c.BulkEvery))
	case "iperf":
		m, ok := mirror(hosts, i)
		if !ok {
			return ""
		}
		return stagger + fmt.Sprintf(`while :; do
  iperf3 -c %s -p 5201 -t %d -b %s >/dev/null 2>&1
  echo "iperf $?" >>%s
  sleep %d
done`, m.IP(), secs(c.IperfTime), c.IperfRate, log, secs(c.IperfEvery))
	case "short":
		return stagger + fmt.Sprintf(`while :; do
  for p in %s; do curl -s -H 'Connection: close' %s "http://$p/%s?n=[1-%d]" >/dev/null 2>>%s; done
  sleep %s
done`, ps, curlOutcome, TinyFile, c.ShortPerPeer, log, strconv.FormatFloat(c.ShortEvery.Seconds(), 'f', -1, 64))
	}
	return ""
}

// mirror is the host at the same place in the other zone (a1-h1 <-> b1-h1):
// iperf bursts go between mirrors, so each iperf3 server has one client.
func mirror(hosts []Host, i int) (Host, bool) {
	h := hosts[i]
	for _, o := range hosts {
		if o.Zone != h.Zone && o.Short[1:] == h.Short[1:] {
			return o, true
		}
	}
	return Host{}, false
}

func secs(d time.Duration) int { return max(1, int(d.Round(time.Second).Seconds())) }

// TrafficCount is what one scenario's loops did since the traffic started.
type TrafficCount struct {
	Scenario string
	Runs     int   // downloads, requests or iperf3 bursts
	Failed   int   // of those, failed (HTTP status not 2xx, curl or iperf3 error)
	Bytes    int64 // downloaded (HTTP scenarios)
}

// TrafficCounts sums the outcome logs of every host, per scenario (in
// Scenarios order; scenarios that never ran are left out).
func (l *Lab) TrafficCounts() ([]TrafficCount, error) {
	var out []TrafficCount
	for _, sc := range Scenarios {
		total := TrafficCount{Scenario: sc}
		seen := false
		for _, h := range l.Hosts() {
			b, err := os.ReadFile(l.trafficLog(h, sc))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			seen = true
			total.add(parseTrafficLog(b))
		}
		if seen {
			out = append(out, total)
		}
	}
	return out, nil
}

func (c *TrafficCount) add(o TrafficCount) {
	c.Runs += o.Runs
	c.Failed += o.Failed
	c.Bytes += o.Bytes
}

// parseTrafficLog counts an outcome log: "<HTTP status> <bytes>" lines
// from curl (status 000 when the transfer failed) and "iperf <exit code>"
// lines. A line cut short by a loop that was stopped is not counted.
func parseTrafficLog(b []byte) TrafficCount {
	var c TrafficCount
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) != 2 || !strings.HasSuffix(line, "\n") {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		c.Runs++
		if f[0] == "iperf" {
			if n != 0 {
				c.Failed++
			}
			continue
		}
		c.Bytes += n
		if !strings.HasPrefix(f[0], "2") {
			c.Failed++
		}
	}
	return c
}

// String is one line for a person: "short 560 requests (0 failed)".
func (c TrafficCount) String() string {
	unit := map[string]string{"bulk": "downloads", "iperf": "bursts", "short": "requests"}[c.Scenario]
	s := fmt.Sprintf("%s %d %s", c.Scenario, c.Runs, unit)
	if c.Bytes >= 100_000 {
		s += fmt.Sprintf(", %.1f MB", float64(c.Bytes)/1e6)
	}
	return s + fmt.Sprintf(" (%d failed)", c.Failed)
}
