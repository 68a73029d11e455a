package controller

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/actions/scaleset"
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
	if testing.Short() {
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
	pool, runner, job string
	completed         bool
}

func runProperty(t *testing.T, seed uint64) (jobsStarted, removals int, w warmActivity) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	h := newHarness(t)
	h.tolerate = true
	warmPool := seed%3 == 0
	warmLimit := warmReadyLimit(h.c.s.Pools[1])
	if warmPool {
		g := h.aws.groups["asg-long"]
		g.warmPool, g.warmMin = true, 1
		g.hookTimeout = time.Duration(h.c.s.Pools[1].BootGraceMinutes) * time.Minute
		g.warmReadyAfter = func() time.Duration {
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

	h.aws.onTerminate = func(id string) {
		removals++
		// Called with the fake's lock released; read the truth from GitHub's side.
		h.gh.mu.Lock()
		r := h.gh.runners[id]
		running := r != nil && r.job != ""
		var jobStart time.Time
		if running {
			jobStart = r.jobStart
		}
		h.gh.mu.Unlock()
		if !running {
			return
		}
		h.aws.mu.Lock()
		i := h.aws.inst[id]
		h.aws.mu.Unlock()
		if i != nil && h.clock.Now().Sub(jobStart) >= maxRuntime[i.group] {
			return
		}
		t.Errorf("seed %d: instance %s terminated while its job runs", seed, id)
	}

	running := func(pool string) int {
		h.gh.mu.Lock()
		defer h.gh.mu.Unlock()
		n := 0
		for name, r := range h.gh.runners {
			h.aws.mu.Lock()
			i := h.aws.inst[name]
			h.aws.mu.Unlock()
			if r.job != "" && i != nil && i.group == groupOf[pool] {
				n++
			}
		}
		return n
	}
	instancesOf := func(group, state string) []string {
		h.aws.mu.Lock()
		defer h.aws.mu.Unlock()
		var out []string
		for _, id := range h.aws.order {
			if i := h.aws.inst[id]; i.group == group && (state == "" || i.lifecycle == state) {
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
			if m.completed {
				_ = s.HandleJobCompleted(ctx, &scaleset.JobCompleted{RunnerName: m.runner, JobMessageBase: scaleset.JobMessageBase{JobID: m.job}})
			} else {
				_ = s.HandleJobStarted(ctx, &scaleset.JobStarted{RunnerName: m.runner, JobMessageBase: scaleset.JobMessageBase{JobID: m.job}})
			}
		}
		inbox = inbox[n:]
	}
	finish := func(pool, id string) {
		h.gh.mu.Lock()
		r := h.gh.runners[id]
		job := ""
		if r != nil {
			job = r.job
		}
		h.gh.mu.Unlock()
		if job == "" {
			return
		}
		h.gh.finishJob(id)
		inbox = append(inbox, simMsg{pool: pool, runner: id, job: job, completed: true})
		if rng.IntN(10) < 8 { // the boot script's self-termination sometimes fails
			h.aws.mu.Lock()
			h.aws.selfTerminate(id, true)
			h.aws.mu.Unlock()
		}
	}
	failures := []func(){
		func() { h.gh.failNext("GenerateJitRunnerConfig", ghErr(502, 0)) },
		func() { h.gh.failNext("GenerateJitRunnerConfig", ghErr(429, time.Second)) },
		func() { h.gh.failNext("GenerateJitRunnerConfig", ghErr(401, 0)) },
		func() { h.gh.failNext("RemoveRunner", ghErr(503, 0), ghErr(503, 0), ghErr(503, 0), ghErr(503, 0)) },
		func() { h.gh.failNext("GetRunnerByName", ghErr(500, 0), ghErr(500, 0), ghErr(500, 0), ghErr(500, 0)) },
		func() { h.gh.failNext("ListRegistrations", ghErr(502, 0), ghErr(502, 0), ghErr(502, 0), ghErr(502, 0)) },
		func() { h.aws.failNext("SetDesiredCapacity", apiErr("Throttling", "Rate exceeded")) },
		func() {
			h.aws.failNext("CompleteLifecycleAction", apiErr("Throttling", "x"), apiErr("Throttling", "x"), apiErr("Throttling", "x"), apiErr("Throttling", "x"))
		},
		func() {
			h.aws.failNext("TerminateInstanceInAutoScalingGroup", apiErr("InternalError", "x"), apiErr("InternalError", "x"), apiErr("InternalError", "x"), apiErr("InternalError", "x"))
		},
		func() { h.aws.failNext("PutParameter", apiErr("ThrottlingException", "x")) },
		func() {
			h.aws.failNext("DescribeInstances", apiErr("RequestLimitExceeded", "x"), apiErr("RequestLimitExceeded", "x"), apiErr("RequestLimitExceeded", "x"), apiErr("RequestLimitExceeded", "x"))
		},
		func() {
			h.aws.failNext("CreateTags", apiErr("InternalError", "x"), apiErr("InternalError", "x"), apiErr("InternalError", "x"), apiErr("InternalError", "x"))
		},
		func() {
			h.aws.failNext("RecordLifecycleActionHeartbeat", apiErr("Throttling", "x"), apiErr("Throttling", "x"), apiErr("Throttling", "x"), apiErr("Throttling", "x"))
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
			h.aws.Tick()
		case 3:
			h.reconcile()
		case 4: // a lifecycle event, possibly a duplicate
			_ = h.c.HandleEvent(ctx, `{"detail-type":"`+EventLaunch+`","detail":{"AutoScalingGroupName":"`+group+`"}}`)
		case 5: // an instance boots
			if id := pick(instancesOf(group, stateInService)); id != "" {
				h.aws.mu.Lock()
				_, has := h.aws.params[h.c.s.JitParameterPrefix+id]
				h.aws.mu.Unlock()
				if has {
					h.boot(id)
				}
			}
		case 6: // GitHub hands a queued job to an idle online runner
			if id := pick(instancesOf(group, stateInService)); id != "" && pending[pool] > 0 {
				jobN++
				job := fmt.Sprintf("job-%d", jobN)
				if h.gh.startJob(id, job) {
					pending[pool]--
					inbox = append(inbox, simMsg{pool: pool, runner: id, job: job})
					if rng.IntN(4) == 0 {
						inbox = append(inbox, simMsg{pool: pool, runner: id, job: job}) // duplicate
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
			h.aws.mu.Lock()
			for _, w := range h.aws.warmIn("asg-long") {
				if _, ok := h.aws.params[h.c.s.JitParameterPrefix+w.id]; ok {
					t.Errorf("seed %d: warm instance %s (%s) has a JIT config", seed, w.id, w.lifecycle)
				}
			}
			h.aws.mu.Unlock()
		}
	}

	// Demand goes away: every job ends, every message arrives, faults stop.
	h.gh.next, h.gh.always, h.aws.next, h.aws.always = nil, nil, nil, nil
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
		h.aws.Tick()
		h.reconcile()
		h.sweep()
		h.clock.Advance(11 * time.Minute)
	}
	if warmPool {
		// The warm pool settles with a reconcile a minute, as the controller
		// runs (the 11-minute jumps above outrun any heartbeat): first with
		// some boot scripts that never finish, then with all finishing, so
		// one launched before that switch is abandoned at the limit.
		h.aws.mu.Lock()
		h.aws.advance() // hooks the last 11-minute jump outran time out now
		expired := len(h.aws.expired)
		h.aws.mu.Unlock()
		minutes := 3 * warmLimit / time.Minute
		for m := range minutes {
			if m == minutes/3 {
				h.aws.mu.Lock()
				h.aws.groups["asg-long"].warmReadyAfter = func() time.Duration { return time.Duration(rng.IntN(26)) * time.Minute }
				h.aws.mu.Unlock()
			}
			h.aws.Tick()
			h.reconcile()
			h.clock.Advance(time.Minute)
		}
		h.aws.Tick()
		h.reconcile()
		h.aws.mu.Lock()
		if n := len(h.aws.expired); n != expired {
			t.Errorf("seed %d: %d warm pool launch hooks timed out although the controller reconciled every minute: %v", seed, n-expired, h.aws.expired[expired:])
		}
		h.aws.mu.Unlock()
	}
	h.aws.mu.Lock()
	defer h.aws.mu.Unlock()
	if len(h.aws.cutShort) != 0 {
		t.Errorf("seed %d: warm pool entries continued before they were ready (stopped mid-installation): %v", seed, h.aws.cutShort)
	}
	for _, a := range h.aws.warmAbandoned {
		if a.tagged || a.age < warmLimit {
			t.Errorf("seed %d: warm pool entry %s abandoned after %s (limit %s), ready tag %v", seed, a.id, a.age, warmLimit, a.tagged)
		}
	}
	h.gh.mu.Lock()
	defer h.gh.mu.Unlock()
	states := map[string]string{}
	for id, i := range h.aws.inst {
		if isWarm(i) && i.lifecycle == "Warmed:Stopped" {
			continue // the warm pool's standing capacity, prepared and stopped
		}
		states[id] = i.lifecycle
	}
	if len(states) != 0 || len(h.gh.runners) != 0 || len(h.aws.params) != 0 {
		t.Fatalf("seed %d did not converge: instances %v registrations %d configs %d", seed, states, len(h.gh.runners), len(h.aws.params))
	}
	if warmPool && len(h.aws.warmIn("asg-long")) != 1 {
		t.Fatalf("seed %d: warm pool holds %d instances, want 1", seed, len(h.aws.warmIn("asg-long")))
	}
	for id, hooks := range h.aws.beats {
		if i := h.aws.inst[id]; i == nil || isWarm(i) {
			w.heartbeats += len(hooks)
		}
	}
	w.abandoned = len(h.aws.warmAbandoned)
	return jobN, removals, w
}

// warmActivity is what a run did with warm pool entries still preparing.
type warmActivity struct{ heartbeats, abandoned int }
