package internet

import (
	"fmt"
	"time"
)

// Measurement is one city-network's figures for one period.
type Measurement struct {
	Monitor       string    `json:"monitor"`
	Time          time.Time `json:"time"` // period start
	PeriodSeconds int64     `json:"period_seconds"`
	Location
	BytesIn              uint64  `json:"bytes_in"`  // received by our hosts
	BytesOut             uint64  `json:"bytes_out"` // sent by our hosts
	ClientConnections    uint64  `json:"client_connections"`
	FailedConnections    uint64  `json:"failed_connections"`
	TrafficShare         float64 `json:"traffic_share"` // percent of the monitor's traffic
	RTTP50MS             float64 `json:"rtt_p50_ms"`
	RTTP90MS             float64 `json:"rtt_p90_ms"`
	RTTP95MS             float64 `json:"rtt_p95_ms"`
	RetransmissionRate   float64 `json:"retransmission_rate"`    // percent of sent segments
	FailedConnectionRate float64 `json:"failed_connection_rate"` // percent of attempts
	AvailabilityScore    float64 `json:"availability_score"`
	PerformanceScore     float64 `json:"performance_score"`
	// TrafficImpacted is the share of the monitor's traffic this
	// city-network lost to impact (percent), the larger of availability and
	// performance.
	TrafficImpacted float64 `json:"traffic_impacted"`
	// MissingTraffic says traffic fell far below this city-network's
	// baseline (a blackhole looks like silence).
	MissingTraffic bool `json:"missing_traffic,omitempty"`
}

// Location is a city-network: where the clients are and the network their
// traffic comes through.
type Location struct {
	City        string  `json:"city"`
	Subdivision string  `json:"subdivision,omitempty"`
	Country     string  `json:"country"`
	ASN         uint32  `json:"asn"`
	ASName      string  `json:"as_name,omitempty"`
	Latitude    float64 `json:"latitude,omitempty"`
	Longitude   float64 `json:"longitude,omitempty"`
	// Unresolved, for an unknown network (ASN 0), says why the GeoIP
	// databases gave the clients none: "private range", "no database" or
	// "not in database". Each reason is its own city-network.
	Unresolved string `json:"unresolved,omitempty"`
}

// Network names a city-network's network: "AS64500", or "unknown network
// (reason)".
func (l Location) Network() string {
	if l.ASN != 0 {
		return fmt.Sprintf("AS%d", l.ASN)
	}
	if l.Unresolved == "" {
		return "unknown network"
	}
	return "unknown network (" + l.Unresolved + ")"
}

// Overall is a monitor's traffic-weighted figures for one period.
type Overall struct {
	Monitor           string    `json:"monitor"`
	Time              time.Time `json:"time"`
	PeriodSeconds     int64     `json:"period_seconds"`
	BytesIn           uint64    `json:"bytes_in"`
	BytesOut          uint64    `json:"bytes_out"`
	CityNetworks      int       `json:"city_networks"` // tracked this period
	AvailabilityScore float64   `json:"availability_score"`
	PerformanceScore  float64   `json:"performance_score"`
	// RTT percentiles weighted by traffic across city-networks: 90% of
	// traffic at 5 ms and 10% at 10 ms gives 5.5 ms.
	RTTP50MS float64 `json:"rtt_p50_ms"`
	RTTP90MS float64 `json:"rtt_p90_ms"`
	RTTP95MS float64 `json:"rtt_p95_ms"`
}

// Event statuses and types, as the cloud names them.
const (
	StatusActive   = "ACTIVE"
	StatusResolved = "RESOLVED"

	TypeAvailability      = "AVAILABILITY"
	TypePerformance       = "PERFORMANCE"
	TypeLocalAvailability = "LOCAL_AVAILABILITY"
	TypeLocalPerformance  = "LOCAL_PERFORMANCE"
)

// Cause kinds.
const (
	CauseASN     = "asn"     // one provider's network, across cities
	CauseMetro   = "metro"   // many networks in one city
	CauseLocal   = "local"   // everything at once: our own side
	CauseUnknown = "unknown" // impact too scattered to name
)

// Event is a health event of one monitor.
type Event struct {
	ID            string     `json:"id"`
	Monitor       string     `json:"monitor"`
	Status        string     `json:"status"`
	Type          string     `json:"type"`
	StartedAt     time.Time  `json:"started_at"`
	EndedAt       *time.Time `json:"ended_at,omitempty"`
	LastUpdatedAt time.Time  `json:"last_updated_at"`
	// OverallScore is the monitor's score of the event's kind (availability
	// or performance) in the last period while active; WorstScore the
	// lowest seen.
	OverallScore float64 `json:"overall_score"`
	WorstScore   float64 `json:"worst_score"`
	// TrafficImpacted is the percentage of the monitor's traffic impacted.
	TrafficImpacted   float64       `json:"traffic_impacted"`
	ImpactedLocations []Measurement `json:"impacted_locations"`
	Cause             Cause         `json:"cause"`
}

// Cause says whose network the evidence points at.
type Cause struct {
	Kind    string `json:"kind"`
	ASN     uint32 `json:"asn,omitempty"`
	ASName  string `json:"as_name,omitempty"`
	City    string `json:"city,omitempty"`
	Country string `json:"country,omitempty"`
	// Summary explains the attribution in one sentence.
	Summary  string   `json:"summary"`
	Evidence Evidence `json:"evidence"`
}

// Evidence are the counts the attribution rests on.
type Evidence struct {
	ImpactedCityNetworks int `json:"impacted_city_networks"`
	JudgedCityNetworks   int `json:"judged_city_networks"` // with traffic this period
	ImpactedASNs         int `json:"impacted_asns"`
	ImpactedCities       int `json:"impacted_cities"`
	// For kind asn: the provider's cities impacted and where it carries
	// traffic, and how the other networks in those cities fare.
	ASNCitiesImpacted     int `json:"asn_cities_impacted,omitempty"`
	ASNCities             int `json:"asn_cities,omitempty"`
	OtherNetworksImpacted int `json:"other_networks_impacted,omitempty"`
	OtherNetworks         int `json:"other_networks,omitempty"`
	// For kind metro: the city's networks impacted and where they carry
	// traffic.
	CityASNsImpacted int `json:"city_asns_impacted,omitempty"`
	CityASNs         int `json:"city_asns,omitempty"`
	// Share (percent) of the impacted traffic the named ASN or city carries.
	ImpactShare float64 `json:"impact_share,omitempty"`
}
