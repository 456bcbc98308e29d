package diagnose

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
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

// Records are kept in append-only per-shard slices while reading (no map
// to grow, no random memory access per record) and sorted and explained
// shard by shard afterwards, on all cores.
//
// ACCEPT tuples are kept as 64-bit hashes, in one of acceptShards slices
// chosen by the hash's top bits. REJECT tuples go to one of rejectShards
// slices chosen by the hash of their flow (srcaddr, dstaddr, dstport,
// protocol): every tuple of one flow lands in one shard, so shards are
// explained independently and their distinct flows simply add up. A shard
// that fills its slice past the compaction threshold is sorted and
// deduplicated in place, which bounds memory by the distinct tuples
// rather than the records.
const (
	acceptShards     = 256
	rejectShards     = 64
	acceptShardShift = 64 - 8 // log2(acceptShards)
)

// Compaction thresholds (variables for the tests that exercise them).
var (
	acceptCompactAt = 1 << 16 // hashes of one shard (512 KiB)
	rejectCompactAt = 1 << 15 // entries of one shard (1.75 MiB)
)

// addrWords is an address's 16 bytes (As16 of the unmapped address) as
// big-endian words: cheap to hash, compare and sort.
type addrWords [2]uint64

func wordsOf(a netip.Addr) addrWords {
	b := a.Unmap().As16()
	return addrWords{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (w addrWords) addr() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], w[0])
	binary.BigEndian.PutUint64(b[8:], w[1])
	return netip.AddrFrom16(b).Unmap()
}

func (w addrWords) compare(o addrWords) int {
	if c := cmp.Compare(w[0], o[0]); c != 0 {
		return c
	}
	return cmp.Compare(w[1], o[1])
}

// rejectKey is a REJECT record's identity; records with the same key
// share one explanation. Its fields are in sort order: the tuples of one
// flow are adjacent once sorted.
type rejectKey struct {
	src, dst       addrWords
	dstPort, proto uint16
	iface          uint32 // interned interface id
	srcPort        uint16
}

type rejectEntry struct {
	k rejectKey
	n int64 // records
}

func (k rejectKey) flow() flowKey { return flowKey{k.src, k.dst, k.dstPort, k.proto, 0} }

func compareRejects(a, b rejectEntry) int {
	x, y := &a.k, &b.k
	if c := x.src.compare(y.src); c != 0 {
		return c
	}
	if c := x.dst.compare(y.dst); c != 0 {
		return c
	}
	switch {
	case x.dstPort != y.dstPort:
		return cmp.Compare(x.dstPort, y.dstPort)
	case x.proto != y.proto:
		return cmp.Compare(x.proto, y.proto)
	case x.iface != y.iface:
		return cmp.Compare(x.iface, y.iface)
	}
	return cmp.Compare(x.srcPort, y.srcPort)
}

// sortRejects sorts entries and adds up the counts of equal keys.
func sortRejects(entries []rejectEntry) []rejectEntry {
	slices.SortFunc(entries, compareRejects)
	out := entries[:0]
	for _, e := range entries {
		if n := len(out); n > 0 && out[n-1].k == e.k {
			out[n-1].n += e.n
			continue
		}
		out = append(out, e)
	}
	return out
}

// acceptKey is what pairs a rejected reply with its accepted request
// (pad keeps the struct free of padding, so that it hashes as memory).
type acceptKey struct {
	src, dst                addrWords
	srcPort, dstPort, proto uint16
	pad                     uint16
}

// flowKey is what Cause.Flows counts.
type flowKey struct {
	src, dst       addrWords
	dstPort, proto uint16
	pad            uint32
}

// Grouper collects flow-log records; Causes pairs and explains them. A
// Grouper is used by one goroutine; Merge combines the Groupers of several.
type Grouper struct {
	m       *Model
	seed    maphash.Seed
	ifaces  map[string]uint32
	names   []string
	accepts [acceptShards][]uint64
	rejects [rejectShards][]rejectEntry
	merged  []*Grouper // Groupers of other goroutines, combined by Causes
}

// NewGrouper returns an empty Grouper for model m. Groupers to be merged
// must share seed (maphash.MakeSeed()).
func NewGrouper(m *Model, seed maphash.Seed) *Grouper {
	return &Grouper{m: m, seed: seed, ifaces: map[string]uint32{}}
}

// intern returns the id of interface name, without allocating when the
// name is known.
func (g *Grouper) intern(name []byte) uint32 {
	if id, ok := g.ifaces[string(name)]; ok {
		return id
	}
	id := uint32(len(g.names))
	s := string(name)
	g.ifaces[s] = id
	g.names = append(g.names, s)
	return id
}

// Add counts one record; false if a port is outside 0-65535 or the
// protocol outside 0-255 (the record is not counted).
func (g *Grouper) Add(r Record) bool { return g.AddCount(r, 1) }

// AddCount counts n records with r's fields (rows of an aggregated query);
// false, counting nothing, as Add.
func (g *Grouper) AddCount(r Record, n int64) bool {
	return g.add([]byte(r.Interface), r.Src, r.Dst, r.SrcPort, r.DstPort, r.Protocol, r.Accept, n)
}

// AddFields counts one record given as its fields: what a log reader
// calls for every record, with the interface id's bytes as read (not
// retained). False, counting nothing, as Add.
func (g *Grouper) AddFields(iface []byte, src, dst netip.Addr, srcPort, dstPort, proto int, accept bool) bool {
	return g.add(iface, src, dst, srcPort, dstPort, proto, accept, 1)
}

func (g *Grouper) add(iface []byte, src, dst netip.Addr, sp, dp, proto int, accept bool, n int64) bool {
	if uint(sp) > 65535 || uint(dp) > 65535 || uint(proto) > 255 {
		return false
	}
	s, d := wordsOf(src), wordsOf(dst)
	if accept {
		h := maphash.Comparable(g.seed, acceptKey{src: s, dst: d, srcPort: uint16(sp), dstPort: uint16(dp), proto: uint16(proto)})
		shard := &g.accepts[h>>acceptShardShift]
		if len(*shard) == cap(*shard) && len(*shard) >= acceptCompactAt {
			*shard = compactAccepts(*shard)
		}
		*shard = append(*shard, h)
		return true
	}
	k := rejectKey{src: s, dst: d, dstPort: uint16(dp), proto: uint16(proto), iface: g.intern(iface), srcPort: uint16(sp)}
	shard := &g.rejects[maphash.Comparable(g.seed, k.flow())%rejectShards]
	if len(*shard) == cap(*shard) && len(*shard) >= rejectCompactAt {
		*shard = compactRejects(*shard)
	}
	*shard = append(*shard, rejectEntry{k, n})
	return true
}

// compactAccepts sorts and deduplicates a full shard; if that frees less
// than half of it, it doubles its capacity, so that the sorting costs
// O(log n) per record at worst.
func compactAccepts(s []uint64) []uint64 {
	slices.Sort(s)
	s = slices.Compact(s)
	if len(s) > cap(s)/2 {
		s = slices.Grow(s, cap(s))
	}
	return s
}

// compactRejects is compactAccepts for reject entries.
func compactRejects(s []rejectEntry) []rejectEntry {
	s = sortRejects(s)
	if len(s) > cap(s)/2 {
		s = slices.Grow(s, cap(s))
	}
	return s
}

// Merge adds o's records to g (o must not be used afterwards). The work
// of combining them is done, in parallel, by Causes.
func (g *Grouper) Merge(o *Grouper) {
	g.merged = append(g.merged, o)
	g.merged = append(g.merged, o.merged...)
	o.merged = nil
}

// causeKey identifies a cause.
type causeKey struct{ code, component, direction string }

// exampleRef is an example before it is turned into text.
type exampleRef struct {
	k     rejectKey // iface: the global id
	reply bool
	n     int64
}

type causeAcc struct {
	Cause
	examples []exampleRef // the best MaxExamples, best first
}

// Classify explains one REJECT record (given whether its reverse was
// accepted): the first reason on the side of the interface that logged
// it, in the order packets meet them. quiet gives codes without messages,
// from the focused analysis (only that side's security groups and network
// ACL); otherwise the full analysis runs, messages included. It is
// exported for tests that check the grouping against a record-by-record
// evaluation (with quiet false: the two analyses check each other).
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
	var res *Result
	var err error
	if quiet { // the focused analysis: same verdict, a fraction of the work
		res, err = m.analyzeFocus(q, true, leg, side)
	} else {
		res, err = m.analyze(q, false)
	}
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

// Causes pairs, explains and groups the REJECT records on workers
// goroutines (0: GOMAXPROCS), sorted by flows descending, then code, then
// component id. The Grouper (and those merged into it) must not be used
// afterwards.
func (g *Grouper) Causes(workers int) ([]Cause, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	parts := append([]*Grouper{g}, g.merged...)
	g.merged = nil
	names, remap := globalNames(parts)
	accepts := mergeAccepts(parts, workers)
	shards := make([]map[causeKey]*causeAcc, rejectShards)
	errs := make([]error, rejectShards)
	parallel(rejectShards, workers, func(s int) {
		shards[s], errs[s] = g.explainShard(s, parts, remap, names, accepts)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return g.combine(shards, names), nil
}

// globalNames numbers the interfaces of every part in one space:
// remap[p][local id] is the global id. The first part's ids are kept.
func globalNames(parts []*Grouper) ([]string, [][]uint32) {
	ids := map[string]uint32{}
	var names []string
	remap := make([][]uint32, len(parts))
	for p, gr := range parts {
		remap[p] = make([]uint32, len(gr.names))
		for local, name := range gr.names {
			id, ok := ids[name]
			if !ok {
				id = uint32(len(names))
				ids[name] = id
				names = append(names, name)
			}
			remap[p][local] = id
		}
	}
	return names, remap
}

// acceptShard is one shard's ACCEPT hashes, sorted and deduplicated, with
// where each value of the next 8 bits starts: a lookup searches a few
// dozen hashes, a cache line or two.
type acceptShard struct {
	hashes []uint64
	start  [257]uint32
}

type acceptSet [acceptShards]acceptShard

func (a *acceptSet) has(h uint64) bool {
	s := &a[h>>acceptShardShift]
	b := (h >> (acceptShardShift - 8)) & 0xff
	_, ok := slices.BinarySearch(s.hashes[s.start[b]:s.start[b+1]], h)
	return ok
}

// mergeAccepts concatenates, sorts and deduplicates each shard's hashes
// of every part, shards on workers goroutines.
func mergeAccepts(parts []*Grouper, workers int) *acceptSet {
	var out acceptSet
	parallel(acceptShards, workers, func(s int) {
		n := 0
		for _, p := range parts {
			n += len(p.accepts[s])
		}
		all := make([]uint64, 0, n)
		for _, p := range parts {
			all = append(all, p.accepts[s]...)
			p.accepts[s] = nil
		}
		slices.Sort(all)
		all = slices.Clip(slices.Compact(all))
		sh := &out[s]
		sh.hashes = all
		i := 0
		for b := range 256 {
			sh.start[b] = uint32(i)
			for i < len(all) && (all[i]>>(acceptShardShift-8))&0xff == uint64(b) {
				i++
			}
		}
		sh.start[256] = uint32(len(all))
	})
	return &out
}

// parallel calls f(0) ... f(n-1) on workers goroutines.
func parallel(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// explainShard pairs, explains and groups reject shard s of every part.
func (g *Grouper) explainShard(s int, parts []*Grouper, remap [][]uint32, names []string, accepts *acceptSet) (map[causeKey]*causeAcc, error) {
	n := 0
	for _, p := range parts {
		n += len(p.rejects[s])
	}
	entries := make([]rejectEntry, 0, n)
	for p, gr := range parts {
		for _, e := range gr.rejects[s] {
			e.k.iface = remap[p][e.k.iface]
			entries = append(entries, e)
		}
		gr.rejects[s] = nil
	}
	entries = sortRejects(entries)

	accs := map[causeKey]*causeAcc{}
	var (
		last      rejectKey // the previous request and its explanation:
		lastE     Explanation
		haveLast  bool
		flowStart = 0
		flowAccs  []*causeAcc // causes already counted for the current flow
	)
	for i, en := range entries {
		k := en.k
		if i == 0 || k.flow() != entries[flowStart].k.flow() {
			flowStart, flowAccs = i, flowAccs[:0]
		}
		reply := accepts.has(maphash.Comparable(g.seed, acceptKey{src: k.dst, dst: k.src, srcPort: k.dstPort, dstPort: k.srcPort, proto: k.proto}))
		// A request's explanation does not depend on its source port, and
		// the requests of one flow and interface are adjacent.
		vk := k
		vk.srcPort = 0
		var e Explanation
		if !reply && haveLast && vk == last {
			e = lastE
		} else {
			var err error
			e, err = g.m.Classify(names[k.iface], k.src.addr(), k.dst.addr(), int(k.srcPort), int(k.dstPort), int(k.proto), reply, true)
			if err != nil {
				return nil, fmt.Errorf("explain %s %s -> %s: %w", names[k.iface], k.src.addr(), k.dst.addr(), err)
			}
			last, lastE, haveLast = vk, e, !reply
		}
		ck := causeKey{e.Code, e.ComponentID, e.Direction}
		acc := accs[ck]
		if acc == nil {
			acc = &causeAcc{Cause: Cause{Code: e.Code, ComponentID: e.ComponentID, Direction: e.Direction}}
			accs[ck] = acc
		}
		acc.Records += en.n
		if !slices.Contains(flowAccs, acc) { // a flow lies in one shard only
			acc.Flows++
			flowAccs = append(flowAccs, acc)
		}
		acc.offer(exampleRef{k: k, reply: reply, n: en.n}, names)
	}
	return accs, nil
}

// offer keeps e if it is among the best MaxExamples.
func (acc *causeAcc) offer(e exampleRef, names []string) {
	ex := acc.examples
	if len(ex) == MaxExamples && compareExamples(e, ex[len(ex)-1], names) >= 0 {
		return
	}
	if len(ex) < MaxExamples {
		ex = append(ex, e)
	} else {
		ex[len(ex)-1] = e
	}
	for i := len(ex) - 1; i > 0 && compareExamples(ex[i], ex[i-1], names) < 0; i-- {
		ex[i], ex[i-1] = ex[i-1], ex[i]
	}
	acc.examples = ex
}

// compareExamples orders examples: most records first, ties in a fixed
// order (interface id, then the tuple), so that the output depends
// neither on map order nor on sharding.
func compareExamples(a, b exampleRef, names []string) int {
	if a.n != b.n {
		return cmp.Compare(b.n, a.n)
	}
	if a.k.iface != b.k.iface {
		return cmp.Compare(names[a.k.iface], names[b.k.iface])
	}
	return compareRejects(rejectEntry{k: a.k}, rejectEntry{k: b.k})
}

// combine adds up the shards' causes and sorts them.
func (g *Grouper) combine(shards []map[causeKey]*causeAcc, names []string) []Cause {
	total := map[causeKey]*causeAcc{}
	for _, accs := range shards {
		for ck, acc := range accs {
			t := total[ck]
			if t == nil {
				total[ck] = acc
				continue
			}
			t.Records += acc.Records
			t.Flows += acc.Flows
			for _, e := range acc.examples {
				t.offer(e, names)
			}
		}
	}
	out := make([]Cause, 0, len(total))
	for _, acc := range total {
		c := acc.Cause
		c.Examples = make([]Example, len(acc.examples))
		for i, e := range acc.examples {
			c.Examples[i] = Example{
				InterfaceID: names[e.k.iface], SrcAddr: e.k.src.addr().String(), DstAddr: e.k.dst.addr().String(),
				SrcPort: int(e.k.srcPort), DstPort: int(e.k.dstPort), Protocol: int(e.k.proto), Reply: e.reply, Records: e.n,
			}
		}
		c.Fix = g.fix(c)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Cause) int {
		return cmp.Or(cmp.Compare(b.Flows, a.Flows), cmp.Compare(a.Code, b.Code), cmp.Compare(a.ComponentID, b.ComponentID), cmp.Compare(a.Direction, b.Direction))
	})
	return out
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
