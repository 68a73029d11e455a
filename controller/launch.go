package controller

// Launch hooks: JIT configs for new instances, and warm pool entries.

import (
	"context"
	"fmt"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

// reconcileWarm completes the hooks of the warm pool's instances. Auto Scaling
// stops an instance entering the pool as soon as its launch hook is continued,
// whatever its boot script is doing, so the hook is continued (CONTINUE,
// without a JIT config) only once the instance has tagged itself
// settings.TagWarmReady after installing everything. Until then the hook is
// kept alive with heartbeats (its heartbeat timeout is the pool's boot grace),
// and an instance still not ready warmReadyLimit after its launch is abandoned
// (Auto Scaling terminates it and the pool launches another). Every decision
// is taken from AWS state (the tag, the EC2 launch time), so a restarted
// controller picks up where the last one stopped. It is provisioned like any
// new instance when it leaves the pool for the group. A warm instance being
// terminated never ran a job and is released. Must be called with p.mu held.
func (c *Controller) reconcileWarm(ctx context.Context, p *pool, v *groupView, force bool) {
	listed := true // v.warm holds the whole warm pool
	if v.warmPool || force {
		if err := c.describeWarm(ctx, v); err != nil {
			c.fail(p, "describe-warm-pool", err)
			listed = false
		}
	} else {
		listed = len(v.warm) == 0
	}
	waiting := map[string]*instance{}
	for _, in := range v.warm {
		if in.Lifecycle == stateWarmedPendingWait {
			waiting[in.ID] = in
		}
	}
	if len(waiting) > 0 {
		if err := c.describeInstances(ctx, waiting); err != nil {
			// Without tags nothing is continued or abandoned this round; the
			// hooks still get their heartbeats (Launch stays zero).
			c.fail(p, "describe-warm-instances", err)
		}
	}
	for _, in := range v.warm {
		switch in.Lifecycle {
		case stateWarmedPendingWait:
			c.warmEntry(ctx, p, v, in)
		case stateWarmedTerminatingWait:
			if p.cfg.TerminateHookName != "" {
				c.release(ctx, p, in)
			}
		}
	}
	if listed {
		for id := range p.warmBeat {
			if waiting[id] == nil {
				delete(p.warmBeat, id)
			}
		}
	}
}

// warmEntry decides on one instance waiting in the launch hook on its way into
// the warm pool: continue it once it is ready, abandon it past the limit,
// otherwise keep its hook alive. Must be called with p.mu held.
func (c *Controller) warmEntry(ctx context.Context, p *pool, v *groupView, in *instance) {
	now := c.now()
	if ready, ok := in.Tags[settings.TagWarmReady]; ok {
		if c.completeLaunch(ctx, p, v, in, "CONTINUE") {
			in.Lifecycle = "Warmed:Pending:Proceed"
			delete(p.warmBeat, in.ID)
			c.log.Info("warm pool instance ready: continued without a runner config", "pool", p.cfg.Name, "instance_id", in.ID, "warm_ready", ready)
		}
		return
	}
	limit := warmReadyLimit(p.cfg)
	if !in.Launch.IsZero() && now.Sub(in.Launch) >= limit {
		c.fail(p, "warm-ready", fmt.Errorf("instance %s did not tag itself %s within %s of its launch", in.ID, settings.TagWarmReady, limit),
			"instance_id", in.ID, "launched", in.Launch.UTC().Format(time.RFC3339), "action", "abandon")
		if c.completeLaunch(ctx, p, v, in, "ABANDON") {
			in.Lifecycle = "Warmed:Terminating"
			delete(p.warmBeat, in.ID)
		}
		return
	}
	last := p.warmBeat[in.ID]
	if in.Launch.After(last) {
		last = in.Launch // after a restart: the hook's clock started at the launch
	}
	if now.Sub(last) < warmHeartbeatEvery(p.cfg) {
		return
	}
	if c.heartbeat(ctx, p, in, p.cfg.LaunchHookName) {
		p.warmBeat[in.ID] = now
		c.log.Info("warm pool instance still preparing: launch hook kept alive", "pool", p.cfg.Name, "instance_id", in.ID)
	}
}

// warmReadyLimit is how long after its launch an instance entering the warm
// pool may take to tag itself ready: twice the boot grace, at least
// MinWarmReadyLimit (installing runs longer than a runner's own start).
func warmReadyLimit(p settings.Pool) time.Duration {
	return max(2*time.Duration(p.BootGraceMinutes)*time.Minute, MinWarmReadyLimit)
}

// warmHeartbeatEvery is the gap between heartbeats on a preparing instance's
// launch hook: WarmHeartbeatEvery, or a third of the hook's heartbeat timeout
// (the boot grace) when that is shorter, so a late reconcile or a failed
// heartbeat still leaves time for another before the hook expires.
func warmHeartbeatEvery(p settings.Pool) time.Duration {
	return min(WarmHeartbeatEvery, time.Duration(p.BootGraceMinutes)*time.Minute/3)
}

// provision gives an instance waiting in the launch hook its JIT runner config.
func (c *Controller) provision(ctx context.Context, p *pool, v *groupView, in *instance) {
	log := c.log.With("pool", p.cfg.Name, "instance_id", in.ID, "runner_name", in.ID)
	if p.scaleSetID == 0 {
		return
	}
	liveN := 0
	for _, o := range v.instances {
		if live(o) {
			liveN++
		}
	}
	if liveN > p.cfg.Max {
		log.Error("pool over its maximum: abandoning the launch", "live", liveN, "max", p.cfg.Max)
		c.completeLaunch(ctx, p, v, in, "ABANDON")
		return
	}
	config, already, err := c.gh.JIT(ctx, p.scaleSetID, in.ID)
	if err != nil {
		if cl, _ := classify(err); cl == classFatal {
			// 422 (bad request, for example labels or name refused), 404 (scale
			// set gone), or anything else GitHub will keep refusing: fail closed.
			c.fail(p, "generate-jit-config", err, "instance_id", in.ID, "action", "abandon")
			if githubStatus(err) == 404 {
				p.scaleSetID = 0 // re-ensured on the next reconcile
			}
			c.completeLaunch(ctx, p, v, in, "ABANDON")
			return
		}
		c.fail(p, "generate-jit-config", err, "instance_id", in.ID, "action", "retry later")
		return
	}
	if already {
		log.Info("runner already provisioned (409): continuing the launch")
	} else if err := c.putConfig(ctx, p, v, in.ID, config); err != nil {
		c.fail(p, "put-jit-parameter", err, "instance_id", in.ID)
		// Free the name so the next attempt can mint a fresh config.
		if r, ferr := c.gh.FindRunner(ctx, in.ID); ferr == nil && r != nil {
			_ = c.gh.RemoveRunner(ctx, int64(r.ID))
		}
		return
	}
	if c.completeLaunch(ctx, p, v, in, "CONTINUE") {
		c.metrics.Put(p.cfg.Name, count(MetricRunnersProvisioned, 1))
		log.Info("runner provisioned")
	}
}

func (c *Controller) completeLaunch(ctx context.Context, p *pool, v *groupView, in *instance, result string) bool {
	err := c.aws(ctx, "complete-lifecycle-action", func(ctx context.Context) error {
		_, err := c.asg.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
			AutoScalingGroupName: aws.String(v.name), LifecycleHookName: aws.String(p.cfg.LaunchHookName),
			InstanceId: aws.String(in.ID), LifecycleActionResult: aws.String(result),
		})
		return err
	})
	if err != nil && !lifecycleActionGone(err) {
		c.fail(p, "complete-lifecycle-action", err, "instance_id", in.ID, "result", result)
		return false
	}
	in.Lifecycle = "Pending:Proceed"
	return true
}
