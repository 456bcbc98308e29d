package internet

import (
	"fmt"
	"sort"
	"strings"
)

// scored is one city-network's result of a period, as the attribution sees
// it: whether it is impacted in the dimension under study, and its weight.
type scored struct {
	net      cityNet
	asName   string
	weight   float64 // bytes
	impacted bool
	impact   float64 // impacted bytes
}

// Attribution thresholds.
const (
	// causeDominance: the named ASN or city carries at least this share of
	// the impacted traffic.
	causeDominance = 0.8
	// causeCoverage: at least this share of the ASN's cities (or the city's
	// networks) is impacted.
	causeCoverage = 0.5
	// localShare: our side is blamed when at least this share of all
	// traffic and of the city-networks is impacted, across several ASNs and
	// cities.
	localShare = 0.6
	// othersHealthy: for an ASN cause, the other networks in the same
	// cities must be mostly fine (at most this share impacted).
	othersHealthy = 0.3
)

// attribute names the cause of the impact in locs (the tracked
// city-networks that carried traffic this period).
func attribute(locs []scored) Cause {
	var ev Evidence
	var total, impacted float64
	asns := map[uint32]*group{}
	cities := map[[2]string]*group{}
	for _, l := range locs {
		ev.JudgedCityNetworks++
		total += l.weight
		// Unknown networks and places count in the totals but are never
		// named: all unresolved clients are not one provider or one city.
		if l.net.ASN != 0 {
			groupOf(asns, l.net.ASN).add(l, l.net.City+"|"+l.net.Country)
		}
		if l.net.City != "" {
			groupOf(cities, [2]string{l.net.City, l.net.Country}).add(l, fmt.Sprint(l.net.ASN)+"|"+l.net.Unresolved)
		}
		if l.impacted {
			ev.ImpactedCityNetworks++
			impacted += l.impact
		}
	}
	for _, a := range asns {
		if a.impactedKeys > 0 {
			ev.ImpactedASNs++
		}
	}
	for _, c := range cities {
		if c.impactedKeys > 0 {
			ev.ImpactedCities++
		}
	}
	cause := Cause{Kind: CauseUnknown, Evidence: ev}
	if ev.ImpactedCityNetworks == 0 || impacted == 0 {
		cause.Summary = "no city-network is impacted"
		return cause
	}

	// Our own side: nearly everything at once, across networks and cities.
	impactedWeight := 0.0
	for _, l := range locs {
		if l.impacted {
			impactedWeight += l.weight
		}
	}
	if ev.ImpactedASNs >= 3 && ev.ImpactedCities >= 3 && impactedWeight >= localShare*total &&
		float64(ev.ImpactedCityNetworks) >= localShare*float64(ev.JudgedCityNetworks) {
		cause.Kind = CauseLocal
		cause.Summary = fmt.Sprintf("%d of %d city-networks impacted across %d networks and %d cities at once: the problem is on our side",
			ev.ImpactedCityNetworks, ev.JudgedCityNetworks, ev.ImpactedASNs, ev.ImpactedCities)
		return cause
	}

	// One provider: it carries most of the impact, in most of its cities,
	// while other networks in those cities are fine.
	// A single city-network is its provider's network in that city.
	if asn, a := top(asns); a != nil && a.impact >= causeDominance*impacted &&
		(float64(a.impactedKeys) >= causeCoverage*float64(len(a.keys)) || ev.ImpactedCityNetworks == 1) {
		others, othersHit := 0, 0
		for _, l := range locs {
			if l.net.ASN != asn && a.impactedKeySet[l.net.City+"|"+l.net.Country] {
				others++
				if l.impacted {
					othersHit++
				}
			}
		}
		if a.impactedKeys >= 2 && float64(othersHit) <= othersHealthy*float64(others) || a.impactedKeys == 1 && othersHit == 0 {
			cause.Kind, cause.ASN, cause.ASName = CauseASN, asn, a.name
			ev.ASNCitiesImpacted, ev.ASNCities = a.impactedKeys, len(a.keys)
			ev.OtherNetworksImpacted, ev.OtherNetworks = othersHit, others
			ev.ImpactShare = 100 * a.impact / impacted
			cause.Evidence = ev
			cause.Summary = fmt.Sprintf("AS%d (%s) is impacted in %d of the %d cities where it carries traffic, while %d of %d other networks in those cities are: the provider's network",
				asn, a.name, a.impactedKeys, len(a.keys), othersHit, others)
			if a.impactedKeys == 1 {
				cause.City, cause.Country = a.onlyImpactedCity()
			}
			return cause
		}
	}

	// One metro: several networks impacted in one city.
	if key, c := top(cities); c != nil && c.impact >= causeDominance*impacted && c.impactedKeys >= 2 &&
		float64(c.impactedKeys) >= causeCoverage*float64(len(c.keys)) {
		cause.Kind, cause.City, cause.Country = CauseMetro, key[0], key[1]
		ev.CityASNsImpacted, ev.CityASNs = c.impactedKeys, len(c.keys)
		ev.ImpactShare = 100 * c.impact / impacted
		cause.Evidence = ev
		cause.Summary = fmt.Sprintf("%d of the %d networks serving %s (%s) are impacted: a metro problem (the city's internet exchange or access networks)",
			c.impactedKeys, len(c.keys), key[0], key[1])
		return cause
	}
	cause.Summary = fmt.Sprintf("%d city-networks impacted across %d networks and %d cities, with no single network or city dominating",
		ev.ImpactedCityNetworks, ev.ImpactedASNs, ev.ImpactedCities)
	return cause
}

// group sums city-networks sharing an ASN (keys: cities) or a city (keys:
// ASNs).
type group struct {
	name           string
	impact         float64
	keys           map[string]bool
	impactedKeys   int
	impactedKeySet map[string]bool
}

func groupOf[K comparable](m map[K]*group, k K) *group {
	g := m[k]
	if g == nil {
		g = &group{keys: map[string]bool{}, impactedKeySet: map[string]bool{}}
		m[k] = g
	}
	return g
}

func (g *group) add(l scored, key string) {
	if g.name == "" {
		g.name = l.asName
	}
	g.keys[key] = true
	if l.impacted {
		g.impact += l.impact
		if !g.impactedKeySet[key] {
			g.impactedKeySet[key] = true
			g.impactedKeys++
		}
	}
}

func (g *group) onlyImpactedCity() (city, country string) {
	for k := range g.impactedKeySet {
		city, country, _ = strings.Cut(k, "|")
		return city, country
	}
	return "", ""
}

// top is the group with the most impacted traffic (ties: the smaller key's
// text, for determinism).
func top[K comparable](m map[K]*group) (K, *group) {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := m[keys[i]], m[keys[j]]
		if a.impact != b.impact {
			return a.impact > b.impact
		}
		return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j])
	})
	var zero K
	if len(keys) == 0 || m[keys[0]].impact == 0 {
		return zero, nil
	}
	return keys[0], m[keys[0]]
}
