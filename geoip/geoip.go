// Package geoip places public addresses: ASN, AS name, city, subdivision,
// country and coordinates from MMDB files (MaxMind GeoLite2/GeoIP2 City and
// ASN, IPinfo). Without a database every lookup answers "unknown" and the
// rest of FlowLens works as before. Lookups are cached (bounded), and a
// database file replaced on disk is reloaded.
package geoip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/enrich"
	"github.com/flowlens/flowlens/internal/promset"
	"github.com/flowlens/flowlens/topology"
)

// Config names the database files and bounds the cache.
type Config struct {
	CityPath string // --geoip-city: city (and possibly ASN) fields
	ASNPath  string // --geoip-asn: ASN (and possibly city) fields
	// CacheSize bounds the cached addresses (default 100,000).
	CacheSize int
	// ReloadEvery is how often the files' modification times are checked
	// (default 30 s).
	ReloadEvery time.Duration
}

func (c *Config) defaults() {
	if c.CacheSize <= 0 {
		c.CacheSize = 100_000
	}
	if c.ReloadEvery <= 0 {
		c.ReloadEvery = 30 * time.Second
	}
}

// ErrNoFields is returned when a file has neither city nor ASN fields.
var ErrNoFields = errors.New("no city or ASN fields")

// source is one opened database file.
type source struct {
	path    string
	reader  *maxminddb.Reader
	fields  fields
	modTime time.Time
	size    int64
	dbType  string
}

// DB answers lookups from the configured files.
type DB struct {
	cfg     Config
	log     *slog.Logger
	sources atomic.Pointer[[]*source]
	cache   cache
	metrics *metrics
	reg     prometheus.Registerer

	stop chan struct{}
	done chan struct{}
}

// New opens the configured files (none is fine). A file that cannot be
// read or has no city or ASN fields is an error: a server told to use a
// database should not start without it.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*DB, error) {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &DB{cfg: cfg, log: log, cache: newCache(cfg.CacheSize), metrics: newMetrics(), reg: reg}
	var srcs []*source
	for _, p := range d.paths() {
		s, err := openSource(p)
		if err != nil {
			closeAll(srcs)
			return nil, err
		}
		log.Info("geoip database loaded", "path", p, "layout", s.fields.String(), "database_type", s.dbType,
			"build", s.reader.Metadata.BuildTime().UTC().Format(time.RFC3339))
		srcs = append(srcs, s)
	}
	d.sources.Store(&srcs)
	if err := promset.Set(d.metrics.all()).Register(reg); err != nil {
		closeAll(srcs)
		return nil, fmt.Errorf("geoip metrics: %w", err)
	}
	d.metrics.loaded.Set(float64(len(srcs)))
	return d, nil
}

// paths lists the configured files once each: the simulator's combined
// database may be given to both flags.
func (d *DB) paths() []string {
	var out []string
	for _, p := range []string{d.cfg.CityPath, d.cfg.ASNPath} {
		if p != "" && (len(out) == 0 || out[0] != p) {
			out = append(out, p)
		}
	}
	return out
}

func openSource(path string) (*source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	// Read the whole file rather than mapping it: a replacement written in
	// place must not change what a running reader sees.
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	s, err := parse(buf)
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	s.path, s.modTime, s.size = path, st.ModTime(), st.Size()
	return s, nil
}

// parse opens a database held in memory and finds its layout.
func parse(buf []byte) (*source, error) {
	r, err := maxminddb.OpenBytes(buf)
	if err != nil {
		return nil, err
	}
	f, err := probe(r)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("type %q: %w", r.Metadata.DatabaseType, err)
	}
	return &source{reader: r, fields: f, dbType: r.Metadata.DatabaseType}, nil
}

// probe reads records until one tells the layout.
func probe(r *maxminddb.Reader) (fields, error) {
	n := 0
	for res := range r.Networks() {
		var rec map[string]any
		if err := res.Decode(&rec); err != nil {
			return fields{}, fmt.Errorf("decode %s: %w", res.Prefix(), err)
		}
		if f, ok := detect(rec); ok {
			return f, nil
		}
		if n++; n > 100 {
			break
		}
	}
	return fields{}, ErrNoFields
}

func closeAll(srcs []*source) {
	for _, s := range srcs {
		s.reader.Close()
	}
}

// Configured says whether any database is loaded.
func (d *DB) Configured() bool { return len(*d.sources.Load()) > 0 }

// Lookup places ip. It never fails: an address no database knows is
// returned as the zero Info.
func (d *DB) Lookup(ip netip.Addr) Info {
	srcs := *d.sources.Load()
	if len(srcs) == 0 || !ip.IsValid() {
		return Info{}
	}
	ip = ip.Unmap()
	if info, ok := d.cache.get(ip); ok {
		d.metrics.hits.Inc()
		return info
	}
	d.metrics.misses.Inc()
	var info Info
	for _, s := range srcs {
		var rec map[string]any
		if err := s.reader.Lookup(ip).Decode(&rec); err != nil {
			d.metrics.errors.Inc()
			continue
		}
		if rec != nil {
			extract(rec, s.fields, &info)
		}
	}
	d.cache.put(ip, info)
	return info
}

// EnrichRemote fills an internet location's ASN, AS name, city and country;
// the ingest path calls it for the remote end of every internet flow.
func (d *DB) EnrichRemote(ip netip.Addr, loc *topology.Location) {
	if loc.Kind != topology.KindInternet {
		return
	}
	info := d.Lookup(ip)
	loc.ASN, loc.ASOrg, loc.City, loc.Country = info.ASN, info.ASName, info.City, info.Country
}

// Provider is the enrichment provider over the databases: it completes
// the remote end of every internet flow (ASN, AS name, city, country, in
// the location's own fields; it adds no attributes).
func (d *DB) Provider() enrich.Provider {
	return enrich.Provider{Name: "geoip", Order: enrich.OrderGeoIP,
		Enrich: func(f *enrich.Flow) { d.EnrichRemote(f.Remote.IP, f.Remote.Loc) }}
}

// Start polls the files' modification times and reloads a replaced file.
func (d *DB) Start() {
	d.stop, d.done = make(chan struct{}), make(chan struct{})
	go d.pollLoop()
}

// Stop ends polling and closes the readers.
func (d *DB) Stop(ctx context.Context) error {
	if d.stop != nil {
		close(d.stop)
		select {
		case <-d.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	promset.Set(d.metrics.all()).Unregister(d.reg)
	return nil
}

func (d *DB) pollLoop() {
	defer close(d.done)
	t := time.NewTicker(d.cfg.ReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.Reload(false)
		}
	}
}

// Reload reopens every file whose size or modification time changed (all
// of them with force). A file that fails to load keeps the previous
// version in service.
func (d *DB) Reload(force bool) (reloaded int, err error) {
	old := *d.sources.Load()
	next := make([]*source, len(old))
	copy(next, old)
	var retire []*source
	for i, s := range old {
		st, serr := os.Stat(s.path)
		if serr != nil {
			err = errors.Join(err, fmt.Errorf("geoip database %s: %w", s.path, serr))
			continue
		}
		if !force && st.ModTime().Equal(s.modTime) && st.Size() == s.size {
			continue
		}
		ns, oerr := openSource(s.path)
		if oerr != nil {
			d.metrics.reloadErrors.Inc()
			d.log.Warn("geoip database changed but could not be loaded; keeping the previous version", "path", s.path, "err", oerr)
			err = errors.Join(err, oerr)
			continue
		}
		next[i] = ns
		retire = append(retire, s)
		reloaded++
		d.log.Info("geoip database reloaded", "path", s.path, "layout", ns.fields.String())
	}
	if reloaded > 0 {
		d.sources.Store(&next)
		d.cache.clear()
		d.metrics.reloads.Add(float64(reloaded))
		// Lookups still running on the old readers read from their own
		// buffers, so closing them only drops the reference.
		closeAll(retire)
	}
	return reloaded, err
}

// cache is a bounded two-generation map: lookups hit the current or the
// previous generation; when the current one is full it becomes the previous
// one. Memory stays under two generations and recent addresses survive,
// at the cost of a map per generation rather than an LRU list per entry.
type cache struct {
	mu       sync.Mutex
	max      int
	cur, old map[netip.Addr]Info
}

func newCache(size int) cache {
	half := max(size/2, 1)
	return cache{max: half, cur: make(map[netip.Addr]Info, 64)}
}

func (c *cache) get(ip netip.Addr) (Info, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[ip]; ok {
		return v, true
	}
	if v, ok := c.old[ip]; ok {
		c.putLocked(ip, v)
		return v, true
	}
	return Info{}, false
}

func (c *cache) put(ip netip.Addr, v Info) {
	c.mu.Lock()
	c.putLocked(ip, v)
	c.mu.Unlock()
}

func (c *cache) putLocked(ip netip.Addr, v Info) {
	if len(c.cur) >= c.max {
		c.old, c.cur = c.cur, make(map[netip.Addr]Info, c.max)
	}
	c.cur[ip] = v
}

func (c *cache) clear() {
	c.mu.Lock()
	c.cur, c.old = make(map[netip.Addr]Info, 64), nil
	c.mu.Unlock()
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}

type metrics struct {
	hits, misses, errors, reloads, reloadErrors prometheus.Counter
	loaded                                      prometheus.Gauge
}

func newMetrics() *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	return &metrics{
		hits:         c("flowlens_geoip_cache_hits_total", "GeoIP lookups answered from the cache."),
		misses:       c("flowlens_geoip_cache_misses_total", "GeoIP lookups that read the databases."),
		errors:       c("flowlens_geoip_lookup_errors_total", "GeoIP records that could not be decoded."),
		reloads:      c("flowlens_geoip_reloads_total", "GeoIP database files reloaded after a change on disk."),
		reloadErrors: c("flowlens_geoip_reload_errors_total", "GeoIP database files that changed but failed to load."),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowlens_geoip_databases",
			Help: "GeoIP database files in service."}),
	}
}

func (m *metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.hits, m.misses, m.errors, m.reloads, m.reloadErrors, m.loaded}
}
