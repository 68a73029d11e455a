// Package fleet is a small discrete-event model of EC2 runners and GitHub's job
// queue, used to run the simulator's reference policies (the alternative
// scalers the controller is compared with). It models what those policies see
// and do: instances launched directly with RunInstances, capacity shortages,
// spot interruptions, failed boots, GitHub outages, the busy flag's lag and
// 404s from the runner list. The real controller does not run here: it runs
// against the strict world model of AWS and GitHub (internal/fleetsim/world).
package fleet

import (
	"cmp"
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/latency"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/report"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/trace"
)

// Drain is how long a run may go on after the trace's length while jobs still
// run (a 30-hour migration queued late in the week).
const Drain = 72 * time.Hour

// BootFailureShutdown is when an instance whose boot script failed shuts
// itself down (shutdown behaviour terminate).
const BootFailureShutdown = 10 * time.Minute

// SpotWarning is the notice AWS gives before reclaiming a spot instance.
const SpotWarning = 2 * time.Minute

// Pool is one pool of the environment.
type Pool struct {
	Name          string
	InstanceTypes []string
	Spot          bool
	Max           int
}

// State of an instance.
type State int

// Instance states.
const (
	Booting State = iota
	Idle
	Busy
	Ended
)

func (s State) String() string { return [...]string{"booting", "idle", "busy", "ended"}[s] }

// Instance is one EC2 instance running (or about to run) a runner.
type Instance struct {
	ID           string
	Pool         string
	InstanceType string
	Spot         bool
	LaunchedAt   time.Duration
	State        State
	// Reuse keeps the runner registered after a job (a non-ephemeral runner).
	Reuse bool
	// Job is the job running, or assigned and about to start.
	Job *Job
	// Used is true once the runner took a job (an ephemeral runner takes one).
	Used bool
	// BusyListedAt is when GitHub's runner list starts showing the runner busy.
	BusyListedAt time.Duration
	// Mark is free for the policy (for example, "orphan seen at").
	Mark time.Duration
}

// Job is a job of the trace as it moves through the queue.
type Job struct {
	trace.Job
	Started, Done bool
}

// Policy is a scaler the model runs.
type Policy interface {
	// Name and Note describe the policy in reports.
	Name() string
	Note() string
	// Start is called once before the first job.
	Start(s *Sim)
	// JobQueued is called when GitHub shows a queued job (a webhook).
	JobQueued(s *Sim, j *Job)
	// JobDone is called when a job ends on an instance, before anything else
	// happens to the instance.
	JobDone(s *Sim, in *Instance)
	// Tick is called every TickEvery (none if zero).
	Tick(s *Sim)
	TickEvery() time.Duration
}

// Sim is one run.
type Sim struct {
	Lat    latency.Model
	Trace  *trace.Trace
	Pools  map[string]Pool
	Rec    *report.Recorder
	Rng    *rand.Rand
	policy Policy

	now       time.Duration
	seq       uint64
	events    events
	instances []*Instance
	queue     map[string][]*Job // visible, unassigned jobs per pool, oldest first
	spot      []trace.SpotInterruption
	done      int
	lastEnd   time.Duration
	nextID    int
}

// New prepares a run of policy over tr.
func New(tr *trace.Trace, pools []Pool, lat latency.Model, rec *report.Recorder, seed uint64, policy Policy) *Sim {
	s := &Sim{
		Lat: lat, Trace: tr, Pools: map[string]Pool{}, Rec: rec, policy: policy,
		Rng:   rand.New(rand.NewPCG(seed, 0xf1ee75)),
		queue: map[string][]*Job{},
		spot:  slices.Clone(tr.Faults.SpotInterruptions),
	}
	for _, p := range pools {
		s.Pools[p.Name] = p
	}
	return s
}

// Now is the simulated time.
func (s *Sim) Now() time.Duration { return s.now }

// At schedules fn at t (not before now).
func (s *Sim) At(t time.Duration, fn func()) {
	s.seq++
	heap.Push(&s.events, event{at: max(t, s.now), seq: s.seq, fn: fn})
}

// After schedules fn after d.
func (s *Sim) After(d time.Duration, fn func()) { s.At(s.now+d, fn) }

// Run replays the trace and returns the horizon: the trace's length, or later
// if jobs were still running (at most Drain later).
func (s *Sim) Run() time.Duration {
	for i := range s.Trace.Jobs {
		j := &Job{Job: s.Trace.Jobs[i]}
		s.At(j.QueuedAt.D(), func() {
			s.Rec.JobQueued(j.Pool, j.ID, s.now)
			s.queued(j)
		})
	}
	s.policy.Start(s)
	if every := s.policy.TickEvery(); every > 0 {
		var tick func()
		tick = func() {
			s.policy.Tick(s)
			s.After(every, tick)
		}
		s.At(every, tick)
	}
	length := s.Trace.Length.D()
	for s.events.Len() > 0 {
		ev := heap.Pop(&s.events).(event)
		if ev.at > length && s.done == len(s.Trace.Jobs) {
			return max(length, s.lastEnd)
		}
		if ev.at > length+Drain {
			return length + Drain
		}
		s.now = ev.at
		ev.fn()
		s.checkSpot()
	}
	return max(length, s.lastEnd)
}

// GitHubDown reports whether GitHub is in an outage now.
func (s *Sim) GitHubDown() bool { return inAny(s.Trace.Faults.GitHubOutages, s.now) }

// ListFails reports whether GitHub's runner list fails now (outage or 5xx storm).
func (s *Sim) ListFails() bool {
	return s.GitHubDown() || inAny(s.Trace.Faults.ServerErrorStorms, s.now)
}

// NotFound reports whether runner lookups answer 404 now.
func (s *Sim) NotFound() bool { return inAny(s.Trace.Faults.NotFoundBursts, s.now) }

func inAny(ws []trace.Window, t time.Duration) bool {
	return slices.ContainsFunc(ws, func(w trace.Window) bool { return w.Contains(t) })
}

func outageEnd(ws []trace.Window, t time.Duration) time.Duration {
	for _, w := range ws {
		if w.Contains(t) {
			return w.To.D()
		}
	}
	return t
}

// queued makes a job visible, unless GitHub is down: then it is queued when
// GitHub comes back (the latency still counts from the trace's time).
func (s *Sim) queued(j *Job) {
	if s.GitHubDown() {
		s.At(outageEnd(s.Trace.Faults.GitHubOutages, s.now), func() { s.queued(j) })
		return
	}
	s.queue[j.Pool] = append(s.queue[j.Pool], j)
	s.policy.JobQueued(s, j)
	s.Assign(j.Pool)
}

// Queued returns the visible jobs of a pool not yet assigned to a runner.
func (s *Sim) Queued(pool string) []*Job { return s.queue[pool] }

// Instances returns the live instances of a pool, oldest first.
func (s *Sim) Instances(pool string) []*Instance {
	var out []*Instance
	for _, in := range s.instances {
		if in.Pool == pool && in.State != Ended {
			out = append(out, in)
		}
	}
	return out
}

// Launch starts an instance in pool, trying the pool's instance types in order,
// spot first for a spot pool, then on-demand (a fallback). It returns nil when
// no type has capacity.
func (s *Sim) Launch(pool string, reuse bool) (*Instance, error) {
	p := s.Pools[pool]
	purchases := []bool{false}
	if p.Spot {
		purchases = []bool{true, false}
	}
	for _, spot := range purchases {
		for _, it := range p.InstanceTypes {
			if s.short(it, spot) {
				continue
			}
			s.nextID++
			in := &Instance{ID: fmt.Sprintf("i-%06d", s.nextID), Pool: pool, InstanceType: it, Spot: spot, LaunchedAt: s.now, Reuse: reuse}
			if err := s.Rec.Launched(pool, in.ID, it, spot, p.Spot && !spot, s.now); err != nil {
				return nil, err
			}
			s.instances = append(s.instances, in)
			if inAny(s.bootFailures(pool), s.now) {
				s.After(BootFailureShutdown, func() { s.Terminate(in) })
				return in, nil
			}
			boot := s.Lat.BootToUserData.Sample(s.Rng) + s.Lat.RunnerInstall.Sample(s.Rng) + s.Lat.JitHandover.Sample(s.Rng)
			s.After(boot, func() { s.online(in) })
			return in, nil
		}
	}
	return nil, nil
}

// Pet adds an instance that is already running and registered at time zero.
func (s *Sim) Pet(pool string) error {
	p := s.Pools[pool]
	s.nextID++
	in := &Instance{ID: fmt.Sprintf("i-%06d", s.nextID), Pool: pool, InstanceType: p.InstanceTypes[0], Reuse: true, State: Idle}
	if err := s.Rec.Launched(pool, in.ID, in.InstanceType, false, false, 0); err != nil {
		return err
	}
	s.Rec.Online(in.ID, 0)
	s.instances = append(s.instances, in)
	return nil
}

func (s *Sim) bootFailures(pool string) []trace.Window {
	var ws []trace.Window
	for _, b := range s.Trace.Faults.BootFailures {
		if b.Pool == pool {
			ws = append(ws, b.Window)
		}
	}
	return ws
}

func (s *Sim) short(instanceType string, spot bool) bool {
	purchase := trace.PurchaseOnDemand
	if spot {
		purchase = trace.PurchaseSpot
	}
	return slices.ContainsFunc(s.Trace.Faults.CapacityShortages, func(c trace.CapacityShortage) bool {
		return c.InstanceType == instanceType && c.Purchase == purchase && c.Contains(s.now)
	})
}

func (s *Sim) online(in *Instance) {
	if in.State != Booting {
		return
	}
	in.State = Idle
	s.Rec.Online(in.ID, s.now)
	s.Assign(in.Pool)
}

// Assign pairs the pool's oldest queued jobs with its oldest idle runners, as
// GitHub does; each job starts after the assignment delay.
func (s *Sim) Assign(pool string) {
	if s.GitHubDown() {
		s.At(outageEnd(s.Trace.Faults.GitHubOutages, s.now), func() { s.Assign(pool) })
		return
	}
	for len(s.queue[pool]) > 0 {
		i := slices.IndexFunc(s.instances, func(in *Instance) bool {
			return in.Pool == pool && in.State == Idle && in.Job == nil && (in.Reuse || !in.Used)
		})
		if i < 0 {
			return
		}
		in, j := s.instances[i], s.queue[pool][0]
		s.queue[pool] = s.queue[pool][1:]
		in.Job, in.Used = j, true
		s.After(s.Lat.Assignment.Sample(s.Rng), func() { s.start(in, j) })
	}
}

func (s *Sim) start(in *Instance, j *Job) {
	if in.State != Idle || in.Job != j {
		// The runner went away before the job reached it: GitHub queues the
		// job again.
		s.queue[j.Pool] = append([]*Job{j}, s.queue[j.Pool]...)
		s.Assign(j.Pool)
		return
	}
	in.State = Busy
	in.BusyListedAt = s.now + s.Lat.BusyFlagLag.Sample(s.Rng)
	j.Started = true
	s.Rec.JobStarted(j.ID, in.ID, s.now)
	s.After(j.Duration.D(), func() { s.finish(in, j) })
}

func (s *Sim) finish(in *Instance, j *Job) {
	if in.Job != j || in.State != Busy {
		return // killed meanwhile
	}
	s.endJob(j, false)
	in.Job = nil
	in.State = Idle
	s.policy.JobDone(s, in)
	if in.State == Idle {
		s.Assign(in.Pool)
	}
}

func (s *Sim) endJob(j *Job, killed bool) {
	j.Done = true
	s.done++
	s.lastEnd = max(s.lastEnd, s.now)
	s.Rec.JobEnded(j.ID, s.now, killed)
}

// Terminate ends an instance now; a job running on it is killed, and a job
// assigned but not started goes back to the queue.
func (s *Sim) Terminate(in *Instance) {
	if in.State == Ended {
		return
	}
	if in.State == Busy && in.Job != nil {
		s.endJob(in.Job, true)
	}
	in.Job = nil
	in.State = Ended
	s.Rec.InstanceEnded(in.ID, s.now)
}

// ManagedJob runs a job outside any instance (a managed per-job runner):
// killed after limit.
func (s *Sim) ManagedJob(j *Job, provisioning, limit time.Duration, bill func(billed, idle time.Duration)) {
	s.queue[j.Pool] = slices.DeleteFunc(s.queue[j.Pool], func(q *Job) bool { return q == j })
	s.After(provisioning, func() {
		j.Started = true
		s.Rec.JobStarted(j.ID, "", s.now)
		run := min(j.Duration.D(), limit)
		s.After(run, func() {
			s.endJob(j, j.Duration.D() > limit)
			bill(provisioning+run, provisioning)
		})
	})
}

// checkSpot fires pending spot interruptions whose time has come and whose
// target exists; the instance is reclaimed after the two-minute warning.
func (s *Sim) checkSpot() {
	for i := 0; i < len(s.spot); i++ {
		si := s.spot[i]
		if si.At.D() > s.now {
			continue
		}
		want := cmp.Or(si.Runner, trace.TargetAny)
		k := slices.IndexFunc(s.instances, func(in *Instance) bool {
			if in.Pool != si.Pool || !in.Spot || in.State == Ended {
				return false
			}
			switch want {
			case trace.TargetIdle:
				return in.State != Busy
			case trace.TargetBusy:
				return in.State == Busy
			}
			return true
		})
		if k < 0 {
			continue
		}
		in := s.instances[k]
		s.spot = slices.Delete(s.spot, i, i+1)
		i--
		s.Rec.SpotInterrupted(in.Pool)
		s.After(SpotWarning, func() { s.Terminate(in) })
	}
}

type event struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	return e[i].at < e[j].at || (e[i].at == e[j].at && e[i].seq < e[j].seq)
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}
