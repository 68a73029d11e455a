package controller

import (
	"context"
	"testing"
	"time"
)

// remove's first guard is the controller's own record of a running job: it
// never even asks GitHub to deregister such a runner. GitHub's refusal
// (JobStillRunning) is the second guard, and GitHub can be late to know a
// job runs (a job just handed to the runner); this test plays exactly that.
func TestRemoveTrustsItsOwnBusyRecordFirst(t *testing.T) {
	h := newHarness(t)
	id := h.provisioned("default", 1)[0]
	h.boot(id)
	// JobStarted arrived, but GitHub's side does not show the job yet.
	h.started("default", id, "j")
	h.gh.Mu.Lock()
	h.gh.Runners[id].Job = ""
	h.gh.Mu.Unlock()
	views, err := h.c.describe(context.Background(), h.c.pools[:1])
	must(t, err == nil, "describe: %v", err)
	p := h.c.pools[0]
	for _, in := range views[p].instances {
		must(t, !h.c.remove(context.Background(), p, in, "test", false), "busy instance removed")
	}
	must(t, h.gh.Count("RemoveRunner") == 0 && len(h.terminatedIDs()) == 0, "asked GitHub to remove a runner the controller knows is busy (%d calls), terminated %v", h.gh.Count("RemoveRunner"), h.terminatedIDs())
}

// A busy instance whose registration GitHub has dropped (the job ended, its
// JobCompleted was lost, the instance did not leave by itself) is taken as
// done by the sweeper, after a confirming lookup, and removed after the grace.
func TestSweeperEndsAJobWhoseRegistrationIsGone(t *testing.T) {
	h := newHarness(t)
	id := h.provisioned("default", 1)[0]
	h.boot(id)
	h.started("default", id, "j")
	h.gh.FinishJob(id) // no JobCompleted delivered
	h.sweep()
	must(t, len(h.terminatedIDs()) == 0, "removed before the grace")
	h.clock.Advance(DoneGrace + time.Minute)
	h.sweep()
	must(t, len(h.terminatedIDs()) == 1, "finished instance left running: %v", h.terminatedIDs())
}

// Releasing a terminating instance that never read its JIT config deletes the
// config at once, not at the next sweep.
func TestReleaseDeletesAnUnreadConfig(t *testing.T) {
	h := newHarness(t)
	id := h.provisioned("default", 1)[0]
	_, stored := h.w.Params[pfx+id]
	must(t, stored, "setup: no config")
	h.w.OperatorTerminate(id, true)
	h.reconcile()
	_, kept := h.w.Params[pfx+id]
	must(t, h.lifecycle(id) == "gone" && !kept, "released %s with its config kept: %v", h.lifecycle(id), kept)
}
