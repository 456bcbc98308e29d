package publisher

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{" 0 ", 0, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{"99999999", maxRetryAfter, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFullJitterBounds(t *testing.T) {
	minD, maxD := 100*time.Millisecond, 3*time.Second
	for n := range 100 {
		ceiling := min(minD<<min(n, 10), maxD)
		for range 20 {
			if d := fullJitter(minD, maxD, n); d < 0 || d > ceiling {
				t.Fatalf("attempt %d: %v outside [0, %v]", n, d, ceiling)
			}
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		code int
		out  outcome
		auth bool
	}{
		{200, outAcked, false},
		{204, outAcked, false},
		{400, outRejected, false},
		{401, outRetry, true},
		{403, outRetry, true},
		{404, outRetry, false},
		{413, outTooLarge, false},
		{429, outRetry, false},
		{500, outRetry, false},
		{503, outRetry, false},
	} {
		resp := &http.Response{StatusCode: tc.code, Status: http.StatusText(tc.code), Header: http.Header{}, Body: http.NoBody}
		if a := classify(resp, time.Now()); a.out != tc.out || a.auth != tc.auth {
			t.Errorf("status %d: %+v, want outcome %d auth %v", tc.code, a, tc.out, tc.auth)
		}
	}
}

func TestClassifyReadsDuplicate(t *testing.T) {
	for _, tc := range []struct {
		body string
		dup  bool
	}{
		{`{"status":"stored","flows":3,"duplicate":true}`, true},
		{`{"status":"stored","flows":3}`, false},
		{``, false},
		{`not json`, false},
	} {
		resp := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tc.body))}
		if a := classify(resp, time.Now()); a.out != outAcked || a.duplicate != tc.dup {
			t.Errorf("answer %q: %+v, want acked with duplicate %v", tc.body, a, tc.dup)
		}
	}
}
