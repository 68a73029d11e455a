package controller

// Spot: fallback to on-demand on capacity shortages and interruption warnings.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

func (c *Controller) spotCheck(ctx context.Context, p *pool, v *groupView) {
	if !p.cfg.Spot || !p.cfg.SpotFallbackToOnDemand {
		return
	}
	if tag, ok := v.tags[settings.TagSpotFallback]; ok {
		since, pct := parseFallbackTag(tag)
		retry := DefaultSpotRetry
		if p.cfg.SpotRetryMinutes > 0 {
			retry = time.Duration(p.cfg.SpotRetryMinutes) * time.Minute
		}
		if c.now().Sub(since) >= retry {
			c.restoreSpot(ctx, p, v, pct)
		}
		return
	}
	var acts []astypes.Activity
	err := c.aws(ctx, "describe-scaling-activities", func(ctx context.Context) error {
		out, err := c.asg.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(v.name), MaxRecords: aws.Int32(20)})
		if err == nil {
			acts = out.Activities
		}
		return err
	})
	if err != nil {
		c.fail(p, "describe-scaling-activities", err)
		return
	}
	latest := p.iscSeen
	found := false
	for _, a := range acts {
		t := aws.ToTime(a.StartTime)
		if t.After(p.iscSeen) && strings.Contains(aws.ToString(a.StatusMessage), "InsufficientInstanceCapacity") {
			found = true
			if t.After(latest) {
				latest = t
			}
		}
	}
	p.iscSeen = latest
	if found {
		c.fallback(ctx, p, v, "InsufficientInstanceCapacity")
	}
}

func parseFallbackTag(v string) (time.Time, int32) {
	ts, pctS, _ := strings.Cut(v, "|")
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		t = time.Time{} // unreadable: restore now
	}
	var pct int32
	_, _ = fmt.Sscanf(pctS, "%d", &pct)
	return t, pct
}

// fallback switches a spot pool to on-demand and records, on the group, when
// and what to restore.
func (c *Controller) fallback(ctx context.Context, p *pool, v *groupView, reason string) {
	if !p.cfg.Spot || !p.cfg.SpotFallbackToOnDemand {
		return
	}
	if _, ok := v.tags[settings.TagSpotFallback]; ok {
		return
	}
	if v.onDemandPct == nil {
		c.fail(p, "spot-fallback", errors.New("group has no mixed instances policy"))
		return
	}
	prev := *v.onDemandPct
	err := c.aws(ctx, "spot-fallback", func(ctx context.Context) error {
		_, err := c.asg.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(v.name),
			MixedInstancesPolicy: &astypes.MixedInstancesPolicy{InstancesDistribution: &astypes.InstancesDistribution{OnDemandPercentageAboveBaseCapacity: aws.Int32(100)}},
		})
		if err != nil {
			return err
		}
		_, err = c.asg.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []astypes.Tag{{
			ResourceId: aws.String(v.name), ResourceType: aws.String("auto-scaling-group"), Key: aws.String(settings.TagSpotFallback),
			Value: aws.String(fmt.Sprintf("%s|%d", c.now().UTC().Format(time.RFC3339), prev)), PropagateAtLaunch: aws.Bool(false),
		}}})
		return err
	})
	if err != nil {
		c.fail(p, "spot-fallback", err)
		return
	}
	v.tags[settings.TagSpotFallback] = "set"
	c.metrics.Put(p.cfg.Name, count(MetricSpotFallback, 1))
	c.log.Warn("spot pool falling back to on-demand", "pool", p.cfg.Name, "reason", reason, "previous_on_demand_pct", prev)
}

func (c *Controller) restoreSpot(ctx context.Context, p *pool, v *groupView, pct int32) {
	err := c.aws(ctx, "spot-restore", func(ctx context.Context) error {
		_, err := c.asg.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(v.name),
			MixedInstancesPolicy: &astypes.MixedInstancesPolicy{InstancesDistribution: &astypes.InstancesDistribution{OnDemandPercentageAboveBaseCapacity: aws.Int32(pct)}},
		})
		if err != nil {
			return err
		}
		_, err = c.asg.DeleteTags(ctx, &autoscaling.DeleteTagsInput{Tags: []astypes.Tag{{
			ResourceId: aws.String(v.name), ResourceType: aws.String("auto-scaling-group"), Key: aws.String(settings.TagSpotFallback),
		}}})
		return err
	})
	if err != nil {
		c.fail(p, "spot-restore", err)
		return
	}
	delete(v.tags, settings.TagSpotFallback)
	c.log.Info("spot pool back on spot", "pool", p.cfg.Name, "on_demand_pct", pct)
}

// interruption handles a spot interruption warning: fall back to on-demand and
// take the runner out of GitHub's hands before AWS reclaims the instance.
func (c *Controller) interruption(ctx context.Context, id string) error {
	views, err := c.describe(ctx, c.pools)
	if err != nil {
		return err
	}
	for p, v := range views {
		for _, in := range v.instances {
			if in.ID != id {
				continue
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			c.log.Warn("spot interruption notice", "pool", p.cfg.Name, "instance_id", id)
			c.fallback(ctx, p, v, "spot interruption")
			if c.facts(in).busy() {
				// GitHub refuses to deregister a runner mid-job; the job fails
				// when the instance goes and is re-run by whoever re-runs it.
				c.log.Warn("interrupted runner is busy: its job will be lost with the instance", "pool", p.cfg.Name, "instance_id", id)
				return nil
			}
			c.remove(ctx, p, in, "spot interruption", false)
			return nil
		}
	}
	return nil
}
