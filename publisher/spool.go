package publisher

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Drop reasons, used as the "reason" label of the dropped counter.
const (
	dropSpoolFull    = "spool_full"    // oldest segment evicted to respect SpoolMaxBytes
	dropSpoolCorrupt = "spool_corrupt" // records after a bad record in a segment
	dropTooBig       = "too_big"       // a single report larger than the whole spool
	dropSpoolError   = "spool_error"   // the disk refused a write and memory was full

	// Reasons of reports_failed_total.
	failRejected = "rejected"  // the server refused the report as malformed (400)
	failTooLarge = "too_large" // too large even as a single flow (413)
)

// errTooLargeForSpool is returned by append for a record that alone exceeds
// SpoolMaxBytes: keeping it would mean evicting everything else.
var errTooLargeForSpool = errors.New("report larger than the spool")

const (
	segmentSuffix = ".seg"
	cursorFile    = "cursor"
	cursorSize    = 4 + 8 + 8
	// maxSegmentBytes caps segment files so that eviction, which works on
	// whole segments, never throws away more than this at once.
	maxSegmentBytes = 64 << 20
)

// segment is one spool file. Records are only ever appended, by this process
// to the segment it created; segments from earlier runs are read-only, so a
// torn tail left by a crash is never followed by new records.
type segment struct {
	id      uint64
	path    string
	size    int64 // bytes of valid records
	records int   // valid records
	r       *os.File
}

// spoolRecord is the record at the head of the spool.
type spoolRecord struct {
	seq     uint64
	payload []byte
	size    int64
}

// spool is the bounded on-disk FIFO of marshalled reports. It is not safe
// for concurrent use: the publisher calls it with its mutex held.
//
// The head position (segment id, offset) is kept in a cursor file written
// after each acknowledgement without fsync: losing it only replays records
// the server already has, which it answers 200 for and ignores.
type spool struct {
	dir      string
	maxBytes int64
	segMax   int64
	log      *slog.Logger
	limit    *logLimiter
	drop     func(n int, reason string)

	segs     []*segment // oldest first
	w        *os.File   // appends to the last segment; nil until this run writes
	headOff  int64      // offset of the head record in segs[0]
	headRecs int        // records before headOff in segs[0]
	head     *spoolRecord
	nextID   uint64
	maxSeq   uint64 // highest sequence seen, to recover numbering
}

// openSpool loads the segments under dir, validating every record, and
// positions the head at the saved cursor. Bad records end their segment:
// they are logged and counted through drop, never fatal.
func openSpool(dir string, maxBytes int64, log *slog.Logger, limit *logLimiter, drop func(int, string)) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool dir: %w", err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, segMax: segmentBytes(maxBytes), log: log, limit: limit, drop: drop, nextID: 1}
	ids, err := s.segmentIDs()
	if err != nil {
		return nil, err
	}
	curID, curOff, hasCursor := s.readCursor()
	if hasCursor {
		// Never reuse an id below the cursor: a restart would take that
		// segment for an acknowledged one and delete it.
		s.nextID = max(s.nextID, curID)
	}
	for _, id := range ids {
		s.nextID = max(s.nextID, id+1)
		if err := s.load(id, hasCursor, curID, curOff); err != nil {
			return nil, err
		}
	}
	s.enforceBound()
	return s, nil
}

// segmentBytes picks the segment size: an eighth of the spool, so that
// eviction drops about 12% of it at a time.
func segmentBytes(maxBytes int64) int64 {
	return min(max(maxBytes/8, 1), maxSegmentBytes)
}

// segmentIDs lists the segment files in id order.
func (s *spool) segmentIDs() ([]uint64, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list spool dir: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok || e.IsDir() {
			continue
		}
		id, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			s.log.Warn("ignoring unexpected file in spool dir", "file", filepath.Join(s.dir, e.Name()))
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

func (s *spool) segmentPath(id uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", id, segmentSuffix))
}

// load scans one segment and adds it, unless the cursor says it was fully
// acknowledged or it holds no valid record.
func (s *spool) load(id uint64, hasCursor bool, curID uint64, curOff int64) error {
	path := s.segmentPath(id)
	if hasCursor && id < curID {
		s.remove(path)
		return nil
	}
	off := int64(0)
	if hasCursor && id == curID {
		off = curOff
	}
	sc, err := scanSegment(path, off)
	if err != nil {
		return err
	}
	if sc.bad != nil {
		s.log.Warn("spool segment has a bad record; ignoring the rest of it (torn write from a crash?)",
			"file", path, "offset", sc.size, "error", sc.bad)
	}
	if sc.records == 0 || (len(s.segs) == 0 && sc.headRecs == sc.records) {
		s.remove(path)
		return nil
	}
	s.maxSeq = max(s.maxSeq, sc.maxSeq)
	if len(s.segs) == 0 {
		s.headOff, s.headRecs = sc.headOff, sc.headRecs
	}
	s.segs = append(s.segs, &segment{id: id, path: path, size: sc.size, records: sc.records})
	return nil
}

// scanResult describes a segment's valid prefix.
type scanResult struct {
	size     int64
	records  int
	maxSeq   uint64
	headOff  int64 // last record boundary at or before the cursor offset
	headRecs int   // records before headOff
	bad      error // why the scan stopped before the end of the file
}

// scanSegment reads a segment from the start, checking every record, and
// stops at the first one that is torn or corrupt.
func scanSegment(path string, cursorOff int64) (scanResult, error) {
	var res scanResult
	f, err := os.Open(path)
	if err != nil {
		return res, fmt.Errorf("open spool segment: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	var buf []byte
	for {
		seq, size, err := readRecord(br, &buf)
		if err == io.EOF {
			return res, nil
		}
		if errors.Is(err, errShortRecord) || errors.Is(err, errCorruptRecord) {
			res.bad = err
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("read spool segment %s: %w", path, err)
		}
		res.size += size
		res.records++
		res.maxSeq = max(res.maxSeq, seq)
		if res.size <= cursorOff {
			res.headOff, res.headRecs = res.size, res.records
		}
	}
}

// readRecord reads and checks the next record from r into *buf. It returns
// io.EOF at a clean end and errShortRecord at a torn one.
func readRecord(r io.Reader, buf *[]byte) (seq uint64, size int64, err error) {
	var hdr [recordHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return 0, 0, errShortRecord
		}
		return 0, 0, err
	}
	sum, n, seq, err := parseRecordHeader(hdr[:])
	if err != nil {
		return 0, 0, err
	}
	*buf = append((*buf)[:0], hdr[:]...)
	*buf = slices.Grow(*buf, n)[:recordHeaderSize+n]
	if _, err := io.ReadFull(r, (*buf)[recordHeaderSize:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return 0, 0, errShortRecord
		}
		return 0, 0, err
	}
	if err := checkRecord(sum, *buf); err != nil {
		return 0, 0, err
	}
	return seq, recordSize(n), nil
}

// len is the number of records not yet acknowledged.
func (s *spool) len() int {
	n := -s.headRecs
	for _, seg := range s.segs {
		n += seg.records
	}
	return n
}

// bytes is the disk space the segments take, acknowledged head included:
// it is what SpoolMaxBytes bounds.
func (s *spool) bytes() int64 {
	var n int64
	for _, seg := range s.segs {
		n += seg.size
	}
	return n
}

// pendingBytes is the size of the records not yet acknowledged.
func (s *spool) pendingBytes() int64 {
	return s.bytes() - s.headOff
}

// writing reports whether seg is the segment this process appends to.
func (s *spool) writing(seg *segment) bool {
	return s.w != nil && seg == s.segs[len(s.segs)-1]
}

// peek returns the oldest unacknowledged record. A record that fails its
// check at this point (the disk changed under us) ends its segment, like at
// startup.
func (s *spool) peek() (spoolRecord, bool) {
	for {
		if s.head != nil {
			return *s.head, true
		}
		if len(s.segs) == 0 {
			return spoolRecord{}, false
		}
		seg := s.segs[0]
		if s.headOff >= seg.size {
			s.removeHead() // fully acknowledged; a later append starts a new segment
			continue
		}
		rec, err := s.readAt(seg, s.headOff)
		if err != nil {
			s.truncateHead(seg, err)
			continue
		}
		s.head = &rec
	}
}

// truncateHead gives up on the rest of the head segment after a read error.
func (s *spool) truncateHead(seg *segment, err error) {
	lost := seg.records - s.headRecs
	s.log.Error("spool record unreadable; dropping the rest of its segment",
		"file", seg.path, "offset", s.headOff, "dropped", lost, "error", err)
	seg.size, seg.records = s.headOff, s.headRecs
	if s.writing(seg) {
		s.closeWriter(false) // never append after a bad record
	}
	s.drop(lost, dropSpoolCorrupt)
}

// readAt reads and checks the record at off in seg.
func (s *spool) readAt(seg *segment, off int64) (spoolRecord, error) {
	if seg.r == nil {
		f, err := os.Open(seg.path)
		if err != nil {
			return spoolRecord{}, fmt.Errorf("open spool segment: %w", err)
		}
		seg.r = f
	}
	var buf []byte
	seq, size, err := readRecord(io.NewSectionReader(seg.r, off, seg.size-off), &buf)
	if err == io.EOF {
		err = errShortRecord
	}
	if err != nil {
		return spoolRecord{}, err
	}
	return spoolRecord{seq: seq, payload: buf[recordHeaderSize:], size: size}, nil
}

// advance acknowledges the head record returned by peek.
func (s *spool) advance() {
	if s.head == nil {
		return
	}
	s.headOff += s.head.size
	s.headRecs++
	s.head = nil
	if s.headOff >= s.segs[0].size {
		s.removeHead() // even the one being written: free the disk now
	}
	if err := s.saveCursor(false); err != nil {
		s.log.Warn("saving spool cursor failed; acknowledged reports may be resent after a restart", "error", err)
	}
}

// removeHead deletes the oldest segment.
func (s *spool) removeHead() {
	seg := s.segs[0]
	if seg.r != nil {
		seg.r.Close()
	}
	if s.writing(seg) {
		s.closeWriter(false)
	}
	s.remove(seg.path)
	s.segs = s.segs[1:]
	s.headOff, s.headRecs, s.head = 0, 0, nil
}

func (s *spool) remove(path string) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("removing spool segment failed", "file", path, "error", err)
	}
}

// append adds a record at the tail, then evicts the oldest segments while
// the spool is over its bound.
func (s *spool) append(seq uint64, payload []byte) error {
	size := recordSize(len(payload))
	if size > s.maxBytes {
		return fmt.Errorf("%w: %d bytes, SpoolMaxBytes %d", errTooLargeForSpool, size, s.maxBytes)
	}
	if s.w == nil || s.segs[len(s.segs)-1].size+size > s.segMax {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	tail := s.segs[len(s.segs)-1]
	if _, err := s.w.Write(appendRecord(nil, seq, payload)); err != nil {
		s.closeWriter(false) // the tail may now end in a torn record
		return fmt.Errorf("write spool segment %s: %w", tail.path, err)
	}
	tail.size += size
	tail.records++
	s.maxSeq = max(s.maxSeq, seq)
	s.enforceBound()
	return nil
}

// rotate closes the current segment (fsyncing it: a finished segment is
// worth making durable) and starts a new one.
func (s *spool) rotate() error {
	if s.w != nil {
		if tail := s.segs[len(s.segs)-1]; tail.size == 0 {
			return nil // an empty segment takes any record
		}
		s.closeWriter(true)
	}
	id := s.nextID
	path := s.segmentPath(id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("create spool segment: %w", err)
	}
	s.nextID++
	s.w = f
	s.segs = append(s.segs, &segment{id: id, path: path})
	return nil
}

// closeWriter stops appending to the current segment.
func (s *spool) closeWriter(sync bool) error {
	if s.w == nil {
		return nil
	}
	var err error
	if sync {
		err = s.w.Sync()
	}
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	s.w = nil
	if err != nil {
		return fmt.Errorf("close spool segment: %w", err)
	}
	return nil
}

// enforceBound evicts whole segments, oldest first, while the spool is over
// SpoolMaxBytes. The segment being written is kept: it is never larger than
// the bound on its own.
func (s *spool) enforceBound() {
	for s.bytes() > s.maxBytes && len(s.segs) > 1 {
		seg := s.segs[0]
		lost := seg.records - s.headRecs
		s.removeHead()
		if lost > 0 {
			s.limit.logf(slog.LevelWarn, "spool-full", "spool full; dropped the oldest reports", "dropped", lost, "max_bytes", s.maxBytes)
			s.drop(lost, dropSpoolFull)
		}
	}
}

// saveCursor records the head position. Segments below the cursor's are
// fully acknowledged.
func (s *spool) saveCursor(durable bool) error {
	id, off := s.nextID, int64(0)
	if len(s.segs) > 0 {
		id, off = s.segs[0].id, s.headOff
	}
	b := make([]byte, cursorSize)
	binary.LittleEndian.PutUint64(b[4:], id)
	binary.LittleEndian.PutUint64(b[12:], uint64(off))
	binary.LittleEndian.PutUint32(b, crc32.Checksum(b[4:], castagnoli()))
	return writeFile(filepath.Join(s.dir, cursorFile), b, durable)
}

// readCursor loads the head position; a missing or damaged cursor means
// "start at the oldest segment", which at worst resends acknowledged reports.
func (s *spool) readCursor() (id uint64, off int64, ok bool) {
	path := filepath.Join(s.dir, cursorFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, false
	}
	if err != nil || len(b) != cursorSize || crc32.Checksum(b[4:], castagnoli()) != binary.LittleEndian.Uint32(b) {
		s.log.Warn("spool cursor unreadable; resending from the oldest spooled report", "file", path, "error", err)
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(b[4:]), int64(binary.LittleEndian.Uint64(b[12:])), true
}

// close makes the spool durable: the segment being written and the cursor
// are fsynced.
func (s *spool) close() error {
	err := s.closeWriter(true)
	for _, seg := range s.segs {
		if seg.r != nil {
			seg.r.Close()
			seg.r = nil
		}
	}
	if cerr := s.saveCursor(true); err == nil && cerr != nil {
		err = fmt.Errorf("save spool cursor: %w", cerr)
	}
	return err
}
