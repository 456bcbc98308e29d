// Package loceval measures how well the health indicator localizes faults:
// random topologies, random simulated fleets, one random fault each (a
// segment or a host, various loss and RTT levels), run offline through the
// same health code the server uses. `flowlens sim eval-localization`
// prints its report.
package loceval

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/flowlens/flowlens/health"
	"github.com/flowlens/flowlens/sim"
	"github.com/flowlens/flowlens/topology"
)

// Config describes an evaluation.
type Config struct {
	Trials int    // default 200
	Seed   uint64 // the same seed gives the same trials
	// Period is the evaluation window (default 60 s, a monitor's default
	// period; 10 s, the shortest, gives each judgement a sixth of the
	// traffic).
	Period time.Duration
	// BaselineWindows healthy windows precede the fault (default 4).
	BaselineWindows int
	Health          health.Config
}

func (c *Config) defaults() {
	if c.Trials <= 0 {
		c.Trials = 200
	}
	if c.Period <= 0 {
		c.Period = time.Minute
	}
	if c.BaselineWindows <= 0 {
		c.BaselineWindows = 4
	}
}

// KindStats are the outcomes of one kind of scenario.
type KindStats struct {
	Trials   int `json:"trials"`
	Correct  int `json:"correct"`  // segment faults: top-1 right; host faults: attributed to the host
	Degraded int `json:"degraded"` // windows judged DEGRADED (anywhere)
}

// Report is what an evaluation measured.
type Report struct {
	Trials        int `json:"trials"`
	SegmentTrials int `json:"segment_trials"`
	// Unjudgeable segment faults: the faulted segment carried fewer than
	// two independent host pairs in the window, so by the indicator's own
	// rule the fault cannot be told from a host problem. They are counted
	// apart, not in the top-1 accuracy.
	Unjudgeable    int                   `json:"unjudgeable"`
	SegmentTop1    int                   `json:"segment_top1"`
	HostTrials     int                   `json:"host_trials"`
	HostDegraded   int                   `json:"host_degraded"`
	HostAttributed int                   `json:"host_attributed"`
	Healthy        int                   `json:"healthy_windows"` // the last baseline window of every trial
	HealthyFalse   int                   `json:"healthy_false_degraded"`
	Kinds          map[string]*KindStats `json:"kinds"`
	Misses         []string              `json:"misses,omitempty"`
	Seconds        float64               `json:"seconds"`
}

// Top1Accuracy is the share of segment faults whose segment ranked first.
func (r *Report) Top1Accuracy() float64 { return ratio(r.SegmentTop1, r.SegmentTrials) }

// FalseDegradedRate is the share of host faults judged DEGRADED.
func (r *Report) FalseDegradedRate() float64 { return ratio(r.HostDegraded, r.HostTrials) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Print writes the report, ending with the two lines checks read.
func (r *Report) Print(w io.Writer) {
	kinds := make([]string, 0, len(r.Kinds))
	for k := range r.Kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		s := r.Kinds[k]
		fmt.Fprintf(w, "%-22s trials=%-4d correct=%-4d degraded=%d\n", k, s.Trials, s.Correct, s.Degraded)
	}
	for _, m := range r.Misses {
		fmt.Fprintln(w, "miss:", m)
	}
	fmt.Fprintf(w, "trials=%d segment_trials=%d unjudgeable=%d host_trials=%d seconds=%.1f\n",
		r.Trials, r.SegmentTrials, r.Unjudgeable, r.HostTrials, r.Seconds)
	fmt.Fprintf(w, "host_attributed_rate=%.3f\n", ratio(r.HostAttributed, r.HostTrials))
	fmt.Fprintf(w, "healthy_false_degraded_rate=%.3f\n", ratio(r.HealthyFalse, r.Healthy))
	fmt.Fprintf(w, "top1_accuracy=%.3f\n", r.Top1Accuracy())
	fmt.Fprintf(w, "false_degraded_rate=%.3f\n", r.FalseDegradedRate())
}

// Run performs the trials.
func Run(cfg Config) (*Report, error) {
	cfg.defaults()
	started := time.Now()
	rep := &Report{Kinds: map[string]*KindStats{}}
	for i := 0; i < cfg.Trials; i++ {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
		// Window w ends (w+1) periods into the run; the fault starts just
		// after the last baseline window.
		sc, err := newScenario(rng, cfg.Period*time.Duration(cfg.BaselineWindows)+time.Millisecond)
		if err != nil {
			return nil, fmt.Errorf("trial %d: %w", i, err)
		}
		if err := runTrial(&cfg, rep, sc, rng.Uint64()); err != nil {
			return nil, fmt.Errorf("trial %d (%s): %w", i, sc.name, err)
		}
	}
	rep.Trials = cfg.Trials
	rep.Seconds = time.Since(started).Seconds()
	return rep, nil
}

// scenario is one random fleet with one fault.
type scenario struct {
	name   string // kind for the report
	topo   *topology.Topology
	agents int
	flows  int
	fault  sim.Fault
	want   []string // acceptable top-1 segment ids (segment faults)
}

func (s *scenario) isHost() bool { return s.fault.Host != "" }

func runTrial(cfg *Config, rep *Report, sc *scenario, seed uint64) error {
	gen, err := sim.NewOffline(sim.Config{Topology: sc.topo, Agents: sc.agents, FlowsPerAgent: sc.flows,
		Interval: cfg.Period, Seed: seed, Faults: []sim.Fault{sc.fault}})
	if err != nil {
		return err
	}
	base := health.NewBaselines(0)
	var res *health.Result
	for w := 0; w <= cfg.BaselineWindows; w++ {
		flows := Flows(sc.topo, gen.Next(cfg.Period))
		res = health.Evaluate(cfg.Health, flows, base)
		if w == cfg.BaselineWindows-1 { // the last healthy window
			rep.Healthy++
			if len(res.Degraded()) > 0 {
				rep.HealthyFalse++
			}
		}
		if w < cfg.BaselineWindows {
			base.Learn(res)
		}
	}
	ks := rep.Kinds[sc.name]
	if ks == nil {
		ks = &KindStats{}
		rep.Kinds[sc.name] = ks
	}
	ks.Trials++
	deg := res.Degraded()
	if len(deg) > 0 {
		ks.Degraded++
	}
	desc := describe(sc, res)
	if sc.isHost() {
		rep.HostTrials++
		if len(deg) > 0 {
			rep.HostDegraded++
			rep.Misses = append(rep.Misses, "false degraded: "+desc)
		}
		for _, h := range res.Hosts {
			if h.Host == sc.fault.Host {
				rep.HostAttributed++
				ks.Correct++
				break
			}
		}
		return nil
	}
	if !judgeable(sc, res) {
		rep.Unjudgeable++
		ks.Trials--
		return nil
	}
	rep.SegmentTrials++
	if len(deg) > 0 && contains(sc.want, deg[0]) {
		rep.SegmentTop1++
		ks.Correct++
	} else {
		rep.Misses = append(rep.Misses, "segment: "+desc)
	}
	return nil
}

// judgeable says whether the faulted segment carried at least two
// independent active host pairs.
func judgeable(sc *scenario, res *health.Result) bool {
	for _, s := range res.Segments {
		if contains(sc.want, s.ID) && s.ActiveIndependentPairs >= 2 {
			return true
		}
	}
	return false
}

func describe(sc *scenario, res *health.Result) string {
	var top []string
	for i, s := range res.Segments {
		if i == 3 {
			break
		}
		top = append(top, fmt.Sprintf("%s(score=%.2f deg=%v indep=%d/%d act=%d)", s.ID, s.Score, s.Degraded, s.IndependentPairs, s.RequiredPairs, s.ActivePairs))
	}
	return fmt.Sprintf("%s loss=%.3f rtt=%s agents=%d want=%v got=[%s]", sc.name, sc.fault.Loss, sc.fault.ExtraRTT,
		sc.agents, sc.want, strings.Join(top, " "))
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// Flows places generated records in the topology as ingest does.
func Flows(t *topology.Topology, agents []sim.AgentInterval) []health.Flow {
	var out []health.Flow
	for _, a := range agents {
		for i := range a.Records {
			r := &a.Records[i]
			l, rm := t.Lookup(r.Key.LocalIP), t.Lookup(r.Key.RemoteIP)
			out = append(out, health.FromRecord(a.HostID, r, l, rm, topology.Classify(l, rm)))
		}
	}
	return out
}

// newScenario draws a topology, a fleet size and a fault that starts after
// the baseline.
func newScenario(rng *rand.Rand, after time.Duration) (*scenario, error) {
	regions := 1 + rng.IntN(2)
	zonesPer := 2 + rng.IntN(2)
	topo, zones, services, err := randomTopology(rng, regions, zonesPer)
	if err != nil {
		return nil, err
	}
	nz := regions * zonesPer
	sc := &scenario{topo: topo, agents: nz * (5 + rng.IntN(6)), flows: 30 + rng.IntN(31)}
	sc.fault.After = after
	losses := []float64{0.01, 0.02, 0.03, 0.05, 0.1}
	rtts := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond}
	roll := rng.Float64()
	switch {
	case roll < 0.35: // a host: loss or RTT, in and out
		sc.fault.Host = fmt.Sprintf("sim-%d", rng.IntN(sc.agents))
		if rng.IntN(2) == 0 {
			sc.name = "host-loss"
			sc.fault.Loss = []float64{0.02, 0.05, 0.1}[rng.IntN(3)]
		} else {
			sc.name = "host-rtt"
			sc.fault.ExtraRTT = rtts[rng.IntN(len(rtts))]
		}
	case roll < 0.65 || (roll < 0.85 && regions == 1): // one direction of an inter-zone link
		a, b := zonePair(rng, zones)
		sc.name, sc.fault.From, sc.fault.To = "zone-link-loss", a.ID, b.ID
		sc.fault.Loss = losses[rng.IntN(len(losses))]
		sc.want = []string{a.ID + ">" + b.ID}
	case roll < 0.75: // RTT on an inter-zone link: a round trip has no direction
		a, b := zonePair(rng, zones)
		sc.name, sc.fault.From, sc.fault.To, sc.fault.Bidirectional = "zone-link-rtt", a.ID, b.ID, true
		sc.fault.ExtraRTT = rtts[rng.IntN(len(rtts))]
		sc.want = []string{a.ID + ">" + b.ID, b.ID + ">" + a.ID}
	case roll < 0.85: // the link between two regions
		a, b := "region-0", "region-1"
		if rng.IntN(2) == 0 {
			a, b = b, a
		}
		sc.name, sc.fault.From, sc.fault.To = "region-link-loss", a, b
		sc.fault.Loss = losses[rng.IntN(len(losses))]
		sc.want = []string{a + ">" + b}
	default: // from one zone to a service
		z := zones[rng.IntN(len(zones))]
		svc := services[rng.IntN(len(services))]
		sc.name, sc.fault.From, sc.fault.To = "zone-service-loss", z.ID, "service:"+svc
		sc.fault.Loss = losses[rng.IntN(len(losses))]
		sc.want = []string{z.ID + ">service:" + svc}
	}
	return sc, nil
}

// zonePair picks two zones of the same region.
func zonePair(rng *rand.Rand, zones []topology.Zone) (topology.Zone, topology.Zone) {
	for {
		a, b := zones[rng.IntN(len(zones))], zones[rng.IntN(len(zones))]
		if a.ID != b.ID && a.Region == b.Region {
			return a, b
		}
	}
}

// randomTopology writes a topology file and parses it, so that it passes
// the same checks as a user's: regions region-N with zones zone-N<letter>,
// one network per region, 1-3 subnets per zone, 1-2 services.
func randomTopology(rng *rand.Rand, regions, zonesPer int) (*topology.Topology, []topology.Zone, []string, error) {
	var b strings.Builder
	b.WriteString("regions:\n")
	for r := 0; r < regions; r++ {
		fmt.Fprintf(&b, "  - id: region-%d\n    zones:\n", r)
		for z := 0; z < zonesPer; z++ {
			fmt.Fprintf(&b, "      - id: zone-%d%c\n", r, 'a'+z)
		}
	}
	b.WriteString("networks:\n")
	subnet := 0
	for r := 0; r < regions; r++ {
		fmt.Fprintf(&b, "  - id: net-%d\n    region: region-%d\n    subnets:\n", r, r)
		for z := 0; z < zonesPer; z++ {
			for s := 0; s < 1+rng.IntN(3); s++ {
				fmt.Fprintf(&b, "      - id: subnet-%d\n        zone: zone-%d%c\n        cidrs: [10.%d.%d.0/24]\n",
					subnet, r, 'a'+z, 10+r, subnet)
				subnet++
			}
		}
	}
	services := []string{"objstore"}
	b.WriteString("services:\n  - id: objstore\n    cidrs: [198.51.100.0/24]\n")
	if rng.IntN(2) == 0 {
		services = append(services, "db")
		b.WriteString("  - id: db\n    cidrs: [192.0.2.0/24]\n")
	}
	t, err := topology.Parse([]byte(b.String()), "random-topology.yaml")
	if err != nil {
		return nil, nil, nil, err
	}
	return t, t.Zones, services, nil
}
