package publisher

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

func openTestSpool(t *testing.T, dir string, maxBytes int64) (*spool, *int) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	dropped := new(int)
	s, err := openSpool(dir, maxBytes, log, newLogLimiter(log, time.Minute), func(n int, _ string) { *dropped += n })
	if err != nil {
		t.Fatalf("openSpool: %v", err)
	}
	return s, dropped
}

func mustAppend(t *testing.T, s *spool, seqs ...uint64) {
	t.Helper()
	for _, seq := range seqs {
		if err := s.append(seq, []byte{byte(seq), 1, 2, 3}); err != nil {
			t.Fatalf("append %d: %v", seq, err)
		}
	}
}

// expectHead checks the head record and acknowledges it.
func expectHead(t *testing.T, s *spool, seq uint64) {
	t.Helper()
	rec, ok := s.peek()
	if !ok || rec.seq != seq || !bytes.Equal(rec.payload, []byte{byte(seq), 1, 2, 3}) {
		t.Fatalf("head %v %v, want sequence %d", rec, ok, seq)
	}
	s.advance()
}

func TestSpoolFIFOAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTestSpool(t, dir, 1<<20)
	mustAppend(t, s, 1, 2, 3, 4, 5)
	expectHead(t, s, 1)
	expectHead(t, s, 2)
	if err := s.close(); err != nil {
		t.Fatal(err)
	}

	s, _ = openTestSpool(t, dir, 1<<20)
	if s.len() != 3 || s.maxSeq != 5 {
		t.Fatalf("reopened: %d records, max sequence %d; want 3 and 5", s.len(), s.maxSeq)
	}
	mustAppend(t, s, 6)
	for seq := uint64(3); seq <= 6; seq++ {
		expectHead(t, s, seq)
	}
	if _, ok := s.peek(); ok || s.len() != 0 || s.bytes() != 0 {
		t.Fatalf("drained spool still has %d records, %d bytes", s.len(), s.bytes())
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix)); len(segs) != 0 {
		t.Fatalf("acknowledged segments left behind: %v", segs)
	}
}

// After everything was acknowledged the cursor points past the last
// segment; new segments must be numbered above it, or a restart would take
// them for acknowledged ones and delete them.
func TestSpoolNewSegmentsAboveCursor(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTestSpool(t, dir, 1<<20)
	mustAppend(t, s, 1, 2)
	expectHead(t, s, 1)
	expectHead(t, s, 2)
	s.close()

	s, _ = openTestSpool(t, dir, 1<<20)
	mustAppend(t, s, 3)
	s.close()

	s, _ = openTestSpool(t, dir, 1<<20)
	expectHead(t, s, 3)
	s.close()
}

func TestSpoolBoundEvictsOldestSegments(t *testing.T) {
	s, dropped := openTestSpool(t, t.TempDir(), 200) // segments of 25 bytes: one record each
	for seq := uint64(1); seq <= 30; seq++ {
		mustAppend(t, s, seq)
		if s.bytes() > 200 {
			t.Fatalf("spool holds %d bytes, bound 200", s.bytes())
		}
	}
	kept := s.len()
	if *dropped+kept != 30 || *dropped == 0 {
		t.Fatalf("dropped %d, kept %d of 30", *dropped, kept)
	}
	for seq := uint64(30 - kept + 1); seq <= 30; seq++ {
		expectHead(t, s, seq)
	}
	if err := s.append(99, make([]byte, 300)); !errors.Is(err, errTooLargeForSpool) {
		t.Fatalf("appending a record larger than the spool: %v", err)
	}
	s.close()
}

func TestSpoolCorruptMiddleRecordEndsSegment(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTestSpool(t, dir, 1<<20)
	mustAppend(t, s, 1, 2, 3)
	s.close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	flipByte(t, segs[0], int(recordSize(4))+recordHeaderSize) // the second record's payload

	s, _ = openTestSpool(t, dir, 1<<20)
	mustAppend(t, s, 4)
	expectHead(t, s, 1)
	expectHead(t, s, 4)
	s.close()
}

func TestReadRecordAgreesWithDecode(t *testing.T) {
	rec := appendRecord(nil, 42, []byte("payload"))
	for cut := 0; cut <= len(rec); cut++ {
		var buf []byte
		seq, size, err := readRecord(bytes.NewReader(rec[:cut]), &buf)
		_, _, _, derr := decodeRecord(rec[:cut])
		switch {
		case cut == 0 && err != io.EOF:
			t.Fatalf("empty input: %v, want io.EOF", err)
		case cut > 0 && cut < len(rec) && (!errors.Is(err, errShortRecord) || !errors.Is(derr, errShortRecord)):
			t.Fatalf("cut at %d: %v / %v, want errShortRecord", cut, err, derr)
		case cut == len(rec) && (err != nil || derr != nil || seq != 42 || size != int64(len(rec))):
			t.Fatalf("whole record: %d %d %v %v", seq, size, err, derr)
		}
	}
}
