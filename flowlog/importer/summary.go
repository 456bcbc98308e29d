package importer

import "time"

// Summary adds up the files of one import.
type Summary struct {
	Group            string        `json:"group"`
	Files            []FileSummary `json:"files"`
	Records          int64         `json:"records"`
	BadLines         int64         `json:"bad_lines"`
	Bytes            int64         `json:"bytes"`
	Duplicates       int           `json:"duplicates"`
	FailedFiles      int           `json:"failed_files"`
	DurationMs       float64       `json:"duration_ms"`
	RecordsPerSecond float64       `json:"records_per_second"`
}

// Add counts one file's outcome.
func (s *Summary) Add(f FileSummary) {
	s.Files = append(s.Files, f)
	s.Records += f.Records
	s.BadLines += f.BadLines
	s.Bytes += f.Bytes
	if f.Duplicate {
		s.Duplicates++
	}
	if f.Error != "" {
		s.FailedFiles++
	}
}

// Finish sets the duration and rate.
func (s *Summary) Finish(d time.Duration) {
	s.DurationMs = float64(d.Microseconds()) / 1000
	if d > 0 {
		s.RecordsPerSecond = float64(s.Records) / d.Seconds()
	}
}
