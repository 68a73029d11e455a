package controller

// The max-runtime watchdog: the one rule that may end a running job.

import (
	"context"
	"fmt"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// jobStart is when the instance's job started, from the controller's own
// record (memory, else its TagJobStartedAt tag). Without a record (a restart
// lost the JobStarted message, or only the runner's marker says a job runs),
// the controller counts from the first time it sees the job and records that
// in memory and in its own tag: the watchdog may then fire late, never early,
// and nothing a job writes moves its clock.
func (c *Controller) jobStart(ctx context.Context, p *pool, in *instance, f facts) time.Time {
	if !f.startedAt.IsZero() {
		return f.startedAt
	}
	c.mu.Lock()
	j := c.job(in.ID)
	if j.started.IsZero() {
		j.started = c.now()
	}
	start := j.started
	c.mu.Unlock()
	c.log.Warn("job start time unknown: counting the maximum runtime from now", "pool", p.cfg.Name, "instance_id", in.ID)
	c.tagInstance(ctx, p, in.ID, settings.TagJobStartedAt, start.UTC().Format(time.RFC3339))
	in.Tags[settings.TagJobStartedAt] = start.UTC().Format(time.RFC3339)
	return start
}

func (c *Controller) maxRuntimeGrace(p *pool) time.Duration {
	if p.cfg.MaxRuntimeGraceMinutes > 0 {
		return time.Duration(p.cfg.MaxRuntimeGraceMinutes) * time.Minute
	}
	return DefaultMaxRuntimeGrace
}

func (c *Controller) warnedAt(in *instance) time.Time {
	c.mu.Lock()
	t, ok := c.warned[in.ID]
	c.mu.Unlock()
	if ok {
		return t
	}
	t, _ = time.Parse(time.RFC3339, in.Tags[settings.TagMaxRuntimeWarned])
	return t
}

func (c *Controller) maxRuntimeDue(p *pool, in *instance) bool {
	w := c.warnedAt(in)
	return !w.IsZero() && c.now().Sub(w) >= c.maxRuntimeGrace(p)
}

// maxRuntime raises the alarm the first time an instance is over its pool's
// maximum runtime and terminates it, busy or not, once the grace has passed.
func (c *Controller) maxRuntime(ctx context.Context, p *pool, in *instance) {
	now := c.now()
	w := c.warnedAt(in)
	if w.IsZero() {
		f := c.facts(in)
		msg := fmt.Sprintf("the job on runner %s in pool %s (%s) passed its maximum runtime of %d h (started %s); the instance will be terminated in %s",
			in.ID, p.cfg.Name, c.s.Environment, p.cfg.MaxRuntimeHours, f.startedAt.UTC().Format(time.RFC3339), c.maxRuntimeGrace(p))
		c.log.Error("max runtime exceeded", "pool", p.cfg.Name, "instance_id", in.ID, "runner_name", in.ID, "job_running", f.busy(), "job_started", f.startedAt.UTC().Format(time.RFC3339))
		c.metrics.Put(p.cfg.Name, count(MetricMaxRuntimeExceeded, 1))
		if c.sns != nil && c.s.AlarmTopicArn != "" {
			err := c.aws(ctx, "publish-alarm", func(ctx context.Context) error {
				_, err := c.sns.Publish(ctx, publishInput(c.s.AlarmTopicArn, "synapse-ops-runners: max runtime exceeded", msg))
				return err
			})
			if err != nil {
				c.fail(p, "publish-alarm", err, "instance_id", in.ID)
			}
		}
		c.mu.Lock()
		c.warned[in.ID] = now
		c.mu.Unlock()
		c.tagInstance(ctx, p, in.ID, settings.TagMaxRuntimeWarned, now.UTC().Format(time.RFC3339))
		return
	}
	if now.Sub(w) >= c.maxRuntimeGrace(p) {
		c.remove(ctx, p, in, "max runtime exceeded", true)
	}
}

func publishInput(topic, subject, msg string) *sns.PublishInput {
	return &sns.PublishInput{TopicArn: aws.String(topic), Subject: aws.String(subject), Message: aws.String(msg)}
}
