package world

import (
	"sync"
	"time"
)

// Clock is simulated time. The controller takes its Now as Options.Now, so a
// scenario of 40 simulated hours runs in seconds.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Epoch is where every world's clock starts unless told otherwise: a Monday
// morning, so traces read naturally.
var Epoch = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// NewClock starts a clock at t (Epoch when zero).
func NewClock(t time.Time) *Clock {
	if t.IsZero() {
		t = Epoch
	}
	return &Clock{t: t}
}

// Now is the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d without playing anything; World.Step
// advances it and plays what happens in the meantime.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
