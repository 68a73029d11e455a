package world

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// AutoScaling is the Auto Scaling API of the world.
type AutoScaling struct{ w *World }

// pageSize is how many items a describe call returns before a NextToken, so
// callers must paginate.
const pageSize = 2

func page[T any](items []T, token *string, size int) ([]T, *string) {
	start, _ := strconv.Atoi(aws.ToString(token))
	start = min(start, len(items))
	end := min(start+size, len(items))
	if end < len(items) {
		return items[start:end], aws.String(strconv.Itoa(end))
	}
	return items[start:end], nil
}

func (a *AutoScaling) call(op string) error {
	a.w.Mu.Lock()
	err := a.w.take(op, a.w.Now())
	if err != nil {
		a.w.Mu.Unlock()
		return err
	}
	a.w.AdvanceLocked()
	return nil
}

func (a *AutoScaling) DescribeAutoScalingGroups(_ context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	if err := a.call("DescribeAutoScalingGroups"); err != nil {
		return nil, err
	}
	w := a.w
	defer w.Mu.Unlock()
	var all []astypes.AutoScalingGroup
	for _, n := range in.AutoScalingGroupNames {
		g := w.Groups[n]
		if g == nil {
			continue
		}
		ag := astypes.AutoScalingGroup{
			AutoScalingGroupName: aws.String(n), AutoScalingGroupARN: aws.String(w.arn(n)),
			DesiredCapacity: aws.Int32(int32(g.Desired)), MinSize: aws.Int32(int32(g.Min)), MaxSize: aws.Int32(int32(g.Max)),
			MixedInstancesPolicy: &astypes.MixedInstancesPolicy{InstancesDistribution: &astypes.InstancesDistribution{OnDemandPercentageAboveBaseCapacity: aws.Int32(g.OnDemandPct)}},
		}
		if g.WarmPool {
			ag.WarmPoolConfiguration = &astypes.WarmPoolConfiguration{MinSize: aws.Int32(int32(g.WarmMin)), PoolState: astypes.WarmPoolStateStopped}
			ag.WarmPoolSize = aws.Int32(int32(len(w.WarmIn(n))))
		}
		for k, v := range g.Tags {
			ag.Tags = append(ag.Tags, astypes.TagDescription{Key: aws.String(k), Value: aws.String(v)})
		}
		for _, id := range w.Order {
			i := w.Instances[id]
			if i.Group != n || (IsWarm(i) && !w.ListWarmInGroups) {
				continue
			}
			ag.Instances = append(ag.Instances, asInstance(i))
		}
		all = append(all, ag)
	}
	groups, next := page(all, in.NextToken, pageSize)
	return &autoscaling.DescribeAutoScalingGroupsOutput{AutoScalingGroups: groups, NextToken: next}, nil
}

func asInstance(i *Instance) astypes.Instance {
	health := "Healthy"
	if !i.Healthy {
		health = "Unhealthy"
	}
	return astypes.Instance{InstanceId: aws.String(i.ID), LifecycleState: astypes.LifecycleState(i.Lifecycle), HealthStatus: aws.String(health),
		ProtectedFromScaleIn: aws.Bool(i.Protected), InstanceType: aws.String(i.Type)}
}

// DescribeWarmPool lists the warm pool's instances, which
// DescribeAutoScalingGroups leaves out. A group without a warm pool answers
// empty, without a configuration.
func (a *AutoScaling) DescribeWarmPool(_ context.Context, in *autoscaling.DescribeWarmPoolInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeWarmPoolOutput, error) {
	if err := a.call("DescribeWarmPool"); err != nil {
		return nil, err
	}
	w := a.w
	defer w.Mu.Unlock()
	n := aws.ToString(in.AutoScalingGroupName)
	g := w.Groups[n]
	if g == nil {
		return nil, APIError("ValidationError", "AutoScalingGroup name not found - "+n)
	}
	out := &autoscaling.DescribeWarmPoolOutput{}
	if !g.WarmPool {
		return out, nil
	}
	out.WarmPoolConfiguration = &astypes.WarmPoolConfiguration{MinSize: aws.Int32(int32(g.WarmMin)), PoolState: astypes.WarmPoolStateStopped}
	var all []astypes.Instance
	for _, id := range w.Order {
		if i := w.Instances[id]; i.Group == n && IsWarm(i) {
			all = append(all, asInstance(i))
		}
	}
	out.Instances, out.NextToken = page(all, in.NextToken, pageSize)
	return out, nil
}

func (a *AutoScaling) DescribeScalingActivities(_ context.Context, in *autoscaling.DescribeScalingActivitiesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeScalingActivitiesOutput, error) {
	if err := a.call("DescribeScalingActivities"); err != nil {
		return nil, err
	}
	w := a.w
	defer w.Mu.Unlock()
	g := w.Groups[aws.ToString(in.AutoScalingGroupName)]
	out := &autoscaling.DescribeScalingActivitiesOutput{}
	if g == nil {
		return out, nil
	}
	// Newest first, as Auto Scaling lists them.
	for i := len(g.Activities) - 1; i >= 0 && len(out.Activities) < int(max(aws.ToInt32(in.MaxRecords), 1)); i-- {
		act := g.Activities[i]
		out.Activities = append(out.Activities, astypes.Activity{StartTime: aws.Time(act.Start), StatusMessage: aws.String(act.Message),
			StatusCode: astypes.ScalingActivityStatusCodeFailed, AutoScalingGroupName: aws.String(g.Name)})
	}
	return out, nil
}

// SetDesiredCapacity sets the target; lowering it below the live instances
// terminates unprotected ones at once (newest first), never protected ones.
func (a *AutoScaling) SetDesiredCapacity(_ context.Context, in *autoscaling.SetDesiredCapacityInput, _ ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error) {
	if err := a.call("SetDesiredCapacity"); err != nil {
		return nil, err
	}
	w := a.w
	g := w.Groups[aws.ToString(in.AutoScalingGroupName)]
	n := int(aws.ToInt32(in.DesiredCapacity))
	if g == nil {
		w.Mu.Unlock()
		return nil, APIError("ValidationError", "AutoScalingGroup name not found")
	}
	if n > g.Max || n < g.Min {
		w.OutOfBounds = append(w.OutOfBounds, fmt.Sprintf("%s: SetDesiredCapacity %d outside %d..%d", aws.ToString(in.AutoScalingGroupName), n, g.Min, g.Max))
		w.Mu.Unlock()
		return nil, APIError("ValidationError", "New SetDesiredCapacity value "+strconv.Itoa(n)+" is outside the group's bounds")
	}
	g.Desired = n
	w.scaleIn(g)
	hook := w.OnSetDesired
	w.Mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return &autoscaling.SetDesiredCapacityOutput{}, nil
}

// hookOf is the hook an instance in a :Wait state waits in.
func (w *World) hookOf(i *Instance) Hook {
	g := w.Groups[i.Group]
	if strings.Contains(i.Lifecycle, "Terminating") {
		if g.TerminateHook == nil {
			return Hook{}
		}
		return *g.TerminateHook
	}
	return g.LaunchHook
}

func noAction(id string) error {
	return APIError("ValidationError", "No active Lifecycle Action found with instance ID "+id)
}

// CompleteLifecycleAction applies a result to an instance waiting in the named hook.
func (a *AutoScaling) CompleteLifecycleAction(_ context.Context, in *autoscaling.CompleteLifecycleActionInput, _ ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error) {
	if err := a.call("CompleteLifecycleAction"); err != nil {
		return nil, err
	}
	w := a.w
	defer w.Mu.Unlock()
	id := aws.ToString(in.InstanceId)
	i := w.Instances[id]
	if i == nil || !strings.HasSuffix(i.Lifecycle, ":Wait") || w.hookOf(i).Name != aws.ToString(in.LifecycleHookName) {
		return nil, noAction(id)
	}
	res := aws.ToString(in.LifecycleActionResult)
	if res != Continue && res != Abandon {
		return nil, APIError("ValidationError", "LifecycleActionResult must be CONTINUE or ABANDON")
	}
	if i.Lifecycle == StateWarmedPendingWait {
		_, tagged := i.Tags[settings.TagWarmReady]
		if res == Continue && !tagged {
			w.CutShort = append(w.CutShort, id)
		}
		if res == Abandon {
			w.WarmAbandoned = append(w.WarmAbandoned, WarmAbandon{ID: id, Age: w.Now().Sub(i.Launch), Tagged: tagged})
		}
	}
	w.complete(i, res, "hook-completed")
	return &autoscaling.CompleteLifecycleActionOutput{}, nil
}

// RecordLifecycleActionHeartbeat extends an active lifecycle action by the
// hook's heartbeat timeout, never past its global timeout; like Auto Scaling
// it refuses an instance that is not waiting in that hook.
func (a *AutoScaling) RecordLifecycleActionHeartbeat(_ context.Context, in *autoscaling.RecordLifecycleActionHeartbeatInput, _ ...func(*autoscaling.Options)) (*autoscaling.RecordLifecycleActionHeartbeatOutput, error) {
	if err := a.call("RecordLifecycleActionHeartbeat"); err != nil {
		return nil, err
	}
	w := a.w
	defer w.Mu.Unlock()
	id := aws.ToString(in.InstanceId)
	i := w.Instances[id]
	hook := aws.ToString(in.LifecycleHookName)
	if i == nil || !strings.HasSuffix(i.Lifecycle, ":Wait") || w.hookOf(i).Name != hook {
		return nil, noAction(id)
	}
	w.Heartbeats++
	w.Beats[id] = append(w.Beats[id], hook)
	if !i.hookDue.IsZero() {
		i.hookDue = w.Now().Add(w.hookOf(i).Timeout)
		if i.hookDue.After(i.hookCap) {
			i.hookDue = i.hookCap
		}
	}
	return &autoscaling.RecordLifecycleActionHeartbeatOutput{}, nil
}

// TerminateInstanceInAutoScalingGroup starts an instance's termination; a
// decrement that would take the group below its minimum is refused.
func (a *AutoScaling) TerminateInstanceInAutoScalingGroup(_ context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
	if err := a.call("TerminateInstanceInAutoScalingGroup"); err != nil {
		return nil, err
	}
	w := a.w
	id := aws.ToString(in.InstanceId)
	i := w.Instances[id]
	if i == nil || terminating(i) {
		w.Mu.Unlock()
		return nil, APIError("ValidationError", "Instance Id not found - No managed instance found for instance ID: "+id)
	}
	g := w.Groups[i.Group]
	dec := aws.ToBool(in.ShouldDecrementDesiredCapacity)
	if dec && g.Desired-1 < g.Min {
		w.Mu.Unlock()
		return nil, APIError("ValidationError", "Currently, desiredSize equals minSize ("+strconv.Itoa(g.Min)+"). Terminating instance without replacement will violate group's min size constraint.")
	}
	w.terminate(i, dec, "controller")
	hook := w.OnTerminate
	w.Mu.Unlock()
	if hook != nil {
		hook(id)
	}
	return &autoscaling.TerminateInstanceInAutoScalingGroupOutput{}, nil
}

func (a *AutoScaling) UpdateAutoScalingGroup(_ context.Context, in *autoscaling.UpdateAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error) {
	if err := a.call("UpdateAutoScalingGroup"); err != nil {
		return nil, err
	}
	w := a.w
	defer w.Mu.Unlock()
	g := w.Groups[aws.ToString(in.AutoScalingGroupName)]
	if g == nil {
		return nil, APIError("ValidationError", "AutoScalingGroup name not found")
	}
	if in.MixedInstancesPolicy != nil && in.MixedInstancesPolicy.InstancesDistribution != nil {
		g.OnDemandPct = aws.ToInt32(in.MixedInstancesPolicy.InstancesDistribution.OnDemandPercentageAboveBaseCapacity)
	}
	return &autoscaling.UpdateAutoScalingGroupOutput{}, nil
}

func (a *AutoScaling) CreateOrUpdateTags(_ context.Context, in *autoscaling.CreateOrUpdateTagsInput, _ ...func(*autoscaling.Options)) (*autoscaling.CreateOrUpdateTagsOutput, error) {
	if err := a.call("CreateOrUpdateTags"); err != nil {
		return nil, err
	}
	w := a.w
	defer w.Mu.Unlock()
	for _, t := range in.Tags {
		if g := w.Groups[aws.ToString(t.ResourceId)]; g != nil {
			g.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return &autoscaling.CreateOrUpdateTagsOutput{}, nil
}

func (a *AutoScaling) DeleteTags(_ context.Context, in *autoscaling.DeleteTagsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DeleteTagsOutput, error) {
	if err := a.call("DeleteTags"); err != nil {
		return nil, err
	}
	w := a.w
	defer w.Mu.Unlock()
	for _, t := range in.Tags {
		if g := w.Groups[aws.ToString(t.ResourceId)]; g != nil {
			delete(g.Tags, aws.ToString(t.Key))
		}
	}
	return &autoscaling.DeleteTagsOutput{}, nil
}
