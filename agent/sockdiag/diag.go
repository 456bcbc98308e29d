package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Kernel constants (include/uapi/linux/{sock_diag,inet_diag,tcp}.h).
const (
	sockDiagByFamily = 20     // SOCK_DIAG_BY_FAMILY
	tcpDiagGetSock   = 18     // TCPDIAG_GETSOCK: the inet_diag_req (v1) interface
	inetDiagInfo     = 2      // INET_DIAG_INFO attribute
	inetDiagCgroupID = 21     // INET_DIAG_CGROUP_ID attribute (kernels >= 5.9)
	nlaTypeMask      = 0x3fff // nlattr type without the NESTED and NET_BYTEORDER flags
	ipprotoTCP       = 6
	afInet           = 2
	afInet6          = 10

	// SKNLGRP_INET_TCP_DESTROY and SKNLGRP_INET6_TCP_DESTROY.
	groupTCPDestroy  = 1
	groupTCP6Destroy = 3
)

// TCP states (include/net/tcp_states.h).
const (
	StateEstablished = 1
	StateSynSent     = 2
	StateSynRecv     = 3
	StateTimeWait    = 6
	StateClose       = 7
	StateListen      = 10
	StateNewSynRecv  = 12
)

// Sizes of the fixed structs.
const (
	sizeofReq     = 56 // struct inet_diag_req_v2
	sizeofReqV1   = 60 // struct inet_diag_req
	sizeofDiagMsg = 72 // struct inet_diag_msg
)

// stateMask selects states for a dump request.
func stateMask(states ...int) uint32 {
	var m uint32
	for _, s := range states {
		m |= 1 << s
	}
	return m
}

// connStates are the states the dumps ask the kernel for (it filters
// them, so it sends nothing else): everything but listeners, TIME_WAIT and
// request sockets (NEW_SYN_RECV), which are not full sockets and carry no
// tcp_info (a TIME_WAIT socket's counters were final when its full socket
// was destroyed), and connecting sockets (SYN_SENT, SYN_RECV): nothing is
// reported of a connection before it is established, and one that ends
// before a dump sees it established is counted from its destroy message.
// CLOSE is kept: a reset or refused socket stays there until its owner
// closes the fd, and a known one must not look as if it had vanished.
var connStates = uint32(0xffe) &^ stateMask(StateListen, StateTimeWait, StateSynSent, StateSynRecv)

// allStates selects every socket.
const allStates = 0xffffffff

// Socket is one parsed inet_diag_msg.
type Socket struct {
	Family  uint8
	State   uint8
	Local   netip.AddrPort
	Remote  netip.AddrPort
	Cookie  uint64
	Info    TCPInfo
	HasInfo bool
	// CgroupID is the socket's cgroup v2 id (kernels >= 5.9: HasCgroup).
	CgroupID  uint64
	HasCgroup bool
}

var errShortMsg = errors.New("inet_diag_msg too short")

// ParseSocket decodes an inet_diag_msg and its attributes.
func ParseSocket(b []byte) (Socket, error) {
	var s Socket
	if len(b) < sizeofDiagMsg {
		return s, fmt.Errorf("%w: %d bytes", errShortMsg, len(b))
	}
	s.Family, s.State = b[0], b[1]
	id := b[4:52] // struct inet_diag_sockid
	sport, dport := binary.BigEndian.Uint16(id[0:]), binary.BigEndian.Uint16(id[2:])
	var src, dst netip.Addr
	switch s.Family {
	case afInet:
		src, dst = netip.AddrFrom4([4]byte(id[4:8])), netip.AddrFrom4([4]byte(id[20:24]))
	case afInet6:
		src, dst = netip.AddrFrom16([16]byte(id[4:20])), netip.AddrFrom16([16]byte(id[20:36]))
	default:
		return s, fmt.Errorf("inet_diag_msg: unknown family %d", s.Family)
	}
	s.Local, s.Remote = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	ne := binary.NativeEndian
	s.Cookie = uint64(ne.Uint32(id[40:])) | uint64(ne.Uint32(id[44:]))<<32
	if len(b) == sizeofDiagMsg {
		return s, nil
	}
	// The attributes, walked in place (struct nlattr: length, type, value
	// padded to 4 bytes).
	for attrs := b[sizeofDiagMsg:]; len(attrs) > 0; {
		if len(attrs) < 4 {
			return s, fmt.Errorf("inet_diag_msg attributes: %d trailing bytes", len(attrs))
		}
		size := int(ne.Uint16(attrs[0:2]))
		if size < 4 || size > len(attrs) {
			return s, fmt.Errorf("inet_diag_msg attributes: length %d of %d bytes", size, len(attrs))
		}
		switch value := attrs[4:size]; ne.Uint16(attrs[2:4]) & nlaTypeMask {
		case inetDiagInfo:
			s.Info, s.HasInfo = ParseTCPInfo(value)
		case inetDiagCgroupID:
			if len(value) >= 8 {
				s.CgroupID, s.HasCgroup = ne.Uint64(value), true
			}
		}
		attrs = attrs[min((size+3)&^3, len(attrs)):]
	}
	return s, nil
}
