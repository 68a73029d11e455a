package controller

import "testing"

func TestPlanScale(t *testing.T) {
	base := scaleInput{Min: 0, Max: 5, Known: true}
	cases := []struct {
		name string
		mod  func(*scaleInput)
		want scalePlan
	}{
		{"demand raises desired", func(i *scaleInput) { i.Assigned = 3 }, scalePlan{Desired: 3}},
		{"minIdle added to demand", func(i *scaleInput) { i.Assigned, i.MinIdle = 1, 2 }, scalePlan{Desired: 3}},
		{"capped at max", func(i *scaleInput) { i.Assigned = 9 }, scalePlan{Desired: 5}},
		{"never below min", func(i *scaleInput) { i.Min = 2 }, scalePlan{Desired: 2}},
		{"never below busy, even past max", func(i *scaleInput) { i.Max, i.Busy, i.Live, i.Desired = 2, 3, 3, 3 }, scalePlan{Desired: 3}},
		{"unknown demand only scales out", func(i *scaleInput) { i.Known, i.Desired, i.Live = false, 3, 3 }, scalePlan{Desired: 3}},
		{"steady", func(i *scaleInput) { i.Assigned, i.Desired, i.Live = 2, 2, 2 }, scalePlan{Desired: 2}},
		{"idle runners removed", func(i *scaleInput) { i.Assigned, i.Desired, i.Live = 1, 3, 3 }, scalePlan{Desired: 3, Remove: 2}},
		{"leaving instances go by themselves", func(i *scaleInput) { i.Desired, i.Live, i.Leaving = 3, 3, 1 }, scalePlan{Desired: 3, Remove: 2}},
		// Bug 4: launches that never happened are dropped first; the one
		// running idle runner stays.
		{"launches failing: unlaunched capacity dropped first", func(i *scaleInput) { i.Assigned, i.Desired, i.Live = 1, 3, 1 }, scalePlan{Desired: 1}},
		{"launches failing, demand gone", func(i *scaleInput) { i.Desired, i.Live = 3, 1 }, scalePlan{Desired: 1, Remove: 1}},
		{"desired never lowered below live", func(i *scaleInput) { i.Desired, i.Live, i.Busy = 4, 4, 2 }, scalePlan{Desired: 4, Remove: 2}},
		{"minIdle kept while scaling in", func(i *scaleInput) { i.MinIdle, i.Desired, i.Live = 1, 3, 3 }, scalePlan{Desired: 3, Remove: 2}},
	}
	for _, c := range cases {
		in := base
		c.mod(&in)
		if got := planScale(in); got != c.want {
			t.Errorf("%s: planScale(%+v) = %+v, want %+v", c.name, in, got, c.want)
		}
	}
}
