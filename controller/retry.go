package controller

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff retries a call while classify says it is worth it, sleeping a jittered
// exponential delay that is bounded per attempt and in count. A Retry-After from
// GitHub replaces the computed delay but is still capped by MaxRetryAfter, so a
// misbehaving server cannot stall the controller for an hour.
type Backoff struct {
	Attempts      int           // total calls, including the first; default 4
	Base          time.Duration // first delay; default 250ms
	Max           time.Duration // cap of a computed delay; default 8s
	MaxRetryAfter time.Duration // cap of a server-requested delay; default 60s
	// Sleep waits d or until ctx ends; tests replace it to run without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnRetry, when set, observes each retry (for logs and metrics).
	OnRetry func(op string, attempt int, delay time.Duration, err error)
}

func (b Backoff) withDefaults() Backoff {
	if b.Attempts <= 0 {
		b.Attempts = 4
	}
	if b.Base <= 0 {
		b.Base = 250 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 8 * time.Second
	}
	if b.MaxRetryAfter <= 0 {
		b.MaxRetryAfter = 60 * time.Second
	}
	if b.Sleep == nil {
		b.Sleep = sleepCtx
	}
	return b
}

// Delay is the wait before retry number attempt (1-based): full jitter over an
// exponentially growing window, so many retrying callers spread out.
func (b Backoff) Delay(attempt int, retryAfter time.Duration) time.Duration {
	b = b.withDefaults()
	if retryAfter > 0 {
		return min(retryAfter, b.MaxRetryAfter)
	}
	window := b.Base << min(attempt-1, 20)
	if window > b.Max || window <= 0 {
		window = b.Max
	}
	return window/2 + rand.N(window/2+1)
}

// Do calls fn until it succeeds, fails in a way that retrying cannot fix, or the
// attempts are spent. It returns fn's last error.
func (b Backoff) Do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	b = b.withDefaults()
	var err error
	for attempt := 1; ; attempt++ {
		if err = fn(ctx); err == nil {
			return nil
		}
		c, after := classify(err)
		if c != classRetry || attempt >= b.Attempts {
			return err
		}
		d := b.Delay(attempt, after)
		if b.OnRetry != nil {
			b.OnRetry(op, attempt, d, err)
		}
		if serr := b.Sleep(ctx, d); serr != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
