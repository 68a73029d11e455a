package driver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/latency"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/prices"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/report"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/trace"
)

func dev(t testing.TB) config.Environment {
	t.Helper()
	envs, err := config.LoadDir(filepath.Join("..", "..", "..", config.DefaultDir))
	if err != nil {
		t.Fatal(err)
	}
	sel, err := config.Select(envs, "dev")
	if err != nil {
		t.Fatal(err)
	}
	return sel[0]
}

func replay(t testing.TB, tr *trace.Trace, lat latency.Model, step time.Duration) report.Run {
	t.Helper()
	env := dev(t)
	var pools []string
	for _, p := range env.Pools {
		pools = append(pools, p.Name)
	}
	run, err := Run(Input{Env: env, Trace: tr, Seed: 1, Latency: lat, Prices: prices.Default(), Rec: report.NewRecorder(prices.Default(), pools), Step: step})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func pool(r report.Run, name string) report.Figures {
	for _, f := range r.Pools {
		if f.Pool == name {
			return f
		}
	}
	panic(name)
}

func TestGivenOneJobAndNoFaults_WhenTheControllerRuns_ThenOneLaunchAndTheModelledLatency(t *testing.T) {
	lat := latency.Default().Fixed()
	lat.MessageDelay = latency.Dist{} // delivered at once, so the wait is boot and steps only
	step := time.Second
	tr := &trace.Trace{Name: "one", Length: trace.Duration(4 * time.Hour), Jobs: []trace.Job{
		{ID: "a", Pool: "default", QueuedAt: trace.Duration(time.Hour), Duration: trace.Duration(10 * time.Minute)},
	}}
	f := pool(replay(t, tr, lat, step), "default")
	if f.Launched != 1 || f.Served != 1 || f.Killed != 0 || f.Failed != 0 {
		t.Fatalf("launched %d, served %d, killed %d, failed %d; want 1, 1, 0, 0", f.Launched, f.Served, f.Killed, f.Failed)
	}
	boot := lat.BootToUserData.Median + lat.RunnerInstall.Median + lat.JitHandover.Median
	got := time.Duration(f.QueueToStart.Max * float64(time.Second))
	// The launch, the hook's event and the boot each land on a step.
	if got < boot || got > boot+3*step {
		t.Fatalf("queue-to-start %s, want the modelled %s plus at most 3 steps of %s", got, boot, step)
	}
	if f.JobHours != 0.167 || f.PaidHours < f.JobHours || f.PaidHours > f.JobHours+0.1 {
		t.Fatalf("job-hours %v, paid %v; want 10 minutes of job and a few minutes of boot and leave", f.JobHours, f.PaidHours)
	}
}

// The driver reports what the world does to jobs: a busy spot runner
// reclaimed by AWS kills its job whatever the controller does.
func TestGivenABusySpotRunnerReclaimed_WhenTheControllerRuns_ThenTheJobIsReportedKilled(t *testing.T) {
	tr := &trace.Trace{Name: "reclaim", Length: trace.Duration(4 * time.Hour), Jobs: []trace.Job{
		{ID: "a", Pool: "default", QueuedAt: trace.Duration(time.Hour), Duration: trace.Duration(time.Hour)},
	}}
	tr.Faults.SpotInterruptions = []trace.SpotInterruption{{At: trace.Duration(time.Hour), Pool: "default", Runner: trace.TargetBusy}}
	f := pool(replay(t, tr, latency.Default(), DefaultStep), "default")
	if f.Killed != 1 || f.SpotInterruptions != 1 {
		t.Fatalf("killed %d, interruptions %d; want the reclaimed busy runner's job killed", f.Killed, f.SpotInterruptions)
	}
}

// The controller's promise, on the committed weeks: no job killed, every job
// served.
func TestGivenTheCommittedWeeks_WhenTheControllerRuns_ThenNoJobIsKilled(t *testing.T) {
	for _, file := range []string{"ops-week.json", "faults-week.json"} {
		t.Run(file, func(t *testing.T) {
			tr, err := trace.Load(filepath.Join("..", "..", "..", "sim", "traces", file))
			if err != nil {
				t.Fatal(err)
			}
			r := replay(t, tr, latency.Default(), DefaultStep)
			if r.Total.Killed != 0 || r.Total.Failed != 0 || r.Total.Served != len(tr.Jobs) {
				t.Fatalf("served %d, failed %d, killed %d of %d jobs", r.Total.Served, r.Total.Failed, r.Total.Killed, len(tr.Jobs))
			}
			if file == "faults-week.json" && (r.Total.SpotInterruptions == 0 || r.Total.OnDemandFallbacks == 0) {
				t.Fatalf("the faults week did not exercise spot: %d interruptions, %d on-demand fallbacks", r.Total.SpotInterruptions, r.Total.OnDemandFallbacks)
			}
		})
	}
}
