package controller

// The main loop: listeners, queue poller, reconcile and sweep timers.

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/actions/scaleset/listener"
)

// Run ensures the scale sets, then runs one listener per pool, the event
// queue poller, the periodic reconcile and the sweeper until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if err := c.EnsureScaleSets(ctx); err != nil {
		c.log.Error("some scale sets are not ready; retrying on each reconcile", "error", err.Error())
	}
	var wg sync.WaitGroup
	for _, p := range c.pools {
		wg.Go(func() { c.listen(ctx, p) })
	}
	wg.Go(func() { c.pollQueue(ctx) })
	wg.Go(func() { c.every(ctx, seconds0(c.s.ReconcileSeconds, DefaultReconcileInterval), c.Reconcile) })
	wg.Go(func() { c.every(ctx, seconds0(c.s.SweepSeconds, DefaultSweepInterval), c.Sweep) })
	wg.Wait()
	return ctx.Err()
}

func seconds0(n int, def time.Duration) time.Duration {
	if n > 0 {
		return time.Duration(n) * time.Second
	}
	return def
}

func (c *Controller) every(ctx context.Context, d time.Duration, fn func(context.Context) error) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		_ = fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SessionConflictBackoff is the shortest wait before opening a session again
// after GitHub answered 409 (another listener holds the scale set's session,
// or the session of a crashed controller has not expired yet); up to as much
// again is added as jitter.
const SessionConflictBackoff = 30 * time.Second

// listen keeps one listener running for the pool, reopening the session
// after any failure with jittered backoff. A session conflict (409) is not an
// error of this controller: it waits at least SessionConflictBackoff, emits
// SessionConflicts each time and logs at most once a minute.
func (c *Controller) listen(ctx context.Context, p *pool) {
	scaler := &PoolScaler{c: c, p: p}
	pause := c.retry.withDefaults().Sleep
	attempt := 0
	var lastConflictLog time.Time
	for ctx.Err() == nil {
		p.mu.Lock()
		id := p.scaleSetID
		p.mu.Unlock()
		if id == 0 {
			_ = pause(ctx, 5*time.Second)
			continue
		}
		began := c.now()
		err := c.listenOnce(ctx, p, id, scaler)
		if ctx.Err() != nil {
			return
		}
		if githubStatus(err) == http.StatusConflict {
			c.metrics.Put(p.cfg.Name, count(MetricSessionConflicts, 1))
			if now := c.now(); now.Sub(lastConflictLog) >= time.Minute {
				lastConflictLog = now
				c.log.Warn("scale set session held by another listener (409): waiting for it to close or expire", "pool", p.cfg.Name, "scale_set_id", id, "error", err.Error())
			}
			_ = pause(ctx, SessionConflictBackoff+rand.N(SessionConflictBackoff))
			continue
		}
		if c.now().Sub(began) > time.Minute {
			attempt = 0
		}
		attempt++
		c.fail(p, "listener", err)
		_ = pause(ctx, c.retry.Delay(attempt, 0))
	}
}

func (c *Controller) listenOnce(ctx context.Context, p *pool, id int, scaler listener.Scaler) error {
	sess, err := c.gh.OpenSession(ctx, id)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = sess.Close(cctx)
	}()
	l, err := listener.New(sess, listener.Config{ScaleSetID: id, MaxRunners: p.cfg.Max, Logger: c.log.With("pool", p.cfg.Name, "component", "listener")})
	if err != nil {
		return err
	}
	c.log.Info("listening", "pool", p.cfg.Name, "scale_set_id", id)
	return l.Run(ctx, scaler)
}
