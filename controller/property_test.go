package controller

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/actions/scaleset"

	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/world"
)

// TestPropertyRandomInterleavings drives the controller through random
// interleavings of demand changes, Auto Scaling launches, boots, job starts and
// completions (with JobStarted/JobCompleted messages delayed, duplicated and
// reordered), lifecycle events, reconciles, sweeps, clock jumps, controller
// restarts and injected GitHub and AWS failures. It asserts that
//   - no instance whose job is running is ever terminated by the controller,
//     unless that job has run past its pool's maximum runtime (counted from
//     the job's start, not the instance's launch), and
//   - once demand is gone, every run converges to zero instances, zero runner
//     registrations and zero JIT configs; in the runs whose long pool has a
//     warm pool, its instances end prepared and stopped (none left waiting in
//     the launch hook, none ever given a JIT config while warm), and
//   - in those runs, where each warm pool entry tags itself ready after a
//     random delay (or never), no entry's launch hook is continued before it
//     is ready, none is abandoned by the controller before the limit
//     (max(2 x boot grace, 30 minutes) since launch), and once reconciles come
//     every minute no hook times out for want of a heartbeat.
func TestPropertyRandomInterleavings(t *testing.T) {
	seeds := 200
	if testing.Short() || raceEnabled {
		seeds = 15
	}
	var jobs, removals int
	var warm warmActivity
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			j, r, w := runProperty(t, uint64(seed))
			jobs, removals = jobs+j, removals+r
			warm.heartbeats, warm.abandoned = warm.heartbeats+w.heartbeats, warm.abandoned+w.abandoned
		})
	}
	// Guard against a simulation that never exercises anything.
	if jobs < seeds || removals < seeds {
		t.Fatalf("simulation too quiet: %d jobs handed to runners, %d controller terminations", jobs, removals)
	}
	if warm.heartbeats == 0 || warm.abandoned == 0 {
		t.Fatalf("warm pool readiness never exercised: %d heartbeats on preparing entries, %d abandoned", warm.heartbeats, warm.abandoned)
	}
	t.Logf("%d seeds: %d jobs handed to runners, %d controller terminations; warm pool entries: %d heartbeats, %d abandoned",
		seeds, jobs, removals, warm.heartbeats, warm.abandoned)
}

type simMsg struct {
	pool, runner, Job string
	Completed         bool
}

func runProperty(t *testing.T, seed uint64) (jobsStarted, removals int, w warmActivity) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	h := newHarness(t)
	h.tolerate = true
	warmPool := seed%3 == 0
	warmLimit := warmReadyLimit(h.c.s.Pools[1])
	if warmPool {
		g := h.w.Groups["asg-long"]
		g.WarmPool, g.WarmMin = true, 1
		g.LaunchHook.Timeout = time.Duration(h.c.s.Pools[1].BootGraceMinutes) * time.Minute
		g.WarmReadyAfter = func() time.Duration {
			if rng.IntN(8) == 0 {
				return -1 // a boot script that never finishes
			}
			return time.Duration(rng.IntN(26)) * time.Minute
		}
	}
	ctx := context.Background()
	pools := []string{"default", "long"}
	groupOf := map[string]string{"default": "asg-default", "long": "asg-long"}
	maxRuntime := map[string]time.Duration{"asg-default": 8 * time.Hour, "asg-long": 31 * time.Hour}
	pending := map[string]int{}
	var inbox []simMsg
	jobN := 0

	h.w.OnTerminate = func(id string) {
		removals++
		// Called with the fake's lock released; read the truth from GitHub's side.
		h.gh.Mu.Lock()
		r := h.gh.Runners[id]
		running := r != nil && r.Job != ""
		var jobStart time.Time
		if running {
			jobStart = r.JobStart
		}
		h.gh.Mu.Unlock()
		if !running {
			return
		}
		h.w.Mu.Lock()
		i := h.w.Instances[id]
		h.w.Mu.Unlock()
		if i != nil && h.clock.Now().Sub(jobStart) >= maxRuntime[i.Group] {
			return
		}
		t.Errorf("seed %d: instance %s terminated while its job runs", seed, id)
	}

	running := func(pool string) int {
		h.gh.Mu.Lock()
		defer h.gh.Mu.Unlock()
		n := 0
		for name, r := range h.gh.Runners {
			h.w.Mu.Lock()
			i := h.w.Instances[name]
			h.w.Mu.Unlock()
			if r.Job != "" && i != nil && i.Group == groupOf[pool] {
				n++
			}
		}
		return n
	}
	instancesOf := func(group, state string) []string {
		h.w.Mu.Lock()
		defer h.w.Mu.Unlock()
		var out []string
		for _, id := range h.w.Order {
			if i := h.w.Instances[id]; i.Group == group && (state == "" || i.Lifecycle == state) {
				out = append(out, id)
			}
		}
		return out
	}
	pick := func(ids []string) string {
		if len(ids) == 0 {
			return ""
		}
		return ids[rng.IntN(len(ids))]
	}
	deliver := func(all bool) {
		rng.Shuffle(len(inbox), func(i, j int) { inbox[i], inbox[j] = inbox[j], inbox[i] })
		n := len(inbox)
		if !all {
			n = rng.IntN(len(inbox) + 1)
		}
		for _, m := range inbox[:n] {
			s := h.c.Pool(m.pool)
			if m.Completed {
				_ = s.HandleJobCompleted(ctx, &scaleset.JobCompleted{RunnerName: m.runner, JobMessageBase: scaleset.JobMessageBase{JobID: m.Job}})
			} else {
				_ = s.HandleJobStarted(ctx, &scaleset.JobStarted{RunnerName: m.runner, JobMessageBase: scaleset.JobMessageBase{JobID: m.Job}})
			}
		}
		inbox = inbox[n:]
	}
	finish := func(pool, id string) {
		h.gh.Mu.Lock()
		r := h.gh.Runners[id]
		job := ""
		if r != nil {
			job = r.Job
		}
		h.gh.Mu.Unlock()
		if job == "" {
			return
		}
		h.gh.FinishJob(id)
		inbox = append(inbox, simMsg{pool: pool, runner: id, Job: job, Completed: true})
		if rng.IntN(10) < 8 { // the boot script's self-termination sometimes fails
			h.w.Mu.Lock()
			h.w.SelfTerminateLocked(id, true)
			h.w.Mu.Unlock()
		}
	}
	failures := []func(){
		func() { h.gh.FailNext("GenerateJitRunnerConfig", ghErr(502, 0)) },
		func() { h.gh.FailNext("GenerateJitRunnerConfig", ghErr(429, time.Second)) },
		func() { h.gh.FailNext("GenerateJitRunnerConfig", ghErr(401, 0)) },
		func() { h.gh.FailNext("RemoveRunner", ghErr(503, 0), ghErr(503, 0), ghErr(503, 0), ghErr(503, 0)) },
		func() { h.gh.FailNext("GetRunnerByName", ghErr(500, 0), ghErr(500, 0), ghErr(500, 0), ghErr(500, 0)) },
		func() { h.gh.FailNext("ListRegistrations", ghErr(502, 0), ghErr(502, 0), ghErr(502, 0), ghErr(502, 0)) },
		func() { h.w.FailNext("SetDesiredCapacity", apiErr("Throttling", "Rate exceeded")) },
		func() {
			h.w.FailNext("CompleteLifecycleAction", apiErr("Throttling", "x"), apiErr("Throttling", "x"), apiErr("Throttling", "x"), apiErr("Throttling", "x"))
		},
		func() {
			h.w.FailNext("TerminateInstanceInAutoScalingGroup", apiErr("InternalError", "x"), apiErr("InternalError", "x"), apiErr("InternalError", "x"), apiErr("InternalError", "x"))
		},
		func() { h.w.FailNext("PutParameter", apiErr("ThrottlingException", "x")) },
		func() {
			h.w.FailNext("DescribeInstances", apiErr("RequestLimitExceeded", "x"), apiErr("RequestLimitExceeded", "x"), apiErr("RequestLimitExceeded", "x"), apiErr("RequestLimitExceeded", "x"))
		},
		func() {
			h.w.FailNext("CreateTags", apiErr("InternalError", "x"), apiErr("InternalError", "x"), apiErr("InternalError", "x"), apiErr("InternalError", "x"))
		},
		func() {
			h.w.FailNext("RecordLifecycleActionHeartbeat", apiErr("Throttling", "x"), apiErr("Throttling", "x"), apiErr("Throttling", "x"), apiErr("Throttling", "x"))
		},
	}

	for range 120 {
		pool := pools[rng.IntN(len(pools))]
		group := groupOf[pool]
		switch op := rng.IntN(13); op {
		case 0: // a job is queued
			pending[pool]++
			h.demand(pool, pending[pool]+running(pool))
		case 1: // a queued job is cancelled
			if pending[pool] > 0 {
				pending[pool]--
			}
			h.demand(pool, pending[pool]+running(pool))
		case 2:
			h.w.Tick()
		case 3:
			h.reconcile()
		case 4: // a lifecycle event, possibly a duplicate
			_ = h.c.HandleEvent(ctx, `{"detail-type":"`+EventLaunch+`","detail":{"AutoScalingGroupName":"`+group+`"}}`)
		case 5: // an instance boots
			if id := pick(instancesOf(group, stateInService)); id != "" {
				h.w.Mu.Lock()
				_, has := h.w.Params[h.c.s.JitParameterPrefix+id]
				h.w.Mu.Unlock()
				if has {
					h.boot(id)
				}
			}
		case 6: // GitHub hands a queued job to an idle online runner
			if id := pick(instancesOf(group, stateInService)); id != "" && pending[pool] > 0 {
				jobN++
				job := fmt.Sprintf("job-%d", jobN)
				if h.gh.StartJob(id, job) {
					pending[pool]--
					inbox = append(inbox, simMsg{pool: pool, runner: id, Job: job})
					if rng.IntN(4) == 0 {
						inbox = append(inbox, simMsg{pool: pool, runner: id, Job: job}) // duplicate
					}
				}
			}
		case 7: // a job completes
			finish(pool, pick(instancesOf(group, "")))
		case 8:
			deliver(false)
		case 9:
			h.sweep()
		case 10:
			h.clock.Advance(time.Duration(rng.IntN(6)) * time.Minute)
		case 11:
			h.restartSame()
		case 12:
			failures[rng.IntN(len(failures))]()
		}
		if warmPool {
			h.w.Mu.Lock()
			for _, w := range h.w.WarmIn("asg-long") {
				if _, ok := h.w.Params[h.c.s.JitParameterPrefix+w.ID]; ok {
					t.Errorf("seed %d: warm instance %s (%s) has a JIT config", seed, w.ID, w.Lifecycle)
				}
			}
			h.w.Mu.Unlock()
		}
	}

	// Demand goes away: every job ends, every message arrives, faults stop.
	h.gh.ClearFaults()
	h.w.ClearFaults()
	for _, pool := range pools {
		pending[pool] = 0
		for _, id := range instancesOf(groupOf[pool], "") {
			finish(pool, id)
		}
	}
	deliver(true)
	for round := 0; round < 12; round++ {
		for _, pool := range pools {
			h.demand(pool, 0)
		}
		h.w.Tick()
		h.reconcile()
		h.sweep()
		h.clock.Advance(11 * time.Minute)
	}
	if warmPool {
		// The warm pool settles with a reconcile a minute, as the controller
		// runs (the 11-minute jumps above outrun any heartbeat): first with
		// some boot scripts that never finish, then with all finishing, so
		// one launched before that switch is abandoned at the limit.
		h.w.Mu.Lock()
		h.w.AdvanceLocked() // hooks the last 11-minute jump outran time out now
		expired := len(h.w.Expired)
		h.w.Mu.Unlock()
		minutes := 3 * warmLimit / time.Minute
		for m := range minutes {
			if m == minutes/3 {
				h.w.Mu.Lock()
				h.w.Groups["asg-long"].WarmReadyAfter = func() time.Duration { return time.Duration(rng.IntN(26)) * time.Minute }
				h.w.Mu.Unlock()
			}
			h.w.Tick()
			h.reconcile()
			h.clock.Advance(time.Minute)
		}
		h.w.Tick()
		h.reconcile()
		h.w.Mu.Lock()
		if n := len(h.w.Expired); n != expired {
			t.Errorf("seed %d: %d warm pool launch hooks timed out although the controller reconciled every minute: %v", seed, n-expired, h.w.Expired[expired:])
		}
		h.w.Mu.Unlock()
	}
	h.w.Mu.Lock()
	defer h.w.Mu.Unlock()
	if len(h.w.CutShort) != 0 {
		t.Errorf("seed %d: warm pool entries continued before they were ready (stopped mid-installation): %v", seed, h.w.CutShort)
	}
	for _, a := range h.w.WarmAbandoned {
		if a.Tagged || a.Age < warmLimit {
			t.Errorf("seed %d: warm pool entry %s abandoned after %s (limit %s), ready tag %v", seed, a.ID, a.Age, warmLimit, a.Tagged)
		}
	}
	h.gh.Mu.Lock()
	defer h.gh.Mu.Unlock()
	states := map[string]string{}
	for id, i := range h.w.Instances {
		if world.IsWarm(i) && i.Lifecycle == "Warmed:Stopped" {
			continue // the warm pool's standing capacity, prepared and stopped
		}
		states[id] = i.Lifecycle
	}
	if len(states) != 0 || len(h.gh.Runners) != 0 || len(h.w.Params) != 0 {
		t.Fatalf("seed %d did not converge: instances %v registrations %d configs %d", seed, states, len(h.gh.Runners), len(h.w.Params))
	}
	if warmPool && len(h.w.WarmIn("asg-long")) != 1 {
		t.Fatalf("seed %d: warm pool holds %d instances, want 1", seed, len(h.w.WarmIn("asg-long")))
	}
	for id, hooks := range h.w.Beats {
		if i := h.w.Instances[id]; i == nil || world.IsWarm(i) {
			w.heartbeats += len(hooks)
		}
	}
	w.abandoned = len(h.w.WarmAbandoned)
	return jobN, removals, w
}

// warmActivity is what a run did with warm pool entries still preparing.
type warmActivity struct{ heartbeats, abandoned int }
