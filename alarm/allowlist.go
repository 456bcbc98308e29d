package alarm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// ErrNotAllowed marks a notification target outside --notify-allowed-hosts.
var ErrNotAllowed = errors.New("not in --notify-allowed-hosts")

// Allowlist is where notifications may go (--notify-allowed-hosts). Its
// entries are host names ("hooks.example.com"), name suffixes
// ("*.example.com": any name below example.com) and addresses or networks
// ("192.0.2.10", "10.20.0.0/16", "::1").
//
// A target whose host name matches a name entry is allowed wherever that
// name resolves: the operator trusts the DNS of the names listed. Any other
// target is allowed only at the addresses it connects to, checked on every
// connection after resolution, so a name that resolves into a listed
// network when the alarm is created and to 127.0.0.1 later (DNS
// rebinding) is refused then.
type Allowlist struct {
	names    map[string]bool
	suffixes []string // ".example.com"
	prefixes []netip.Prefix
	resolve  func(ctx context.Context, host string) ([]netip.Addr, error)
}

// ParseAllowlist reads the entries of --notify-allowed-hosts (each may be
// a comma-separated list). No entries give a nil list: every target is
// allowed.
func ParseAllowlist(entries []string) (*Allowlist, error) {
	a := &Allowlist{names: map[string]bool{}, resolve: lookupHost}
	n := 0
	for _, list := range entries {
		for _, e := range strings.Split(list, ",") {
			e = strings.ToLower(strings.TrimSpace(e))
			if e == "" {
				continue
			}
			if err := a.add(e); err != nil {
				return nil, fmt.Errorf("--notify-allowed-hosts %q: %w", e, err)
			}
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	return a, nil
}

func (a *Allowlist) add(e string) error {
	if strings.Contains(e, "/") {
		p, err := netip.ParsePrefix(e)
		if err != nil {
			return errors.New("want a host name, *.domain, an address or a network such as 10.0.0.0/8")
		}
		a.prefixes = append(a.prefixes, p.Masked())
		return nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
		ip = ip.Unmap()
		a.prefixes = append(a.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
		return nil
	}
	name, wildcard := strings.CutPrefix(e, "*.")
	name = strings.TrimSuffix(name, ".")
	if name == "" || strings.ContainsAny(name, ":/*@ ") {
		return errors.New("want a host name, *.domain, an address or a network such as 10.0.0.0/8")
	}
	if wildcard {
		a.suffixes = append(a.suffixes, "."+name)
	} else {
		a.names[name] = true
	}
	return nil
}

// nameAllowed says whether host (not an address) matches a name entry.
func (a *Allowlist) nameAllowed(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if a.names[host] {
		return true
	}
	for _, s := range a.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

func (a *Allowlist) addrAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// addrs returns the addresses of host this list lets a notification
// connect to; nil with a host name entry (any address of the name).
func (a *Allowlist) addrs(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if !a.addrAllowed(ip) {
			return nil, fmt.Errorf("address %s: %w", ip, ErrNotAllowed)
		}
		return []netip.Addr{ip}, nil
	}
	if a.nameAllowed(host) {
		return nil, nil
	}
	if len(a.prefixes) == 0 {
		return nil, fmt.Errorf("host %s: %w", host, ErrNotAllowed)
	}
	ips, err := a.resolve(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("host %s: DNS lookup failed", host)
	}
	var ok []netip.Addr
	for _, ip := range ips {
		if a.addrAllowed(ip) {
			ok = append(ok, ip)
		}
	}
	if len(ok) == 0 {
		return nil, fmt.Errorf("host %s resolves to %s: %w", host, joinAddrs(ips), ErrNotAllowed)
	}
	return ok, nil
}

// CheckURL refuses a target the list does not allow (alarm creation).
func (a *Allowlist) CheckURL(ctx context.Context, raw string) error {
	if a == nil {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = a.addrs(ctx, u.Hostname())
	return err
}

// dialContext connects only where the list allows: to a listed name as
// resolved, else to the allowed addresses of the host, which are dialled
// directly so that the name is not resolved a second time.
func (a *Allowlist) dialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips, err := a.addrs(ctx, host)
		if err != nil {
			return nil, err
		}
		if ips == nil {
			return d.DialContext(ctx, network, addr)
		}
		var errs []error
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}

func lookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

func joinAddrs(ips []netip.Addr) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ", ")
}
