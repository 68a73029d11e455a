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
)

// liveController runs a real controller (real scaleset client and listener,
// over loopback HTTP) against the fake AWS world.
type liveController struct {
	srv    *scaleSetServer
	aws    *fakeAWS
	c      *Controller
	logs   *bytes.Buffer
	cancel context.CancelFunc
	done   chan error
}

func startLive(tb testing.TB, s settings.Settings, clk *clock) *liveController {
	tb.Helper()
	srv := newScaleSetServer(tb)
	s.GitHubURL = srv.repoURL()
	s.Repository = "o/r"
	s.CredentialKind = settings.CredentialPAT
	fa := newFakeAWS(clk.Now)
	for _, p := range s.Pools {
		fa.addGroup(p.AutoScalingGroupName, p.Min, p.Max, p.TerminateHookName != "")
	}
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
	c, err := New(Options{Settings: s, GitHub: gh, AutoScaling: fa, EC2: fa, SSM: fa, SQS: fa, SNS: fa, Logger: log, Now: clk.Now, Retry: retry})
	if err != nil {
		tb.Fatal(err)
	}
	l := &liveController{srv: srv, aws: fa, c: c, logs: logs, cancel: cancel, done: make(chan error, 1)}
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
	l.aws.mu.Lock()
	defer l.aws.mu.Unlock()
	l.aws.queue = append(l.aws.queue, `{"detail-type":"`+detailType+`","detail":{"AutoScalingGroupName":"`+group+`","EC2InstanceId":"`+id+`"}}`)
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
	clk := newClock()
	l := startLive(t, s, clk)
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
	eventually(t, "desired capacity 1", func() bool { return l.aws.count("SetDesiredCapacity") >= 1 && desiredOf(l.aws, group) == 1 })

	// Auto Scaling launches; EventBridge delivers the launch hook event.
	id := l.aws.Tick()[0]
	l.pushEvent(EventLaunch, group, id)
	eventually(t, "launch hook continued", func() bool { return completedOf(l.aws, id) == "CONTINUE" })
	l.aws.mu.Lock()
	p := l.aws.params[s.JitParameterPrefix+id]
	l.aws.mu.Unlock()
	if p.value != "jit-"+id || p.tags[settings.TagJitInstanceArn] != "arn:aws:ec2:us-east-1:123456789012:instance/"+id {
		t.Fatalf("JIT parameter %+v", p)
	}

	// The instance boots: reads and deletes its config, the runner connects and takes the job.
	l.aws.mu.Lock()
	delete(l.aws.params, s.JitParameterPrefix+id)
	l.aws.mu.Unlock()
	l.srv.setRunner(id, func(r *fakeRunner) { r.online, r.job = true, "job-42" })
	started := scaleset.JobStarted{RunnerName: id, RunnerID: 1, JobMessageBase: scaleset.JobMessageBase{JobMessageType: scaleset.JobMessageType{MessageType: scaleset.MessageTypeJobStarted}, RunnerRequestID: 42, JobID: "job-42", QueueTime: clk.Now().Add(-15 * time.Second), RunnerAssignTime: clk.Now().Add(-5 * time.Second)}}
	l.srv.send(1, started, started) // duplicated on purpose
	// The marker holds the start time (GitHub's runner assignment time), which
	// the max-runtime watchdog counts from after a restart.
	wantStart := clk.Now().Add(-5 * time.Second).UTC().Format(time.RFC3339)
	eventually(t, "job-started marker", func() bool { return tagOf(l.aws, id, settings.TagJobStarted) == wantStart })

	// Demand disappears while the job runs: the busy instance must stay.
	l.srv.send(0)
	time.Sleep(100 * time.Millisecond)
	if slices.Contains(termsOf(l.aws), id) {
		t.Fatal("busy instance terminated on scale-in")
	}

	// The job completes; GitHub drops the ephemeral registration; the
	// instance terminates itself and waits in the terminate hook.
	l.srv.setRunner(id, func(r *fakeRunner) { r.job = "" })
	l.srv.mu.Lock()
	delete(l.srv.runners, id)
	l.srv.mu.Unlock()
	l.srv.send(0, scaleset.JobCompleted{RunnerName: id, Result: "succeeded", JobMessageBase: scaleset.JobMessageBase{JobMessageType: scaleset.JobMessageType{MessageType: scaleset.MessageTypeJobCompleted}, RunnerRequestID: 42, JobID: "job-42"}})
	eventually(t, "job-completed marker", func() bool { return tagOf(l.aws, id, settings.TagJobCompleted) != "" })
	l.aws.mu.Lock()
	l.aws.selfTerminate(id, true)
	l.aws.mu.Unlock()
	l.pushEvent(EventTerminate, group, id)
	eventually(t, "instance gone", func() bool {
		l.aws.mu.Lock()
		defer l.aws.mu.Unlock()
		return len(l.aws.inst) == 0
	})
	l.stop()

	l.srv.mu.Lock()
	defer l.srv.mu.Unlock()
	l.aws.mu.Lock()
	defer l.aws.mu.Unlock()
	if len(l.aws.params) != 0 || len(l.srv.runners) != 0 || l.aws.groups[group].desired != 0 {
		t.Fatalf("left behind: params %v runners %v desired %d", l.aws.params, l.srv.runners, l.aws.groups[group].desired)
	}
	if !slices.Contains(l.srv.acquired, 42) {
		t.Fatalf("job not acquired: %v", l.srv.acquired)
	}
	if len(l.srv.acked) < 4 {
		t.Fatalf("messages not acknowledged: %v", l.srv.acked)
	}
}

func desiredOf(f *fakeAWS, g string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.groups[g].desired
}

func completedOf(f *fakeAWS, id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.completed[id]
}

func tagOf(f *fakeAWS, id, key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.inst[id]; i != nil {
		return i.tags[key]
	}
	return ""
}

func termsOf(f *fakeAWS) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, t := range f.terms {
		out = append(out, t.id)
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
	l := startLive(b, s, newClock())
	var mu sync.Mutex
	got := make(chan time.Time, 1)
	l.aws.mu.Lock()
	l.aws.groups[s.Pools[0].AutoScalingGroupName].autoLaunch = false
	l.aws.onSetDesired = func(int) {
		mu.Lock()
		defer mu.Unlock()
		select {
		case got <- time.Now():
		default:
		}
	}
	l.aws.mu.Unlock()
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
