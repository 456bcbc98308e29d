package flowlog

import (
	"errors"
	"testing"
	"time"
)

func TestCheckRetention(t *testing.T) {
	for _, d := range []int{0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653} {
		if err := CheckRetention(d); err != nil {
			t.Errorf("%d: %v", d, err)
		}
	}
	for _, d := range []int{-1, 2, 4, 10, 366, 3654, 100000} {
		if err := CheckRetention(d); !errors.Is(err, ErrRetention) {
			t.Errorf("%d accepted: %v", d, err)
		}
	}
}

func TestRetentionCutoff(t *testing.T) {
	cases := []struct {
		now  string
		days int
		want string
	}{
		{"2026-01-06T00:00:01Z", 2, "2026-01-04T00:00:00Z"},
		{"2026-01-06T23:59:59Z", 2, "2026-01-04T00:00:00Z"},
		{"2026-01-06T12:00:00Z", 1, "2026-01-05T00:00:00Z"},
		{"2026-03-01T05:00:00+09:00", 1, "2026-02-27T00:00:00Z"}, // 2026-02-28T20:00Z
	}
	for _, c := range cases {
		now, _ := time.Parse(time.RFC3339, c.now)
		if got := RetentionCutoff(now, c.days).Format(time.RFC3339); got != c.want {
			t.Errorf("%s, %d days: %s, want %s", c.now, c.days, got, c.want)
		}
	}
}
