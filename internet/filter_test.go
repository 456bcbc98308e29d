package internet

import (
	"strings"
	"testing"
)

func TestParseFilter(t *testing.T) {
	paris := Location{City: "Paris", Country: "FR", ASN: 64500}
	cases := []struct {
		in    string
		err   string
		match bool
	}{
		{"city=Paris", "", true}, {"city=paris", "", true}, {"city!=Paris", "", false},
		{"country=fr", "", true}, {"country!=DE", "", true},
		{"asn=64500", "", true}, {"asn=AS64500", "", true}, {"asn!=as64500", "", false}, {"asn=1", "", false},
		{"asn=x", "not a number", false}, {"region=EU", "unknown field", false}, {"city", "want field=value", false},
	}
	for _, c := range cases {
		f, err := ParseFilter(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := f.Match(paris); got != c.match {
			t.Errorf("%q matches Paris AS64500: %v, want %v", c.in, got, c.match)
		}
		if again, err := ParseFilter(f.String()); err != nil || again != f {
			t.Errorf("%q: String() %q does not read back", c.in, f.String())
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"city=Paris", "asn!=AS64500", "country=FR", "=", "!=", "asn=99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			return
		}
		again, err := ParseFilter(flt.String())
		if err != nil || again != flt {
			t.Fatalf("%q: %+v does not read back (%v)", s, flt, err)
		}
		flt.Match(Location{City: s, Country: s, ASN: 1})
		flt.sql()
	})
}
