package sim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/flowlens/flowlens/publisher"
)

// SteppedClock is simulated time for runs faster than the wall clock: the
// simulator advances it by one interval once every report of that interval
// is acknowledged (so the server has stored it). A server evaluator given
// the same clock sees each interval complete before time moves past it,
// which makes a 30-minute scenario run in seconds and deterministically.
type SteppedClock struct {
	mu  sync.Mutex
	now time.Time
	// AfterStep, if set, runs after each advance (tests evaluate there).
	AfterStep func(now time.Time)
}

// NewSteppedClock starts simulated time at start.
func NewSteppedClock(start time.Time) *SteppedClock { return &SteppedClock{now: start} }

// Now is the current simulated time.
func (c *SteppedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *SteppedClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// driveStepped sends interval after interval on simulated time until
// Duration of simulated time has passed (Duration is required).
func driveStepped(ctx context.Context, cfg Config, fleet *fleet, pubs []*publisher.Publisher, sent *counter, progress func() Summary) error {
	if cfg.Duration <= 0 {
		return errors.New("a stepped run needs a duration")
	}
	clock := cfg.Stepped
	start := clock.Now()
	last := start
	for elapsed := cfg.Interval; elapsed <= cfg.Duration; elapsed += cfg.Interval {
		if ctx.Err() != nil {
			return nil
		}
		now := start.Add(elapsed)
		if err := fleet.emit(last, now, elapsed, pubs, sent); err != nil {
			return err
		}
		for _, p := range pubs {
			if err := p.Flush(ctx); err != nil {
				return fmt.Errorf("interval ending %s not acknowledged: %w", now.Format(time.RFC3339), err)
			}
		}
		clock.set(now)
		if clock.AfterStep != nil {
			clock.AfterStep(now)
		}
		last = now
		if cfg.Progress != nil {
			cfg.Progress(progress())
		}
	}
	return nil
}
