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
//
// Each file answers only for its role: the city file for the location
// (city, subdivision, country, coordinates), the ASN file for the network
// (ASN, AS name), whatever else it carries (IPinfo's ASN database has the
// AS's registration country, which is not where its clients are). Without
// an ASN file the city file answers for the network too, when it carries
// ASNs (MaxMind Enterprise, IPinfo Core and Plus, the simulator's file).
type Config struct {
	CityPath string // --geoip-city: location fields
	ASNPath  string // --geoip-asn: ASN fields
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

// ErrNoFields is returned when a file lacks the fields of its role.
var ErrNoFields = errors.New("no fields")

// source is one opened database file.
type source struct {
	path   string
	reader *maxminddb.Reader
	fields fields // what the file carries
	role   fields // what it answers for
	// configured is the role the flags gave it, for reloads.
	configured fileRole
	modTime    time.Time
	size       int64
	dbType     string
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
	for _, r := range d.roles() {
		s, err := openSource(r.path, r)
		if err != nil {
			closeAll(srcs)
			return nil, err
		}
		log.Info("geoip database loaded", "path", r.path, "fields", s.fields.String(), "answers_for", s.role.String(),
			"database_type", s.dbType, "build", s.reader.Metadata.BuildTime().UTC().Format(time.RFC3339))
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

// fileRole is one configured file and what it answers for.
type fileRole struct {
	path string
	role fields
	// optionalASN: the city file answers for the network too when it
	// carries ASNs and no ASN file is configured.
	optionalASN bool
}

// roles lists the configured files once each (the simulator's combined
// database may be given to both flags) with what each answers for.
func (d *DB) roles() []fileRole {
	city, asn := d.cfg.CityPath, d.cfg.ASNPath
	switch {
	case city != "" && city == asn:
		return []fileRole{{path: city, role: fields{location: true, asn: true}}}
	case city != "" && asn != "":
		return []fileRole{{path: city, role: fields{location: true}}, {path: asn, role: fields{asn: true}}}
	case city != "":
		return []fileRole{{path: city, role: fields{location: true}, optionalASN: true}}
	case asn != "":
		return []fileRole{{path: asn, role: fields{asn: true}}}
	}
	return nil
}

// openSource opens a file for its role: a file that lacks the fields of
// its role is refused (an ASN database given as --geoip-city, or a file of
// another kind).
func openSource(path string, r fileRole) (*source, error) {
	s, err := readSource(path)
	if err != nil {
		return nil, err
	}
	s.role, s.configured = r.role, r
	if r.optionalASN && s.fields.asn {
		s.role.asn = true
	}
	flag := "--geoip-asn"
	if r.role.location {
		flag = "--geoip-city"
	}
	if (r.role.location && !s.fields.location) || (r.role.asn && !s.fields.asn) {
		s.reader.Close()
		return nil, fmt.Errorf("geoip database %s (type %q): %w", path, s.dbType, roleError(flag, s.fields))
	}
	return s, nil
}

func readSource(path string) (*source, error) {
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

// parse opens a database held in memory and finds which fields it has.
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

// probeRecords bounds how many records probe reads.
const probeRecords = 1000

// probe reads records and collects the fields they carry, per field: the
// first records of a database may lack some (a country-level record has
// no city, an Enterprise record without a known network no traits).
func probe(r *maxminddb.Reader) (fields, error) {
	var f fields
	n := 0
	for res := range r.Networks() {
		var rec map[string]any
		if err := res.Decode(&rec); err != nil {
			return fields{}, fmt.Errorf("decode %s: %w", res.Prefix(), err)
		}
		if f = f.or(detect(rec)); f.location && f.asn {
			break
		}
		if n++; n >= probeRecords {
			break
		}
	}
	if !f.location && !f.asn {
		return f, fmt.Errorf("%w: neither location nor ASN", ErrNoFields)
	}
	return f, nil
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
		if rec == nil {
			continue
		}
		if s.role.location {
			extractLocation(rec, &info)
		}
		if s.role.asn {
			extractASN(rec, &info)
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
		ns, oerr := openSource(s.path, s.configured)
		if oerr != nil {
			d.metrics.reloadErrors.Inc()
			d.log.Warn("geoip database changed but could not be loaded; keeping the previous version", "path", s.path, "err", oerr)
			err = errors.Join(err, oerr)
			continue
		}
		next[i] = ns
		retire = append(retire, s)
		reloaded++
		d.log.Info("geoip database reloaded", "path", s.path, "fields", ns.fields.String())
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

// Why the databases give an address no network (ASN): the internet
// monitor shows such addresses as "unknown network" with the reason.
const (
	ReasonPrivate       = "private range"   // not routed on the internet (RFC 1918, CGNAT, ULA, link-local, ...)
	ReasonNoDatabase    = "no database"     // no file answers for the network
	ReasonNotInDatabase = "not in database" // the files do not know it
)

// cgnat is the shared address space of RFC 6598, which netip does not
// count as private.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Unresolved says why the databases give ip no network, or "" when they
// give it one.
func (d *DB) Unresolved(ip netip.Addr) string {
	if d.Lookup(ip).ASN != 0 {
		return ""
	}
	if NotRouted(ip) {
		return ReasonPrivate
	}
	for _, s := range *d.sources.Load() {
		if s.role.asn {
			return ReasonNotInDatabase
		}
	}
	return ReasonNoDatabase
}

// NotRouted says whether ip belongs to a range that is not routed on the
// internet (so no GeoIP database places it): private, shared (CGNAT),
// loopback, link-local, multicast, unspecified; IPv4-mapped and 6to4 forms
// are judged by their IPv4 address.
func NotRouted(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() && ip.As16()[0] == 0x20 && ip.As16()[1] == 0x02 { // 6to4: 2002:AABB:CCDD::/48
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
	}
	return !ip.IsValid() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() || cgnat.Contains(ip)
}
