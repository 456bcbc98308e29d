package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// InternetClient is one client namespace of the internet lab: a public
// address behind one provider (ASN) in one city.
type InternetClient struct {
	Name string     // namespace
	Addr netip.Addr // its public address
	ASN  uint32
	City string
}

// InternetConfig describes an internet lab: one server host and client
// namespaces grouped by ASN, each ASN with its own link (a bridge in the
// router namespace) on which loss and blackholes act.
type InternetConfig struct {
	// Name prefixes every namespace (keep it short and unique per run).
	Name string
	// ServerAddr is the server host's address and prefix, e.g.
	// 10.1.1.10/24 (a subnet of the topology); the router takes .1.
	ServerAddr netip.Prefix
	// Links are the ASN links: each a /26 (or smaller) of public test
	// addresses whose first address is the router's, with its clients.
	Links []InternetLink
	Log   *slog.Logger
}

// InternetLink is one provider's access link and its clients.
type InternetLink struct {
	ASN     uint32
	Prefix  netip.Prefix // e.g. 203.0.113.0/26
	Clients []InternetClient
}

// InternetLab is a running internet lab. Everything it creates it removes
// in Down, also after a failed Up.
type InternetLab struct {
	cfg      InternetConfig
	r        runner
	mu       sync.Mutex
	ns       []string // created namespaces, in order
	procs    []*exec.Cmd
	impaired map[uint32]float64 // ASN -> loss (1 = blackhole)
}

// Server is the server host's namespace name.
func (l *InternetLab) Server() string { return l.cfg.Name + "-srv" }

func (l *InternetLab) router() string { return l.cfg.Name + "-rt" }

// UpInternet builds the internet lab.
func UpInternet(ctx context.Context, cfg InternetConfig) (*InternetLab, error) {
	if err := CheckRoot(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Name) > 8 {
		return nil, fmt.Errorf("internet lab name %q: at most 8 characters (interface names are short)", cfg.Name)
	}
	l := &InternetLab{cfg: cfg, r: runner{log: cfg.Log}, impaired: map[uint32]float64{}}
	if err := l.build(ctx); err != nil {
		l.Down(context.Background())
		return nil, err
	}
	return l, nil
}

func (l *InternetLab) addNetns(ctx context.Context, ns string) error {
	if _, err := os.Stat("/run/netns/" + ns); err == nil {
		return fmt.Errorf("%w: namespace %s exists", ErrAlreadyUp, ns)
	}
	if _, err := l.r.run(ctx, "ip", "netns", "add", ns); err != nil {
		return err
	}
	l.ns = append(l.ns, ns)
	_, err := l.r.run(ctx, "ip", "-n", ns, "link", "set", "lo", "up")
	return err
}

func (l *InternetLab) build(ctx context.Context) error {
	rt, srv := l.router(), l.Server()
	for _, ns := range []string{rt, srv} {
		if err := l.addNetns(ctx, ns); err != nil {
			return err
		}
	}
	gw := l.cfg.ServerAddr.Masked().Addr().Next()
	cmds := [][]string{
		{"ip", "netns", "exec", rt, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
		{"ip", "link", "add", "eth0", "netns", srv, "type", "veth", "peer", "name", "srv0", "netns", rt},
		{"ip", "-n", rt, "addr", "add", netip.PrefixFrom(gw, l.cfg.ServerAddr.Bits()).String(), "dev", "srv0"},
		{"ip", "-n", rt, "link", "set", "srv0", "up"},
		{"ip", "-n", srv, "addr", "add", l.cfg.ServerAddr.String(), "dev", "eth0"},
		{"ip", "-n", srv, "link", "set", "eth0", "up"},
		{"ip", "-n", srv, "route", "add", "default", "via", gw.String()},
	}
	if err := l.r.runAll(ctx, cmds); err != nil {
		return err
	}
	for li, link := range l.cfg.Links {
		br := fmt.Sprintf("as%d", li)
		rgw := link.Prefix.Masked().Addr().Next()
		if err := l.r.runAll(ctx, [][]string{
			{"ip", "-n", rt, "link", "add", br, "type", "bridge", "forward_delay", "0"},
			{"ip", "-n", rt, "addr", "add", netip.PrefixFrom(rgw, link.Prefix.Bits()).String(), "dev", br},
			{"ip", "-n", rt, "link", "set", br, "up"},
		}); err != nil {
			return err
		}
		for ci, c := range link.Clients {
			if !link.Prefix.Contains(c.Addr) {
				return fmt.Errorf("client %s: %s is outside its ASN link %s", c.Name, c.Addr, link.Prefix)
			}
			if err := l.addNetns(ctx, c.Name); err != nil {
				return err
			}
			port := fmt.Sprintf("as%dc%d", li, ci)
			if err := l.r.runAll(ctx, [][]string{
				{"ip", "link", "add", "eth0", "netns", c.Name, "type", "veth", "peer", "name", port, "netns", rt},
				{"ip", "-n", rt, "link", "set", port, "master", br},
				{"ip", "-n", rt, "link", "set", port, "up"},
				{"ip", "-n", c.Name, "addr", "add", netip.PrefixFrom(c.Addr, link.Prefix.Bits()).String(), "dev", "eth0"},
				{"ip", "-n", c.Name, "link", "set", "eth0", "up"},
				{"ip", "-n", c.Name, "route", "add", "default", "via", rgw.String()},
				// Wire-sized packets, so that loss applies per segment.
				{"ip", "-n", c.Name, "link", "set", "eth0", "gso_max_segs", "1", "gso_max_size", "1500"},
				{"ip", "-n", rt, "link", "set", port, "gso_max_segs", "1", "gso_max_size", "1500"},
			}); err != nil {
				return err
			}
		}
	}
	_, err := l.r.run(ctx, "ip", "-n", srv, "link", "set", "eth0", "gso_max_segs", "1", "gso_max_size", "1500")
	if err != nil {
		return err
	}
	// RPS keeps each flow's packets in order across veths (see rpsCmd).
	mask := rpsMask(runtime.NumCPU())
	for _, ns := range l.ns {
		if _, err := l.r.run(ctx, rpsCmd(ns, mask)...); err != nil {
			return err
		}
	}
	return nil
}

// Listen opens a TCP listener inside the server host's namespace; the
// socket stays there whatever thread later accepts on it.
func (l *InternetLab) Listen(addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNetns(l.Server(), func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// inNetns runs fn on a thread switched into the named namespace.
func inNetns(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is not unlocked if it could not switch back: the
		// runtime then retires it rather than reuse it in the wrong
		// namespace.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + name)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// StartClients runs a request loop in every client namespace: curl fetches
// url every interval (each a new connection), with a 2 s timeout.
func (l *InternetLab) StartClients(url string, interval time.Duration) error {
	for _, link := range l.cfg.Links {
		for _, c := range link.Clients {
			script := fmt.Sprintf("while :; do curl -s -o /dev/null --max-time 2 %s; sleep %.2f; done", url, interval.Seconds())
			cmd := exec.Command("ip", "netns", "exec", c.Name, "sh", "-c", script)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				return fmt.Errorf("client %s: %w", c.Name, err)
			}
			l.mu.Lock()
			l.procs = append(l.procs, cmd)
			l.mu.Unlock()
		}
	}
	return nil
}

// Impair drops loss (0..1) of the packets on one ASN's link, both ways: at
// the router's ingress from the clients and at each client's ingress. Loss
// 1 is a blackhole.
func (l *InternetLab) Impair(ctx context.Context, asn uint32, loss float64) error {
	l.mu.Lock()
	if loss <= 0 {
		delete(l.impaired, asn)
	} else {
		l.impaired[asn] = loss
	}
	imps := make(map[uint32]float64, len(l.impaired))
	for k, v := range l.impaired {
		imps[k] = v
	}
	l.mu.Unlock()
	for ns, script := range l.nftScripts(imps) {
		if script == "" {
			if _, err := l.r.run(ctx, "ip", "netns", "exec", ns, "nft", "delete", "table", "netdev", NftTable); err != nil &&
				!stderrContains(err, "No such file") {
				return err
			}
			continue
		}
		if _, err := l.r.runInput(ctx, strings.NewReader(script), "ip", "netns", "exec", ns, "nft", "-f", "-"); err != nil {
			return err
		}
	}
	return nil
}

// Heal removes the impairment of one ASN's link.
func (l *InternetLab) Heal(ctx context.Context, asn uint32) error { return l.Impair(ctx, asn, 0) }

// nftScripts renders the netdev table of every namespace the impairments
// touch (empty: delete the table).
func (l *InternetLab) nftScripts(imps map[uint32]float64) map[string]string {
	rules := map[string][]string{}
	touch := func(ns string) {
		if _, ok := rules[ns]; !ok {
			rules[ns] = nil
		}
	}
	for li, link := range l.cfg.Links {
		touch(l.router())
		for ci, c := range link.Clients {
			touch(c.Name)
			loss, ok := imps[link.ASN]
			if !ok {
				continue
			}
			expr := lossExpr(math.Round(loss*10000) / 100)
			if loss >= 1 {
				expr = ""
			}
			rule := func(dev string) string {
				return fmt.Sprintf("\tchain in_%s {\n\t\ttype filter hook ingress device %q priority -500; policy accept;\n\t\t%s counter drop comment \"AS%d\"\n\t}\n",
					dev, dev, expr, link.ASN)
			}
			rules[l.router()] = append(rules[l.router()], rule(fmt.Sprintf("as%dc%d", li, ci)))
			rules[c.Name] = append(rules[c.Name], rule("eth0"))
		}
	}
	out := map[string]string{}
	for ns, rs := range rules {
		if len(rs) == 0 {
			out[ns] = ""
			continue
		}
		out[ns] = fmt.Sprintf("table netdev %s\ndelete table netdev %s\ntable netdev %s {\n%s}\n",
			NftTable, NftTable, NftTable, strings.Join(rs, ""))
	}
	return out
}

// Down stops the client loops and deletes every namespace the lab made.
func (l *InternetLab) Down(ctx context.Context) error {
	l.mu.Lock()
	procs := l.procs
	l.procs = nil
	l.mu.Unlock()
	for _, p := range procs {
		// Only the process groups this lab started.
		syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		p.Wait()
	}
	var errs []error
	for i := len(l.ns) - 1; i >= 0; i-- {
		if _, err := l.r.run(ctx, "ip", "netns", "delete", l.ns[i]); err != nil && !stderrContains(err, "No such file") {
			errs = append(errs, err)
		}
	}
	l.ns = nil
	return errors.Join(errs...)
}
