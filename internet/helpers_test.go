package internet

import (
	"net/netip"
	"time"

	"github.com/flowlens/flowlens/geoip"

	dto "github.com/prometheus/client_model/go"
)

// timeAt is a fixed instant plus s seconds, on a period boundary.
func timeAt(s int) time.Time {
	return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(s) * time.Second)
}

func testCounter(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}

// noDatabase is the reason an address has no network without GeoIP.
func noDatabase(netip.Addr) string { return geoip.ReasonNoDatabase }
