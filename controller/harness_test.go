package controller

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/actions/scaleset"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/world"
)

// The fakes live in internal/fleetsim/world, shared with the fleet simulator;
// this file only wires a controller to one world.

func apiErr(code, msg string) error { return world.APIError(code, msg) }

func ghErr(status int, retryAfter time.Duration) error { return world.HTTPError(status, retryAfter) }

type harness struct {
	t        testing.TB
	clock    *world.Clock
	w        *world.World
	gh       *world.GitHub
	c        *Controller
	github   *GitHub
	logs     *bytes.Buffer
	metrics  *bytes.Buffer
	connects int
	delays   []time.Duration
	mu       sync.Mutex
	// tolerate makes reconcile and sweep failures expected (injected faults).
	tolerate bool
	// ssm, when set, stands between the controller and the world's SSM.
	ssm SSMAPI
}

func testSettings() settings.Settings {
	return settings.Settings{
		Environment: "dev", Region: "us-east-1", Repository: "Sage-Bionetworks/synapse-ops-dev",
		GitHubURL: "https://github.com/Sage-Bionetworks/synapse-ops-dev", CredentialSecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:gh",
		CredentialKind: settings.CredentialApp, JitParameterPrefix: "/synapse-ops-runners/dev/jit/", EventQueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/events",
		AlarmTopicArn: "arn:aws:sns:us-east-1:123456789012:alarms",
		Pools: []settings.Pool{
			{Name: "default", ScaleSetName: "synapse-dev", RunnerGroup: "ops", Labels: []string{"synapse-dev"}, AutoScalingGroupName: "asg-default",
				LaunchHookName: "launch", TerminateHookName: "terminate", Min: 0, Max: 5, Spot: true, SpotFallbackToOnDemand: true,
				BootGraceMinutes: 10, NoJobTimeoutMinutes: 30, MaxRuntimeHours: 8},
			{Name: "long", ScaleSetName: "synapse-dev-long", RunnerGroup: "ops", AutoScalingGroupName: "asg-long",
				LaunchHookName: "launch", TerminateHookName: "terminate", Min: 0, Max: 3,
				BootGraceMinutes: 10, NoJobTimeoutMinutes: 30, MaxRuntimeHours: 31},
		},
	}
}

// newWorld builds a world with the settings' groups. Hooks have no timeout
// unless a test sets one (call-by-call tests jump the clock by hours).
func newWorld(s settings.Settings, o world.Options) *world.World {
	o.JitPrefix = s.JitParameterPrefix
	w := world.New(o)
	for _, p := range s.Pools {
		g := w.AddGroup(p.AutoScalingGroupName, p.Min, p.Max, p.TerminateHookName != "")
		g.LaunchHook.Name = p.LaunchHookName
		if g.TerminateHook != nil {
			g.TerminateHook.Name = p.TerminateHookName
		}
	}
	return w
}

func newHarness(t testing.TB, mods ...func(*settings.Settings)) *harness {
	t.Helper()
	s := testSettings()
	for _, m := range mods {
		m(&s)
	}
	w := newWorld(s, world.Options{})
	h := &harness{t: t, clock: w.Clock, w: w, gh: w.GitHub, logs: &bytes.Buffer{}, metrics: &bytes.Buffer{}}
	h.restart(s)
	if err := h.c.EnsureScaleSets(context.Background()); err != nil {
		t.Fatalf("ensure scale sets: %v", err)
	}
	return h
}

// restart builds a fresh controller over the same world: everything in memory is lost.
func (h *harness) restart(s settings.Settings) {
	h.t.Helper()
	log := slog.New(slog.NewJSONHandler(&LockedWriter{W: h.logs}, nil))
	retry := Backoff{Sleep: func(_ context.Context, d time.Duration) error {
		h.mu.Lock()
		h.delays = append(h.delays, d)
		h.mu.Unlock()
		return nil
	}}
	connect := func(context.Context) (*Connection, error) {
		h.mu.Lock()
		h.connects++
		h.mu.Unlock()
		return &Connection{API: h.gh, Lister: h.gh}, nil
	}
	gh, err := NewGitHub(context.Background(), connect, retry, log)
	if err != nil {
		h.t.Fatal(err)
	}
	var ssmAPI SSMAPI = h.w.SSM
	if h.ssm != nil {
		ssmAPI = h.ssm
	}
	c, err := New(Options{Settings: s, GitHub: gh, AutoScaling: h.w.AutoScaling, EC2: h.w.EC2, SSM: ssmAPI, SQS: h.w.SQS, SNS: h.w.SNS,
		Metrics: NewMetrics(&LockedWriter{W: h.metrics}, "Test", s.Environment, h.clock.Now), Logger: log, Now: h.clock.Now, Retry: retry})
	if err != nil {
		h.t.Fatal(err)
	}
	h.c, h.github = c, gh
}

// restartSame restarts with the settings the controller had, re-ensuring scale sets.
func (h *harness) restartSame() {
	h.restart(h.c.s)
	if err := h.c.EnsureScaleSets(context.Background()); err != nil && !h.tolerate {
		h.t.Fatal(err)
	}
}

func (h *harness) demand(pool string, assigned int) int {
	n, err := h.c.Pool(pool).HandleDesiredRunnerCount(context.Background(), assigned)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *harness) reconcile() {
	if err := h.c.Reconcile(context.Background()); err != nil && !h.tolerate {
		h.t.Fatal(err)
	}
}

func (h *harness) sweep() {
	if err := h.c.Sweep(context.Background()); err != nil && !h.tolerate {
		h.t.Fatal(err)
	}
}

// provisioned scales the pool to n jobs, lets Auto Scaling launch and the
// controller provision; it returns the new instance ids.
func (h *harness) provisioned(pool string, n int) []string {
	h.demand(pool, n)
	ids := h.w.Tick()
	h.reconcile()
	return ids
}

// boot plays an instance's boot script: read and delete the config, start the runner.
func (h *harness) boot(id string) {
	h.w.Mu.Lock()
	delete(h.w.Params, h.c.s.JitParameterPrefix+id)
	h.w.Mu.Unlock()
	h.gh.RunnerOnline(id)
}

func (h *harness) started(pool, id, job string) {
	h.gh.StartJob(id, job)
	_ = h.c.Pool(pool).HandleJobStarted(context.Background(), &scaleset.JobStarted{RunnerName: id, JobMessageBase: scaleset.JobMessageBase{JobID: job, QueueTime: h.clock.Now().Add(-20 * time.Second)}})
}

func (h *harness) completed(pool, id, job string) {
	_ = h.c.Pool(pool).HandleJobCompleted(context.Background(), &scaleset.JobCompleted{RunnerName: id, Result: "succeeded", JobMessageBase: scaleset.JobMessageBase{JobID: job}})
}

func (h *harness) lifecycle(id string) string {
	h.w.Mu.Lock()
	defer h.w.Mu.Unlock()
	if i := h.w.Instances[id]; i != nil {
		return i.Lifecycle
	}
	return "gone"
}

func (h *harness) terminatedIDs() []string {
	h.w.Mu.Lock()
	defer h.w.Mu.Unlock()
	var out []string
	for _, t := range h.w.Terms {
		out = append(out, t.ID)
	}
	return out
}

func (h *harness) desired(group string) int {
	h.w.Mu.Lock()
	defer h.w.Mu.Unlock()
	return h.w.Groups[group].Desired
}
