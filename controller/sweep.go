package controller

// The sweeper: what nothing else removes.

import (
	"context"
	"time"
)

// Sweep removes what nothing else will: orphan and offline registrations,
// instances whose runner never registered or got no job, unhealthy and
// finished instances, leftover JIT configs, and instances past their maximum
// runtime (alarm first).
func (c *Controller) Sweep(ctx context.Context) error {
	// Configs and registrations first: any listed now belongs to an instance
	// that the describe below already shows.
	configs, cfgErr := c.listConfigs(ctx)
	if cfgErr != nil {
		c.fail(nil, "describe-parameters", cfgErr)
	}
	regs, regErr := c.gh.Registrations(ctx)
	if regErr != nil {
		c.fail(nil, "list-runners", regErr)
	}
	byName := map[string]Registration{}
	for _, r := range regs {
		byName[r.Name] = r
	}
	views, err := c.describe(ctx, c.pools)
	if err != nil {
		c.fail(nil, "sweep", err)
		return err
	}
	known := map[string]bool{}
	for _, v := range views {
		for _, in := range v.instances {
			known[in.ID] = true
		}
	}
	for _, p := range c.pools {
		v := views[p]
		if v == nil {
			continue
		}
		p.mu.Lock()
		for _, in := range v.instances {
			if in.Lifecycle == stateInService {
				c.sweepInstance(ctx, p, in, byName, regErr == nil)
			}
		}
		p.mu.Unlock()
	}
	if regErr == nil {
		for _, r := range regs {
			if looksLikeInstanceID(r.Name) && !known[r.Name] && !r.Online {
				if err := c.gh.RemoveRunner(ctx, r.ID); err != nil {
					c.fail(nil, "remove-runner", err, "runner_name", r.Name)
					continue
				}
				c.log.Info("orphan registration removed", "runner_name", r.Name, "runner_id", r.ID)
			}
		}
	}
	if cfgErr == nil {
		c.sweepConfigs(ctx, configs, known)
	}
	c.mu.Lock()
	for name, j := range c.jobs {
		if !known[name] && c.now().Sub(j.seen) > time.Hour {
			delete(c.jobs, name)
		}
	}
	c.mu.Unlock()
	return nil
}

func (c *Controller) sweepInstance(ctx context.Context, p *pool, in *instance, regs map[string]Registration, regsKnown bool) {
	now := c.now()
	age := now.Sub(in.Launch)
	f := c.facts(in)
	// The max-runtime watchdog limits a job, so it counts from the job's start,
	// not from the launch: a runner that waited idle before its job must not
	// lose that time from the job. An instance without a job is the no-job
	// timeout's business, never this rule's.
	if f.started && now.Sub(c.jobStart(ctx, p, in, f)) >= time.Duration(p.cfg.MaxRuntimeHours)*time.Hour {
		c.maxRuntime(ctx, p, in)
		return
	}
	if f.busy() {
		if _, listed := regs[in.ID]; regsKnown && !listed {
			// Confirm with a lookup by name before concluding the job is over.
			if r, err := c.gh.FindRunner(ctx, in.ID); err == nil && r == nil {
				c.markCompleted(in.ID, "")
				c.log.Info("registration gone: job over", "pool", p.cfg.Name, "instance_id", in.ID)
			}
		}
		return
	}
	switch {
	case !in.Healthy:
		c.remove(ctx, p, in, "unhealthy", false)
	case f.completed:
		if now.Sub(f.completedAt) >= DoneGrace {
			c.remove(ctx, p, in, "job completed but the instance is still running", false)
		}
	case f.started:
		// Started and completed are both needed to get here; unreachable.
	case age >= time.Duration(p.cfg.BootGraceMinutes)*time.Minute && regsKnown && !regs[in.ID].Online:
		c.remove(ctx, p, in, "runner never registered within the boot grace", false)
	case age >= time.Duration(p.cfg.NoJobTimeoutMinutes)*time.Minute:
		c.remove(ctx, p, in, "no job within the no-job timeout", false)
	}
}
