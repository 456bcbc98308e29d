// Package apierr declares, once, the conditions an API caller is told
// apart: invalid input, a missing object, one that already exists, a
// component not ready. Features declare their own sentinels on top of
// these (alarm.ErrInvalid is an ErrInvalid with the message "invalid
// alarm"), so errors.Is works with either, and the HTTP layer
// (internal/httpjson) maps them to status codes in one place.
package apierr

import "errors"

var (
	// ErrInvalid: the request or the object in it is wrong (400).
	ErrInvalid = errors.New("invalid")
	// ErrNotFound: the named object does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrExists: an object of that name exists already (409).
	ErrExists = errors.New("already exists")
	// ErrUnavailable: the component is not ready to answer (503).
	ErrUnavailable = errors.New("unavailable")
)

// Invalid returns a sentinel with message msg that is an ErrInvalid.
func Invalid(msg string) error { return &sentinel{msg, ErrInvalid} }

// NotFound returns a sentinel with message msg that is an ErrNotFound.
func NotFound(msg string) error { return &sentinel{msg, ErrNotFound} }

// Exists returns a sentinel with message msg that is an ErrExists.
func Exists(msg string) error { return &sentinel{msg, ErrExists} }

// Unavailable returns a sentinel with message msg that is an ErrUnavailable.
func Unavailable(msg string) error { return &sentinel{msg, ErrUnavailable} }

// sentinel is a feature's own error value of one kind: its message is the
// feature's, errors.Is finds the kind through Unwrap.
type sentinel struct {
	msg  string
	kind error
}

func (s *sentinel) Error() string { return s.msg }
func (s *sentinel) Unwrap() error { return s.kind }
