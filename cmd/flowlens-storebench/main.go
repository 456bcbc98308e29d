// Command flowlens-storebench measures the embedded DuckDB flow store and
// prints figures: (a) Write throughput at the ingest layer's group-commit
// shape, per 10 s and overall; (b) Top latency over a store loaded with
// many rows spread over days.
//
//	go run ./cmd/flowlens-storebench -ingest-seconds 60 -rows 50000000
//
// A batch is one agent's report: its flows over -intervals consecutive
// intervals (50 flows x 20 intervals = 1000 rows). Each Write call carries
// -batches-per-write batches, like the ingest layer's group commit.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/cpuprofile"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/topology"
)

type config struct {
	dir             string
	keep            bool
	agents          int
	flows           int
	intervals       int
	batchesPerWrite int
	ingestSeconds   int
	rows            int64
	days            int
	repeat          int
	threads         int
	memoryLimit     string
	checkpoint      string
	maintainEvery   time.Duration
	cpuProfile      string
	openPath        string
	queryPath       string
}

func main() {
	var c config
	flag.StringVar(&c.dir, "dir", "", "directory for the DuckDB files (default: a new temporary directory)")
	flag.BoolVar(&c.keep, "keep", false, "keep the DuckDB files")
	flag.IntVar(&c.agents, "agents", 2000, "agents (hosts)")
	flag.IntVar(&c.flows, "flows", 50, "flows per agent")
	flag.IntVar(&c.intervals, "intervals", 20, "intervals per batch (rows per batch = flows x intervals)")
	flag.IntVar(&c.batchesPerWrite, "batches-per-write", 50, "batches per Write call")
	flag.IntVar(&c.ingestSeconds, "ingest-seconds", 60, "length of the ingest throughput phase (0 skips it)")
	flag.Int64Var(&c.rows, "rows", 50_000_000, "rows to load for the query phase (0 skips it)")
	flag.IntVar(&c.days, "days", 7, "days the loaded rows are spread over, ending now")
	flag.IntVar(&c.repeat, "repeat", 5, "runs of each query")
	flag.IntVar(&c.threads, "threads", 0, "DuckDB threads (0: one per core)")
	flag.StringVar(&c.memoryLimit, "memory-limit", "", "DuckDB memory_limit")
	flag.StringVar(&c.checkpoint, "checkpoint-threshold", "", "DuckDB checkpoint_threshold (default: the store's)")
	flag.DurationVar(&c.maintainEvery, "maintain-every", time.Minute, "call Maintain this often during the ingest phase, as the server does (0: never)")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the ingest phase")
	flag.StringVar(&c.queryPath, "query-path", "", "skip loading: run the queries on a store kept by an earlier run (-keep)")
	flag.StringVar(&c.openPath, "open", "", "only time opening an existing store file (e.g. after a crash, with its WAL) and exit")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "flowlens-storebench:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if c.openPath != "" {
		return timeOpen(c)
	}
	if c.queryPath != "" {
		return queryOnly(c)
	}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "flowlens-storebench")
		if err != nil {
			return err
		}
		c.dir = d
	}
	if !c.keep {
		defer os.RemoveAll(c.dir)
	}
	fmt.Printf("load average at start: %s\n", loadAvg())
	defer func() { fmt.Printf("load average at end: %s\n", loadAvg()) }()
	fmt.Printf("store bench: %d agents x %d flows = %d flow keys, %d rows/batch, %d batches/Write, %s bulk insert, GOMAXPROCS %d\n",
		c.agents, c.flows, c.agents*c.flows, c.flows*c.intervals, c.batchesPerWrite, insertMethod, runtime.GOMAXPROCS(0))
	f := newFleet(c.agents, c.flows)
	fmt.Printf("fleet: %d resource keys\n", f.resourceKeys())
	if c.ingestSeconds > 0 {
		if err := ingestPhase(c, f); err != nil {
			return err
		}
	}
	if c.rows > 0 {
		if err := queryPhase(c, f); err != nil {
			return err
		}
	}
	return nil
}

func open(c config, name string) (*duckdb.Store, string, error) {
	path := filepath.Join(c.dir, name)
	os.Remove(path)
	os.Remove(path + ".wal")
	s, err := duckdb.Open(duckdb.Config{Path: path, Threads: c.threads, MemoryLimit: c.memoryLimit, CheckpointThreshold: c.checkpoint},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	return s, path, err
}

// ingestPhase writes as fast as the store accepts for c.ingestSeconds,
// with row times following the wall clock.
func ingestPhase(c config, f *fleet) error {
	s, path, err := open(c, "ingest.duckdb")
	if err != nil {
		return err
	}
	defer s.Close()
	stopProfile, err := cpuprofile.Start(c.cpuProfile, 0)
	if err != nil {
		return err
	}
	defer stopProfile()
	fmt.Printf("\n== ingest: %d s into %s\n", c.ingestSeconds, path)
	ctx := context.Background()
	gen := newGenerator(f, c)
	start := time.Now()
	deadline := start.Add(time.Duration(c.ingestSeconds) * time.Second)
	lastReport, lastRows := start, int64(0)
	lastMaintain := start
	var rows int64
	var lat []time.Duration
	var maintainTotal time.Duration
	for time.Now().Before(deadline) {
		batches := gen.next(time.Now())
		t0 := time.Now()
		if _, err := s.Write(ctx, batches); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
		rows += int64(len(batches) * len(batches[0].Rows))
		if c.maintainEvery > 0 && time.Since(lastMaintain) >= c.maintainEvery {
			t1 := time.Now()
			if err := s.Maintain(ctx, time.Now()); err != nil {
				return err
			}
			d := time.Since(t1)
			maintainTotal += d
			lastMaintain = time.Now()
			fmt.Printf("  Maintain took %s\n", d.Round(time.Millisecond))
		}
		if now := time.Now(); now.Sub(lastReport) >= 10*time.Second {
			fmt.Printf("  %5.0f s: %8.0f rows/s (last 10 s)  %8.0f rows/s (overall)  heap %4d MiB\n",
				now.Sub(start).Seconds(), float64(rows-lastRows)/now.Sub(lastReport).Seconds(),
				float64(rows)/now.Sub(start).Seconds(), heapMiB())
			lastReport, lastRows = now, rows
		}
	}
	el := time.Since(start)

	fmt.Printf("ingest overall: %d rows in %s = %.0f rows/s; Write p50 %s p99 %s max %s; Maintain total %s; heap %d MiB; file %s\n",
		rows, el.Round(time.Millisecond), float64(rows)/el.Seconds(),
		pct(lat, 0.5), pct(lat, 0.99), pct(lat, 1), maintainTotal.Round(time.Millisecond), heapMiB(), fileSize(path))
	return nil
}

// queryPhase loads c.rows rows spread over c.days days ending now, then
// times Top and Series.
func queryPhase(c config, f *fleet) error {
	s, path, err := open(c, "query.duckdb")
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	end := time.Now()
	span := time.Duration(c.days) * 24 * time.Hour
	rowsPerBatch := int64(c.flows * c.intervals)
	totalBatches := c.rows / rowsPerBatch
	rounds := max(1, totalBatches/int64(c.agents))
	interval := span / time.Duration(rounds*int64(c.intervals))
	fmt.Printf("\n== load: %d rows over %d days (interval %s) into %s\n", totalBatches*rowsPerBatch, c.days, interval.Round(time.Second), path)
	gen := newGenerator(f, c)
	gen.interval = interval
	start := time.Now()
	lastReport := start
	var rows int64
	for b := int64(0); b < totalBatches; b += int64(c.batchesPerWrite) {
		n := min(int64(c.batchesPerWrite), totalBatches-b)
		// Batch i covers intervals of agent i%agents in round i/agents.
		round := b / int64(c.agents)
		t := end.Add(-span).Add(time.Duration(round*int64(c.intervals)+int64(c.intervals)) * interval)
		batches := gen.next(t)[:n]
		if _, err := s.Write(ctx, batches); err != nil {
			return err
		}
		rows += n * rowsPerBatch
		if now := time.Now(); now.Sub(lastReport) >= 10*time.Second {
			fmt.Printf("  loaded %d rows, %.0f rows/s\n", rows, float64(rows)/now.Sub(start).Seconds())
			lastReport = now
		}
		if round != (b+n)/int64(c.agents) { // the server runs Maintain every minute
			if err := s.Maintain(ctx, time.Now()); err != nil {
				return err
			}
		}
	}
	el := time.Since(start)
	fmt.Printf("load: %d rows in %s = %.0f rows/s; file %s\n", rows, el.Round(time.Millisecond), float64(rows)/el.Seconds(), fileSize(path))
	t0 := time.Now()
	if err := s.Maintain(ctx, time.Now()); err != nil {
		return err
	}
	fmt.Printf("final Maintain: %s\n", time.Since(t0).Round(time.Millisecond))
	if err := os.WriteFile(path+endSuffix, []byte(end.Format(time.RFC3339Nano)), 0o644); err != nil {
		return err
	}
	return runQueries(c, s, end, span)
}

// endSuffix names the file beside a loaded store that records where its
// data ends, for -query-path.
const endSuffix = ".bench-end"

// queryOnly runs the queries on a store loaded by an earlier run.
func queryOnly(c config) error {
	b, err := os.ReadFile(c.queryPath + endSuffix)
	if err != nil {
		return fmt.Errorf("%s was not loaded by this bench with -keep: %w", c.queryPath, err)
	}
	end, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	fmt.Printf("load average at start: %s\n", loadAvg())
	defer func() { fmt.Printf("load average at end: %s\n", loadAvg()) }()
	s, err := duckdb.Open(duckdb.Config{Path: c.queryPath, Threads: c.threads, MemoryLimit: c.memoryLimit, CheckpointThreshold: c.checkpoint},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer s.Close()
	return runQueries(c, s, end, time.Duration(c.days)*24*time.Hour)
}

// runQueries times Top and Series over the whole span ending at end and
// over its last hour.
func runQueries(c config, s *duckdb.Store, end time.Time, span time.Duration) error {
	ctx := context.Background()
	fmt.Printf("\n== queries (%d runs each; min / median / max)\n", c.repeat)
	whole := store.TopQuery{Start: end.Add(-span), End: end.Add(time.Minute), Limit: 10}
	lastHour := store.TopQuery{Start: end.Add(-time.Hour), End: end.Add(time.Minute), Limit: 10}
	cases := []struct {
		name string
		q    store.TopQuery
	}{
		{"Top ByResource data-transferred, whole range", with(whole, store.ByResource, store.MetricDataTransferred)},
		{"Top ByResource round-trip-time, whole range", with(whole, store.ByResource, store.MetricRoundTripTime)},
		{"Top ByResource data-transferred, last 1 h", with(lastHour, store.ByResource, store.MetricDataTransferred)},
		{"Top ByFlow data-transferred, whole range", with(whole, store.ByFlow, store.MetricDataTransferred)},
		{"Top ByFlow round-trip-time, whole range", with(whole, store.ByFlow, store.MetricRoundTripTime)},
		{"Top ByFlow data-transferred, whole, limit 500", limit(with(whole, store.ByFlow, store.MetricDataTransferred), store.MaxLimit)},
		{"Top ByFlow data-transferred, last 1 h", with(lastHour, store.ByFlow, store.MetricDataTransferred)},
	}
	for _, tc := range cases {
		var n int
		d, err := timeIt(c.repeat, func() error {
			rows, err := s.Top(ctx, tc.q)
			n = len(rows)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", tc.name, err)
		}
		fmt.Printf("  %-48s %s  (%d rows)\n", tc.name, d, n)
	}
	series := []struct {
		name string
		q    store.SeriesQuery
	}{
		{"Series ByResource, whole range, step 1 h", store.SeriesQuery{TopQuery: with(whole, store.ByResource, store.MetricDataTransferred), Step: time.Hour}},
		{"Series ByFlow, last 1 h, step 5 min", store.SeriesQuery{TopQuery: with(lastHour, store.ByFlow, store.MetricDataTransferred)}},
		{"Series ByFlow, whole range, step 1 h", store.SeriesQuery{TopQuery: with(whole, store.ByFlow, store.MetricDataTransferred), Step: time.Hour}},
	}
	for _, tc := range series {
		d, err := timeIt(c.repeat, func() error {
			_, err := s.Series(ctx, tc.q)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", tc.name, err)
		}
		fmt.Printf("  %-48s %s\n", tc.name, d)
	}
	return nil
}

// timeOpen opens an existing store, which replays its WAL, and closes it.
func timeOpen(c config) error {
	wal, _ := os.Stat(c.openPath + ".wal")
	t := time.Now()
	s, err := duckdb.Open(duckdb.Config{Path: c.openPath, Threads: c.threads, MemoryLimit: c.memoryLimit, CheckpointThreshold: c.checkpoint},
		slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		return err
	}
	opened := time.Since(t)
	t = time.Now()
	if err := s.Close(); err != nil {
		return err
	}
	var walSize int64
	if wal != nil {
		walSize = wal.Size()
	}
	fmt.Printf("open %s (WAL %.1f MiB): %s; close (checkpoint): %s\n", c.openPath, float64(walSize)/(1<<20),
		opened.Round(time.Millisecond), time.Since(t).Round(time.Millisecond))
	return nil
}

// loadAvg is the 1, 5 and 15 minute load average, to tell a quiet machine
// from a shared one.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func limit(q store.TopQuery, n int) store.TopQuery {
	q.Limit = n
	return q
}

func with(q store.TopQuery, by store.Grouping, m store.Metric) store.TopQuery {
	q.By, q.Metric = by, m
	return q
}

// timeIt runs fn n times and formats min / median / max.
func timeIt(n int, fn func() error) (string, error) {
	var ds []time.Duration
	for range n {
		t := time.Now()
		if err := fn(); err != nil {
			return "", err
		}
		ds = append(ds, time.Since(t))
	}
	return fmt.Sprintf("%8s / %8s / %8s", pct(ds, 0).Round(time.Millisecond), pct(ds, 0.5).Round(time.Millisecond),
		pct(ds, 1).Round(time.Millisecond)), nil
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

func heapMiB() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc >> 20
}

func fileSize(path string) string {
	var total int64
	for _, p := range []string{path, path + ".wal"} {
		if fi, err := os.Stat(p); err == nil {
			total += fi.Size()
		}
	}
	return fmt.Sprintf("%.1f MiB", float64(total)/(1<<20))
}

// fleet is the simulated population: each agent sits in one of 40 subnets
// (2 regions x 4 zones x 5 subnets) and each of its flows goes to one of
// five remote kinds, which gives about 200 resource keys.
type fleet struct {
	agents []agent
}

type agent struct {
	id    string
	local topology.Location
	ip    netip.Addr
	flows []flowSpec
}

type flowSpec struct {
	key      flow.Key
	remote   topology.Location
	category topology.Category
	counters flow.Counters
}

func newFleet(nAgents, nFlows int) *fleet {
	rng := rand.New(rand.NewPCG(42, 42))
	f := &fleet{}
	for a := range nAgents {
		sub := a % 40
		region, zone := fmt.Sprintf("region-%d", sub/20), fmt.Sprintf("zone-%d", sub/5)
		ag := agent{
			id:    fmt.Sprintf("agent-%04d", a),
			ip:    netip.AddrFrom4([4]byte{10, byte(sub), byte(a >> 8), byte(a)}),
			local: topology.Location{Kind: topology.KindSubnet, Region: region, Zone: zone, Network: "net-" + region, Subnet: fmt.Sprintf("subnet-%d", sub), HostGroup: fmt.Sprintf("group-%d", a%4)},
		}
		for i := range nFlows {
			var remote topology.Location
			var cat topology.Category
			var ip netip.Addr
			switch i % 5 {
			case 0: // same zone
				remote, cat = topology.Location{Kind: topology.KindSubnet, Region: region, Zone: zone, Subnet: fmt.Sprintf("subnet-%d", sub)}, topology.CategoryIntraZone
				ip = netip.AddrFrom4([4]byte{10, byte(sub), 200, byte(i)})
			case 1: // other zone
				o := (sub + 5) % 40
				remote, cat = topology.Location{Kind: topology.KindSubnet, Region: fmt.Sprintf("region-%d", o/20), Zone: fmt.Sprintf("zone-%d", o/5), Subnet: fmt.Sprintf("subnet-%d", o)}, topology.CategoryInterZone
				ip = netip.AddrFrom4([4]byte{10, byte(o), 201, byte(i)})
			case 2: // object store
				remote, cat = topology.Location{Kind: topology.KindService, Region: region, Service: "object-store"}, topology.CategoryService
				ip = netip.AddrFrom4([4]byte{52, 95, byte(a), byte(i)})
			case 3: // internet
				remote, cat = topology.Location{Kind: topology.KindInternet, ASN: 64500, ASOrg: "Example", City: fmt.Sprintf("city-%d", a%30), Country: "FR"}, topology.CategoryInternet
				ip = netip.AddrFrom4([4]byte{203, 0, byte(a), byte(i)})
			default: // other region
				o := (sub + 20) % 40
				remote, cat = topology.Location{Kind: topology.KindSubnet, Region: fmt.Sprintf("region-%d", o/20), Zone: fmt.Sprintf("zone-%d", o/5), Subnet: fmt.Sprintf("subnet-%d", o)}, topology.CategoryInterRegion
				ip = netip.AddrFrom4([4]byte{10, byte(o), 202, byte(i)})
			}
			var c flow.Counters
			c.BytesSent, c.BytesReceived = rng.Uint64N(1<<24), rng.Uint64N(1<<26)
			c.SegmentsSent, c.SegmentsReceived = c.BytesSent/1400+1, c.BytesReceived/1400+1
			c.Retransmissions, c.Timeouts = rng.Uint64N(20), rng.Uint64N(2)
			c.ConnectionsOpened, c.ConnectionsClosed = rng.Uint64N(5), rng.Uint64N(5)
			c.FailedRefused = rng.Uint64N(2)
			for range 1 + rng.IntN(40) {
				c.RTT.Observe(200 + rng.Uint64N(2000)*(1+uint64(i%5)))
			}
			if i%3 == 0 {
				c.HandshakeLatency.Observe(300 + rng.Uint64N(5000))
			}
			ag.flows = append(ag.flows, flowSpec{
				key:    flow.Key{LocalIP: ag.ip, RemoteIP: ip, Port: uint16([]int{443, 5432, 443, 443, 8080}[i%5] + i/5), Direction: flow.DirectionClient, Protocol: flow.ProtocolTCP},
				remote: remote, category: cat, counters: c,
			})
		}
		f.agents = append(f.agents, ag)
	}
	return f
}

func (f *fleet) resourceKeys() int {
	type rk struct {
		l, r topology.Location
		c    topology.Category
	}
	seen := make(map[rk]bool)
	for _, a := range f.agents {
		for _, fl := range a.flows {
			l := a.local
			r := fl.remote
			r.City, r.Country, r.ASOrg = "", "", ""
			seen[rk{l, r, fl.category}] = true
		}
	}
	return len(seen)
}

// generator hands out Write calls whose batches reuse preallocated rows,
// so the bench measures the store, not the generator.
type generator struct {
	f        *fleet
	c        config
	batches  []*store.Batch
	nextA    int
	seq      map[string]uint64
	interval time.Duration
}

func newGenerator(f *fleet, c config) *generator {
	g := &generator{f: f, c: c, seq: make(map[string]uint64), interval: 10 * time.Second}
	for range c.batchesPerWrite {
		g.batches = append(g.batches, &store.Batch{Rows: make([]store.FlowRow, c.flows*c.intervals)})
	}
	return g
}

// next fills the batches of the next agents for intervals ending at end,
// end-interval, ...
func (g *generator) next(end time.Time) []*store.Batch {
	for _, b := range g.batches {
		a := &g.f.agents[g.nextA]
		g.nextA = (g.nextA + 1) % len(g.f.agents)
		g.seq[a.id]++
		b.AgentID, b.Sequence = a.id, g.seq[a.id]
		i := 0
		for k := range g.c.intervals {
			e := end.Add(-time.Duration(k) * g.interval)
			for fi := range a.flows {
				fl := &a.flows[fi]
				r := &b.Rows[i]
				i++
				*r = store.FlowRow{Start: e.Add(-g.interval), End: e, AgentID: a.id, HostID: a.id,
					Record: flow.Record{Key: fl.key, Counters: fl.counters}, Local: a.local, Remote: fl.remote, Category: fl.category}
			}
		}
	}
	return g.batches
}
