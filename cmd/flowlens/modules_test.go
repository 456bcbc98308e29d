package main

import (
	"context"
	"log/slog"
	"reflect"
	"testing"

	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/server"
)

// TestEveryBuiltModuleIsStarted: the server's wiring builds every module
// of serverModules and hands each to the server exactly once, so a module
// added to the struct but forgotten in startOrder (or never built) fails
// here rather than leaving its routes unmounted.
func TestEveryBuiltModuleIsStarted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	var mods moduleFlags
	mods.register(pflag.NewFlagSet("test", pflag.ContinueOnError))
	mods.web.AdminPassword = "pw"
	var built *serverModules
	dir := t.TempDir()
	srv, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0", Tokens: []string{"tok"},
		OpenStore: embeddedStore(t, dir), Modules: mods.builder(func(s *serverModules) { built = s })}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	if built == nil {
		t.Fatal("the builder did not report the modules")
	}
	started := map[uintptr]string{} // by the module's address
	for _, m := range built.startOrder() {
		p := reflect.ValueOf(m.Module).Pointer()
		if prev, ok := started[p]; ok {
			t.Errorf("module %s is started twice (also as %s)", m.Name, prev)
		}
		started[p] = m.Name
	}
	v := reflect.ValueOf(built).Elem()
	for i := 0; i < v.NumField(); i++ {
		name, f := v.Type().Field(i).Name, v.Field(i)
		if f.IsNil() {
			t.Errorf("module %s was not built", name)
			continue
		}
		if _, ok := started[f.Pointer()]; !ok {
			t.Errorf("module %s is built but not in startOrder", name)
		}
	}
	if len(started) != v.NumField() {
		t.Errorf("%d modules started, %d built", len(started), v.NumField())
	}
}
