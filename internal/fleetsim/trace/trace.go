// Package trace is the fleet simulator's input: the jobs a week of operations
// queues and the faults the world suffers meanwhile. Times are offsets from the
// trace's start, written as Go durations ("26h15m0s"), so a trace reads without
// a calculator and can be shifted by editing one field.
package trace

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration written in JSON as a Go duration string.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string such as "1h30m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts a Go duration string ("90s", "26h15m").
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"90s\" or \"26h15m\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration string such as \"90s\" or \"26h15m\", got %q", s)
	}
	*d = Duration(v)
	return nil
}

// Trace is one simulated period of operations.
type Trace struct {
	// Name identifies the trace in reports.
	Name string `json:"name"`
	// Start is the wall-clock instant offset zero stands for (RFC 3339). It only
	// labels the chart's axis; the simulation runs on offsets.
	//
	// Default: none (the axis shows hours from the start)
	Start string `json:"start,omitempty"`
	// Length is the simulated span. Jobs may run past it; instances are billed
	// until they end or until the simulation stops, whichever is first. Costs per
	// month are scaled from it.
	Length Duration `json:"length"`
	// Jobs are the workflow jobs queued during the trace.
	Jobs []Job `json:"jobs"`
	// Faults are what goes wrong meanwhile.
	//
	// Default: none
	Faults Faults `json:"faults"`
}

// Job is one workflow job.
type Job struct {
	// ID is unique within the trace.
	ID string `json:"id"`
	// Pool is the name of the pool (in environments/<env>.json) whose scale set the
	// job targets with runs-on.
	Pool string `json:"pool"`
	// QueuedAt is when GitHub queues the job.
	QueuedAt Duration `json:"queuedAt"`
	// Duration is how long the job runs once started.
	Duration Duration `json:"duration"`
	// Repository and Workflow describe where the job comes from; reports ignore them.
	//
	// Default: none
	Repository string `json:"repository,omitempty"`
	Workflow   string `json:"workflow,omitempty"`
}

// Window is a half-open interval [From, To).
type Window struct {
	From Duration `json:"from"`
	To   Duration `json:"to"`
}

// Contains reports whether t lies in the window.
func (w Window) Contains(t time.Duration) bool { return t >= w.From.D() && t < w.To.D() }

// Faults lists every fault kind the world model can produce. Windows of the same
// kind (and, where it applies, the same instance type, purchase option or pool)
// must not overlap: merge them instead.
type Faults struct {
	// GitHubOutages: the scale set API and the runner list fail; no job is queued
	// or assigned until the outage ends. Running jobs go on.
	GitHubOutages []Window `json:"githubOutages,omitempty"`
	// ServerErrorStorms: GitHub answers every API call with a 5xx.
	ServerErrorStorms []Window `json:"serverErrorStorms,omitempty"`
	// NotFoundBursts: GitHub answers runner lookups with a 404 that does not mean
	// the runner is absent (the lag between registration and the list).
	NotFoundBursts []Window `json:"notFoundBursts,omitempty"`
	// SessionConflicts: creating a message session fails with 409 (another listener
	// holds it).
	SessionConflicts []Window `json:"sessionConflicts,omitempty"`
	// CapacityShortages: launches of InstanceType with Purchase fail with
	// InsufficientInstanceCapacity.
	CapacityShortages []CapacityShortage `json:"capacityShortages,omitempty"`
	// SpotInterruptions: AWS reclaims a spot instance of Pool, with the two-minute
	// warning.
	SpotInterruptions []SpotInterruption `json:"spotInterruptions,omitempty"`
	// ControllerRestarts: the controller process dies and starts again, losing all
	// in-memory state.
	ControllerRestarts []Restart `json:"controllerRestarts,omitempty"`
	// BootFailures: every instance of Pool launched in the window fails to boot
	// (it never registers a runner).
	BootFailures []BootFailure `json:"bootFailures,omitempty"`
}

// Purchase options of a capacity shortage.
const (
	PurchaseSpot     = "spot"
	PurchaseOnDemand = "on-demand"
)

// CapacityShortage is an InsufficientInstanceCapacity window.
type CapacityShortage struct {
	Window
	// InstanceType is the type that cannot be launched.
	InstanceType string `json:"instanceType"`
	// Purchase is "spot" or "on-demand".
	Purchase string `json:"purchase"`
}

// Runner states a spot interruption can target.
const (
	TargetIdle = "idle"
	TargetBusy = "busy"
	TargetAny  = "any"
)

// SpotInterruption reclaims the first running spot instance of Pool in state
// Runner at or after At (oldest first). It hits nothing if no such instance
// exists before the trace ends.
type SpotInterruption struct {
	At   Duration `json:"at"`
	Pool string   `json:"pool"`
	// Runner is idle (no job: booting, waiting for a job or leaving after
	// one), busy (running a job) or any.
	//
	// Default: any
	Runner string `json:"runner,omitempty"`
}

// Restart is a controller restart.
type Restart struct {
	At Duration `json:"at"`
}

// BootFailure is a window during which Pool's new instances never boot.
type BootFailure struct {
	Window
	Pool string `json:"pool"`
}
