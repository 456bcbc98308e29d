package logquery

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
)

// IP functions in portable SQL. DuckDB's inet extension is not built in
// and cannot be downloaded here. Addresses are checked with RE2 patterns
// generated here. An IPv4 subnet becomes a text prefix plus a pattern of
// exactly its addresses (see ipv4SubnetPattern). An IPv6 address is
// compared in a canonical form, 32 lower-case hex digits with every group
// expanded, which sorts like the 128-bit number, with the range
// [first, last] of the prefix computed in Go. Patterns and bounds are
// bound as parameters. The SQL never raises an error on a bad address
// (bounded list sizes): such rows are simply in no subnet.

const ipv4Octet = `(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])`

// ipv4Pattern matches a dotted-quad IPv4 address, nothing else.
var ipv4Pattern = ipv4Octet + `(?:\.` + ipv4Octet + `){3}`

// ipv6Pattern matches the textual IPv6 forms of RFC 4291 section 2.2:
// eight groups, "::" standing for one or more zero groups, and a dotted
// IPv4 address as the last 32 bits. Zone indexes (%eth0) are not accepted.
var ipv6Pattern = buildIPv6Pattern()

func buildIPv6Pattern() string {
	const h = `[0-9A-Fa-f]{1,4}`
	groups := func(n int) string { // n groups, each followed by ':'
		switch n {
		case 0:
			return ""
		case 1:
			return h + ":"
		}
		return `(?:` + h + `:){` + strconv.Itoa(n) + `}`
	}
	before := func(n int) string { // n groups joined by ':' (no trailing ':')
		if n == 0 {
			return ""
		}
		return groups(n-1) + h
	}
	alts := []string{groups(7) + h, groups(6) + ipv4Pattern}
	for i := 0; i <= 7; i++ {
		for j := 0; i+j <= 7; j++ {
			alts = append(alts, before(i)+"::"+before(j))
		}
		for j := 0; i+j <= 5; j++ {
			alts = append(alts, before(i)+"::"+groups(j)+ipv4Pattern)
		}
	}
	return `(?:` + strings.Join(alts, "|") + `)`
}

func (c *compiler) validIPv4(s frag) frag { return c.d.RegexFullMatch(s, param(ipv4Pattern)) }
func (c *compiler) validIPv6(s frag) frag { return c.d.RegexFullMatch(s, param(ipv6Pattern)) }
func (c *compiler) validIP(s frag) frag {
	return c.d.RegexFullMatch(s, param(ipv4Pattern+"|"+ipv6Pattern))
}

// ipv4SubnetPattern is an RE2 pattern matching exactly the dotted-quad
// addresses of an IPv4 prefix: its whole octets literally, the octet the
// prefix length cuts as the alternation of its allowed values, and any
// octet after. prefix is the literal text of the whole octets ("10.1.").
// Matching text, not numbers, keeps the check to one regex compiled once
// per query (splitting and casting each address cost about 1 µs per row).
func ipv4SubnetPattern(p netip.Prefix) (prefix, pattern string) {
	a := p.Addr().As4()
	full := p.Bits() / 8
	var b strings.Builder
	for i := 0; i < full; i++ {
		prefix += strconv.Itoa(int(a[i])) + "."
	}
	b.WriteString(strings.ReplaceAll(prefix, ".", `\.`))
	for i := full; i < 4; i++ {
		if i == full && p.Bits()%8 != 0 {
			span := 1 << (8 - p.Bits()%8)
			vals := make([]string, span)
			for v := 0; v < span; v++ {
				vals[v] = strconv.Itoa(int(a[i]) + v)
			}
			b.WriteString("(?:" + strings.Join(vals, "|") + ")")
		} else {
			b.WriteString(ipv4Octet)
		}
		if i < 3 {
			b.WriteString(`\.`)
		}
	}
	return prefix, b.String()
}

// inSubnet compiles an is*InSubnet call for a CIDR literal. family is 4,
// 6, or 0 for either (the CIDR decides).
func (c *compiler) inSubnet(at Pos, s frag, cidr string, family int) (frag, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	if err != nil {
		return frag{}, c.errAt(at, "%q is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32", cidr)
	}
	p = p.Masked()
	if family == 4 && !p.Addr().Is4() {
		return frag{}, c.errAt(at, "%s is not an IPv4 CIDR", cidr)
	}
	if family == 6 && p.Addr().Is4() {
		return frag{}, c.errAt(at, "%s is not an IPv6 CIDR", cidr)
	}
	if p.Addr().Is4() {
		if p.Bits() == 32 {
			return cat("(", s, " = ", param(p.Addr().String()), ")"), nil
		}
		prefix, pattern := ipv4SubnetPattern(p)
		if prefix == "" {
			return c.d.RegexFullMatch(s, param(pattern)), nil
		}
		return cat("(", c.d.StartsWith(s, param(prefix)), " AND ", c.d.RegexFullMatch(s, param(pattern)), ")"), nil
	}
	// IPv6: only addresses with a colon reach the expansion, which is
	// costly (lists per row).
	lo, hi := p.Addr().As16(), lastAddr(p).As16()
	return cat("(", c.d.Contains(s, frag{sql: "':'"}), " AND NOT ", c.d.Contains(s, frag{sql: "'.'"}), " AND ", c.validIPv6(s), " AND ", c.d.IPv6Hex(s), " BETWEEN ",
		param(hex.EncodeToString(lo[:])), " AND ", param(hex.EncodeToString(hi[:])), ")"), nil
}

// lastAddr is the highest address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
