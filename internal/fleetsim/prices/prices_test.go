package prices

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

func TestGivenTheCommittedTable_ThenItIsDatedAndPricesEveryCommittedInstanceType(t *testing.T) {
	tab := Default()
	if _, err := time.Parse(time.DateOnly, tab.Date); err != nil {
		t.Fatalf("date %q: %v", tab.Date, err)
	}
	envs, err := config.LoadDir(filepath.Join("..", "..", "..", config.DefaultDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range envs {
		var types []string
		for _, p := range e.Pools {
			types = append(types, p.InstanceTypes...)
		}
		types = append(types, e.Controller.InstanceType)
		if err := tab.Check(types); err != nil {
			t.Errorf("environment %s: %v", e.Name, err)
		}
	}
	for it, p := range tab.EC2 {
		if p.OnDemand <= 0 || p.Spot <= 0 || p.Spot >= p.OnDemand {
			t.Errorf("%s: want 0 < spot < on-demand, got %+v", it, p)
		}
	}
	if tab.Managed.MaxBuildDuration() != 36*time.Hour {
		t.Errorf("managed build cap %s, want CodeBuild's 36h", tab.Managed.MaxBuild)
	}
}

func TestGivenAManagedBuild_WhenCosted_ThenEveryStartedMinuteIsBilled(t *testing.T) {
	m := Managed{PerMinute: 0.01}
	for d, want := range map[time.Duration]float64{time.Minute: 0.01, 61 * time.Second: 0.02, 30 * time.Second: 0.01} {
		if got := m.Cost(d); got < want-1e-9 || got > want+1e-9 {
			t.Errorf("Cost(%s) = %v, want %v", d, got, want)
		}
	}
}

func TestGivenAnUnpricedType_WhenLookedUp_ThenTheErrorSaysWhereToAddIt(t *testing.T) {
	_, err := Default().Hourly("x9g.huge", true)
	if err == nil || !strings.Contains(err.Error(), "prices.json") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat("prices.json"); err != nil {
		t.Fatal(err)
	}
}
