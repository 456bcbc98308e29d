package agent

import (
	"log/slog"
	"net"
	"net/netip"

	"github.com/flowlens/flowlens/agent/sockdiag"
	"github.com/flowlens/flowlens/wire/flowlensv1"
)

// hostInfo is the report's host metadata. The addresses are those of the
// namespace the agent watches (inside --netns when set), without loopback
// and link-local ones, which say nothing about where the host sits.
func hostInfo(cfg *Config, mode string, log *slog.Logger) *flowlensv1.Host {
	h := &flowlensv1.Host{HostId: cfg.HostID, Hostname: hostname(), AgentVersion: cfg.Version, CollectorMode: mode}
	var addrs []net.Addr
	var err error
	if cfg.Netns != "" {
		err = sockdiag.InNetns(cfg.Netns, func() (err error) {
			addrs, err = net.InterfaceAddrs()
			return err
		})
	} else {
		addrs, err = net.InterfaceAddrs()
	}
	if err != nil {
		log.Warn("could not list the host's addresses; reports carry none", "error", err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
			continue
		}
		h.Addresses = append(h.Addresses, ip.AsSlice())
	}
	return h
}
