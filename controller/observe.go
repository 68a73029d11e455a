package controller

// The groups as Auto Scaling and EC2 describe them: the controller's only view of AWS.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

type instance struct {
	ID        string
	Lifecycle string
	Healthy   bool
	Launch    time.Time
	Tags      map[string]string
}

type groupView struct {
	name      string
	arn       string
	desired   int
	instances []*instance
	// warm are the warm pool's instances (DescribeWarmPool, when the group has
	// a warm pool, and any Warmed:* instance a group listing shows). They are
	// never runners: nothing that scales in, sweeps or counts runners sees them.
	warm        []*instance
	warmPool    bool // the group has a warm pool configured
	tags        map[string]string
	onDemandPct *int32 // nil: the group has no mixed instances policy
}

// describe describes the pools' groups and their instances' launch times and tags.
func (c *Controller) describe(ctx context.Context, pools []*pool) (map[*pool]*groupView, error) {
	views, err := c.describeGroups(ctx, pools)
	if err != nil {
		return nil, err
	}
	byID := map[string]*instance{}
	for _, v := range views {
		for _, in := range v.instances {
			byID[in.ID] = in
		}
	}
	if err := c.describeInstances(ctx, byID); err != nil {
		return nil, err
	}
	return views, nil
}

// describeGroups describes the pools' groups as Auto Scaling sees them, without
// asking EC2 for anything: enough to find the instances waiting in a hook.
func (c *Controller) describeGroups(ctx context.Context, pools []*pool) (map[*pool]*groupView, error) {
	names := make([]string, 0, len(pools))
	for _, p := range pools {
		names = append(names, p.cfg.AutoScalingGroupName)
	}
	var groups []astypes.AutoScalingGroup
	err := c.aws(ctx, "describe-groups", func(ctx context.Context) error {
		groups = nil
		in := &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: names}
		for pages := autoscaling.NewDescribeAutoScalingGroupsPaginator(c.asg, in); pages.HasMorePages(); {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return err
			}
			groups = append(groups, out.AutoScalingGroups...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe groups: %w", err)
	}
	views := map[*pool]*groupView{}
	for _, g := range groups {
		p := c.byGroup[aws.ToString(g.AutoScalingGroupName)]
		if p == nil {
			continue
		}
		v := &groupView{name: aws.ToString(g.AutoScalingGroupName), arn: aws.ToString(g.AutoScalingGroupARN), desired: int(aws.ToInt32(g.DesiredCapacity)),
			tags: map[string]string{}, warmPool: g.WarmPoolConfiguration != nil}
		for _, t := range g.Tags {
			v.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		if g.MixedInstancesPolicy != nil && g.MixedInstancesPolicy.InstancesDistribution != nil {
			pct := aws.ToInt32(g.MixedInstancesPolicy.InstancesDistribution.OnDemandPercentageAboveBaseCapacity)
			v.onDemandPct = &pct
		}
		for _, gi := range g.Instances {
			in := &instance{ID: aws.ToString(gi.InstanceId), Lifecycle: string(gi.LifecycleState), Healthy: !strings.EqualFold(aws.ToString(gi.HealthStatus), "Unhealthy"), Tags: map[string]string{}}
			if strings.HasPrefix(in.Lifecycle, warmedPrefix) {
				v.warm = append(v.warm, in) // not a runner, whatever lists it
				continue
			}
			v.instances = append(v.instances, in)
		}
		views[p] = v
		if c.accountID() == "" {
			c.setAccount(accountFromArn(v.arn))
		}
	}
	return views, nil
}

// describeInstances fills in the launch time and tags of the instances in
// byID from EC2. One not visible in EC2 yet is treated as just launched,
// never as old.
func (c *Controller) describeInstances(ctx context.Context, byID map[string]*instance) error {
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for chunk := range slices.Chunk(ids, 200) {
		err := c.aws(ctx, "describe-instances", func(ctx context.Context) error {
			in := &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: chunk}}}
			for pages := ec2.NewDescribeInstancesPaginator(c.ec2, in); pages.HasMorePages(); {
				out, err := pages.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, r := range out.Reservations {
					for _, ei := range r.Instances {
						if in := byID[aws.ToString(ei.InstanceId)]; in != nil {
							in.Launch = aws.ToTime(ei.LaunchTime)
							for _, t := range ei.Tags {
								in.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
							}
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("describe instances: %w", err)
		}
	}
	for _, in := range byID {
		if in.Launch.IsZero() {
			in.Launch = c.now()
		}
	}
	return nil
}

// describeWarm adds the group's warm pool instances to v.warm. Auto Scaling
// lists them only through DescribeWarmPool.
func (c *Controller) describeWarm(ctx context.Context, v *groupView) error {
	var found []astypes.Instance
	err := c.aws(ctx, "describe-warm-pool", func(ctx context.Context) error {
		found = nil
		in := &autoscaling.DescribeWarmPoolInput{AutoScalingGroupName: aws.String(v.name)}
		for pages := autoscaling.NewDescribeWarmPoolPaginator(c.asg, in); pages.HasMorePages(); {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return err
			}
			found = append(found, out.Instances...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("describe warm pool: %w", err)
	}
	have := map[string]bool{}
	for _, in := range v.warm {
		have[in.ID] = true
	}
	for _, wi := range found {
		id := aws.ToString(wi.InstanceId)
		if have[id] {
			continue
		}
		v.warm = append(v.warm, &instance{ID: id, Lifecycle: string(wi.LifecycleState), Healthy: !strings.EqualFold(aws.ToString(wi.HealthStatus), "Unhealthy"), Tags: map[string]string{}})
	}
	return nil
}

func (c *Controller) accountID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.account
}

func (c *Controller) setAccount(a string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.account == "" {
		c.account = a
	}
}

// accountFromArn reads the account of arn:aws:autoscaling:region:account:...
func accountFromArn(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) > 4 {
		return parts[4]
	}
	return ""
}

func live(in *instance) bool {
	return !strings.HasPrefix(in.Lifecycle, "Terminat") && !strings.HasPrefix(in.Lifecycle, "Detach") && !strings.HasPrefix(in.Lifecycle, "Warmed")
}
