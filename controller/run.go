package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/actions/scaleset/listener"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// ---- JIT configs in SSM ----

func (c *Controller) parameterName(id string) string { return c.s.JitParameterPrefix + id }

// putConfig stores the JIT config as a SecureString tagged with the instance's
// ARN: the IAM policy lets only that instance read and delete it.
//
// Both writes ask for the Advanced tier: a Standard parameter holds at most
// 4 KB and GitHub's encoded JIT configs can be larger, which SSM refuses with
// a ValidationException (fatal, so the launch would never get its config). An
// Advanced parameter holds 8 KB and is billed per hour while it exists; the
// config lives only until the instance reads and deletes it.
func (c *Controller) putConfig(ctx context.Context, p *pool, v *groupView, id, config string) error {
	account := c.accountID()
	if account == "" {
		account = accountFromArn(v.arn)
	}
	if account == "" {
		return errors.New("account id unknown: cannot tag the JIT parameter with the instance ARN")
	}
	arn := fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", c.s.Region, account, id)
	name := c.parameterName(id)
	return c.aws(ctx, "put-jit-parameter", func(ctx context.Context) error {
		_, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String(name), Value: aws.String(config), Type: ssmtypes.ParameterTypeSecureString,
			Tier:        ssmtypes.ParameterTierAdvanced,
			Description: aws.String("single-use GitHub runner JIT config for " + id),
			Tags: []ssmtypes.Tag{
				{Key: aws.String(settings.TagEnvironment), Value: aws.String(c.s.Environment)},
				{Key: aws.String(settings.TagJitInstanceArn), Value: aws.String(arn)},
			},
		})
		var exists *ssmtypes.ParameterAlreadyExists
		if errors.As(err, &exists) {
			// Left by an earlier attempt for this same instance, so its tags are
			// right already; Overwrite cannot be combined with Tags.
			_, err = c.ssm.PutParameter(ctx, &ssm.PutParameterInput{
				Name: aws.String(name), Value: aws.String(config), Type: ssmtypes.ParameterTypeSecureString,
				Tier: ssmtypes.ParameterTierAdvanced, Overwrite: aws.Bool(true),
			})
		}
		return err
	})
}

func (c *Controller) deleteConfig(ctx context.Context, p *pool, id string) {
	err := c.aws(ctx, "delete-jit-parameter", func(ctx context.Context) error {
		_, err := c.ssm.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(c.parameterName(id))})
		return err
	})
	var nf *ssmtypes.ParameterNotFound
	if err != nil && !errors.As(err, &nf) {
		c.fail(p, "delete-jit-parameter", err, "instance_id", id)
	}
}

// listConfigs lists the names of the JIT config parameters. The sweeper lists
// them before it describes the groups: a config is put only for an instance
// already launched, so every config listed belongs to an instance that the
// describe after it shows, unless that instance is gone.
func (c *Controller) listConfigs(ctx context.Context) ([]string, error) {
	var names []string
	err := c.aws(ctx, "describe-parameters", func(ctx context.Context) error {
		names = nil
		in := &ssm.DescribeParametersInput{MaxResults: aws.Int32(50), ParameterFilters: []ssmtypes.ParameterStringFilter{{
			Key: aws.String("Path"), Option: aws.String("OneLevel"), Values: []string{strings.TrimSuffix(c.s.JitParameterPrefix, "/")},
		}}}
		for pages := ssm.NewDescribeParametersPaginator(c.ssm, in); pages.HasMorePages(); {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, m := range out.Parameters {
				names = append(names, aws.ToString(m.Name))
			}
		}
		return nil
	})
	return names, err
}

// sweepConfigs deletes the listed JIT configs whose instance is in no group.
func (c *Controller) sweepConfigs(ctx context.Context, names []string, known map[string]bool) {
	for _, n := range names {
		id := strings.TrimPrefix(n, c.s.JitParameterPrefix)
		if known[id] {
			continue
		}
		c.deleteConfig(ctx, nil, id)
		c.log.Info("leftover JIT config deleted", "instance_id", id)
	}
}

func publishInput(topic, subject, msg string) *sns.PublishInput {
	return &sns.PublishInput{TopicArn: aws.String(topic), Subject: aws.String(subject), Message: aws.String(msg)}
}

// ---- the event queue ----

// EventBridge envelope and the two detail shapes the queue carries.
type event struct {
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
}

type lifecycleDetail struct {
	AutoScalingGroupName string `json:"AutoScalingGroupName"`
	EC2InstanceID        string `json:"EC2InstanceId"`
	LifecycleTransition  string `json:"LifecycleTransition"`
	// Origin and Destination say where the instance comes from and goes to:
	// EC2, AutoScalingGroup or WarmPool.
	Origin      string `json:"Origin"`
	Destination string `json:"Destination"`
}

// warmPoolPlace is the Origin or Destination of a lifecycle event for an
// instance entering or leaving the warm pool.
const warmPoolPlace = "WarmPool"

type spotDetail struct {
	InstanceID string `json:"instance-id"`
}

// Event detail types.
const (
	EventLaunch       = "EC2 Instance-launch Lifecycle Action"
	EventTerminate    = "EC2 Instance-terminate Lifecycle Action"
	EventInterruption = "EC2 Spot Instance Interruption Warning"
)

// ErrBadEvent marks a message that will never be understood; it is dropped.
var ErrBadEvent = errors.New("unreadable event")

// HandleEvent acts on one queue message. A lifecycle event reconciles its pool
// (which handles that instance and any other waiting one, so duplicates and
// lost events cost nothing); an interruption warning triggers the spot path.
func (c *Controller) HandleEvent(ctx context.Context, body string) error {
	var e event
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	switch e.DetailType {
	case EventLaunch, EventTerminate:
		var d lifecycleDetail
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			return fmt.Errorf("%w: %v", ErrBadEvent, err)
		}
		p := c.byGroup[d.AutoScalingGroupName]
		if p == nil {
			return nil // not ours, or the test notification
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		// An instance entering or leaving the warm pool: describe the pool even
		// if the group describe does not show one yet. What is done to the
		// instance follows its state as described, not the event, so a late
		// event cannot let a group instance through without a config.
		return c.reconcileLocked(ctx, p, d.Origin == warmPoolPlace || d.Destination == warmPoolPlace)
	case EventInterruption:
		var d spotDetail
		if err := json.Unmarshal(e.Detail, &d); err != nil || d.InstanceID == "" {
			return fmt.Errorf("%w: interruption without instance id", ErrBadEvent)
		}
		return c.interruption(ctx, d.InstanceID)
	}
	return nil
}

func (c *Controller) pollQueue(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		var out *sqs.ReceiveMessageOutput
		err := c.aws(ctx, "receive-events", func(ctx context.Context) error {
			var err error
			out, err = c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
				QueueUrl: aws.String(c.s.EventQueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 20,
			})
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			attempt++
			c.fail(nil, "receive-events", err)
			_ = sleepCtx(ctx, c.retry.Delay(attempt, 0))
			continue
		}
		attempt = 0
		for _, m := range out.Messages {
			err := c.HandleEvent(ctx, aws.ToString(m.Body))
			if err != nil && !errors.Is(err, ErrBadEvent) {
				// Left on the queue: it comes back after the visibility timeout.
				c.fail(nil, "handle-event", err)
				continue
			}
			if err != nil {
				c.log.Warn("dropping unreadable event", "error", err.Error())
			}
			derr := c.aws(ctx, "delete-event", func(ctx context.Context) error {
				_, err := c.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(c.s.EventQueueURL), ReceiptHandle: m.ReceiptHandle})
				return err
			})
			if derr != nil {
				c.fail(nil, "delete-event", derr)
			}
		}
	}
}

// ---- the main loop ----

// Run ensures the scale sets, then runs one listener per pool, the event
// queue poller, the periodic reconcile and the sweeper until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if err := c.EnsureScaleSets(ctx); err != nil {
		c.log.Error("some scale sets are not ready; retrying on each reconcile", "error", err.Error())
	}
	var wg sync.WaitGroup
	for _, p := range c.pools {
		wg.Go(func() { c.listen(ctx, p) })
	}
	wg.Go(func() { c.pollQueue(ctx) })
	wg.Go(func() { c.every(ctx, seconds0(c.s.ReconcileSeconds, DefaultReconcileInterval), c.Reconcile) })
	wg.Go(func() { c.every(ctx, seconds0(c.s.SweepSeconds, DefaultSweepInterval), c.Sweep) })
	wg.Wait()
	return ctx.Err()
}

func seconds0(n int, def time.Duration) time.Duration {
	if n > 0 {
		return time.Duration(n) * time.Second
	}
	return def
}

func (c *Controller) every(ctx context.Context, d time.Duration, fn func(context.Context) error) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		_ = fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SessionConflictBackoff is the shortest wait before opening a session again
// after GitHub answered 409 (another listener holds the scale set's session,
// or the session of a crashed controller has not expired yet); up to as much
// again is added as jitter.
const SessionConflictBackoff = 30 * time.Second

// listen keeps one listener running for the pool, reopening the session
// after any failure with jittered backoff. A session conflict (409) is not an
// error of this controller: it waits at least SessionConflictBackoff, emits
// SessionConflicts each time and logs at most once a minute.
func (c *Controller) listen(ctx context.Context, p *pool) {
	scaler := &PoolScaler{c: c, p: p}
	pause := c.retry.withDefaults().Sleep
	attempt := 0
	var lastConflictLog time.Time
	for ctx.Err() == nil {
		p.mu.Lock()
		id := p.scaleSetID
		p.mu.Unlock()
		if id == 0 {
			_ = pause(ctx, 5*time.Second)
			continue
		}
		began := c.now()
		err := c.listenOnce(ctx, p, id, scaler)
		if ctx.Err() != nil {
			return
		}
		if githubStatus(err) == http.StatusConflict {
			c.metrics.Put(p.cfg.Name, count(MetricSessionConflicts, 1))
			if now := c.now(); now.Sub(lastConflictLog) >= time.Minute {
				lastConflictLog = now
				c.log.Warn("scale set session held by another listener (409): waiting for it to close or expire", "pool", p.cfg.Name, "scale_set_id", id, "error", err.Error())
			}
			_ = pause(ctx, SessionConflictBackoff+rand.N(SessionConflictBackoff))
			continue
		}
		if c.now().Sub(began) > time.Minute {
			attempt = 0
		}
		attempt++
		c.fail(p, "listener", err)
		_ = pause(ctx, c.retry.Delay(attempt, 0))
	}
}

func (c *Controller) listenOnce(ctx context.Context, p *pool, id int, scaler listener.Scaler) error {
	sess, err := c.gh.OpenSession(ctx, id)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = sess.Close(cctx)
	}()
	l, err := listener.New(sess, listener.Config{ScaleSetID: id, MaxRunners: p.cfg.Max, Logger: c.log.With("pool", p.cfg.Name, "component", "listener")})
	if err != nil {
		return err
	}
	c.log.Info("listening", "pool", p.cfg.Name, "scale_set_id", id)
	return l.Run(ctx, scaler)
}
