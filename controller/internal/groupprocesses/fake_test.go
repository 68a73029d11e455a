package groupprocesses

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/smithy-go"
)

// fakeAutoScaling is as strict as the service where this package is
// concerned: describe pages (pageSize groups a page, NextToken), unknown
// groups are silently left out of a describe but refused by SuspendProcesses,
// process names are checked, and errors can be injected per call.
type fakeAutoScaling struct {
	suspended    map[string][]string
	pageSize     int
	describeErr  error
	suspendErr   map[string]error
	suspendCalls int
	describes    int
}

var validProcesses = []string{"Launch", "Terminate", "AddToLoadBalancer", "AlarmNotification", "AZRebalance", "HealthCheck", "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions"}

func (f *fakeAutoScaling) DescribeAutoScalingGroups(_ context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	f.describes++
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	var found []string
	for _, n := range in.AutoScalingGroupNames {
		if _, ok := f.suspended[n]; ok {
			found = append(found, n)
		}
	}
	start := 0
	if in.NextToken != nil {
		var err error
		if start, err = strconv.Atoi(*in.NextToken); err != nil {
			return nil, &smithy.GenericAPIError{Code: "InvalidNextToken", Message: "bad token"}
		}
	}
	size := f.pageSize
	if size == 0 {
		size = 50
	}
	end := min(start+size, len(found))
	out := &autoscaling.DescribeAutoScalingGroupsOutput{}
	for _, n := range found[start:end] {
		g := types.AutoScalingGroup{AutoScalingGroupName: aws.String(n)}
		for _, p := range f.suspended[n] {
			g.SuspendedProcesses = append(g.SuspendedProcesses, types.SuspendedProcess{ProcessName: aws.String(p), SuspensionReason: aws.String("User suspended")})
		}
		out.AutoScalingGroups = append(out.AutoScalingGroups, g)
	}
	if end < len(found) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

func (f *fakeAutoScaling) SuspendProcesses(_ context.Context, in *autoscaling.SuspendProcessesInput, _ ...func(*autoscaling.Options)) (*autoscaling.SuspendProcessesOutput, error) {
	f.suspendCalls++
	name := aws.ToString(in.AutoScalingGroupName)
	if err := f.suspendErr[name]; err != nil {
		return nil, err
	}
	if _, ok := f.suspended[name]; !ok {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: fmt.Sprintf("AutoScalingGroup name not found - %s", name)}
	}
	for _, p := range in.ScalingProcesses {
		if !slices.Contains(validProcesses, p) {
			return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "invalid process " + p}
		}
	}
	for _, p := range in.ScalingProcesses {
		if !slices.Contains(f.suspended[name], p) {
			f.suspended[name] = append(f.suspended[name], p)
		}
	}
	return &autoscaling.SuspendProcessesOutput{}, nil
}

var errThrottled = &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
