package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/insights/insightsapi"
	"github.com/flowlens/flowlens/metricstore/seriesapi"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/store/duckdb"
)

// embeddedStore opens the DuckDB store in the data dir, as `flowlens
// server` does by default.
func embeddedStore(dir string) func(*slog.Logger, prometheus.Registerer) (store.Backend, error) {
	return func(log *slog.Logger, reg prometheus.Registerer) (store.Backend, error) {
		return duckdb.OpenBackend(duckdb.Config{Path: filepath.Join(dir, "flowlens.duckdb")}, log, reg)
	}
}

// apiModules are the insights, topology, agents and metric-series APIs,
// wired as cmd/flowlens wires them.
func apiModules(h *Host) ([]module.Named, error) {
	return []module.Named{
		{Name: "insights", Module: insightsapi.New(insightsapi.Dependencies{Flows: h.Flows, Topology: h.Topology, Agents: h.Agents})},
		{Name: "metrics", Module: seriesapi.New(seriesapi.Dependencies{Metrics: h.Metrics})},
	}, nil
}

// startTestServer runs a server on a DuckDB file in a temporary data dir,
// with the API modules unless cfg has modules of its own.
func startTestServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.TopologyPath = "../examples/topology.yaml"
	cfg.OpenStore = embeddedStore(cfg.DataDir)
	if cfg.Modules == nil {
		cfg.Modules = apiModules
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s
}

func get(t *testing.T, c *http.Client, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPIAuthAndErrors(t *testing.T) {
	s := startTestServer(t, Config{Tokens: []string{"tok-1", "tok-2"}})
	c := http.DefaultClient
	cases := []struct {
		path, token string
		code        int
		want        string
	}{
		{"/healthz", "", 200, `"status": "ok"`},
		{"/api/v1/insights/top", "", 401, "missing or wrong token"},
		{"/api/v1/insights/top", "tok-3", 401, "missing or wrong token"},
		{"/api/v1/insights/top", "tok-2", 200, `"rows": []`},
		{"/api/v1/insights/top?metric=latency", "tok-1", 400, "unknown metric"},
		{"/api/v1/insights/top?limit=501", "tok-1", 400, "limit 501 out of range"},
		{"/api/v1/insights/top?since=5m&start=1", "tok-1", 400, "not both"},
		{"/api/v1/insights/series?step=1m&since=7d", "tok-1", 200, `"series": []`},
		{"/api/v1/topology/lookup?ip=10.1.11.10", "tok-1", 200, `"zone": "zone-b"`},
		{"/api/v1/topology/lookup?ip=nope", "tok-1", 400, "not an IP address"},
		{"/api/v1/nothing", "tok-1", 404, "no such endpoint"},
		{"/metrics", "", 200, "flowlens_ingest_flows_total"},
	}
	for _, tc := range cases {
		code, body := get(t, c, s.URL()+tc.path, tc.token)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d %.300q, want %d containing %q", tc.path, code, body, tc.code, tc.want)
		}
	}
}

func TestGeneratedTokenIsKept(t *testing.T) {
	s := startTestServer(t, Config{})
	b, err := os.ReadFile(filepath.Join(s.cfg.DataDir, TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if tok := strings.TrimSpace(string(b)); tok != s.Token() || len(tok) < 32 {
		t.Fatalf("token file %q, server token %q", tok, s.Token())
	}
	st, _ := os.Stat(filepath.Join(s.cfg.DataDir, TokenFile))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	s := startTestServer(t, Config{Tokens: []string{"tok"}, TLSCert: certFile, TLSKey: keyFile})
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("URL %s is not https", s.URL())
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if code, _ := get(t, c, s.URL()+"/api/v1/agents", "tok"); code != 200 {
		t.Fatalf("agents over TLS: %d", code)
	}
	if _, err := http.Get("http://" + strings.TrimPrefix(s.URL(), "https://") + "/healthz"); err == nil {
		// A plain-HTTP request to a TLS listener gets a 400 from Go, not data.
		code, _ := get(t, http.DefaultClient, "http://"+strings.TrimPrefix(s.URL(), "https://")+"/healthz", "")
		if code == 200 {
			t.Error("plain HTTP answered 200 on the TLS listener")
		}
	}
	if _, err := New(Config{DataDir: dir, TLSCert: certFile, OpenStore: embeddedStore(dir)}, nil); err == nil {
		t.Error("a certificate without a key was accepted")
	}
}

func selfSigned(t *testing.T, dir string) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flowlens-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
