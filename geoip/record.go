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

// fields says which parts of Info a database file carries: location
// (city, subdivision, country, coordinates) and network (ASN, AS name).
// They are found per field, in either vendor's spelling, so one file may
// mix them (IPinfo Core, MaxMind Enterprise, the simulator's file).
type fields struct {
	location bool
	asn      bool
}

func (f fields) String() string {
	var parts []string
	if f.location {
		parts = append(parts, "location")
	}
	if f.asn {
		parts = append(parts, "asn")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "+")
}

// detect tells which parts one decoded record carries, by its keys.
func detect(rec map[string]any) fields {
	var f fields
	for _, k := range []string{"city", "country", "country_code", "location", "subdivisions", "region", "latitude", "lat"} {
		if _, ok := rec[k]; ok {
			f.location = true
			break
		}
	}
	_, top := rec["autonomous_system_number"]
	_, ipinfo := rec["asn"]
	traits, _ := rec["traits"].(map[string]any)
	_, inTraits := traits["autonomous_system_number"]
	f.asn = top || ipinfo || inTraits
	return f
}

func (f fields) or(g fields) fields {
	return fields{location: f.location || g.location, asn: f.asn || g.asn}
}

// extractLocation reads the location fields of a record of any vendor
// layout, each field where it is: MaxMind nests names (`city.names.en`,
// `subdivisions[0]`, `country.iso_code`) and keeps `location` at the top
// level whether or not the record has a city; IPinfo keeps everything
// flat (`city`, `region`, `country` as a code or a name next to
// `country_code`, `latitude`/`longitude` or the legacy `lat`/`lng`, as
// numbers or text).
func extractLocation(rec map[string]any, info *Info) {
	switch c := rec["city"].(type) {
	case map[string]any:
		info.City = name(c)
	case string:
		info.City = c
	}
	if subs, ok := rec["subdivisions"].([]any); ok && len(subs) > 0 {
		if s, ok := subs[0].(map[string]any); ok {
			info.Subdivision = name(s)
		}
	} else if r, ok := rec["region"].(string); ok {
		info.Subdivision = r
	}
	switch co := rec["country"].(type) {
	case map[string]any:
		info.Country, _ = co["iso_code"].(string)
		info.CountryName = name(co)
	case string:
		// IPinfo Lite, Core, Plus and Location: country is the name, next
		// to country_code; the legacy location and Country+ASN files spell
		// the code in country and the name in country_name.
		if code, ok := rec["country_code"].(string); ok {
			info.Country, info.CountryName = code, co
		} else if len(co) == 2 {
			info.Country = co
			info.CountryName, _ = rec["country_name"].(string)
		} else {
			info.CountryName = co
		}
	default:
		info.Country, _ = rec["country_code"].(string)
	}
	switch loc, ok := rec["location"].(map[string]any); {
	case ok:
		info.Latitude, info.Longitude = number(loc["latitude"]), number(loc["longitude"])
	case rec["latitude"] != nil:
		info.Latitude, info.Longitude = number(rec["latitude"]), number(rec["longitude"])
	default:
		info.Latitude, info.Longitude = number(rec["lat"]), number(rec["lng"])
	}
}

// extractASN reads the network fields: MaxMind ASN and ISP files keep
// `autonomous_system_number` at the top level, Enterprise under
// `traits`; IPinfo spells the ASN "AS15169" in `asn`, its name in
// `as_name` (Lite, Core, Plus, Country+ASN) or `name` (ASN, IP-to-ASN).
func extractASN(rec map[string]any, info *Info) {
	if v, ok := rec["autonomous_system_number"]; ok {
		info.ASN = parseASN(v)
		info.ASName, _ = rec["autonomous_system_organization"].(string)
		return
	}
	if t, ok := rec["traits"].(map[string]any); ok {
		if v, ok := t["autonomous_system_number"]; ok {
			info.ASN = parseASN(v)
			info.ASName, _ = t["autonomous_system_organization"].(string)
			return
		}
	}
	v, ok := rec["asn"]
	if !ok {
		return
	}
	info.ASN = parseASN(v)
	if n, ok := rec["as_name"].(string); ok {
		info.ASName = n
	} else {
		info.ASName, _ = rec["name"].(string)
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
		f := number(v)
		if f < 0 || f > 1<<32-1 {
			return 0
		}
		return uint32(f)
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

// roleError explains a file given to a flag whose fields it lacks.
func roleError(flag string, f fields) error {
	return fmt.Errorf("%w for %s (the file has: %s)", ErrNoFields, flag, f)
}
