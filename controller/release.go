package controller

// Terminate hooks and removal: the only code that lets an instance go.

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

// holdTerminating heartbeats the terminate hook of every instance waiting in
// it, unless the controller holds GitHub's word that its job is over: whether
// a job runs is decided later, by calls that can fail, and a hook that times
// out kills whatever runs. Must be called with p.mu held.
func (c *Controller) holdTerminating(ctx context.Context, p *pool, v *groupView) {
	if p.cfg.TerminateHookName == "" {
		return
	}
	for _, in := range v.instances {
		if in.Lifecycle == stateTerminatingWait && !c.knownIdle(in.ID) {
			c.heartbeat(ctx, p, in, p.cfg.TerminateHookName)
		}
	}
}

func (c *Controller) release(ctx context.Context, p *pool, in *instance) {
	log := c.log.With("pool", p.cfg.Name, "instance_id", in.ID, "runner_name", in.ID)
	force := c.maxRuntimeDue(p, in)
	r, err := c.gh.FindRunner(ctx, in.ID)
	if err != nil {
		c.fail(p, "get-runner", err, "instance_id", in.ID)
		return
	}
	if r != nil {
		err := c.gh.RemoveRunner(ctx, int64(r.ID))
		switch {
		case errors.Is(err, ErrJobRunning) && !force:
			c.markStarted(in.ID, "", c.now())
			log.Warn("holding a terminating instance: its job is still running")
			return
		case err != nil && !errors.Is(err, ErrJobRunning):
			c.fail(p, "remove-runner", err, "instance_id", in.ID)
			return
		}
	} else if c.facts(in).busy() {
		// GitHub removes an ephemeral runner when its job ends and refuses to
		// remove one whose job runs: no registration means no running job.
		c.markCompleted(in.ID, "")
	}
	c.deleteConfig(ctx, p, in.ID)
	err = c.aws(ctx, "complete-lifecycle-action", func(ctx context.Context) error {
		_, err := c.asg.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
			AutoScalingGroupName: aws.String(p.cfg.AutoScalingGroupName), LifecycleHookName: aws.String(p.cfg.TerminateHookName),
			InstanceId: aws.String(in.ID), LifecycleActionResult: aws.String("CONTINUE"),
		})
		return err
	})
	if err != nil && !lifecycleActionGone(err) {
		c.fail(p, "complete-lifecycle-action", err, "instance_id", in.ID)
		return
	}
	log.Info("termination released")
}

// heartbeat extends the instance's wait in the named lifecycle hook by the
// hook's heartbeat timeout. It reports whether the heartbeat was recorded; a
// hook that is no longer active is not a failure (nothing is left to extend).
func (c *Controller) heartbeat(ctx context.Context, p *pool, in *instance, hook string) bool {
	err := c.aws(ctx, "lifecycle-heartbeat", func(ctx context.Context) error {
		_, err := c.asg.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
			AutoScalingGroupName: aws.String(p.cfg.AutoScalingGroupName), LifecycleHookName: aws.String(hook), InstanceId: aws.String(in.ID),
		})
		return err
	})
	switch {
	case err == nil:
		return true
	case !lifecycleActionGone(err):
		c.fail(p, "lifecycle-heartbeat", err, "instance_id", in.ID, "hook", hook)
	}
	return false
}

// remove takes an instance out of the pool: deregister its runner (GitHub
// refuses while a job runs, which is the final guard against killing a busy
// runner), delete a leftover config, terminate with decrement. Only force (the
// max-runtime watchdog) goes on past a running job. It reports success.
func (c *Controller) remove(ctx context.Context, p *pool, in *instance, reason string, force bool) bool {
	log := c.log.With("pool", p.cfg.Name, "instance_id", in.ID, "runner_name", in.ID, "reason", reason)
	if !force && c.facts(in).busy() {
		return false
	}
	r, err := c.gh.FindRunner(ctx, in.ID)
	if err != nil {
		c.fail(p, "get-runner", err, "instance_id", in.ID)
		return false
	}
	if r != nil {
		err := c.gh.RemoveRunner(ctx, int64(r.ID))
		switch {
		case errors.Is(err, ErrJobRunning):
			c.markStarted(in.ID, "", c.now())
			if !force {
				log.Info("not removing: GitHub says its job is running")
				return false
			}
		case err != nil:
			c.fail(p, "remove-runner", err, "instance_id", in.ID)
			return false
		}
	}
	c.deleteConfig(ctx, p, in.ID)
	decrement := true
	err = c.aws(ctx, "terminate-instance", func(ctx context.Context) error {
		_, err := c.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(in.ID), ShouldDecrementDesiredCapacity: aws.Bool(decrement),
		})
		if err != nil && decrement && atMinSize(err) {
			decrement = false // at the group's minimum: let it launch a fresh replacement
			_, err = c.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
				InstanceId: aws.String(in.ID), ShouldDecrementDesiredCapacity: aws.Bool(false),
			})
		}
		return err
	})
	if err != nil && !instanceGone(err) {
		c.fail(p, "terminate-instance", err, "instance_id", in.ID)
		return false
	}
	log.Info("instance removed", "decrement", decrement)
	c.metrics.Put(p.cfg.Name, count(MetricInstancesSwept, 1))
	return true
}
