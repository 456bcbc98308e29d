package geoip

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/topology"
)

var (
	paris = Info{ASN: 64500, ASName: "Example Transit", City: "Paris", Subdivision: "Île-de-France",
		Country: "FR", CountryName: "France", Latitude: 48.8566, Longitude: 2.3522}
	lyon = Info{ASN: 64501, ASName: "Lyon Fibre", City: "Lyon", Subdivision: "Auvergne-Rhône-Alpes",
		Country: "FR", CountryName: "France", Latitude: 45.764, Longitude: 4.8357}
	v6 = Info{ASN: 64502, ASName: "V6 Net", City: "Berlin", Subdivision: "Land Berlin",
		Country: "DE", CountryName: "Germany", Latitude: 52.52, Longitude: 13.405}
)

func testEntries() []Entry {
	return []Entry{
		{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Info: paris},
		{Prefix: netip.MustParsePrefix("89.160.20.0/24"), Info: lyon},
		{Prefix: netip.MustParsePrefix("2a02:1000::/32"), Info: v6},
	}
}

// writeDB writes entries with o into dir and returns the path.
func writeDB(t *testing.T, dir, name string, o WriteOptions) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := Write(p, testEntries(), o); err != nil {
		t.Fatal(err)
	}
	return p
}

// coords drops the coordinates' last digits: IPinfo stores them as text
// with four decimals.
func round(i Info) Info {
	i.Latitude = float64(int(i.Latitude*1e4)) / 1e4
	i.Longitude = float64(int(i.Longitude*1e4)) / 1e4
	return i
}

func TestLayouts(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name      string
		city, asn WriteOptions
		want      func(Info) Info
	}{
		{"maxmind city + asn files", WriteOptions{City: true}, WriteOptions{ASN: true}, func(i Info) Info { return i }},
		{"ipinfo location + asn files", WriteOptions{Layout: LayoutIPinfo, City: true}, WriteOptions{Layout: LayoutIPinfo, ASN: true},
			func(i Info) Info { i.CountryName = ""; return round(i) }},
		{"one combined maxmind file given to both flags", WriteOptions{}, WriteOptions{}, func(i Info) Info { return i }},
		{"maxmind city with ipinfo asn", WriteOptions{City: true}, WriteOptions{Layout: LayoutIPinfo, ASN: true}, func(i Info) Info { return i }},
	}
	for n, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cityPath := writeDB(t, dir, "city"+string(rune('a'+n))+".mmdb", c.city)
			asnPath := cityPath
			if c.name != "one combined maxmind file given to both flags" {
				asnPath = writeDB(t, dir, "asn"+string(rune('a'+n))+".mmdb", c.asn)
			}
			db, err := New(Config{CityPath: cityPath, ASNPath: asnPath}, nil, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				ip   string
				want Info
			}{
				{"81.2.69.142", paris}, {"89.160.20.1", lyon}, {"2a02:1000::1", v6},
				{"::ffff:81.2.69.7", paris}, {"8.8.8.8", Info{}},
			} {
				want := tc.want
				if want != (Info{}) {
					want = c.want(want)
				}
				if got := db.Lookup(netip.MustParseAddr(tc.ip)); got != want {
					t.Errorf("%s: got %+v, want %+v", tc.ip, got, want)
				}
			}
		})
	}
}

func TestNoDatabase(t *testing.T) {
	db, err := New(Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if db.Configured() {
		t.Fatal("configured without files")
	}
	loc := topology.Location{Kind: topology.KindInternet}
	db.EnrichRemote(netip.MustParseAddr("81.2.69.1"), &loc)
	if loc != (topology.Location{Kind: topology.KindInternet}) {
		t.Fatalf("enriched without a database: %+v", loc)
	}
}

func TestEnrichRemoteOnlyInternet(t *testing.T) {
	p := writeDB(t, t.TempDir(), "db.mmdb", WriteOptions{})
	db, err := New(Config{CityPath: p}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	inet := topology.Location{Kind: topology.KindInternet}
	db.EnrichRemote(netip.MustParseAddr("81.2.69.1"), &inet)
	want := topology.Location{Kind: topology.KindInternet, ASN: 64500, ASOrg: "Example Transit", City: "Paris", Country: "FR"}
	if inet != want {
		t.Errorf("internet: got %+v, want %+v", inet, want)
	}
	sub := topology.Location{Kind: topology.KindSubnet, Subnet: "web"}
	db.EnrichRemote(netip.MustParseAddr("81.2.69.1"), &sub)
	if sub.ASN != 0 {
		t.Errorf("a subnet address was enriched: %+v", sub)
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mmdb")
	os.WriteFile(garbage, []byte("not a database"), 0o600)
	// A database of another kind (connection types) has neither layout.
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-Connection-Type", IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	_, n, _ := net.ParseCIDR("81.2.69.0/24")
	tree.Insert(n, mmdbtype.Map{"connection_type": mmdbtype.String("Cable/DSL")})
	other := filepath.Join(dir, "conntype.mmdb")
	f, _ := os.Create(other)
	tree.WriteTo(f)
	f.Close()
	if _, err := New(Config{ASNPath: other}, nil, nil); !errors.Is(err, ErrNoFields) {
		t.Errorf("connection-type database: err %v, want ErrNoFields", err)
	}
	for _, p := range []string{filepath.Join(dir, "missing.mmdb"), garbage} {
		if _, err := New(Config{CityPath: p}, nil, nil); err == nil {
			t.Errorf("%s: no error", p)
		}
	}
}

func TestReloadReplacedFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "db.mmdb")
	if err := Write(p, testEntries(), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	db, err := New(Config{CityPath: p, ReloadEvery: 10 * time.Millisecond}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("81.2.69.9")
	if got := db.Lookup(ip); got.ASN != 64500 {
		t.Fatalf("before: %+v", got)
	}
	moved := paris
	moved.ASN, moved.City = 64999, "Marseille"
	if err := Write(p, []Entry{{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Info: moved}}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Make sure the modification time differs on coarse file systems.
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(p, later, later)
	db.Start()
	defer db.Stop(t.Context())
	deadline := time.Now().Add(10 * time.Second)
	for db.Lookup(ip).ASN != 64999 {
		if time.Now().After(deadline) {
			t.Fatalf("not reloaded: %+v", db.Lookup(ip))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := db.Lookup(ip); got.City != "Marseille" {
		t.Fatalf("after reload: %+v", got)
	}
	// A broken replacement keeps the last good version.
	os.WriteFile(p, []byte("truncated"), 0o600)
	if n, err := db.Reload(true); err == nil || n != 0 {
		t.Fatalf("broken file: reloaded %d, err %v", n, err)
	}
	if got := db.Lookup(ip); got.ASN != 64999 {
		t.Fatalf("lost the good version: %+v", got)
	}
}

func TestCacheBounded(t *testing.T) {
	c := newCache(100)
	for i := 0; i < 1000; i++ {
		c.put(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Info{ASN: uint32(i)})
	}
	if n := c.len(); n > 100 {
		t.Fatalf("cache holds %d entries, bound 100", n)
	}
	if v, ok := c.get(netip.AddrFrom4([4]byte{10, 0, 3, 231})); !ok || v.ASN != 999 {
		t.Fatalf("latest entry: %v %v", v, ok)
	}
}

func TestParseASN(t *testing.T) {
	for in, want := range map[any]uint32{"AS64500": 64500, "as15169": 15169, " 13335 ": 13335, "ASX": 0, uint64(7): 7, uint32(9): 9, nil: 0} {
		if got := parseASN(in); got != want {
			t.Errorf("parseASN(%v) = %d, want %d", in, got, want)
		}
	}
}

func BenchmarkLookupCached(b *testing.B) {
	p := filepath.Join(b.TempDir(), "db.mmdb")
	Write(p, testEntries(), WriteOptions{})
	db, _ := New(Config{CityPath: p}, nil, nil)
	ip := netip.MustParseAddr("81.2.69.142")
	db.Lookup(ip)
	b.ReportAllocs()
	for b.Loop() {
		db.Lookup(ip)
	}
}

func BenchmarkLookupUncached(b *testing.B) {
	p := filepath.Join(b.TempDir(), "db.mmdb")
	Write(p, testEntries(), WriteOptions{})
	db, _ := New(Config{CityPath: p, CacheSize: 1}, nil, nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		db.Lookup(netip.AddrFrom4([4]byte{81, 2, 69, byte(i)}))
	}
}
