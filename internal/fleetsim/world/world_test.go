package world

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/actions/scaleset"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// These tests pin the unpleasant behaviour of the model: if one of them
// stops failing the way AWS or GitHub fails, the controller's tests prove less.

func oneGroup(t *testing.T, o Options) (*World, *Group) {
	t.Helper()
	w := New(o)
	g := w.AddGroup("g", 0, 10, true)
	g.LaunchHook.Timeout = 10 * time.Minute
	g.TerminateHook.Timeout = 15 * time.Minute
	return w, g
}

func TestHookTimeoutAppliesDefaultResult(t *testing.T) {
	w, g := oneGroup(t, Options{})
	g.Desired = 2
	ids := w.Tick()
	w.Step(9 * time.Minute)
	if w.Instances[ids[0]].Lifecycle != StatePendingWait {
		t.Fatalf("timed out early: %s", w.Instances[ids[0]].Lifecycle)
	}
	w.Step(time.Minute)
	if len(w.HookTimeouts) < 2 || w.Completed[ids[0]] != Abandon || w.Instances[ids[0]] != nil {
		t.Fatalf("launch hook did not time out with ABANDON: %+v", w.HookTimeouts)
	}
}

func TestTerminateHookGlobalCapBeatsHeartbeats(t *testing.T) {
	w, g := oneGroup(t, Options{})
	g.Desired = 1
	id := w.Tick()[0]
	g.AutoLaunch = false
	ctx := context.Background()
	w.Mu.Lock()
	w.complete(w.Instances[id], Continue, "test")
	w.terminate(w.Instances[id], false, "operator")
	w.Mu.Unlock()
	beat := &autoscaling.RecordLifecycleActionHeartbeatInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("terminate"), InstanceId: aws.String(id)}
	for elapsed := time.Duration(0); elapsed < 26*time.Hour; elapsed += 10 * time.Minute {
		if _, err := w.AutoScaling.RecordLifecycleActionHeartbeat(ctx, beat); err != nil {
			if elapsed < 25*time.Hour {
				t.Fatalf("heartbeat refused after %s: %v", elapsed, err)
			}
			break
		}
		w.Step(10 * time.Minute)
	}
	if HookGlobalTimeout(15*time.Minute) != 25*time.Hour || HookGlobalTimeout(time.Hour) != 48*time.Hour {
		t.Fatal("cap formula")
	}
	var ended *HookTimeout
	for i, h := range w.HookTimeouts {
		if h.ID == id {
			ended = &w.HookTimeouts[i]
		}
	}
	if ended == nil || !ended.Global || ended.At.Sub(Epoch) != 25*time.Hour || w.Instances[id] != nil {
		t.Fatalf("heartbeated hook not ended by the 100 x timeout cap at 25 h: %+v", ended)
	}
}

func TestDesiredDropTerminatesOnlyUnprotectedNewestFirst(t *testing.T) {
	w, g := oneGroup(t, Options{})
	g.TerminateHook = nil
	g.Desired = 3
	ids := w.Tick()
	w.Instances[ids[0]].Protected = false
	w.Instances[ids[2]].Protected = false
	if _, err := w.AutoScaling.SetDesiredCapacity(context.Background(), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("g"), DesiredCapacity: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	if w.Instances[ids[1]] == nil || w.Instances[ids[0]] != nil || w.Instances[ids[2]] != nil {
		t.Fatal("desired drop must terminate the unprotected instances and keep the protected one")
	}
	if w.Terms[0].ID != ids[2] {
		t.Fatalf("newest first: %+v", w.Terms)
	}
}

func TestCapacityShortagePerInstanceType(t *testing.T) {
	w, g := oneGroup(t, Options{})
	g.InstanceTypes = []string{"m7g.large", "m6g.large"}
	w.ICE["m7g.large"] = true
	g.Desired = 1
	id := w.Tick()[0]
	if w.Instances[id].Type != "m6g.large" {
		t.Fatalf("launched %s", w.Instances[id].Type)
	}
	w.ICE["m6g.large"] = true
	g.Desired = 2
	if got := w.Tick(); len(got) != 0 || len(g.Activities) != 1 || w.Stats.LaunchFailures != 1 {
		t.Fatalf("launched %v activities %+v", got, g.Activities)
	}
}

func TestSpotInterruptionReclaimsAfterTwoMinutesWhateverTheHook(t *testing.T) {
	w, g := oneGroup(t, Options{Events: true})
	g.OnDemandPct = 0
	g.Desired = 1
	id := w.Tick()[0]
	w.Mu.Lock()
	w.complete(w.Instances[id], Continue, "test")
	w.Mu.Unlock()
	if !w.InterruptSpot(id) || w.QueueLen() != 2 { // launch action + warning
		t.Fatalf("warning not queued: %d", w.QueueLen())
	}
	w.Step(time.Minute)
	if w.Instances[id] == nil {
		t.Fatal("reclaimed before two minutes")
	}
	w.Step(time.Minute)
	if w.Instances[id] != nil {
		t.Fatal("not reclaimed after two minutes")
	}
}

func TestSSMListIsEventuallyConsistentAndPaged(t *testing.T) {
	w, _ := oneGroup(t, Options{SSMListDelay: time.Minute})
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c"} {
		if _, err := w.SSM.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/p/" + n), Value: aws.String("v"), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
			t.Fatal(err)
		}
	}
	list := func() []string {
		var names []string
		in := &ssm.DescribeParametersInput{MaxResults: aws.Int32(2), ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Path"), Values: []string{"/p"}}}}
		for p := ssm.NewDescribeParametersPaginator(w.SSM, in); p.HasMorePages(); {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range out.Parameters {
				names = append(names, aws.ToString(m.Name))
			}
		}
		return names
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("listed at once: %v", got)
	}
	w.Clock.Advance(time.Minute)
	if got := list(); len(got) != 3 {
		t.Fatalf("listed %v", got)
	}
	_, _ = w.SSM.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("/p/a")})
	if got := list(); len(got) != 3 {
		t.Fatalf("deleted parameter vanished from the list at once: %v", got)
	}
}

func TestGitHubRefusesRemovalOnlyWhileItKnowsTheJobRuns(t *testing.T) {
	w := New(Options{})
	ctx := context.Background()
	set, _ := w.GitHub.CreateRunnerScaleSet(ctx, &scaleset.RunnerScaleSet{Name: "s", RunnerGroupID: 7})
	cfg, _ := w.GitHub.GenerateJitRunnerConfig(ctx, &scaleset.RunnerScaleSetJitRunnerSetting{Name: "i-1"}, set.ID)
	w.GitHub.RunnerOnline("i-1")
	w.GitHub.StartJob("i-1", "j")
	if err := w.GitHub.RemoveRunner(ctx, int64(cfg.Runner.ID)); !errors.Is(err, scaleset.JobStillRunningError) {
		t.Fatalf("removal of a busy runner: %v", err)
	}
	w.GitHub.FinishJob("i-1")
	if err := w.GitHub.RemoveRunner(ctx, int64(cfg.Runner.ID)); !errors.Is(err, scaleset.RunnerNotFoundError) {
		t.Fatalf("ephemeral registration should be gone: %v", err)
	}
	w.GitHub.PartialListUntil = w.Now().Add(time.Hour)
	for _, n := range []string{"i-2", "i-3"} {
		_, _ = w.GitHub.GenerateJitRunnerConfig(ctx, &scaleset.RunnerScaleSetJitRunnerSetting{Name: n}, set.ID)
	}
	if regs, err := w.GitHub.ListRegistrations(ctx); err != nil || len(regs) != 1 {
		t.Fatalf("partial list: %v %v", regs, err)
	}
}

func TestFaultWindow(t *testing.T) {
	w := New(Options{})
	w.AddWindow(Window{Ops: []string{"*"}, From: w.Now().Add(time.Minute), To: w.Now().Add(2 * time.Hour), Err: APIError("ServiceUnavailable", "x")})
	ctx := context.Background()
	in := &autoscaling.DescribeAutoScalingGroupsInput{}
	if _, err := w.AutoScaling.DescribeAutoScalingGroups(ctx, in); err != nil {
		t.Fatal(err)
	}
	w.Clock.Advance(time.Hour)
	if _, err := w.AutoScaling.DescribeAutoScalingGroups(ctx, in); err == nil {
		t.Fatal("outage window ignored")
	}
	w.Clock.Advance(time.Hour)
	if _, err := w.AutoScaling.DescribeAutoScalingGroups(ctx, in); err != nil {
		t.Fatal(err)
	}
}

// TestStepPlaysAJobEndToEnd: a queued job raises nothing by itself (the
// controller scales), but once an instance has its config the agent boots,
// GitHub hands it the job, and it leaves after; counters see all of it.
func TestStepPlaysAJobEndToEnd(t *testing.T) {
	w, g := oneGroup(t, Options{Agents: true, JitPrefix: "/jit/", Events: true})
	ctx := context.Background()
	set, _ := w.GitHub.CreateRunnerScaleSet(ctx, &scaleset.RunnerScaleSet{Name: "s", RunnerGroupID: 7})
	w.GitHub.QueueJob(set.ID, "j1", time.Hour)
	g.Desired = 1
	id := w.Tick()[0]
	_, _ = w.GitHub.GenerateJitRunnerConfig(ctx, &scaleset.RunnerScaleSetJitRunnerSetting{Name: id}, set.ID)
	_, _ = w.SSM.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/jit/" + id), Value: aws.String("cfg"), Type: ssmtypes.ParameterTypeSecureString})
	_, _ = w.AutoScaling.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("launch"), InstanceId: aws.String(id), LifecycleActionResult: aws.String(Continue)})
	for range 4 {
		w.Step(30 * time.Second)
	}
	j := w.GitHub.Jobs["j1"]
	if j.Started.IsZero() || len(w.Params) != 0 {
		t.Fatalf("job not started or config not consumed: %+v params %d", j, len(w.Params))
	}
	for range 125 {
		w.Step(30 * time.Second)
	}
	if j.Done.IsZero() || !j.Killed.IsZero() || w.Instances[id].Lifecycle != StateTerminatingWait {
		t.Fatalf("job %+v, instance %s", j, w.Instances[id].Lifecycle)
	}
	w.Step(15 * time.Minute) // nobody releases the hook: it times out (CONTINUE)
	if w.Instances[id] != nil || w.Stats.InstancesLaunched != 1 || w.Stats.InstanceSeconds[Usage{Group: "g", Type: "t4g.large"}] < 3600 {
		t.Fatalf("stats %+v", w.Stats)
	}
}
