// Package httpjson writes the JSON API's answers: values, and errors as
// {"error": "..."} with the status their kind (internal/apierr) calls for.
package httpjson

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/flowlens/flowlens/internal/apierr"
)

// Write answers code with v as indented JSON. HTML characters are not
// escaped: operators (">="), segment ids (zone-a>zone-b) stay readable.
func Write(w http.ResponseWriter, code int, v any) { write(w, code, v, "  ") }

// WriteCompact answers code with v as JSON on one line, for answers that
// can be large (query results, import summaries, measurements).
func WriteCompact(w http.ResponseWriter, code int, v any) { write(w, code, v, "") }

func write(w http.ResponseWriter, code int, v any, indent string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", indent)
	enc.SetEscapeHTML(false)
	enc.Encode(v) //nolint:errcheck // the client went away
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
}

// Status is the HTTP status of err by its kind: 400 invalid, 404 not
// found, 409 exists, 503 unavailable, 500 anything else.
func Status(err error) int {
	switch {
	case errors.Is(err, apierr.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, apierr.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, apierr.ErrExists):
		return http.StatusConflict
	case errors.Is(err, apierr.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Error answers err with the status of its kind (Status).
func Error(w http.ResponseWriter, err error) { ErrorCode(w, Status(err), err) }

// ErrorCode answers err with code, for conditions that have no kind.
func ErrorCode(w http.ResponseWriter, code int, err error) { ErrorText(w, code, err.Error()) }

// ErrorText answers code with msg as the error.
func ErrorText(w http.ResponseWriter, code int, msg string) {
	Write(w, code, ErrorBody{Error: msg})
}
