package diagnose

import (
	"bytes"
	"hash/maphash"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/diagnose/awsconfig"
)

// generatedRecords is a generated configuration's model and n records of
// its generated flow log.
func generatedRecords(t *testing.T, n int) (*Model, []Record) {
	t.Helper()
	gc := GenConfig{Interfaces: 200, Records: n, Seed: 11, Start: time.Now().Add(-3 * time.Hour).Unix()}
	dir := t.TempDir()
	for name, data := range GenerateConfig(gc) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := awsconfig.Load(dir, awsconfig.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := GenerateFlowLog(&buf, gc); err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		f := strings.Fields(line)
		sp, _ := strconv.Atoi(f[5])
		dp, _ := strconv.Atoi(f[6])
		proto, _ := strconv.Atoi(f[7])
		recs = append(recs, Record{Interface: f[2], Src: netip.MustParseAddr(f[3]), Dst: netip.MustParseAddr(f[4]),
			SrcPort: sp, DstPort: dp, Protocol: proto, Accept: f[12] == "ACCEPT"})
	}
	return Compile(cfg), recs
}

type causeCount struct{ records, flows int64 }

// recordByRecord explains every REJECT record on its own, with the full
// (not focused) analysis and an exact set of the accepted tuples.
func recordByRecord(t *testing.T, m *Model, recs []Record) map[causeKey]causeCount {
	t.Helper()
	type tuple struct {
		src, dst       netip.Addr
		sp, dp, proto  int
		iface          string
		reply, withSrc bool
	}
	accepted := map[tuple]bool{}
	for _, r := range recs {
		if r.Accept {
			accepted[tuple{src: r.Src, dst: r.Dst, sp: r.SrcPort, dp: r.DstPort, proto: r.Protocol}] = true
		}
	}
	out := map[causeKey]causeCount{}
	flows := map[causeKey]map[tuple]bool{}
	for _, r := range recs {
		if r.Accept {
			continue
		}
		reply := accepted[tuple{src: r.Dst, dst: r.Src, sp: r.DstPort, dp: r.SrcPort, proto: r.Protocol}]
		e, err := m.Classify(r.Interface, r.Src, r.Dst, r.SrcPort, r.DstPort, r.Protocol, reply, false)
		if err != nil {
			t.Fatal(err)
		}
		k := causeKey{e.Code, e.ComponentID, e.Direction}
		c := out[k]
		c.records++
		out[k] = c
		if flows[k] == nil {
			flows[k] = map[tuple]bool{}
		}
		flows[k][tuple{src: r.Src, dst: r.Dst, dp: r.DstPort, proto: r.Protocol}] = true
	}
	for k, f := range flows {
		c := out[k]
		c.flows = int64(len(f))
		out[k] = c
	}
	return out
}

// group adds recs to parts Groupers (round robin, as readers of chunks
// would), merges them and explains on workers goroutines.
func group(t *testing.T, m *Model, recs []Record, parts, workers int) []Cause {
	t.Helper()
	seed := maphash.MakeSeed()
	gs := make([]*Grouper, parts)
	for i := range gs {
		gs[i] = NewGrouper(m, seed)
	}
	for i, r := range recs {
		if !gs[(i/7)%parts].Add(r) {
			t.Fatalf("record %+v refused", r)
		}
	}
	for _, o := range gs[1:] {
		gs[0].Merge(o)
	}
	causes, err := gs[0].Causes(workers)
	if err != nil {
		t.Fatal(err)
	}
	return causes
}

func TestCausesEqualRecordByRecordEvaluationWhateverTheSharding(t *testing.T) {
	m, recs := generatedRecords(t, 4000)
	want := recordByRecord(t, m, recs)
	var reference []Cause
	for _, tc := range []struct {
		name           string
		records        int
		parts, workers int
		compactAt      int      // 0: the default thresholds
		extra          []Record // instead of the generated records
	}{
		{name: "one part, one worker", records: 4000, parts: 1, workers: 1},
		{name: "more tuples than workers", records: 4000, parts: 3, workers: 2},
		{name: "more workers than shards", records: 4000, parts: 2, workers: 3 * rejectShards},
		{name: "compaction while adding", records: 4000, parts: 2, workers: 4, compactAt: 8},
		{name: "more workers than distinct tuples", records: 60, parts: 5, workers: 100},
		{name: "a request and a reply of one flow and interface", extra: requestAndReply(), parts: 2, workers: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.compactAt > 0 {
				a, r := acceptCompactAt, rejectCompactAt
				acceptCompactAt, rejectCompactAt = tc.compactAt, tc.compactAt
				defer func() { acceptCompactAt, rejectCompactAt = a, r }()
			}
			in := recs[:tc.records]
			if tc.extra != nil {
				in = tc.extra
			}
			w := want
			if len(in) != len(recs) {
				w = recordByRecord(t, m, in)
			}
			if len(w) == 0 {
				t.Fatal("no REJECT records: the case tests nothing")
			}
			causes := group(t, m, in, tc.parts, tc.workers)
			if len(causes) != len(w) {
				t.Errorf("%d causes, record by record %d", len(causes), len(w))
			}
			for _, c := range causes {
				k := causeKey{c.Code, c.ComponentID, c.Direction}
				if got := (causeCount{c.Records, c.Flows}); got != w[k] {
					t.Errorf("cause %v: %+v, record by record %+v", k, got, w[k])
				}
				if len(c.Examples) == 0 || len(c.Examples) > MaxExamples || c.Fix == "" {
					t.Errorf("cause %v: %d examples, fix %q", k, len(c.Examples), c.Fix)
				}
			}
			if len(in) != len(recs) {
				return
			}
			// Same records, same output, examples included, however the
			// work was split.
			if reference == nil {
				reference = causes
			} else if !reflect.DeepEqual(causes, reference) {
				t.Errorf("causes differ from the first case's")
			}
		})
	}
}

func TestAddRefusesPortsAndProtocolsOutOfRange(t *testing.T) {
	m, _ := generatedRecords(t, 1)
	g := NewGrouper(m, maphash.MakeSeed())
	a, b := netip.MustParseAddr("10.0.0.10"), netip.MustParseAddr("10.0.1.10")
	for _, tc := range []struct {
		r    Record
		want bool
	}{
		{Record{Src: a, Dst: b, SrcPort: 65535, DstPort: 0, Protocol: 255}, true},
		{Record{Src: a, Dst: b, SrcPort: 65536, DstPort: 80, Protocol: 6}, false},
		{Record{Src: a, Dst: b, SrcPort: 1, DstPort: -1, Protocol: 6}, false},
		{Record{Src: a, Dst: b, SrcPort: 1, DstPort: 80, Protocol: 256, Accept: true}, false},
	} {
		if got := g.Add(tc.r); got != tc.want {
			t.Errorf("Add(%+v) = %v, want %v", tc.r, got, tc.want)
		}
	}
}

// requestAndReply: records logged by app server A of one flow from
// database server D (port 40000 on A): a rejected reply to A's accepted
// request (A's network ACL allows it: ALLOWED_BY_CONFIGURATION) and a
// rejected request from another port of D (A's group does not allow port
// 40000: ENI_SG_RULES_MISMATCH). They differ only in the source port, so
// the request's explanation must not be reused for the reply.
func requestAndReply() []Record {
	a, d := netip.MustParseAddr("10.0.1.10"), netip.MustParseAddr("10.0.2.10")
	const ifaceA = "eni-00000000000001032" // genIfaces: 0x1000 + 50
	return []Record{
		{Interface: ifaceA, Src: a, Dst: d, SrcPort: 40000, DstPort: 5432, Protocol: 6, Accept: true},
		{Interface: ifaceA, Src: d, Dst: a, SrcPort: 5432, DstPort: 40000, Protocol: 6},
		{Interface: ifaceA, Src: d, Dst: a, SrcPort: 1000, DstPort: 40000, Protocol: 6},
	}
}
