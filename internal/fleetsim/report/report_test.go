package report

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/prices"
)

func TestGivenWaits_WhenPercentilesAreTaken_ThenTheyAreNearestRank(t *testing.T) {
	var v []float64
	for i := 1; i <= 100; i++ {
		v = append(v, float64(i))
	}
	if got := percentiles(v); got != (Latency{P50: 50, P95: 95, P99: 99, Max: 100}) {
		t.Fatalf("got %+v", got)
	}
	if got := percentiles([]float64{7}); got != (Latency{7, 7, 7, 7}) {
		t.Fatalf("one wait: got %+v", got)
	}
	if got := percentiles(nil); got != (Latency{}) {
		t.Fatalf("no wait: got %+v", got)
	}
}

func TestGivenARun_WhenFinished_ThenHoursCostAndJobsAddUp(t *testing.T) {
	tab := prices.Default()
	r := NewRecorder(tab, []string{"a"})
	h := time.Hour
	if err := r.Launched("a", "i-1", "m7g.large", true, false, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Launched("a", "i-2", "m7g.large", false, true, 0); err != nil {
		t.Fatal(err)
	}
	r.Online("i-1", h/2)
	r.Online("i-2", h/2)
	r.JobQueued("a", "j1", 0)
	r.JobQueued("a", "j2", 0)
	r.JobQueued("a", "j3", 0)
	r.JobStarted("j1", "i-1", h)
	r.JobEnded("j1", 2*h, false)
	r.JobStarted("j2", "i-2", h)
	r.JobEnded("j2", 3*h/2, true)
	r.InstanceEnded("i-2", 3*h/2)
	r.SpotInterrupted("a")
	run := r.Finish("p", "note", 4*h, 1)
	f := run.Pools[0]
	if f.Served != 1 || f.Killed != 1 || f.Failed != 1 {
		t.Fatalf("served/killed/failed %d/%d/%d, want 1/1/1", f.Served, f.Killed, f.Failed)
	}
	// i-1 is billed until the horizon (4 h), i-2 until it ended (1.5 h).
	if f.PaidHours != 5.5 || f.JobHours != 1.5 {
		t.Fatalf("paid %v job %v, want 5.5 and 1.5", f.PaidHours, f.JobHours)
	}
	// i-1 idle: online 0.5..4 minus 1 h busy = 2.5; i-2: 0.5..1.5 minus 0.5 busy = 0.5.
	if f.IdleHours != 3 {
		t.Fatalf("idle %v, want 3", f.IdleHours)
	}
	p := tab.EC2["m7g.large"]
	if want := round(4*p.Spot + 1.5*p.OnDemand); f.Cost != want {
		t.Fatalf("cost %v, want %v", f.Cost, want)
	}
	if f.OnDemandFallbacks != 1 || f.SpotInterruptions != 1 || f.Launched != 2 {
		t.Fatalf("got %+v", f)
	}
	if run.Total.Cost != round(f.Cost+4) || run.FixedCostPerMonth != HoursPerMonth {
		t.Fatalf("fixed cost not in the total: %+v", run)
	}
	if want := round(run.Total.Cost / (4 / HoursPerMonth)); run.Total.CostPerMonth < want-0.01 || run.Total.CostPerMonth > want+0.01 {
		t.Fatalf("per month %v, want %v", run.Total.CostPerMonth, want)
	}
	s := r.Series("a")
	if last := s[len(s)-1]; last.Capacity != 1 || last.Busy != 0 || last.Demand != 1 {
		t.Fatalf("last sample %+v, want 1 instance, 0 busy, 1 job waiting", last)
	}
}

func TestGivenAReport_WhenRendered_ThenEveryOutputSaysLatencyIsModelled(t *testing.T) {
	rep := &Report{Trace: "t", Env: "dev", Prices: "us-east-1 USD of 2026-12-02", Latency: Modelled,
		Runs: []Run{{Policy: "a", Pools: []Figures{{Pool: "default"}}, Total: Figures{Pool: "total"}}, {Policy: "b", Total: Figures{Pool: "total"}}}}
	var tb, jb bytes.Buffer
	if err := rep.WriteTable(&tb); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&jb); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{tb.String(), jb.String()} {
		if !strings.Contains(out, "modelled") || !strings.Contains(out, "2026-12-02") {
			t.Errorf("output lacks the modelled label or the price date:\n%s", out)
		}
	}
	if !strings.Contains(tb.String(), "| policy | cost USD / month |") {
		t.Errorf("two runs but no comparison table:\n%s", tb.String())
	}
}

func TestGivenSeries_WhenCharted_ThenAPNGIsWritten(t *testing.T) {
	var b bytes.Buffer
	err := WriteChart(&b, "t", 2, []PoolSeries{{Pool: "a", Samples: []Sample{{}, {At: time.Hour, Demand: 2, Capacity: 1, Busy: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() < 400 {
		t.Fatalf("chart %v too small", img.Bounds())
	}
}
