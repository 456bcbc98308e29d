package geoip

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the database reader and the layout
// detection: a corrupt or hostile file must give an error, never a panic.
func FuzzParse(f *testing.F) {
	dir := f.TempDir()
	for i, l := range Layouts() {
		o := WriteOptions{Layout: l}
		p := filepath.Join(dir, string(rune('a'+i))+".mmdb")
		if err := Write(p, testEntries(), o); err != nil {
			f.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("\xab\xcd\xefMaxMind.com"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parse(data)
		if err != nil {
			return
		}
		defer s.reader.Close()
		for _, ip := range []string{"81.2.69.1", "2a02:1000::1", "1.1.1.1"} {
			var rec map[string]any
			if s.reader.Lookup(netip.MustParseAddr(ip)).Decode(&rec) == nil && rec != nil {
				var info Info
				detect(rec)
				extractLocation(rec, &info)
				extractASN(rec, &info)
			}
		}
	})
}
