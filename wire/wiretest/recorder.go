// Package wiretest gives tests a stand-in for the server's ingest endpoint.
package wiretest

import (
	"io"
	"net/http"
	"sync"

	"github.com/flowlens/flowlens/wire"
	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

// Recorder is an http.Handler that decodes every report posted to it,
// answers 200 (400 for a body that does not decode) and keeps the reports.
type Recorder struct {
	mu      sync.Mutex
	reports []*pb.Report
}

func (rec *Recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rep, err := wire.Decode(body, r.Header.Get("Content-Encoding"), 64<<20)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec.mu.Lock()
	rec.reports = append(rec.reports, rep)
	rec.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// Reports returns a copy of the reports received so far, in arrival order.
func (rec *Recorder) Reports() []*pb.Report {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]*pb.Report(nil), rec.reports...)
}
