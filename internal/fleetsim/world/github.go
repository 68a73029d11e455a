package world

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/actions/scaleset"
	"github.com/actions/scaleset/listener"

	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/githubapi"
)

// Runner is a runner registration on GitHub.
type Runner struct {
	ID       int64
	Name     string
	SetID    int
	Online   bool
	Job      string    // running job, "" when none
	JobStart time.Time // when Job started
}

// Job is a workflow job queued on a scale set, with what happened to it.
type Job struct {
	ID       string
	SetID    int
	Duration time.Duration
	Queued   time.Time
	Started  time.Time // zero: not started
	Done     time.Time // completed (zero: not)
	Killed   time.Time // its runner died while it ran (zero: not)
	Runner   string
	// KillCause is what stopped the instance under it: "spot-interruption",
	// "hook-timeout", "hook-completed", "controller", "scale-in", ...
	KillCause string
}

type statsSeen struct {
	at       time.Time
	assigned int
}

// LongPoll is how long a scale set message poll waits without news.
const LongPoll = 50 * time.Second

// Message is a scale set message waiting to be delivered to the listener.
type Message struct {
	At        time.Time // deliverable from
	Completed bool
	JobID     string
	Runner    string
	Queued    time.Time
	Assigned  time.Time
}

// GitHub is the scale set API and the repository's runner list of the world.
// It implements the controller's ScaleSets and RunnerLister.
type GitHub struct {
	w *World
	// Mu guards everything below it.
	Mu sync.Mutex
	Faults
	RunnerGroups map[string]int
	Sets         map[int]*scaleset.RunnerScaleSet
	Runners      map[string]*Runner
	JITs         int
	Removed      []string
	// JITPad lengthens every minted JIT config (real encoded configs are several KB).
	JITPad int
	// Jobs by id, and the order they were queued in.
	Jobs     map[string]*Job
	JobOrder []string
	// MessageDelay is the longest delay between a job event and its message
	// being deliverable (each gets a random delay up to it); LossRate is the
	// chance a message is lost between the listener's acknowledgement and
	// the handler (a crash).
	MessageDelay time.Duration
	LossRate     float64
	// PartialListUntil: until then the runner list silently leaves out half of
	// the registrations (a stale page), without an error.
	PartialListUntil time.Time

	// lastStats is when each scale set's statistics were last delivered, and
	// what they said: the listener gets them with every message and at the
	// end of each long poll (about 50 s), not more often.
	lastStats map[int]statsSeen

	nextSet    int
	nextRunner int64
	outbox     map[int][]Message
	killed     []Kill
	rand       *rand.Rand
}

func newGitHub(w *World) *GitHub {
	return &GitHub{w: w, RunnerGroups: map[string]int{"ops": 7}, Sets: map[int]*scaleset.RunnerScaleSet{}, Runners: map[string]*Runner{},
		Jobs: map[string]*Job{}, outbox: map[int][]Message{}, lastStats: map[int]statsSeen{}, rand: rand.New(rand.NewPCG(w.Opt.Seed, 0x617))}
}

// RunnerNotFound is GitHub's confirmed answer that no such runner exists.
func RunnerNotFound(op string) error {
	return &githubapi.Error{Op: op, Status: http.StatusNotFound, Err: scaleset.RunnerNotFoundError}
}

func (g *GitHub) call(op string) error {
	g.Mu.Lock()
	if err := g.take(op, g.w.Now()); err != nil {
		g.Mu.Unlock()
		return err
	}
	return nil
}

func (g *GitHub) GetRunnerGroupByName(_ context.Context, name string) (*scaleset.RunnerGroup, error) {
	if err := g.call("GetRunnerGroupByName"); err != nil {
		return nil, err
	}
	defer g.Mu.Unlock()
	id, ok := g.RunnerGroups[name]
	if !ok {
		return nil, &githubapi.Error{Op: "get-runner-group", Status: 200, Err: fmt.Errorf("no runner group found with name %q", name)}
	}
	return &scaleset.RunnerGroup{ID: id, Name: name}, nil
}

func (g *GitHub) GetRunnerScaleSet(_ context.Context, groupID int, name string) (*scaleset.RunnerScaleSet, error) {
	if err := g.call("GetRunnerScaleSet"); err != nil {
		return nil, err
	}
	defer g.Mu.Unlock()
	for _, s := range g.Sets {
		if s.RunnerGroupID == groupID && s.Name == name {
			c := *s
			return &c, nil
		}
	}
	return nil, nil
}

func (g *GitHub) CreateRunnerScaleSet(_ context.Context, s *scaleset.RunnerScaleSet) (*scaleset.RunnerScaleSet, error) {
	if err := g.call("CreateRunnerScaleSet"); err != nil {
		return nil, err
	}
	defer g.Mu.Unlock()
	g.nextSet++
	c := *s
	c.ID = g.nextSet
	g.Sets[c.ID] = &c
	return &c, nil
}

func (g *GitHub) UpdateRunnerScaleSet(_ context.Context, id int, s *scaleset.RunnerScaleSet) (*scaleset.RunnerScaleSet, error) {
	if err := g.call("UpdateRunnerScaleSet"); err != nil {
		return nil, err
	}
	defer g.Mu.Unlock()
	c := *s
	c.ID = id
	g.Sets[id] = &c
	return &c, nil
}

// GenerateJitRunnerConfig registers a runner (offline until it starts) and
// returns its single-use config; a name already registered is a 409.
func (g *GitHub) GenerateJitRunnerConfig(_ context.Context, s *scaleset.RunnerScaleSetJitRunnerSetting, id int) (*scaleset.RunnerScaleSetJitRunnerConfig, error) {
	if err := g.call("GenerateJitRunnerConfig"); err != nil {
		return nil, err
	}
	defer g.Mu.Unlock()
	if g.Sets[id] == nil {
		return nil, HTTPError(http.StatusNotFound, 0)
	}
	if _, ok := g.Runners[s.Name]; ok {
		return nil, &githubapi.Error{Op: "generate-jit-config", Status: http.StatusConflict, Err: scaleset.RunnerExistsError}
	}
	g.nextRunner++
	g.Runners[s.Name] = &Runner{ID: g.nextRunner, Name: s.Name, SetID: id}
	g.JITs++
	return &scaleset.RunnerScaleSetJitRunnerConfig{Runner: &scaleset.RunnerReference{ID: int(g.nextRunner), Name: s.Name},
		EncodedJITConfig: "fake-jit-" + s.Name + strings.Repeat("=", g.JITPad)}, nil
}

// GetRunnerByName answers nil, nil for a name with no registration (as the
// scaleset client does for an empty list).
func (g *GitHub) GetRunnerByName(_ context.Context, name string) (*scaleset.RunnerReference, error) {
	if err := g.call("GetRunnerByName"); err != nil {
		return nil, err
	}
	defer g.Mu.Unlock()
	r := g.Runners[name]
	if r == nil {
		return nil, nil
	}
	return &scaleset.RunnerReference{ID: int(r.ID), Name: name}, nil
}

// RemoveRunner deletes a registration; it is refused (JobStillRunning) only
// while GitHub knows a job runs on it, whatever the controller was told.
func (g *GitHub) RemoveRunner(_ context.Context, id int64) error {
	if err := g.call("RemoveRunner"); err != nil {
		return err
	}
	defer g.Mu.Unlock()
	for name, r := range g.Runners {
		if r.ID == id {
			if r.Job != "" {
				return &githubapi.Error{Op: "remove-runner", Status: http.StatusBadRequest, Err: fmt.Errorf("JobStillRunningException: %w", scaleset.JobStillRunningError)}
			}
			delete(g.Runners, name)
			g.Removed = append(g.Removed, name)
			return nil
		}
	}
	return RunnerNotFound("remove-runner")
}

// ListRegistrations lists the runner registrations; inside PartialListUntil
// it silently leaves out every other one.
func (g *GitHub) ListRegistrations(context.Context) ([]githubapi.Registration, error) {
	if err := g.call("ListRegistrations"); err != nil {
		return nil, err
	}
	defer g.Mu.Unlock()
	names := make([]string, 0, len(g.Runners))
	for n := range g.Runners {
		names = append(names, n)
	}
	sort.Strings(names)
	partial := g.w.Now().Before(g.PartialListUntil)
	var out []githubapi.Registration
	for i, n := range names {
		if partial && i%2 == 1 {
			continue
		}
		r := g.Runners[n]
		out = append(out, githubapi.Registration{ID: r.ID, Name: r.Name, Online: r.Online})
	}
	return out, nil
}

// ---- the runners' and GitHub's own behaviour ----

// RunnerOnline is a runner starting with its JIT config.
func (g *GitHub) RunnerOnline(name string) {
	g.Mu.Lock()
	defer g.Mu.Unlock()
	if r := g.Runners[name]; r != nil {
		r.Online = true
	}
}

// StartJob hands job to an online idle runner, as GitHub does; no message is
// queued (call-by-call tests deliver their own). It reports success.
func (g *GitHub) StartJob(name, job string) bool {
	g.Mu.Lock()
	defer g.Mu.Unlock()
	if r := g.Runners[name]; r != nil && r.Online && r.Job == "" {
		r.Job, r.JobStart = job, g.w.Now()
		return true
	}
	return false
}

// FinishJob ends the runner's job; GitHub then removes the ephemeral registration.
func (g *GitHub) FinishJob(name string) {
	g.Mu.Lock()
	defer g.Mu.Unlock()
	g.finishLocked(name, g.w.Now())
}

func (g *GitHub) finishLocked(name string, now time.Time) {
	r := g.Runners[name]
	if r == nil {
		return
	}
	if j := g.Jobs[r.Job]; j != nil && j.Done.IsZero() {
		j.Done = now
		g.post(r.SetID, Message{Completed: true, JobID: j.ID, Runner: name, Queued: j.Queued}, now)
	}
	delete(g.Runners, name)
}

// Has reports whether a registration of that name exists.
func (g *GitHub) Has(name string) bool {
	g.Mu.Lock()
	defer g.Mu.Unlock()
	return g.Runners[name] != nil
}

// QueueJob queues a job on a scale set; Step hands it to an idle online
// runner of that set and finishes it after d.
func (g *GitHub) QueueJob(setID int, id string, d time.Duration) {
	g.Mu.Lock()
	defer g.Mu.Unlock()
	g.Jobs[id] = &Job{ID: id, SetID: setID, Duration: d, Queued: g.w.Now()}
	g.JobOrder = append(g.JobOrder, id)
}

// Assigned is the scale set's TotalAssignedJobs: jobs queued or running on it.
func (g *GitHub) Assigned(setID int) int {
	g.Mu.Lock()
	defer g.Mu.Unlock()
	n := 0
	for _, j := range g.Jobs {
		if j.SetID == setID && j.Done.IsZero() && j.Killed.IsZero() {
			n++
		}
	}
	return n
}

// post queues a message for the listener with a random delay. Caller holds Mu.
func (g *GitHub) post(setID int, m Message, now time.Time) {
	m.At = now
	if g.MessageDelay > 0 {
		m.At = now.Add(time.Duration(g.rand.Int64N(int64(g.MessageDelay))))
	}
	g.outbox[setID] = append(g.outbox[setID], m)
}

// step assigns queued jobs (oldest first) to idle online runners and ends
// jobs whose time is up; it returns the runners whose job ended.
func (g *GitHub) step(now time.Time) []string {
	g.Mu.Lock()
	defer g.Mu.Unlock()
	var done []string
	names := make([]string, 0, len(g.Runners))
	for n := range g.Runners {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := g.Runners[n]
		if j := g.Jobs[r.Job]; j != nil && !now.Before(j.Started.Add(j.Duration)) {
			g.finishLocked(n, now)
			done = append(done, n)
		}
	}
	for _, id := range g.JobOrder {
		j := g.Jobs[id]
		if !j.Started.IsZero() || !j.Killed.IsZero() {
			continue
		}
		for _, n := range names {
			r := g.Runners[n]
			if r != nil && r.SetID == j.SetID && r.Online && r.Job == "" {
				r.Job, r.JobStart = id, now
				j.Started, j.Runner = now, n
				g.post(r.SetID, Message{JobID: id, Runner: n, Queued: j.Queued, Assigned: now}, now)
				break
			}
		}
	}
	return done
}

// instanceStopped is an instance ceasing to run: its runner goes offline and
// a job on it is killed (GitHub fails it after the runner's heartbeat stops).
func (g *GitHub) instanceStopped(id, cause string, now time.Time) {
	g.Mu.Lock()
	defer g.Mu.Unlock()
	r := g.Runners[id]
	if r == nil {
		return
	}
	r.Online = false
	if r.Job == "" {
		return
	}
	if j := g.Jobs[r.Job]; j != nil {
		j.Killed, j.KillCause = now, cause
		g.post(r.SetID, Message{Completed: true, JobID: j.ID, Runner: id, Queued: j.Queued}, now)
	} else {
		g.killed = append(g.killed, Kill{Runner: id, Job: r.Job, Started: r.JobStart, At: now, Cause: cause})
	}
	// GitHub removes the ephemeral registration once the job fails.
	delete(g.Runners, id)
}

// Kill is a job (started by a call-by-call test, without a Job record) that
// died with its instance.
type Kill struct {
	Runner, Job, Cause string
	Started, At        time.Time
}

// Killed lists the kills of call-by-call jobs.
func (g *GitHub) Killed() []Kill {
	g.Mu.Lock()
	defer g.Mu.Unlock()
	return append([]Kill(nil), g.killed...)
}

// DropMessages loses every message not yet delivered (a controller crash
// after the listener acknowledged them).
func (g *GitHub) DropMessages() {
	g.Mu.Lock()
	defer g.Mu.Unlock()
	g.outbox = map[int][]Message{}
}

// Deliver plays the listener for one scale set: every deliverable message
// (minus those lost at LossRate) goes to the scaler, then the statistics,
// which come with every message, when the assigned count changed, and at the
// end of every long poll.
func (g *GitHub) Deliver(ctx context.Context, setID int, s listener.Scaler) error {
	now := g.w.Now()
	g.Mu.Lock()
	var due, later []Message
	for _, m := range g.outbox[setID] {
		if now.Before(m.At) {
			later = append(later, m)
		} else if g.LossRate == 0 || g.rand.Float64() >= g.LossRate {
			due = append(due, m)
		}
	}
	g.outbox[setID] = later
	g.Mu.Unlock()
	var errs []error
	for _, m := range due {
		base := scaleset.JobMessageBase{JobID: m.JobID, QueueTime: m.Queued, RunnerAssignTime: m.Assigned}
		if m.Completed {
			errs = append(errs, s.HandleJobCompleted(ctx, &scaleset.JobCompleted{RunnerName: m.Runner, Result: "succeeded", JobMessageBase: base}))
		} else {
			errs = append(errs, s.HandleJobStarted(ctx, &scaleset.JobStarted{RunnerName: m.Runner, JobMessageBase: base}))
		}
	}
	assigned := g.Assigned(setID)
	g.Mu.Lock()
	last, seen := g.lastStats[setID]
	send := len(due) > 0 || !seen || last.assigned != assigned || now.Sub(last.at) >= LongPoll
	if send {
		g.lastStats[setID] = statsSeen{at: now, assigned: assigned}
	}
	g.Mu.Unlock()
	if !send {
		return errors.Join(errs...)
	}
	_, err := s.HandleDesiredRunnerCount(ctx, assigned)
	return errors.Join(append(errs, err)...)
}
