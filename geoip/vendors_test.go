package geoip

import (
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// vendorEntries are networks as the vendors' databases hold them: city
// records, country-only records (MaxMind keeps their location, a country
// centroid, at the top level: 2001:218:: is JP without a city in MaxMind's
// test database), IPv4 and IPv6, networks of several sizes, and ASes
// registered in another country than their clients' (IPinfo's ASN
// database carries that registration country in `country`).
func vendorEntries() []Entry {
	return []Entry{
		{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Info: paris, ASCountry: "US", Continent: "EU"},
		{Prefix: netip.MustParsePrefix("89.160.20.128/25"), Info: lyon, Continent: "EU"},
		{Prefix: netip.MustParsePrefix("2a02:1000::/32"), Info: v6, ASCountry: "NL", Continent: "EU"},
		{Prefix: netip.MustParsePrefix("2001:218::/32"), Info: Info{ASN: 2914, ASName: "NTT America", Country: "JP",
			CountryName: "Japan", Latitude: 35.69, Longitude: 139.69}, ASCountry: "US", Continent: "AS"},
		{Prefix: netip.MustParsePrefix("67.43.156.0/22"), Info: Info{ASN: 35908, ASName: "Bhutan Telecom", Country: "BT",
			CountryName: "Bhutan", Latitude: 27.5, Longitude: 90.5}, Continent: "AS"},
	}
}

// addressForms are the addresses each network must answer for: its first
// and last address, and for IPv4 networks their IPv4-mapped forms and (in
// databases that alias them, as MaxMind's do) their 6to4 forms.
func addressForms(p netip.Prefix, sixToFour bool) []netip.Addr {
	first, last := p.Masked().Addr(), lastAddr(p)
	out := []netip.Addr{first, last}
	if first.Is4() {
		out = append(out, netip.AddrFrom16(first.As16()), netip.AddrFrom16(last.As16()))
		if sixToFour {
			out = append(out, to6to4(first, false), to6to4(last, true))
		}
	}
	return out
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// to6to4 is 2002:AABB:CCDD:: (or its last address) for AA.BB.CC.DD.
func to6to4(v4 netip.Addr, last bool) netip.Addr {
	var b [16]byte
	b[0], b[1] = 0x20, 0x02
	copy(b[2:6], v4.AsSlice())
	if last {
		for i := 6; i < 16; i++ {
			b[i] = 0xff
		}
	}
	return netip.AddrFrom16(b)
}

// Which parts of Info a layout carries, as the vendor documents them.
func keepLocation(i Info) Info {
	return Info{City: i.City, Subdivision: i.Subdivision, Country: i.Country, CountryName: i.CountryName,
		Latitude: i.Latitude, Longitude: i.Longitude}
}
func keepASN(i Info) Info     { return Info{ASN: i.ASN, ASName: i.ASName} }
func keepCountry(i Info) Info { return Info{Country: i.Country, CountryName: i.CountryName} }
func keepAll(i Info) Info     { return i }
func both(a, b func(Info) Info) func(Info) Info {
	return func(i Info) Info {
		x, y := a(i), b(i)
		if x.ASN == 0 {
			x.ASN, x.ASName = y.ASN, y.ASName
		}
		if x.Country == "" {
			x.City, x.Subdivision, x.Country, x.CountryName, x.Latitude, x.Longitude =
				y.City, y.Subdivision, y.Country, y.CountryName, y.Latitude, y.Longitude
		}
		return x
	}
}

// codeOnly: files that spell the country as its code carry no name.
func codeOnly(f func(Info) Info) func(Info) Info {
	return func(i Info) Info { i = f(i); i.CountryName = ""; return i }
}

// textCoords: IPinfo's legacy files keep coordinates as text.
func textCoords(f func(Info) Info) func(Info) Info { return func(i Info) Info { return round(f(i)) } }

// TestVendorLayouts reads a database in every layout MaxMind and IPinfo
// document, alone (given to the flag of its role) and in the two-file
// setups, at the first and last address of every network.
func TestVendorLayouts(t *testing.T) {
	type file struct {
		layout Layout
		dbType string
	}
	cases := []struct {
		name      string
		city, asn *file
		want      func(Info) Info
		sixToFour bool
	}{
		{"maxmind city", &file{LayoutMaxMindCity, ""}, nil, keepLocation, true},
		{"geolite2 city", &file{LayoutMaxMindCity, "GeoLite2-City"}, nil, keepLocation, true},
		{"maxmind country", &file{LayoutMaxMindCountry, ""}, nil, keepCountry, true},
		{"geolite2 country", &file{LayoutMaxMindCountry, "GeoLite2-Country"}, nil, keepCountry, true},
		{"maxmind enterprise (asn under traits)", &file{LayoutMaxMindEnterprise, ""}, nil, keepAll, true},
		{"maxmind isp", nil, &file{LayoutMaxMindISP, ""}, keepASN, true},
		{"geolite2 asn", nil, &file{LayoutMaxMindASN, ""}, keepASN, true},
		{"geoip2 asn", nil, &file{LayoutMaxMindASN, "GeoIP2-ASN"}, keepASN, true},
		{"maxmind city + asn", &file{LayoutMaxMindCity, ""}, &file{LayoutMaxMindASN, ""}, keepAll, true},
		{"geolite2 city + asn", &file{LayoutMaxMindCity, "GeoLite2-City"}, &file{LayoutMaxMindASN, "GeoLite2-ASN"}, keepAll, true},
		{"maxmind country + isp", &file{LayoutMaxMindCountry, ""}, &file{LayoutMaxMindISP, ""}, both(keepCountry, keepASN), true},
		{"maxmind enterprise + asn", &file{LayoutMaxMindEnterprise, ""}, &file{LayoutMaxMindASN, ""}, keepAll, true},
		{"ipinfo lite", &file{LayoutIPinfoLite, ""}, nil, both(keepCountry, keepASN), false},
		{"ipinfo core", &file{LayoutIPinfoCore, ""}, nil, keepAll, false},
		{"ipinfo plus", &file{LayoutIPinfoPlus, ""}, nil, keepAll, false},
		{"ipinfo location", &file{LayoutIPinfoLocation, ""}, nil, keepLocation, false},
		{"ipinfo legacy standard location", &file{LayoutIPinfoLegacy, ""}, nil, textCoords(codeOnly(keepLocation)), false},
		{"ipinfo asn", nil, &file{LayoutIPinfoASN, ""}, keepASN, false},
		{"ipinfo ip-to-asn", nil, &file{LayoutIPinfoIPToASN, ""}, keepASN, false},
		{"ipinfo country+asn", &file{LayoutIPinfoCountryASN, ""}, nil, both(keepCountry, keepASN), false},
		// The two-file setup of issue 18: the ASN file's country is the
		// AS's registration country and must not replace the location.
		{"ipinfo location + asn", &file{LayoutIPinfoLocation, ""}, &file{LayoutIPinfoASN, ""}, keepAll, false},
		{"ipinfo legacy location + asn", &file{LayoutIPinfoLegacy, ""}, &file{LayoutIPinfoASN, ""},
			textCoords(codeOnly(keepAll)), false},
		{"ipinfo lite + ip-to-asn", &file{LayoutIPinfoLite, ""}, &file{LayoutIPinfoIPToASN, ""}, both(keepCountry, keepASN), false},
		{"ipinfo core + asn", &file{LayoutIPinfoCore, ""}, &file{LayoutIPinfoASN, ""}, keepAll, false},
		{"maxmind city + ipinfo asn", &file{LayoutMaxMindCity, ""}, &file{LayoutIPinfoASN, ""}, keepAll, false},
		{"ipinfo location + maxmind asn", &file{LayoutIPinfoLocation, ""}, &file{LayoutMaxMindASN, ""}, keepAll, false},
	}
	dir := t.TempDir()
	write := func(name string, f *file) string {
		if f == nil {
			return ""
		}
		p := filepath.Join(dir, strings.NewReplacer(" ", "-", "+", "", "(", "", ")", "").Replace(name)+".mmdb")
		if err := Write(p, vendorEntries(), WriteOptions{Layout: f.layout, DatabaseType: f.dbType}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{CityPath: write(c.name+"-city", c.city), ASNPath: write(c.name+"-asn", c.asn)}
			db, err := New(cfg, nil, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range vendorEntries() {
				want := c.want(e.Info)
				for _, ip := range addressForms(e.Prefix, c.sixToFour) {
					if got := db.Lookup(ip); got != want {
						t.Errorf("%s (network %s): got %+v, want %+v", ip, e.Prefix, got, want)
					}
				}
			}
			for _, ip := range []string{"8.8.8.8", "81.2.70.0", "2a02:1001::"} {
				if got := db.Lookup(netip.MustParseAddr(ip)); got != (Info{}) {
					t.Errorf("%s is in no network: got %+v", ip, got)
				}
			}
		})
	}
}

// TestFileAnswersOnlyForItsRole: with both flags given, the city file's
// ASNs (Enterprise, IPinfo Core) do not replace the ASN file's, and the
// ASN file's countries do not replace the city file's.
func TestFileAnswersOnlyForItsRole(t *testing.T) {
	dir := t.TempDir()
	city, asn := filepath.Join(dir, "core.mmdb"), filepath.Join(dir, "asn.mmdb")
	if err := Write(city, vendorEntries(), WriteOptions{Layout: LayoutIPinfoCore}); err != nil {
		t.Fatal(err)
	}
	other := []Entry{{Prefix: netip.MustParsePrefix("81.2.69.0/25"),
		Info: Info{ASN: 65010, ASName: "Other Carrier", Country: "CA"}, ASCountry: "CA"}}
	if err := Write(asn, other, WriteOptions{Layout: LayoutIPinfoASN}); err != nil {
		t.Fatal(err)
	}
	db, err := New(Config{CityPath: city, ASNPath: asn}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip   string
		want Info
	}{
		{"81.2.69.1", func() Info { i := paris; i.ASN, i.ASName = 65010, "Other Carrier"; return i }()},
		// The ASN file does not know it: no network, though the city file has one.
		{"81.2.69.200", keepLocation(paris)},
	} {
		if got := db.Lookup(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.ip, got, tc.want)
		}
	}
}

// TestFileWithoutTheFieldsOfItsRoleIsRefused: an ASN database given as
// --geoip-city, or a location database as --geoip-asn, stops the start
// with a message naming the flag.
func TestFileWithoutTheFieldsOfItsRoleIsRefused(t *testing.T) {
	dir := t.TempDir()
	asn, loc := filepath.Join(dir, "asn.mmdb"), filepath.Join(dir, "loc.mmdb")
	if err := Write(asn, vendorEntries(), WriteOptions{Layout: LayoutMaxMindASN}); err != nil {
		t.Fatal(err)
	}
	if err := Write(loc, vendorEntries(), WriteOptions{Layout: LayoutIPinfoLocation}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  Config
		flag string
	}{
		{Config{CityPath: asn}, "--geoip-city"},
		{Config{ASNPath: loc}, "--geoip-asn"},
		{Config{CityPath: loc, ASNPath: loc}, "--geoip-city"},
	} {
		_, err := New(tc.cfg, nil, prometheus.NewRegistry())
		if !errors.Is(err, ErrNoFields) || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%+v: err %v, want ErrNoFields naming %s", tc.cfg, err, tc.flag)
		}
	}
}

// TestUnresolvedReasons: an address without a network says why.
func TestUnresolvedReasons(t *testing.T) {
	dir := t.TempDir()
	asn, loc := filepath.Join(dir, "asn.mmdb"), filepath.Join(dir, "loc.mmdb")
	if err := Write(asn, vendorEntries(), WriteOptions{Layout: LayoutMaxMindASN}); err != nil {
		t.Fatal(err)
	}
	if err := Write(loc, vendorEntries(), WriteOptions{Layout: LayoutMaxMindCity}); err != nil {
		t.Fatal(err)
	}
	open := func(c Config) *DB {
		db, err := New(c, nil, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	none, cityOnly, withASN := open(Config{}), open(Config{CityPath: loc}), open(Config{ASNPath: asn})
	for _, tc := range []struct {
		db   *DB
		ip   string
		want string
	}{
		{none, "8.8.8.8", ReasonNoDatabase},
		{none, "10.1.2.3", ReasonPrivate},
		{cityOnly, "81.2.69.1", ReasonNoDatabase},
		{withASN, "81.2.69.1", ""},
		{withASN, "8.8.8.8", ReasonNotInDatabase},
		{withASN, "192.168.1.1", ReasonPrivate},
		{withASN, "100.64.0.1", ReasonPrivate},
		{withASN, "fd00::1", ReasonPrivate},
		{withASN, "fe80::1", ReasonPrivate},
		{withASN, "::ffff:172.16.0.1", ReasonPrivate},
		{withASN, "2002:a00:1::1", ReasonPrivate}, // 6to4 of 10.0.0.1
		{withASN, "127.0.0.1", ReasonPrivate},
	} {
		if got := tc.db.Unresolved(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.ip, got, tc.want)
		}
	}
}
