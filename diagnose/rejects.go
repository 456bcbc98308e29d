package diagnose

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"net/netip"
	"slices"
)

// Record is the part of a flow-log record the grouping uses.
type Record struct {
	Interface        string
	Src, Dst         netip.Addr
	SrcPort, DstPort int
	Protocol         int
	Accept           bool
}

// Example is one rejected tuple of a cause.
type Example struct {
	InterfaceID string `json:"interface_id"`
	SrcAddr     string `json:"srcaddr"`
	DstAddr     string `json:"dstaddr"`
	SrcPort     int    `json:"srcport"`
	DstPort     int    `json:"dstport"`
	Protocol    int    `json:"protocol"`
	Reply       bool   `json:"reply"` // a rejected reply to an accepted request
	Records     int64  `json:"records"`
}

// Cause is one group of REJECT records with the same explanation.
type Cause struct {
	Code        string    `json:"code"`
	ComponentID string    `json:"component_id"`
	Direction   string    `json:"direction"`
	Fix         string    `json:"fix"`
	Flows       int64     `json:"flows"`   // distinct (srcaddr, dstaddr, dstport, protocol) of its REJECT records
	Records     int64     `json:"records"` // REJECT records
	Examples    []Example `json:"examples"`
}

// MaxExamples is the number of examples kept per cause.
const MaxExamples = 3

type ifaceID = uint32

// tuple is a REJECT record's identity; records with the same tuple share
// one explanation.
type tuple struct {
	iface            ifaceID
	src, dst         netip.Addr
	srcPort, dstPort int32
	proto            int16
}

// Grouper collects flow-log records; Causes pairs and explains them. A
// Grouper is used by one goroutine; Merge combines the Groupers of several.
type Grouper struct {
	m       *Model
	seed    maphash.Seed
	ifaces  map[string]ifaceID
	names   []string
	rejects map[tuple]int64
	accepts map[uint64]struct{} // hashes of accepted (src, dst, srcport, dstport, proto)
}

// NewGrouper returns an empty Grouper for model m. Groupers to be merged
// must share seed (maphash.MakeSeed()).
func NewGrouper(m *Model, seed maphash.Seed) *Grouper {
	return &Grouper{m: m, seed: seed, ifaces: map[string]ifaceID{}, rejects: map[tuple]int64{}, accepts: map[uint64]struct{}{}}
}

func (g *Grouper) intern(name string) ifaceID {
	if id, ok := g.ifaces[name]; ok {
		return id
	}
	id := ifaceID(len(g.names))
	g.ifaces[name] = id
	g.names = append(g.names, name)
	return id
}

func (g *Grouper) flowHash(src, dst netip.Addr, sp, dp, proto int) uint64 {
	var h maphash.Hash
	h.SetSeed(g.seed)
	b16 := src.As16()
	h.Write(b16[:])
	b16 = dst.As16()
	h.Write(b16[:])
	var b [6]byte
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(sp>>8), byte(sp), byte(dp>>8), byte(dp), byte(proto>>8), byte(proto)
	h.Write(b[:])
	return h.Sum64()
}

// Add counts one record.
func (g *Grouper) Add(r Record) { g.AddCount(r, 1) }

// AddCount counts n records with r's fields (rows of an aggregated query).
func (g *Grouper) AddCount(r Record, n int64) {
	src, dst := r.Src.Unmap(), r.Dst.Unmap()
	if r.Accept {
		g.accepts[g.flowHash(src, dst, r.SrcPort, r.DstPort, r.Protocol)] = struct{}{}
		return
	}
	k := tuple{iface: g.intern(r.Interface), src: src, dst: dst, srcPort: int32(r.SrcPort), dstPort: int32(r.DstPort), proto: int16(r.Protocol)}
	g.rejects[k] += n
}

// Merge adds o's records to g.
func (g *Grouper) Merge(o *Grouper) {
	for h := range o.accepts {
		g.accepts[h] = struct{}{}
	}
	for k, n := range o.rejects {
		k.iface = g.intern(o.names[k.iface])
		g.rejects[k] += n
	}
}

// causeKey identifies a cause.
type causeKey struct{ code, component, direction string }

// flowKey is what Cause.Flows counts.
type flowKey struct {
	src, dst netip.Addr
	dstPort  int32
	proto    int16
}

type causeAcc struct {
	Cause
	flows    map[flowKey]struct{}
	examples []Example
}

// verdictKey is what one explanation depends on: requests do not depend
// on the source port.
type verdictKey struct {
	t     tuple
	reply bool
}

// Classify explains one REJECT record (given whether its reverse was
// accepted): the first reason on the side of the interface that logged
// it, in the order packets meet them. It is exported for tests that check
// the grouping against a record-by-record evaluation.
func (m *Model) Classify(iface string, src, dst netip.Addr, srcPort, dstPort, proto int, reply bool, quiet bool) (Explanation, error) {
	f, ok := m.ifaces[iface]
	if !ok {
		return Explanation{Code: CodeUnknownInterface, ComponentID: iface}, nil
	}
	sf, df := m.byAddr[src], m.byAddr[dst]
	if sf == nil || df == nil {
		return Explanation{Code: CodeUnknownAddress, ComponentID: iface}, nil
	}
	q := Query{Src: src, Dst: dst, Protocol: proto, DstPort: dstPort, SrcPort: -1, ICMPType: -1, ICMPCode: -1}
	leg, side := "request", "destination"
	if f == sf {
		side = "source"
	}
	if reply {
		// The record is the reply: the request went the other way.
		q = Query{Src: dst, Dst: src, Protocol: proto, DstPort: srcPort, SrcPort: dstPort, ICMPType: -1, ICMPCode: -1}
		leg, side = "return", "source"
		if f == sf { // the reply leaves the server, the request's destination
			side = "destination"
		}
	}
	if !portProto(proto) {
		q.DstPort, q.SrcPort = 0, -1
	}
	res, err := m.analyze(q, quiet)
	if err != nil {
		return Explanation{}, err
	}
	for _, e := range res.Explanations {
		if e.Leg != leg || e.Side != side {
			continue
		}
		switch e.Code {
		case CodeSGRulesMismatch, CodeSubnetACL, CodeUnknownResource:
			return e, nil
		}
	}
	return Explanation{Code: CodeAllowedByConfig, ComponentID: iface}, nil
}

// Causes pairs, explains and groups the REJECT records, sorted by flows
// descending, then code, then component id.
func (g *Grouper) Causes() ([]Cause, error) {
	accs := map[causeKey]*causeAcc{}
	cache := map[verdictKey]Explanation{}
	for k, n := range g.rejects {
		reply := false
		if _, ok := g.accepts[g.flowHash(k.dst, k.src, int(k.dstPort), int(k.srcPort), int(k.proto))]; ok {
			reply = true
		}
		vk := verdictKey{t: k, reply: reply}
		if !reply {
			vk.t.srcPort = -1
		}
		e, ok := cache[vk]
		if !ok {
			var err error
			e, err = g.m.Classify(g.names[k.iface], k.src, k.dst, int(k.srcPort), int(k.dstPort), int(k.proto), reply, true)
			if err != nil {
				return nil, fmt.Errorf("explain %s %s -> %s: %w", g.names[k.iface], k.src, k.dst, err)
			}
			cache[vk] = e
		}
		ck := causeKey{e.Code, e.ComponentID, e.Direction}
		acc := accs[ck]
		if acc == nil {
			acc = &causeAcc{Cause: Cause{Code: e.Code, ComponentID: e.ComponentID, Direction: e.Direction}, flows: map[flowKey]struct{}{}}
			accs[ck] = acc
		}
		acc.Records += n
		acc.flows[flowKey{k.src, k.dst, k.dstPort, k.proto}] = struct{}{}
		acc.examples = append(acc.examples, Example{
			InterfaceID: g.names[k.iface], SrcAddr: k.src.String(), DstAddr: k.dst.String(),
			SrcPort: int(k.srcPort), DstPort: int(k.dstPort), Protocol: int(k.proto), Reply: reply, Records: n,
		})
		if len(acc.examples) > 64*MaxExamples { // keep memory bounded: trim to the best
			acc.examples = topExamples(acc.examples, MaxExamples)
		}
	}
	out := make([]Cause, 0, len(accs))
	for _, acc := range accs {
		c := acc.Cause
		c.Flows = int64(len(acc.flows))
		c.Examples = topExamples(acc.examples, MaxExamples)
		c.Fix = g.fix(c)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Cause) int {
		return cmp.Or(cmp.Compare(b.Flows, a.Flows), cmp.Compare(a.Code, b.Code), cmp.Compare(a.ComponentID, b.ComponentID), cmp.Compare(a.Direction, b.Direction))
	})
	return out, nil
}

// topExamples keeps the n examples with the most records (ties in a fixed
// order, so that the output does not depend on map order).
func topExamples(ex []Example, n int) []Example {
	slices.SortFunc(ex, func(a, b Example) int {
		return cmp.Or(cmp.Compare(b.Records, a.Records), cmp.Compare(a.InterfaceID, b.InterfaceID),
			cmp.Compare(a.SrcAddr, b.SrcAddr), cmp.Compare(a.DstAddr, b.DstAddr),
			cmp.Compare(a.SrcPort, b.SrcPort), cmp.Compare(a.DstPort, b.DstPort), cmp.Compare(a.Protocol, b.Protocol))
	})
	return slices.Clone(ex[:min(n, len(ex))])
}

// fix is the human explanation of a cause, with the change that fixes it,
// taken from the full analysis of its first example.
func (g *Grouper) fix(c Cause) string {
	if len(c.Examples) == 0 {
		return ""
	}
	ex := c.Examples[0]
	switch c.Code {
	case CodeUnknownInterface:
		return fmt.Sprintf("interface %s is not in the export: export describe-network-interfaces (and its subnets, groups and network ACLs) of the account that owns it, or ignore it if it was deleted", c.ComponentID)
	case CodeUnknownAddress:
		return fmt.Sprintf("traffic between %s and %s involves an address of no interface in the export, mostly connections from the internet (scans) rejected as they should be; if it is expected, allow it in the security group and network ACL of %s", ex.SrcAddr, ex.DstAddr, c.ComponentID)
	case CodeAllowedByConfig:
		return fmt.Sprintf("the exported configuration allows %s -> %s (%s); the export is probably newer than the logs (the rule was fixed since), or a component the analysis does not model rejected it", ex.SrcAddr, ex.DstAddr, ProtocolName(ex.Protocol))
	}
	e, err := g.m.Classify(ex.InterfaceID, netip.MustParseAddr(ex.SrcAddr), netip.MustParseAddr(ex.DstAddr), ex.SrcPort, ex.DstPort, ex.Protocol, ex.Reply, false)
	if err != nil {
		return ""
	}
	return e.Message
}
