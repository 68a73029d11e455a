package controller

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actions/scaleset"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// ---- error switch shared by the fakes ----

// faults holds errors to return: next[op] are returned once each, in order;
// always[op] on every call.
type faults struct {
	next   map[string][]error
	always map[string]error
}

func (f *faults) take(op string) error {
	if f.next == nil {
		f.next = map[string][]error{}
	}
	if e := f.always[op]; e != nil {
		return e
	}
	if q := f.next[op]; len(q) > 0 {
		f.next[op] = q[1:]
		return q[0]
	}
	return nil
}

func (f *faults) failNext(op string, errs ...error) {
	if f.next == nil {
		f.next = map[string][]error{}
	}
	f.next[op] = append(f.next[op], errs...)
}

func (f *faults) failAlways(op string, err error) {
	if f.always == nil {
		f.always = map[string]error{}
	}
	f.always[op] = err
}

func apiErr(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }

func ghErr(status int, retryAfter time.Duration) error {
	return &GitHubError{Op: "fake", Status: status, RetryAfter: retryAfter, Err: fmt.Errorf("fake status %d", status)}
}

// ---- fake clock ----

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// ---- fake AWS: one consistent world behind the Auto Scaling, EC2, SSM, SQS, SNS interfaces ----

type fakeInstance struct {
	id, group, lifecycle string
	healthy              bool
	launch               time.Time
	tags                 map[string]string
	// readyAt is when an instance entering the warm pool finishes installing
	// and tags itself settings.TagWarmReady (zero: never).
	readyAt time.Time
	// hookDeadline is when its launch hook times out (zero: never); a
	// heartbeat moves it to now + the group's hookTimeout.
	hookDeadline time.Time
}

type fakeGroup struct {
	name                  string
	desired, min, max     int
	terminateHook         bool
	onDemandPct           int32
	tags                  map[string]string
	activities            []astypes.Activity
	autoLaunch            bool
	launchedSinceDescribe int
	// warmPool gives the group a warm pool of stopped instances kept at warmMin.
	warmPool bool
	warmMin  int
	// warmReadyAfter is how long a new warm pool instance's boot script takes
	// to install everything and tag itself ready; negative: it never does. Nil:
	// ready as soon as it is launched.
	warmReadyAfter func() time.Duration
	// hookTimeout is the launch hook's heartbeat timeout for warm pool
	// entries: past it without a heartbeat, Auto Scaling abandons the launch
	// (the instance is terminated and the pool refills). Zero: no timeout.
	hookTimeout time.Duration
}

// warmAbandon is a launch abandoned while entering the warm pool.
type warmAbandon struct {
	id     string
	age    time.Duration // since launch
	tagged bool          // it had tagged itself ready
}

type param struct {
	value string
	tier  ssmtypes.ParameterTier
	tags  map[string]string
}

// SSM's value limits by tier, and the error it returns past the Standard one
// (a tier-less PutParameter gets the account's default tier, Standard).
const (
	ssmStandardMax      = 4096
	ssmAdvancedMax      = 8192
	ssmStandardTooLarge = "Standard tier parameters support a maximum parameter value of 4096 characters. " +
		"To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier."
)

type terminated struct {
	id        string
	decrement bool
}

type fakeAWS struct {
	faults
	mu         sync.Mutex
	now        func() time.Time
	groups     map[string]*fakeGroup
	inst       map[string]*fakeInstance
	order      []string
	params     map[string]param
	queue      []string
	published  []string
	calls      []string
	completed  map[string]string // instance -> last lifecycle result
	terms      []terminated
	heartbeats int
	nextID     int
	// onTerminate observes every termination request (the property test's invariant).
	onTerminate func(id string)
	// onSetDesired observes every SetDesiredCapacity (the benchmark's probe).
	onSetDesired func(n int)
	// listWarmInGroups makes DescribeAutoScalingGroups show warm pool
	// instances too (the real API does not), to prove nothing treats them as runners.
	listWarmInGroups bool
	// beats are the lifecycle hook names heartbeated, per instance.
	beats map[string][]string
	// cutShort are warm pool entries continued before they tagged themselves
	// ready: Auto Scaling stopped them mid-installation.
	cutShort []string
	// warmAbandoned are warm pool entries the controller abandoned.
	warmAbandoned []warmAbandon
	// expired are warm pool entries whose launch hook timed out.
	expired []string
}

func newFakeAWS(now func() time.Time) *fakeAWS {
	return &fakeAWS{now: now, groups: map[string]*fakeGroup{}, inst: map[string]*fakeInstance{}, params: map[string]param{}, completed: map[string]string{}, beats: map[string][]string{}}
}

func (f *fakeAWS) addGroup(name string, min, max int, terminateHook bool) *fakeGroup {
	g := &fakeGroup{name: name, min: min, max: max, terminateHook: terminateHook, tags: map[string]string{}, autoLaunch: true}
	f.groups[name] = g
	return g
}

func (f *fakeAWS) record(op string) error {
	f.calls = append(f.calls, op)
	return f.take(op)
}

func (f *fakeAWS) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == op {
			n++
		}
	}
	return n
}

// launch adds an instance to a group, as Auto Scaling does, waiting in the launch hook.
func (f *fakeAWS) launch(group string) string {
	f.nextID++
	id := fmt.Sprintf("i-%017x", f.nextID)
	f.inst[id] = &fakeInstance{id: id, group: group, lifecycle: statePendingWait, healthy: true, launch: f.now(), tags: map[string]string{
		settings.TagEnvironment: "dev", settings.TagPool: group,
	}}
	f.order = append(f.order, id)
	return id
}

// launchWarm adds an instance to a group's warm pool, waiting in the launch
// hook as Auto Scaling does (the event says Origin EC2, Destination WarmPool).
// Its boot script tags it ready after the group's warmReadyAfter.
func (f *fakeAWS) launchWarm(group string) string {
	id := f.launch(group)
	i, g := f.inst[id], f.groups[group]
	i.lifecycle = stateWarmedPendingWait
	after := time.Duration(0)
	if g.warmReadyAfter != nil {
		after = g.warmReadyAfter()
	}
	if after >= 0 {
		i.readyAt = i.launch.Add(after)
	}
	if g.hookTimeout > 0 {
		i.hookDeadline = i.launch.Add(g.hookTimeout)
	}
	return id
}

// advance plays what happens on its own as time passes: a preparing warm
// pool entry tags itself ready once installed, and a launch hook past its
// heartbeat timeout is abandoned (the instance terminated). Caller holds mu.
func (f *fakeAWS) advance() {
	now := f.now()
	for _, id := range slices.Clone(f.order) {
		i := f.inst[id]
		if i.lifecycle != stateWarmedPendingWait {
			continue
		}
		if _, ok := i.tags[settings.TagWarmReady]; !ok && !i.readyAt.IsZero() && !now.Before(i.readyAt) {
			i.tags[settings.TagWarmReady] = i.readyAt.UTC().Format(time.RFC3339)
		}
		if !i.hookDeadline.IsZero() && !now.Before(i.hookDeadline) {
			f.expired = append(f.expired, id)
			f.removeInstance(id)
		}
	}
}

func isWarm(in *fakeInstance) bool { return strings.HasPrefix(in.lifecycle, warmedPrefix) }

// liveIn lists the group's running instances; warm pool instances are not in the group.
func (f *fakeAWS) liveIn(group string) []*fakeInstance {
	var out []*fakeInstance
	for _, id := range f.order {
		if in := f.inst[id]; in != nil && in.group == group && !strings.HasPrefix(in.lifecycle, "Terminat") && !isWarm(in) {
			out = append(out, in)
		}
	}
	return out
}

func (f *fakeAWS) warmIn(group string) []*fakeInstance {
	var out []*fakeInstance
	for _, id := range f.order {
		if in := f.inst[id]; in != nil && in.group == group && isWarm(in) && !strings.HasPrefix(in.lifecycle, "Warmed:Terminat") {
			out = append(out, in)
		}
	}
	return out
}

// Tick plays Auto Scaling: launch until the group has its desired capacity.
func (f *fakeAWS) Tick() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advance()
	var ids []string
	names := make([]string, 0, len(f.groups))
	for n := range f.groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g := f.groups[n]
		for g.autoLaunch && len(f.liveIn(n)) < g.desired {
			// A scale-out takes a prepared, stopped warm instance first: it is
			// started and waits in the launch hook again (Origin WarmPool,
			// Destination AutoScalingGroup); EC2 resets its launch time.
			if w := f.stoppedWarm(n); w != nil {
				w.lifecycle, w.launch, w.hookDeadline = statePendingWait, f.now(), time.Time{}
				ids = append(ids, w.id)
				continue
			}
			ids = append(ids, f.launch(n))
		}
		for g.warmPool && len(f.warmIn(n)) < g.warmMin {
			ids = append(ids, f.launchWarm(n))
		}
	}
	return ids
}

func (f *fakeAWS) stoppedWarm(group string) *fakeInstance {
	for _, in := range f.warmIn(group) {
		if in.lifecycle == "Warmed:Stopped" {
			return in
		}
	}
	return nil
}

func (f *fakeAWS) removeInstance(id string) {
	delete(f.inst, id)
	f.order = slices.DeleteFunc(f.order, func(s string) bool { return s == id })
}

func (f *fakeAWS) DescribeAutoScalingGroups(_ context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DescribeAutoScalingGroups"); err != nil {
		return nil, err
	}
	f.advance()
	out := &autoscaling.DescribeAutoScalingGroupsOutput{}
	for _, n := range in.AutoScalingGroupNames {
		g := f.groups[n]
		if g == nil {
			continue
		}
		ag := astypes.AutoScalingGroup{
			AutoScalingGroupName: aws.String(n),
			AutoScalingGroupARN:  aws.String("arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/" + n),
			DesiredCapacity:      aws.Int32(int32(g.desired)), MinSize: aws.Int32(int32(g.min)), MaxSize: aws.Int32(int32(g.max)),
			MixedInstancesPolicy: &astypes.MixedInstancesPolicy{InstancesDistribution: &astypes.InstancesDistribution{OnDemandPercentageAboveBaseCapacity: aws.Int32(g.onDemandPct)}},
		}
		if g.warmPool {
			ag.WarmPoolConfiguration = &astypes.WarmPoolConfiguration{MinSize: aws.Int32(int32(g.warmMin)), PoolState: astypes.WarmPoolStateStopped}
			ag.WarmPoolSize = aws.Int32(int32(len(f.warmIn(n))))
		}
		for k, v := range g.tags {
			ag.Tags = append(ag.Tags, astypes.TagDescription{Key: aws.String(k), Value: aws.String(v)})
		}
		for _, id := range f.order {
			i := f.inst[id]
			if i.group != n || (isWarm(i) && !f.listWarmInGroups) {
				continue
			}
			health := "Healthy"
			if !i.healthy {
				health = "Unhealthy"
			}
			ag.Instances = append(ag.Instances, astypes.Instance{InstanceId: aws.String(id), LifecycleState: astypes.LifecycleState(i.lifecycle), HealthStatus: aws.String(health), ProtectedFromScaleIn: aws.Bool(true)})
		}
		out.AutoScalingGroups = append(out.AutoScalingGroups, ag)
	}
	return out, nil
}

// DescribeWarmPool lists the warm pool's instances, which
// DescribeAutoScalingGroups leaves out. A group without a warm pool answers
// empty, without a configuration.
func (f *fakeAWS) DescribeWarmPool(_ context.Context, in *autoscaling.DescribeWarmPoolInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeWarmPoolOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DescribeWarmPool"); err != nil {
		return nil, err
	}
	f.advance()
	n := aws.ToString(in.AutoScalingGroupName)
	g := f.groups[n]
	if g == nil {
		return nil, apiErr("ValidationError", "AutoScalingGroup name not found - "+n)
	}
	out := &autoscaling.DescribeWarmPoolOutput{}
	if !g.warmPool {
		return out, nil
	}
	out.WarmPoolConfiguration = &astypes.WarmPoolConfiguration{MinSize: aws.Int32(int32(g.warmMin)), PoolState: astypes.WarmPoolStateStopped}
	for _, id := range f.order {
		if i := f.inst[id]; i.group == n && isWarm(i) {
			out.Instances = append(out.Instances, astypes.Instance{InstanceId: aws.String(id), LifecycleState: astypes.LifecycleState(i.lifecycle), HealthStatus: aws.String("Healthy")})
		}
	}
	return out, nil
}

func (f *fakeAWS) DescribeScalingActivities(_ context.Context, in *autoscaling.DescribeScalingActivitiesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeScalingActivitiesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DescribeScalingActivities"); err != nil {
		return nil, err
	}
	return &autoscaling.DescribeScalingActivitiesOutput{Activities: slices.Clone(f.groups[aws.ToString(in.AutoScalingGroupName)].activities)}, nil
}

func (f *fakeAWS) SetDesiredCapacity(_ context.Context, in *autoscaling.SetDesiredCapacityInput, _ ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error) {
	f.mu.Lock()
	if err := f.record("SetDesiredCapacity"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	g := f.groups[aws.ToString(in.AutoScalingGroupName)]
	n := int(aws.ToInt32(in.DesiredCapacity))
	if n > g.max || n < g.min {
		f.mu.Unlock()
		return nil, apiErr("ValidationError", "New SetDesiredCapacity value is outside the group's bounds")
	}
	g.desired = n
	hook := f.onSetDesired
	f.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return &autoscaling.SetDesiredCapacityOutput{}, nil
}

func (f *fakeAWS) CompleteLifecycleAction(_ context.Context, in *autoscaling.CompleteLifecycleActionInput, _ ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("CompleteLifecycleAction"); err != nil {
		return nil, err
	}
	f.advance()
	id := aws.ToString(in.InstanceId)
	i := f.inst[id]
	switch {
	case i == nil:
	case i.lifecycle == statePendingWait, i.lifecycle == stateTerminatingWait:
	case i.lifecycle == stateWarmedPendingWait, i.lifecycle == stateWarmedTerminatingWait:
	default:
		i = nil
	}
	if i == nil {
		return nil, apiErr("ValidationError", "No active Lifecycle Action found with instance ID "+id)
	}
	res := aws.ToString(in.LifecycleActionResult)
	f.completed[id] = res
	if i.lifecycle == stateWarmedPendingWait {
		_, tagged := i.tags[settings.TagWarmReady]
		if res == "CONTINUE" && !tagged {
			f.cutShort = append(f.cutShort, id)
		}
		if res == "ABANDON" {
			f.warmAbandoned = append(f.warmAbandoned, warmAbandon{id: id, age: f.now().Sub(i.launch), tagged: tagged})
		}
	}
	switch {
	case i.lifecycle == stateTerminatingWait, i.lifecycle == stateWarmedTerminatingWait:
		f.removeInstance(id)
	case res == "CONTINUE" && i.lifecycle == stateWarmedPendingWait:
		i.lifecycle = "Warmed:Stopped" // prepared, then stopped by the group
	case res == "CONTINUE":
		i.lifecycle = stateInService
	default: // ABANDON: Auto Scaling terminates it and keeps the desired capacity
		f.removeInstance(id)
	}
	return &autoscaling.CompleteLifecycleActionOutput{}, nil
}

// RecordLifecycleActionHeartbeat extends an active lifecycle action; like
// Auto Scaling it refuses an instance that is not waiting in a hook.
func (f *fakeAWS) RecordLifecycleActionHeartbeat(_ context.Context, in *autoscaling.RecordLifecycleActionHeartbeatInput, _ ...func(*autoscaling.Options)) (*autoscaling.RecordLifecycleActionHeartbeatOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("RecordLifecycleActionHeartbeat"); err != nil {
		return nil, err
	}
	f.advance()
	id := aws.ToString(in.InstanceId)
	i := f.inst[id]
	if i == nil || !strings.HasSuffix(i.lifecycle, ":Wait") {
		return nil, apiErr("ValidationError", "No active Lifecycle Action found with instance ID "+id)
	}
	f.heartbeats++
	f.beats[id] = append(f.beats[id], aws.ToString(in.LifecycleHookName))
	if g := f.groups[i.group]; !i.hookDeadline.IsZero() && g.hookTimeout > 0 {
		i.hookDeadline = f.now().Add(g.hookTimeout)
	}
	return &autoscaling.RecordLifecycleActionHeartbeatOutput{}, nil
}

func (f *fakeAWS) TerminateInstanceInAutoScalingGroup(_ context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
	f.mu.Lock()
	if err := f.record("TerminateInstanceInAutoScalingGroup"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	id := aws.ToString(in.InstanceId)
	i := f.inst[id]
	if i == nil || strings.HasPrefix(i.lifecycle, "Terminat") {
		f.mu.Unlock()
		return nil, apiErr("ValidationError", "Instance Id not found - No managed instance found for instance ID: "+id)
	}
	g := f.groups[i.group]
	dec := aws.ToBool(in.ShouldDecrementDesiredCapacity)
	if dec && g.desired-1 < g.min {
		f.mu.Unlock()
		return nil, apiErr("ValidationError", "Currently, desiredSize equals minSize (0). Terminating instance without replacement will violate group's min size constraint.")
	}
	f.selfTerminate(id, dec)
	hook := f.onTerminate
	f.mu.Unlock()
	if hook != nil {
		hook(id)
	}
	return &autoscaling.TerminateInstanceInAutoScalingGroupOutput{}, nil
}

// selfTerminate is also what an instance does when its runner exits. Caller holds mu.
func (f *fakeAWS) selfTerminate(id string, dec bool) {
	i := f.inst[id]
	if i == nil || strings.HasPrefix(i.lifecycle, "Terminat") {
		return
	}
	g := f.groups[i.group]
	f.terms = append(f.terms, terminated{id: id, decrement: dec})
	if dec && g.desired > g.min {
		g.desired--
	}
	if g.terminateHook {
		i.lifecycle = stateTerminatingWait
	} else {
		f.removeInstance(id)
	}
}

func (f *fakeAWS) UpdateAutoScalingGroup(_ context.Context, in *autoscaling.UpdateAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("UpdateAutoScalingGroup"); err != nil {
		return nil, err
	}
	g := f.groups[aws.ToString(in.AutoScalingGroupName)]
	if in.MixedInstancesPolicy != nil && in.MixedInstancesPolicy.InstancesDistribution != nil {
		g.onDemandPct = aws.ToInt32(in.MixedInstancesPolicy.InstancesDistribution.OnDemandPercentageAboveBaseCapacity)
	}
	return &autoscaling.UpdateAutoScalingGroupOutput{}, nil
}

func (f *fakeAWS) CreateOrUpdateTags(_ context.Context, in *autoscaling.CreateOrUpdateTagsInput, _ ...func(*autoscaling.Options)) (*autoscaling.CreateOrUpdateTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("CreateOrUpdateTags"); err != nil {
		return nil, err
	}
	for _, t := range in.Tags {
		f.groups[aws.ToString(t.ResourceId)].tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return &autoscaling.CreateOrUpdateTagsOutput{}, nil
}

func (f *fakeAWS) DeleteTags(_ context.Context, in *autoscaling.DeleteTagsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DeleteTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DeleteTags"); err != nil {
		return nil, err
	}
	for _, t := range in.Tags {
		delete(f.groups[aws.ToString(t.ResourceId)].tags, aws.ToString(t.Key))
	}
	return &autoscaling.DeleteTagsOutput{}, nil
}

func (f *fakeAWS) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DescribeInstances"); err != nil {
		return nil, err
	}
	f.advance()
	var ids []string
	for _, fl := range in.Filters {
		if aws.ToString(fl.Name) == "instance-id" {
			ids = append(ids, fl.Values...)
		}
	}
	ids = append(ids, in.InstanceIds...)
	r := ec2types.Reservation{}
	for _, id := range ids {
		i := f.inst[id]
		if i == nil {
			continue
		}
		ei := ec2types.Instance{InstanceId: aws.String(id), LaunchTime: aws.Time(i.launch)}
		for k, v := range i.tags {
			ei.Tags = append(ei.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		r.Instances = append(r.Instances, ei)
	}
	return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{r}}, nil
}

func (f *fakeAWS) CreateTags(_ context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("CreateTags"); err != nil {
		return nil, err
	}
	for _, id := range in.Resources {
		i := f.inst[id]
		if i == nil {
			return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '"+id+"' does not exist")
		}
		for _, t := range in.Tags {
			i.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return &ec2.CreateTagsOutput{}, nil
}

func (f *fakeAWS) PutParameter(_ context.Context, in *ssm.PutParameterInput, _ ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("PutParameter"); err != nil {
		return nil, err
	}
	name := aws.ToString(in.Name)
	if in.Type != ssmtypes.ParameterTypeSecureString {
		return nil, apiErr("ValidationException", "not a SecureString")
	}
	old, exists := f.params[name]
	if exists && !aws.ToBool(in.Overwrite) {
		return nil, &ssmtypes.ParameterAlreadyExists{Message: aws.String("exists")}
	}
	if aws.ToBool(in.Overwrite) && len(in.Tags) > 0 {
		return nil, apiErr("ValidationException", "Invalid request: tags and overwrite can't be used together")
	}
	tier := in.Tier
	if tier == "" {
		tier = ssmtypes.ParameterTierStandard
	}
	switch n := len(aws.ToString(in.Value)); {
	case tier == ssmtypes.ParameterTierStandard && n > ssmStandardMax:
		return nil, apiErr("ValidationException", ssmStandardTooLarge)
	case n > ssmAdvancedMax:
		return nil, apiErr("ValidationException", fmt.Sprintf("Parameter value length %d exceeds the maximum of %d", n, ssmAdvancedMax))
	}
	p := param{value: aws.ToString(in.Value), tier: tier, tags: map[string]string{}}
	if exists {
		p.tags = old.tags
	}
	for _, t := range in.Tags {
		p.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	f.params[name] = p
	return &ssm.PutParameterOutput{}, nil
}

func (f *fakeAWS) DeleteParameter(_ context.Context, in *ssm.DeleteParameterInput, _ ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DeleteParameter"); err != nil {
		return nil, err
	}
	if _, ok := f.params[aws.ToString(in.Name)]; !ok {
		return nil, &ssmtypes.ParameterNotFound{Message: aws.String("not found")}
	}
	delete(f.params, aws.ToString(in.Name))
	return &ssm.DeleteParameterOutput{}, nil
}

func (f *fakeAWS) DescribeParameters(_ context.Context, in *ssm.DescribeParametersInput, _ ...func(*ssm.Options)) (*ssm.DescribeParametersOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DescribeParameters"); err != nil {
		return nil, err
	}
	prefix := in.ParameterFilters[0].Values[0] + "/"
	out := &ssm.DescribeParametersOutput{}
	for n := range f.params {
		if strings.HasPrefix(n, prefix) {
			out.Parameters = append(out.Parameters, ssmtypes.ParameterMetadata{Name: aws.String(n)})
		}
	}
	return out, nil
}

func (f *fakeAWS) ReceiveMessage(ctx context.Context, _ *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	if err := f.record("ReceiveMessage"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	n := min(len(f.queue), 10)
	batch := f.queue[:n]
	f.queue = f.queue[n:]
	f.mu.Unlock()
	out := &sqs.ReceiveMessageOutput{}
	for i, b := range batch {
		out.Messages = append(out.Messages, sqstypes.Message{Body: aws.String(b), ReceiptHandle: aws.String(fmt.Sprint(i))})
	}
	if n == 0 {
		select { // a short long-poll, so Run does not spin
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	return out, nil
}

func (f *fakeAWS) DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DeleteMessage"); err != nil {
		return nil, err
	}
	return &sqs.DeleteMessageOutput{}, nil
}

func (f *fakeAWS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Publish"); err != nil {
		return nil, err
	}
	f.published = append(f.published, aws.ToString(in.Message))
	return &sns.PublishOutput{}, nil
}

// ---- fake GitHub: the scale set API and the runner list ----

type fakeRunner struct {
	id       int64
	name     string
	online   bool
	job      string    // running job, "" when none
	jobStart time.Time // when job started (zero without a clock)
}

type fakeGitHub struct {
	faults
	mu         sync.Mutex
	groups     map[string]int
	sets       map[int]*scaleset.RunnerScaleSet
	nextSet    int
	runners    map[string]*fakeRunner
	nextRunner int64
	calls      []string
	jits       int
	removed    []string
	// now, when set, timestamps job starts (the property test's invariant).
	now func() time.Time
	// jitPad lengthens every minted JIT config by that many bytes (real encoded
	// configs are several KB).
	jitPad int
}

func newFakeGitHub() *fakeGitHub {
	return &fakeGitHub{groups: map[string]int{"ops": 7}, sets: map[int]*scaleset.RunnerScaleSet{}, runners: map[string]*fakeRunner{}}
}

func (g *fakeGitHub) record(op string) error {
	g.calls = append(g.calls, op)
	return g.take(op)
}

func (g *fakeGitHub) count(op string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, c := range g.calls {
		if c == op {
			n++
		}
	}
	return n
}

func (g *fakeGitHub) GetRunnerGroupByName(_ context.Context, name string) (*scaleset.RunnerGroup, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.record("GetRunnerGroupByName"); err != nil {
		return nil, err
	}
	id, ok := g.groups[name]
	if !ok {
		return nil, &GitHubError{Op: "get-runner-group", Status: 200, Err: fmt.Errorf("no runner group found with name %q", name)}
	}
	return &scaleset.RunnerGroup{ID: id, Name: name}, nil
}

func (g *fakeGitHub) GetRunnerScaleSet(_ context.Context, groupID int, name string) (*scaleset.RunnerScaleSet, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.record("GetRunnerScaleSet"); err != nil {
		return nil, err
	}
	for _, s := range g.sets {
		if s.RunnerGroupID == groupID && s.Name == name {
			c := *s
			return &c, nil
		}
	}
	return nil, nil
}

func (g *fakeGitHub) CreateRunnerScaleSet(_ context.Context, s *scaleset.RunnerScaleSet) (*scaleset.RunnerScaleSet, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.record("CreateRunnerScaleSet"); err != nil {
		return nil, err
	}
	g.nextSet++
	c := *s
	c.ID = g.nextSet
	g.sets[c.ID] = &c
	return &c, nil
}

func (g *fakeGitHub) UpdateRunnerScaleSet(_ context.Context, id int, s *scaleset.RunnerScaleSet) (*scaleset.RunnerScaleSet, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.record("UpdateRunnerScaleSet"); err != nil {
		return nil, err
	}
	c := *s
	c.ID = id
	g.sets[id] = &c
	return &c, nil
}

func (g *fakeGitHub) GenerateJitRunnerConfig(_ context.Context, s *scaleset.RunnerScaleSetJitRunnerSetting, id int) (*scaleset.RunnerScaleSetJitRunnerConfig, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.record("GenerateJitRunnerConfig"); err != nil {
		return nil, err
	}
	if g.sets[id] == nil {
		return nil, ghErr(http.StatusNotFound, 0)
	}
	if _, ok := g.runners[s.Name]; ok {
		return nil, &GitHubError{Op: "generate-jit-config", Status: http.StatusConflict, Err: scaleset.RunnerExistsError}
	}
	g.nextRunner++
	g.runners[s.Name] = &fakeRunner{id: g.nextRunner, name: s.Name}
	g.jits++
	return &scaleset.RunnerScaleSetJitRunnerConfig{Runner: &scaleset.RunnerReference{ID: int(g.nextRunner), Name: s.Name}, EncodedJITConfig: "fake-jit-" + s.Name + strings.Repeat("=", g.jitPad)}, nil
}

func (g *fakeGitHub) GetRunnerByName(_ context.Context, name string) (*scaleset.RunnerReference, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.record("GetRunnerByName"); err != nil {
		return nil, err
	}
	r := g.runners[name]
	if r == nil {
		return nil, nil
	}
	return &scaleset.RunnerReference{ID: int(r.id), Name: name}, nil
}

func (g *fakeGitHub) RemoveRunner(_ context.Context, id int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.record("RemoveRunner"); err != nil {
		return err
	}
	for name, r := range g.runners {
		if r.id == id {
			if r.job != "" {
				return &GitHubError{Op: "remove-runner", Status: http.StatusBadRequest, Err: fmt.Errorf("JobStillRunningException: %w", scaleset.JobStillRunningError)}
			}
			delete(g.runners, name)
			g.removed = append(g.removed, name)
			return nil
		}
	}
	return &GitHubError{Op: "remove-runner", Status: http.StatusNotFound, Err: scaleset.RunnerNotFoundError}
}

func (g *fakeGitHub) ListRegistrations(context.Context) ([]Registration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.record("ListRegistrations"); err != nil {
		return nil, err
	}
	var out []Registration
	for _, r := range g.runners {
		out = append(out, Registration{ID: r.id, Name: r.name, Online: r.online})
	}
	return out, nil
}

// runner-side helpers of the simulation

func (g *fakeGitHub) runnerOnline(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.runners[name]; r != nil {
		r.online = true
	}
}

func (g *fakeGitHub) startJob(name, job string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.runners[name]; r != nil && r.online && r.job == "" {
		r.job = job
		if g.now != nil {
			r.jobStart = g.now()
		}
		return true
	}
	return false
}

// finishJob ends the job; GitHub then removes the ephemeral registration.
func (g *fakeGitHub) finishJob(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.runners, name)
}

func (g *fakeGitHub) has(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.runners[name] != nil
}

// ---- harness ----

type harness struct {
	t        testing.TB
	clock    *clock
	aws      *fakeAWS
	gh       *fakeGitHub
	c        *Controller
	github   *GitHub
	logs     *bytes.Buffer
	metrics  *bytes.Buffer
	connects int
	delays   []time.Duration
	mu       sync.Mutex
	// tolerate makes reconcile and sweep failures expected (injected faults).
	tolerate bool
}

func testSettings() settings.Settings {
	return settings.Settings{
		Environment: "dev", Region: "us-east-1", Repository: "Sage-Bionetworks/synapse-ops-dev",
		GitHubURL: "https://github.com/Sage-Bionetworks/synapse-ops-dev", CredentialSecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:gh",
		CredentialKind: settings.CredentialApp, JitParameterPrefix: "/synapse-ops-runners/dev/jit/", EventQueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/events",
		AlarmTopicArn: "arn:aws:sns:us-east-1:123456789012:alarms",
		Pools: []settings.Pool{
			{Name: "default", ScaleSetName: "synapse-dev", RunnerGroup: "ops", Labels: []string{"synapse-dev"}, AutoScalingGroupName: "asg-default",
				LaunchHookName: "launch", TerminateHookName: "terminate", Min: 0, Max: 5, Spot: true, SpotFallbackToOnDemand: true,
				BootGraceMinutes: 10, NoJobTimeoutMinutes: 30, MaxRuntimeHours: 8},
			{Name: "long", ScaleSetName: "synapse-dev-long", RunnerGroup: "ops", AutoScalingGroupName: "asg-long",
				LaunchHookName: "launch", TerminateHookName: "terminate", Min: 0, Max: 3,
				BootGraceMinutes: 10, NoJobTimeoutMinutes: 30, MaxRuntimeHours: 31},
		},
	}
}

func newHarness(t testing.TB, mods ...func(*settings.Settings)) *harness {
	t.Helper()
	s := testSettings()
	for _, m := range mods {
		m(&s)
	}
	h := &harness{t: t, clock: newClock(), gh: newFakeGitHub(), logs: &bytes.Buffer{}, metrics: &bytes.Buffer{}}
	h.aws = newFakeAWS(h.clock.Now)
	h.gh.now = h.clock.Now
	for _, p := range s.Pools {
		h.aws.addGroup(p.AutoScalingGroupName, p.Min, p.Max, p.TerminateHookName != "")
	}
	h.restart(s)
	if err := h.c.EnsureScaleSets(context.Background()); err != nil {
		t.Fatalf("ensure scale sets: %v", err)
	}
	return h
}

// restart builds a fresh controller over the same world: everything in memory is lost.
func (h *harness) restart(s settings.Settings) {
	h.t.Helper()
	log := slog.New(slog.NewJSONHandler(&LockedWriter{W: h.logs}, nil))
	retry := Backoff{Sleep: func(_ context.Context, d time.Duration) error {
		h.mu.Lock()
		h.delays = append(h.delays, d)
		h.mu.Unlock()
		return nil
	}}
	connect := func(context.Context) (*Connection, error) {
		h.mu.Lock()
		h.connects++
		h.mu.Unlock()
		return &Connection{API: h.gh, Lister: h.gh}, nil
	}
	gh, err := NewGitHub(context.Background(), connect, retry, log)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := New(Options{Settings: s, GitHub: gh, AutoScaling: h.aws, EC2: h.aws, SSM: h.aws, SQS: h.aws, SNS: h.aws,
		Metrics: NewMetrics(&LockedWriter{W: h.metrics}, "Test", s.Environment, h.clock.Now), Logger: log, Now: h.clock.Now, Retry: retry})
	if err != nil {
		h.t.Fatal(err)
	}
	h.c, h.github = c, gh
}

// restartSame restarts with the settings the controller had, re-ensuring scale sets.
func (h *harness) restartSame() {
	h.restart(h.c.s)
	if err := h.c.EnsureScaleSets(context.Background()); err != nil && !h.tolerate {
		h.t.Fatal(err)
	}
}

func (h *harness) demand(pool string, assigned int) int {
	n, err := h.c.Pool(pool).HandleDesiredRunnerCount(context.Background(), assigned)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *harness) reconcile() {
	if err := h.c.Reconcile(context.Background()); err != nil && !h.tolerate {
		h.t.Fatal(err)
	}
}

func (h *harness) sweep() {
	if err := h.c.Sweep(context.Background()); err != nil && !h.tolerate {
		h.t.Fatal(err)
	}
}

// provisioned scales the pool to n jobs, lets Auto Scaling launch and the
// controller provision; it returns the new instance ids.
func (h *harness) provisioned(pool string, n int) []string {
	h.demand(pool, n)
	ids := h.aws.Tick()
	h.reconcile()
	return ids
}

// boot plays an instance's boot script: read and delete the config, start the runner.
func (h *harness) boot(id string) {
	h.aws.mu.Lock()
	delete(h.aws.params, h.c.s.JitParameterPrefix+id)
	h.aws.mu.Unlock()
	h.gh.runnerOnline(id)
}

func (h *harness) started(pool, id, job string) {
	h.gh.startJob(id, job)
	_ = h.c.Pool(pool).HandleJobStarted(context.Background(), &scaleset.JobStarted{RunnerName: id, JobMessageBase: scaleset.JobMessageBase{JobID: job, QueueTime: h.clock.Now().Add(-20 * time.Second)}})
}

func (h *harness) completed(pool, id, job string) {
	_ = h.c.Pool(pool).HandleJobCompleted(context.Background(), &scaleset.JobCompleted{RunnerName: id, Result: "succeeded", JobMessageBase: scaleset.JobMessageBase{JobID: job}})
}

func (h *harness) lifecycle(id string) string {
	h.aws.mu.Lock()
	defer h.aws.mu.Unlock()
	if i := h.aws.inst[id]; i != nil {
		return i.lifecycle
	}
	return "gone"
}

func (h *harness) terminatedIDs() []string {
	h.aws.mu.Lock()
	defer h.aws.mu.Unlock()
	var out []string
	for _, t := range h.aws.terms {
		out = append(out, t.id)
	}
	return out
}

func (h *harness) desired(group string) int {
	h.aws.mu.Lock()
	defer h.aws.mu.Unlock()
	return h.aws.groups[group].desired
}
