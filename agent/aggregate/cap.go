package aggregate

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/flowlens/flowlens/flow"
)

// Merge prefix lengths, finest first. Overflow rows start at one row per
// remote /24 (IPv4) or /48 (IPv6), the granularity at which a remote
// network is still recognisable; if even those rows exceed the cap, the
// merge coarsens step by step down to one row per local address, so the
// totals stay exact whatever the cardinality.
var (
	mergeBits4 = []int{24, 16, 8, 0}
	mergeBits6 = []int{48, 32, 16, 0}
)

// severity ranks flows like the cloud vendor's agent does (retransmissions,
// then RTO timeouts and failed connections weigh more): the flows an
// operator investigates are the last ones to be merged away.
func severity(c *flow.Counters) uint64 {
	return c.Retransmissions + 2*c.Timeouts + 4*c.ConnectionsFailed()
}

// sortRecords orders records most important first: severity, then bytes,
// then key, so that the order (and which flows merge) is deterministic.
func sortRecords(recs []flow.Record) {
	slices.SortFunc(recs, func(a, b flow.Record) int {
		if c := cmp.Compare(severity(&b.Counters), severity(&a.Counters)); c != 0 {
			return c
		}
		ab, bb := a.Counters.BytesSent+a.Counters.BytesReceived, b.Counters.BytesSent+b.Counters.BytesReceived
		if c := cmp.Compare(bb, ab); c != 0 {
			return c
		}
		return compareKeys(a.Key, b.Key)
	})
}

// compareKeys is a total order on flow keys.
func compareKeys(a, b flow.Key) int {
	if c := a.LocalIP.Compare(b.LocalIP); c != 0 {
		return c
	}
	if c := a.RemoteIP.Compare(b.RemoteIP); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Port, b.Port); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Direction, b.Direction); c != 0 {
		return c
	}
	return cmp.Compare(a.Protocol, b.Protocol)
}

// capRecords keeps the first records of sorted recs and merges the rest
// into overflow rows so that at most limit rows remain (unless even one row
// per local address and direction exceeds it). It returns the rows and how
// many flows were merged.
func capRecords(recs []flow.Record, limit int) ([]flow.Record, int) {
	if len(recs) <= limit {
		return recs, 0
	}
	for level := range mergeBits4 {
		// Keeping fewer flows can only add overflow rows, so keep shrinks
		// until kept flows plus overflow rows fit.
		keep := limit
		for {
			rows := mergeTail(recs[keep:], level)
			if keep+len(rows) <= limit {
				return append(recs[:keep:keep], rows...), len(recs) - keep
			}
			if keep == 0 {
				break // too many rows even with everything merged: coarsen
			}
			keep = max(0, limit-len(rows))
		}
	}
	return mergeTail(recs, len(mergeBits4)-1), len(recs)
}

// groupKey identifies one overflow row.
type groupKey struct {
	local  netip.Addr
	remote netip.Prefix
	dir    flow.Direction
	proto  uint8
}

// mergeTail merges recs into one row per (local address, remote prefix,
// direction, protocol) at the given coarseness level. The row's port is
// the flows' port when they all share one, else 0.
func mergeTail(recs []flow.Record, level int) []flow.Record {
	idx := make(map[groupKey]int)
	var rows []flow.Record
	for i := range recs {
		r := &recs[i]
		bits := mergeBits4[level]
		if r.Key.RemoteIP.Is6() {
			bits = mergeBits6[level]
		}
		p := prefixOf(r.Key.RemoteIP, bits)
		g := groupKey{local: r.Key.LocalIP, remote: p, dir: r.Key.Direction, proto: r.Key.Protocol}
		j, ok := idx[g]
		if !ok {
			idx[g] = len(rows)
			rows = append(rows, flow.Record{
				Key: flow.Key{LocalIP: r.Key.LocalIP, RemoteIP: p.Addr(), Port: r.Key.Port,
					Direction: r.Key.Direction, Protocol: r.Key.Protocol},
				Merged: true, RemoteBits: uint8(p.Bits()),
			})
			j = len(rows) - 1
		}
		row := &rows[j]
		if row.Key.Port != r.Key.Port {
			row.Key.Port = 0
		}
		row.Counters.Add(&r.Counters)
	}
	slices.SortFunc(rows, func(a, b flow.Record) int {
		if c := compareKeys(a.Key, b.Key); c != 0 {
			return c
		}
		return cmp.Compare(a.RemoteBits, b.RemoteBits)
	})
	return rows
}
