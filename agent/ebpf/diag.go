package ebpf

import "github.com/flowlens/flowlens/agent/sockdiag"

// Address families, as the kernel stores them in the program's endpoints.
const (
	afInet  = 2
	afInet6 = 10
)

// baselineState says a dumped socket is a connection whose counters count
// as a baseline: established or closing, not a listener, a connect still
// in progress, a request or a TIME_WAIT socket (no full socket behind it).
func baselineState(state uint8) bool {
	switch state {
	case sockdiag.StateListen, sockdiag.StateSynSent, sockdiag.StateSynRecv,
		sockdiag.StateTimeWait, sockdiag.StateNewSynRecv, sockdiag.StateClose:
		return false
	}
	return true
}
