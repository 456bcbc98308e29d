// Package module is the server's module kernel: the interface every
// feature that runs inside `flowlens server` implements (monitors, alarms,
// flow logs, the internet monitor, the APIs, the web UI) and their
// lifecycle. It is a leaf: it imports only the standard library and
// Prometheus, so a feature depends on it without linking the server, the
// ingest path or a store.
//
// Modules are built by hand in cmd/flowlens, each from its Config and a
// typed Dependencies struct of its own (interfaces it defines, the store
// interfaces, the other modules it needs as typed values), in dependency
// order; the server mounts their routes, starts them in that order and
// stops them in reverse.
package module

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"

	"github.com/prometheus/client_golang/prometheus"
)

// Module is a feature that runs inside the server.
type Module interface {
	// Routes mounts the module's endpoints. protect wraps a handler so
	// that it requires an admin API token.
	Routes(mux *http.ServeMux, protect func(http.Handler) http.Handler)
	// Start runs the module's goroutines and loads its state; the modules
	// it depends on have started before it.
	Start(ctx context.Context) error
	// Stop ends what Start began; the modules that depend on it have
	// stopped before it.
	Stop(ctx context.Context) error
}

// Named is a module with its name, for logs and errors.
type Named struct {
	Name string
	Module
}

// Common are the parts every module may take from the server.
type Common struct {
	Log      *slog.Logger // tagged with the module's name
	Registry prometheus.Registerer
	DataDir  string
}

// Logger returns log, or a logger that discards everything when it is nil
// (modules built in tests without one).
func Logger(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// StartAll starts mods in order. When one fails it stops those already
// started, in reverse order, and returns the failure naming the module.
func StartAll(ctx context.Context, mods []Named) error {
	for i, m := range mods {
		if err := m.Start(ctx); err != nil {
			err = fmt.Errorf("start %s: %w", m.Name, err)
			return errors.Join(err, StopAll(ctx, mods[:i]))
		}
	}
	return nil
}

// StopAll stops mods in reverse order, every one of them even when some
// fail, and returns every failure naming its module.
func StopAll(ctx context.Context, mods []Named) error {
	var err error
	for i := len(mods) - 1; i >= 0; i-- {
		if e := mods[i].Stop(ctx); e != nil {
			err = errors.Join(err, fmt.Errorf("stop %s: %w", mods[i].Name, e))
		}
	}
	return err
}

// Check refuses a module list with an unnamed or nil module (a nil
// pointer of a module type included: a module the wiring never built) or a
// name used twice: a wiring mistake that would otherwise surface as a
// confusing log line or a nil dereference at start.
func Check(mods []Named) error {
	seen := map[string]bool{}
	for i, m := range mods {
		switch {
		case m.Name == "":
			return fmt.Errorf("module %d has no name", i)
		case isNil(m.Module):
			return fmt.Errorf("module %s is nil", m.Name)
		case seen[m.Name]:
			return fmt.Errorf("module name %s is used twice", m.Name)
		}
		seen[m.Name] = true
	}
	return nil
}

// isNil reports a nil interface or an interface holding a nil pointer.
func isNil(m Module) bool {
	if m == nil {
		return true
	}
	v := reflect.ValueOf(m)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
