package internet

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/periods"
	"github.com/flowlens/flowlens/store"
)

// Namespace is where the internet monitor publishes its metric points.
const Namespace = "FlowLens/Internet"

// maxImpactedLocations bounds the locations an event lists.
const maxImpactedLocations = 50

// dimensions of health events.
const (
	dimAvailability = "availability"
	dimPerformance  = "performance"
)

// period accumulates one monitor's internet flows of one period.
type period struct {
	accs map[cityNet]*acc
	rows int
}

// state is one monitor's evaluator state.
type state struct {
	mon       Monitor
	periods   *periods.Accumulator[period]
	baselines map[cityNet]*baseline
	locations map[cityNet]Location
	active    map[string]*Event // by dimension
}

// catchUp is how many ended periods one evaluation pass takes at most
// after a long stop (the newest; older ones are skipped).
const catchUp = 9

func newState(m Monitor, now time.Time) *state {
	// The period in progress is evaluated (a monitor created mid-period
	// starts with it); an interval ending exactly on a boundary belongs to
	// the period it covered. The grace is given to due by the module.
	wins := periods.New(periods.Config{Period: m.Period(), EndClosesPeriod: true, MaxCatchUp: catchUp}, now,
		func(time.Time) *period { return &period{accs: map[cityNet]*acc{}} })
	return &state{mon: m, periods: wins,
		baselines: map[cityNet]*baseline{}, locations: map[cityNet]Location{}, active: map[string]*Event{}}
}

// seed rebuilds baselines and locations from stored measurements (newest
// first, as tables.measurements returns them). What the measurements lack
// is approximated: segments from bytes sent, "impacted" from the scores.
func (s *state) seed(ms []Measurement) {
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		k := cityNet{City: m.City, Country: m.Country, ASN: m.ASN, Unresolved: m.Unresolved}
		o := observation{Bytes: float64(m.BytesIn + m.BytesOut), Attempts: float64(m.ClientConnections),
			Segments: float64(m.BytesOut) / 1448, RetransRate: math.NaN(), FailedRate: math.NaN(), RTTP90US: math.NaN()}
		if o.Bytes > 0 || o.Attempts > 0 {
			o.Observations = 1
		}
		if o.Segments >= 100 {
			o.RetransRate = m.RetransmissionRate / 100
		}
		if m.ClientConnections >= 10 {
			o.FailedRate = m.FailedConnectionRate / 100
		}
		if m.RTTP90MS > 0 {
			o.RTTP90US = m.RTTP90MS * 1000
		}
		b := s.baselines[k]
		if b == nil {
			b = &baseline{}
			s.baselines[k] = b
		}
		b.add(o, m.MissingTraffic || m.PerformanceScore < 100 || m.AvailabilityScore < 100)
		if _, ok := s.locations[k]; !ok && m.ASName != "" {
			s.locations[k] = m.Location
		}
	}
}

// add takes a stored flow into its period; unresolved says why a remote
// end without an ASN has none. It returns false when the period was
// already evaluated (a late report).
func (s *state) add(r *store.FlowRow, unresolved func(netip.Addr) string) bool {
	per, placed := s.periods.Window(r.End)
	if placed == periods.Late {
		return false
	}
	k := cityNet{City: r.Remote.City, Country: r.Remote.Country, ASN: r.Remote.ASN}
	if k.ASN == 0 {
		k.Unresolved = unresolved(r.Key.RemoteIP)
	}
	a := per.accs[k]
	if a == nil {
		a = &acc{}
		per.accs[k] = a
	}
	a.add(r)
	per.rows++
	return true
}

// due takes out the periods ready to evaluate at now: ended at least
// grace ago. Periods without any flow are evaluated too, since silence is
// what a blackhole looks like.
func (s *state) due(now time.Time, grace time.Duration) []periods.Closed[period] {
	return s.periods.Due(now.Add(-grace))
}

// periodResult is what evaluating one period produced.
type periodResult struct {
	overall      Overall
	measurements []Measurement
	changed      []*Event
	points       []metricstore.Point
}

// judged is one city-network's evaluation in a period.
type judged struct {
	key cityNet
	a   *acc
	j   judgement
	loc Location
}

// evaluate judges a period that due took out.
func (s *state) evaluate(c periods.Closed[period], geo GeoLookup, metricLocations int) periodResult {
	per := c.Window
	pd := s.mon.Period()
	t0 := c.Start.UTC()

	// Every city-network with traffic, and those whose baseline expects
	// traffic that did not come.
	var all []judged
	for k, a := range per.accs {
		all = append(all, judged{key: k, a: a, j: judge(a, s.baselines[k].expect())})
	}
	for k, b := range s.baselines {
		if _, ok := per.accs[k]; ok {
			continue
		}
		if e := b.expect(); e.ready && e.bytes > 0 {
			a := &acc{}
			all = append(all, judged{key: k, a: a, j: judge(a, e)})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].j.weight != all[j].j.weight {
			return all[i].j.weight > all[j].j.weight
		}
		return keyLess(all[i].key, all[j].key)
	})

	// Baselines learn from every city-network, tracked or not.
	for _, x := range all {
		b := s.baselines[x.key]
		if b == nil {
			b = &baseline{}
			s.baselines[x.key] = b
		}
		j := x.j
		b.add(x.a.observation(), j.retransExcess || j.rttExcess || j.failExcess || j.missing)
	}
	for k, b := range s.baselines {
		if b.idle > 2*baselineWindow {
			delete(s.baselines, k)
			delete(s.locations, k)
		}
	}

	tracked := s.track(all)
	res := periodResult{overall: Overall{Monitor: s.mon.Name, Time: t0, PeriodSeconds: s.mon.PeriodSeconds,
		CityNetworks: len(tracked), AvailabilityScore: 100, PerformanceScore: 100}}
	var total, perfImpacted, availImpacted, rttWeight float64
	for _, x := range tracked {
		total += x.j.weight
	}
	for i := range tracked {
		x := &tracked[i]
		x.loc = s.location(x.key, x.a, geo)
		perfImpacted += x.j.perfImpacted
		availImpacted += x.j.availImpacted
		m := measurement(s.mon, t0, x, total)
		res.measurements = append(res.measurements, m)
		res.overall.BytesIn += x.a.bytesIn
		res.overall.BytesOut += x.a.bytesOut
		if x.a.rtt.Count > 0 {
			w := float64(x.a.bytes())
			rttWeight += w
			res.overall.RTTP50MS += w * m.RTTP50MS
			res.overall.RTTP90MS += w * m.RTTP90MS
			res.overall.RTTP95MS += w * m.RTTP95MS
		}
	}
	if rttWeight > 0 {
		res.overall.RTTP50MS /= rttWeight
		res.overall.RTTP90MS /= rttWeight
		res.overall.RTTP95MS /= rttWeight
	}
	if total > 0 {
		res.overall.PerformanceScore = 100 * (1 - math.Min(1, perfImpacted/total))
		res.overall.AvailabilityScore = 100 * (1 - math.Min(1, availImpacted/total))
	}
	end := t0.Add(pd)
	for _, dim := range []string{dimAvailability, dimPerformance} {
		if ev := s.health(dim, t0, end, tracked, res.measurements, total, res.overall); ev != nil {
			res.changed = append(res.changed, ev)
		}
	}
	res.points = points(s.mon, res.overall, res.measurements, metricLocations)
	return res
}

// track picks the city-networks the monitor follows this period: the
// largest first, until the traffic share or the maximum count is reached.
func (s *state) track(all []judged) []judged {
	var total float64
	for _, x := range all {
		total += x.j.weight
	}
	var out []judged
	var cum float64
	for _, x := range all {
		if x.j.weight <= 0 {
			break
		}
		if s.mon.MaxCityNetworks > 0 && len(out) >= s.mon.MaxCityNetworks {
			break
		}
		if total > 0 && cum/total*100 >= s.mon.TrafficShare {
			break
		}
		out = append(out, x)
		cum += x.j.weight
	}
	return out
}

func keyLess(a, b cityNet) bool {
	if a.Country != b.Country {
		return a.Country < b.Country
	}
	if a.City != b.City {
		return a.City < b.City
	}
	if a.ASN != b.ASN {
		return a.ASN < b.ASN
	}
	return a.Unresolved < b.Unresolved
}

// location describes a city-network, looking its details up once.
func (s *state) location(k cityNet, a *acc, geo GeoLookup) Location {
	if l, ok := s.locations[k]; ok {
		if l.ASName == "" && a.asName != "" {
			l.ASName = a.asName
			s.locations[k] = l
		}
		return l
	}
	l := Location{City: k.City, Country: k.Country, ASN: k.ASN, ASName: a.asName, Unresolved: k.Unresolved}
	if geo != nil && a.ip.IsValid() {
		info := geo.Lookup(a.ip)
		if info.City == k.City && info.Country == k.Country {
			l.Subdivision, l.Latitude, l.Longitude = info.Subdivision, info.Latitude, info.Longitude
		}
		if l.ASName == "" && info.ASN == k.ASN {
			l.ASName = info.ASName
		}
	}
	if a.ip.IsValid() {
		s.locations[k] = l
	}
	return l
}

func measurement(mon Monitor, t0 time.Time, x *judged, total float64) Measurement {
	a, j := x.a, x.j
	m := Measurement{Monitor: mon.Name, Time: t0, PeriodSeconds: mon.PeriodSeconds, Location: x.loc,
		BytesIn: a.bytesIn, BytesOut: a.bytesOut, ClientConnections: a.attempts(), FailedConnections: a.failed,
		AvailabilityScore: round2(j.availability), PerformanceScore: round2(j.performance), MissingTraffic: j.missing}
	if total > 0 {
		m.TrafficShare = round4(100 * j.weight / total)
		m.TrafficImpacted = round4(100 * math.Max(j.perfImpacted, j.availImpacted) / total)
	}
	if a.rtt.Count > 0 {
		m.RTTP50MS = round2(a.rtt.Quantile(0.5) / 1000)
		m.RTTP90MS = round2(a.rtt.Quantile(0.9) / 1000)
		m.RTTP95MS = round2(a.rtt.Quantile(0.95) / 1000)
	}
	if a.segments > 0 {
		m.RetransmissionRate = round4(100 * float64(a.retrans) / float64(a.segments))
	}
	if a.attempts() > 0 {
		m.FailedConnectionRate = round4(100 * float64(a.failed) / float64(a.attempts()))
	}
	return m
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
func round4(v float64) float64 { return math.Round(v*10000) / 10000 }

// health opens, updates or resolves the event of one dimension and
// returns it when it changed.
func (s *state) health(dim string, start, end time.Time, tracked []judged, ms []Measurement, total float64, o Overall) *Event {
	score, global, local := o.PerformanceScore, TypePerformance, TypeLocalPerformance
	locScore := func(j judgement) (float64, float64) { return j.performance, j.perfImpacted }
	if dim == dimAvailability {
		score, global, local = o.AvailabilityScore, TypeAvailability, TypeLocalAvailability
		locScore = func(j judgement) (float64, float64) { return j.availability, j.availImpacted }
	}
	var impactedLocs []Measurement
	var list []scored
	localBreach := false
	var impactedBytes float64
	overallBreach := score < s.mon.OverallThreshold
	// A city-network is impacted under the local threshold; while the
	// overall score is breached, also under the overall one, so that an
	// event opened by many partly impacted city-networks (5% loss on one
	// provider hurts some of its flows, not most) still names them and
	// its cause.
	bar := s.mon.LocalThreshold
	if overallBreach {
		bar = math.Max(bar, s.mon.OverallThreshold)
	}
	for i, x := range tracked {
		sc, imp := locScore(x.j)
		bad := sc < bar
		list = append(list, scored{net: x.key, asName: x.loc.ASName, weight: x.j.weight, impacted: bad, impact: imp})
		if !bad {
			continue
		}
		impactedBytes += imp
		impactedLocs = append(impactedLocs, ms[i])
		if sc < s.mon.LocalThreshold && total > 0 && 100*imp/total >= s.mon.MinTrafficImpact {
			localBreach = true
		}
	}
	ev := s.active[dim]
	if !overallBreach && !localBreach {
		if ev == nil {
			return nil
		}
		ended := start
		ev.Status, ev.EndedAt, ev.LastUpdatedAt = StatusResolved, &ended, end
		delete(s.active, dim)
		return ev
	}
	if ev == nil {
		ev = &Event{ID: fmt.Sprintf("%s-%s-%d", s.mon.Name, dim, start.UnixMilli()), Monitor: s.mon.Name,
			Status: StatusActive, Type: local, StartedAt: start, WorstScore: score}
		s.active[dim] = ev
	}
	if overallBreach {
		ev.Type = global
	}
	ev.LastUpdatedAt, ev.OverallScore = end, round2(score)
	ev.WorstScore = round2(math.Min(ev.WorstScore, score))
	if total > 0 {
		ev.TrafficImpacted = round4(100 * impactedBytes / total)
	}
	sort.SliceStable(impactedLocs, func(i, j int) bool { return impactedLocs[i].TrafficImpacted > impactedLocs[j].TrafficImpacted })
	if len(impactedLocs) > maxImpactedLocations {
		impactedLocs = impactedLocs[:maxImpactedLocations]
	}
	if len(impactedLocs) > 0 {
		ev.ImpactedLocations = impactedLocs
	}
	// Keep a named cause once found: later periods of the same incident may
	// be muddier (recovery is uneven).
	if c := attribute(list); c.Kind != CauseUnknown || ev.Cause.Kind == "" || ev.Cause.Kind == CauseUnknown {
		ev.Cause = c
	}
	return ev
}

// points are the metric points of a period: overall series per monitor,
// and per-location series for the largest city-networks only (bounded
// cardinality).
func points(mon Monitor, o Overall, ms []Measurement, perLocation int) []metricstore.Point {
	pd := mon.Period()
	mk := func(metric string, dims map[string]string, v float64) metricstore.Point {
		return metricstore.Point{Namespace: Namespace, Metric: metric, Dimensions: dims, Time: o.Time, Period: pd,
			Value: v, Count: 1, Sum: v, Min: v, Max: v}
	}
	dims := map[string]string{"monitor": mon.Name}
	pts := []metricstore.Point{
		mk("availability_score", dims, o.AvailabilityScore),
		mk("performance_score", dims, o.PerformanceScore),
		mk("bytes_in", dims, float64(o.BytesIn)),
		mk("bytes_out", dims, float64(o.BytesOut)),
		mk("city_networks", dims, float64(o.CityNetworks)),
	}
	if o.RTTP50MS > 0 {
		pts = append(pts, mk("round_trip_time_p50", dims, o.RTTP50MS*1000), mk("round_trip_time_p90", dims, o.RTTP90MS*1000),
			mk("round_trip_time_p95", dims, o.RTTP95MS*1000))
	}
	for i, m := range ms {
		if i >= perLocation {
			break
		}
		d := map[string]string{"monitor": mon.Name, "city": m.City, "asn": strconv.FormatUint(uint64(m.ASN), 10)}
		pts = append(pts, mk("availability_score", d, m.AvailabilityScore), mk("performance_score", d, m.PerformanceScore),
			mk("bytes_in", d, float64(m.BytesIn)), mk("bytes_out", d, float64(m.BytesOut)))
	}
	return pts
}
