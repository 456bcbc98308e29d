package health

import (
	"fmt"
	"net/netip"

	"github.com/flowlens/flowlens/topology"
)

// Health is the indicator of one monitor for one window.
type Health struct {
	State    State    `json:"state"`
	Evidence Evidence `json:"evidence"`
}

// Evidence explains a monitor's state.
type Evidence struct {
	Summary string `json:"summary"`
	// Segments on the monitor's paths, most likely culprit first: degraded
	// segments in the order they were found, then by score.
	Segments []SegmentEvidence `json:"segments"`
	// AttributedHost is the host an anomaly in the monitor's traffic is
	// confined to (a workload problem), if any.
	AttributedHost string         `json:"attributed_host,omitempty"`
	Hosts          []HostEvidence `json:"hosts,omitempty"`
	ActivePairs    int            `json:"active_pairs"`
	AffectedPairs  int            `json:"affected_pairs"`
}

// MaxEvidenceSegments bounds the segments listed per monitor (degraded ones
// are always listed).
const MaxEvidenceSegments = 10

// View narrows the fleet-wide result to the host pairs of one monitor: it
// is DEGRADED when a degraded segment lies on the path of any of its pairs
// (as the cloud's indicator is), UNKNOWN when none of its pairs carried
// enough traffic to judge, and HEALTHY otherwise.
func (r *Result) View(match func(local, remote topology.Location) bool) Health {
	onPath := map[string]bool{}
	ends := map[netip.Addr]bool{}
	var ev Evidence
	for _, p := range r.pairs {
		if !match(p.local, p.remote) {
			continue
		}
		for _, h := range p.hops {
			onPath[h.ID] = true
		}
		ends[p.key.local], ends[p.key.remote] = true, true
		if p.active {
			ev.ActivePairs++
			if p.affected() {
				ev.AffectedPairs++
			}
		}
	}
	var degraded []string
	for _, s := range r.Segments {
		if !onPath[s.ID] {
			continue
		}
		if s.Degraded {
			degraded = append(degraded, s.ID)
		} else if len(ev.Segments) >= MaxEvidenceSegments {
			continue
		}
		ev.Segments = append(ev.Segments, s)
	}
	for _, h := range r.Hosts {
		if a, err := netip.ParseAddr(h.IP); err == nil && ends[a] {
			ev.Hosts = append(ev.Hosts, h)
		}
	}
	if len(ev.Hosts) > 0 {
		ev.AttributedHost = ev.Hosts[0].Host
	}
	st := Healthy
	switch {
	case len(degraded) > 0:
		st = Degraded
		ev.Summary = fmt.Sprintf("degraded segment %s: %s", degraded[0], ev.Segments[0].Reason)
	case ev.ActivePairs == 0:
		st = Unknown
		ev.Summary = "too little traffic to judge"
	case ev.AttributedHost != "":
		ev.Summary = fmt.Sprintf("network healthy; anomaly confined to host %s (%s)", ev.AttributedHost, ev.Hosts[0].Reason)
	default:
		ev.Summary = fmt.Sprintf("network healthy: %d of %d active host pairs affected, no segment shared by enough independent pairs",
			ev.AffectedPairs, ev.ActivePairs)
	}
	if ev.Segments == nil {
		ev.Segments = []SegmentEvidence{}
	}
	return Health{State: st, Evidence: ev}
}
