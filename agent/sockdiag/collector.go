// Package sockdiag is the agent's fallback collector, for hosts where eBPF
// cannot load: it polls the kernel's socket table over NETLINK_SOCK_DIAG
// (INET_DIAG dumps with struct tcp_info) and subscribes to the TCP destroy
// multicast groups, which deliver every closed socket's final tcp_info.
//
// Polling sees long-lived sockets grow; the destroy groups see every socket
// end, including the ones that lived between two polls, so short
// connections are counted exactly. The collector emits the same events as
// the eBPF collector (see package collect).
package sockdiag

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/flowlens/flowlens/agent/collect"
)

// Defaults for Config fields left zero.
const (
	DefaultPollInterval = time.Second
	// DefaultRecvBuffer is the destroy socket's receive buffer. A burst of
	// closes (a load balancer draining, a port scan) sends one ~400-byte
	// message per socket; 32 MB holds about 80,000 of them while the
	// collector is busy with a dump.
	DefaultRecvBuffer = 32 << 20
	// DefaultDrainEvery is how often the destroy socket is drained: one
	// wakeup per batch of closed sockets instead of one per socket (at
	// 1,000 connections/s, waking per message was half the collector's
	// CPU). The buffer above holds far more than a batch.
	DefaultDrainEvery = 100 * time.Millisecond
	// DefaultSocketsPerPoll and DefaultMaxPollInterval adapt the poll
	// period to the socket count: a dump walks every TCP socket of the
	// namespace (TIME_WAIT ones too, never sent but walked), so the period
	// grows by PollInterval for every DefaultSocketsPerPoll of them, up to
	// DefaultMaxPollInterval. Sockets that close between polls are seen
	// exactly through the destroy groups whatever the period; only the
	// live ones' snapshots and RTT samples become rarer.
	DefaultSocketsPerPoll  = 10_000
	DefaultMaxPollInterval = 10 * time.Second
)

// pollEvery is the poll period for a number of sockets.
func pollEvery(base, maxPeriod time.Duration, sockets int) time.Duration {
	return min(base*time.Duration(1+sockets/DefaultSocketsPerPoll), max(base, maxPeriod))
}

// pollPeriod is the period after a poll: from the namespace's TCP socket
// count (in use and TIME_WAIT, /proc/net/sockstat), or, without it, from
// the sockets tracked.
func (c *Collector) pollPeriod(tracked int) time.Duration {
	n := tracked
	if c.sockstat != nil {
		if walked, err := c.sockstat.sockets(); err == nil {
			n = max(n, walked)
		}
	}
	return pollEvery(c.cfg.PollInterval, DefaultMaxPollInterval, n)
}

// missingPolls is after how many dumps without a socket (and without its
// destroy message, when destroy messages were lost) the collector closes it
// with its last counters. One dump of grace covers a destroy message still
// queued behind the dump. maxMissingPolls bounds how long a missing socket
// is waited for otherwise (see tracker.sweep).
const (
	missingPolls    = 2
	maxMissingPolls = 600
)

// tombstonePolls is how many polls a closed socket's cookie is remembered,
// so a destroy message for a socket already closed as missing is not
// mistaken for a new connection.
const tombstonePolls = 30

// Config configures a Collector.
type Config struct {
	// Netns is a network namespace name under /run/netns (or an absolute
	// path to a namespace file) to watch; empty watches the namespace the
	// agent runs in (so `ip netns exec NAME flowlens-agent` works too).
	Netns        string
	PollInterval time.Duration
	RecvBuffer   int
	DrainEvery   time.Duration
}

// Collector is the sock_diag collector; see the package doc.
type Collector struct {
	cfg     Config
	log     *slog.Logger
	dump    *dumper
	destroy *destroySocket
	// sockstat is the namespace's /proc/net/sockstat (nil if it could
	// not be opened: the poll period then follows the tracked sockets).
	sockstat *sockstat
	ready    chan struct{}
	close    sync.Once

	tracked, lost, enobufs, dumps, pollErrors, summed atomic.Uint64
	perFamily                                         bool // dumps one family at a time (see dumpFamilies)
}

var _ collect.Collector = (*Collector)(nil)

// New opens the netlink sockets (in Config.Netns if set) and joins the
// destroy groups. This is the privileged part: joining the groups and
// forcing the receive buffer need CAP_NET_ADMIN, entering a namespace
// CAP_SYS_ADMIN. Once New returns, the collector needs no capability.
func New(cfg Config, log *slog.Logger) (*Collector, error) {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.RecvBuffer <= 0 {
		cfg.RecvBuffer = DefaultRecvBuffer
	}
	if cfg.DrainEvery <= 0 {
		cfg.DrainEvery = DefaultDrainEvery
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Collector{cfg: cfg, log: log.With("component", "sockdiag"), ready: make(chan struct{})}
	nc := &netlink.Config{}
	if cfg.Netns != "" {
		f, err := openNetns(cfg.Netns)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		// netlink.Dial enters the namespace on a locked OS thread, creates
		// the socket and returns the thread to its namespace.
		nc.NetNS = int(f.Fd())
	}
	conn, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, nc)
	if err != nil {
		return nil, fmt.Errorf("sockdiag: open netlink socket: %w", err)
	}
	c.dump = newDumper(conn, c.log)
	if c.destroy, err = c.openDestroy(); err != nil {
		conn.Close()
		return nil, err
	}
	openStat := func() (err error) {
		c.sockstat, err = openSockstat()
		return err
	}
	if cfg.Netns != "" {
		err = InNetns(cfg.Netns, openStat)
	} else {
		err = openStat()
	}
	if err != nil {
		c.log.Warn("no /proc/net/sockstat; the poll period follows the tracked sockets only", "error", err)
	}
	return c, nil
}

// destroySocket receives destroyed sockets' tcp_info. It is a raw
// non-blocking descriptor, deliberately outside Go's network poller:
// registered there, every message (two per closed connection) woke the
// poller although the collector reads only every DrainEvery, and those
// wakeups were a third of the mode's CPU at 1,000 connections/s.
type destroySocket struct {
	fd   int
	once sync.Once
}

func (d *destroySocket) Close() error {
	var err error
	d.once.Do(func() { err = unix.Close(d.fd) })
	return err
}

// openDestroy opens the destroy socket (in Config.Netns if set), joins the
// TCP destroy groups and forces its receive buffer.
func (c *Collector) openDestroy() (*destroySocket, error) {
	var d *destroySocket
	open := func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_SOCK_DIAG)
		if err != nil {
			return fmt.Errorf("sockdiag: open destroy socket: %w", err)
		}
		d = &destroySocket{fd: fd}
		return nil
	}
	var err error
	if c.cfg.Netns != "" {
		err = InNetns(c.cfg.Netns, open)
	} else {
		err = open()
	}
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(d.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		d.Close()
		return nil, fmt.Errorf("sockdiag: bind destroy socket: %w", err)
	}
	for _, g := range []int{groupTCPDestroy, groupTCP6Destroy} {
		if err := unix.SetsockoptInt(d.fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, g); err != nil {
			d.Close()
			return nil, fmt.Errorf("sockdiag: join TCP destroy group %d (needs CAP_NET_ADMIN): %w", g, err)
		}
	}
	// SO_RCVBUFFORCE, unlike SO_RCVBUF, ignores net.core.rmem_max (and so
	// needs CAP_NET_ADMIN).
	if err := unix.SetsockoptInt(d.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, c.cfg.RecvBuffer); err != nil {
		c.log.Warn("could not force the destroy socket's receive buffer; bursts of closes may overflow it", "bytes", c.cfg.RecvBuffer, "error", err)
	}
	return d, nil
}

// Mode implements collect.Collector.
func (c *Collector) Mode() string { return "sockdiag" }

// Ready is closed once Run has seeded the existing sockets and the
// listening ports: from then on, every socket's end is seen.
func (c *Collector) Ready() <-chan struct{} { return c.ready }

// Stats implements collect.Collector.
func (c *Collector) Stats() collect.Stats {
	return collect.Stats{
		SocketsTracked: c.tracked.Load(),
		LostEvents:     c.lost.Load(),
		ENOBUFS:        c.enobufs.Load(),
		Aggregated:     c.summed.Load(),
	}
}

// Close releases the netlink sockets. Run closes them when it returns;
// Close is for a collector that never ran.
func (c *Collector) Close() error {
	var err error
	c.close.Do(func() {
		err = errors.Join(c.dump.conn.Close(), c.destroy.Close())
		if c.sockstat != nil {
			c.sockstat.Close()
		}
	})
	return err
}

// Run implements collect.Collector: it seeds, then polls every
// PollInterval and handles destroy messages in batches, until ctx is done;
// then it hands over the destroy messages still queued (the consumer reads
// until Run returns). It closes the netlink sockets before it returns.
func (c *Collector) Run(ctx context.Context, events chan<- collect.Event) error {
	defer c.Close()
	destroyed := make(chan []Socket, 16)
	reader := c.startReader(ctx, destroyed)
	defer reader.stop()

	t := newTracker(c, events)
	if err := c.poll(ctx, t, true); err != nil {
		return err
	}
	close(c.ready)
	tick := time.NewTimer(c.pollPeriod(len(t.socks)))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return c.finish(t, destroyed, reader)
		case batch := <-destroyed:
			c.handleDestroyed(t, batch)
		case <-tick.C:
			err := c.poll(ctx, t, false)
			tick.Reset(c.pollPeriod(len(t.socks)))
			if err != nil {
				if ctx.Err() != nil {
					return c.finish(t, destroyed, reader)
				}
				// A failed dump loses nothing for good: the next one sees
				// the same cumulative counters. Keep going, but say so.
				c.pollErrors.Add(1)
				if c.pollErrors.Load()&(c.pollErrors.Load()-1) == 0 { // 1st, 2nd, 4th, 8th...
					c.log.Warn("sock_diag dump failed; retrying at the next poll", "error", err, "failures", c.pollErrors.Load())
				}
			}
		case <-reader.done:
			if ctx.Err() != nil {
				return c.finish(t, destroyed, reader)
			}
			return fmt.Errorf("sockdiag: destroy socket: %w", reader.err)
		}
	}
}

// handleDestroyed hands a batch of closed sockets to the tracker. The
// events are sent even after ctx is done (the consumer reads until Run
// returns): a closed socket's final counters are never dropped.
func (c *Collector) handleDestroyed(t *tracker, batch []Socket) {
	for i := range batch {
		t.destroyed(context.Background(), &batch[i])
	}
	t.flushSums()
}

// finish stops the reader and hands the tracker every destroy message still
// queued, in the channel, in the reader's hands, and in the socket, so that
// the last report has the last connections.
func (c *Collector) finish(t *tracker, destroyed <-chan []Socket, reader *destroyLoop) error {
	leftover := reader.stop()
	for len(destroyed) > 0 { // the reader has stopped: nothing is added
		c.handleDestroyed(t, <-destroyed)
	}
	c.handleDestroyed(t, leftover)
	r := destroyReader{c: c, buf: make([]byte, recvBufSize)}
	c.handleDestroyed(t, r.drain(c.destroy.fd, nil))
	return nil
}

// destroyLoop is the goroutine reading the destroy socket.
type destroyLoop struct {
	quit     chan struct{}
	done     chan struct{}
	leftover []Socket // a batch read but not sent when ctx was done
	err      error
	once     sync.Once
}

func (c *Collector) startReader(ctx context.Context, out chan<- []Socket) *destroyLoop {
	l := &destroyLoop{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.leftover, l.err = c.readDestroy(ctx, l.quit, out)
	}()
	return l
}

// stop stops the reader, waits for it, and returns what it had read but
// not sent.
func (l *destroyLoop) stop() []Socket {
	l.once.Do(func() {
		close(l.quit)
		<-l.done
	})
	return l.leftover
}

// readDestroy receives destroy messages until ctx is done or quit is
// closed, in batches: every DrainEvery it reads every message queued and
// sends them as one batch. ENOBUFS (the kernel dropped messages because the
// buffer was full) is counted and survived: the sockets whose ends were
// lost are closed by the poll when they go missing. A batch it could not
// send because it was stopped is returned.
func (c *Collector) readDestroy(ctx context.Context, quit <-chan struct{}, out chan<- []Socket) ([]Socket, error) {
	r := destroyReader{c: c, buf: make([]byte, recvBufSize)}
	wait := time.NewTimer(c.cfg.DrainEvery)
	defer wait.Stop()
	for {
		batch := r.drain(c.destroy.fd, nil)
		r.dropped = false
		if r.err != nil {
			if ctx.Err() != nil {
				return batch, nil
			}
			return batch, r.err
		}
		if len(batch) > 0 {
			select {
			case out <- batch:
			case <-ctx.Done():
				return batch, nil
			case <-quit:
				return batch, nil
			}
		}
		wait.Reset(c.cfg.DrainEvery)
		select {
		case <-wait.C:
		case <-ctx.Done():
			return nil, nil
		case <-quit:
			return nil, nil
		}
	}
}

// dumpFamilies dumps the sockets of both families in states: in one dump
// (one walk of the kernel's tables, see dumpRequest) unless the kernel
// refused that once, then one dump per family.
func (c *Collector) dumpFamilies(states uint32, withInfo bool, fn func(*Socket) error) error {
	if !c.perFamily {
		err := c.dump.each(familyBoth, states, withInfo, fn)
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EOPNOTSUPP) {
			return err
		}
		c.perFamily = true
		c.log.Info("kernel refused a dump of both families at once; dumping them one at a time", "error", err)
	}
	for _, fam := range []uint8{afInet, afInet6} {
		if err := c.dump.each(fam, states, withInfo, fn); err != nil {
			return err
		}
	}
	return nil
}

// poll dumps the listeners, then every connection, and feeds them to t.
func (c *Collector) poll(ctx context.Context, t *tracker, seed bool) error {
	listeners := make(map[netip.AddrPort]bool)
	err := c.dumpFamilies(stateMask(StateListen), false, func(s *Socket) error {
		listeners[netip.AddrPortFrom(s.Local.Addr().Unmap(), s.Local.Port())] = true
		return nil
	})
	if err != nil {
		return err
	}
	t.listeners = listeners
	t.gen++
	if err := c.dumpFamilies(connStates, true, func(s *Socket) error { return t.polled(ctx, s, seed) }); err != nil {
		return err
	}
	c.dumps.Add(1)
	if err := t.sweep(ctx); err != nil {
		return err
	}
	c.tracked.Store(uint64(len(t.socks)))
	return nil
}
