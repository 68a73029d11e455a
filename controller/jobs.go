package controller

// Job facts: the scale set's messages, remembered in memory and as the controller's own instance tags.

import (
	"context"
	"strings"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

type facts struct {
	started bool
	// startedAt is when the job started, zero when that is unknown (the
	// marker tag holds something that is not a time).
	startedAt   time.Time
	completed   bool
	completedAt time.Time
}

func (f facts) busy() bool { return f.started && !f.completed }

func (c *Controller) facts(in *instance) facts {
	c.mu.Lock()
	defer c.mu.Unlock()
	var f facts
	j := c.jobs[in.ID]
	record := in.Tags[settings.TagJobStartedAt]
	// The runner's own marker makes the instance busy (more care), but its
	// value is never a start time: the job can write it.
	f.started = (j != nil && !j.started.IsZero()) || record != "" || in.Tags[settings.TagJobStarted] != ""
	switch {
	case j != nil && !j.started.IsZero():
		f.startedAt = j.started
	case record != "":
		f.startedAt, _ = time.Parse(time.RFC3339, record)
	}
	switch {
	case j != nil && !j.completed.IsZero():
		f.completed, f.completedAt = true, j.completed
	case in.Tags[settings.TagJobCompleted] != "":
		f.completed = true
		f.completedAt, _ = time.Parse(time.RFC3339, in.Tags[settings.TagJobCompleted])
	}
	return f
}

func (c *Controller) job(name string) *jobState {
	j := c.jobs[name]
	if j == nil {
		j = &jobState{seen: c.now()}
		c.jobs[name] = j
	}
	return j
}

// markStarted records that a job runs on the runner since at; it reports
// whether this is news.
func (c *Controller) markStarted(name, jobID string, at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.job(name)
	if !j.started.IsZero() {
		return false
	}
	j.started, j.jobID = at, jobID
	return true
}

// markCompleted records that the runner's job is over. A completion that
// arrives before its start is kept: the later start cannot make it busy again.
func (c *Controller) markCompleted(name, jobID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.job(name)
	if !j.completed.IsZero() {
		return false
	}
	j.completed = c.now()
	if j.jobID == "" {
		j.jobID = jobID
	}
	return true
}

func (c *Controller) tagInstance(ctx context.Context, p *pool, id, key, value string) {
	if !looksLikeInstanceID(id) {
		return
	}
	err := c.aws(ctx, "tag-instance", func(ctx context.Context) error {
		_, err := c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String(key), Value: aws.String(value)}}})
		return err
	})
	if err != nil {
		c.fail(p, "tag-instance", err, "instance_id", id, "tag", key)
	}
}

func looksLikeInstanceID(s string) bool {
	if !strings.HasPrefix(s, "i-") || len(s) < 10 || len(s) > 19 {
		return false
	}
	for _, r := range s[2:] {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// knownIdle reports that the controller holds GitHub's word (JobCompleted)
// that the instance's job is over.
func (c *Controller) knownIdle(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.jobs[id]
	return j != nil && !j.completed.IsZero()
}
