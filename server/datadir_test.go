package server_test

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/server"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/web"
)

// TestDataFilesNotWorldReadable starts a server on a data dir another
// account could read (0755, with a 0644 database, token and admin
// password from before), as `flowlens server` does it (umask first), and
// checks that the dir, the database, its WAL after a checkpoint and a new
// write, the token and the admin password are all private to the server's
// account.
func TestDataFilesNotWorldReadable(t *testing.T) {
	old := server.RestrictUmask()
	t.Cleanup(func() { syscall.Umask(old) })

	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // whatever the umask
	db := filepath.Join(dir, "flowlens.duckdb")
	st, err := duckdb.Open(duckdb.Config{Path: db}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for name, content := range map[string]string{"flowlens.duckdb": "", server.TokenFile: "old-token\n", web.AdminPasswordFile: "old-password\n"} {
		p := filepath.Join(dir, name)
		if content != "" {
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	srv, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0", OpenStore: embeddedStoreIn(dir),
		Modules: func(h *server.Host) ([]module.Named, error) {
			ui, err := web.New(web.Config{}, web.Dependencies{Log: h.Log, Registry: h.Registry, DataDir: h.DataDir,
				DB: h.DB, Metrics: h.Metrics, Flows: h.Flows, Topology: h.Topology, Agents: h.Agents})
			if err != nil {
				return nil, err
			}
			return []module.Named{{Name: "web", Module: ui}}, nil
		}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	if srv.Token() != "old-token" {
		t.Fatalf("the token from before was not kept: %q", srv.Token())
	}
	sdb := srv.Store().(*duckdb.Store).DB()
	for _, q := range []string{"CHECKPOINT", "CREATE TABLE after_checkpoint (a INTEGER)", "INSERT INTO after_checkpoint VALUES (1)"} {
		if _, err := sdb.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	for name, want := range map[string]fs.FileMode{"": 0o700, "flowlens.duckdb": 0o600, "flowlens.duckdb.wal": 0o600,
		server.TokenFile: 0o600, web.AdminPasswordFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", filepath.Join("DATA_DIR", name), got, want)
		}
	}
}
