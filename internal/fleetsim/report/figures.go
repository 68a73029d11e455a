package report

import (
	"math"
	"slices"
	"sort"
	"time"
)

// HoursPerMonth scales a run's cost to a month (365.25 x 24 / 12).
const HoursPerMonth = 730.5

// Modelled is printed with every latency figure: they come from the latency
// model, not from a measurement.
const Modelled = "modelled: sums of the delays in internal/fleetsim/latency, not measurements"

// Latency is queue-to-start time in seconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Figures are one pool's (or the total's) results.
type Figures struct {
	Pool string `json:"pool"`
	// Served jobs ran to completion; Failed never started or were still
	// running when the run stopped; Killed were running when their runner was
	// terminated.
	Served int `json:"jobsServed"`
	Failed int `json:"jobsFailed"`
	Killed int `json:"jobsKilled"`
	// QueueToStart is modelled, in seconds, over the jobs that started.
	QueueToStart Latency `json:"queueToStartSeconds"`
	// PaidHours are instance-hours (or billed managed hours); JobHours the
	// hours jobs ran; PaidPerJob their ratio.
	PaidHours  float64 `json:"paidInstanceHours"`
	JobHours   float64 `json:"jobHours"`
	PaidPerJob float64 `json:"paidPerJobHour"`
	// Cost in USD for the run, and scaled to a month.
	Cost         float64 `json:"costUsd"`
	CostPerMonth float64 `json:"costPerMonthUsd"`
	// IdleHours are runner-hours registered without a job.
	IdleHours         float64 `json:"idleRunnerHours"`
	Launched          int     `json:"instancesLaunched"`
	SpotInterruptions int     `json:"spotInterruptions"`
	OnDemandFallbacks int     `json:"onDemandFallbacks"`
}

// Run is the result of one policy on one trace.
type Run struct {
	Policy string `json:"policy"`
	// Note says what the policy is, in one line.
	Note string `json:"note"`
	// HorizonHours is how long the run lasted: the trace's length, or longer
	// while jobs were still running.
	HorizonHours float64   `json:"horizonHours"`
	Pools        []Figures `json:"pools"`
	Total        Figures   `json:"total"`
	// FixedCostPerMonth is what the policy pays whatever the load (for the
	// controller: its instance), included in Total.
	FixedCostPerMonth float64 `json:"fixedCostPerMonthUsd,omitempty"`
}

// Finish closes the run at horizon: instances still alive are billed until
// then, and jobs not finished by then count as failed. fixedHourly is a cost per
// hour paid whatever the load (added to the total only).
func (r *Recorder) Finish(policy, note string, horizon time.Duration, fixedHourly float64) Run {
	run := Run{Policy: policy, Note: note, HorizonHours: round(horizon.Hours())}
	names := make([]string, 0, len(r.pools))
	for n := range r.pools {
		names = append(names, n)
	}
	slices.Sort(names)
	var all []float64
	months := horizon.Hours() / HoursPerMonth
	for _, name := range names {
		p := r.pools[name]
		f := Figures{Pool: name, Launched: p.launched, SpotInterruptions: p.spotInterruptions, OnDemandFallbacks: p.fallbacks}
		var waits []float64
		for _, j := range sortedJobs(r.jobs, name) {
			switch {
			case j.ended && j.killed:
				f.Killed++
			case j.ended:
				f.Served++
			default:
				f.Failed++
			}
			if j.started {
				waits = append(waits, (j.startedAt - j.queuedAt).Seconds())
				end := horizon
				if j.ended {
					end = min(j.endedAt, horizon)
				}
				f.JobHours += (end - j.startedAt).Hours()
			}
		}
		for _, id := range r.order {
			in := r.insts[id]
			if in.pool != name {
				continue
			}
			end := horizon
			if in.ended {
				end = min(in.endedAt, horizon)
			}
			paid := (end - in.launchedAt).Hours()
			f.PaidHours += paid
			f.Cost += paid * in.price
			if in.online && end > in.onlineAt {
				busy := in.busyTotal
				if in.busy {
					busy += end - in.busySince
				}
				f.IdleHours += (end - in.onlineAt - busy).Hours()
			}
		}
		f.PaidHours += p.managedHours
		f.Cost += p.managedCost
		f.IdleHours += p.managedIdle
		f.QueueToStart = percentiles(waits)
		all = append(all, waits...)
		finishFigures(&f, months)
		run.Pools = append(run.Pools, f)

		t := &run.Total
		t.Served += f.Served
		t.Failed += f.Failed
		t.Killed += f.Killed
		t.PaidHours += f.PaidHours
		t.JobHours += f.JobHours
		t.Cost += f.Cost
		t.IdleHours += f.IdleHours
		t.Launched += f.Launched
		t.SpotInterruptions += f.SpotInterruptions
		t.OnDemandFallbacks += f.OnDemandFallbacks
	}
	run.Total.Pool = "total"
	run.Total.QueueToStart = percentiles(all)
	run.Total.Cost += fixedHourly * horizon.Hours()
	run.FixedCostPerMonth = round(fixedHourly * HoursPerMonth)
	finishFigures(&run.Total, months)
	return run
}

func sortedJobs(jobs map[string]*jobLog, pool string) []*jobLog {
	ids := make([]string, 0, len(jobs))
	for id, j := range jobs {
		if j.pool == pool {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := make([]*jobLog, len(ids))
	for i, id := range ids {
		out[i] = jobs[id]
	}
	return out
}

func finishFigures(f *Figures, months float64) {
	if f.JobHours > 0 {
		f.PaidPerJob = f.PaidHours / f.JobHours
	}
	if months > 0 {
		f.CostPerMonth = f.Cost / months
	}
	f.PaidHours, f.JobHours, f.PaidPerJob = round(f.PaidHours), round(f.JobHours), round(f.PaidPerJob)
	f.Cost, f.CostPerMonth, f.IdleHours = round(f.Cost), round(f.CostPerMonth), round(f.IdleHours)
}

// percentiles uses the nearest-rank method: every figure is a wait some job had.
func percentiles(v []float64) Latency {
	if len(v) == 0 {
		return Latency{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(s)))) - 1
		return round(s[max(i, 0)])
	}
	return Latency{P50: rank(50), P95: rank(95), P99: rank(99), Max: round(s[len(s)-1])}
}

// round keeps three decimals, so JSON output does not carry float noise.
func round(x float64) float64 { return math.Round(x*1000) / 1000 }
