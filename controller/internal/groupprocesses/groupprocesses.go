// Package groupprocesses keeps the Auto Scaling processes that would remove
// busy runners suspended on the fleet's groups. CloudFormation has no property
// for suspended processes, so the controller does it at start and on every
// reconcile, and reports what it found resumed (drift) as a metric.
package groupprocesses

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

// Processes a pool must keep suspended.
const (
	// AZRebalance terminates instances to even out zones, busy or not.
	AZRebalance = "AZRebalance"
	// InstanceRefresh would replace a long pool's instances mid-task.
	InstanceRefresh = "InstanceRefresh"
)

// Required returns the processes a pool of the given kind ("standard" or
// "long") keeps suspended. Every pool suspends AZRebalance; a long pool also
// suspends InstanceRefresh, so nobody's refresh ends a 30-hour task.
func Required(kind string) []string {
	if kind == "long" {
		return []string{AZRebalance, InstanceRefresh}
	}
	return []string{AZRebalance}
}

// Missing returns the required processes that are not suspended, in the
// order of required.
func Missing(required, suspended []string) []string {
	var out []string
	for _, p := range required {
		if !slices.Contains(suspended, p) {
			out = append(out, p)
		}
	}
	return out
}

// AutoScaling is the part of the Auto Scaling client this package uses.
type AutoScaling interface {
	autoscaling.DescribeAutoScalingGroupsAPIClient
	SuspendProcesses(ctx context.Context, in *autoscaling.SuspendProcessesInput, opts ...func(*autoscaling.Options)) (*autoscaling.SuspendProcessesOutput, error)
}

// Group is one pool's Auto Scaling group.
type Group struct {
	Name string
	Kind string
}

// Drift is what Ensure found on one group: the required processes that were
// not suspended (and that it suspended, unless Err says otherwise).
type Drift struct {
	Group   string
	Resumed []string
	Err     error
}

// Ensure describes the groups and suspends every required process that is not
// suspended. It returns one Drift per group, in the order given, and every
// error joined. A group that the describe call does not return is an error,
// never a reason to do nothing silently.
func Ensure(ctx context.Context, api AutoScaling, groups []Group) ([]Drift, error) {
	if len(groups) == 0 {
		return nil, nil
	}
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.Name
	}
	suspended := map[string][]string{}
	pages := autoscaling.NewDescribeAutoScalingGroupsPaginator(api, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: names})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("groupprocesses: describe groups: %w", err)
		}
		for _, g := range page.AutoScalingGroups {
			list := []string{}
			for _, p := range g.SuspendedProcesses {
				list = append(list, aws.ToString(p.ProcessName))
			}
			suspended[aws.ToString(g.AutoScalingGroupName)] = list
		}
	}
	var drifts []Drift
	var errs []error
	for _, g := range groups {
		have, found := suspended[g.Name]
		d := Drift{Group: g.Name}
		switch {
		case !found:
			d.Err = fmt.Errorf("groupprocesses: group %s not found; its processes cannot be checked", g.Name)
		default:
			d.Resumed = Missing(Required(g.Kind), have)
			if len(d.Resumed) > 0 {
				_, err := api.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{
					AutoScalingGroupName: aws.String(g.Name),
					ScalingProcesses:     d.Resumed,
				})
				if err != nil {
					d.Err = fmt.Errorf("groupprocesses: suspend %v on %s: %w", d.Resumed, g.Name, err)
				}
			}
		}
		if d.Err != nil {
			errs = append(errs, d.Err)
		}
		drifts = append(drifts, d)
	}
	return drifts, errors.Join(errs...)
}
