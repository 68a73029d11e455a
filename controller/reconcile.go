package controller

// The periodic pass over every pool.

import (
	"context"
	"errors"
	"fmt"
)

// Reconcile describes every group and acts on what it finds: instances
// waiting in a lifecycle hook, the desired capacity, the spot fallback. The
// event queue and the listener only make it happen sooner.
func (c *Controller) Reconcile(ctx context.Context) error {
	var errs []error
	for _, p := range c.pools {
		p.mu.Lock()
		errs = append(errs, c.reconcileLocked(ctx, p, false))
		p.mu.Unlock()
	}
	return errors.Join(errs...)
}

// reconcileLocked reconciles one pool; warm asks for its warm pool to be
// described even if the group describe did not show one (an event said so).
// Each pool is described on its own, so a failure in one group stops nothing
// in the others, and the terminate hooks are heartbeated right after the
// group describe, before anything else that can fail. Must be called with
// p.mu held.
func (c *Controller) reconcileLocked(ctx context.Context, p *pool, warm bool) error {
	if p.scaleSetID == 0 {
		_ = c.ensureScaleSet(ctx, p)
	}
	views, err := c.describeGroups(ctx, []*pool{p})
	if err != nil {
		c.fail(p, "reconcile", err)
		return err
	}
	v := views[p]
	if v == nil {
		c.fail(p, "reconcile", fmt.Errorf("group %s not found", p.cfg.AutoScalingGroupName))
		return nil
	}
	c.holdTerminating(ctx, p, v)
	byID := map[string]*instance{}
	for _, in := range v.instances {
		byID[in.ID] = in
	}
	if err := c.describeInstances(ctx, byID); err != nil {
		c.fail(p, "reconcile", err)
		return err
	}
	c.reconcileWarm(ctx, p, v, warm)
	c.reconcilePool(ctx, p, v)
	return nil
}

// reconcilePool must be called with p.mu held.
func (c *Controller) reconcilePool(ctx context.Context, p *pool, v *groupView) {
	for _, in := range v.instances {
		switch in.Lifecycle {
		case statePendingWait:
			c.provision(ctx, p, v, in)
		case stateTerminatingWait:
			c.release(ctx, p, in)
		}
	}
	c.scale(ctx, p, v)
	c.spotCheck(ctx, p, v)
	busy, idle := 0, 0
	for _, in := range v.instances {
		if !live(in) {
			continue
		}
		if c.facts(in).busy() {
			busy++
		} else {
			idle++
		}
	}
	c.metrics.Put(p.cfg.Name, count(MetricAssignedJobs, p.assigned), count(MetricBusyRunners, busy), count(MetricIdleRunners, idle), count(MetricDesiredCapacity, v.desired))
}
