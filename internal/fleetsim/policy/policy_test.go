package policy

import (
	"testing"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/fleet"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/latency"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/prices"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/report"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/trace"
)

var pools = []fleet.Pool{
	{Name: "default", InstanceTypes: []string{"m7g.large", "m6g.large"}, Spot: true, Max: 10},
	{Name: "long", InstanceTypes: []string{"m7g.large"}, Max: 3},
}

func dur(s string) trace.Duration {
	v, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return trace.Duration(v)
}

func job(id, pool string, at, d time.Duration) trace.Job {
	return trace.Job{ID: id, Pool: pool, QueuedAt: trace.Duration(at), Duration: trace.Duration(d)}
}

// run runs a policy with every latency fixed at its median.
func run(t *testing.T, name string, tr *trace.Trace) report.Run {
	t.Helper()
	if tr.Length == 0 {
		tr.Length = dur("24h")
	}
	if err := tr.Validate(trace.Pools{Env: "test", Names: []string{"default", "long"}, InstanceTypes: []string{"m7g.large", "m6g.large"}}); err != nil {
		t.Fatal(err)
	}
	p, err := New(name, prices.Default())
	if err != nil {
		t.Fatal(err)
	}
	rec := report.NewRecorder(prices.Default(), []string{"default", "long"})
	s := fleet.New(tr, pools, latency.Default().Fixed(), rec, 1, p)
	return rec.Finish(name, p.Note(), s.Run(), 0)
}

func pool(r report.Run, name string) report.Figures {
	for _, f := range r.Pools {
		if f.Pool == name {
			return f
		}
	}
	panic(name)
}

func TestGivenOneJobAndNoFaults_WhenAnEC2PolicyRuns_ThenOneLaunchAndTheModelledLatency(t *testing.T) {
	m := latency.Default()
	// A reference policy launches directly from the webhook: no Auto Scaling activity.
	want := m.MessageDelay.Median + m.BootToUserData.Median + m.RunnerInstall.Median + m.JitHandover.Median + m.Assignment.Median
	for _, name := range []string{BusyFlag, FixedLifetime} {
		t.Run(name, func(t *testing.T) {
			// Queued off the policies' tick times, so only the webhook launches.
			r := run(t, name, &trace.Trace{Name: "one", Jobs: []trace.Job{job("a", "default", time.Hour+30*time.Second, 10*time.Minute)}})
			f := pool(r, "default")
			if f.Launched != 1 || f.Served != 1 || f.Killed != 0 || f.Failed != 0 {
				t.Fatalf("launched %d, served %d, killed %d, failed %d; want 1, 1, 0, 0", f.Launched, f.Served, f.Killed, f.Failed)
			}
			if got := time.Duration(f.QueueToStart.Max * float64(time.Second)); got != want {
				t.Fatalf("queue-to-start %s, want the modelled %s", got, want)
			}
			if f.JobHours != 0.167 {
				t.Fatalf("job-hours %v, want 10 minutes", f.JobHours)
			}
		})
	}
}

func TestGivenOneJob_WhenManagedRuns_ThenItStartsAfterProvisioningAndIsBilledPerMinute(t *testing.T) {
	r := run(t, Managed, &trace.Trace{Name: "one", Jobs: []trace.Job{job("a", "default", time.Hour, 10*time.Minute+time.Second)}})
	f := pool(r, "default")
	prov := latency.Default().ManagedProvisioning.Median
	if f.Served != 1 || f.Launched != 1 || f.QueueToStart.Max != prov.Seconds() {
		t.Fatalf("got %+v, want one build starting after %s", f, prov)
	}
	billed := (prov + 10*time.Minute + time.Second).Minutes()
	wantMinutes := float64(int(billed) + 1)
	if c := wantMinutes * prices.Default().Managed.PerMinute; f.Cost < c-0.0005 || f.Cost > c+0.0005 {
		t.Fatalf("cost %v, want %v minutes at the per-minute price", f.Cost, wantMinutes)
	}
}

func TestGivenAJobLongerThanTheLifetime_WhenFixedLifetimeRuns_ThenItIsKilled(t *testing.T) {
	r := run(t, FixedLifetime, &trace.Trace{Name: "long", Jobs: []trace.Job{job("m", "long", time.Hour, 2*time.Hour)}})
	if f := pool(r, "long"); f.Killed != 1 || f.Served != 0 {
		t.Fatalf("killed %d, served %d; want the 2-hour job killed by the 1-hour lifetime", f.Killed, f.Served)
	}
}

func TestGivenAJobLongerThanTheBuildCap_WhenManagedRuns_ThenItIsKilled(t *testing.T) {
	r := run(t, Managed, &trace.Trace{Name: "cap", Length: dur("40h"), Jobs: []trace.Job{job("m", "long", time.Hour, 37*time.Hour)}})
	if f := pool(r, "long"); f.Killed != 1 {
		t.Fatalf("killed %d; want the 37-hour job killed by the 36-hour cap", f.Killed)
	}
}

// The race of terraform-aws-github-runner issue #5085: a runner idle past the
// minimum running time takes a job seconds before the scale-down pass, whose
// runner list still shows it not busy.
func TestGivenAJobAssignedJustBeforeScaleDown_WhenBusyFlagRuns_ThenTheJobIsKilled(t *testing.T) {
	m := latency.Default()
	tick := 2 * scaleDownEvery
	// Job b starts just before the second pass; the busy flag shows it only
	// BusyFlagLag later.
	bAt := tick - m.Assignment.Median - 7*time.Second
	if m.BusyFlagLag.Median <= 7*time.Second {
		t.Fatal("scenario needs a busy-flag lag above 7s")
	}
	tr := &trace.Trace{Name: "race", Jobs: []trace.Job{
		job("a", "default", 0, time.Minute),
		job("b", "default", bAt, 10*time.Minute),
	}}
	f := pool(run(t, BusyFlag, tr), "default")
	if f.Killed != 1 || f.Served != 1 {
		t.Fatalf("killed %d, served %d; want job b killed by the scale-down pass", f.Killed, f.Served)
	}
}

func TestGivenAWeek_WhenStaticPetsRun_ThenOneInstancePerPoolPaidAllWeekAndNothingKilled(t *testing.T) {
	tr := trace.Generate(trace.GenOptions{Seed: 3, SpotTypes: []string{"m7g.large", "m6g.large"}})
	r := run(t, StaticPets, tr)
	if r.Total.Launched != 2 || r.Total.Killed != 0 || r.Total.PaidHours != 2*168 {
		t.Fatalf("got %+v; want 2 launches, 336 paid hours, none killed", r.Total)
	}
}

func TestGivenEveryFault_WhenAnyPolicyRuns_ThenEveryJobIsAccountedFor(t *testing.T) {
	tr := trace.Generate(trace.GenOptions{Seed: 1, Faults: true, SpotTypes: []string{"m7g.large", "m6g.large"}})
	for _, name := range Names {
		r := run(t, name, tr)
		if n := r.Total.Served + r.Total.Failed + r.Total.Killed; n != len(tr.Jobs) {
			t.Errorf("%s: served+failed+killed = %d, want %d jobs", name, n, len(tr.Jobs))
		}
	}
}

func TestGivenNoSpotCapacity_WhenAPolicyLaunches_ThenItFallsBackToOnDemand(t *testing.T) {
	tr := &trace.Trace{Name: "ice", Jobs: []trace.Job{job("a", "default", time.Hour, 5*time.Minute)}}
	for _, it := range []string{"m7g.large", "m6g.large"} {
		tr.Faults.CapacityShortages = append(tr.Faults.CapacityShortages, trace.CapacityShortage{Window: trace.Window{From: 0, To: dur("2h")}, InstanceType: it, Purchase: trace.PurchaseSpot})
	}
	f := pool(run(t, BusyFlag, tr), "default")
	if f.OnDemandFallbacks != 1 || f.Served != 1 {
		t.Fatalf("fallbacks %d, served %d; want one on-demand fallback serving the job", f.OnDemandFallbacks, f.Served)
	}
}

func TestGivenAnIdleRunnerInterrupted_WhenFixedLifetimeRuns_ThenTheInterruptionIsCountedAndTheJobStillRuns(t *testing.T) {
	tr := &trace.Trace{Name: "spot", Jobs: []trace.Job{
		job("a", "default", time.Hour, 5*time.Minute),
		job("b", "default", time.Hour, 5*time.Minute),
	}}
	tr.Faults.SpotInterruptions = []trace.SpotInterruption{{At: dur("1h"), Pool: "default", Runner: trace.TargetIdle}}
	f := pool(run(t, FixedLifetime, tr), "default")
	if f.SpotInterruptions != 1 {
		t.Fatalf("interruptions %d, want 1", f.SpotInterruptions)
	}
	if f.Served+f.Killed != 2 {
		t.Fatalf("served %d killed %d, want both jobs accounted", f.Served, f.Killed)
	}
}

func TestGivenABootFailure_WhenBusyFlagRuns_ThenItLaunchesAgainAndServesTheJob(t *testing.T) {
	tr := &trace.Trace{Name: "boot", Jobs: []trace.Job{job("a", "default", time.Hour, 5*time.Minute)}}
	tr.Faults.BootFailures = []trace.BootFailure{{Window: trace.Window{From: dur("1h"), To: dur("1h1m")}, Pool: "default"}}
	f := pool(run(t, BusyFlag, tr), "default")
	if f.Launched < 2 || f.Served != 1 {
		t.Fatalf("launched %d, served %d; want a second launch serving the job", f.Launched, f.Served)
	}
}

func TestGivenAGitHubOutage_WhenAJobIsQueuedDuringIt_ThenItStartsOnlyAfterTheOutage(t *testing.T) {
	tr := &trace.Trace{Name: "outage", Jobs: []trace.Job{job("a", "default", time.Hour, 5*time.Minute)}}
	tr.Faults.GitHubOutages = []trace.Window{{From: dur("59m"), To: dur("2h")}}
	f := pool(run(t, Managed, tr), "default")
	if f.QueueToStart.Max < time.Hour.Seconds() {
		t.Fatalf("queue-to-start %vs, want at least the hour left of the outage", f.QueueToStart.Max)
	}
}
