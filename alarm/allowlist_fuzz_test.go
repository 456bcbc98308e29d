package alarm

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// FuzzAllowlist: any --notify-allowed-hosts text parses or is refused
// without panicking; what parses allows what it lists, and checking any
// URL against it never resolves through the network here.
func FuzzAllowlist(f *testing.F) {
	for _, s := range []string{"hooks.example.com", "*.corp.example,10.0.0.0/8", "::1", "[::1]", "192.0.2.7", "*.", "a/b", ""} {
		f.Add(s, "http://hooks.example.com:8080/x")
	}
	f.Fuzz(func(t *testing.T, entries, target string) {
		a, err := ParseAllowlist([]string{entries})
		if err != nil || a == nil {
			return
		}
		a.resolve = func(context.Context, string) ([]netip.Addr, error) { return nil, errors.New("no DNS in fuzzing") }
		a.CheckURL(context.Background(), target) //nolint:errcheck // only must not panic
		for _, e := range strings.Split(entries, ",") {
			e = strings.ToLower(strings.TrimSpace(e))
			if ip, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil && !a.addrAllowed(ip) {
				t.Errorf("entry %q does not allow its own address", e)
			}
			if e != "" && !strings.ContainsAny(e, "/*[]:") {
				if _, err := netip.ParseAddr(e); err != nil && !a.nameAllowed(e) {
					t.Errorf("entry %q does not allow its own name", e)
				}
			}
		}
	})
}
