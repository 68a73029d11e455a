// Package driver replays a trace through the real fleet controller
// (controller.New, its reconcile loop, sweeper, event handler and scale set
// handlers) against the world model of AWS and GitHub
// (internal/fleetsim/world) in simulated time, and records what happened for
// the report. Nothing of the controller's logic is copied here: the driver
// only plays what runs around it (the clock, the listener's message delivery,
// the SQS poll, the reconcile and sweep timers) and turns the trace's jobs and
// faults into world events.
package driver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/latency"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/prices"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/report"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/trace"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/world"
)

// Name is the policy name of the real controller in reports.
const Name = "controller"

// Note describes the policy in reports.
const Note = "the fleet controller of this repository (controller.New) against the world model of AWS and GitHub"

// DefaultStep is the simulated time between two plays of the world. Every
// controller timer (30 s reconcile, 3 min sweep) and hook timeout is a
// multiple of it; job arrivals and faults are played at their exact time.
const DefaultStep = 5 * time.Second

// Drain is how long a run may go on after the trace's length while jobs still run.
const Drain = 72 * time.Hour

// Input is what a controller run needs.
type Input struct {
	Env     config.Environment
	Trace   *trace.Trace
	Seed    uint64
	Latency latency.Model
	Prices  prices.Table
	// Rec receives the run's events.
	Rec *report.Recorder
	// Step is the world's step. Default: DefaultStep.
	Step time.Duration
}

// Settings is the controller configuration the stack would render for env
// (constructs/fleetcontroller), with simulated queue, topic and secret.
func Settings(env config.Environment) settings.Settings {
	s := settings.Settings{
		Environment: env.Name, Region: env.Region, Repository: env.Repository,
		GitHubURL:           "https://github.com/" + env.Repository,
		CredentialSecretArn: fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:simulated", env.Region, env.Account),
		CredentialKind:      env.GitHubCredential.Kind,
		JitParameterPrefix:  env.JitParameterPrefix(),
		EventQueueURL:       fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/simulated", env.Region, env.Account),
		AlarmTopicArn:       fmt.Sprintf("arn:aws:sns:%s:%s:simulated", env.Region, env.Account),
		Account:             env.Account,
	}
	for _, p := range env.Pools {
		asg := env.AutoScalingGroupName(p)
		s.Pools = append(s.Pools, settings.Pool{
			Name: p.Name, ScaleSetName: p.ScaleSetName, RunnerGroup: p.RunnerGroup, Labels: []string{p.ScaleSetName},
			AutoScalingGroupName: asg, LaunchHookName: asg + "-launch", TerminateHookName: asg + "-terminate",
			Min: p.Min, Max: p.Max, MinIdle: p.MinIdle, Spot: p.Spot, SpotFallbackToOnDemand: p.Spot,
			BootGraceMinutes: p.BootGraceMinutes, NoJobTimeoutMinutes: p.NoJobTimeoutMinutes, MaxRuntimeHours: p.MaxRuntimeHours,
		})
	}
	return s
}

type run struct {
	in    Input
	s     settings.Settings
	w     *world.World
	c     *controller.Controller
	ctx   context.Context
	start time.Time
	// recorder bookkeeping
	seen    map[string]bool // instances recorded as launched
	online  map[string]bool
	started map[string]bool
	ended   map[string]bool
	pending []trace.Job // jobs not yet queued on GitHub, in queue order
	spot    []trace.SpotInterruption
	poolOf  map[string]string // group name -> pool name
	spotOK  map[string]bool   // pool allows spot
	ready   bool              // scale sets ensured
}

// Run replays the trace through the controller.
func Run(in Input) (report.Run, error) {
	in.Step = cmp.Or(in.Step, DefaultStep)
	start := world.Epoch
	if in.Trace.Start != "" {
		t, err := time.Parse(time.RFC3339, in.Trace.Start)
		if err != nil {
			return report.Run{}, fmt.Errorf("trace start: %w", err)
		}
		start = t
	}
	r := &run{in: in, s: Settings(in.Env), ctx: context.Background(), start: start,
		seen: map[string]bool{}, online: map[string]bool{}, started: map[string]bool{}, ended: map[string]bool{},
		poolOf: map[string]string{}, spotOK: map[string]bool{}}
	if err := r.s.Validate(); err != nil {
		return report.Run{}, err
	}
	lat := in.Latency
	r.w = world.New(world.Options{
		Seed: in.Seed, Start: start, Account: in.Env.Account, Region: in.Env.Region, Events: true, Agents: true,
		JitPrefix: r.s.JitParameterPrefix,
		// The world takes one boot delay for every instance: the medians of
		// boot, install and hand-over.
		BootDelay: lat.BootToUserData.Median + lat.RunnerInstall.Median + lat.JitHandover.Median,
	})
	// A uniform delay in [0, 2 x median) has the modelled median's mean.
	r.w.GitHub.MessageDelay = 2 * lat.MessageDelay.Median
	for i, p := range in.Env.Pools {
		sp := r.s.Pools[i]
		g := r.w.AddGroup(sp.AutoScalingGroupName, p.Min, p.Max, true)
		g.InstanceTypes = slices.Clone(p.InstanceTypes)
		if p.Spot {
			g.OnDemandPct = 0
		}
		// The hooks of constructs/runnerpool.
		g.LaunchHook = world.Hook{Name: sp.LaunchHookName, Timeout: time.Duration(p.BootGraceMinutes) * time.Minute, Default: world.Abandon}
		g.TerminateHook = &world.Hook{Name: sp.TerminateHookName, Timeout: p.TerminateHookTimeout(), Default: world.Continue}
		if p.WarmPoolSize > 0 {
			g.WarmPool, g.WarmMin = true, p.WarmPoolSize
			ready := lat.BootToUserData.Median + lat.RunnerInstall.Median
			g.WarmReadyAfter = func() time.Duration { return ready }
		}
		if _, ok := r.w.GitHub.RunnerGroups[p.RunnerGroup]; !ok {
			r.w.GitHub.RunnerGroups[p.RunnerGroup] = 100 + i
		}
		r.poolOf[sp.AutoScalingGroupName] = p.Name
		r.spotOK[p.Name] = p.Spot
	}
	r.faults()
	r.pending = slices.Clone(in.Trace.Jobs)
	slices.SortStableFunc(r.pending, func(a, b trace.Job) int { return cmp.Compare(a.QueuedAt, b.QueuedAt) })
	r.spot = slices.Clone(in.Trace.Faults.SpotInterruptions)
	if err := r.restart(); err != nil {
		return report.Run{}, err
	}
	horizon, err := r.loop()
	if err != nil {
		return report.Run{}, err
	}
	hourly, err := in.Prices.Hourly(in.Env.Controller.InstanceType, false)
	if err != nil {
		return report.Run{}, err
	}
	return in.Rec.Finish(Name, Note, horizon, hourly), nil
}

// faults turns the trace's GitHub fault windows into world fault windows.
func (r *run) faults() {
	gh := r.w.GitHub
	at := func(d trace.Duration) time.Time { return r.start.Add(d.D()) }
	f := r.in.Trace.Faults
	for _, o := range f.GitHubOutages {
		gh.AddWindow(world.Window{From: at(o.From), To: at(o.To), Err: world.HTTPError(503, 0)})
	}
	for _, o := range f.ServerErrorStorms {
		gh.AddWindow(world.Window{From: at(o.From), To: at(o.To), Err: world.HTTPError(502, 0)})
	}
	for _, o := range f.NotFoundBursts {
		gh.AddWindow(world.Window{Ops: []string{"GetRunnerByName"}, From: at(o.From), To: at(o.To), Err: world.HTTPError(404, 0)})
	}
}

// restart builds a controller with nothing in memory, as a process restart does.
func (r *run) restart() error {
	log := slog.New(slog.DiscardHandler)
	retry := controller.Backoff{Sleep: func(context.Context, time.Duration) error { return nil }}
	gh, err := controller.NewGitHub(r.ctx, func(context.Context) (*controller.Connection, error) {
		return &controller.Connection{API: r.w.GitHub, Lister: r.w.GitHub}, nil
	}, retry, log)
	if err != nil {
		return err
	}
	c, err := controller.New(controller.Options{Settings: r.s, GitHub: gh, AutoScaling: r.w.AutoScaling, EC2: r.w.EC2, SSM: r.w.SSM,
		SQS: r.w.SQS, SNS: r.w.SNS, Metrics: controller.NewMetrics(io.Discard, "Simulated", r.s.Environment, r.w.Now),
		Logger: log, Now: r.w.Now, Retry: retry})
	if err != nil {
		return err
	}
	r.c, r.ready = c, false
	return nil
}

func (r *run) offset() time.Duration { return r.w.Now().Sub(r.start) }

func (r *run) githubDown() bool {
	now := r.offset()
	return slices.ContainsFunc(r.in.Trace.Faults.GitHubOutages, func(w trace.Window) bool { return w.Contains(now) })
}

func (r *run) loop() (time.Duration, error) {
	tr := r.in.Trace
	length := tr.Length.D()
	every := func(d time.Duration) bool { return r.offset()%d == 0 }
	reconcile := time.Duration(cmp.Or(r.s.ReconcileSeconds, 30)) * time.Second
	sweep := time.Duration(cmp.Or(r.s.SweepSeconds, 180)) * time.Second
	restarts := slices.Clone(tr.Faults.ControllerRestarts)
	var lastEnd time.Duration
	for {
		now := r.offset()
		for len(restarts) > 0 && restarts[0].At.D() <= now {
			restarts = restarts[1:]
			if err := r.restart(); err != nil {
				return 0, err
			}
		}
		r.capacity(now)
		down := r.githubDown()
		if !r.ready && !down {
			// EnsureScaleSets fails during GitHub faults; the binary retries it.
			r.ready = r.c.EnsureScaleSets(r.ctx) == nil
		}
		if r.ready && !down {
			for len(r.pending) > 0 && r.pending[0].QueuedAt.D() <= now {
				j := r.pending[0]
				r.pending = r.pending[1:]
				r.in.Rec.JobQueued(j.Pool, j.ID, j.QueuedAt.D())
				r.w.GitHub.QueueJob(r.c.ScaleSetID(j.Pool), j.ID, j.Duration.D())
			}
			for _, p := range r.s.Pools {
				// The listener's long poll: job messages, then the statistics.
				_ = r.w.GitHub.Deliver(r.ctx, r.c.ScaleSetID(p.Name), r.c.Pool(p.Name))
			}
		}
		r.pollEvents()
		if every(reconcile) {
			_ = r.c.Reconcile(r.ctx)
		}
		if every(sweep) {
			_ = r.c.Sweep(r.ctx)
		}
		r.interruptions(now)
		r.observe()
		if end := r.lastJobEnd(); end >= 0 {
			lastEnd = end
			if now >= length {
				return max(length, lastEnd), nil
			}
		}
		if now >= length+Drain {
			return length + Drain, nil
		}
		r.step(now)
	}
}

// step plays the world until the next step boundary or the next job arrival,
// whichever comes first, marking instances launched in a boot failure window.
func (r *run) step(now time.Duration) {
	d := r.in.Step - now%r.in.Step
	if len(r.pending) > 0 && r.pending[0].QueuedAt.D() > now {
		d = min(d, r.pending[0].QueuedAt.D()-now)
	}
	before := len(r.w.Order)
	r.w.Step(d)
	r.w.Mu.Lock()
	defer r.w.Mu.Unlock()
	for _, id := range r.w.Order[min(before, len(r.w.Order)):] {
		in := r.w.Instances[id]
		pool := r.poolOf[in.Group]
		at := in.Launch.Sub(r.start)
		if slices.ContainsFunc(r.in.Trace.Faults.BootFailures, func(b trace.BootFailure) bool { return b.Pool == pool && b.Contains(at) }) {
			in.BootFails = true
		}
	}
}

// pollEvents is the controller's SQS poll, once: every visible event goes to
// HandleEvent and is deleted once handled.
func (r *run) pollEvents() {
	url := aws.String(r.s.EventQueueURL)
	for range 10 {
		out, err := r.w.SQS.ReceiveMessage(r.ctx, &sqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10})
		if err != nil || len(out.Messages) == 0 {
			return
		}
		for _, m := range out.Messages {
			err := r.c.HandleEvent(r.ctx, aws.ToString(m.Body))
			if err != nil && !errors.Is(err, controller.ErrBadEvent) {
				continue // back after the visibility timeout
			}
			_, _ = r.w.SQS.DeleteMessage(r.ctx, &sqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: m.ReceiptHandle})
		}
	}
}

// capacity sets the world's capacity shortages for now.
func (r *run) capacity(now time.Duration) {
	r.w.Mu.Lock()
	defer r.w.Mu.Unlock()
	clear(r.w.ICE)
	clear(r.w.SpotICE)
	for _, c := range r.in.Trace.Faults.CapacityShortages {
		if !c.Contains(now) {
			continue
		}
		if c.Purchase == trace.PurchaseSpot {
			r.w.SpotICE[c.InstanceType] = true
		} else {
			r.w.ICE[c.InstanceType] = true
		}
	}
}

// interruptions reclaims, for each due spot interruption, the oldest spot
// instance of its pool in the wanted runner state.
func (r *run) interruptions(now time.Duration) {
	for i := 0; i < len(r.spot); i++ {
		si := r.spot[i]
		if si.At.D() > now {
			continue
		}
		id := r.target(si)
		if id == "" || !r.w.InterruptSpot(id) {
			continue
		}
		r.in.Rec.SpotInterrupted(si.Pool)
		r.spot = slices.Delete(r.spot, i, i+1)
		i--
	}
}

func (r *run) target(si trace.SpotInterruption) string {
	r.w.Mu.Lock()
	var ids []string
	for _, id := range r.w.Order {
		in := r.w.Instances[id]
		if in.Spot && r.poolOf[in.Group] == si.Pool && in.Lifecycle == world.StateInService {
			ids = append(ids, id)
		}
	}
	r.w.Mu.Unlock()
	gh := r.w.GitHub
	gh.Mu.Lock()
	defer gh.Mu.Unlock()
	for _, id := range ids {
		// A running instance without a registration running a job is idle:
		// booting, waiting for its job, or leaving after it.
		busy := gh.Runners[id] != nil && gh.Runners[id].Job != ""
		switch cmp.Or(si.Runner, trace.TargetAny) {
		case trace.TargetIdle:
			if busy {
				continue
			}
		case trace.TargetBusy:
			if !busy {
				continue
			}
		}
		return id
	}
	return ""
}

// observe records what changed in the world since the last step: launches,
// runners coming online, jobs starting and ending, instances ending.
func (r *run) observe() {
	rec, at := r.in.Rec, r.offset()
	r.w.Mu.Lock()
	type inst struct {
		id, pool, typ string
		spot          bool
	}
	var launched []inst
	live := map[string]bool{}
	for _, id := range r.w.Order {
		in := r.w.Instances[id]
		live[id] = true
		if !r.seen[id] {
			launched = append(launched, inst{id, r.poolOf[in.Group], in.Type, in.Spot})
		}
	}
	r.w.Mu.Unlock()
	for _, l := range launched {
		r.seen[l.id] = true
		// Launch errors mean an unpriced type; prices are checked before a run.
		_ = rec.Launched(l.pool, l.id, l.typ, l.spot, r.spotOK[l.pool] && !l.spot, at)
	}
	gh := r.w.GitHub
	gh.Mu.Lock()
	for name, reg := range gh.Runners {
		if reg.Online && r.seen[name] && !r.online[name] && live[name] {
			r.online[name] = true
			rec.Online(name, at)
		}
	}
	type jobEvent struct {
		id, runner string
		started    time.Duration
		ended      time.Duration
		killed     bool
		done       bool
	}
	var evs []jobEvent
	for _, id := range gh.JobOrder {
		j := gh.Jobs[id]
		if r.ended[id] || j.Started.IsZero() {
			continue
		}
		e := jobEvent{id: id, runner: j.Runner, started: j.Started.Sub(r.start)}
		switch {
		case !j.Killed.IsZero():
			e.done, e.killed, e.ended = true, true, j.Killed.Sub(r.start)
		case !j.Done.IsZero():
			e.done, e.ended = true, j.Done.Sub(r.start)
		}
		evs = append(evs, e)
	}
	gh.Mu.Unlock()
	for _, e := range evs {
		if !r.started[e.id] {
			r.started[e.id] = true
			runner := e.runner
			if !r.seen[runner] {
				runner = ""
			}
			rec.JobStarted(e.id, runner, e.started)
		}
		if e.done {
			r.ended[e.id] = true
			rec.JobEnded(e.id, e.ended, e.killed)
		}
	}
	var gone []string
	for id := range r.seen {
		if !live[id] && !r.ended["instance:"+id] {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		r.ended["instance:"+id] = true
		rec.InstanceEnded(id, at)
	}
}

// lastJobEnd is the time the last job ended once every job has, else -1.
func (r *run) lastJobEnd() time.Duration {
	if len(r.pending) > 0 {
		return -1
	}
	gh := r.w.GitHub
	gh.Mu.Lock()
	defer gh.Mu.Unlock()
	var last time.Time
	for _, j := range gh.Jobs {
		switch {
		case !j.Killed.IsZero():
			last = maxTime(last, j.Killed)
		case !j.Done.IsZero():
			last = maxTime(last, j.Done)
		default:
			return -1
		}
	}
	return last.Sub(r.start)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
