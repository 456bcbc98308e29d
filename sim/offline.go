package sim

import (
	"math/rand/v2"
	"time"

	"github.com/flowlens/flowlens/flow"
)

// Offline generates the fleet's flows without a server or publisher, for
// evaluations that run the analysis code directly (flowlens sim
// eval-localization). The flows are the ones Run would send for the same
// Config: the same seed gives the same fleet, the same faults apply.
type Offline struct {
	f       *fleet
	elapsed time.Duration
}

// AgentInterval is one agent's flow records for one interval.
type AgentInterval struct {
	HostID  string
	Records []flow.Record
}

// NewOffline builds the fleet of cfg (Server and Token are ignored).
func NewOffline(cfg Config) (*Offline, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	f, err := newFleet(cfg)
	if err != nil {
		return nil, err
	}
	return &Offline{f: f}, nil
}

// Next generates the interval of length dt that follows the previous one;
// faults apply by the run time elapsed at its end, as in Run.
func (o *Offline) Next(dt time.Duration) []AgentInterval {
	o.f.tick++
	o.elapsed += dt
	out := make([]AgentInterval, len(o.f.agents))
	for i, a := range o.f.agents {
		rng := rand.New(rand.NewPCG(o.f.seed+uint64(a.index), o.f.tick))
		ai := AgentInterval{HostID: a.hostID, Records: make([]flow.Record, 0, len(a.sides))}
		for _, s := range a.sides {
			real := o.f.realize(s.conv, dt, o.elapsed)
			if real.active {
				ai.Records = append(ai.Records, s.record(&real, rng))
			}
		}
		out[i] = ai
	}
	return out
}
