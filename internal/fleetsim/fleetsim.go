// Package fleetsim runs a trace of jobs through a scaling policy (the real
// controller, or one of the reference policies) against a model of AWS and
// GitHub in simulated time, and reports what it cost, how long jobs waited and
// what was killed.
package fleetsim

import (
	"errors"
	"fmt"
	"slices"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/driver"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/fleet"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/latency"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/policy"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/prices"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/report"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/trace"
)

// Controller is the policy name of the real controller.
const Controller = driver.Name

// AllPolicies is the controller followed by the reference policies: what
// --compare runs.
var AllPolicies = append([]string{Controller}, policy.Names...)

// Input is one simulation's configuration.
type Input struct {
	Env     config.Environment
	Trace   *trace.Trace
	Seed    uint64
	Latency latency.Model
	Prices  prices.Table
}

// Result is one policy's run, with the series a chart draws.
type Result struct {
	Run    report.Run
	Series []report.PoolSeries
}

// TracePools is what the trace's validation needs from the environment.
func TracePools(env config.Environment) trace.Pools {
	p := trace.Pools{Env: env.Name}
	for _, pool := range env.Pools {
		p.Names = append(p.Names, pool.Name)
		for _, it := range pool.InstanceTypes {
			if !slices.Contains(p.InstanceTypes, it) {
				p.InstanceTypes = append(p.InstanceTypes, it)
			}
		}
	}
	return p
}

// Check validates the trace against the environment and the price table,
// reporting every problem at once.
func (in Input) Check() error {
	tp := TracePools(in.Env)
	return errors.Join(in.Trace.Validate(tp), in.Prices.Check(tp.InstanceTypes))
}

// Run runs one policy.
func Run(in Input, name string) (Result, error) {
	var pools []string
	for _, p := range in.Env.Pools {
		pools = append(pools, p.Name)
	}
	rec := report.NewRecorder(in.Prices, pools)
	if name == Controller {
		run, err := driver.Run(driver.Input{Env: in.Env, Trace: in.Trace, Seed: in.Seed, Latency: in.Latency, Prices: in.Prices, Rec: rec})
		if err != nil {
			return Result{}, fmt.Errorf("%s: %w", name, err)
		}
		return Result{Run: run, Series: series(rec, pools)}, nil
	}
	pol, err := policy.New(name, in.Prices)
	if err != nil {
		return Result{}, fmt.Errorf("--policies: %w", err)
	}
	var fp []fleet.Pool
	for _, p := range in.Env.Pools {
		fp = append(fp, fleet.Pool{Name: p.Name, InstanceTypes: p.InstanceTypes, Spot: p.Spot, Max: p.Max})
	}
	sim := fleet.New(in.Trace, fp, in.Latency, rec, in.Seed, pol)
	horizon := sim.Run()
	if e, ok := pol.(interface{ Err() error }); ok && e.Err() != nil {
		return Result{}, fmt.Errorf("%s: %w", name, e.Err())
	}
	return Result{Run: rec.Finish(pol.Name(), pol.Note(), horizon, 0), Series: series(rec, pools)}, nil
}

func series(rec *report.Recorder, pools []string) []report.PoolSeries {
	var out []report.PoolSeries
	for _, p := range pools {
		out = append(out, report.PoolSeries{Pool: p, Samples: rec.Series(p)})
	}
	return out
}
