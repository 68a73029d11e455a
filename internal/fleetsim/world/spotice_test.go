package world

import "testing"

func TestGivenNoSpotCapacity_WhenGroupsLaunch_ThenOnlySpotGroupsFail(t *testing.T) {
	w := New(Options{})
	spot := w.AddGroup("spot", 0, 1, false)
	spot.InstanceTypes, spot.OnDemandPct = []string{"m7g.large"}, 0
	od := w.AddGroup("od", 0, 1, false)
	od.InstanceTypes = []string{"m7g.large"}
	w.Mu.Lock()
	defer w.Mu.Unlock()
	w.SpotICE["m7g.large"] = true
	if id := w.LaunchInstance("spot"); id != "" {
		t.Fatalf("spot group launched %s without spot capacity", id)
	}
	if id := w.LaunchInstance("od"); id == "" {
		t.Fatal("on-demand group refused for a spot shortage")
	}
}
