package insights

import (
	"fmt"
	"strconv"

	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// Row is one contributor as the API and CLI show it. Flow fields are empty
// for by-resource rows.
type Row struct {
	Metric         string  `json:"metric"`
	Value          float64 `json:"value"`
	Category       string  `json:"category"`
	LocalRegion    string  `json:"local_region"`
	LocalZone      string  `json:"local_zone"`
	LocalNetwork   string  `json:"local_network"`
	LocalSubnet    string  `json:"local_subnet"`
	RemoteKind     string  `json:"remote_kind"`
	RemoteResource string  `json:"remote_resource"`
	RemoteRegion   string  `json:"remote_region"`
	RemoteZone     string  `json:"remote_zone"`
	RemoteNetwork  string  `json:"remote_network"`
	RemoteSubnet   string  `json:"remote_subnet"`
	RemoteService  string  `json:"remote_service"`
	RemoteASN      uint32  `json:"remote_asn,omitempty"`
	// Enrichment attributes of each end (see package enrich).
	LocalAttrs  topology.Attrs `json:"local_attrs,omitzero"`
	RemoteAttrs topology.Attrs `json:"remote_attrs,omitzero"`

	HostID    string `json:"host_id,omitempty"`
	LocalIP   string `json:"local_ip,omitempty"`
	RemoteIP  string `json:"remote_ip,omitempty"`
	Port      int    `json:"port,omitempty"`
	Direction string `json:"direction,omitempty"`
	Protocol  int    `json:"protocol,omitempty"`

	BytesSent         uint64  `json:"bytes_sent"`
	BytesReceived     uint64  `json:"bytes_received"`
	Retransmissions   uint64  `json:"retransmissions"`
	Timeouts          uint64  `json:"timeouts"`
	ConnectionsOpened uint64  `json:"connections_opened"`
	ConnectionsClosed uint64  `json:"connections_closed"`
	ConnectionsFailed uint64  `json:"connections_failed"`
	RoundTripTimeUS   float64 `json:"round_trip_time_us"`
}

// Point is one bucket of a series.
type Point struct {
	Time  int64   `json:"time"` // Unix seconds, bucket start
	Value float64 `json:"value"`
}

// SeriesRow is one contributor's series.
type SeriesRow struct {
	Row
	Points []Point `json:"points"`
}

// RemoteResource names the most specific thing known about a remote end.
func RemoteResource(l topology.Location) string {
	switch l.Kind {
	case topology.KindSubnet:
		return "subnet:" + l.Subnet
	case topology.KindService:
		return "service:" + l.Service
	case topology.KindInternet:
		if l.ASN != 0 {
			return fmt.Sprintf("internet:AS%d", l.ASN)
		}
		return "internet"
	}
	return "unknown"
}

// FromStore converts a store row.
func FromStore(m store.Metric, r store.TopRow) Row {
	row := Row{
		Metric: m.String(), Value: r.Value, Category: r.Category.String(),
		LocalRegion: r.Local.Region, LocalZone: r.Local.Zone, LocalNetwork: r.Local.Network, LocalSubnet: r.Local.Subnet,
		RemoteKind: r.Remote.Kind.String(), RemoteResource: RemoteResource(r.Remote),
		LocalAttrs: r.Local.Attrs, RemoteAttrs: r.Remote.Attrs,
		RemoteRegion: r.Remote.Region, RemoteZone: r.Remote.Zone, RemoteNetwork: r.Remote.Network,
		RemoteSubnet: r.Remote.Subnet, RemoteService: r.Remote.Service, RemoteASN: r.Remote.ASN,
		HostID: r.HostID, Port: int(r.Port), Protocol: int(r.Protocol),
		BytesSent: r.Totals.BytesSent, BytesReceived: r.Totals.BytesReceived,
		Retransmissions: r.Totals.Retransmissions, Timeouts: r.Totals.Timeouts,
		ConnectionsOpened: r.Totals.ConnectionsOpened, ConnectionsClosed: r.Totals.ConnectionsClosed,
		ConnectionsFailed: r.Totals.ConnectionsFailed,
	}
	if r.LocalIP.IsValid() {
		row.LocalIP = r.LocalIP.String()
		row.RemoteIP = r.RemoteIP.String()
		row.Direction = r.Direction.String()
	}
	if r.Totals.RTTCount > 0 {
		row.RoundTripTimeUS = float64(r.Totals.RTTSumUS) / float64(r.Totals.RTTCount)
	}
	return row
}

// Columns returns the table/CSV columns for a grouping, most useful first.
func Columns(byFlow bool) []string {
	if byFlow {
		return []string{"value", "host_id", "local_ip", "remote_ip", "port", "direction", "local_subnet", "remote_resource", "category",
			"bytes_sent", "bytes_received", "retransmissions", "timeouts", "connections_opened", "connections_closed", "connections_failed", "round_trip_time_us"}
	}
	return []string{"value", "local_region", "local_zone", "local_network", "local_subnet", "remote_resource", "category",
		"bytes_sent", "bytes_received", "retransmissions", "timeouts", "connections_failed", "round_trip_time_us"}
}

// Cell renders one column of a row as text.
func (r *Row) Cell(col string) string {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	switch col {
	case "value":
		return strconv.FormatFloat(r.Value, 'f', -1, 64)
	case "metric":
		return r.Metric
	case "category":
		return r.Category
	case "host_id":
		return r.HostID
	case "local_ip":
		return r.LocalIP
	case "remote_ip":
		return r.RemoteIP
	case "port":
		return strconv.Itoa(r.Port)
	case "direction":
		return r.Direction
	case "local_region":
		return r.LocalRegion
	case "local_zone":
		return r.LocalZone
	case "local_network":
		return r.LocalNetwork
	case "local_subnet":
		return r.LocalSubnet
	case "remote_resource":
		return r.RemoteResource
	case "bytes_sent":
		return u(r.BytesSent)
	case "bytes_received":
		return u(r.BytesReceived)
	case "retransmissions":
		return u(r.Retransmissions)
	case "timeouts":
		return u(r.Timeouts)
	case "connections_opened":
		return u(r.ConnectionsOpened)
	case "connections_closed":
		return u(r.ConnectionsClosed)
	case "connections_failed":
		return u(r.ConnectionsFailed)
	case "round_trip_time_us":
		return strconv.FormatFloat(r.RoundTripTimeUS, 'f', 1, 64)
	}
	return ""
}
