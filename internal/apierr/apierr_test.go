package apierr

import (
	"errors"
	"fmt"
	"testing"
)

// TestFeatureSentinels: a feature's sentinel keeps its message, is itself
// (errors.Is with the feature's variable) and is of its kind, wrapped or
// not; kinds do not mix.
func TestFeatureSentinels(t *testing.T) {
	for _, tc := range []struct {
		make func(string) error
		kind error
	}{{Invalid, ErrInvalid}, {NotFound, ErrNotFound}, {Exists, ErrExists}, {Unavailable, ErrUnavailable}} {
		s := tc.make("no such alarm")
		wrapped := fmt.Errorf("%w: cpu-high", s)
		if s.Error() != "no such alarm" || wrapped.Error() != "no such alarm: cpu-high" {
			t.Errorf("messages %q, %q", s, wrapped)
		}
		if !errors.Is(wrapped, s) || !errors.Is(wrapped, tc.kind) {
			t.Errorf("%v is not both its sentinel and %v", wrapped, tc.kind)
		}
		for _, other := range []error{ErrInvalid, ErrNotFound, ErrExists, ErrUnavailable} {
			if other != tc.kind && errors.Is(wrapped, other) {
				t.Errorf("%v is also %v", wrapped, other)
			}
		}
	}
}
