package geoip

import (
	"fmt"
	"strconv"
	"strings"
)

// Info is what the databases say about one address. Zero fields are unknown.
type Info struct {
	ASN         uint32  `json:"asn,omitempty"`
	ASName      string  `json:"as_name,omitempty"`
	City        string  `json:"city,omitempty"`
	Subdivision string  `json:"subdivision,omitempty"`
	Country     string  `json:"country,omitempty"` // ISO 3166-1 alpha-2 where the database has it
	CountryName string  `json:"country_name,omitempty"`
	Latitude    float64 `json:"latitude,omitempty"`
	Longitude   float64 `json:"longitude,omitempty"`
}

// Layout names the record structure of a database file.
type Layout string

// The layouts the reader understands. A file may carry both city and ASN
// fields (the simulator's database does), in either family's spelling.
const (
	LayoutMaxMind Layout = "maxmind" // GeoLite2/GeoIP2 City and ASN: nested city/country/location maps, autonomous_system_*
	LayoutIPinfo  Layout = "ipinfo"  // IPinfo: flat city/region/country/latitude/longitude, asn "AS123", as_name or name
)

// fields says which parts of Info a database file provides.
type fields struct {
	layout Layout
	city   bool
	asn    bool
}

func (f fields) String() string {
	var parts []string
	if f.city {
		parts = append(parts, "city")
	}
	if f.asn {
		parts = append(parts, "asn")
	}
	return fmt.Sprintf("%s (%s)", f.layout, strings.Join(parts, "+"))
}

// detect tells the layout of one decoded record by its keys: MaxMind nests
// city under a map and names ASNs autonomous_system_number; IPinfo keeps
// everything flat and spells ASNs "AS123".
func detect(rec map[string]any) (fields, bool) {
	var f fields
	if _, ok := rec["autonomous_system_number"]; ok {
		f.layout, f.asn = LayoutMaxMind, true
	}
	switch c := rec["city"].(type) {
	case map[string]any:
		f.layout, f.city = LayoutMaxMind, true
	case string:
		f.layout, f.city = LayoutIPinfo, true
	default:
		if _, ok := rec["country"].(map[string]any); ok {
			f.layout, f.city = LayoutMaxMind, true // a country-level database
		}
		_ = c
	}
	if _, ok := rec["asn"]; ok {
		f.layout, f.asn = LayoutIPinfo, true
	}
	if !f.city && f.layout == LayoutIPinfo {
		_, hasCountry := rec["country"]
		_, hasCode := rec["country_code"]
		f.city = hasCountry || hasCode // IPinfo Lite: country-level location
	}
	return f, f.city || f.asn
}

// extract fills info from one record of either layout; only the parts the
// file provides (want) are taken, so that a city file does not blank the
// ASN found in an ASN file.
func extract(rec map[string]any, want fields, info *Info) {
	if want.city {
		extractLocation(rec, info)
	}
	if want.asn {
		extractASN(rec, info)
	}
}

func extractLocation(rec map[string]any, info *Info) {
	if c, ok := rec["city"].(map[string]any); ok { // MaxMind
		info.City = name(c)
		if subs, ok := rec["subdivisions"].([]any); ok && len(subs) > 0 {
			if s, ok := subs[0].(map[string]any); ok {
				info.Subdivision = name(s)
			}
		}
		if co, ok := rec["country"].(map[string]any); ok {
			info.Country, _ = co["iso_code"].(string)
			info.CountryName = name(co)
		}
		if loc, ok := rec["location"].(map[string]any); ok {
			info.Latitude, info.Longitude = number(loc["latitude"]), number(loc["longitude"])
		}
		return
	}
	if co, ok := rec["country"].(map[string]any); ok { // MaxMind country database
		info.Country, _ = co["iso_code"].(string)
		info.CountryName = name(co)
		return
	}
	// IPinfo: location databases spell the country as its code; Lite has
	// country (name) and country_code.
	info.City, _ = rec["city"].(string)
	info.Subdivision, _ = rec["region"].(string)
	country, _ := rec["country"].(string)
	if code, ok := rec["country_code"].(string); ok {
		info.Country, info.CountryName = code, country
	} else if len(country) == 2 {
		info.Country = country
		info.CountryName, _ = rec["country_name"].(string)
	} else {
		info.CountryName = country
	}
	info.Latitude, info.Longitude = number(rec["latitude"]), number(rec["longitude"])
}

func extractASN(rec map[string]any, info *Info) {
	if v, ok := rec["autonomous_system_number"]; ok {
		info.ASN = uint32(number(v))
		info.ASName, _ = rec["autonomous_system_organization"].(string)
		return
	}
	info.ASN = parseASN(rec["asn"])
	if n, ok := rec["as_name"].(string); ok {
		info.ASName = n
	} else {
		info.ASName, _ = rec["name"].(string) // IPinfo ASN database
	}
}

// parseASN accepts "AS64500", "64500" or a number.
func parseASN(v any) uint32 {
	switch x := v.(type) {
	case string:
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(x)), "AS"), 10, 32)
		if err != nil {
			return 0
		}
		return uint32(n)
	default:
		return uint32(number(v))
	}
}

// name is the English name of a MaxMind names map.
func name(m map[string]any) string {
	if names, ok := m["names"].(map[string]any); ok {
		if en, ok := names["en"].(string); ok {
			return en
		}
	}
	return ""
}

// number reads the numeric types the MMDB decoder produces, and the
// strings IPinfo uses for coordinates.
func number(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case float32:
		return float64(x)
	case uint64:
		return float64(x)
	case uint32:
		return float64(x)
	case uint16:
		return float64(x)
	case int:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err == nil {
			return f
		}
	}
	return 0
}
