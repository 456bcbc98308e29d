package server

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
)

// DataDirMode is the data dir's mode. It holds the API token, the web UI's
// admin password and the whole database, and no account but the server's
// needs to read it (backups run as root or as that account), so 0700
// rather than 0750.
const DataDirMode = 0o700

// prepareDataDir creates the data dir with DataDirMode, or takes group and
// other permissions away from an existing one (an older version made it
// 0750; an operator may have made it 0755), and from the token file in it.
// A dir this process may not chmod (owned by another account) is logged
// and left as it is: its owner chose its mode.
func prepareDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, DataDirMode); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	for _, p := range []string{dir, filepath.Join(dir, TokenFile)} {
		if err := makePrivate(p, log); err != nil {
			return err
		}
	}
	return nil
}

// makePrivate takes group and other permissions away from path, if it
// exists.
func makePrivate(path string, log *slog.Logger) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check mode of %s: %w", path, err)
	}
	was := fi.Mode().Perm()
	if was&0o077 == 0 {
		return nil
	}
	now := was &^ 0o077
	if err := os.Chmod(path, now); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			log.Warn("data dir file is readable by other accounts and cannot be made private; chmod go-rwx it", "path", path, "mode", was, "err", err)
			return nil
		}
		return fmt.Errorf("make %s private: %w", path, err)
	}
	log.Warn("data dir file was readable by other accounts; made private", "path", path, "was", was, "now", now)
	return nil
}

// RestrictUmask makes every file the process creates from now on private
// to its account (umask 077) and returns the previous umask. `flowlens
// server` and `demo` call it at start: DuckDB creates the WAL anew after
// every checkpoint, and its spill files, with the process umask. The umask
// is process-wide, which is right for the server process and wrong for a
// library, so Start does not call it.
func RestrictUmask() int {
	return syscall.Umask(0o077)
}
