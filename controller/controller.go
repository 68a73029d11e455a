package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/actions/scaleset"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// Defaults for settings left at zero.
const (
	DefaultReconcileInterval = 30 * time.Second
	DefaultSweepInterval     = 3 * time.Minute
	DefaultMaxRuntimeGrace   = 15 * time.Minute
	DefaultSpotRetry         = 60 * time.Minute
	DefaultMetricsNamespace  = "SynapseOpsRunners"
	// DoneGrace is how long an instance whose job completed may take to remove
	// itself before the sweeper does it.
	DoneGrace = 5 * time.Minute
	// WarmHeartbeatEvery is the longest gap between two heartbeats on the
	// launch hook of an instance preparing itself for the warm pool. The
	// hook's heartbeat timeout is the pool's boot grace, so the gap is also
	// kept to a third of that (see warmHeartbeatEvery).
	WarmHeartbeatEvery = 5 * time.Minute
	// MinWarmReadyLimit is the shortest time an instance entering the warm
	// pool is given to tag itself ready before its launch is abandoned; the
	// limit is max(2 x bootGraceMinutes, this).
	MinWarmReadyLimit = 30 * time.Minute
)

// Auto Scaling lifecycle states the controller acts on.
const (
	statePendingWait     = "Pending:Wait"
	stateInService       = "InService"
	stateTerminatingWait = "Terminating:Wait"
	// An instance launched into the warm pool waits in the launch hook in this
	// state. It only prepares itself, tags itself settings.TagWarmReady, and
	// is stopped once the hook is continued: it gets no JIT config until it
	// leaves the pool for the group (and waits in Pending:Wait again).
	stateWarmedPendingWait = "Warmed:Pending:Wait"
	// A warm instance being terminated waits in the terminate hook here.
	stateWarmedTerminatingWait = "Warmed:Terminating:Wait"
	warmedPrefix               = "Warmed:"
)

// Options are the controller's dependencies. Every field except SNS and Now is required.
type Options struct {
	Settings    settings.Settings
	GitHub      *GitHub
	AutoScaling AutoScalingAPI
	EC2         EC2API
	SSM         SSMAPI
	SQS         SQSAPI
	SNS         SNSAPI // nil: the max-runtime alarm is the log line and metric only
	Metrics     *Metrics
	Logger      *slog.Logger
	// Now is the clock; tests move it forward.
	Now func() time.Time
	// Retry is the policy for AWS calls.
	Retry Backoff
}

// Controller reconciles the pools of one environment.
type Controller struct {
	s       settings.Settings
	gh      *GitHub
	asg     AutoScalingAPI
	ec2     EC2API
	ssm     SSMAPI
	sqs     SQSAPI
	sns     SNSAPI
	metrics *Metrics
	log     *slog.Logger
	now     func() time.Time
	retry   Backoff
	started time.Time

	pools   []*pool
	byGroup map[string]*pool

	mu          sync.Mutex
	jobs        map[string]*jobState // by runner name (= instance id)
	warned      map[string]time.Time // max-runtime warnings raised
	interrupted map[string]time.Time // spot interruption notices
	account     string
}

type pool struct {
	cfg settings.Pool
	// mu serialises every decision about this pool's group, so the listener,
	// the event queue and the periodic loops never act on the same instance at once.
	mu         sync.Mutex
	scaleSetID int
	assigned   int
	known      bool // a statistics message has been seen since start
	iscSeen    time.Time
	// warmBeat is when the controller last recorded a heartbeat on the launch
	// hook of each instance preparing itself for the warm pool. Losing it in a
	// restart costs at most one early heartbeat: the launch time stands in.
	warmBeat map[string]time.Time
}

type jobState struct {
	jobID     string
	started   time.Time
	completed time.Time
	seen      time.Time
}

// New validates the options and builds a controller. It does not call anything.
func New(o Options) (*Controller, error) {
	var errs []error
	if err := o.Settings.Validate(); err != nil {
		errs = append(errs, err)
	}
	for name, v := range map[string]any{"GitHub": o.GitHub, "AutoScaling": o.AutoScaling, "EC2": o.EC2, "SSM": o.SSM, "SQS": o.SQS, "Logger": o.Logger} {
		if v == nil || fmt.Sprint(v) == "<nil>" {
			errs = append(errs, fmt.Errorf("controller: %s is required", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(io.Discard, DefaultMetricsNamespace, o.Settings.Environment, o.Now)
	}
	c := &Controller{
		s: o.Settings, gh: o.GitHub, asg: o.AutoScaling, ec2: o.EC2, ssm: o.SSM, sqs: o.SQS, sns: o.SNS,
		metrics: o.Metrics, log: o.Logger, now: o.Now, retry: o.Retry, started: o.Now(),
		byGroup: map[string]*pool{}, jobs: map[string]*jobState{}, warned: map[string]time.Time{},
		interrupted: map[string]time.Time{}, account: o.Settings.Account,
	}
	for _, pc := range o.Settings.Pools {
		p := &pool{cfg: pc, iscSeen: c.started.Add(-15 * time.Minute), warmBeat: map[string]time.Time{}}
		c.pools = append(c.pools, p)
		c.byGroup[pc.AutoScalingGroupName] = p
	}
	return c, nil
}

// Pool returns the named pool's scaler, which the listener drives.
func (c *Controller) Pool(name string) *PoolScaler {
	for _, p := range c.pools {
		if p.cfg.Name == name {
			return &PoolScaler{c: c, p: p}
		}
	}
	return nil
}

// ScaleSetID is the id EnsureScaleSets found for the pool (0 before).
func (c *Controller) ScaleSetID(name string) int {
	for _, p := range c.pools {
		if p.cfg.Name == name {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.scaleSetID
		}
	}
	return 0
}

// EnsureScaleSets makes sure every pool has its scale set. A pool that fails
// is logged and retried on the next reconcile; the others go ahead.
func (c *Controller) EnsureScaleSets(ctx context.Context) error {
	var errs []error
	for _, p := range c.pools {
		p.mu.Lock()
		err := c.ensureScaleSet(ctx, p)
		p.mu.Unlock()
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Controller) ensureScaleSet(ctx context.Context, p *pool) error {
	if p.scaleSetID != 0 {
		return nil
	}
	id, err := c.gh.EnsureScaleSet(ctx, p.cfg)
	if err != nil {
		c.fail(p, "ensure-scale-set", err)
		return err
	}
	p.scaleSetID = id
	return nil
}

// aws runs an AWS call under the retry policy.
func (c *Controller) aws(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	return c.retry.Do(ctx, op, fn)
}

// fail logs a failed step and counts it.
func (c *Controller) fail(p *pool, op string, err error, attrs ...any) {
	name := ""
	if p != nil {
		name = p.cfg.Name
	}
	attrs = append([]any{"pool", name, "op", op, "error", err.Error()}, attrs...)
	if s := githubStatus(err); s != 0 {
		attrs = append(attrs, "github_status", s)
	}
	if code := awsCode(err); code != "" {
		attrs = append(attrs, "aws_code", code)
	}
	c.log.Error("step failed", attrs...)
	c.metrics.Put(name, count(MetricErrors, 1))
}

// ---- the world as Auto Scaling and EC2 describe it ----

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

// ---- job facts: the scale set's messages, remembered in memory and as tags ----

type facts struct {
	started bool
	// startedAt is when the job started, zero when that is unknown (the
	// marker tag holds something that is not a time).
	startedAt   time.Time
	completed   bool
	completedAt time.Time
}

func (f facts) busy() bool { return f.started && !f.completed }

func (c *Controller) facts(in *instance) facts {
	c.mu.Lock()
	defer c.mu.Unlock()
	var f facts
	j := c.jobs[in.ID]
	record := in.Tags[settings.TagJobStartedAt]
	// The runner's own marker makes the instance busy (more care), but its
	// value is never a start time: the job can write it.
	f.started = (j != nil && !j.started.IsZero()) || record != "" || in.Tags[settings.TagJobStarted] != ""
	switch {
	case j != nil && !j.started.IsZero():
		f.startedAt = j.started
	case record != "":
		f.startedAt, _ = time.Parse(time.RFC3339, record)
	}
	switch {
	case j != nil && !j.completed.IsZero():
		f.completed, f.completedAt = true, j.completed
	case in.Tags[settings.TagJobCompleted] != "":
		f.completed = true
		f.completedAt, _ = time.Parse(time.RFC3339, in.Tags[settings.TagJobCompleted])
	}
	return f
}

func (c *Controller) job(name string) *jobState {
	j := c.jobs[name]
	if j == nil {
		j = &jobState{seen: c.now()}
		c.jobs[name] = j
	}
	return j
}

// markStarted records that a job runs on the runner since at; it reports
// whether this is news.
func (c *Controller) markStarted(name, jobID string, at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.job(name)
	if !j.started.IsZero() {
		return false
	}
	j.started, j.jobID = at, jobID
	return true
}

// markCompleted records that the runner's job is over. A completion that
// arrives before its start is kept: the later start cannot make it busy again.
func (c *Controller) markCompleted(name, jobID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.job(name)
	if !j.completed.IsZero() {
		return false
	}
	j.completed = c.now()
	if j.jobID == "" {
		j.jobID = jobID
	}
	return true
}

func (c *Controller) tagInstance(ctx context.Context, p *pool, id, key, value string) {
	if !looksLikeInstanceID(id) {
		return
	}
	err := c.aws(ctx, "tag-instance", func(ctx context.Context) error {
		_, err := c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String(key), Value: aws.String(value)}}})
		return err
	})
	if err != nil {
		c.fail(p, "tag-instance", err, "instance_id", id, "tag", key)
	}
}

func looksLikeInstanceID(s string) bool {
	if !strings.HasPrefix(s, "i-") || len(s) < 10 || len(s) > 19 {
		return false
	}
	for _, r := range s[2:] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// ---- reconcile: lifecycle hooks and scaling ----

// Reconcile describes every group and acts on what it finds: instances
// waiting in a lifecycle hook, the desired capacity, the spot fallback. The
// event queue and the listener only make it happen sooner.
func (c *Controller) Reconcile(ctx context.Context) error {
	var errs []error
	for _, p := range c.pools {
		p.mu.Lock()
		errs = append(errs, c.reconcileLocked(ctx, p, false))
		p.mu.Unlock()
	}
	return errors.Join(errs...)
}

// reconcileLocked reconciles one pool; warm asks for its warm pool to be
// described even if the group describe did not show one (an event said so).
// Each pool is described on its own, so a failure in one group stops nothing
// in the others, and the terminate hooks are heartbeated right after the
// group describe, before anything else that can fail. Must be called with
// p.mu held.
func (c *Controller) reconcileLocked(ctx context.Context, p *pool, warm bool) error {
	if p.scaleSetID == 0 {
		_ = c.ensureScaleSet(ctx, p)
	}
	views, err := c.describeGroups(ctx, []*pool{p})
	if err != nil {
		c.fail(p, "reconcile", err)
		return err
	}
	v := views[p]
	if v == nil {
		c.fail(p, "reconcile", fmt.Errorf("group %s not found", p.cfg.AutoScalingGroupName))
		return nil
	}
	c.holdTerminating(ctx, p, v)
	byID := map[string]*instance{}
	for _, in := range v.instances {
		byID[in.ID] = in
	}
	if err := c.describeInstances(ctx, byID); err != nil {
		c.fail(p, "reconcile", err)
		return err
	}
	c.reconcileWarm(ctx, p, v, warm)
	c.reconcilePool(ctx, p, v)
	return nil
}

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

// knownIdle reports that the controller holds GitHub's word (JobCompleted)
// that the instance's job is over.
func (c *Controller) knownIdle(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.jobs[id]
	return j != nil && !j.completed.IsZero()
}

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

// reconcilePool must be called with p.mu held.
func (c *Controller) reconcilePool(ctx context.Context, p *pool, v *groupView) {
	for _, in := range v.instances {
		switch in.Lifecycle {
		case statePendingWait:
			c.provision(ctx, p, v, in)
		case stateTerminatingWait:
			c.release(ctx, p, in)
		}
	}
	c.scale(ctx, p, v)
	c.spotCheck(ctx, p, v)
	busy, idle := 0, 0
	for _, in := range v.instances {
		if !live(in) {
			continue
		}
		if c.facts(in).busy() {
			busy++
		} else {
			idle++
		}
	}
	c.metrics.Put(p.cfg.Name, count(MetricAssignedJobs, p.assigned), count(MetricBusyRunners, busy), count(MetricIdleRunners, idle), count(MetricDesiredCapacity, v.desired))
}

// scale sets the group to min(max, assigned + minIdle), never below the busy
// instances. Scaling in first lowers the desired capacity to max(want, live),
// which only drops launches that have not happened, then removes chosen idle
// instances one by one (deregistered first, so GitHub cannot hand them a job)
// instead of letting Auto Scaling choose: new instances are protected from
// scale-in, and Auto Scaling does not know which runners are busy.
func (c *Controller) scale(ctx context.Context, p *pool, v *groupView) int {
	var idle []*instance
	liveN, busy, leaving := 0, 0, 0
	for _, in := range v.instances {
		if !live(in) {
			continue
		}
		liveN++
		switch f := c.facts(in); {
		case f.busy():
			busy++
		case f.completed:
			leaving++
		default:
			idle = append(idle, in)
		}
	}
	want := max(min(p.cfg.Max, p.assigned+p.cfg.MinIdle), p.cfg.Min, busy)
	if want > v.desired {
		if c.setDesired(ctx, p, v, want) {
			c.log.Info("scaled out", "pool", p.cfg.Name, "from", v.desired, "to", want, "assigned_jobs", p.assigned, "busy", busy)
			v.desired = want
		}
		return v.desired
	}
	if !p.known || want == v.desired {
		// Until GitHub has told us the demand, only scale out.
		return v.desired
	}
	// Capacity that never launched (a capacity shortage, launches still to
	// come) goes first, without touching an instance: lower the target to
	// max(want, live).
	if target := max(want, liveN); v.desired > target {
		if !c.setDesired(ctx, p, v, target) {
			return v.desired
		}
		v.desired = target
	}
	// Then idle runners, still-booting ones first, then the oldest. Instances
	// whose job completed leave by themselves, with a decrement.
	excess := min(v.desired, liveN) - want - leaving
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
	for _, in := range idle {
		if excess <= 0 {
			break
		}
		if c.remove(ctx, p, in, "scale-in: demand fell", false) {
			excess--
			v.desired--
			in.Lifecycle = "Terminating"
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

// ---- sweeper ----

// Sweep removes what nothing else will: orphan and offline registrations,
// instances whose runner never registered or got no job, unhealthy and
// finished instances, leftover JIT configs, and instances past their maximum
// runtime (alarm first).
func (c *Controller) Sweep(ctx context.Context) error {
	// Configs and registrations first: any listed now belongs to an instance
	// that the describe below already shows.
	configs, cfgErr := c.listConfigs(ctx)
	if cfgErr != nil {
		c.fail(nil, "describe-parameters", cfgErr)
	}
	regs, regErr := c.gh.Registrations(ctx)
	if regErr != nil {
		c.fail(nil, "list-runners", regErr)
	}
	byName := map[string]Registration{}
	for _, r := range regs {
		byName[r.Name] = r
	}
	views, err := c.describe(ctx, c.pools)
	if err != nil {
		c.fail(nil, "sweep", err)
		return err
	}
	known := map[string]bool{}
	for _, v := range views {
		for _, in := range v.instances {
			known[in.ID] = true
		}
	}
	for _, p := range c.pools {
		v := views[p]
		if v == nil {
			continue
		}
		p.mu.Lock()
		for _, in := range v.instances {
			if in.Lifecycle == stateInService {
				c.sweepInstance(ctx, p, in, byName, regErr == nil)
			}
		}
		p.mu.Unlock()
	}
	if regErr == nil {
		for _, r := range regs {
			if looksLikeInstanceID(r.Name) && !known[r.Name] && !r.Online {
				if err := c.gh.RemoveRunner(ctx, r.ID); err != nil {
					c.fail(nil, "remove-runner", err, "runner_name", r.Name)
					continue
				}
				c.log.Info("orphan registration removed", "runner_name", r.Name, "runner_id", r.ID)
			}
		}
	}
	if cfgErr == nil {
		c.sweepConfigs(ctx, configs, known)
	}
	c.mu.Lock()
	for name, j := range c.jobs {
		if !known[name] && c.now().Sub(j.seen) > time.Hour {
			delete(c.jobs, name)
		}
	}
	c.mu.Unlock()
	return nil
}

func (c *Controller) sweepInstance(ctx context.Context, p *pool, in *instance, regs map[string]Registration, regsKnown bool) {
	now := c.now()
	age := now.Sub(in.Launch)
	f := c.facts(in)
	// The max-runtime watchdog limits a job, so it counts from the job's start,
	// not from the launch: a runner that waited idle before its job must not
	// lose that time from the job. An instance without a job is the no-job
	// timeout's business, never this rule's.
	if f.started && now.Sub(c.jobStart(ctx, p, in, f)) >= time.Duration(p.cfg.MaxRuntimeHours)*time.Hour {
		c.maxRuntime(ctx, p, in)
		return
	}
	if f.busy() {
		if _, listed := regs[in.ID]; regsKnown && !listed {
			// Confirm with a lookup by name before concluding the job is over.
			if r, err := c.gh.FindRunner(ctx, in.ID); err == nil && r == nil {
				c.markCompleted(in.ID, "")
				c.log.Info("registration gone: job over", "pool", p.cfg.Name, "instance_id", in.ID)
			}
		}
		return
	}
	switch {
	case !in.Healthy:
		c.remove(ctx, p, in, "unhealthy", false)
	case f.completed:
		if now.Sub(f.completedAt) >= DoneGrace {
			c.remove(ctx, p, in, "job completed but the instance is still running", false)
		}
	case f.started:
		// Started and completed are both needed to get here; unreachable.
	case age >= time.Duration(p.cfg.BootGraceMinutes)*time.Minute && regsKnown && !regs[in.ID].Online:
		c.remove(ctx, p, in, "runner never registered within the boot grace", false)
	case age >= time.Duration(p.cfg.NoJobTimeoutMinutes)*time.Minute:
		c.remove(ctx, p, in, "no job within the no-job timeout", false)
	}
}

// jobStart is when the instance's job started, from the controller's own
// record (memory, else its TagJobStartedAt tag). Without a record (a restart
// lost the JobStarted message, or only the runner's marker says a job runs),
// the controller counts from the first time it sees the job and records that
// in memory and in its own tag: the watchdog may then fire late, never early,
// and nothing a job writes moves its clock.
func (c *Controller) jobStart(ctx context.Context, p *pool, in *instance, f facts) time.Time {
	if !f.startedAt.IsZero() {
		return f.startedAt
	}
	c.mu.Lock()
	j := c.job(in.ID)
	if j.started.IsZero() {
		j.started = c.now()
	}
	start := j.started
	c.mu.Unlock()
	c.log.Warn("job start time unknown: counting the maximum runtime from now", "pool", p.cfg.Name, "instance_id", in.ID)
	c.tagInstance(ctx, p, in.ID, settings.TagJobStartedAt, start.UTC().Format(time.RFC3339))
	in.Tags[settings.TagJobStartedAt] = start.UTC().Format(time.RFC3339)
	return start
}

func (c *Controller) maxRuntimeGrace(p *pool) time.Duration {
	if p.cfg.MaxRuntimeGraceMinutes > 0 {
		return time.Duration(p.cfg.MaxRuntimeGraceMinutes) * time.Minute
	}
	return DefaultMaxRuntimeGrace
}

func (c *Controller) warnedAt(in *instance) time.Time {
	c.mu.Lock()
	t, ok := c.warned[in.ID]
	c.mu.Unlock()
	if ok {
		return t
	}
	t, _ = time.Parse(time.RFC3339, in.Tags[settings.TagMaxRuntimeWarned])
	return t
}

func (c *Controller) maxRuntimeDue(p *pool, in *instance) bool {
	w := c.warnedAt(in)
	return !w.IsZero() && c.now().Sub(w) >= c.maxRuntimeGrace(p)
}

// maxRuntime raises the alarm the first time an instance is over its pool's
// maximum runtime and terminates it, busy or not, once the grace has passed.
func (c *Controller) maxRuntime(ctx context.Context, p *pool, in *instance) {
	now := c.now()
	w := c.warnedAt(in)
	if w.IsZero() {
		f := c.facts(in)
		msg := fmt.Sprintf("the job on runner %s in pool %s (%s) passed its maximum runtime of %d h (started %s); the instance will be terminated in %s",
			in.ID, p.cfg.Name, c.s.Environment, p.cfg.MaxRuntimeHours, f.startedAt.UTC().Format(time.RFC3339), c.maxRuntimeGrace(p))
		c.log.Error("max runtime exceeded", "pool", p.cfg.Name, "instance_id", in.ID, "runner_name", in.ID, "job_running", f.busy(), "job_started", f.startedAt.UTC().Format(time.RFC3339))
		c.metrics.Put(p.cfg.Name, count(MetricMaxRuntimeExceeded, 1))
		if c.sns != nil && c.s.AlarmTopicArn != "" {
			err := c.aws(ctx, "publish-alarm", func(ctx context.Context) error {
				_, err := c.sns.Publish(ctx, publishInput(c.s.AlarmTopicArn, "synapse-ops-runners: max runtime exceeded", msg))
				return err
			})
			if err != nil {
				c.fail(p, "publish-alarm", err, "instance_id", in.ID)
			}
		}
		c.mu.Lock()
		c.warned[in.ID] = now
		c.mu.Unlock()
		c.tagInstance(ctx, p, in.ID, settings.TagMaxRuntimeWarned, now.UTC().Format(time.RFC3339))
		return
	}
	if now.Sub(w) >= c.maxRuntimeGrace(p) {
		c.remove(ctx, p, in, "max runtime exceeded", true)
	}
}

// ---- listener side ----

// PoolScaler receives one pool's scale set messages from the listener. Its
// methods never return an error: an error would stop the listener, and every
// failed step is retried by the next reconcile anyway.
type PoolScaler struct {
	c *Controller
	p *pool
}

// HandleJobStarted marks the runner busy and records queue-to-start latency.
// The controller's own job-started-at tag gets the start time (GitHub's runner
// assignment time, else now), which the max-runtime watchdog counts from
// after a restart.
func (s *PoolScaler) HandleJobStarted(ctx context.Context, m *scaleset.JobStarted) error {
	c := s.c
	at := c.now()
	if !m.RunnerAssignTime.IsZero() && m.RunnerAssignTime.Before(at) {
		at = m.RunnerAssignTime
	}
	if !c.markStarted(m.RunnerName, m.JobID, at) {
		return nil // duplicate
	}
	attrs := []any{"pool", s.p.cfg.Name, "runner_name", m.RunnerName, "instance_id", m.RunnerName, "job_id", m.JobID, "workflow_ref", m.JobWorkflowRef}
	if !m.QueueTime.IsZero() {
		d := c.now().Sub(m.QueueTime)
		c.metrics.Put(s.p.cfg.Name, seconds(MetricQueueToStartSeconds, d))
		attrs = append(attrs, "queue_to_start_seconds", d.Seconds())
	}
	c.log.Info("job started", attrs...)
	c.tagInstance(ctx, s.p, m.RunnerName, settings.TagJobStartedAt, at.UTC().Format(time.RFC3339))
	return nil
}

// HandleJobCompleted marks the runner's job over.
func (s *PoolScaler) HandleJobCompleted(ctx context.Context, m *scaleset.JobCompleted) error {
	c := s.c
	if !c.markCompleted(m.RunnerName, m.JobID) {
		return nil
	}
	c.log.Info("job completed", "pool", s.p.cfg.Name, "runner_name", m.RunnerName, "instance_id", m.RunnerName, "job_id", m.JobID, "result", m.Result)
	c.tagInstance(ctx, s.p, m.RunnerName, settings.TagJobCompleted, c.now().UTC().Format(time.RFC3339))
	return nil
}

// HandleDesiredRunnerCount takes TotalAssignedJobs, the demand signal, and
// scales the group. It returns the group's desired capacity.
func (s *PoolScaler) HandleDesiredRunnerCount(ctx context.Context, assigned int) (int, error) {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.assigned, p.known = assigned, true
	views, err := s.c.describe(ctx, []*pool{p})
	if err != nil {
		s.c.fail(p, "scale", err)
		return 0, nil
	}
	v := views[p]
	if v == nil {
		return 0, nil
	}
	return s.c.scale(ctx, p, v), nil
}

// ---- spot ----

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
			c.mu.Lock()
			c.interrupted[id] = c.now()
			c.mu.Unlock()
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
