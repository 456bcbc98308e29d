package geoip

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Entry is one network and what a database says about it.
type Entry struct {
	Prefix netip.Prefix
	Info   Info
	// ASCountry is the AS's registration country (MaxMind's
	// registered_country, the country of IPinfo's ASN database), which
	// may differ from where the network's clients are; Info.Country when
	// empty.
	ASCountry string
	// Continent is the two-letter continent code the vendors' location
	// layouts carry (optional).
	Continent string
}

// Layout names the record structure Write produces.
type Layout string

// The layouts Write produces. LayoutMaxMind and LayoutIPinfo are the
// simulator's files (City and ASN in WriteOptions choose the fields); the
// others are the vendors' products, field for field as documented (the
// tests read every one).
const (
	LayoutMaxMind Layout = "maxmind" // GeoIP2-City fields plus top-level autonomous_system_*
	LayoutIPinfo  Layout = "ipinfo"  // flat city/region/country code, text coordinates, asn "AS123", as_name

	// MaxMind (https://dev.maxmind.com/geoip/docs/databases/city-and-country).
	LayoutMaxMindCity       Layout = "maxmind-city"       // GeoIP2-City, GeoLite2-City: nested names, location at the top
	LayoutMaxMindCountry    Layout = "maxmind-country"    // GeoIP2-Country, GeoLite2-Country: no city, no location
	LayoutMaxMindEnterprise Layout = "maxmind-enterprise" // City fields with confidences, ASN under traits
	LayoutMaxMindISP        Layout = "maxmind-isp"        // top-level autonomous_system_*, isp, organization
	LayoutMaxMindASN        Layout = "maxmind-asn"        // GeoLite2-ASN: autonomous_system_number, _organization

	// IPinfo (https://ipinfo.io/developers, github.com/ipinfo/sample-database).
	LayoutIPinfoLite       Layout = "ipinfo-lite"              // country (name), country_code, continent, asn, as_name, as_domain
	LayoutIPinfoCore       Layout = "ipinfo-core"              // location (numeric latitude/longitude) + asn, as_name, flags
	LayoutIPinfoPlus       Layout = "ipinfo-plus"              // Core + geoname_id, radius and more flags
	LayoutIPinfoLocation   Layout = "ipinfo-location"          // city, region, country (name), country_code, latitude, longitude
	LayoutIPinfoLegacy     Layout = "ipinfo-standard-location" // city, region, country (code), lat/lng as text
	LayoutIPinfoASN        Layout = "ipinfo-asn"               // asn, name, domain, type, country (registration)
	LayoutIPinfoIPToASN    Layout = "ipinfo-ip-to-asn"         // asn, name, domain
	LayoutIPinfoCountryASN Layout = "ipinfo-country-asn"       // country (code), country_name, continent, asn, as_name
)

// Layouts lists every layout Write produces.
func Layouts() []Layout {
	return []Layout{LayoutMaxMind, LayoutIPinfo, LayoutMaxMindCity, LayoutMaxMindCountry, LayoutMaxMindEnterprise,
		LayoutMaxMindISP, LayoutMaxMindASN, LayoutIPinfoLite, LayoutIPinfoCore, LayoutIPinfoPlus, LayoutIPinfoLocation,
		LayoutIPinfoLegacy, LayoutIPinfoASN, LayoutIPinfoIPToASN, LayoutIPinfoCountryASN}
}

// WriteOptions say which layout and fields to write.
type WriteOptions struct {
	Layout       Layout // default LayoutMaxMind
	City, ASN    bool   // which fields of LayoutMaxMind and LayoutIPinfo; both when neither is set
	DatabaseType string // default the vendor's name for the layout
}

// Write builds an MMDB file from entries, atomically (a temporary file
// renamed over path), so that a server polling the file never reads half a
// database. The simulator (`flowlens sim geoip`) and the tests use it.
func Write(path string, entries []Entry, o WriteOptions) error {
	if !o.City && !o.ASN {
		o.City, o.ASN = true, true
	}
	if o.Layout == "" {
		o.Layout = LayoutMaxMind
	}
	if o.DatabaseType == "" {
		o.DatabaseType = defaultType(o)
	}
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: o.DatabaseType, RecordSize: 28, IPVersion: 6,
		// Labs and simulations use documentation and test ranges.
		IncludeReservedNetworks: true,
		Description:             map[string]string{"en": "FlowLens generated database"},
		Languages:               []string{"en"},
	})
	if err != nil {
		return fmt.Errorf("geoip write %s: %w", path, err)
	}
	for i, e := range entries {
		p := e.Prefix.Masked()
		n := &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		if err := tree.Insert(n, record(e, o)); err != nil {
			return fmt.Errorf("geoip write %s: entry %d (%s): %w", path, i, p, err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".geoip-*.mmdb")
	if err != nil {
		return fmt.Errorf("geoip write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if _, err := tree.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("geoip write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("geoip write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("geoip write %s: %w", path, err)
	}
	return nil
}

func defaultType(o WriteOptions) string {
	switch o.Layout {
	case LayoutMaxMindCity:
		return "GeoIP2-City"
	case LayoutMaxMindCountry:
		return "GeoIP2-Country"
	case LayoutMaxMindEnterprise:
		return "GeoIP2-Enterprise"
	case LayoutMaxMindISP:
		return "GeoIP2-ISP"
	case LayoutMaxMindASN:
		return "GeoLite2-ASN"
	case LayoutIPinfoLite:
		return "ipinfo lite.mmdb"
	case LayoutIPinfoCore:
		return "ipinfo core.mmdb"
	case LayoutIPinfoPlus:
		return "ipinfo plus.mmdb"
	case LayoutIPinfoLocation:
		return "ipinfo location.mmdb"
	case LayoutIPinfoLegacy:
		return "ipinfo standard_location.mmdb"
	case LayoutIPinfoASN:
		return "ipinfo asn.mmdb"
	case LayoutIPinfoIPToASN:
		return "ipinfo ip_to_asn.mmdb"
	case LayoutIPinfoCountryASN:
		return "ipinfo country_asn.mmdb"
	}
	switch {
	case o.Layout == LayoutIPinfo && o.City && !o.ASN:
		return "ipinfo standard_location.mmdb"
	case o.Layout == LayoutIPinfo && o.ASN && !o.City:
		return "ipinfo asn.mmdb"
	case o.Layout == LayoutIPinfo:
		return "ipinfo location_asn.mmdb"
	case o.City && !o.ASN:
		return "GeoLite2-City"
	case o.ASN && !o.City:
		return "GeoLite2-ASN"
	}
	return "FlowLens-City-ASN"
}

// record builds one network's record in the layout o names.
func record(e Entry, o WriteOptions) mmdbtype.Map {
	in := e.Info
	switch o.Layout {
	case LayoutMaxMind:
		m := mmdbtype.Map{}
		if o.City {
			m = maxMindLocation(e, false, true)
		}
		if o.ASN {
			m["autonomous_system_number"] = mmdbtype.Uint32(in.ASN)
			m["autonomous_system_organization"] = mmdbtype.String(in.ASName)
		}
		return m
	case LayoutIPinfo:
		m := mmdbtype.Map{}
		if o.City {
			m["city"] = mmdbtype.String(in.City)
			m["region"] = mmdbtype.String(in.Subdivision)
			m["country"] = mmdbtype.String(in.Country)
			m["latitude"] = text(in.Latitude)
			m["longitude"] = text(in.Longitude)
		}
		if o.ASN {
			m["asn"] = asText(in.ASN)
			m["as_name"] = mmdbtype.String(in.ASName)
		}
		return m
	case LayoutMaxMindCity:
		return maxMindLocation(e, false, true)
	case LayoutMaxMindCountry:
		return maxMindLocation(e, false, false)
	case LayoutMaxMindEnterprise:
		m := maxMindLocation(e, true, true)
		m["traits"] = mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(in.ASN),
			"autonomous_system_organization": mmdbtype.String(in.ASName),
			"connection_type":                mmdbtype.String("Cable/DSL"),
			"domain":                         mmdbtype.String(domain(in.ASName)),
			"isp":                            mmdbtype.String(in.ASName),
			"organization":                   mmdbtype.String(in.ASName),
			"user_type":                      mmdbtype.String("residential"),
		}
		return m
	case LayoutMaxMindISP:
		return mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(in.ASN),
			"autonomous_system_organization": mmdbtype.String(in.ASName),
			"isp":                            mmdbtype.String(in.ASName),
			"organization":                   mmdbtype.String(in.ASName),
		}
	case LayoutMaxMindASN:
		return mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(in.ASN),
			"autonomous_system_organization": mmdbtype.String(in.ASName),
		}
	case LayoutIPinfoLite:
		return mmdbtype.Map{
			"country": mmdbtype.String(in.CountryName), "country_code": mmdbtype.String(in.Country),
			"continent": mmdbtype.String(continentName(e.Continent)), "continent_code": mmdbtype.String(e.Continent),
			"asn": asText(in.ASN), "as_name": mmdbtype.String(in.ASName), "as_domain": mmdbtype.String(domain(in.ASName)),
		}
	case LayoutIPinfoLocation:
		return ipinfoLocation(e)
	case LayoutIPinfoCore, LayoutIPinfoPlus:
		m := ipinfoLocation(e)
		m["asn"], m["as_name"] = asText(in.ASN), mmdbtype.String(in.ASName)
		m["as_domain"], m["as_type"] = mmdbtype.String(domain(in.ASName)), mmdbtype.String("isp")
		for _, f := range []string{"is_anonymous", "is_anycast", "is_hosting", "is_mobile", "is_satellite"} {
			m[mmdbtype.String(f)] = mmdbtype.Bool(false)
		}
		if o.Layout == LayoutIPinfoPlus {
			m["geoname_id"] = mmdbtype.String("0")
			m["radius"] = mmdbtype.String("20")
			m["is_proxy"], m["is_relay"], m["is_tor"], m["is_vpn"] = mmdbtype.Bool(false), mmdbtype.Bool(false),
				mmdbtype.Bool(false), mmdbtype.Bool(false)
		}
		return m
	case LayoutIPinfoLegacy:
		return mmdbtype.Map{
			"city": mmdbtype.String(in.City), "region": mmdbtype.String(in.Subdivision),
			"country": mmdbtype.String(in.Country), "lat": text(in.Latitude), "lng": text(in.Longitude),
			"postal_code": mmdbtype.String(""), "timezone": mmdbtype.String(""),
		}
	case LayoutIPinfoASN:
		return mmdbtype.Map{
			"asn": asText(in.ASN), "name": mmdbtype.String(in.ASName), "domain": mmdbtype.String(domain(in.ASName)),
			"type": mmdbtype.String("isp"), "country": mmdbtype.String(asCountry(e)),
		}
	case LayoutIPinfoIPToASN:
		return mmdbtype.Map{"asn": asText(in.ASN), "name": mmdbtype.String(in.ASName), "domain": mmdbtype.String(domain(in.ASName))}
	case LayoutIPinfoCountryASN:
		return mmdbtype.Map{
			"country": mmdbtype.String(in.Country), "country_name": mmdbtype.String(in.CountryName),
			"continent": mmdbtype.String(e.Continent), "continent_name": mmdbtype.String(continentName(e.Continent)),
			"asn": asText(in.ASN), "as_name": mmdbtype.String(in.ASName), "as_domain": mmdbtype.String(domain(in.ASName)),
		}
	}
	return mmdbtype.Map{}
}

// maxMindLocation is the GeoIP2 City/Country record: names nested under
// names.en, city and subdivisions only where known, location (Country
// databases have none) at the top level whatever level the record is at.
func maxMindLocation(e Entry, confidence, withLocation bool) mmdbtype.Map {
	in := e.Info
	place := func(s string) mmdbtype.Map {
		m := mmdbtype.Map{"geoname_id": mmdbtype.Uint32(0), "names": mmdbtype.Map{"en": mmdbtype.String(s)}}
		if confidence {
			m["confidence"] = mmdbtype.Uint16(80)
		}
		return m
	}
	country := place(in.CountryName)
	country["iso_code"] = mmdbtype.String(in.Country)
	registered := mmdbtype.Map{"geoname_id": mmdbtype.Uint32(0), "iso_code": mmdbtype.String(asCountry(e)),
		"names": mmdbtype.Map{"en": mmdbtype.String(asCountry(e))}}
	m := mmdbtype.Map{"country": country, "registered_country": registered}
	if e.Continent != "" {
		m["continent"] = mmdbtype.Map{"code": mmdbtype.String(e.Continent), "geoname_id": mmdbtype.Uint32(0),
			"names": mmdbtype.Map{"en": mmdbtype.String(continentName(e.Continent))}}
	}
	if !withLocation {
		return m
	}
	if in.City != "" {
		m["city"] = place(in.City)
	}
	if in.Subdivision != "" {
		sub := place(in.Subdivision)
		sub["iso_code"] = mmdbtype.String("XX")
		m["subdivisions"] = mmdbtype.Slice{sub}
	}
	m["location"] = mmdbtype.Map{"accuracy_radius": mmdbtype.Uint16(100),
		"latitude": mmdbtype.Float64(in.Latitude), "longitude": mmdbtype.Float64(in.Longitude)}
	return m
}

// ipinfoLocation is the flat IPinfo location record (Location, Core,
// Plus): country is the name next to country_code, numeric coordinates.
func ipinfoLocation(e Entry) mmdbtype.Map {
	in := e.Info
	return mmdbtype.Map{
		"city": mmdbtype.String(in.City), "region": mmdbtype.String(in.Subdivision), "region_code": mmdbtype.String(""),
		"country": mmdbtype.String(in.CountryName), "country_code": mmdbtype.String(in.Country),
		"continent": mmdbtype.String(continentName(e.Continent)), "continent_code": mmdbtype.String(e.Continent),
		"latitude": mmdbtype.Float64(in.Latitude), "longitude": mmdbtype.Float64(in.Longitude),
		"timezone": mmdbtype.String(""), "postal_code": mmdbtype.String(""),
	}
}

func asCountry(e Entry) string {
	if e.ASCountry != "" {
		return e.ASCountry
	}
	return e.Info.Country
}

func asText(asn uint32) mmdbtype.String {
	return mmdbtype.String("AS" + strconv.FormatUint(uint64(asn), 10))
}

// text writes a coordinate as IPinfo's text files do (four decimals).
func text(v float64) mmdbtype.String { return mmdbtype.String(strconv.FormatFloat(v, 'f', 4, 64)) }

func domain(asName string) string {
	if asName == "" {
		return ""
	}
	return strings.ToLower(strings.ReplaceAll(asName, " ", "")) + ".example"
}

func continentName(code string) string {
	return map[string]string{"AF": "Africa", "AN": "Antarctica", "AS": "Asia", "EU": "Europe",
		"NA": "North America", "OC": "Oceania", "SA": "South America"}[code]
}
