package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/topology"
)

// Fault is an impairment the simulator applies to the flows it generates.
//
//	segment=zone-a>zone-b,loss=0.03        data sent from zone-a to zone-b loses 3%
//	segment=zone-a<>zone-b,rtt=+20ms       both directions, 20 ms more RTT
//	host=sim-3,loss=0.05,after=1m,for=2m   one host's traffic, in and out
//	asn=64500,loss=0.05                    internet clients of one ASN (internet.go)
//	city=Paris,loss=0.05                   internet clients of one city
//	clients=all,loss=0.05                  every internet conversation
//
// Segment ends are ids of a region, zone, network or subnet, or service:ID.
type Fault struct {
	From, To      string // segment ends; empty for host faults
	Bidirectional bool
	Host          string
	Loss          float64       // extra share of segments lost, 0..1
	ExtraRTT      time.Duration // added to every RTT sample
	After         time.Duration // healthy baseline before the fault starts
	For           time.Duration // 0: until the run ends
	// Internet selectors (see internet.go).
	ASN        uint32
	City       string
	AllClients bool
}

// ParseFault reads the --fault syntax above.
func ParseFault(s string) (Fault, error) {
	var f Fault
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || strings.ContainsAny(v, " \t=") {
			return f, fmt.Errorf("fault %q: %q is not key=value (separate pairs with commas)", s, part)
		}
		var err error
		switch k {
		case "segment":
			f.From, f.To, f.Bidirectional, err = parseSegment(v)
		case "host":
			f.Host = v
		case "loss":
			f.Loss, err = parseShare(v)
		case "rtt":
			f.ExtraRTT, err = time.ParseDuration(strings.TrimPrefix(v, "+"))
		case "after":
			f.After, err = time.ParseDuration(v)
		case "for":
			f.For, err = time.ParseDuration(v)
		default:
			var ok bool
			if ok, err = parseInternetFault(&f, k, v); !ok {
				err = fmt.Errorf("unknown key %q (want segment, host, asn, city, clients, loss, rtt, after, for)", k)
			}
		}
		if err != nil {
			return f, fmt.Errorf("fault %q: %w", s, err)
		}
	}
	switch {
	case btoi(f.From != "")+btoi(f.Host != "")+f.internetTargets() != 1:
		return f, fmt.Errorf("fault %q: give exactly one of segment= or host= (or asn=, city=, clients=all)", s)
	case f.Loss == 0 && f.ExtraRTT == 0:
		return f, fmt.Errorf("fault %q: give loss= or rtt=", s)
	case f.ExtraRTT < 0 || f.After < 0 || f.For < 0:
		return f, fmt.Errorf("fault %q: durations must not be negative", s)
	}
	return f, nil
}

func parseSegment(v string) (from, to string, both bool, err error) {
	if a, b, ok := strings.Cut(v, "<>"); ok {
		from, to, both = a, b, true
	} else if a, b, ok := strings.Cut(v, ">"); ok {
		from, to = a, b
	} else {
		return "", "", false, fmt.Errorf("segment %q: want FROM>TO or FROM<>TO", v)
	}
	if from == "" || to == "" {
		return "", "", false, fmt.Errorf("segment %q: both ends are needed", v)
	}
	return from, to, both, nil
}

// parseShare accepts 0.03 or 3%.
func parseShare(v string) (float64, error) {
	pct := strings.HasSuffix(v, "%")
	x, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("loss %q is not a number", v)
	}
	if pct {
		x /= 100
	}
	if x < 0 || x > 1 {
		return 0, fmt.Errorf("loss %q out of range 0-1", v)
	}
	return x, nil
}

// Validate checks that the fault names things that exist.
func (f Fault) Validate(t *topology.Topology, hosts int) error {
	if f.internetTargets() > 0 {
		return f.validateInternet()
	}
	if f.Host != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(f.Host, "sim-"))
		if !strings.HasPrefix(f.Host, "sim-") || err != nil || n < 0 || n >= hosts {
			return fmt.Errorf("host %q: the simulated hosts are sim-0 to sim-%d", f.Host, hosts-1)
		}
		return nil
	}
	for _, end := range []string{f.From, f.To} {
		if !knownResource(t, end) {
			return fmt.Errorf("segment end %q is not a region, zone, network, subnet or service:ID of the topology", end)
		}
	}
	return nil
}

func knownResource(t *topology.Topology, id string) bool {
	if svc, ok := strings.CutPrefix(id, "service:"); ok {
		for _, s := range t.Services {
			if s.ID == svc {
				return true
			}
		}
		return false
	}
	for _, r := range t.Regions {
		if r.ID == id {
			return true
		}
	}
	for _, z := range t.Zones {
		if z.ID == id {
			return true
		}
	}
	for _, n := range t.Networks {
		if n.ID == id {
			return true
		}
	}
	for _, s := range t.Subnets {
		if s.ID == id {
			return true
		}
	}
	return false
}

// within says whether a location is inside the resource id.
func within(loc topology.Location, id string) bool {
	if svc, ok := strings.CutPrefix(id, "service:"); ok {
		return loc.Service == svc
	}
	return id != "" && (loc.Region == id || loc.Zone == id || loc.Network == id || loc.Subnet == id)
}

// active says whether the fault applies at elapsed run time.
func (f Fault) active(elapsed time.Duration) bool {
	return elapsed >= f.After && (f.For == 0 || elapsed < f.After+f.For)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
