package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// Defaults for settings left at zero.
const (
	DefaultReconcileInterval = 30 * time.Second
	DefaultSweepInterval     = 3 * time.Minute
	DefaultMaxRuntimeGrace   = 15 * time.Minute
	DefaultSpotRetry         = 60 * time.Minute
	DefaultMetricsNamespace  = settings.MetricsNamespaceDefault
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

	mu      sync.Mutex
	jobs    map[string]*jobState // by runner name (= instance id)
	warned  map[string]time.Time // max-runtime warnings raised
	account string
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
		account: o.Settings.Account,
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
