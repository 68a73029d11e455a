package fleetsim

import (
	"path/filepath"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/latency"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/policy"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/prices"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/trace"
)

func input(tb testing.TB, file string) Input {
	tb.Helper()
	envs, err := config.LoadDir(filepath.Join("..", "..", config.DefaultDir))
	if err != nil {
		tb.Fatal(err)
	}
	sel, err := config.Select(envs, "dev")
	if err != nil {
		tb.Fatal(err)
	}
	tr, err := trace.Load(filepath.Join("..", "..", "sim", "traces", file))
	if err != nil {
		tb.Fatal(err)
	}
	in := Input{Env: sel[0], Trace: tr, Seed: 1, Latency: latency.Default(), Prices: prices.Default()}
	if err := in.Check(); err != nil {
		tb.Fatal(err)
	}
	return in
}

// BenchmarkOpsWeek reports simulated hours per wall-clock second for each
// policy on ops-week.json (goal: a week, 168 simulated hours, in under 5 s,
// so at least 34 sim-h/s).
func BenchmarkOpsWeek(b *testing.B) {
	in := input(b, "ops-week.json")
	for _, name := range AllPolicies {
		b.Run(name, func(b *testing.B) {
			var hours float64
			for b.Loop() {
				res, err := Run(in, name)
				if err != nil {
					b.Fatal(err)
				}
				hours += res.Run.HorizonHours
			}
			b.ReportMetric(hours/b.Elapsed().Seconds(), "sim-h/s")
		})
	}
}

func TestGivenTheCommittedTraces_WhenEveryReferencePolicyRuns_ThenEveryJobIsAccountedFor(t *testing.T) {
	for _, file := range []string{"ops-week.json", "faults-week.json"} {
		in := input(t, file)
		for _, name := range policy.Names {
			res, err := Run(in, name)
			if err != nil {
				t.Fatal(err)
			}
			tot := res.Run.Total
			if n := tot.Served + tot.Failed + tot.Killed; n != len(in.Trace.Jobs) {
				t.Errorf("%s %s: %d jobs accounted, want %d", file, name, n, len(in.Trace.Jobs))
			}
		}
	}
}
