package controller

// Scaling: a pure plan from what was observed, then the calls that apply it.

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

// scaleInput is what scaling decides from: the pool's bounds, GitHub's
// demand, and the group as observed.
type scaleInput struct {
	Min, Max, MinIdle int
	// Assigned is TotalAssignedJobs; Known is false until GitHub has said it
	// since the controller started (then only scaling out is allowed).
	Assigned int
	Known    bool
	// Desired is the group's desired capacity; Live its instances that count
	// against it, of which Busy run a job and Leaving finished theirs (they
	// remove themselves with a decrement).
	Desired, Live, Busy, Leaving int
}

// scalePlan is what to do: set the desired capacity to Desired, then remove
// Remove idle runners (each removal decrements it by one more).
type scalePlan struct {
	Desired, Remove int
}

// planScale: the target is min(max, assigned + minIdle), never below min nor
// the busy instances. Scaling in first lowers the desired capacity to
// max(target, live), which only drops launches that have not happened (a
// capacity shortage), and only then removes min(desired, live) - target -
// leaving idle runners. It never plans a desired capacity above max unless
// the busy instances alone exceed it.
func planScale(in scaleInput) scalePlan {
	want := max(min(in.Max, in.Assigned+in.MinIdle), in.Min, in.Busy)
	if want > in.Desired {
		return scalePlan{Desired: want}
	}
	if !in.Known || want == in.Desired {
		return scalePlan{Desired: in.Desired}
	}
	desired := min(in.Desired, max(want, in.Live))
	return scalePlan{Desired: desired, Remove: max(0, min(desired, in.Live)-want-in.Leaving)}
}

// removalOrder sorts idle instances in the order scale-in takes them:
// still-booting ones first (no runner yet to lose), then the oldest.
func removalOrder(idle []*instance) {
	slices.SortStableFunc(idle, func(a, b *instance) int {
		pa, pb := a.Lifecycle != stateInService, b.Lifecycle != stateInService
		if pa != pb {
			if pa {
				return -1
			}
			return 1
		}
		return a.Launch.Compare(b.Launch)
	})
}

// scale observes the pool, plans, and applies the plan: SetDesiredCapacity,
// then the chosen idle instances one by one (deregistered first, so GitHub
// cannot hand them a job) instead of letting Auto Scaling choose: new
// instances are protected from scale-in, and Auto Scaling does not know which
// runners are busy. It returns the desired capacity.
func (c *Controller) scale(ctx context.Context, p *pool, v *groupView) int {
	in := scaleInput{Min: p.cfg.Min, Max: p.cfg.Max, MinIdle: p.cfg.MinIdle, Assigned: p.assigned, Known: p.known, Desired: v.desired}
	var idle []*instance
	for _, i := range v.instances {
		if !live(i) {
			continue
		}
		in.Live++
		switch f := c.facts(i); {
		case f.busy():
			in.Busy++
		case f.completed:
			in.Leaving++
		default:
			idle = append(idle, i)
		}
	}
	plan := planScale(in)
	if plan.Desired != v.desired {
		if !c.setDesired(ctx, p, v, plan.Desired) {
			return v.desired
		}
		c.log.Info("desired capacity set", "pool", p.cfg.Name, "from", v.desired, "to", plan.Desired, "assigned_jobs", p.assigned, "busy", in.Busy, "live", in.Live)
		v.desired = plan.Desired
	}
	removalOrder(idle)
	for _, i := range idle {
		if plan.Remove <= 0 {
			break
		}
		if c.remove(ctx, p, i, "scale-in: demand fell", false) {
			plan.Remove--
			v.desired--
			i.Lifecycle = "Terminating"
		}
	}
	return v.desired
}

func (c *Controller) setDesired(ctx context.Context, p *pool, v *groupView, n int) bool {
	err := c.aws(ctx, "set-desired-capacity", func(ctx context.Context) error {
		_, err := c.asg.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
			AutoScalingGroupName: aws.String(v.name), DesiredCapacity: aws.Int32(int32(n)), HonorCooldown: aws.Bool(false),
		})
		return err
	})
	if err != nil {
		c.fail(p, "set-desired-capacity", err, "desired", n)
		return false
	}
	return true
}
