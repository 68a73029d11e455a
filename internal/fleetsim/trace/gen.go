package trace

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// GenOptions shapes a generated trace.
type GenOptions struct {
	// Seed makes the trace reproducible: the same options give the same bytes.
	Seed uint64
	// Weeks is how many weeks to generate. Default: 1.
	Weeks int
	// AdHocMin and AdHocMax bound the number of ad hoc admin tasks per week.
	// Default: 40 and 80.
	AdHocMin, AdHocMax int
	// Pool is the pool of deployments and ad hoc tasks; LongPool the pool of
	// 30-hour migrations. Default: default and long.
	Pool, LongPool string
	// SpotTypes are the instance types of Pool, used for the capacity shortages
	// of the fault set. Default: m7g.large.
	SpotTypes []string
	// Faults adds, every week, one window or event of every fault kind.
	Faults bool
	// Repository is the repository the jobs come from. Default: Sage-Bionetworks/synapse-ops-dev.
	Repository string
}

const (
	hour = time.Hour
	day  = 24 * hour
	week = 7 * day
)

// Generate builds a trace of Synapse operations: per week, the weekly deployment
// (a sequence of jobs on Tuesday morning), two 30-hour migrations on the long
// pool, AdHocMin to AdHocMax admin tasks of 1 to 20 minutes in working hours
// (09:00 to 17:00, Monday to Friday), a burst of 15 jobs within 5 minutes on
// Thursday afternoon, and nothing at night or at the weekend. Offset zero is
// Monday 00:00 US Pacific time, where the Synapse team works.
func Generate(o GenOptions) *Trace {
	o.Weeks = cmp.Or(o.Weeks, 1)
	o.AdHocMin = cmp.Or(o.AdHocMin, 40)
	o.AdHocMax = max(cmp.Or(o.AdHocMax, 80), o.AdHocMin)
	o.Pool = cmp.Or(o.Pool, "default")
	o.LongPool = cmp.Or(o.LongPool, "long")
	o.Repository = cmp.Or(o.Repository, "Sage-Bionetworks/synapse-ops-dev")
	if len(o.SpotTypes) == 0 {
		o.SpotTypes = []string{"m7g.large"}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed_f1ee7))
	// between draws a duration in [lo, hi) rounded to whole seconds.
	between := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(rng.Int64N(int64((hi-lo)/time.Second)))*time.Second
	}
	t := &Trace{
		Name:   fmt.Sprintf("ops-%dw-seed%d", o.Weeks, o.Seed),
		Start:  "2026-11-30T00:00:00-08:00",
		Length: Duration(time.Duration(o.Weeks) * week),
	}
	if o.Faults {
		t.Name = fmt.Sprintf("faults-%dw-seed%d", o.Weeks, o.Seed)
	}
	job := func(id, pool string, at, d time.Duration, workflow string) Job {
		return Job{ID: id, Pool: pool, QueuedAt: Duration(at), Duration: Duration(d), Repository: o.Repository, Workflow: workflow}
	}
	for w := range o.Weeks {
		base := time.Duration(w) * week
		p := fmt.Sprintf("w%d-", w+1)

		// The weekly deployment: each step is queued when the previous one
		// should have finished, plus two minutes for the runner to start.
		at := base + day + 10*hour + between(0, 30*time.Minute)
		for i, step := range []struct {
			name     string
			min, max time.Duration
		}{
			{"build", 8 * time.Minute, 15 * time.Minute},
			{"deploy-stack", 25 * time.Minute, 45 * time.Minute},
			{"migrate-schema", 5 * time.Minute, 20 * time.Minute},
			{"smoke-test", 5 * time.Minute, 12 * time.Minute},
			{"promote", 2 * time.Minute, 6 * time.Minute},
		} {
			d := between(step.min, step.max)
			t.Jobs = append(t.Jobs, job(fmt.Sprintf("%sdeploy-%d-%s", p, i+1, step.name), o.Pool, at, d, "deploy.yml"))
			at += d + 2*time.Minute
		}

		// Two 30-hour data migrations: Monday morning and Wednesday afternoon.
		m1 := base + 10*hour + between(0, hour)
		m2 := base + 2*day + 14*hour + between(0, hour)
		for i, m := range []time.Duration{m1, m2} {
			t.Jobs = append(t.Jobs, job(fmt.Sprintf("%smigration-%d", p, i+1), o.LongPool, m, 30*hour, "run-task.yml"))
		}

		// Ad hoc admin tasks in working hours.
		n := o.AdHocMin + rng.IntN(o.AdHocMax-o.AdHocMin+1)
		for i := range n {
			d := time.Duration(rng.IntN(5)) * day
			at := base + d + 9*hour + between(0, 8*hour)
			t.Jobs = append(t.Jobs, job(fmt.Sprintf("%sadhoc-%02d", p, i+1), o.Pool, at, between(time.Minute, 20*time.Minute), "run-task.yml"))
		}

		// A burst: 15 jobs in 5 minutes (a matrix over data sets).
		burst := base + 3*day + 14*hour + between(0, 30*time.Minute)
		for i := range 15 {
			t.Jobs = append(t.Jobs, job(fmt.Sprintf("%sburst-%02d", p, i+1), o.Pool, burst+between(0, 5*time.Minute), between(2*time.Minute, 10*time.Minute), "run-task.yml"))
		}

		if o.Faults {
			addFaults(&t.Faults, o, base, m1, burst)
		}
	}
	slices.SortStableFunc(t.Jobs, func(a, b Job) int {
		return cmp.Or(cmp.Compare(a.QueuedAt, b.QueuedAt), cmp.Compare(a.ID, b.ID))
	})
	return t
}

// addFaults adds one of every fault kind to a week, placed where it hurts.
func addFaults(f *Faults, o GenOptions, base, migration, burst time.Duration) {
	win := func(from, length time.Duration) Window {
		return Window{From: Duration(from), To: Duration(from + length)}
	}
	// A 2-hour GitHub outage 16 hours into the first 30-hour migration.
	f.GitHubOutages = append(f.GitHubOutages, win(migration+16*hour, 2*hour))
	f.ServerErrorStorms = append(f.ServerErrorStorms, win(base+2*day+11*hour, 20*time.Minute))
	// 404s from the runner list while the burst's runners register.
	f.NotFoundBursts = append(f.NotFoundBursts, win(burst+2*time.Minute, 10*time.Minute))
	f.SessionConflicts = append(f.SessionConflicts, win(base+13*hour, 15*time.Minute))
	// No spot capacity at all for three hours over the Tuesday deployment (the
	// pool must fall back to on-demand), and none of the first type during the
	// burst.
	for _, it := range o.SpotTypes {
		f.CapacityShortages = append(f.CapacityShortages, CapacityShortage{Window: win(base+day+9*hour+30*time.Minute, 3*hour), InstanceType: it, Purchase: PurchaseSpot})
	}
	f.CapacityShortages = append(f.CapacityShortages, CapacityShortage{Window: win(burst-30*time.Minute, 3*hour), InstanceType: o.SpotTypes[0], Purchase: PurchaseSpot})
	// An idle runner reclaimed during the burst.
	f.SpotInterruptions = append(f.SpotInterruptions, SpotInterruption{At: Duration(burst), Pool: o.Pool, Runner: TargetIdle})
	// Restarts during the deployment and during the second migration.
	f.ControllerRestarts = append(f.ControllerRestarts, Restart{At: Duration(base + day + 10*hour + 20*time.Minute)}, Restart{At: Duration(base + 2*day + 20*hour)})
	f.BootFailures = append(f.BootFailures, BootFailure{Window: win(base+11*hour, 30*time.Minute), Pool: o.Pool})
}
