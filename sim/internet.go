package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	"github.com/flowlens/flowlens/geoip"
	"github.com/flowlens/flowlens/topology"
)

// CityNetwork is one client location of the simulated internet: a city and
// the ASN its clients come through, with the /24 their addresses are in.
// `flowlens sim geoip` writes these into an MMDB, and --internet-clients
// places clients in them, so a server with that database sees the same
// city-networks the simulator generates.
type CityNetwork struct {
	Prefix netip.Prefix
	Info   geoip.Info
	Weight float64 // relative share of clients
	RTTUS  float64 // typical RTT to the fleet
}

type city struct {
	name, sub, country, countryName string
	lat, lon                        float64
}

// cities of the simulated internet (real places, for realistic distances).
var cities = []city{
	{"Paris", "Île-de-France", "FR", "France", 48.857, 2.352}, {"Lyon", "Auvergne-Rhône-Alpes", "FR", "France", 45.764, 4.836},
	{"Marseille", "Provence-Alpes-Côte d'Azur", "FR", "France", 43.297, 5.370}, {"Toulouse", "Occitanie", "FR", "France", 43.605, 1.444},
	{"Berlin", "Land Berlin", "DE", "Germany", 52.520, 13.405}, {"Munich", "Bavaria", "DE", "Germany", 48.137, 11.575},
	{"Hamburg", "Hamburg", "DE", "Germany", 53.551, 9.994}, {"Frankfurt am Main", "Hesse", "DE", "Germany", 50.110, 8.682},
	{"London", "England", "GB", "United Kingdom", 51.507, -0.128}, {"Manchester", "England", "GB", "United Kingdom", 53.481, -2.243},
	{"Edinburgh", "Scotland", "GB", "United Kingdom", 55.953, -3.188}, {"Madrid", "Madrid", "ES", "Spain", 40.417, -3.704},
	{"Barcelona", "Catalonia", "ES", "Spain", 41.385, 2.173}, {"Valencia", "Valencia", "ES", "Spain", 39.470, -0.376},
	{"Rome", "Lazio", "IT", "Italy", 41.903, 12.496}, {"Milan", "Lombardy", "IT", "Italy", 45.464, 9.190},
	{"Naples", "Campania", "IT", "Italy", 40.852, 14.268}, {"Amsterdam", "North Holland", "NL", "Netherlands", 52.368, 4.904},
	{"Rotterdam", "South Holland", "NL", "Netherlands", 51.924, 4.478}, {"Brussels", "Brussels Capital", "BE", "Belgium", 50.850, 4.352},
	{"Zurich", "Zurich", "CH", "Switzerland", 47.377, 8.541}, {"Geneva", "Geneva", "CH", "Switzerland", 46.204, 6.143},
	{"Vienna", "Vienna", "AT", "Austria", 48.208, 16.374}, {"Warsaw", "Mazovia", "PL", "Poland", 52.230, 21.012},
	{"Krakow", "Lesser Poland", "PL", "Poland", 50.065, 19.945}, {"Prague", "Prague", "CZ", "Czechia", 50.076, 14.438},
	{"Stockholm", "Stockholm", "SE", "Sweden", 59.329, 18.069}, {"Oslo", "Oslo", "NO", "Norway", 59.914, 10.752},
	{"Copenhagen", "Capital Region", "DK", "Denmark", 55.676, 12.568}, {"Helsinki", "Uusimaa", "FI", "Finland", 60.170, 24.938},
	{"Dublin", "Leinster", "IE", "Ireland", 53.350, -6.260}, {"Lisbon", "Lisbon", "PT", "Portugal", 38.722, -9.139},
	{"Athens", "Attica", "GR", "Greece", 37.984, 23.728}, {"Bucharest", "Bucharest", "RO", "Romania", 44.427, 26.103},
	{"Budapest", "Budapest", "HU", "Hungary", 47.498, 19.040}, {"Istanbul", "Istanbul", "TR", "Turkey", 41.008, 28.978},
	{"New York", "New York", "US", "United States", 40.713, -74.006}, {"Chicago", "Illinois", "US", "United States", 41.878, -87.630},
	{"Los Angeles", "California", "US", "United States", 34.052, -118.244}, {"San Francisco", "California", "US", "United States", 37.775, -122.419},
	{"Dallas", "Texas", "US", "United States", 32.777, -96.797}, {"Miami", "Florida", "US", "United States", 25.762, -80.192},
	{"Seattle", "Washington", "US", "United States", 47.606, -122.332}, {"Toronto", "Ontario", "CA", "Canada", 43.653, -79.383},
	{"Montreal", "Quebec", "CA", "Canada", 45.502, -73.567}, {"Mexico City", "Mexico City", "MX", "Mexico", 19.433, -99.133},
	{"São Paulo", "São Paulo", "BR", "Brazil", -23.551, -46.633}, {"Rio de Janeiro", "Rio de Janeiro", "BR", "Brazil", -22.907, -43.173},
	{"Buenos Aires", "Buenos Aires", "AR", "Argentina", -34.604, -58.382}, {"Tokyo", "Tokyo", "JP", "Japan", 35.676, 139.650},
	{"Osaka", "Osaka", "JP", "Japan", 34.694, 135.502}, {"Seoul", "Seoul", "KR", "South Korea", 37.567, 126.978},
	{"Singapore", "Singapore", "SG", "Singapore", 1.352, 103.820}, {"Mumbai", "Maharashtra", "IN", "India", 19.076, 72.878},
	{"Bangalore", "Karnataka", "IN", "India", 12.972, 77.595}, {"Sydney", "New South Wales", "AU", "Australia", -33.869, 151.209},
	{"Melbourne", "Victoria", "AU", "Australia", -37.814, 144.963}, {"Johannesburg", "Gauteng", "ZA", "South Africa", -26.204, 28.047},
	{"Cairo", "Cairo", "EG", "Egypt", 30.044, 31.236}, {"Dubai", "Dubai", "AE", "United Arab Emirates", 25.205, 55.271},
}

// The fleet is served from Frankfurt; RTTs grow with the distance.
const fleetLat, fleetLon = 50.110, 8.682

// TransitASN is the international provider present in many cities (the
// acceptance tests fault it).
const TransitASN = 64500

// localISPsPerCity is how many city-only networks each city has.
const localISPsPerCity = 15

// InternetPlan is the simulated internet: every city has its country's two
// national providers and localISPsPerCity local ones, and the transit
// provider AS64500 serves two cities out of three. Each city-network gets
// its own /24 from 20.0.0.0/14. The plan is fixed (no seed), so a database
// written once matches every run.
func InternetPlan() []CityNetwork {
	var plan []CityNetwork
	next := uint32(20) << 24
	add := func(c city, rank int, asn uint32, asName string, share float64, extraRTT float64) {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(next >> 24), byte(next >> 16), byte(next >> 8), 0}), 24)
		next += 256
		plan = append(plan, CityNetwork{
			Prefix: p,
			Info: geoip.Info{ASN: asn, ASName: asName, City: c.name, Subdivision: c.sub, Country: c.country,
				CountryName: c.countryName, Latitude: c.lat, Longitude: c.lon},
			Weight: share / math.Pow(float64(rank+1), 0.7),
			RTTUS:  pathRTT(c) + extraRTT,
		})
	}
	countries := map[string]int{}
	for _, c := range cities {
		if _, ok := countries[c.country]; !ok {
			countries[c.country] = len(countries)
		}
	}
	for i, c := range cities {
		ci := uint32(countries[c.country])
		if i%3 != 2 {
			add(c, i, TransitASN, "Example Transit", 0.6, 2000)
		}
		add(c, i, 64600+2*ci, c.countryName+" Telecom", 0.25, 1000)
		add(c, i, 64601+2*ci, c.countryName+" Cable", 0.18, 3000)
		for l := 0; l < localISPsPerCity; l++ {
			asn := uint32(4_200_000_000) + uint32(i)*100 + uint32(l)
			add(c, i, asn, fmt.Sprintf("%s Net %d", c.name, l+1), 0.45/float64(l+2), 1500+float64(l%5)*2500)
		}
	}
	return plan
}

// pathRTT is a plausible RTT from the fleet to a city: light in fibre
// (~200 km/ms) over a path 1.5x the great-circle distance, both ways, plus
// 4 ms of access network.
func pathRTT(c city) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dlat, dlon := (c.lat-fleetLat)*rad, (c.lon-fleetLon)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(fleetLat*rad)*math.Cos(c.lat*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	km := 2 * r * math.Asin(math.Sqrt(a))
	return 4000 + 2*1.5*km/200*1000
}

// GeoIPEntries are the plan as database entries.
func GeoIPEntries(plan []CityNetwork) []geoip.Entry {
	out := make([]geoip.Entry, len(plan))
	for i, cn := range plan {
		out[i] = geoip.Entry{Prefix: cn.Prefix, Info: cn.Info}
	}
	return out
}

// addInternetClients adds n inbound clients: every city-network gets one
// before any gets a second, then the rest follow the plan's weights. Each
// client talks to one agent's public service on port 443.
func (f *fleet) addInternetClients(t *topology.Topology, n int, seed uint64, nextID *uint64) {
	if n <= 0 || len(f.agents) == 0 {
		return
	}
	plan := InternetPlan()
	rng := rand.New(rand.NewPCG(seed, 0x1e7))
	cum := make([]float64, len(plan))
	var total float64
	for i, cn := range plan {
		total += cn.Weight
		cum[i] = total
	}
	used := make([]int, len(plan))
	for i := 0; i < n; i++ {
		k := i
		if i >= len(plan) {
			x := rng.Float64() * total
			k = min(len(plan)-1, sortSearch(cum, x))
		}
		cn := &plan[k]
		used[k]++
		ip, _ := nthAddr(cn.Prefix, 1+(used[k]-1)%250)
		a := f.agents[i%len(f.agents)]
		*nextID++
		c := &conversation{id: *nextID, server: a, serverIP: a.ip, serverLoc: a.loc, clientIP: ip,
			clientLoc: t.Lookup(ip), port: 443, inet: cn}
		// Web clients: lognormal volumes around 40 kB/s, frequent short
		// connections, the location's RTT with a little per-client spread.
		c.bytesPerSec = 40_000 * math.Exp(rng.NormFloat64()*0.8)
		c.upShare = 0.05 + 0.1*rng.Float64()
		c.connsPerSec = 0.5 + 2*rng.Float64()
		c.rttUS = cn.RTTUS * (0.9 + 0.2*rng.Float64())
		a.sides = append(a.sides, side{conv: c, isServer: true})
	}
}

func sortSearch(cum []float64, x float64) int {
	lo, hi := 0, len(cum)
	for lo < hi {
		m := (lo + hi) / 2
		if cum[m] < x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// parseInternetFault reads the internet fault keys: asn=64500 (one
// provider everywhere), city=NAME (every network of a city),
// clients=all (every internet conversation). It reports whether k was one
// of them.
func parseInternetFault(f *Fault, k, v string) (bool, error) {
	switch k {
	case "asn":
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(v), "AS"), 10, 32)
		if err != nil || n == 0 {
			return true, fmt.Errorf("asn %q is not an AS number", v)
		}
		f.ASN = uint32(n)
	case "city":
		f.City = v
	case "clients":
		if v != "all" {
			return true, fmt.Errorf("clients=%q: only clients=all is known", v)
		}
		f.AllClients = true
	default:
		return false, nil
	}
	return true, nil
}

// internetTargets counts the internet selectors a fault has.
func (ft Fault) internetTargets() int {
	n := 0
	if ft.ASN != 0 {
		n++
	}
	if ft.City != "" {
		n++
	}
	if ft.AllClients {
		n++
	}
	return n
}

// validateInternet checks that an asn= or city= fault names a part of the
// simulated internet.
func (ft Fault) validateInternet() error {
	plan := InternetPlan()
	for _, cn := range plan {
		if (ft.ASN != 0 && cn.Info.ASN == ft.ASN) || (ft.City != "" && strings.EqualFold(cn.Info.City, ft.City)) {
			return nil
		}
	}
	if ft.ASN != 0 {
		return fmt.Errorf("asn %d is not in the simulated internet (AS%d is the transit provider; see flowlens sim geoip)", ft.ASN, TransitASN)
	}
	if ft.City != "" {
		return fmt.Errorf("city %q is not in the simulated internet (e.g. Paris, Tokyo, New York)", ft.City)
	}
	return nil
}

// affectsInternet says whether an internet fault hits a conversation (both
// directions: the loss is on the client's path).
func (ft Fault) affectsInternet(c *conversation) bool {
	if ft.AllClients {
		return c.inet != nil || c.clientLoc.Kind == topology.KindInternet || c.serverLoc.Kind == topology.KindInternet
	}
	if c.inet == nil {
		return false
	}
	return (ft.ASN != 0 && c.inet.Info.ASN == ft.ASN) || (ft.City != "" && strings.EqualFold(c.inet.Info.City, ft.City))
}
