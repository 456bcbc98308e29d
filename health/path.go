package health

import (
	"fmt"

	"github.com/flowlens/flowlens/topology"
)

// Segment kinds. A flow from a local host to a remote end crosses, in order:
// the local subnet, the local zone, one link (between zones, networks or
// regions, or from a zone to a service or the internet), then the remote
// zone and subnet, or the service, or the internet (by ASN when known).
const (
	KindSubnet   = "subnet"
	KindZone     = "zone"
	KindLink     = "link"
	KindService  = "service"
	KindInternet = "internet"
)

// Hop is one segment of a path.
type Hop struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
}

// Path lists the network segments a flow crosses, from the local end. Links
// are directional and named FROM>TO the way the local host sends (the sender
// is the one that counts retransmissions), with the ids the simulator's
// fault syntax uses: "zone-a>zone-b", "eu-west>us-east",
// "zone-a>service:objstore", "zone-a>internet". Subnets and zones are the
// same segment whether a flow starts or ends there.
func Path(local, remote topology.Location, cat topology.Category) []Hop {
	hops := make([]Hop, 0, 6)
	if local.Subnet != "" {
		hops = append(hops, Hop{"subnet:" + local.Subnet, KindSubnet})
	}
	if local.Zone != "" {
		hops = append(hops, Hop{"zone:" + local.Zone, KindZone})
	}
	from := local.Zone
	if from == "" {
		from = "unknown"
	}
	switch cat {
	case topology.CategoryService:
		hops = append(hops, Hop{from + ">service:" + remote.Service, KindLink},
			Hop{"service:" + remote.Service, KindService})
	case topology.CategoryInternet:
		hops = append(hops, Hop{from + ">internet", KindLink})
		if remote.ASN != 0 {
			hops = append(hops, Hop{fmt.Sprintf("internet:AS%d", remote.ASN), KindInternet})
		}
	case topology.CategoryInterRegion:
		hops = append(hops, Hop{local.Region + ">" + remote.Region, KindLink})
		hops = appendRemote(hops, remote)
	case topology.CategoryInterNetwork:
		hops = append(hops, Hop{local.Network + ">" + remote.Network, KindLink})
		hops = appendRemote(hops, remote)
	case topology.CategoryInterZone:
		hops = append(hops, Hop{local.Zone + ">" + remote.Zone, KindLink})
		hops = appendRemote(hops, remote)
	case topology.CategoryIntraZone:
		if remote.Subnet != local.Subnet && remote.Subnet != "" {
			hops = append(hops, Hop{"subnet:" + remote.Subnet, KindSubnet})
		}
	}
	return hops
}

func appendRemote(hops []Hop, remote topology.Location) []Hop {
	if remote.Zone != "" {
		hops = append(hops, Hop{"zone:" + remote.Zone, KindZone})
	}
	if remote.Subnet != "" {
		hops = append(hops, Hop{"subnet:" + remote.Subnet, KindSubnet})
	}
	return hops
}

// route is the segment whose baseline a pair is judged against: its link,
// or its zone for intra-zone traffic (the only segment that is specific to
// the pair's kind of path, so its RTT and loss are homogeneous).
func route(hops []Hop) string {
	for _, h := range hops {
		if h.Kind == KindLink {
			return h.ID
		}
	}
	for _, h := range hops {
		if h.Kind == KindZone {
			return h.ID
		}
	}
	if len(hops) > 0 {
		return hops[0].ID
	}
	return "unknown"
}

// specificity breaks ties between segments that carry the same traffic: a
// link is the narrowest explanation, then a subnet, then a zone.
func specificity(kind string) int {
	switch kind {
	case KindLink:
		return 0
	case KindSubnet:
		return 1
	case KindService, KindInternet:
		return 2
	}
	return 3
}
