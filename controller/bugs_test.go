package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/world"
)

// The named scenarios of the bugs found in review. Each failed before its fix.

// startLongJob queues a 30-hour job on the long pool and runs until it runs.
func startLongJob(t *testing.T, sm *sim) string {
	t.Helper()
	sm.queue("long", "migration", 30*time.Hour)
	for range 40 {
		sm.tick()
		if id := sm.runnerOf("migration"); id != "" {
			return id
		}
	}
	t.Fatalf("job never started:\n%s", strings.Join(sm.trace, "\n"))
	return ""
}

func outage(sm *sim, gh bool, ops []string, d time.Duration, err error) {
	win := world.Window{Ops: ops, From: sm.w.Now(), To: sm.w.Now().Add(d), Err: err}
	if gh {
		sm.w.GitHub.AddWindow(win)
	} else {
		sm.w.AddWindow(win)
	}
}

func TestBug1TerminateHookHeartbeatedThroughGitHubStorm(t *testing.T) {
	sm := newSim(t, 1)
	id := startLongJob(t, sm)
	sm.w.OperatorTerminate(id, false) // or a health replacement: into the terminate hook
	outage(sm, true, nil, 2*time.Hour, ghErr(502, 0))
	sm.run(3 * time.Hour)
	sm.mustNotKill()
}

func TestBug1TerminateHookHeartbeatedThroughDescribeInstancesFailure(t *testing.T) {
	sm := newSim(t, 2)
	id := startLongJob(t, sm)
	sm.w.OperatorTerminate(id, false)
	outage(sm, false, []string{"DescribeInstances"}, time.Hour, apiErr("InternalError", "x"))
	sm.run(2 * time.Hour)
	sm.mustNotKill()
}

// A 404 that is not GitHub's runner-not-found answer proves nothing; with
// the JobStarted message not delivered yet, treating it as "no registration"
// releases a busy instance.
func TestBug2Bare404IsNotAbsenceOnRelease(t *testing.T) {
	sm := newSim(t, 3)
	sm.w.GitHub.MessageDelay = 100 * time.Hour // JobStarted not delivered
	id := startLongJob(t, sm)
	sm.w.OperatorTerminate(id, false)
	outage(sm, true, []string{"GetRunnerByName"}, time.Hour, ghErr(404, 0))
	sm.run(90 * time.Minute)
	sm.mustNotKill()
}

func TestBug2Bare404IsNotAbsenceOnRemove(t *testing.T) {
	sm := newSim(t, 4)
	sm.w.GitHub.MessageDelay = 100 * time.Hour
	startLongJob(t, sm)
	outage(sm, true, []string{"GetRunnerByName"}, 2*time.Hour, ghErr(404, 0))
	sm.run(2 * time.Hour) // past the no-job timeout: the instance looks idle
	sm.mustNotKill()
}

// racingSSM provisions a new instance between the sweeper's describe and its
// parameter list, once.
type racingSSM struct {
	SSMAPI
	race func()
}

func (r *racingSSM) DescribeParameters(ctx context.Context, in *ssm.DescribeParametersInput, opts ...func(*ssm.Options)) (*ssm.DescribeParametersOutput, error) {
	if r.race != nil {
		race := r.race
		r.race = nil
		race()
	}
	return r.SSMAPI.DescribeParameters(ctx, in, opts...)
}

func TestBug3SweeperKeepsFreshJITConfig(t *testing.T) {
	h := newHarness(t)
	r := &racingSSM{SSMAPI: h.w.SSM}
	h.ssm = r
	h.restartSame()
	var fresh []string
	r.race = func() { fresh = h.provisioned("default", 1) }
	h.sweep()
	must(t, len(fresh) == 1, "race did not provision: %v", fresh)
	_, kept := h.w.Params[pfx+fresh[0]]
	must(t, kept, "fresh JIT config of %s deleted by the sweeper", fresh[0])
}

func TestBug4ScaleInKeepsRunningRunnersWhileLaunchesFail(t *testing.T) {
	h := newHarness(t)
	id := h.provisioned("default", 1)[0]
	h.boot(id)
	h.w.ICE["t4g.large"] = true
	h.demand("default", 3)
	must(t, len(h.w.Tick()) == 0 && h.desired("asg-default") == 3, "setup: desired %d", h.desired("asg-default"))
	h.demand("default", 1)
	must(t, len(h.terminatedIDs()) == 0, "running idle runner %s terminated while the launches that never happened were counted", id)
	must(t, h.desired("asg-default") == 1, "desired %d, want 1", h.desired("asg-default"))
}

// The job-started tag can be written by the job itself (the runner role may
// tag its own instance); the watchdog must count from the controller's own
// record, whatever that tag says.
func TestBug7WatchdogIgnoresJobWrittenStartTag(t *testing.T) {
	for _, tc := range []struct {
		name   string
		forged time.Duration // relative to the real start
	}{{"future_start_evades_watchdog", 1000 * time.Hour}, {"past_start_kills_early", -100 * time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.provisioned("long", 1)[0]
			h.boot(id)
			h.started("long", id, "j")
			h.w.Mu.Lock()
			h.w.Instances[id].Tags[settings.TagJobStarted] = h.clock.Now().Add(tc.forged).UTC().Format(time.RFC3339)
			h.w.Mu.Unlock()
			h.restartSame()
			h.clock.Advance(time.Hour)
			h.sweep()
			must(t, len(h.w.Published) == 0, "watchdog fired after 1 h on a forged start")
			h.clock.Advance(31 * time.Hour)
			h.sweep()
			must(t, len(h.w.Published) == 1, "watchdog did not fire after 32 h: %v", h.w.Published)
		})
	}
}

// A second listener (or a crashed controller's session) makes every session
// creation answer 409 until it closes or expires: that is waited out, slowly,
// without counting errors or flooding the log.
func TestBug5SessionConflictBacksOffQuietly(t *testing.T) {
	h := newHarness(t)
	h.github.conn.OpenSession = func(context.Context, int) (Session, error) { return nil, ghErr(409, 0) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var delays []time.Duration
	h.c.retry.Sleep = func(_ context.Context, d time.Duration) error {
		delays = append(delays, d)
		h.clock.Advance(d)
		if len(delays) == 10 {
			cancel()
		}
		return nil
	}
	h.c.listen(ctx, h.c.pools[0])
	for _, d := range delays {
		must(t, d >= SessionConflictBackoff && d <= 2*SessionConflictBackoff, "delay %s after a 409", d)
	}
	must(t, !strings.Contains(h.metrics.String(), `"`+MetricErrors+`"`), "409 counted as an error")
	must(t, strings.Count(h.metrics.String(), `"`+MetricSessionConflicts+`":1`) == 10, "SessionConflicts not emitted per attempt")
	logged := strings.Count(h.logs.String(), "session held by another listener")
	must(t, logged >= 3 && logged <= 6, "logged %d times over %s", logged, h.clock.Now().Sub(world.Epoch))
}
