package duckdb

import (
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/store/storetest"
)

// testLogger shows the store's logs only with -v.
func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func openTemp(t *testing.T) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "flows.duckdb"))
}

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(Config{Path: path, Threads: 2}, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	paths := make(map[store.Store]string)
	open := func(t *testing.T) store.Store {
		s := openTemp(t)
		mu.Lock()
		paths[s] = s.cfg.Path
		mu.Unlock()
		return s
	}
	reopen := func(t *testing.T, old store.Store) store.Store {
		if err := old.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		mu.Lock()
		path := paths[old]
		mu.Unlock()
		s := openAt(t, path)
		mu.Lock()
		paths[s] = path
		mu.Unlock()
		return s
	}
	storetest.Run(t, open, storetest.WithReopen(reopen))
}
