package controller

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/world"
)

// sim runs the controller against the world in simulated time, the way it
// runs in AWS: the world steps every simStep, the listener delivers the scale
// set's messages, the controller reconciles every step and sweeps every 3
// minutes. Hooks time out as the construct configures them (launch: boot
// grace, ABANDON; terminate: 15 minutes or 2 hours for the long pool, CONTINUE).
type sim struct {
	t     testing.TB
	w     *world.World
	s     settings.Settings
	c     *Controller
	logs  *bytes.Buffer
	trace []string
	// down: the controller process is not running (crash or deploy).
	down     bool
	restarts int
	step     int
}

// simStep is the reconcile interval of the simulation: a minute (the
// settings' reconcileSeconds, 30 s by default, is kept short for latency; the
// safety properties only need it well inside the hooks' timeouts).
const simStep = time.Minute

func newSim(t testing.TB, seed uint64, mods ...func(*settings.Settings)) *sim {
	t.Helper()
	s := testSettings()
	for _, m := range mods {
		m(&s)
	}
	s.ReconcileSeconds = int(simStep / time.Second)
	w := newWorld(s, world.Options{Seed: seed, Agents: true})
	for _, p := range s.Pools {
		g := w.Groups[p.AutoScalingGroupName]
		g.LaunchHook.Timeout = time.Duration(p.BootGraceMinutes) * time.Minute
		// As config.Pool.TerminateHookTimeout: 15 minutes, 2 hours for a long
		// pool (whose hook then holds a busy runner 48 h instead of 25).
		g.TerminateHook.Timeout = 15 * time.Minute
		if p.Name == "long" {
			g.TerminateHook.Timeout = 2 * time.Hour
		}
		if p.Spot {
			g.OnDemandPct = 0
			g.InstanceTypes = []string{"t4g.large", "m7g.large", "c7g.large"}
		}
	}
	sm := &sim{t: t, w: w, s: s, logs: &bytes.Buffer{}}
	sm.start()
	return sm
}

// start builds a fresh controller: nothing of the previous one's memory survives.
func (sm *sim) start() {
	sm.t.Helper()
	log := slog.New(slog.NewJSONHandler(&LockedWriter{W: sm.logs}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	retry := Backoff{Sleep: func(context.Context, time.Duration) error { return nil }}
	gh, err := NewGitHub(context.Background(), func(context.Context) (*Connection, error) {
		return &Connection{API: sm.w.GitHub, Lister: sm.w.GitHub}, nil
	}, retry, log)
	if err != nil {
		sm.t.Fatal(err)
	}
	c, err := New(Options{Settings: sm.s, GitHub: gh, AutoScaling: sm.w.AutoScaling, EC2: sm.w.EC2, SSM: sm.w.SSM, SQS: sm.w.SQS, SNS: sm.w.SNS,
		Logger: log, Now: sm.w.Now, Retry: retry})
	if err != nil {
		sm.t.Fatal(err)
	}
	_ = c.EnsureScaleSets(context.Background())
	sm.c, sm.down = c, false
}

// restart kills the controller (in-memory state and undelivered messages
// lost) and starts a new one.
func (sm *sim) restart() {
	sm.w.GitHub.DropMessages()
	sm.restarts++
	sm.logf("controller restarted")
	sm.start()
}

func (sm *sim) logf(format string, args ...any) {
	sm.trace = append(sm.trace, fmt.Sprintf("%s %s", sm.w.Now().Format("Jan 2 15:04:05"), fmt.Sprintf(format, args...)))
}

// setID is the world's scale set id of the named pool.
func (sm *sim) setID(pool string) int {
	sm.w.GitHub.Mu.Lock()
	defer sm.w.GitHub.Mu.Unlock()
	for id, set := range sm.w.GitHub.Sets {
		for _, p := range sm.s.Pools {
			if p.Name == pool && set.Name == p.ScaleSetName {
				return id
			}
		}
	}
	return 0
}

// queue puts a job of duration d on the pool's scale set.
func (sm *sim) queue(pool, id string, d time.Duration) {
	sm.w.GitHub.QueueJob(sm.setID(pool), id, d)
	sm.logf("job %s queued on %s for %s", id, pool, d)
}

// tick is one step of the world and, unless it is down, the controller.
func (sm *sim) tick() {
	sm.step++
	sm.w.Step(simStep)
	if sm.down {
		return
	}
	ctx := context.Background()
	for _, p := range sm.s.Pools {
		if id := sm.c.ScaleSetID(p.Name); id != 0 {
			_ = sm.w.GitHub.Deliver(ctx, id, sm.c.Pool(p.Name))
		}
	}
	_ = sm.c.Reconcile(ctx)
	if sm.step%3 == 0 { // the sweeper: every 3 minutes
		_ = sm.c.Sweep(ctx)
	}
}

func (sm *sim) run(d time.Duration) {
	for range int(d / simStep) {
		sm.tick()
	}
}

// killed lists the jobs that died with their instance for a reason the
// controller answers for: everything but a spot reclaim, and a job past its
// pool's maximum runtime (the watchdog's one exception).
func (sm *sim) killed() []string {
	sm.w.GitHub.Mu.Lock()
	defer sm.w.GitHub.Mu.Unlock()
	maxRun := map[int]time.Duration{}
	for id, set := range sm.w.GitHub.Sets {
		for _, p := range sm.s.Pools {
			if set.Name == p.ScaleSetName {
				maxRun[id] = time.Duration(p.MaxRuntimeHours) * time.Hour
			}
		}
	}
	var out []string
	for _, id := range sm.w.GitHub.JobOrder {
		j := sm.w.GitHub.Jobs[id]
		if j.Killed.IsZero() || j.KillCause == "spot-interruption" || j.Killed.Sub(j.Started) >= maxRun[j.SetID] {
			continue
		}
		out = append(out, fmt.Sprintf("%s on %s after %s (%s)", id, j.Runner, j.Killed.Sub(j.Started), j.KillCause))
	}
	return out
}

func (sm *sim) mustNotKill() {
	sm.t.Helper()
	if k := sm.killed(); len(k) > 0 {
		sm.t.Fatalf("busy runners killed: %s\ntrace:\n%s", strings.Join(k, "; "), strings.Join(sm.trace, "\n"))
	}
}

// runnerOf is the instance running job id ("" if none yet).
func (sm *sim) runnerOf(job string) string {
	sm.w.GitHub.Mu.Lock()
	defer sm.w.GitHub.Mu.Unlock()
	if j := sm.w.GitHub.Jobs[job]; j != nil {
		return j.Runner
	}
	return ""
}
