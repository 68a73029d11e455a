package world

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS is the event queue of the world: EventBridge puts lifecycle actions and
// spot warnings on it. A received message comes back after the visibility
// timeout unless it is deleted; DropQueue loses what is queued (events
// EventBridge never delivered).
type SQS struct{ w *World }

type message struct {
	body      string
	handle    string
	visibleAt time.Time
}

// SendEvent queues an EventBridge event body.
func (w *World) SendEvent(body string) {
	w.Mu.Lock()
	defer w.Mu.Unlock()
	w.send(body)
}

func (w *World) send(body string) {
	w.queue = append(w.queue, &message{body: body})
}

// QueueLen is how many messages are on the queue (in flight included).
func (w *World) QueueLen() int {
	w.Mu.Lock()
	defer w.Mu.Unlock()
	return len(w.queue)
}

// DropQueue loses every queued message (an event that never arrived).
func (w *World) DropQueue() {
	w.Mu.Lock()
	defer w.Mu.Unlock()
	w.queue = nil
}

// ReceiveMessage returns up to MaxNumberOfMessages visible messages and hides
// them for the visibility timeout. It never waits in simulated time; when the
// queue is empty and ctx carries no deadline it pauses a few real milliseconds
// so a real long-poll loop does not spin.
func (q *SQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	w := q.w
	w.Mu.Lock()
	if err := w.take("ReceiveMessage", w.Now()); err != nil {
		w.Mu.Unlock()
		return nil, err
	}
	now := w.Now()
	n := int(in.MaxNumberOfMessages)
	if n <= 0 {
		n = 1
	}
	out := &sqs.ReceiveMessageOutput{}
	for _, m := range w.queue {
		if len(out.Messages) == n {
			break
		}
		if now.Before(m.visibleAt) {
			continue
		}
		w.nextMsg++
		m.handle, m.visibleAt = strconv.Itoa(w.nextMsg), now.Add(w.Opt.SQSVisibility)
		out.Messages = append(out.Messages, sqstypes.Message{Body: aws.String(m.body), ReceiptHandle: aws.String(m.handle)})
	}
	w.Mu.Unlock()
	if len(out.Messages) == 0 && in.WaitTimeSeconds > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	return out, nil
}

// DeleteMessage removes the message whose latest receipt handle is given.
func (q *SQS) DeleteMessage(_ context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	w := q.w
	w.Mu.Lock()
	defer w.Mu.Unlock()
	if err := w.take("DeleteMessage", w.Now()); err != nil {
		return nil, err
	}
	h := aws.ToString(in.ReceiptHandle)
	for i, m := range w.queue {
		if m.handle == h {
			w.queue = append(w.queue[:i], w.queue[i+1:]...)
			break
		}
	}
	return &sqs.DeleteMessageOutput{}, nil
}
