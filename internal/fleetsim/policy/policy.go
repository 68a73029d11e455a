// Package policy holds the reference policies the fleet simulator compares the
// controller with: alternative scalers that run in the fleet model
// (internal/fleetsim/fleet). Each one reproduces the scaling rule of a real
// system, including the flaw that makes it worth comparing against.
package policy

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/fleet"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/prices"
)

// Names of the reference policies, in the order reports show them.
const (
	BusyFlag      = "busy-flag"
	FixedLifetime = "fixed-lifetime"
	StaticPets    = "static-pets"
	Managed       = "managed"
)

// Names lists every reference policy.
var Names = []string{BusyFlag, FixedLifetime, StaticPets, Managed}

// New returns the named reference policy.
func New(name string, t prices.Table) (fleet.Policy, error) {
	switch name {
	case BusyFlag:
		return &busyFlag{}, nil
	case FixedLifetime:
		return &fixedLifetime{}, nil
	case StaticPets:
		return staticPets{}, nil
	case Managed:
		return &managed{price: t.Managed}, nil
	}
	return nil, fmt.Errorf("unknown policy %q; use one of: %s", name, fmt.Sprint(Names))
}

// scaleUp launches one instance per queued job that no idle or booting runner
// will take, within the pool's maximum; a launch refused for capacity is tried
// again on the next call.
func scaleUp(s *fleet.Sim, pool string, reuse bool, lifetime time.Duration) error {
	waiting := len(s.Queued(pool))
	live := s.Instances(pool)
	for _, in := range live {
		if in.State == fleet.Booting || (in.State == fleet.Idle && in.Job == nil && (in.Reuse || !in.Used)) {
			waiting--
		}
	}
	for n := len(live); waiting > 0 && n < s.Pools[pool].Max; n++ {
		in, err := s.Launch(pool, reuse)
		if err != nil || in == nil {
			return err
		}
		if lifetime > 0 {
			s.After(lifetime, func() { s.Terminate(in) })
		}
		waiting--
	}
	return nil
}

// busyFlag is terraform-aws-github-runner's scale-down: a Lambda every five
// minutes lists the runners and removes those GitHub reports not busy, once
// they are older than the minimum running time; runners are not ephemeral and
// take job after job. GitHub's busy flag lags a job's start (latency
// BusyFlagLag), so a runner that has just taken a job can be removed with it:
// issue #5085 of that project. A runner missing from the list (a 404 burst)
// is marked orphan and terminated on the next pass (issue #4391).
type busyFlag struct{ err error }

// Defaults of terraform-aws-github-runner's variables of the same names.
const (
	scaleDownEvery     = 5 * time.Minute // scale_down_schedule_expression: cron(*/5 * * * ? *)
	minimumRunningTime = 5 * time.Minute // minimum_running_time_in_minutes (Linux)
)

func (b *busyFlag) Name() string { return BusyFlag }
func (b *busyFlag) Note() string {
	return "non-ephemeral runners, removed every 5 min when GitHub's busy flag reads false (terraform-aws-github-runner)"
}
func (b *busyFlag) Start(*fleet.Sim)                    {}
func (b *busyFlag) TickEvery() time.Duration            { return scaleDownEvery }
func (b *busyFlag) JobDone(*fleet.Sim, *fleet.Instance) {}
func (b *busyFlag) JobQueued(s *fleet.Sim, j *fleet.Job) {
	s.After(s.Lat.MessageDelay.Sample(s.Rng), func() { b.keep(scaleUp(s, j.Pool, true, 0)) })
}

func (b *busyFlag) keep(err error) {
	if err != nil && b.err == nil {
		b.err = err
	}
}

func (b *busyFlag) Tick(s *fleet.Sim) {
	for _, pool := range sortedPools(s) {
		b.keep(scaleUp(s, pool, true, 0))
		if s.ListFails() {
			continue // the Lambda fails and tries again in five minutes
		}
		for _, in := range s.Instances(pool) {
			if in.State == fleet.Booting {
				continue
			}
			if s.NotFound() {
				if in.Mark == 0 {
					in.Mark = s.Now()
				} else {
					s.Terminate(in)
				}
				continue
			}
			in.Mark = 0
			listedBusy := in.State == fleet.Busy && s.Now() >= in.BusyListedAt
			if s.Now()-in.LaunchedAt >= minimumRunningTime && !listedBusy {
				s.Terminate(in)
			}
		}
	}
}

// Err returns the first launch error (an unpriced instance type).
func (b *busyFlag) Err() error { return b.err }

// fixedLifetime is the spot-runner Lambda seed: one instance per queued job,
// an ephemeral runner, and a shutdown scheduled one hour after launch whatever
// the instance is doing. A job longer than the hour (minus the boot) is killed.
type fixedLifetime struct{ err error }

// Lifetime is the fixed-lifetime policy's instance lifetime.
const Lifetime = time.Hour

func (f *fixedLifetime) Name() string { return FixedLifetime }
func (f *fixedLifetime) Note() string {
	return "one instance per job, ephemeral runner, instance shut down 1 h after launch (spot-runner Lambda seed)"
}
func (f *fixedLifetime) Start(*fleet.Sim)                    {}
func (f *fixedLifetime) TickEvery() time.Duration            { return time.Minute }
func (f *fixedLifetime) JobDone(*fleet.Sim, *fleet.Instance) {}
func (f *fixedLifetime) JobQueued(s *fleet.Sim, j *fleet.Job) {
	s.After(s.Lat.MessageDelay.Sample(s.Rng), func() { f.keep(scaleUp(s, j.Pool, false, Lifetime)) })
}
func (f *fixedLifetime) Tick(s *fleet.Sim) {
	for _, pool := range sortedPools(s) {
		f.keep(scaleUp(s, pool, false, Lifetime))
	}
}
func (f *fixedLifetime) keep(err error) {
	if err != nil && f.err == nil {
		f.err = err
	}
}

// Err returns the first launch error (an unpriced instance type).
func (f *fixedLifetime) Err() error { return f.err }

// staticPets is the earlier Sage setup: one always-on on-demand instance per
// label (the pool's first instance type), a long-lived runner taking one job
// after another, never scaled.
type staticPets struct{}

func (staticPets) Name() string { return StaticPets }
func (staticPets) Note() string {
	return "one always-on on-demand instance per pool, jobs one after another (the earlier Sage runners)"
}
func (staticPets) Start(s *fleet.Sim) {
	for _, pool := range sortedPools(s) {
		if err := s.Pet(pool); err != nil {
			panic(err) // prices are checked before any run
		}
	}
}
func (staticPets) TickEvery() time.Duration            { return 0 }
func (staticPets) Tick(*fleet.Sim)                     {}
func (staticPets) JobQueued(*fleet.Sim, *fleet.Job)    {}
func (staticPets) JobDone(*fleet.Sim, *fleet.Instance) {}

// managed is a managed per-job runner service such as AWS CodeBuild-hosted
// GitHub Actions runners: a fresh machine per job after a provisioning delay,
// billed per started minute, and a build cap (36 hours for CodeBuild) that
// kills a longer job.
type managed struct{ price prices.Managed }

func (m *managed) Name() string { return Managed }
func (m *managed) Note() string {
	return fmt.Sprintf("a fresh managed machine per job (%s, %.4f USD per started minute, build cap %s)", m.price.Name, m.price.PerMinute, m.price.MaxBuild)
}
func (m *managed) Start(*fleet.Sim)                    {}
func (m *managed) TickEvery() time.Duration            { return 0 }
func (m *managed) Tick(*fleet.Sim)                     {}
func (m *managed) JobDone(*fleet.Sim, *fleet.Instance) {}
func (m *managed) JobQueued(s *fleet.Sim, j *fleet.Job) {
	s.ManagedJob(j, s.Lat.ManagedProvisioning.Sample(s.Rng), m.price.MaxBuildDuration(), func(run, idle time.Duration) {
		billed := time.Duration(math.Ceil(run.Minutes())) * time.Minute
		s.Rec.ManagedBuild(j.Pool, billed, idle, m.price.Cost(run))
	})
}

func sortedPools(s *fleet.Sim) []string {
	var names []string
	for n := range s.Pools {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
