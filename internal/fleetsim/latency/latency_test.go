package latency

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestGivenADistribution_WhenSampledManyTimes_ThenMedianAndP95MatchItsParameters(t *testing.T) {
	d := Dist{Median: 30 * time.Second, P95: 60 * time.Second}
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]time.Duration, 20000)
	for i := range v {
		v[i] = d.Sample(r)
	}
	slices.Sort(v)
	med, p95 := v[len(v)/2], v[len(v)*95/100]
	if med < 29*time.Second || med > 31*time.Second {
		t.Errorf("median %s, want about 30s", med)
	}
	if p95 < 57*time.Second || p95 > 63*time.Second {
		t.Errorf("p95 %s, want about 60s", p95)
	}
}

func TestGivenACap_WhenSampled_ThenNoDrawExceedsIt(t *testing.T) {
	d := Dist{Median: time.Second, P95: time.Minute, Max: 2 * time.Second}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		if v := d.Sample(r); v > d.Max || v <= 0 {
			t.Fatalf("draw %s outside (0, %s]", v, d.Max)
		}
	}
}

func TestGivenTheFixedModel_WhenSampled_ThenEveryDrawIsTheMedian(t *testing.T) {
	m := Default()
	f := m.Fixed()
	r := rand.New(rand.NewPCG(5, 6))
	for range 100 {
		if f.RunnerInstall.Sample(r) != m.RunnerInstall.Median || f.BusyFlagLag.Sample(r) != m.BusyFlagLag.Median {
			t.Fatal("fixed model varies")
		}
	}
	want := m.MessageDelay.Median + m.ScalingActivity.Median + m.BootToUserData.Median + m.RunnerInstall.Median + m.JitHandover.Median + m.Assignment.Median
	if m.ColdStart() != want {
		t.Fatalf("ColdStart %s, want %s", m.ColdStart(), want)
	}
}

// Every distribution of the default model is a real distribution: a median,
// a p95 above it and a cap above that.
func TestGivenTheDefaultModel_ThenEveryDistributionIsWellFormed(t *testing.T) {
	m := Default()
	for name, d := range map[string]Dist{
		"MessageDelay": m.MessageDelay, "ScalingActivity": m.ScalingActivity, "BootToUserData": m.BootToUserData,
		"RunnerInstall": m.RunnerInstall, "WarmStart": m.WarmStart, "JitHandover": m.JitHandover,
		"Assignment": m.Assignment, "BusyFlagLag": m.BusyFlagLag, "ManagedProvisioning": m.ManagedProvisioning,
	} {
		if d.Median <= 0 || d.P95 <= d.Median || d.Max < d.P95 {
			t.Errorf("%s: %+v is not median < p95 <= max", name, d)
		}
	}
}
