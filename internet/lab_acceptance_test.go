package internet_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowlens/flowlens/apiclient"
	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/geoip"
	"github.com/flowlens/flowlens/internet"
	"github.com/flowlens/flowlens/lab"
	"github.com/flowlens/flowlens/lab/labtest"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/server"
	"github.com/flowlens/flowlens/store/duckdb"
)

// labPeriod is the monitor period of the lab test: a test-only floor
// (internet.Config.MinPeriod) so that real traffic in real time runs in
// about a minute; the production minimum is one minute.
const labPeriod = 4 * time.Second

func skipUnlessLab(t *testing.T) {
	t.Helper()
	labtest.Require(t, "internet lab test", lab.Cgroup2Mount, "nft", "curl", "go")
}

// labClients are the internet clients: 3 ASNs, 2 cities, public test
// addresses (203.0.113.0/24 is declared internet in examples/topology.yaml).
func labLinks() []lab.InternetLink {
	c := func(name string, ip string, asn uint32, city string) lab.InternetClient {
		return lab.InternetClient{Name: name, Addr: netip.MustParseAddr(ip), ASN: asn, City: city}
	}
	return []lab.InternetLink{
		{ASN: 64500, Prefix: netip.MustParsePrefix("203.0.113.0/26"), Clients: []lab.InternetClient{
			c("paris", "203.0.113.10", 64500, "Paris"), c("lyon", "203.0.113.11", 64500, "Lyon")}},
		{ASN: 64501, Prefix: netip.MustParsePrefix("203.0.113.64/26"), Clients: []lab.InternetClient{
			c("paris", "203.0.113.70", 64501, "Paris")}},
		{ASN: 64502, Prefix: netip.MustParsePrefix("203.0.113.128/26"), Clients: []lab.InternetClient{
			c("lyon", "203.0.113.130", 64502, "Lyon")}},
	}
}

var labCities = map[string]geoip.Info{
	"Paris": {City: "Paris", Subdivision: "Île-de-France", Country: "FR", CountryName: "France", Latitude: 48.857, Longitude: 2.352},
	"Lyon":  {City: "Lyon", Subdivision: "Auvergne-Rhône-Alpes", Country: "FR", CountryName: "France", Latitude: 45.764, Longitude: 4.836},
}

func TestLabASNLossAndBlackhole(t *testing.T) {
	skipUnlessLab(t)
	dir := t.TempDir()
	// The agent drops to nobody, which must reach its spool under dir:
	// t.TempDir's parent is 0700, so let others search it.
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// The agent binary, built from this tree.
	agentBin := filepath.Join(dir, "flowlens-agent")
	build := exec.Command("go", "build", "-o", agentBin, "../cmd/flowlens-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build agent: %v\n%s", err, out)
	}

	// A unique lab name; client namespaces get it as prefix.
	var rnd [2]byte
	rand.Read(rnd[:])
	name := "fi" + hex.EncodeToString(rnd[:])
	links := labLinks()
	var entries []geoip.Entry
	names := map[string]int{}
	for li := range links {
		for ci := range links[li].Clients {
			cl := &links[li].Clients[ci]
			names[cl.City]++
			cl.Name = name + "-" + cl.City[:1] + string(rune('0'+names[cl.City]))
			info := labCities[cl.City]
			info.ASN, info.ASName = cl.ASN, "Lab AS"+string(rune('0'+li))
			entries = append(entries, geoip.Entry{Prefix: netip.PrefixFrom(cl.Addr, 32), Info: info})
		}
	}
	db := filepath.Join(dir, "lab.mmdb")
	if err := geoip.Write(db, entries, geoip.WriteOptions{}); err != nil {
		t.Fatal(err)
	}

	l, err := lab.UpInternet(ctx, lab.InternetConfig{Name: name, ServerAddr: netip.MustParsePrefix("10.1.1.10/24"), Links: links})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})

	// The real server with the GeoIP database and the internet module.
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, examples.Topology, 0o600)
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	data := filepath.Join(dir, "data")
	srv, err := server.New(server.Config{DataDir: data, Listen: "127.0.0.1:0", TopologyPath: topo,
		Tokens: []string{simToken}, OpenStore: duckdb.Opener(duckdb.Config{Path: filepath.Join(data, "flowlens.duckdb")}),
		Modules: func(h *server.Host) ([]module.Named, error) {
			geo, err := geoip.NewModule(geoip.Config{CityPath: db, ASNPath: db},
				geoip.Dependencies{Log: h.Log, Registry: h.Registry, Enrich: h.Enrich})
			if err != nil {
				return nil, err
			}
			inet, err := internet.New(internet.Config{MinPeriod: time.Second, Grace: 1500 * time.Millisecond, Tick: 250 * time.Millisecond},
				internetDeps(h, geo.DB))
			if err != nil {
				return nil, err
			}
			return []module.Named{{Name: "geoip", Module: geo}, {Name: "internet", Module: inet}}, nil
		}}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Stop(sctx)
	})
	client := apiclient.New(srv.URL(), simToken, false)
	if err := client.CreateInternetMonitor(ctx, internet.Monitor{Name: "lab", PeriodSeconds: int64(labPeriod / time.Second)}, nil); err != nil {
		t.Fatal(err)
	}

	// The web server on the server host, and the agent watching it.
	ln, err := l.Listen("10.1.1.10:8080")
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("flowlens "), 32<<10/9)
	web := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(body) }),
		ReadHeaderTimeout: 5 * time.Second}
	go web.Serve(ln)
	t.Cleanup(func() { web.Close() })
	agent := exec.Command(agentBin, "--server", srv.URL(), "--token", simToken, "--mode", "sockdiag", "--netns", l.Server(),
		"--host-id", "lab-web", "--interval", "1s", "--spool-dir", filepath.Join(dir, "spool"), "--metrics-listen=")
	var agentLog bytes.Buffer
	agent.Stdout, agent.Stderr = &agentLog, &agentLog
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		agent.Process.Kill()
		agent.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", agentLog.String())
		}
	})
	if err := l.StartClients("http://10.1.1.10:8080/", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	// Baselines: every city-network measured for a few periods.
	waitFor(t, 60*time.Second, "4 city-networks measured for 4 periods", func() bool {
		var rows []internet.Overall
		client.InternetQuery(ctx, "overall", url.Values{"monitor": {"lab"}}, &rows)
		n := 0
		for _, o := range rows {
			if o.CityNetworks == 4 {
				n++
			}
		}
		return n >= 4
	})

	// Loss on AS64500's link: a performance event naming AS64500.
	if err := l.Impair(ctx, 64500, 0.05); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, client, func(e internet.Event) bool {
		return e.Status == internet.StatusActive && (e.Type == internet.TypePerformance || e.Type == internet.TypeLocalPerformance)
	})
	if ev.Cause.Kind != internet.CauseASN || ev.Cause.ASN != 64500 {
		t.Errorf("loss on AS64500: cause %+v", ev.Cause)
	}
	if err := l.Heal(ctx, 64500); err != nil {
		t.Fatal(err)
	}
	waitResolved(t, client, ev.ID)
	waitNoActive(t, client)

	// Blackhole on AS64502's link: an availability event.
	if err := l.Impair(ctx, 64502, 1); err != nil {
		t.Fatal(err)
	}
	ev = waitEvent(t, client, func(e internet.Event) bool {
		return e.Status == internet.StatusActive && e.Type == internet.TypeAvailability
	})
	if len(ev.ImpactedLocations) == 0 || ev.ImpactedLocations[0].ASN != 64502 || !ev.ImpactedLocations[0].MissingTraffic {
		t.Errorf("blackhole on AS64502: impacted %+v", ev.ImpactedLocations)
	}
	if err := l.Heal(ctx, 64502); err != nil {
		t.Fatal(err)
	}
	waitResolved(t, client, ev.ID)
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func events(t *testing.T, c *apiclient.Client) []internet.Event {
	var evs []internet.Event
	if err := c.InternetQuery(t.Context(), "events", url.Values{}, &evs); err != nil {
		t.Fatal(err)
	}
	return evs
}

func waitEvent(t *testing.T, c *apiclient.Client, match func(internet.Event) bool) internet.Event {
	t.Helper()
	var found internet.Event
	waitFor(t, 8*labPeriod, "an event", func() bool {
		for _, e := range events(t, c) {
			if match(e) {
				found = e
				return true
			}
		}
		return false
	})
	t.Logf("event %s %s: cause %s AS%d: %s", found.Status, found.Type, found.Cause.Kind, found.Cause.ASN, found.Cause.Summary)
	return found
}

func waitResolved(t *testing.T, c *apiclient.Client, id string) {
	t.Helper()
	waitFor(t, 8*labPeriod, "event "+id+" resolved", func() bool {
		for _, e := range events(t, c) {
			if e.ID == id {
				return e.Status == internet.StatusResolved
			}
		}
		return false
	})
}

func waitNoActive(t *testing.T, c *apiclient.Client) {
	t.Helper()
	waitFor(t, 8*labPeriod, "no active event", func() bool {
		for _, e := range events(t, c) {
			if e.Status == internet.StatusActive {
				return false
			}
		}
		return true
	})
}
