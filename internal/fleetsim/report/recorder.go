// Package report turns what happened in a simulated run into the figures the
// fleet simulator prints: jobs served, failed and killed, modelled
// queue-to-start latency, paid and used hours, cost, and the demand, capacity
// and busy series a chart draws. A Recorder is fed by whatever runs the
// simulation (the reference policies' fleet model or the real controller
// against the world model), so every policy is measured the same way.
package report

import (
	"fmt"
	"slices"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/prices"
)

// Recorder collects the events of one run.
type Recorder struct {
	prices prices.Table
	pools  map[string]*poolLog
	insts  map[string]*instLog
	jobs   map[string]*jobLog
	order  []string // instance ids in launch order
}

type poolLog struct {
	queued, running, live, busy int
	series                      []Sample
	spotInterruptions           int
	fallbacks                   int
	managedCost, managedHours   float64
	managedIdle                 float64
	launched                    int
}

type instLog struct {
	pool       string
	price      float64
	launchedAt time.Duration
	onlineAt   time.Duration
	online     bool
	ended      bool
	endedAt    time.Duration
	busySince  time.Duration
	busy       bool
	busyTotal  time.Duration
}

type jobLog struct {
	pool      string
	queuedAt  time.Duration
	startedAt time.Duration
	started   bool
	endedAt   time.Duration
	ended     bool
	killed    bool
	instance  string
}

// Sample is the state of one pool from At until the next sample.
type Sample struct {
	At time.Duration
	// Demand is jobs queued or running; Capacity instances alive (booting,
	// idle or busy); Busy instances running a job.
	Demand, Capacity, Busy int
}

// NewRecorder starts a run over the given pools, pricing instances with t.
func NewRecorder(t prices.Table, pools []string) *Recorder {
	r := &Recorder{prices: t, pools: map[string]*poolLog{}, insts: map[string]*instLog{}, jobs: map[string]*jobLog{}}
	for _, p := range pools {
		r.pools[p] = &poolLog{series: []Sample{{}}}
	}
	return r
}

func (r *Recorder) pool(name string) *poolLog {
	p, ok := r.pools[name]
	if !ok {
		panic(fmt.Sprintf("report: pool %q was not declared to the recorder", name)) // a simulator bug
	}
	return p
}

func (r *Recorder) sample(name string, at time.Duration) {
	p := r.pool(name)
	s := Sample{At: at, Demand: p.queued + p.running, Capacity: p.live, Busy: p.busy}
	if last := &p.series[len(p.series)-1]; last.At == at {
		*last = s
	} else if last.Demand != s.Demand || last.Capacity != s.Capacity || last.Busy != s.Busy {
		p.series = append(p.series, s)
	}
}

// JobQueued records a job GitHub queued at at.
func (r *Recorder) JobQueued(pool, id string, at time.Duration) {
	r.jobs[id] = &jobLog{pool: pool, queuedAt: at}
	r.pool(pool).queued++
	r.sample(pool, at)
}

// JobStarted records a job's first step running on an instance ("" for a
// managed runner).
func (r *Recorder) JobStarted(id, instance string, at time.Duration) {
	j := r.jobs[id]
	if j == nil || j.started {
		panic(fmt.Sprintf("report: job %q started twice or never queued", id))
	}
	j.started, j.startedAt, j.instance = true, at, instance
	p := r.pool(j.pool)
	p.queued--
	p.running++
	if in := r.insts[instance]; in != nil {
		in.busy, in.busySince = true, at
		p.busy++
	}
	r.sample(j.pool, at)
}

// JobEnded records a started job finishing, or being killed while running.
func (r *Recorder) JobEnded(id string, at time.Duration, killed bool) {
	j := r.jobs[id]
	if j == nil || !j.started || j.ended {
		panic(fmt.Sprintf("report: job %q ended without running", id))
	}
	j.ended, j.endedAt, j.killed = true, at, killed
	p := r.pool(j.pool)
	p.running--
	if in := r.insts[j.instance]; in != nil && in.busy {
		in.busy = false
		in.busyTotal += at - in.busySince
		p.busy--
	}
	r.sample(j.pool, at)
}

// Launched records an instance launch. fallback marks an on-demand launch made
// because spot capacity was short.
func (r *Recorder) Launched(pool, id, instanceType string, spot, fallback bool, at time.Duration) error {
	price, err := r.prices.Hourly(instanceType, spot)
	if err != nil {
		return err
	}
	r.insts[id] = &instLog{pool: pool, price: price, launchedAt: at}
	r.order = append(r.order, id)
	p := r.pool(pool)
	p.live++
	p.launched++
	if fallback {
		p.fallbacks++
	}
	r.sample(pool, at)
	return nil
}

// Online records an instance's runner registering: from now until it ends, the
// time it runs no job is idle runner time.
func (r *Recorder) Online(id string, at time.Duration) {
	in := r.insts[id]
	in.online, in.onlineAt = true, at
}

// InstanceEnded records an instance terminating; billing stops.
func (r *Recorder) InstanceEnded(id string, at time.Duration) {
	in := r.insts[id]
	if in == nil || in.ended {
		panic(fmt.Sprintf("report: instance %q ended twice or never launched", id))
	}
	if in.busy {
		panic(fmt.Sprintf("report: instance %q ended while its job runs; end the job first", id))
	}
	in.ended, in.endedAt = true, at
	r.pool(in.pool).live--
	r.sample(in.pool, at)
}

// SpotInterrupted records AWS reclaiming a spot instance.
func (r *Recorder) SpotInterrupted(pool string) { r.pool(pool).spotInterruptions++ }

// ManagedBuild records one build of a managed per-job runner service: billed
// time, its cost, and the part of it that ran no job.
func (r *Recorder) ManagedBuild(pool string, billed, idle time.Duration, cost float64) {
	p := r.pool(pool)
	p.launched++
	p.managedHours += billed.Hours()
	p.managedIdle += idle.Hours()
	p.managedCost += cost
}

// Series returns the demand, capacity and busy samples of a pool.
func (r *Recorder) Series(pool string) []Sample { return slices.Clone(r.pool(pool).series) }
