package geoip

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Entry is one network and what a database says about it.
type Entry struct {
	Prefix netip.Prefix
	Info   Info
}

// WriteOptions say which layout and fields to write.
type WriteOptions struct {
	Layout       Layout // default LayoutMaxMind
	City, ASN    bool   // which fields; both when neither is set
	DatabaseType string // default "FlowLens-City-ASN" (or the IPinfo names)
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
		if err := tree.Insert(n, record(e.Info, o)); err != nil {
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

func record(in Info, o WriteOptions) mmdbtype.Map {
	m := mmdbtype.Map{}
	if o.Layout == LayoutIPinfo {
		if o.City {
			m["city"] = mmdbtype.String(in.City)
			m["region"] = mmdbtype.String(in.Subdivision)
			m["country"] = mmdbtype.String(in.Country)
			// IPinfo writes coordinates as strings.
			m["latitude"] = mmdbtype.String(strconv.FormatFloat(in.Latitude, 'f', 4, 64))
			m["longitude"] = mmdbtype.String(strconv.FormatFloat(in.Longitude, 'f', 4, 64))
		}
		if o.ASN {
			m["asn"] = mmdbtype.String("AS" + strconv.FormatUint(uint64(in.ASN), 10))
			m["as_name"] = mmdbtype.String(in.ASName)
		}
		return m
	}
	if o.City {
		names := func(s string) mmdbtype.Map { return mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(s)}} }
		m["city"] = names(in.City)
		country := names(in.CountryName)
		country["iso_code"] = mmdbtype.String(in.Country)
		m["country"] = country
		if in.Subdivision != "" {
			m["subdivisions"] = mmdbtype.Slice{names(in.Subdivision)}
		}
		m["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(in.Latitude), "longitude": mmdbtype.Float64(in.Longitude)}
	}
	if o.ASN {
		m["autonomous_system_number"] = mmdbtype.Uint32(in.ASN)
		m["autonomous_system_organization"] = mmdbtype.String(in.ASName)
	}
	return m
}
