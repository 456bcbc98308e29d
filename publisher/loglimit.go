package publisher

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logLimiter lets a repeating message through at most once per interval per
// key, and says how many were held back, so that a server down for an hour
// does not write a line per retry.
type logLimiter struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	seen map[string]*limitEntry
}

type limitEntry struct {
	last       time.Time
	suppressed int
}

func newLogLimiter(log *slog.Logger, every time.Duration) *logLimiter {
	return &logLimiter{log: log, every: every, now: time.Now, seen: map[string]*limitEntry{}}
}

// logf logs msg at level unless key was logged less than every ago.
func (l *logLimiter) logf(level slog.Level, key, msg string, args ...any) {
	l.mu.Lock()
	e := l.seen[key]
	now := l.now()
	if e != nil && now.Sub(e.last) < l.every {
		e.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := 0
	if e == nil {
		l.seen[key] = &limitEntry{last: now}
	} else {
		suppressed, e.suppressed, e.last = e.suppressed, 0, now
	}
	l.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed_since_last", suppressed)
	}
	l.log.Log(context.Background(), level, msg, args...)
}

// reset forgets key, so that the next occurrence after a recovery is logged
// at once.
func (l *logLimiter) reset(key string) {
	l.mu.Lock()
	delete(l.seen, key)
	l.mu.Unlock()
}
