package controller

import (
	"context"
	"testing"
	"time"
)

// An event whose handling failed stays on the queue (it comes back after the
// visibility timeout); one handled is deleted.
func TestEventQueueKeepsWhatFailed(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail bool
		left int
	}{{"handled_event_deleted", false, 0}, {"failed_event_kept", true, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.fail {
				h.w.FailAlways("DescribeAutoScalingGroups", apiErr("InternalError", "x"))
			}
			h.w.SendEvent(lifecycleEvent(EventLaunch, "asg-default", "i-0000000000000abcd", "EC2", "AutoScalingGroup"))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { h.c.pollQueue(ctx); close(done) }()
			deadline := time.Now().Add(5 * time.Second)
			for h.w.Count("ReceiveMessage") < 3 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			cancel()
			<-done
			must(t, h.w.QueueLen() == tc.left, "queue holds %d messages, want %d", h.w.QueueLen(), tc.left)
		})
	}
}

// A spot warning for a runner whose JobStarted has not arrived yet: GitHub
// refuses to deregister it, and nothing forces the removal past that.
func TestSpotWarningNeverForcesPastGitHub(t *testing.T) {
	h := newHarness(t)
	id := h.provisioned("default", 1)[0]
	h.boot(id)
	h.gh.StartJob(id, "j") // the message is still on its way
	must(t, h.c.HandleEvent(context.Background(), `{"detail-type":"`+EventInterruption+`","detail":{"instance-id":"`+id+`"}}`) == nil, "event")
	must(t, len(h.terminatedIDs()) == 0 && h.gh.Has(id), "busy runner removed on a spot warning: %v", h.terminatedIDs())
}
