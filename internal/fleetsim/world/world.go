// Package world is a model of the parts of AWS and GitHub the fleet controller
// talks to, as strict as the real services: lifecycle hooks that time out and
// apply their default result, the min(100 x heartbeat timeout, 48 h) cap,
// desired-capacity drops that terminate unprotected instances, capacity
// shortages per instance type, spot interruptions with their two-minute
// warning, instances that fail to boot, GitHub 404s that do not mean absent,
// JobStarted messages delivered late or never, RemoveRunner refused only while
// GitHub knows the job runs, 5xx storms, partial runner lists, session 409s,
// rate limits, SSM's 4 KB / 8 KB limits and its eventually consistent list.
//
// One fake per service (AutoScaling, EC2, SSM, SQS, SNS, GitHub) over one
// consistent state, in simulated time (Clock). Tests drive it call by call
// (Tick, RunnerOnline, StartJob, ...); a simulator drives it with Step, which
// also plays the instances (boot, read the JIT config, run one job, leave)
// and GitHub's job queue, and keeps counters (Stats) of what happened.
package world

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// Auto Scaling lifecycle states.
const (
	StatePending               = "Pending"
	StatePendingWait           = "Pending:Wait"
	StateInService             = "InService"
	StateTerminating           = "Terminating"
	StateTerminatingWait       = "Terminating:Wait"
	StateWarmedPendingWait     = "Warmed:Pending:Wait"
	StateWarmedStopped         = "Warmed:Stopped"
	StateWarmedTerminatingWait = "Warmed:Terminating:Wait"
	warmedPrefix               = "Warmed:"
)

// Lifecycle hook results.
const (
	Continue = "CONTINUE"
	Abandon  = "ABANDON"
)

// MaxHookGlobalTimeout is Auto Scaling's cap on how long one lifecycle action
// can be held, whatever the heartbeats: min(100 x heartbeat timeout, 48 h).
const MaxHookGlobalTimeout = 48 * time.Hour

// HookGlobalTimeout is the longest a lifecycle action with this heartbeat
// timeout can be held.
func HookGlobalTimeout(heartbeat time.Duration) time.Duration {
	return min(100*heartbeat, MaxHookGlobalTimeout)
}

// Hook is a lifecycle hook of a group.
type Hook struct {
	Name string
	// Timeout is the heartbeat timeout; zero: the action never times out
	// (only for call-by-call tests: real hooks always have one).
	Timeout time.Duration
	// Default is the result applied when the timeout passes: Continue or Abandon.
	Default string
}

// Group is an Auto Scaling group.
type Group struct {
	Name              string
	Desired, Min, Max int
	// InstanceTypes in preference order; the first with capacity is launched.
	InstanceTypes []string
	// OnDemandPct is the mixed instances policy's on-demand percentage above
	// base: 100 launches on-demand, anything lower spot.
	OnDemandPct int32
	// Protect marks new instances protected from scale-in (as the construct does).
	Protect bool
	// LaunchHook holds new instances; TerminateHook (nil: none) holds leaving ones.
	LaunchHook    Hook
	TerminateHook *Hook
	Tags          map[string]string
	Activities    []Activity
	// AutoLaunch: Tick and Step launch up to the desired capacity.
	AutoLaunch bool
	// WarmPool keeps WarmMin prepared, stopped instances.
	WarmPool bool
	WarmMin  int
	// WarmReadyAfter is how long a new warm pool instance's boot script takes
	// to tag itself settings.TagWarmReady; negative: never. Nil: at once.
	WarmReadyAfter func() time.Duration
}

// Activity is a scaling activity (only failed launches are recorded).
type Activity struct {
	Start   time.Time
	Message string
}

// Instance is an EC2 instance in a group.
type Instance struct {
	ID        string
	Group     string
	Lifecycle string
	Healthy   bool
	Protected bool
	Launch    time.Time
	Tags      map[string]string
	Type      string
	Spot      bool
	// BootFails: the boot script dies before starting the runner.
	BootFails bool

	readyAt   time.Time // warm pool entry tags itself ready (zero: never)
	hook      string    // active lifecycle hook
	hookDue   time.Time // heartbeat deadline (zero: none)
	hookCap   time.Time // global timeout
	hookRes   string    // default result
	inService time.Time
	booted    bool
	doneAt    time.Time // the runner's job ended (agent leaves after)
	interrupt time.Time // spot reclaim time (zero: none)
	leaveFail bool      // the self-termination call fails
}

// Param is an SSM parameter.
type Param struct {
	Value   string
	Tier    ssmtypes.ParameterTier
	Tags    map[string]string
	Created time.Time
}

// Termination is a TerminateInstanceInAutoScalingGroup call (or an instance
// leaving by itself) that Auto Scaling accepted.
type Termination struct {
	ID        string
	Decrement bool
	By        string // "controller", "self", "operator", "health", "scale-in", "spot"
}

// WarmAbandon is a launch abandoned while entering the warm pool.
type WarmAbandon struct {
	ID     string
	Age    time.Duration // since launch
	Tagged bool          // it had tagged itself ready
}

// HookTimeout is a lifecycle action that ran out of time.
type HookTimeout struct {
	ID, Hook, Result string
	At               time.Time
	Global           bool // the 48 h / 100 x cap, not a missed heartbeat
}

// Options configure a world.
type Options struct {
	// Seed makes every random choice of the world reproducible.
	Seed uint64
	// Start is the clock's start (default Epoch).
	Start time.Time
	// Account and Region build the group ARNs.
	Account, Region string
	// Events sends EventBridge lifecycle and spot events to the SQS queue.
	Events bool
	// Agents plays the instances in Step: boot, read and delete the JIT config,
	// start the runner, run one job, leave with decrement.
	Agents bool
	// JitPrefix is the SSM path of the JIT configs the agents read.
	JitPrefix string
	// BootDelay is the time from InService to the runner reading its config
	// (default 45 s); LeaveDelay from the job's end to the self-termination
	// (default 20 s).
	BootDelay, LeaveDelay time.Duration
	// LeaveFailRate is the chance that an instance's self-termination fails
	// (it then shuts down and relies on the controller).
	LeaveFailRate float64
	// SSMListDelay is how long a new parameter stays out of DescribeParameters
	// (and a deleted one stays in it): SSM's list is eventually consistent.
	SSMListDelay time.Duration
	// SQSVisibility is the queue's visibility timeout (default 30 s).
	SQSVisibility time.Duration
}

// World is the whole model. AWS-side state is guarded by Mu; GitHub has its own.
type World struct {
	Clock *Clock
	Rand  *rand.Rand
	Opt   Options

	// Mu guards everything below it. Never hold GitHub.Mu while taking Mu.
	Mu sync.Mutex
	// Faults for every AWS call.
	Faults
	Groups    map[string]*Group
	Instances map[string]*Instance
	Order     []string
	Params    map[string]Param
	// ICE lists the instance types without capacity (InsufficientInstanceCapacity).
	ICE map[string]bool
	// SpotICE lists the instance types without spot capacity: only groups
	// launching spot (OnDemandPct < 100) fail on them.
	SpotICE map[string]bool
	// Completed is the last lifecycle result given per instance.
	Completed map[string]string
	Terms     []Termination
	// Heartbeats counts accepted heartbeats; Beats lists the hooks per instance.
	Heartbeats    int
	Beats         map[string][]string
	CutShort      []string
	WarmAbandoned []WarmAbandon
	Expired       []string
	HookTimeouts  []HookTimeout
	// OutOfBounds records every SetDesiredCapacity refused for leaving the
	// group's min..max (the call fails, as Auto Scaling's does).
	OutOfBounds []string
	Published   []string
	// ListWarmInGroups makes DescribeAutoScalingGroups show warm pool
	// instances too (the real API does not).
	ListWarmInGroups bool
	// OnTerminate observes every accepted termination request, called without Mu.
	OnTerminate func(id string)
	// OnSetDesired observes every accepted SetDesiredCapacity, called without Mu.
	OnSetDesired func(n int)
	// OnStop observes an instance stopping for good (its runner dies with it),
	// called with Mu held: it must not call the world.
	OnStop func(in *Instance, cause string)

	tombstones map[string]time.Time
	queue      []*message
	nextID     int
	nextMsg    int
	Stats      Stats

	GitHub      *GitHub
	AutoScaling *AutoScaling
	EC2         *EC2
	SSM         *SSM
	SQS         *SQS
	SNS         *SNS
}

// New builds an empty world.
func New(o Options) *World {
	if o.Account == "" {
		o.Account = "123456789012"
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.BootDelay == 0 {
		o.BootDelay = 45 * time.Second
	}
	if o.LeaveDelay == 0 {
		o.LeaveDelay = 20 * time.Second
	}
	if o.SQSVisibility == 0 {
		o.SQSVisibility = 30 * time.Second
	}
	w := &World{
		Clock: NewClock(o.Start), Rand: rand.New(rand.NewPCG(o.Seed, 0x5eed)), Opt: o,
		Groups: map[string]*Group{}, Instances: map[string]*Instance{}, Params: map[string]Param{},
		ICE: map[string]bool{}, SpotICE: map[string]bool{}, Completed: map[string]string{}, Beats: map[string][]string{}, tombstones: map[string]time.Time{},
	}
	w.Stats.InstanceSeconds = map[Usage]float64{}
	w.GitHub = newGitHub(w)
	w.AutoScaling, w.EC2, w.SSM, w.SQS, w.SNS = &AutoScaling{w}, &EC2{w}, &SSM{w}, &SQS{w}, &SNS{w}
	return w
}

// Now is the world's time.
func (w *World) Now() time.Time { return w.Clock.Now() }

// AddGroup adds a group with the construct's defaults: protected instances,
// a launch hook without timeout, a terminate hook when terminateHook is set.
func (w *World) AddGroup(name string, min, max int, terminateHook bool) *Group {
	w.Mu.Lock()
	defer w.Mu.Unlock()
	g := &Group{Name: name, Min: min, Max: max, Desired: min, Protect: true, AutoLaunch: true, Tags: map[string]string{},
		InstanceTypes: []string{"t4g.large"}, OnDemandPct: 100, LaunchHook: Hook{Name: "launch", Default: Abandon}}
	if terminateHook {
		g.TerminateHook = &Hook{Name: "terminate", Default: Continue}
	}
	w.Groups[name] = g
	return g
}

func (w *World) arn(group string) string {
	return fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:uuid:autoScalingGroupName/%s", w.Opt.Region, w.Opt.Account, group)
}

// IsWarm reports whether the instance is in (or entering or leaving) a warm pool.
func IsWarm(in *Instance) bool { return strings.HasPrefix(in.Lifecycle, warmedPrefix) }

func terminating(in *Instance) bool {
	return strings.HasPrefix(in.Lifecycle, "Terminat") || strings.HasPrefix(in.Lifecycle, "Warmed:Terminat")
}

// LiveIn lists the group's instances that count against its capacity (not
// leaving, not in the warm pool). Caller holds Mu.
func (w *World) LiveIn(group string) []*Instance {
	var out []*Instance
	for _, id := range w.Order {
		if in := w.Instances[id]; in != nil && in.Group == group && !terminating(in) && !IsWarm(in) {
			out = append(out, in)
		}
	}
	return out
}

// WarmIn lists the group's warm pool instances. Caller holds Mu.
func (w *World) WarmIn(group string) []*Instance {
	var out []*Instance
	for _, id := range w.Order {
		if in := w.Instances[id]; in != nil && in.Group == group && IsWarm(in) && !terminating(in) {
			out = append(out, in)
		}
	}
	return out
}

func (w *World) groupNames() []string {
	names := make([]string, 0, len(w.Groups))
	for n := range w.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// enterHook puts an instance into a lifecycle hook's wait. Caller holds Mu.
func (w *World) enterHook(in *Instance, state string, h Hook) {
	now := w.Now()
	in.Lifecycle, in.hook, in.hookRes = state, h.Name, h.Default
	in.hookDue, in.hookCap = time.Time{}, time.Time{}
	if h.Timeout > 0 {
		in.hookDue = now.Add(h.Timeout)
		in.hookCap = now.Add(HookGlobalTimeout(h.Timeout))
	}
	w.event(in, state)
}

// LaunchInstance adds an instance to a group, as Auto Scaling does, waiting
// in the launch hook; it returns "" when no instance type has capacity (a
// failed scaling activity is recorded). Caller holds Mu.
func (w *World) LaunchInstance(group string) string {
	g := w.Groups[group]
	typ := ""
	for _, t := range g.InstanceTypes {
		if !w.ICE[t] && (g.OnDemandPct >= 100 || !w.SpotICE[t]) {
			typ = t
			break
		}
	}
	if typ == "" {
		msg := fmt.Sprintf("Launching a new EC2 instance. Status Reason: We currently do not have sufficient %s capacity in the Availability Zone you requested. Launching EC2 instance failed. InsufficientInstanceCapacity", strings.Join(g.InstanceTypes, ", "))
		if n := len(g.Activities); n == 0 || w.Now().Sub(g.Activities[n-1].Start) >= time.Minute {
			g.Activities = append(g.Activities, Activity{Start: w.Now(), Message: msg})
		}
		w.Stats.LaunchFailures++
		return ""
	}
	w.nextID++
	id := fmt.Sprintf("i-%017x", w.nextID)
	in := &Instance{ID: id, Group: group, Healthy: true, Protected: g.Protect, Launch: w.Now(), Type: typ, Spot: g.OnDemandPct < 100,
		Tags: map[string]string{settings.TagEnvironment: "dev", settings.TagPool: group}}
	w.Instances[id] = in
	w.Order = append(w.Order, id)
	w.Stats.InstancesLaunched++
	w.enterHook(in, StatePendingWait, g.LaunchHook)
	if w.Opt.LeaveFailRate > 0 && w.Rand.Float64() < w.Opt.LeaveFailRate {
		in.leaveFail = true
	}
	return id
}

// LaunchWarm adds an instance to a group's warm pool, waiting in the launch
// hook (Origin EC2, Destination WarmPool). Caller holds Mu.
func (w *World) LaunchWarm(group string) string {
	id := w.LaunchInstance(group)
	if id == "" {
		return ""
	}
	in, g := w.Instances[id], w.Groups[group]
	w.enterHook(in, StateWarmedPendingWait, g.LaunchHook)
	after := time.Duration(0)
	if g.WarmReadyAfter != nil {
		after = g.WarmReadyAfter()
	}
	if after >= 0 {
		in.readyAt = in.Launch.Add(after)
	}
	return id
}

// AdvanceLocked plays what happens by itself at the current time: warm pool
// entries tag themselves ready, lifecycle actions past their heartbeat
// deadline or global cap get their default result, spot instances past their
// two-minute warning are reclaimed. Caller holds Mu.
func (w *World) AdvanceLocked() {
	now := w.Now()
	for _, id := range slices.Clone(w.Order) {
		in := w.Instances[id]
		if in == nil {
			continue
		}
		if in.Lifecycle == StateWarmedPendingWait && !in.readyAt.IsZero() && !now.Before(in.readyAt) {
			if _, ok := in.Tags[settings.TagWarmReady]; !ok {
				in.Tags[settings.TagWarmReady] = in.readyAt.UTC().Format(time.RFC3339)
			}
		}
		if !in.interrupt.IsZero() && !now.Before(in.interrupt) {
			in.interrupt = time.Time{}
			w.stop(in, "spot-interruption")
			w.Terms = append(w.Terms, Termination{ID: id, By: "spot"})
			w.remove(id)
			continue
		}
		if strings.HasSuffix(in.Lifecycle, ":Wait") && !in.hookDue.IsZero() {
			global := !now.Before(in.hookCap)
			if global || !now.Before(in.hookDue) {
				w.HookTimeouts = append(w.HookTimeouts, HookTimeout{ID: id, Hook: in.hook, Result: in.hookRes, At: now, Global: global})
				w.complete(in, in.hookRes, "hook-timeout")
			}
		}
	}
}

// complete applies a lifecycle result to an instance waiting in a hook.
// Caller holds Mu.
func (w *World) complete(in *Instance, res, cause string) {
	w.Completed[in.ID] = res
	in.hook, in.hookDue, in.hookCap = "", time.Time{}, time.Time{}
	switch {
	case in.Lifecycle == StateTerminatingWait || in.Lifecycle == StateWarmedTerminatingWait:
		w.stop(in, cause)
		w.remove(in.ID)
	case in.Lifecycle == StateWarmedPendingWait && res == Continue:
		if cause == "hook-timeout" {
			w.Expired = append(w.Expired, in.ID)
		}
		in.Lifecycle = StateWarmedStopped // prepared (or not), then stopped by the group
	case in.Lifecycle == StateWarmedPendingWait:
		if cause == "hook-timeout" {
			w.Expired = append(w.Expired, in.ID)
		}
		w.stop(in, cause)
		w.remove(in.ID)
	case res == Continue:
		in.Lifecycle, in.inService = StateInService, w.Now()
	default: // ABANDON: Auto Scaling terminates it and keeps the desired capacity
		w.stop(in, cause)
		w.remove(in.ID)
	}
}

// terminate starts an instance's termination: into the terminate hook if the
// group has one, else gone at once. Caller holds Mu.
func (w *World) terminate(in *Instance, dec bool, by string) {
	if terminating(in) {
		return
	}
	g := w.Groups[in.Group]
	w.Terms = append(w.Terms, Termination{ID: in.ID, Decrement: dec, By: by})
	if dec && g.Desired > g.Min {
		g.Desired--
	}
	if in.hook != "" { // leaving a launch hook: the action ends
		in.hook, in.hookDue, in.hookCap = "", time.Time{}, time.Time{}
	}
	switch {
	case g.TerminateHook != nil && IsWarm(in):
		w.enterHook(in, StateWarmedTerminatingWait, *g.TerminateHook)
	case g.TerminateHook != nil:
		w.enterHook(in, StateTerminatingWait, *g.TerminateHook)
	default:
		w.stop(in, by)
		w.remove(in.ID)
	}
}

// SelfTerminateLocked is what an instance does when its runner exits:
// TerminateInstanceInAutoScalingGroup on itself. Caller holds Mu.
func (w *World) SelfTerminateLocked(id string, dec bool) {
	if in := w.Instances[id]; in != nil {
		w.terminate(in, dec, "self")
	}
}

// stop is an instance ceasing to run: its runner, and any job on it, dies.
// Caller holds Mu.
func (w *World) stop(in *Instance, cause string) {
	if w.OnStop != nil {
		w.OnStop(in, cause)
	}
	w.GitHub.instanceStopped(in.ID, cause, w.Now())
}

func (w *World) remove(id string) {
	delete(w.Instances, id)
	w.Order = slices.DeleteFunc(w.Order, func(s string) bool { return s == id })
}
