package controller

// The EventBridge event queue (SQS).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

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
		return fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	switch e.DetailType {
	case EventLaunch, EventTerminate:
		var d lifecycleDetail
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			return fmt.Errorf("%w: %w", ErrBadEvent, err)
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
