package duckdb

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
)

// privateFiles takes group and other permissions away from the database
// file and its WAL, which hold every flow and every user's query history.
// Open calls it before and after DuckDB opens the file: files made by an
// older version or copied in keep their mode otherwise, and DuckDB creates
// new ones with the process umask. The WAL is deleted at every checkpoint
// and re-created by the next write, so no chmod can follow it:
// `flowlens server` sets umask 077 (server.RestrictUmask), and the data
// dir itself is 0700.
func privateFiles(path string, log *slog.Logger) error {
	for _, p := range []string{path, path + ".wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fmt.Errorf("check mode of %s: %w", p, err)
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		mode := fi.Mode().Perm() &^ fs.FileMode(0o077)
		if err := os.Chmod(p, mode); errors.Is(err, fs.ErrPermission) {
			log.Warn("database file is readable by other accounts and cannot be made private; chmod go-rwx it", "file", p, "mode", fi.Mode().Perm())
			continue
		} else if err != nil {
			return fmt.Errorf("make %s private: %w", p, err)
		}
		log.Warn("database file was readable by others; made private", "file", p, "was", fi.Mode().Perm(), "now", mode)
	}
	return nil
}
