// Package health computes the network health indicator: for each window of
// flows, which path segments (subnets, zones, links between zones, regions,
// services and the internet) are degraded, with the evidence that shows why,
// and which anomalies belong to a single host (a workload problem, not the
// network's).
//
// The method, in the order Evaluate applies it:
//
//  1. Flows are merged into host pairs (local IP, remote IP). Each pair is
//     judged against its baseline: excess retransmissions or RTOs (a Poisson
//     tail test against the baseline rate of the pair's route, the link it
//     crosses) and inflated RTT (against the pair's own RTT history, or its
//     route's when the pair is new).
//  2. Every affected pair votes for each segment on its path (so does a pair
//     whose excess only reaches a looser tail, 0.05: a small pair cannot be
//     significant alone in 10 s); a segment's score is the share of its
//     traffic (segments sent, RTT samples) that comes from voting pairs, so
//     that a busy zone does not outvote the narrow link that actually fails.
//  3. A segment is degraded when the anomaly is shared by independent host
//     pairs (a matching: no two share an end; default at least 3, or at least
//     half of its independent active pairs when it has fewer, never one) and
//     it remains significant once the single most implicated host is left
//     out. Segments are taken greedily by score; the pairs a degraded segment
//     explains are removed before the next is considered, so the zone around
//     a failing link is not blamed as well.
//  4. Affected pairs nobody explains and that share one host are attributed
//     to that host (a workload problem): the indicator stays HEALTHY and the
//     evidence names the host.
//
// Evaluate is a pure function of the window's flows and the baselines;
// Baselines.Learn then adds the window's healthy figures to the history.
package health

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/topology"
)

// State is the indicator's value for one monitor and window.
type State string

const (
	Healthy  State = "HEALTHY"
	Degraded State = "DEGRADED"
	Unknown  State = "UNKNOWN" // too little traffic to judge
)

// Flow is one flow's totals over the window, placed in the topology.
type Flow struct {
	HostID          string
	LocalIP         netip.Addr
	RemoteIP        netip.Addr
	Local, Remote   topology.Location
	Category        topology.Category
	BytesSent       uint64
	SegmentsSent    uint64
	Retransmissions uint64
	Timeouts        uint64
	RTTCount        uint64
	RTTSumUS        uint64
}

// Config tunes the indicator. The zero value takes every default.
type Config struct {
	// MinPairs independent host pairs make a segment degraded (default 3);
	// a segment with fewer independent active pairs than that needs half
	// of them, and never fewer than 2.
	MinPairs int
	// PairAlpha is the Poisson tail probability under which a pair's
	// retransmissions or RTOs are anomalous on their own (default 0.001).
	// WeakAlpha is the looser one under which a pair counts towards an
	// anomaly its segment shows as a whole (default 0.05): a 10 s window
	// of a small pair cannot reach PairAlpha at a few percent loss.
	PairAlpha float64
	WeakAlpha float64
	// SegmentAlpha is the tail probability a segment's excess must reach
	// once its most implicated host is left out (default 1e-4).
	SegmentAlpha float64
	// LossFactor and MinLossIncrease: a segment's retransmission rate must
	// also exceed LossFactor × expected + MinLossIncrease (defaults 3 and
	// 0.002) to matter in practice, however significant.
	LossFactor      float64
	MinLossIncrease float64
	// MinSegments sent make a pair active (default 10); so do
	// MinRTTSamples RTT samples (default 3).
	MinSegments   uint64
	MinRTTSamples uint64
	// DefaultRetransRate and DefaultRTORate stand in for a route without
	// enough history (defaults 0.001 and 0.0001); MinRetransRate and
	// MinRTORate floor learned baselines (defaults 0.0005 and 0.00005).
	DefaultRetransRate float64
	DefaultRTORate     float64
	MinRetransRate     float64
	MinRTORate         float64
	// RTT is inflated above median + max(RTTSigmas × σ, RTTFactor × median,
	// MinRTTIncreaseUS) (defaults 5, 0.2, 500 µs).
	RTTSigmas        float64
	RTTFactor        float64
	MinRTTIncreaseUS float64
	// MinHistory windows make a baseline usable (default 3).
	MinHistory int
	// MaxDegraded bounds the segments reported degraded per window (5).
	MaxDegraded int
}

func (c *Config) defaults() {
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setF := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	setInt(&c.MinPairs, 3)
	setInt(&c.MinHistory, 3)
	setInt(&c.MaxDegraded, 5)
	setF(&c.PairAlpha, 0.001)
	setF(&c.WeakAlpha, 0.05)
	setF(&c.SegmentAlpha, 1e-4)
	setF(&c.LossFactor, 3)
	setF(&c.MinLossIncrease, 0.002)
	setF(&c.DefaultRetransRate, 0.001)
	setF(&c.DefaultRTORate, 0.0001)
	setF(&c.MinRetransRate, 0.0005)
	setF(&c.MinRTORate, 0.00005)
	setF(&c.RTTSigmas, 5)
	setF(&c.RTTFactor, 0.2)
	setF(&c.MinRTTIncreaseUS, 500)
	if c.MinSegments == 0 {
		c.MinSegments = 10
	}
	if c.MinRTTSamples == 0 {
		c.MinRTTSamples = 3
	}
}

// pair is one (local IP, remote IP) pair's totals and verdict.
type pair struct {
	key           pairKey
	li, ri        int // dense indexes of the two ends (for matching)
	local, remote topology.Location
	hops          []Hop
	route         string
	segs, retrans uint64
	rto           uint64
	rttCount      uint64
	rttSum        float64

	expRate, expRTO  float64 // expected per segment sent
	rttBase          float64 // 0: no RTT baseline
	lossHit, rttHit  bool
	lossWeak         bool   // PairAlpha not reached, WeakAlpha is
	rttOwn           bool   // judged against its own RTT history
	explained        bool   // by a degraded segment
	explainedBy      string // that segment's id
	attributed       bool   // to a host
	active, rttJudge bool
}

func (p *pair) affected() bool { return p.lossHit || p.rttHit }

// contributes says whether a pair counts towards its segments' anomaly.
func (p *pair) contributes() bool { return p.lossHit || p.lossWeak || p.rttHit }

// excess is how many more retransmissions the pair had than expected.
func (p *pair) excess() float64 {
	return math.Max(0, float64(p.retrans)-float64(p.segs)*p.expRate)
}
func (p *pair) rttAvg() float64 {
	if p.rttCount == 0 {
		return 0
	}
	return p.rttSum / float64(p.rttCount)
}

// Figures are a segment's rates in one window, or its baseline.
type Figures struct {
	RetransmissionRate float64 `json:"retransmission_rate"`
	RTORate            float64 `json:"rto_rate"`
	RTTUS              float64 `json:"rtt_us"`
}

// SegmentEvidence is one segment's verdict and the figures behind it.
type SegmentEvidence struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Rank     int    `json:"rank"`
	Degraded bool   `json:"degraded"`
	// Score is the share (0..1) of the segment's traffic that comes from
	// affected host pairs.
	Score            float64 `json:"score"`
	ActivePairs      int     `json:"active_pairs"`
	AffectedPairs    int     `json:"affected_pairs"`
	IndependentPairs int     `json:"independent_pairs"`
	// ActiveIndependentPairs is the most independent pairs the segment's
	// traffic could show: it bounds what can be judged.
	ActiveIndependentPairs int `json:"active_independent_pairs"`
	// RequiredPairs is how many independent pairs would make it degraded.
	RequiredPairs int     `json:"required_pairs"`
	Baseline      Figures `json:"baseline"`
	Now           Figures `json:"now"`
	Reason        string  `json:"reason"`
}

// HostEvidence names a host an anomaly is confined to.
type HostEvidence struct {
	Host               string  `json:"host"` // host id when known, else the IP
	IP                 string  `json:"ip"`
	AffectedPairs      int     `json:"affected_pairs"`
	ActivePairs        int     `json:"active_pairs"`
	RetransmissionRate float64 `json:"retransmission_rate"`
	RTTUS              float64 `json:"rtt_us"`
	Reason             string  `json:"reason"`
}

// Result is the fleet-wide verdict for one window.
type Result struct {
	Segments      []SegmentEvidence // every segment seen, ranked
	Hosts         []HostEvidence    // anomalies attributed to hosts
	ActivePairs   int
	AffectedPairs int

	pairs    []*pair
	hostName map[netip.Addr]string
	segIndex map[string]int // id -> index in Segments
	learn    learned
}

type learned struct {
	segments map[string]segmentWindow
	pairs    map[pairKey]float64
}

type segmentWindow struct {
	retransRate, rtoRate, rttUS, rttP90 float64
	hasLoss, hasRTT                     bool
}

// Degraded lists the degraded segments' ids, most likely first.
func (r *Result) Degraded() []string {
	var out []string
	for _, s := range r.Segments {
		if s.Degraded {
			out = append(out, s.ID)
		}
	}
	return out
}

// Evaluate judges one window of flows against the baselines (which it only
// reads; nil means no history yet).
func Evaluate(cfg Config, flows []Flow, base *Baselines) *Result {
	cfg.defaults()
	res := &Result{hostName: map[netip.Addr]string{}, segIndex: map[string]int{}}
	pairs, bySeg := buildPairs(flows, res.hostName)
	res.pairs = pairs
	for _, p := range pairs {
		judge(&cfg, p, base)
		if p.active {
			res.ActivePairs++
			if p.affected() {
				res.AffectedPairs++
			}
		}
	}
	ids := make([]string, 0, len(bySeg))
	for id := range bySeg {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	kinds := map[string]string{}
	for _, p := range pairs {
		for _, h := range p.hops {
			kinds[h.ID] = h.Kind
		}
	}

	// Greedy explanation: the best-scoring qualifying segment, then the
	// next among the pairs it does not explain.
	var degraded []SegmentEvidence
	for len(degraded) < cfg.MaxDegraded {
		var best *segStats
		for _, id := range ids {
			st := segmentStats(&cfg, id, kinds[id], bySeg[id], base, true)
			if st.qualifies && better(&st, best) {
				best = &st
			}
		}
		if best == nil {
			break
		}
		ev := best.evidence(true)
		degraded = append(degraded, ev)
		for _, p := range bySeg[best.id] {
			if p.active && p.contributes() && !p.explained {
				p.explained, p.explainedBy = true, best.id
			}
		}
	}
	var rest []SegmentEvidence
	isDegraded := map[string]bool{}
	for _, d := range degraded {
		isDegraded[d.ID] = true
	}
	for _, id := range ids {
		if isDegraded[id] {
			continue
		}
		st := segmentStats(&cfg, id, kinds[id], bySeg[id], base, false)
		rest = append(rest, st.evidence(false))
	}
	sort.SliceStable(rest, func(i, j int) bool {
		if rest[i].Score != rest[j].Score {
			return rest[i].Score > rest[j].Score
		}
		return specificity(rest[i].Kind) < specificity(rest[j].Kind)
	})
	res.Segments = append(degraded, rest...)
	for i := range res.Segments {
		res.Segments[i].Rank = i + 1
		res.segIndex[res.Segments[i].ID] = i
	}
	res.Hosts = attribute(&cfg, pairs, res.hostName)
	res.learn = learn(&cfg, pairs, bySeg, isDegraded)
	return res
}

// buildPairs merges flows into host pairs and indexes them by segment.
func buildPairs(flows []Flow, names map[netip.Addr]string) ([]*pair, map[string][]*pair) {
	byKey := map[pairKey]*pair{}
	var pairs []*pair
	for i := range flows {
		f := &flows[i]
		if f.HostID != "" && f.LocalIP.IsValid() {
			names[f.LocalIP] = f.HostID
		}
		k := pairKey{f.LocalIP, f.RemoteIP}
		p := byKey[k]
		if p == nil {
			hops := Path(f.Local, f.Remote, f.Category)
			p = &pair{key: k, local: f.Local, remote: f.Remote, hops: hops, route: route(hops)}
			byKey[k] = p
			pairs = append(pairs, p)
		}
		segs := f.SegmentsSent
		if segs == 0 && f.BytesSent > 0 { // segments unavailable: estimate from bytes
			segs = (f.BytesSent + 1447) / 1448
		}
		p.segs += segs
		p.retrans += f.Retransmissions
		p.rto += f.Timeouts
		p.rttCount += f.RTTCount
		p.rttSum += float64(f.RTTSumUS)
	}
	// One canonical order (heaviest first, then by address) for every
	// list derived from pairs, so matching needs no sort of its own and
	// results do not depend on map iteration.
	sort.Slice(pairs, func(i, j int) bool {
		a, b := pairs[i], pairs[j]
		if a.segs != b.segs {
			return a.segs > b.segs
		}
		if c := a.key.local.Compare(b.key.local); c != 0 {
			return c < 0
		}
		return a.key.remote.Less(b.key.remote)
	})
	ends := map[netip.Addr]int{}
	endOf := func(a netip.Addr) int {
		i, ok := ends[a]
		if !ok {
			i = len(ends)
			ends[a] = i
		}
		return i
	}
	for _, p := range pairs {
		p.li, p.ri = endOf(p.key.local), endOf(p.key.remote)
	}
	bySeg := map[string][]*pair{}
	for _, p := range pairs {
		for _, h := range p.hops {
			bySeg[h.ID] = append(bySeg[h.ID], p)
		}
	}
	return pairs, bySeg
}

// judge decides whether a pair's window is anomalous.
func judge(cfg *Config, p *pair, base *Baselines) {
	p.expRate, p.expRTO = cfg.DefaultRetransRate, cfg.DefaultRTORate
	var routeBase SegmentBaseline
	var haveRoute bool
	if b, ok := base.Segment(p.route); ok {
		routeBase, haveRoute = b, true
		if b.RetransWindows >= cfg.MinHistory {
			p.expRate = math.Max(b.RetransRate+b.RetransSigma, cfg.MinRetransRate)
			p.expRTO = math.Max(b.RTORate+b.RTOSigma, cfg.MinRTORate)
		}
	}
	p.active = p.segs >= cfg.MinSegments || p.rttCount >= cfg.MinRTTSamples
	if !p.active {
		return
	}
	lossP, rtoP := 1.0, 1.0
	if p.retrans > 0 {
		lossP = poissonTail(p.retrans, float64(p.segs)*p.expRate)
	}
	if p.rto > 0 {
		rtoP = poissonTail(p.rto, float64(p.segs)*p.expRTO)
	}
	p.lossHit = math.Min(lossP, rtoP) < cfg.PairAlpha
	p.lossWeak = !p.lossHit && lossP < cfg.WeakAlpha
	if p.rttCount < cfg.MinRTTSamples {
		return
	}
	var limit float64
	if med, sigma, n := base.pairRTT(p.key); n >= cfg.MinHistory && med > 0 {
		p.rttOwn, p.rttBase = true, med
		limit = med + math.Max(cfg.RTTSigmas*sigma, math.Max(cfg.RTTFactor*med, cfg.MinRTTIncreaseUS))
	} else if haveRoute && routeBase.RTTWindows >= cfg.MinHistory && routeBase.RTTP90US > 0 {
		// A new pair: compare with the slow end of its route's pairs.
		p.rttBase = routeBase.RTTUS
		q := routeBase.RTTP90US
		limit = q + math.Max(cfg.RTTFactor*q, cfg.MinRTTIncreaseUS)
	} else {
		return
	}
	p.rttJudge = true
	p.rttHit = p.rttAvg() > limit
}

// segStats is one segment's figures over the pairs still unexplained.
type segStats struct {
	id, kind                     string
	active, affected, indep, req int
	activeIndep                  int
	score                        float64
	qualifies                    bool
	now, baseline                Figures
	lossSig, rttSig              bool
	outlier                      netip.Addr // the most implicated end, left out of the test
	explainedBy                  []string   // degraded segments that explain some of its affected pairs
}

func segmentStats(cfg *Config, id, kind string, pairs []*pair, base *Baselines, unexplainedOnly bool) segStats {
	st := segStats{id: id, kind: kind}
	var act, aff []*pair
	var segs, lossSegs, retrans, rto, rttW, rttHitW float64
	var rtts []float64
	for _, p := range pairs {
		if !p.active || (unexplainedOnly && p.explained) {
			continue
		}
		act = append(act, p)
		segs += float64(p.segs)
		retrans += float64(p.retrans)
		rto += float64(p.rto)
		if p.lossHit || p.lossWeak {
			lossSegs += float64(p.segs)
		}
		if p.rttJudge {
			rttW += float64(p.rttCount)
			if p.rttHit {
				rttHitW += float64(p.rttCount)
			}
		}
		if p.rttCount > 0 {
			rtts = append(rtts, p.rttAvg())
		}
		if p.contributes() {
			aff = append(aff, p)
			if p.explained && !slices.Contains(st.explainedBy, p.explainedBy) {
				st.explainedBy = append(st.explainedBy, p.explainedBy)
			}
		}
	}
	st.active, st.affected = len(act), len(aff)
	if segs > 0 {
		st.now.RetransmissionRate, st.now.RTORate = retrans/segs, rto/segs
		st.score = lossSegs / segs
	}
	if rttW > 0 {
		st.score = math.Max(st.score, rttHitW/rttW)
	}
	st.now.RTTUS = median(rtts)
	if b, ok := base.Segment(id); ok {
		st.baseline = Figures{RetransmissionRate: b.RetransRate, RTORate: b.RTORate, RTTUS: b.RTTUS}
	}
	st.indep = matching(aff)
	// At least MinPairs independent pairs; where the segment does not have
	// that many independent active pairs at all, half of those it has, and
	// never a single one (one pair is always confined to one host).
	st.activeIndep = matching(act)
	st.req = cfg.MinPairs
	if st.activeIndep < cfg.MinPairs {
		st.req = max(2, (st.activeIndep+1)/2)
	}
	if st.indep < st.req {
		return st
	}
	// Leave the most implicated end out (the one with the most excess
	// retransmissions for the loss test, the most inflated pairs for the
	// RTT test): what remains must still be anomalous, or the anomaly is
	// that host's, not the segment's.
	lossOut := topEndBy(aff, func(p *pair) float64 { return p.excess() })
	rttOut := topEndBy(aff, func(p *pair) float64 {
		if p.rttHit {
			return 1
		}
		return 0
	})
	st.outlier = lossOut
	var rRetrans, rExp, rSegs float64
	var rHit, rJudgedW, rHitW float64
	for _, p := range act {
		if p.key.local != lossOut && p.key.remote != lossOut {
			rRetrans += float64(p.retrans)
			rExp += float64(p.segs) * p.expRate
			rSegs += float64(p.segs)
		}
		if p.rttJudge && p.key.local != rttOut && p.key.remote != rttOut {
			rJudgedW += float64(p.rttCount)
			if p.rttHit {
				rHit++
				rHitW += float64(p.rttCount)
			}
		}
	}
	if rSegs > 0 {
		st.lossSig = poissonTail(uint64(rRetrans), rExp) < cfg.SegmentAlpha &&
			rRetrans/rSegs >= cfg.LossFactor*rExp/rSegs+cfg.MinLossIncrease
	}
	st.rttSig = rHit >= float64(max(2, st.req-1)) && rJudgedW > 0 && rHitW/rJudgedW >= 0.5
	if !st.lossSig && st.rttSig {
		st.outlier = rttOut
	}
	st.qualifies = st.lossSig || st.rttSig
	return st
}

// better orders candidate segments: higher score, then the narrower kind.
func better(a, b *segStats) bool {
	if b == nil {
		return true
	}
	if math.Abs(a.score-b.score) > 1e-9 {
		return a.score > b.score
	}
	if specificity(a.kind) != specificity(b.kind) {
		return specificity(a.kind) < specificity(b.kind)
	}
	return a.id < b.id
}

func (st *segStats) evidence(degraded bool) SegmentEvidence {
	ev := SegmentEvidence{ID: st.id, Kind: st.kind, Degraded: degraded, Score: round(st.score, 4),
		ActivePairs: st.active, AffectedPairs: st.affected, IndependentPairs: st.indep, RequiredPairs: st.req,
		ActiveIndependentPairs: st.activeIndep,
		Baseline:               st.baseline, Now: st.now}
	switch {
	case degraded:
		var what []string
		if st.lossSig {
			what = append(what, fmt.Sprintf("retransmission rate %.4f vs baseline %.4f", st.now.RetransmissionRate, st.baseline.RetransmissionRate))
		}
		if st.rttSig {
			what = append(what, fmt.Sprintf("RTT %.0f µs vs baseline %.0f µs", st.now.RTTUS, st.baseline.RTTUS))
		}
		ev.Reason = fmt.Sprintf("%d independent host pairs affected (%d of %d active): %s", st.indep, st.affected, st.active, joinAnd(what))
	case st.affected == 0:
		ev.Reason = "no affected host pairs"
	case len(st.explainedBy) > 0:
		ev.Reason = fmt.Sprintf("its affected host pairs cross degraded %s", strings.Join(st.explainedBy, ", "))
	case st.indep < st.req:
		ev.Reason = fmt.Sprintf("%d independent affected host pairs, %d needed", st.indep, st.req)
	default:
		ev.Reason = fmt.Sprintf("not significant once %s is left out: a single host's anomaly", st.outlier)
	}
	return ev
}

// matching counts affected pairs no two of which share an end (a greedy
// maximal matching, in the canonical order: heaviest pairs first): how
// many independent host pairs show the anomaly. ps must be in that order,
// as every list built from buildPairs' result is.
func matching(ps []*pair) int {
	used := map[int]bool{}
	if len(ps) > 64 { // dense ends: a slice beats a map for big segments
		hi := 0
		for _, p := range ps {
			hi = max(hi, p.li, p.ri)
		}
		dense := make([]bool, hi+1)
		n := 0
		for _, p := range ps {
			if dense[p.li] || dense[p.ri] {
				continue
			}
			dense[p.li], dense[p.ri] = true, true
			n++
		}
		return n
	}
	n := 0
	for _, p := range ps {
		if used[p.li] || used[p.ri] {
			continue
		}
		used[p.li], used[p.ri] = true, true
		n++
	}
	return n
}

// topEnd is the address that appears in the most pairs (ties: lowest).
func topEnd(ps []*pair) netip.Addr {
	return topEndBy(ps, func(*pair) float64 { return 1 })
}

// topEndBy is the address whose pairs weigh the most (ties: the most
// pairs, then the lowest address).
func topEndBy(ps []*pair, weight func(*pair) float64) netip.Addr {
	w := map[netip.Addr]float64{}
	n := map[netip.Addr]int{}
	for _, p := range ps {
		x := weight(p)
		w[p.key.local] += x
		w[p.key.remote] += x
		n[p.key.local]++
		n[p.key.remote]++
	}
	var best netip.Addr
	for a := range w {
		switch {
		case !best.IsValid(), w[a] > w[best]:
			best = a
		case w[a] == w[best] && (n[a] > n[best] || (n[a] == n[best] && a.Less(best))):
			best = a
		}
	}
	return best
}

// attribute blames hosts for the affected pairs no degraded segment
// explains: the end shared by most of them, when it is shared by at least
// two and by at least half, repeatedly (at most 3 hosts).
func attribute(cfg *Config, pairs []*pair, names map[netip.Addr]string) []HostEvidence {
	var out []HostEvidence
	for len(out) < 3 {
		var left []*pair
		for _, p := range pairs {
			if p.active && p.affected() && !p.explained && !p.attributed {
				left = append(left, p)
			}
		}
		if len(left) < 2 {
			break
		}
		addr := topEnd(left)
		end := addr.String()
		var hit []*pair
		for _, p := range left {
			if p.key.local == addr || p.key.remote == addr {
				hit = append(hit, p)
			}
		}
		if len(hit) < 2 || 2*len(hit) < len(left) {
			break
		}
		ev := HostEvidence{Host: end, IP: end, AffectedPairs: len(hit)}
		if n, ok := names[addr]; ok {
			ev.Host = n
		}
		var segs, retrans float64
		var rtts []float64
		for _, p := range pairs {
			if !p.active || (p.key.local != addr && p.key.remote != addr) {
				continue
			}
			ev.ActivePairs++
			segs += float64(p.segs)
			retrans += float64(p.retrans)
			if p.rttCount > 0 {
				rtts = append(rtts, p.rttAvg())
			}
			if p.affected() {
				p.attributed = true
			}
		}
		if segs > 0 {
			ev.RetransmissionRate = round(retrans/segs, 6)
		}
		ev.RTTUS = round(median(rtts), 1)
		ev.Reason = fmt.Sprintf("%d of %d affected host pairs involve this host and no segment is degraded for the others: a workload or host problem",
			len(hit), len(left))
		out = append(out, ev)
	}
	return out
}

// learn collects the window's healthy figures for Baselines.Learn: segments
// not degraded, from pairs neither explained nor attributed; pair RTTs that
// were not inflated.
func learn(cfg *Config, pairs []*pair, bySeg map[string][]*pair, degraded map[string]bool) learned {
	l := learned{segments: map[string]segmentWindow{}, pairs: map[pairKey]float64{}}
	for id, ps := range bySeg {
		if degraded[id] {
			continue
		}
		var w segmentWindow
		var segs, retrans, rto float64
		var rtts []float64
		for _, p := range ps {
			if !p.active || p.explained || p.attributed {
				continue
			}
			segs += float64(p.segs)
			retrans += float64(p.retrans)
			rto += float64(p.rto)
			if p.rttCount >= cfg.MinRTTSamples {
				rtts = append(rtts, p.rttAvg())
			}
		}
		// Small samples make noisy rates; only learn from enough traffic.
		if segs >= 200 {
			w.retransRate, w.rtoRate, w.hasLoss = retrans/segs, rto/segs, true
		}
		if len(rtts) >= 2 {
			w.rttUS, w.hasRTT = median(rtts), true // sorts rtts
			w.rttP90 = rtts[int(0.9*float64(len(rtts)-1)+0.5)]
		}
		if w.hasLoss || w.hasRTT {
			l.segments[id] = w
		}
	}
	for _, p := range pairs {
		if p.rttCount >= cfg.MinRTTSamples && !(p.rttHit && p.rttOwn) && !p.attributed && !p.explained {
			l.pairs[p.key] = p.rttAvg()
		}
	}
	return l
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return "anomalous"
	case 1:
		return parts[0]
	}
	return parts[0] + " and " + parts[1]
}

// FromRecord is the part of a flow record the indicator reads.
func FromRecord(hostID string, rec *flow.Record, local, remote topology.Location, cat topology.Category) Flow {
	c := &rec.Counters
	return Flow{HostID: hostID, LocalIP: rec.Key.LocalIP, RemoteIP: rec.Key.RemoteIP, Local: local, Remote: remote,
		Category: cat, BytesSent: c.BytesSent, SegmentsSent: c.SegmentsSent, Retransmissions: c.Retransmissions,
		Timeouts: c.Timeouts, RTTCount: c.RTT.Count, RTTSumUS: c.RTT.SumUS}
}
