// Package driver replays a trace through the real fleet controller
// (controller.New, its reconcile loop and its scale set handlers) against the
// world model of AWS and GitHub in simulated time.
package driver

import (
	"errors"

	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/report"
)

// Name is the policy name of the real controller in reports.
const Name = "controller"

// ErrNotWired is returned until the world model (internal/fleetsim/world, the
// strict fakes of Auto Scaling, EC2, SSM, SQS, SNS and the GitHub scale set) is
// on main: the controller must run against those fakes, never against a second
// copy of them.
var ErrNotWired = errors.New("the real controller is not yet wired into the simulator: it runs against the world model (internal/fleetsim/world), which is not in this build yet; run the reference policies with --policies busy-flag,fixed-lifetime,static-pets,managed")

// Input is what a controller run needs.
type Input struct {
	// Rec receives the run's events.
	Rec *report.Recorder
}

// Run replays the trace through the controller and returns the horizon in hours.
func Run(Input) (report.Run, error) { return report.Run{}, ErrNotWired }
