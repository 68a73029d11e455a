package controller

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/actions/scaleset"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
	"github.com/Sage-Bionetworks/synapse-ops-runners/githubcred"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/world"
)

// liveController runs a real controller (real scaleset client and listener,
// over loopback HTTP) against the fake AWS world.
type liveController struct {
	srv    *scaleSetServer
	w      *world.World
	c      *Controller
	logs   *bytes.Buffer
	cancel context.CancelFunc
	done   chan error
}

func startLive(tb testing.TB, s settings.Settings) *liveController {
	tb.Helper()
	srv := newScaleSetServer(tb)
	s.GitHubURL = srv.repoURL()
	s.Repository = "o/r"
	s.CredentialKind = settings.CredentialPAT
	fa := newWorld(s, world.Options{})
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(&LockedWriter{W: logs}, nil))
	retry := Backoff{Base: time.Millisecond, Max: 5 * time.Millisecond}
	connect := func(context.Context) (*Connection, error) {
		return NewConnection(githubcred.Credential{Kind: githubcred.KindPAT, Token: "test-token-not-real"}, ConnectOptions{GitHubURL: s.GitHubURL})
	}
	ctx, cancel := context.WithCancel(context.Background())
	gh, err := NewGitHub(ctx, connect, retry, log)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := New(Options{Settings: s, GitHub: gh, AutoScaling: fa.AutoScaling, EC2: fa.EC2, SSM: fa.SSM, SQS: fa.SQS, SNS: fa.SNS, Logger: log, Now: fa.Now, Retry: retry})
	if err != nil {
		tb.Fatal(err)
	}
	l := &liveController{srv: srv, w: fa, c: c, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { l.done <- c.Run(ctx) }()
	tb.Cleanup(l.stop)
	return l
}

func (l *liveController) stop() {
	if l.cancel != nil {
		l.cancel()
		<-l.done
		l.cancel = nil
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *liveController) pushEvent(detailType, group, id string) {
	l.w.SendEvent(`{"detail-type":"` + detailType + `","detail":{"AutoScalingGroupName":"` + group + `","EC2InstanceId":"` + id + `"}}`)
}

// TestIntegrationJobAssignedToInstanceTerminated runs the real scaleset client
// and listener end to end: scale set created, session opened, a job assigned
// raises the group, the launch hook gets a JIT config from the server, the job
// starts and completes, the instance removes itself, the terminate hook is
// released, and nothing is left: no instance, no config, no registration.
func TestIntegrationJobAssignedToInstanceTerminated(t *testing.T) {
	s := testSettings()
	s.Pools = s.Pools[:1]
	s.ReconcileSeconds, s.SweepSeconds = 1, 1
	l := startLive(t, s)
	group := s.Pools[0].AutoScalingGroupName

	eventually(t, "scale set created and session opened", func() bool {
		l.srv.mu.Lock()
		defer l.srv.mu.Unlock()
		return len(l.srv.sets) == 1 && l.srv.sessions >= 1
	})
	l.srv.mu.Lock()
	set := l.srv.sets[1]
	l.srv.mu.Unlock()
	if set.Name != "synapse-dev" || set.RunnerGroupID != 7 || len(set.Labels) != 1 || set.Labels[0].Name != "synapse-dev" {
		t.Fatalf("scale set %+v", set)
	}

	// GitHub assigns a job: the listener acquires it and the group scales out.
	l.srv.send(1, scaleset.JobAvailable{JobMessageBase: scaleset.JobMessageBase{JobMessageType: scaleset.JobMessageType{MessageType: scaleset.MessageTypeJobAvailable}, RunnerRequestID: 42, JobID: "job-42"}})
	eventually(t, "desired capacity 1", func() bool { return l.w.Count("SetDesiredCapacity") >= 1 && desiredOf(l.w, group) == 1 })

	// Auto Scaling launches; EventBridge delivers the launch hook event.
	id := l.w.Tick()[0]
	l.pushEvent(EventLaunch, group, id)
	eventually(t, "launch hook continued", func() bool { return completedOf(l.w, id) == "CONTINUE" })
	l.w.Mu.Lock()
	p := l.w.Params[s.JitParameterPrefix+id]
	l.w.Mu.Unlock()
	if p.Value != "jit-"+id || p.Tags[settings.TagJitInstanceArn] != "arn:aws:ec2:us-east-1:123456789012:instance/"+id {
		t.Fatalf("JIT parameter %+v", p)
	}

	// The instance boots: reads and deletes its config, the runner connects and takes the job.
	l.w.Mu.Lock()
	delete(l.w.Params, s.JitParameterPrefix+id)
	l.w.Mu.Unlock()
	l.srv.setRunner(id, func(r *serverRunner) { r.online, r.job = true, "job-42" })
	started := scaleset.JobStarted{RunnerName: id, RunnerID: 1, JobMessageBase: scaleset.JobMessageBase{JobMessageType: scaleset.JobMessageType{MessageType: scaleset.MessageTypeJobStarted}, RunnerRequestID: 42, JobID: "job-42", QueueTime: l.w.Now().Add(-15 * time.Second), RunnerAssignTime: l.w.Now().Add(-5 * time.Second)}}
	l.srv.send(1, started, started) // duplicated on purpose
	// The controller's record holds the start time (GitHub's runner assignment time), which
	// the max-runtime watchdog counts from after a restart.
	wantStart := l.w.Now().Add(-5 * time.Second).UTC().Format(time.RFC3339)
	eventually(t, "job-started marker", func() bool { return tagOf(l.w, id, settings.TagJobStartedAt) == wantStart })

	// Demand disappears while the job runs: the busy instance must stay.
	l.srv.send(0)
	time.Sleep(100 * time.Millisecond)
	if slices.Contains(termsOf(l.w), id) {
		t.Fatal("busy instance terminated on scale-in")
	}

	// The job completes; GitHub drops the ephemeral registration; the
	// instance terminates itself and waits in the terminate hook.
	l.srv.setRunner(id, func(r *serverRunner) { r.job = "" })
	l.srv.mu.Lock()
	delete(l.srv.runners, id)
	l.srv.mu.Unlock()
	l.srv.send(0, scaleset.JobCompleted{RunnerName: id, Result: "succeeded", JobMessageBase: scaleset.JobMessageBase{JobMessageType: scaleset.JobMessageType{MessageType: scaleset.MessageTypeJobCompleted}, RunnerRequestID: 42, JobID: "job-42"}})
	eventually(t, "job-completed marker", func() bool { return tagOf(l.w, id, settings.TagJobCompleted) != "" })
	l.w.Mu.Lock()
	l.w.SelfTerminateLocked(id, true)
	l.w.Mu.Unlock()
	l.pushEvent(EventTerminate, group, id)
	eventually(t, "instance gone", func() bool {
		l.w.Mu.Lock()
		defer l.w.Mu.Unlock()
		return len(l.w.Instances) == 0
	})
	l.stop()

	l.srv.mu.Lock()
	defer l.srv.mu.Unlock()
	l.w.Mu.Lock()
	defer l.w.Mu.Unlock()
	if len(l.w.Params) != 0 || len(l.srv.runners) != 0 || l.w.Groups[group].Desired != 0 {
		t.Fatalf("left behind: params %v runners %v desired %d", l.w.Params, l.srv.runners, l.w.Groups[group].Desired)
	}
	if !slices.Contains(l.srv.acquired, 42) {
		t.Fatalf("job not acquired: %v", l.srv.acquired)
	}
	if len(l.srv.acked) < 4 {
		t.Fatalf("messages not acknowledged: %v", l.srv.acked)
	}
}

func desiredOf(f *world.World, g string) int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.Groups[g].Desired
}

func completedOf(f *world.World, id string) string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.Completed[id]
}

func tagOf(f *world.World, id, key string) string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if i := f.Instances[id]; i != nil {
		return i.Tags[key]
	}
	return ""
}

func termsOf(f *world.World) []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var out []string
	for _, t := range f.Terms {
		out = append(out, t.ID)
	}
	return out
}

// BenchmarkReactionTime measures the time from a scale set message leaving the
// loopback server to the SetDesiredCapacity call it causes, through the real
// scaleset client, listener and controller. Demand alternates 1 and 0, so
// every message changes the desired capacity.
func BenchmarkReactionTime(b *testing.B) {
	s := testSettings()
	s.Pools = s.Pools[:1]
	s.ReconcileSeconds, s.SweepSeconds = 3600, 3600
	l := startLive(b, s)
	var mu sync.Mutex
	got := make(chan time.Time, 1)
	l.w.Mu.Lock()
	l.w.Groups[s.Pools[0].AutoScalingGroupName].AutoLaunch = false
	l.w.OnSetDesired = func(int) {
		mu.Lock()
		defer mu.Unlock()
		select {
		case got <- time.Now():
		default:
		}
	}
	l.w.Mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for l.c.ScaleSetID("default") == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the listener's first poll
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		select { // drop a call no message of ours caused
		case <-got:
		default:
		}
		sent := time.Now()
		l.srv.send((i + 1) % 2)
		select {
		case at := <-got:
			lat = append(lat, at.Sub(sent))
		case <-time.After(5 * time.Second):
			b.Fatalf("message %d caused no AWS call", i)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
