package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/store"
)

// probeModule records what the server does with it.
type probeModule struct {
	path             string
	started, stopped atomic.Int32
	failStart        bool
}

func (p *probeModule) Routes(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/"+p.path, protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("probe ok"))
	})))
}
func (p *probeModule) Start(context.Context) error {
	if p.failStart {
		return errors.New("boom")
	}
	p.started.Add(1)
	return nil
}
func (p *probeModule) Stop(context.Context) error { p.stopped.Add(1); return nil }

func TestModulesAreBuiltMountedStartedAndStopped(t *testing.T) {
	first, second := &probeModule{path: "probe"}, &probeModule{path: "second"}
	var host *Host
	cfg := Config{Modules: func(h *Host) ([]module.Named, error) {
		host = h
		if err := h.SubscribeFlows("first", func([]*store.Batch) {}); err != nil {
			return nil, err
		}
		return []module.Named{{Name: "first", Module: first}, {Name: "second", Module: second}}, nil
	}}
	s := startTestServer(t, cfg)
	if host.DB == nil || host.Flows == nil || host.Metrics == nil || host.Topology() == nil || host.Log == nil ||
		host.Agents == nil || host.Registry == nil || host.DataDir == "" || host.Enrich == nil {
		t.Fatalf("host incomplete: %+v", host)
	}
	if code, body := get(t, http.DefaultClient, s.URL()+"/api/v1/probe", ""); code != 401 {
		t.Fatalf("module route without token: %d %s", code, body)
	}
	if code, body := get(t, http.DefaultClient, s.URL()+"/api/v1/probe", s.Token()); code != 200 || !strings.Contains(body, "probe ok") {
		t.Fatalf("module route: %d %s", code, body)
	}
	if first.started.Load() != 1 || second.started.Load() != 1 {
		t.Fatal("modules not started")
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if first.stopped.Load() != 1 || second.stopped.Load() != 1 {
		t.Fatal("modules not stopped")
	}
}

func TestModuleStartFailureFailsTheServer(t *testing.T) {
	good, bad := &probeModule{path: "good"}, &probeModule{path: "bad", failStart: true}
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Listen: "127.0.0.1:0", OpenStore: embeddedStore(dir),
		Modules: func(*Host) ([]module.Named, error) {
			return []module.Named{{Name: "good", Module: good}, {Name: "bad", Module: bad}}, nil
		}}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "start bad: boom") {
		t.Fatalf("Start: %v", err)
	}
	if good.stopped.Load() != 1 {
		t.Fatal("the module started before the failing one was not stopped")
	}
}

func TestModuleBuildErrorsFailTheServer(t *testing.T) {
	cases := []struct {
		name  string
		build func(*Host) ([]module.Named, error)
		want  string
	}{
		{"builder error", func(*Host) ([]module.Named, error) { return nil, errors.New("no geoip file") }, "build modules: no geoip file"},
		{"name used twice", func(*Host) ([]module.Named, error) {
			p := &probeModule{path: "p"}
			return []module.Named{{Name: "p", Module: p}, {Name: "p", Module: p}}, nil
		}, "build modules: module name p is used twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := New(Config{DataDir: dir, Listen: "127.0.0.1:0", OpenStore: embeddedStore(dir), Modules: tc.build}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestServerWithoutStoreIsRefused(t *testing.T) {
	if _, err := New(Config{DataDir: t.TempDir()}, nil); err == nil || !strings.Contains(err.Error(), "OpenStore is required") {
		t.Fatalf("New without a store: %v", err)
	}
}

func TestIncompleteStoreIsRefused(t *testing.T) {
	dir := t.TempDir()
	open := func(log *slog.Logger, reg prometheus.Registerer) (store.Backend, error) {
		be, err := embeddedStore(dir)(log, reg)
		be.Metrics = nil // a store without metric points
		return be, err
	}
	s, err := New(Config{DataDir: dir, Listen: "127.0.0.1:0", OpenStore: open}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "no flow store, component database or metric store") {
		t.Fatalf("Start on a store without metric points: %v", err)
	}
}
