package internet

import "testing"

// grid is a small internet: 4 cities x 4 ASNs (AS1 in every city, AS2..4
// local), 100 bytes each; impacted marks the hit city-networks.
func grid(impacted func(city string, asn uint32) bool) []scored {
	var out []scored
	for _, city := range []string{"Paris", "Lyon", "Nice", "Lille"} {
		for asn := uint32(1); asn <= 4; asn++ {
			s := scored{net: cityNet{City: city, Country: "FR", ASN: asn}, asName: "AS name", weight: 100}
			if impacted(city, asn) {
				s.impacted, s.impact = true, 90
			}
			out = append(out, s)
		}
	}
	return out
}

func TestAttribute(t *testing.T) {
	cases := []struct {
		name     string
		hit      func(string, uint32) bool
		kind     string
		asn      uint32
		city     string
		evidence func(Evidence) bool
	}{
		{"one ASN in every city", func(_ string, a uint32) bool { return a == 1 }, CauseASN, 1, "",
			func(e Evidence) bool {
				return e.ASNCitiesImpacted == 4 && e.ASNCities == 4 && e.OtherNetworksImpacted == 0
			}},
		{"every ASN of one city", func(c string, _ uint32) bool { return c == "Lyon" }, CauseMetro, 0, "Lyon",
			func(e Evidence) bool { return e.CityASNsImpacted == 4 && e.CityASNs == 4 }},
		{"everything", func(string, uint32) bool { return true }, CauseLocal, 0, "",
			func(e Evidence) bool { return e.ImpactedCityNetworks == 16 }},
		{"one city-network", func(c string, a uint32) bool { return c == "Nice" && a == 3 }, CauseASN, 3, "Nice",
			func(e Evidence) bool { return e.ImpactedCityNetworks == 1 }},
		{"scattered", func(c string, a uint32) bool { return (c == "Nice" && a == 3) || (c == "Paris" && a == 2) }, CauseUnknown, 0, "",
			func(e Evidence) bool { return e.ImpactedCityNetworks == 2 }},
		{"nothing", func(string, uint32) bool { return false }, CauseUnknown, 0, "", func(e Evidence) bool { return e.ImpactedCityNetworks == 0 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := attribute(grid(c.hit))
			if got.Kind != c.kind || got.ASN != c.asn || got.City != c.city || !c.evidence(got.Evidence) {
				t.Errorf("got %+v", got)
			}
			if got.Summary == "" {
				t.Error("no summary")
			}
		})
	}
}

// TestUnknownNetworksAreNeverTheCause: clients without a network (ASN 0:
// private ranges, addresses no database knows) are not one provider, and
// clients without a city are not one metro; before issue 18 a single
// impacted unknown city-network was named "asn AS0".
func TestUnknownNetworksAreNeverTheCause(t *testing.T) {
	for _, reason := range []string{"private range", "not in database"} {
		locs := grid(func(string, uint32) bool { return false })
		locs = append(locs,
			scored{net: cityNet{ASN: 0, Unresolved: reason}, weight: 1000, impacted: true, impact: 900},
			scored{net: cityNet{City: "Paris", Country: "FR", ASN: 0, Unresolved: reason}, weight: 100, impacted: true, impact: 90})
		got := attribute(locs)
		if got.Kind != CauseUnknown || got.ASN != 0 || got.City != "" {
			t.Errorf("%s: got %+v, want cause unknown", reason, got)
		}
		if got.Evidence.ImpactedCityNetworks != 2 {
			t.Errorf("%s: impacted city-networks %d, want 2", reason, got.Evidence.ImpactedCityNetworks)
		}
	}
}
