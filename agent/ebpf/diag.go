package ebpf

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"

	"github.com/flowlens/flowlens/agent/collect"
)

// A minimal sock_diag client, used once at start to seed the sockets that
// already exist. It is a small copy of what agent/sockdiag does, kept here
// so that the two collectors do not depend on each other.

// Kernel constants (include/uapi/linux/{sock_diag,inet_diag}.h, net/tcp_states.h).
const (
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
	attrInfo         = 2  // INET_DIAG_INFO
	attrCgroupID     = 21 // INET_DIAG_CGROUP_ID (kernels >= 5.9)
	ipprotoTCP       = 6
	afInet           = 2
	afInet6          = 10
	sizeofDiagReq    = 56 // struct inet_diag_req_v2
	sizeofDiagMsg    = 72 // struct inet_diag_msg

	tcpEstablished = 1
	tcpSynSent     = 2
	tcpSynRecv     = 3
	tcpTimeWait    = 6
	tcpClose       = 7
	tcpListen      = 10
	tcpNewSynRecv  = 12
)

// tcp_info offsets (include/uapi/linux/tcp.h).
const (
	offRTT          = 68
	offTotalRetrans = 100
	offBytesAcked   = 120
	offBytesRecv    = 128
	offSegsOut      = 136
	offSegsIn       = 140
	offTotalRTO     = 240
)

// diagSocket is one socket of a dump.
type diagSocket struct {
	State     uint8
	Local     netip.AddrPort
	Remote    netip.AddrPort
	Cookie    uint64
	CgroupID  uint64 // valid when HasCgroup (kernels >= 5.9)
	HasCgroup bool
	HasInfo   bool
	Counters  collect.Counters
}

// dumpTCP returns every TCP socket (IPv4 and IPv6) of the caller's network
// namespace with its tcp_info.
func dumpTCP() ([]diagSocket, error) {
	conn, err := netlink.Dial(4 /* NETLINK_SOCK_DIAG */, nil)
	if err != nil {
		return nil, fmt.Errorf("sock_diag dial: %w", err)
	}
	defer conn.Close()
	var out []diagSocket
	for _, family := range []uint8{afInet, afInet6} {
		msgs, err := conn.Execute(diagRequest(family))
		if err != nil {
			return nil, fmt.Errorf("sock_diag dump (family %d): %w", family, err)
		}
		for _, m := range msgs {
			s, err := parseDiag(m.Data)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// diagRequest asks for every state's sockets with tcp_info.
func diagRequest(family uint8) netlink.Message {
	b := make([]byte, sizeofDiagReq)
	b[0] = family
	b[1] = ipprotoTCP
	b[2] = 1 << (attrInfo - 1)
	binary.NativeEndian.PutUint32(b[4:], 0xffffffff)
	return netlink.Message{
		Header: netlink.Header{Type: sockDiagByFamily, Flags: netlink.Request | netlink.Dump},
		Data:   b,
	}
}

// parseDiag decodes one inet_diag_msg and the attributes it uses.
func parseDiag(b []byte) (diagSocket, error) {
	var s diagSocket
	if len(b) < sizeofDiagMsg {
		return s, fmt.Errorf("sock_diag: short message (%d bytes)", len(b))
	}
	s.State = b[1]
	s.Local = diagAddrPort(b[0], b[8:24], b[4:6])
	s.Remote = diagAddrPort(b[0], b[24:40], b[6:8])
	s.Cookie = uint64(binary.NativeEndian.Uint32(b[44:])) | uint64(binary.NativeEndian.Uint32(b[48:]))<<32
	ad, err := netlink.NewAttributeDecoder(b[sizeofDiagMsg:])
	if err != nil {
		return s, fmt.Errorf("sock_diag attributes: %w", err)
	}
	for ad.Next() {
		switch ad.Type() {
		case attrInfo:
			s.Counters, s.HasInfo = parseTCPInfo(ad.Bytes())
		case attrCgroupID:
			s.CgroupID, s.HasCgroup = ad.Uint64(), true
		}
	}
	if err := ad.Err(); err != nil {
		return s, fmt.Errorf("sock_diag attributes: %w", err)
	}
	return s, nil
}

// diagAddrPort builds an address from inet_diag_sockid fields (port in
// network order).
func diagAddrPort(family uint8, addr, port []byte) netip.AddrPort {
	p := binary.BigEndian.Uint16(port)
	if family == afInet {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(addr[:4])), p)
	}
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte(addr)), p)
}

// parseTCPInfo reads the counters the collector reports from a tcp_info
// of any length (older kernels send a shorter struct).
func parseTCPInfo(b []byte) (collect.Counters, bool) {
	var c collect.Counters
	if len(b) < offSegsIn+4 {
		return c, false
	}
	le := binary.NativeEndian
	c.SRTTUS = le.Uint32(b[offRTT:])
	c.TotalRetrans = uint64(le.Uint32(b[offTotalRetrans:]))
	c.BytesAcked = le.Uint64(b[offBytesAcked:])
	c.BytesReceived = le.Uint64(b[offBytesRecv:])
	c.SegsOut = uint64(le.Uint32(b[offSegsOut:]))
	c.SegsIn = uint64(le.Uint32(b[offSegsIn:]))
	if len(b) >= offTotalRTO+2 {
		c.TotalRTO = uint64(le.Uint16(b[offTotalRTO:]))
	}
	return c, true
}

// baselineState says a dumped socket is a connection whose counters count
// as a baseline: established or closing, not a listener, a connect still
// in progress, a request or a TIME_WAIT socket (no full socket behind it).
func baselineState(state uint8) bool {
	switch state {
	case tcpListen, tcpSynSent, tcpSynRecv, tcpTimeWait, tcpNewSynRecv, tcpClose:
		return false
	}
	return true
}
