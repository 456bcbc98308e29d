package logquery

import (
	"math/rand/v2"
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

// TestIPv4SubnetPattern: the generated prefix and pattern accept exactly
// the addresses netip says are in the subnet.
func TestIPv4SubnetPattern(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		var a [4]byte
		for j := range a {
			a[j] = byte(rng.IntN(256))
		}
		p := netip.PrefixFrom(netip.AddrFrom4(a), rng.IntN(32)).Masked()
		prefix, pattern := ipv4SubnetPattern(p)
		re := regexp.MustCompile(`^(?:` + pattern + `)$`)
		for k := 0; k < 200; k++ {
			b := a
			// near the prefix most of the time, so both answers occur
			for j := p.Bits() / 8; j < 4; j++ {
				if rng.IntN(3) > 0 {
					b[j] = byte(rng.IntN(256))
				}
			}
			addr := netip.AddrFrom4(b)
			s := addr.String()
			got := strings.HasPrefix(s, prefix) && re.MatchString(s)
			if want := p.Contains(addr); got != want {
				t.Fatalf("%s in %s: pattern says %v (prefix %q, pattern %s)", s, p, got, prefix, pattern)
			}
		}
		for _, bad := range []string{"", "1.2.3", "1.2.3.4.5", "01.2.3.4", "256.1.1.1", "a.b.c.d", prefix + "300.1"} {
			if strings.HasPrefix(bad, prefix) && re.MatchString(bad) {
				t.Fatalf("%q matches %s", bad, p)
			}
		}
	}
}

// TestIPv6Pattern: the validity pattern agrees with netip on valid and
// invalid forms.
func TestIPv6Pattern(t *testing.T) {
	re := regexp.MustCompile(`^(?:` + ipv6Pattern + `)$`)
	for _, s := range []string{"::", "::1", "1::", "2001:db8::1", "2001:db8:1234:a100:8d6e:3477:df66:f105", "fe80::1:2:3:4:5",
		"::ffff:192.0.2.1", "64:ff9b::192.0.2.33", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
		":", ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1", "1.2.3.4", "::ffff:1.2.3", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8"} {
		_, err := netip.ParseAddr(s)
		want := err == nil && strings.Contains(s, ":")
		if got := re.MatchString(s); got != want {
			t.Errorf("%q: pattern %v, netip %v", s, got, want)
		}
	}
}
