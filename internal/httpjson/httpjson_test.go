package httpjson

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/flowlens/flowlens/internal/apierr"
)

// TestStatusByKind maps each kind, however deeply wrapped and whatever
// the feature's own sentinel says, to its status.
func TestStatusByKind(t *testing.T) {
	featureInvalid := apierr.Invalid("invalid alarm")
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: threshold: want a number", featureInvalid), http.StatusBadRequest},
		{fmt.Errorf("get: %w", apierr.NotFound("no such monitor")), http.StatusNotFound},
		{apierr.Exists("monitor already exists"), http.StatusConflict},
		{fmt.Errorf("evaluate: %w", apierr.Unavailable("alarm engine not started")), http.StatusServiceUnavailable},
		{apierr.ErrInvalid, http.StatusBadRequest},
		{errors.New("disk full"), http.StatusInternalServerError},
		{context.Canceled, http.StatusInternalServerError},
	} {
		if got := Status(tc.err); got != tc.want {
			t.Errorf("Status(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestAnswers pins the bytes of each answer form.
func TestAnswers(t *testing.T) {
	v := map[string]any{"op": ">=", "n": 1}
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter)
		code  int
		body  string
	}{
		{"indented, HTML unescaped", func(w http.ResponseWriter) { Write(w, http.StatusCreated, v) }, 201, "{\n  \"n\": 1,\n  \"op\": \">=\"\n}\n"},
		{"compact", func(w http.ResponseWriter) { WriteCompact(w, http.StatusOK, v) }, 200, "{\"n\":1,\"op\":\">=\"}\n"},
		{"error by kind", func(w http.ResponseWriter) {
			Error(w, fmt.Errorf("%w: name: empty", apierr.Invalid("invalid monitor")))
		},
			400, "{\n  \"error\": \"invalid monitor: name: empty\"\n}\n"},
		{"error with code", func(w http.ResponseWriter) { ErrorCode(w, http.StatusRequestEntityTooLarge, errors.New("too big")) },
			413, "{\n  \"error\": \"too big\"\n}\n"},
	} {
		rec := httptest.NewRecorder()
		tc.write(rec)
		if rec.Code != tc.code || rec.Body.String() != tc.body || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q (%s), want %d %q", tc.name, rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"), tc.code, tc.body)
		}
	}
}
