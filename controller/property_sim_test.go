package controller

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/world"
)

// propertyHours is the simulated time of one seed of TestPropertyLongRuns.
const propertyHours = 42

// propertyManySeeds, when set (make property), replaces the seed count.
var propertyManySeeds = flag.Int("property.seeds", 0, "seeds of TestPropertyLongRuns (0: 300, 40 with -short, 6 under -race)")

// propertySeeds is how many seeds go test runs; -short runs fewer, and the
// race detector (10 x slower) fewer still. `make property` runs more.
func propertySeeds() int {
	switch {
	case *propertyManySeeds > 0:
		return *propertyManySeeds
	case raceEnabled:
		return 6
	case testing.Short():
		return 40
	}
	return 300
}

// TestPropertyLongRuns runs the controller against the world model for
// propertyHours simulated hours per seed, with the invariants of
// docs/controller.md checked after every one-minute step:
//
//   - no job is killed by anything the controller did or failed to do (a
//     terminate hook it did not heartbeat, a hook it completed, an instance it
//     terminated), except a spot reclaim and a job past its pool's maximum
//     runtime;
//   - no JIT config outlives its instance by more than one sweep that could
//     run (SSM and EC2 reachable);
//   - no desired capacity is ever set outside the group's bounds;
//   - once the faults stop, every queued job is served, unless its pool was
//     full of running jobs within the last half hour.
//
// Each seed draws its own weather: jobs of minutes and of 30 hours, busy
// instances pushed into the terminate hook (health replacement, manual
// termination) and spot interruptions, controller restarts that lose every
// in-memory state and undelivered message, GitHub outages and AWS API
// outages of up to 2 hours, bare 404s, partial runner lists, capacity
// shortages per instance type, delayed and lost scale set messages, SSM's
// eventually consistent list. A failing seed prints its trace and the
// command that replays it.
func TestPropertyLongRuns(t *testing.T) {
	seeds := propertySeeds()
	var total propertyTotals
	var mu sync.Mutex
	// Seeds are independent worlds: they run in parallel (the group waits).
	t.Run("seeds", func(t *testing.T) {
		for seed := range seeds {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				t.Parallel()
				got := runLongProperty(t, uint64(seed))
				mu.Lock()
				total.add(got)
				mu.Unlock()
			})
		}
	})
	if t.Failed() {
		return
	}
	// Guard against a simulation that exercises nothing.
	if total.jobs < 10*seeds || total.longJobs < seeds || total.heldInHook < seeds/2 || total.restarts < seeds || total.spot < seeds/8 {
		t.Fatalf("simulation too quiet: %+v", total)
	}
	t.Logf("%d seeds x %d simulated hours = %d simulated hours: %+v", seeds, propertyHours, seeds*propertyHours, total)
}

type propertyTotals struct {
	jobs, longJobs, heldInHook, restarts, spot, outages, launched int
}

func (p *propertyTotals) add(o propertyTotals) {
	p.jobs += o.jobs
	p.longJobs += o.longJobs
	p.heldInHook += o.heldInHook
	p.restarts += o.restarts
	p.spot += o.spot
	p.outages += o.outages
	p.launched += o.launched
}

// scheduled is something that happens to the world at a step.
type scheduled struct {
	at   int
	what func()
}

func runLongProperty(t *testing.T, seed uint64) (tot propertyTotals) {
	rng := rand.New(rand.NewPCG(seed, 0xfeed))
	sm := newSim(t, seed)
	w := sm.w
	w.Opt.SSMListDelay = 30 * time.Second
	w.GitHub.MessageDelay = time.Duration(rng.IntN(120)) * time.Second
	w.GitHub.LossRate = float64(rng.IntN(11)) / 100
	w.Opt.LeaveFailRate = 0.1
	steps := propertyHours * int(time.Hour/simStep)
	calm := steps - 2*int(time.Hour/simStep) // the last 2 hours: no faults, no new jobs
	stepOf := func(d time.Duration) int { return int(d / simStep) }
	at := func() int { return rng.IntN(calm) }
	var plan []scheduled
	add := func(step int, what func()) { plan = append(plan, scheduled{step, what}) }

	// Jobs: short ones on both pools, up to two 30-hour ones on the long pool
	// early enough to finish.
	jobN := 0
	for step := 0; step < calm; step += 1 + rng.IntN(stepOf(40*time.Minute)) {
		pool, d := "default", time.Duration(1+rng.IntN(90))*time.Minute
		if rng.IntN(5) == 0 {
			pool, d = "long", time.Duration(10+rng.IntN(180))*time.Minute
		}
		jobN++
		id := fmt.Sprintf("job-%d", jobN)
		add(step, func() { sm.queue(pool, id, d) })
	}
	for i := range 1 + rng.IntN(2) {
		id := fmt.Sprintf("long-%d", i)
		add(rng.IntN(stepOf(8*time.Hour)), func() { sm.queue("long", id, 30*time.Hour) })
		tot.longJobs++
	}
	// Busy instances pushed into the terminate hook, spot interruptions.
	busy := func(group string) string {
		w.GitHub.Mu.Lock()
		defer w.GitHub.Mu.Unlock()
		var ids []string
		for name, r := range w.GitHub.Runners {
			if r.Job != "" {
				w.Mu.Lock()
				in := w.Instances[name]
				if in != nil && (group == "" || in.Group == group) && in.Lifecycle == world.StateInService {
					ids = append(ids, name)
				}
				w.Mu.Unlock()
			}
		}
		if len(ids) == 0 {
			return ""
		}
		slices.Sort(ids)
		return ids[rng.IntN(len(ids))]
	}
	for range 2 + rng.IntN(6) {
		add(at(), func() {
			if id := busy(""); id != "" {
				if rng.IntN(2) == 0 {
					w.MarkUnhealthy(id)
					sm.logf("%s (busy) fails its health check", id)
				} else {
					w.OperatorTerminate(id, rng.IntN(2) == 0)
					sm.logf("%s (busy) terminated by an operator", id)
				}
				tot.heldInHook++
			}
		})
	}
	for range rng.IntN(4) {
		add(at(), func() {
			w.Mu.Lock()
			var spot []string
			for _, id := range w.Order {
				if in := w.Instances[id]; in.Spot && in.Lifecycle == world.StateInService {
					spot = append(spot, id)
				}
			}
			w.Mu.Unlock()
			if len(spot) > 0 {
				id := spot[rng.IntN(len(spot))]
				if w.InterruptSpot(id) {
					w.SendEvent(`{"detail-type":"` + EventInterruption + `","detail":{"instance-id":"` + id + `"}}`)
					sm.logf("%s gets the spot interruption warning", id)
					tot.spot++
				}
			}
		})
	}
	// Controller restarts (some with a few minutes down).
	for range 2 + rng.IntN(5) {
		down := rng.IntN(stepOf(5 * time.Minute))
		s := at()
		add(s, func() { sm.down = true; sm.logf("controller down for %s", time.Duration(down)*simStep) })
		add(s+down, func() { sm.restart() })
	}
	// Outages and other weather.
	window := func(name string, d time.Duration, apply func(world.Window)) {
		s := at()
		add(s, func() {
			win := world.Window{From: w.Now(), To: w.Now().Add(d)}
			apply(win)
			sm.logf("%s for %s", name, d)
			tot.outages++
		})
	}
	upTo2h := func() time.Duration { return time.Duration(1+rng.IntN(120)) * time.Minute }
	for range rng.IntN(3) {
		window("GitHub outage (502 on every call)", upTo2h(), func(win world.Window) { win.Err = ghErr(502, 0); w.GitHub.AddWindow(win) })
	}
	for range rng.IntN(2) {
		window("GitHub rate limit (429)", upTo2h(), func(win world.Window) { win.Err = ghErr(429, time.Minute); w.GitHub.AddWindow(win) })
	}
	for range rng.IntN(2) {
		window("bare 404s on runner lookups", upTo2h(), func(win world.Window) {
			win.Ops, win.Err = []string{"GetRunnerByName", "RemoveRunner"}, ghErr(404, 0)
			w.GitHub.AddWindow(win)
		})
	}
	for range rng.IntN(2) {
		d := upTo2h()
		window("partial runner lists", d, func(world.Window) {
			w.GitHub.Mu.Lock()
			w.GitHub.PartialListUntil = w.Now().Add(d)
			w.GitHub.Mu.Unlock()
		})
	}
	awsOutages := [][]string{
		{"DescribeInstances", "CreateTags"},                           // EC2
		{"PutParameter", "DeleteParameter", "DescribeParameters"},     // SSM
		{"SetDesiredCapacity", "TerminateInstanceInAutoScalingGroup"}, // Auto Scaling writes
		{"DescribeScalingActivities", "DescribeWarmPool", "UpdateAutoScalingGroup", "ReceiveMessage"},
	}
	for range rng.IntN(3) {
		ops := awsOutages[rng.IntN(len(awsOutages))]
		window("AWS outage of "+strings.Join(ops, ", "), upTo2h(), func(win world.Window) {
			win.Ops, win.Err = ops, apiErr("ServiceUnavailable", "Service Unavailable")
			w.Mu.Lock()
			w.AddWindow(win)
			w.Mu.Unlock()
		})
	}
	for range rng.IntN(3) {
		d := upTo2h()
		types := []string{"t4g.large", "m7g.large", "c7g.large"}
		typ := types[rng.IntN(len(types))]
		if rng.IntN(3) == 0 {
			typ = "*"
		}
		s := at()
		set := func(v bool) {
			w.Mu.Lock()
			defer w.Mu.Unlock()
			for _, t := range append(types, "t4g.large") {
				if typ == "*" || t == typ {
					w.ICE[t] = v
				}
			}
		}
		add(s, func() { set(true); sm.logf("no %s capacity for %s", typ, d) })
		add(s+stepOf(d), func() { set(false) })
	}
	byStep := map[int][]func(){}
	for _, p := range plan {
		byStep[p.at] = append(byStep[p.at], p.what)
	}

	orphanSince := map[string]time.Time{}
	fail := func(format string, args ...any) {
		t.Helper()
		tail := sm.trace
		if len(tail) > 150 {
			tail = tail[len(tail)-150:]
		}
		t.Fatalf("seed %d at %s: %s\ntrace (last %d events):\n%s\nreplay: go test ./controller -run 'TestPropertyLongRuns/seeds/seed=%d$' -v",
			seed, w.Now().Format("Jan 2 15:04:05"), fmt.Sprintf(format, args...), len(tail), strings.Join(tail, "\n"), seed)
	}
	// roomSince: since when each scale set's pool has had fewer running jobs
	// than its max (zero: it is full).
	roomSince := map[int]time.Time{}
	maxOf := map[int]int{}
	for id, set := range w.GitHub.Sets {
		for _, p := range sm.s.Pools {
			if set.Name == p.ScaleSetName {
				maxOf[id] = p.Max
			}
		}
	}
	for step := range steps {
		if step == calm {
			w.GitHub.Mu.Lock()
			w.GitHub.ClearFaults()
			w.GitHub.PartialListUntil = time.Time{}
			w.GitHub.Mu.Unlock()
			w.Mu.Lock()
			w.ClearFaults()
			clear(w.ICE)
			w.Mu.Unlock()
			if sm.down {
				sm.restart()
			}
			sm.logf("calm: faults cleared, no new jobs")
		}
		for _, f := range byStep[step] {
			f()
		}
		sm.tick()

		w.GitHub.Mu.Lock()
		busyIn := map[int]int{}
		for _, r := range w.GitHub.Runners {
			if r.Job != "" {
				busyIn[r.SetID]++
			}
		}
		for id, m := range maxOf {
			switch {
			case busyIn[id] >= m:
				roomSince[id] = time.Time{}
			case roomSince[id].IsZero():
				roomSince[id] = w.Now()
			}
		}
		w.GitHub.Mu.Unlock()

		// Invariants, after every step.
		if k := sm.killed(); len(k) > 0 {
			fail("busy runner killed: %s", strings.Join(k, "; "))
		}
		w.Mu.Lock()
		if len(w.OutOfBounds) > 0 {
			w.Mu.Unlock()
			fail("desired capacity out of bounds: %v", w.OutOfBounds)
		}
		for _, g := range w.Groups {
			if g.Desired > g.Max {
				w.Mu.Unlock()
				fail("group %s desired %d > max %d", g.Name, g.Desired, g.Max)
			}
		}
		sweepable := !sm.down && !outageOn(w, "DescribeParameters") && !outageOn(w, "DescribeInstances") && !outageOn(w, "DeleteParameter")
		var stale []string
		for name := range w.Params {
			id := strings.TrimPrefix(name, sm.s.JitParameterPrefix)
			if w.Instances[id] != nil {
				delete(orphanSince, name)
				continue
			}
			since, ok := orphanSince[name]
			if !ok || !sweepable {
				orphanSince[name] = w.Now()
				continue
			}
			// One sweep interval, plus SSM's list delay and a step.
			if w.Now().Sub(since) > DefaultSweepInterval+w.Opt.SSMListDelay+2*simStep {
				stale = append(stale, fmt.Sprintf("%s (orphan since %s)", id, since.Format("15:04:05")))
			}
		}
		w.Mu.Unlock()
		if len(stale) > 0 {
			fail("JIT configs outlived their instance by more than a sweep: %v", stale)
		}
	}
	// Every queued job was served (started), unless its pool was full of
	// running jobs within the last half hour: capacity exists for it.
	w.GitHub.Mu.Lock()
	var unserved []string
	for _, id := range w.GitHub.JobOrder {
		j := w.GitHub.Jobs[id]
		tot.jobs++
		room := roomSince[j.SetID]
		if j.Started.IsZero() && !room.IsZero() && w.Now().Sub(room) >= 30*time.Minute {
			unserved = append(unserved, fmt.Sprintf("%s queued %s", id, j.Queued.Format("Jan 2 15:04")))
		}
	}
	w.GitHub.Mu.Unlock()
	if len(unserved) > 0 {
		fail("jobs never served: %v", unserved)
	}
	w.Mu.Lock()
	tot.launched = w.Stats.InstancesLaunched
	w.Mu.Unlock()
	tot.restarts = sm.restarts
	return tot
}

// outageOn reports whether a fault window on op is open now. Caller holds w.Mu.
func outageOn(w *world.World, op string) bool { return w.WindowOpen(op, w.Now()) }
