package sockdiag

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	goldenfile "github.com/flowlens/flowlens/internal/golden"

	"golang.org/x/sys/unix"
)

func golden(t *testing.T, name string, got string) {
	t.Helper()
	goldenfile.Check(t, name, got)
}

// sampleTCPInfo is a kernel-layout tcp_info (x/sys mirrors the kernel's
// struct, padding included) with a distinct value in every field the
// parser reads, so a wrong offset shows as a wrong value.
func sampleTCPInfo() []byte {
	ti := unix.TCPInfo{
		State: StateEstablished, Retransmits: 3, Backoff: 2, Rtt: 1234, Total_retrans: 77,
		Bytes_acked: 0x1122334455, Bytes_received: 0x66778899aa, Segs_out: 4000000001, Segs_in: 3000000002,
		Delivered: 5555, Total_rto: 9, Rto: 204000, Snd_mss: 1448, Min_rtt: 40,
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&ti)), unsafe.Sizeof(ti))
	return append([]byte(nil), b...)
}

// TestTCPInfoGoldenBytes checks the parser against golden bytes at the
// lengths kernels have shipped: 2.6 (104), 4.1 (136), 4.2 (144), 4.18
// (200), 6.2 (232), 6.7 (248) and the current 280.
func TestTCPInfoGoldenBytes(t *testing.T) {
	path := filepath.Join("testdata", "tcpinfo.hex")
	golden(t, "tcpinfo.hex", hex.Dump(sampleTCPInfo())) // rewritten under -update
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	b := undump(t, string(raw))
	var out strings.Builder
	for _, n := range []int{100, 104, 136, 144, 200, 232, 248, len(b)} {
		ti, ok := ParseTCPInfo(b[:n])
		fmt.Fprintf(&out, "len %d ok=%v %+v\n", n, ok, ti)
	}
	golden(t, "tcpinfo_parsed.txt", out.String())
}

// undump reads `hexdump -C` style text back into bytes.
func undump(t *testing.T, s string) []byte {
	var b []byte
	for _, line := range strings.Split(s, "\n") {
		if len(line) < 10 {
			continue
		}
		end := min(len(line), 58)
		for _, f := range strings.Fields(line[10:end]) {
			v, err := hex.DecodeString(f)
			if err != nil {
				t.Fatalf("bad hex %q: %v", f, err)
			}
			b = append(b, v...)
		}
	}
	return b
}

// TestTCPInfoMatchesKernel compares the parser with getsockopt(TCP_INFO)
// decoded by x/sys on a live loopback connection.
func TestTCPInfoMatchesKernel(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback: %v", err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			buf := make([]byte, 1<<16)
			for {
				if _, err := c.Read(buf); err != nil {
					break
				}
			}
			c.Close()
		}
	}()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(make([]byte, 100_000)); err != nil {
		t.Fatal(err)
	}
	rc, _ := c.(*net.TCPConn).SyscallConn()
	var raw []byte
	var want *unix.TCPInfo
	rc.Control(func(fd uintptr) {
		buf := make([]byte, 512)
		n := uint32(len(buf))
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.IPPROTO_TCP, unix.TCP_INFO,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		if e != 0 {
			t.Fatalf("getsockopt: %v", e)
		}
		raw = buf[:n]
		want, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := ParseTCPInfo(raw)
	if !ok || !got.HasBytes || !got.HasSegs {
		t.Fatalf("kernel tcp_info of %d bytes parsed as %+v", len(raw), got)
	}
	// Counters move between the two reads only if data is in flight; the
	// write was small enough to be acknowledged by now, or nearly.
	if got.State != want.State || got.SegsOut > want.Segs_out || got.BytesAcked > want.Bytes_acked ||
		got.TotalRetrans != want.Total_retrans || (got.HasTotalRTO && got.TotalRTO != want.Total_rto) {
		t.Errorf("parsed %+v\nx/sys   %+v", got, want)
	}
	t.Logf("kernel tcp_info is %d bytes", len(raw))
}

func FuzzParseTCPInfo(f *testing.F) {
	f.Add(sampleTCPInfo())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		ti, ok := ParseTCPInfo(b)
		if ok != (len(b) >= 104) || (ti.HasTotalRTO && len(b) < 242) {
			t.Fatalf("len %d: ok=%v %+v", len(b), ok, ti)
		}
	})
}

func FuzzParseSocket(f *testing.F) {
	f.Add(make([]byte, sizeofDiagMsg))
	msg := make([]byte, sizeofDiagMsg)
	msg[0] = afInet6
	f.Add(append(msg, 0x1c, 0x01, 0x02, 0x00))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseSocket(b) // must not panic
	})
}

// nlmsg frames payload as one netlink message of type typ, padded to 4.
func nlmsg(typ uint16, payload []byte) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(payload)+3)
	binary.NativeEndian.PutUint32(b[0:], uint32(unix.NLMSG_HDRLEN+len(payload)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	b = append(b, payload...)
	for len(b)%unix.NLMSG_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

// diagMsg is an IPv4 inet_diag_msg with the given cookie and local port.
func diagMsg(cookie uint64, port uint16) []byte {
	m := make([]byte, sizeofDiagMsg)
	m[0], m[1] = afInet, StateClose
	binary.BigEndian.PutUint16(m[4:], port)
	copy(m[8:12], []byte{127, 0, 0, 1})
	binary.NativeEndian.PutUint32(m[44:], uint32(cookie))
	binary.NativeEndian.PutUint32(m[48:], uint32(cookie>>32))
	return m
}

func TestAppendDestroyed(t *testing.T) {
	two := append(nlmsg(sockDiagByFamily, diagMsg(7, 80)), nlmsg(sockDiagByFamily, diagMsg(1<<40|9, 443))...)
	for _, tc := range []struct {
		name    string
		b       []byte
		cookies []uint64
	}{
		{"one", nlmsg(sockDiagByFamily, diagMsg(7, 80)), []uint64{7}},
		{"two in one datagram", two, []uint64{7, 1<<40 | 9}},
		{"other types skipped", append(nlmsg(unix.NLMSG_DONE, []byte{0, 0, 0, 0}), nlmsg(sockDiagByFamily, diagMsg(3, 22))...), []uint64{3}},
		{"unparsable message skipped", append(nlmsg(sockDiagByFamily, []byte{1, 2}), nlmsg(sockDiagByFamily, diagMsg(4, 22))...), []uint64{4}},
		{"length past the end", append(nlmsg(sockDiagByFamily, diagMsg(5, 22)), 0xff, 0xff, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), []uint64{5}},
		{"short header", []byte{1, 2, 3}, nil},
		{"empty", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			for _, s := range appendDestroyed(nil, tc.b, slog.New(slog.DiscardHandler)) {
				got = append(got, s.Cookie)
			}
			if !slices.Equal(got, tc.cookies) {
				t.Errorf("cookies %v, want %v", got, tc.cookies)
			}
		})
	}
}

func FuzzAppendDestroyed(f *testing.F) {
	f.Add(nlmsg(sockDiagByFamily, diagMsg(7, 80)))
	f.Add(append(nlmsg(sockDiagByFamily, diagMsg(7, 80)), nlmsg(unix.NLMSG_DONE, nil)...))
	f.Add([]byte{16, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if got := appendDestroyed(nil, b, slog.New(slog.DiscardHandler)); len(got) > len(b)/(unix.NLMSG_HDRLEN+sizeofDiagMsg) {
			t.Fatalf("%d sockets from %d bytes", len(got), len(b))
		}
	})
}

func TestDumpReaderMessages(t *testing.T) {
	withSeq := func(m []byte, seq uint32) []byte {
		binary.NativeEndian.PutUint32(m[8:], seq)
		return m
	}
	errMsg := func(code int32) []byte {
		b := make([]byte, 20)
		binary.NativeEndian.PutUint32(b, uint32(code))
		return nlmsg(unix.NLMSG_ERROR, b)
	}
	for _, tc := range []struct {
		name    string
		dgram   []byte
		cookies []uint64
		done    bool
		err     error
	}{
		{"sockets then done", slices.Concat(withSeq(nlmsg(sockDiagByFamily, diagMsg(1, 80)), 5), withSeq(nlmsg(sockDiagByFamily, diagMsg(2, 80)), 5), withSeq(nlmsg(unix.NLMSG_DONE, []byte{0, 0, 0, 0}), 5)), []uint64{1, 2}, true, nil},
		{"an earlier dump's messages skipped", slices.Concat(withSeq(nlmsg(sockDiagByFamily, diagMsg(1, 80)), 4), withSeq(nlmsg(unix.NLMSG_DONE, nil), 4), withSeq(nlmsg(sockDiagByFamily, diagMsg(3, 80)), 5)), []uint64{3}, false, nil},
		{"kernel error", withSeq(errMsg(-int32(unix.ENOENT)), 5), nil, true, unix.ENOENT},
		{"acknowledgment", withSeq(errMsg(0), 5), nil, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			d := dumpReader{seq: 5, log: slog.New(slog.DiscardHandler), fn: func(s *Socket) error {
				got = append(got, s.Cookie)
				return nil
			}}
			eachMessage(tc.dgram, d.message)
			if !slices.Equal(got, tc.cookies) || d.done != tc.done || !errors.Is(d.err, tc.err) || (tc.err == nil && d.err != nil) {
				t.Errorf("cookies %v done %v err %v; want %v %v %v", got, d.done, d.err, tc.cookies, tc.done, tc.err)
			}
		})
	}
}

func TestTCPInfoCounters(t *testing.T) {
	b := make([]byte, 248)
	le := binary.NativeEndian
	le.PutUint32(b[offRTT:], 1234)
	le.PutUint32(b[offTotalRetrans:], 7)
	le.PutUint64(b[offBytesAcked:], 1<<40)
	le.PutUint64(b[offBytesRecv:], 99)
	le.PutUint32(b[offSegsOut:], 5)
	le.PutUint32(b[offSegsIn:], 6)
	le.PutUint16(b[offTotalRTO:], 3)
	info, ok := ParseTCPInfo(b)
	c := info.Counters()
	if !ok || c.SRTTUS != 1234 || c.TotalRetrans != 7 || c.BytesAcked != 1<<40 || c.BytesReceived != 99 ||
		c.SegsOut != 5 || c.SegsIn != 6 || c.TotalRTO != 3 {
		t.Errorf("got %+v, %v", c, ok)
	}
	if info, ok := ParseTCPInfo(b[:offTotalRTO]); !ok || info.Counters().TotalRTO != 0 {
		t.Errorf("older kernel: got %+v, %v", info, ok)
	}
}

func TestParseSocketCgroupID(t *testing.T) {
	attr := make([]byte, 12) // nlattr header + u64
	binary.NativeEndian.PutUint16(attr[0:], 12)
	binary.NativeEndian.PutUint16(attr[2:], inetDiagCgroupID)
	binary.NativeEndian.PutUint64(attr[4:], 4242)
	s, err := ParseSocket(append(diagMsg(9, 80), attr...))
	if err != nil || !s.HasCgroup || s.CgroupID != 4242 || s.Cookie != 9 {
		t.Errorf("got %+v, %v", s, err)
	}
}
