package world

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2 is the EC2 API of the world: instance launch times and tags.
type EC2 struct{ w *World }

func (e *EC2) call(op string) error {
	e.w.Mu.Lock()
	if err := e.w.take(op, e.w.Now()); err != nil {
		e.w.Mu.Unlock()
		return err
	}
	e.w.AdvanceLocked()
	return nil
}

// DescribeInstances answers for the ids asked (filter instance-id or
// InstanceIds), in pages; an id EC2 no longer knows is left out.
func (e *EC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if err := e.call("DescribeInstances"); err != nil {
		return nil, err
	}
	w := e.w
	defer w.Mu.Unlock()
	var ids []string
	for _, fl := range in.Filters {
		if aws.ToString(fl.Name) == "instance-id" {
			ids = append(ids, fl.Values...)
		}
	}
	ids = append(ids, in.InstanceIds...)
	var all []ec2types.Instance
	for _, id := range ids {
		i := w.Instances[id]
		if i == nil {
			continue
		}
		ei := ec2types.Instance{InstanceId: aws.String(id), LaunchTime: aws.Time(i.Launch), InstanceType: ec2types.InstanceType(i.Type)}
		if i.Spot {
			ei.InstanceLifecycle = ec2types.InstanceLifecycleTypeSpot
		}
		for k, v := range i.Tags {
			ei.Tags = append(ei.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		all = append(all, ei)
	}
	got, next := page(all, in.NextToken, 50)
	return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{{Instances: got}}, NextToken: next}, nil
}

// CreateTags tags instances; an unknown id fails the whole call, as EC2 does.
func (e *EC2) CreateTags(_ context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	if err := e.call("CreateTags"); err != nil {
		return nil, err
	}
	w := e.w
	defer w.Mu.Unlock()
	for _, id := range in.Resources {
		if w.Instances[id] == nil {
			return nil, APIError("InvalidInstanceID.NotFound", "The instance ID '"+id+"' does not exist")
		}
	}
	for _, id := range in.Resources {
		for _, t := range in.Tags {
			w.Instances[id].Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return &ec2.CreateTagsOutput{}, nil
}
