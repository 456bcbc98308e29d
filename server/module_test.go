package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowlens/flowlens/store"
)

// probeModule records what the server does with it.
type probeModule struct {
	path             string
	deps             *Deps
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
	cfg := Config{Modules: []ModuleFactory{
		{Name: "first", New: func(d *Deps) (Module, error) {
			first.deps = d
			if err := d.SubscribeFlows("first", func([]*store.Batch) {}); err != nil {
				return nil, err
			}
			return first, nil
		}},
		{Name: "second", New: func(d *Deps) (Module, error) {
			if d.Modules["first"] != first {
				t.Error("a later module must see the earlier ones")
			}
			second.deps = d
			return second, nil
		}},
	}}
	s := startTestServer(t, cfg)
	if first.deps.DB == nil || first.deps.Metrics == nil || first.deps.Topology() == nil || first.deps.Log == nil {
		t.Fatalf("deps incomplete: %+v", first.deps)
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
	bad := &probeModule{path: "bad", failStart: true}
	cfg := Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		Modules: []ModuleFactory{{Name: "bad", New: func(*Deps) (Module, error) { return bad, nil }}}}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "start bad: boom") {
		t.Fatalf("Start: %v", err)
	}
}
