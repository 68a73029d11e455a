package controller

// The listener's side: the scale set's messages for one pool.

import (
	"context"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
	"github.com/actions/scaleset"
)

// PoolScaler receives one pool's scale set messages from the listener. Its
// methods never return an error: an error would stop the listener, and every
// failed step is retried by the next reconcile anyway.
type PoolScaler struct {
	c *Controller
	p *pool
}

// HandleJobStarted marks the runner busy and records queue-to-start latency.
// The controller's own job-started-at tag gets the start time (GitHub's runner
// assignment time, else now), which the max-runtime watchdog counts from
// after a restart.
func (s *PoolScaler) HandleJobStarted(ctx context.Context, m *scaleset.JobStarted) error {
	c := s.c
	at := c.now()
	if !m.RunnerAssignTime.IsZero() && m.RunnerAssignTime.Before(at) {
		at = m.RunnerAssignTime
	}
	if !c.markStarted(m.RunnerName, m.JobID, at) {
		return nil // duplicate
	}
	attrs := []any{"pool", s.p.cfg.Name, "runner_name", m.RunnerName, "instance_id", m.RunnerName, "job_id", m.JobID, "workflow_ref", m.JobWorkflowRef}
	if !m.QueueTime.IsZero() {
		d := c.now().Sub(m.QueueTime)
		c.metrics.Put(s.p.cfg.Name, seconds(MetricQueueToStartSeconds, d))
		attrs = append(attrs, "queue_to_start_seconds", d.Seconds())
	}
	c.log.Info("job started", attrs...)
	c.tagInstance(ctx, s.p, m.RunnerName, settings.TagJobStartedAt, at.UTC().Format(time.RFC3339))
	return nil
}

// HandleJobCompleted marks the runner's job over.
func (s *PoolScaler) HandleJobCompleted(ctx context.Context, m *scaleset.JobCompleted) error {
	c := s.c
	if !c.markCompleted(m.RunnerName, m.JobID) {
		return nil
	}
	c.log.Info("job completed", "pool", s.p.cfg.Name, "runner_name", m.RunnerName, "instance_id", m.RunnerName, "job_id", m.JobID, "result", m.Result)
	c.tagInstance(ctx, s.p, m.RunnerName, settings.TagJobCompleted, c.now().UTC().Format(time.RFC3339))
	return nil
}

// HandleDesiredRunnerCount takes TotalAssignedJobs, the demand signal, and
// scales the group. It returns the group's desired capacity.
func (s *PoolScaler) HandleDesiredRunnerCount(ctx context.Context, assigned int) (int, error) {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.assigned, p.known = assigned, true
	views, err := s.c.describe(ctx, []*pool{p})
	if err != nil {
		s.c.fail(p, "scale", err)
		return 0, nil
	}
	v := views[p]
	if v == nil {
		return 0, nil
	}
	return s.c.scale(ctx, p, v), nil
}
