package sockdiag

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// sockstatTCP reads the TCP line of a network namespace's
// /proc/net/sockstat: the sockets in use and those in TIME_WAIT, which a
// dump walks too (and which cost it even though they are never sent).
func parseSockstat(b []byte) (inuse, tw int, err error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("TCP:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		found := 0
		for i := 0; i+1 < len(f); i += 2 {
			var dst *int
			switch string(f[i]) {
			case "inuse":
				dst = &inuse
			case "tw":
				dst = &tw
			default:
				continue
			}
			n, err := strconv.Atoi(string(f[i+1]))
			if err != nil || n < 0 {
				return 0, 0, fmt.Errorf("sockstat: TCP %s: bad count %q", f[i], f[i+1])
			}
			*dst = n
			found++
		}
		if found != 2 {
			return 0, 0, fmt.Errorf("sockstat: TCP line without inuse and tw: %q", bytes.TrimSpace(line))
		}
		return inuse, tw, nil
	}
	return 0, 0, fmt.Errorf("sockstat: no TCP line")
}

// sockstat reads the TCP socket counts of the collector's namespace from
// a file opened there once.
type sockstat struct {
	f   *os.File
	buf []byte
}

// openSockstat opens the sockstat file of the namespace the calling thread
// is in (InNetns runs it on a thread inside the target namespace).
func openSockstat() (*sockstat, error) {
	f, err := os.Open("/proc/thread-self/net/sockstat")
	if err != nil {
		return nil, err
	}
	return &sockstat{f: f, buf: make([]byte, 4096)}, nil
}

// sockets returns the TCP sockets in use plus those in TIME_WAIT.
func (s *sockstat) sockets() (int, error) {
	n, err := s.f.ReadAt(s.buf, 0)
	if n == 0 && err != nil {
		return 0, fmt.Errorf("read sockstat: %w", err)
	}
	inuse, tw, err := parseSockstat(s.buf[:n])
	return inuse + tw, err
}

func (s *sockstat) Close() error { return s.f.Close() }
