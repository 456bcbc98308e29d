package publisher

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// maxTokenFileBytes bounds what ReadTokenFile reads: a token is a line.
const maxTokenFileBytes = 4096

// ReadTokenFile reads a bearer token from a file holding it alone on one
// line (a trailing newline is fine). A token on the command line is visible
// to every local user in /proc/PID/cmdline; a file readable by its owner
// only is not. It warns (never showing the token) when the file is readable
// by group or others.
func ReadTokenFile(path string, log *slog.Logger) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	if len(b) > maxTokenFileBytes {
		return "", fmt.Errorf("token file %s: over %d bytes; want one token on one line", path, maxTokenFileBytes)
	}
	tok := strings.TrimSpace(string(b))
	switch {
	case tok == "":
		return "", fmt.Errorf("token file %s is empty", path)
	case strings.ContainsAny(tok, " \t\r\n"):
		return "", fmt.Errorf("token file %s: want one token on one line, found whitespace inside it", path)
	}
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 && log != nil {
		log.Warn("token file is readable by other users; chmod 600 it", "file", path, "mode", st.Mode().Perm().String())
	}
	return tok, nil
}
