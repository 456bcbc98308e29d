package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The collector reads its two netlink sockets with raw system calls into
// buffers it reuses. Through a general netlink client every message was an
// allocation: at 20,000 sockets dumped a second, garbage collection was a
// third of the collector's CPU, and at 1,000 closed connections a second
// the destroy socket's per-message wakeups were half of it.

// recvBufSize is the buffer of one recvmsg: the kernel sends dump
// datagrams of at most 32 KiB, destroy messages of well under 1 KiB.
const recvBufSize = 64 << 10

// eachMessage calls fn for each netlink message of a datagram, until fn
// returns false. A truncated or malformed message ends the walk.
func eachMessage(b []byte, fn func(typ uint16, seq uint32, data []byte) bool) {
	for len(b) >= unix.NLMSG_HDRLEN {
		size := int(binary.NativeEndian.Uint32(b[0:4]))
		if size < unix.NLMSG_HDRLEN || size > len(b) {
			return
		}
		typ := binary.NativeEndian.Uint16(b[4:6])
		seq := binary.NativeEndian.Uint32(b[8:12])
		if !fn(typ, seq, b[unix.NLMSG_HDRLEN:size]) {
			return
		}
		next := (size + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		if next >= len(b) {
			return
		}
		b = b[next:]
	}
}

// dumper runs INET_DIAG dumps on one netlink socket, one at a time, into
// one reused buffer.
type dumper struct {
	conn *netlink.Conn
	seq  uint32
	buf  []byte
	log  *slog.Logger
}

func newDumper(conn *netlink.Conn, log *slog.Logger) *dumper {
	return &dumper{conn: conn, buf: make([]byte, recvBufSize), log: log}
}

// each runs one dump and calls fn with each socket as it is read. An error
// from fn ends the dump; what the kernel still sends of it is skipped by
// the next dump (another sequence number).
func (d *dumper) each(family uint8, states uint32, withInfo bool, fn func(*Socket) error) error {
	rc, err := d.conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("sockdiag: dump socket: %w", err)
	}
	d.seq++
	req := dumpRequest(family, states, withInfo, d.seq)
	var serr error
	werr := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	})
	if err := errors.Join(werr, serr); err != nil {
		return fmt.Errorf("sockdiag: send dump request (family %d): %w", family, err)
	}
	r := dumpReader{seq: d.seq, buf: d.buf, fn: fn, log: d.log}
	if err := rc.Read(func(fd uintptr) bool { return r.read(int(fd)) }); err != nil {
		return fmt.Errorf("sockdiag: read dump (family %d): %w", family, err)
	}
	if errors.Is(r.err, unix.ENOENT) && family == afInet6 {
		return nil // no IPv6 in this kernel
	}
	if r.err != nil {
		return fmt.Errorf("sockdiag: dump family %d: %w", family, r.err)
	}
	return nil
}

// errTruncated is a datagram larger than the receive buffer.
var errTruncated = errors.New("netlink datagram larger than the receive buffer")

// recvQueued receives one queued datagram into buf without blocking: its
// length, or unix.EAGAIN when none is queued, errTruncated, or the
// socket's error (unix.ENOBUFS: the kernel dropped messages).
func recvQueued(fd int, buf []byte) (int, error) {
	for {
		n, _, flags, _, err := unix.Recvmsg(fd, buf, nil, unix.MSG_DONTWAIT)
		switch {
		case err == unix.EINTR:
			continue
		case err == nil && flags&unix.MSG_TRUNC != 0:
			return 0, errTruncated
		}
		return n, err
	}
}

// familyBoth asks dumper.each for the sockets of both families in one dump.
const familyBoth = 0

// dumpRequest builds the netlink message of a dump: an inet_diag_req_v2
// for one family, or for familyBoth an inet_diag_req (the v1 interface,
// TCPDIAG_GETSOCK), which the kernel answers for both families from one
// walk of its socket tables. A dump's cost is mostly that walk (every
// bucket, and every TIME_WAIT socket, whatever the states asked for), and
// the v2 interface needs one walk per family.
func dumpRequest(family uint8, states uint32, withInfo bool, seq uint32) []byte {
	if family == familyBoth {
		return dumpRequestV1(states, withInfo, seq)
	}
	b := make([]byte, unix.NLMSG_HDRLEN+sizeofReq)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], sockDiagByFamily)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(b[8:], seq)
	req := b[unix.NLMSG_HDRLEN:]
	req[0] = family
	req[1] = ipprotoTCP
	if withInfo {
		req[2] = 1 << (inetDiagInfo - 1)
	}
	ne.PutUint32(req[4:], states)
	return b
}

// dumpRequestV1 builds an inet_diag_req dump of both families.
func dumpRequestV1(states uint32, withInfo bool, seq uint32) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN+sizeofReqV1)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], tcpDiagGetSock)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(b[8:], seq)
	req := b[unix.NLMSG_HDRLEN:]
	// idiag_family (0: ignored by the dump), idiag_src_len, idiag_dst_len,
	// idiag_ext, the 48-byte socket id, idiag_states, idiag_dbs.
	if withInfo {
		req[3] = 1 << (inetDiagInfo - 1)
	}
	ne.PutUint32(req[52:], states)
	return b
}

// dumpReader reads one dump's replies.
type dumpReader struct {
	seq  uint32
	buf  []byte
	fn   func(*Socket) error
	log  *slog.Logger
	err  error // the kernel's error, fn's, or a receive error
	done bool
}

// read reads the datagrams queued and reports whether the dump is over
// (false: wait for more).
func (d *dumpReader) read(fd int) bool {
	for !d.done {
		n, err := recvQueued(fd, d.buf)
		switch {
		case err == unix.EAGAIN:
			return false
		case err != nil:
			d.err, d.done = err, true
		default:
			eachMessage(d.buf[:n], d.message)
		}
	}
	return true
}

// message handles one message of the dump; false ends the walk.
func (d *dumpReader) message(typ uint16, seq uint32, data []byte) bool {
	if seq != d.seq {
		return true // the rest of an earlier, abandoned dump
	}
	switch typ {
	case unix.NLMSG_DONE:
		d.done = true
	case unix.NLMSG_ERROR:
		if len(data) >= 4 {
			if code := int32(binary.NativeEndian.Uint32(data)); code < 0 {
				d.err = syscall.Errno(-code)
			}
		}
		d.done = true
	case sockDiagByFamily, tcpDiagGetSock: // v1 replies carry the request's type
		s, err := ParseSocket(data)
		if err != nil {
			d.log.Debug("skipping unparsable inet_diag message", "error", err)
			return true
		}
		if err := d.fn(&s); err != nil {
			d.err, d.done = err, true
		}
	}
	return !d.done
}

// recvQueuedRaw is recvQueued for the destroy socket, where it runs a few
// hundred times per drain: a raw system call, which never blocks here
// (MSG_DONTWAIT), spares the runtime's bookkeeping around a possibly
// blocking one, and the monitor thread's wakeups that came with it.
// MSG_TRUNC makes the kernel return a datagram's full length, so one
// larger than buf is seen.
func recvQueuedRaw(fd int, buf []byte) (int, error) {
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
			unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
		switch {
		case errno == unix.EINTR:
			continue
		case errno != 0:
			return 0, errno
		case int(n) > len(buf):
			return 0, errTruncated
		}
		return int(n), nil
	}
}

// destroyReader reads the destroy socket without blocking.
type destroyReader struct {
	c       *Collector
	buf     []byte
	err     error // a receive error other than "nothing queued"
	dropped bool  // messages were lost (ENOBUFS, truncated)
}

// drain reads every queued datagram into batch.
func (r *destroyReader) drain(fd int, batch []Socket) []Socket {
	for {
		n, err := recvQueuedRaw(fd, r.buf)
		switch {
		case err == unix.EAGAIN:
			return batch
		case err == unix.ENOBUFS:
			r.c.enobufs.Add(1)
			r.c.lost.Add(1)
			r.dropped = true
			r.c.log.Warn("destroy messages lost (ENOBUFS); affected sockets are closed when polls miss them")
		case err == errTruncated:
			r.c.lost.Add(1)
			r.dropped = true
			r.c.log.Warn("truncated destroy message skipped", "bytes", len(r.buf))
		case err != nil:
			r.err = err
			return batch
		default:
			batch = appendDestroyed(batch, r.buf[:n], r.c.log)
		}
	}
}

// appendDestroyed appends the sockets of one destroy datagram to batch,
// skipping what it cannot parse.
func appendDestroyed(batch []Socket, b []byte, log *slog.Logger) []Socket {
	eachMessage(b, func(typ uint16, _ uint32, data []byte) bool {
		if typ != sockDiagByFamily {
			return true
		}
		s, err := ParseSocket(data)
		if err != nil {
			log.Debug("skipping unparsable destroy message", "error", err)
			return true
		}
		batch = append(batch, s)
		return true
	})
	return batch
}

// DumpAll returns every TCP socket of the caller's network namespace, in
// every state, with its tcp_info: a one-shot dump, from which the eBPF
// collector seeds the sockets that existed before it.
func DumpAll() ([]Socket, error) {
	conn, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, nil)
	if err != nil {
		return nil, fmt.Errorf("sockdiag: open netlink socket: %w", err)
	}
	defer conn.Close()
	d := newDumper(conn, slog.New(slog.DiscardHandler))
	var out []Socket
	for _, family := range []uint8{afInet, afInet6} {
		err := d.each(family, allStates, true, func(s *Socket) error {
			out = append(out, *s)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
