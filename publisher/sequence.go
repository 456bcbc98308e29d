package publisher

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// seqBlock is how many sequence numbers one durable reservation covers: one
// fsync per seqBlock reports instead of one per report.
const seqBlock = 1024

// sequencer hands out report sequence numbers that are never reused, even
// across crashes. The file holds the first number not yet reserved; numbers
// below it may have been used. After a restart numbering resumes at that
// limit, so the unused rest of the last block becomes a gap, which the server
// tolerates, while reuse would make it drop a new report as a duplicate.
type sequencer struct {
	path  string
	next  uint64 // next number to hand out
	limit uint64 // first number not covered by the durable reservation
}

// loadSequencer reads the reservation file; a missing file starts at 1
// (proto3 reads 0 as "unset").
func loadSequencer(path string) (*sequencer, error) {
	s := &sequencer{path: path, next: 1, limit: 1}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read sequence state: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v == 0 {
		return nil, fmt.Errorf("sequence state %s is corrupt (%q); refusing to guess, since reusing a sequence number loses reports: restore it or set it above the highest sequence the server has seen", path, b)
	}
	s.next, s.limit = v, v
	return s, nil
}

// atLeast moves numbering past n, e.g. past sequences found in the spool
// when the reservation file was lost.
func (s *sequencer) atLeast(n uint64) {
	if s.next < n {
		s.next = n
	}
	if s.limit < s.next {
		s.limit = s.next
	}
}

// take returns the next number, first reserving a new block durably when
// the current one is used up.
func (s *sequencer) take() (uint64, error) {
	if s.next >= s.limit {
		limit := s.next + seqBlock
		if err := writeFileAtomic(s.path, []byte(strconv.FormatUint(limit, 10)+"\n")); err != nil {
			return 0, fmt.Errorf("reserve sequence numbers: %w", err)
		}
		s.limit = limit
	}
	n := s.next
	s.next++
	return n, nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new content: write a temporary file, fsync it, rename it over
// path, fsync the directory.
func writeFileAtomic(path string, data []byte) error {
	return writeFile(path, data, true)
}

// writeFile is writeFileAtomic with the fsyncs optional, for state whose
// loss only costs a harmless replay.
func writeFile(path string, data []byte, durable bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("sync %s: %w", tmp, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if durable {
		return syncDir(filepath.Dir(path))
	}
	return nil
}

// syncDir makes a rename or unlink in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
