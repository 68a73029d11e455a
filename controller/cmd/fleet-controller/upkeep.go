package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/go-github/v88/github"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/internal/groupprocesses"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/internal/runnerrelease"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// keepProcessesSuspended suspends AZRebalance (and what each pool kind needs)
// at start and every reconcile interval, and reports what it found resumed.
func keepProcessesSuspended(ctx context.Context, api groupprocesses.AutoScaling, s settings.Settings, metrics *controller.Metrics, log *slog.Logger) {
	var groups []groupprocesses.Group
	for _, p := range s.Pools {
		groups = append(groups, groupprocesses.Group{Name: p.AutoScalingGroupName, Kind: p.Kind})
	}
	poolOf := map[string]string{}
	for _, p := range s.Pools {
		poolOf[p.AutoScalingGroupName] = p.Name
	}
	interval := time.Duration(s.ReconcileSeconds) * time.Second
	if interval <= 0 {
		interval = 30 * time.Second
	}
	every(ctx, func() time.Duration {
		drifts, err := groupprocesses.Ensure(ctx, api, groups)
		for _, d := range drifts {
			metrics.Put(poolOf[d.Group], controller.MetricValue{Name: settings.MetricSuspendedProcessDrift, Unit: "Count", Value: float64(len(d.Resumed))})
			if len(d.Resumed) > 0 && d.Err == nil {
				log.Warn("suspended resumed processes", "group", d.Group, "processes", d.Resumed)
			}
		}
		if err != nil {
			log.Error("keeping processes suspended", "error", err.Error())
			metrics.Put("", controller.MetricValue{Name: controller.MetricErrors, Unit: "Count", Value: 1})
		}
		return interval
	})
}

// keepRunnerCurrent publishes the runner release to adopt at start and daily
// (hourly after a failure) and reports how far the version in use is behind.
// actions/runner is public: the reader needs no credential, and its two
// requests a day stay far inside the unauthenticated rate limit.
func keepRunnerCurrent(ctx context.Context, store runnerrelease.SSM, s settings.Settings, metrics *controller.Metrics, log *slog.Logger) {
	rr := s.RunnerRelease
	if rr.Parameter == "" {
		return
	}
	gh, err := github.NewClient(github.WithHTTPClient(&http.Client{Timeout: time.Minute}))
	if err != nil {
		log.Error("runner release reader", "error", err.Error())
		return
	}
	reader := runnerrelease.Reader{Repos: gh.Repositories}
	pub := runnerrelease.Publisher{SSM: store, Name: rr.Parameter}
	policy := runnerrelease.Policy{AdoptAfter: time.Duration(rr.AdoptAfterDays) * 24 * time.Hour, Floor: rr.FloorVersion, Pinned: rr.PinnedVersion}
	every(ctx, func() time.Duration {
		rep, err := runnerrelease.Check(ctx, reader, pub, policy, time.Now())
		for _, skipped := range rep.Skipped {
			log.Warn("runner release not publishable", "error", skipped.Error())
		}
		if err != nil {
			log.Error("runner release check failed; retrying in an hour", "error", err.Error(), "rate_limited", runnerrelease.IsRateLimited(err))
			metrics.Put("", controller.MetricValue{Name: controller.MetricErrors, Unit: "Count", Value: 1})
			return time.Hour
		}
		log.Info("runner release", "latest", rep.Latest.Version, "adopted", rep.Adopted.Version, "published", rep.Published,
			"in_use", rep.InUse, "days_behind", rep.DaysBehind)
		metrics.Put("", controller.MetricValue{Name: settings.MetricRunnerDaysBehind, Unit: "Count", Value: float64(rep.DaysBehind)})
		return 24 * time.Hour
	})
}

// every runs f now and then again after the delay f returns, until ctx ends.
func every(ctx context.Context, f func() time.Duration) {
	for {
		wait := f()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
