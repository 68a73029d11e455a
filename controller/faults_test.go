package controller

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actions/scaleset"
	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

const pfx = "/synapse-ops-runners/dev/jit/"

func must(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

// TestFaults holds the named fault scenarios. Each drives the controller
// through the fakes and asserts what a regression would break.
func TestFaults(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"jit_config_stored_tagged_and_hook_continued", func(t *testing.T, h *harness) {
			ids := h.provisioned("default", 1)
			must(t, len(ids) == 1, "launched %v", ids)
			id := ids[0]
			p, ok := h.aws.params[pfx+id]
			must(t, ok && p.value == "fake-jit-"+id, "param %v", p)
			must(t, p.tags[settings.TagJitInstanceArn] == "arn:aws:ec2:us-east-1:123456789012:instance/"+id, "arn tag %v", p.tags)
			must(t, p.tags[settings.TagEnvironment] == "dev", "env tag %v", p.tags)
			must(t, h.aws.completed[id] == "CONTINUE" && h.lifecycle(id) == stateInService, "hook %v", h.aws.completed)
			must(t, !strings.Contains(h.logs.String(), "fake-jit-"), "JIT config leaked into logs")
		}},
		{"large_jit_config_stored_in_advanced_tier", func(t *testing.T, h *harness) {
			h.gh.jitPad = 6000 // over Standard's 4 KB, as GitHub's encoded configs can be
			id := h.provisioned("default", 1)[0]
			p, ok := h.aws.params[pfx+id]
			must(t, ok && len(p.value) > ssmStandardMax && p.tier == ssmtypes.ParameterTierAdvanced, "stored %v, %d bytes, tier %q", ok, len(p.value), p.tier)
			must(t, h.aws.completed[id] == "CONTINUE" && h.lifecycle(id) == stateInService, "hook %v", h.aws.completed)
			must(t, h.aws.count("PutParameter") == 1, "puts %d", h.aws.count("PutParameter"))
		}},
		{"large_jit_config_overwrites_leftover_in_advanced_tier", func(t *testing.T, h *harness) {
			h.demand("default", 1)
			id := h.aws.Tick()[0]
			// Left by an earlier attempt for the same instance (tags already right).
			h.aws.params[pfx+id] = param{value: "old", tier: ssmtypes.ParameterTierStandard, tags: map[string]string{settings.TagEnvironment: "dev"}}
			h.gh.jitPad = 6000
			h.reconcile()
			p := h.aws.params[pfx+id]
			must(t, p.value == "fake-jit-"+id+strings.Repeat("=", 6000) && p.tier == ssmtypes.ParameterTierAdvanced, "%d bytes, tier %q", len(p.value), p.tier)
			must(t, p.tags[settings.TagEnvironment] == "dev" && h.aws.completed[id] == "CONTINUE", "tags %v hook %v", p.tags, h.aws.completed)
		}},
		{"fake_ssm_refuses_large_standard_parameter", func(t *testing.T, h *harness) {
			// The fake must fail like SSM does, or the two scenarios above prove nothing.
			_, err := h.aws.PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String(pfx + "x"), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String(strings.Repeat("a", ssmStandardMax+1))})
			must(t, awsCode(err) == "ValidationException" && strings.Contains(err.Error(), "4096"), "err %v", err)
			_, err = h.aws.PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String(pfx + "x"), Type: ssmtypes.ParameterTypeSecureString, Tier: ssmtypes.ParameterTierAdvanced, Value: aws.String(strings.Repeat("a", ssmStandardMax+1))})
			must(t, err == nil, "advanced refused: %v", err)
		}},
		{"duplicate_job_started_is_idempotent", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			h.started("default", id, "job-1")
			h.started("default", id, "job-1")
			must(t, h.aws.count("CreateTags") == 1, "tagged %d times", h.aws.count("CreateTags"))
			must(t, strings.Count(h.metrics.String(), `"`+MetricQueueToStartSeconds+`":`) == 1, "latency recorded twice")
			must(t, h.aws.inst[id].tags[settings.TagJobStarted] == h.clock.Now().Format(time.RFC3339), "marker %v", h.aws.inst[id].tags)
		}},
		{"job_completed_before_job_started_is_not_busy", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			h.completed("default", id, "job-1")
			h.started("default", id, "job-1")
			h.gh.finishJob(id)
			h.demand("default", 0)
			h.clock.Advance(DoneGrace + time.Minute)
			h.sweep()
			must(t, slices.Contains(h.terminatedIDs(), id), "finished instance not removed: %v", h.terminatedIDs())
		}},
		{"duplicate_job_completed_is_idempotent", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			h.started("default", id, "j")
			h.completed("default", id, "j")
			h.completed("default", id, "j")
			must(t, h.aws.count("CreateTags") == 2, "tags %d", h.aws.count("CreateTags"))
		}},
		{"job_reassigned_three_times_one_runner", func(t *testing.T, h *harness) {
			for range 3 {
				h.demand("default", 1)
				h.aws.Tick()
				h.reconcile()
			}
			must(t, h.gh.jits == 1 && len(h.aws.liveIn("asg-default")) == 1, "jits %d live %d", h.gh.jits, len(h.aws.liveIn("asg-default")))
			must(t, h.desired("asg-default") == 1, "desired %d", h.desired("asg-default"))
		}},
		{"github_5xx_on_jit_retried_with_backoff", func(t *testing.T, h *harness) {
			h.gh.failNext("GenerateJitRunnerConfig", ghErr(502, 0), ghErr(500, 0))
			id := h.provisioned("default", 1)[0]
			must(t, h.aws.completed[id] == "CONTINUE", "not provisioned")
			must(t, len(h.delays) == 2 && h.delays[0] > 0 && h.delays[1] <= 8*time.Second, "delays %v", h.delays)
		}},
		{"github_5xx_exhausted_leaves_hook_for_next_reconcile", func(t *testing.T, h *harness) {
			h.gh.failNext("GenerateJitRunnerConfig", ghErr(503, 0), ghErr(503, 0), ghErr(503, 0), ghErr(503, 0))
			id := h.provisioned("default", 1)[0]
			must(t, h.lifecycle(id) == statePendingWait, "state %s", h.lifecycle(id))
			h.reconcile()
			must(t, h.aws.completed[id] == "CONTINUE", "not provisioned on retry")
		}},
		{"github_429_retry_after_honoured", func(t *testing.T, h *harness) {
			h.gh.failNext("GenerateJitRunnerConfig", ghErr(429, 7*time.Second))
			id := h.provisioned("default", 1)[0]
			must(t, h.aws.completed[id] == "CONTINUE" && len(h.delays) == 1 && h.delays[0] == 7*time.Second, "delays %v", h.delays)
		}},
		{"github_retry_after_is_capped", func(t *testing.T, h *harness) {
			h.gh.failNext("GenerateJitRunnerConfig", ghErr(429, time.Hour))
			h.provisioned("default", 1)
			must(t, len(h.delays) == 1 && h.delays[0] == 60*time.Second, "delays %v", h.delays)
		}},
		{"github_403_with_retry_after_retried", func(t *testing.T, h *harness) {
			h.gh.failNext("GenerateJitRunnerConfig", ghErr(403, 3*time.Second))
			id := h.provisioned("default", 1)[0]
			must(t, h.aws.completed[id] == "CONTINUE", "not provisioned")
		}},
		{"github_403_without_retry_after_fails_closed", func(t *testing.T, h *harness) {
			h.gh.failNext("GenerateJitRunnerConfig", ghErr(403, 0))
			id := h.provisioned("default", 1)[0]
			must(t, h.aws.completed[id] == "ABANDON" && len(h.delays) == 0, "completed %v delays %v", h.aws.completed, h.delays)
		}},
		{"github_401_refreshes_credentials_once", func(t *testing.T, h *harness) {
			h.gh.failNext("GenerateJitRunnerConfig", ghErr(401, 0))
			id := h.provisioned("default", 1)[0]
			must(t, h.connects == 2 && h.aws.completed[id] == "CONTINUE", "connects %d", h.connects)
		}},
		{"github_401_twice_does_not_loop", func(t *testing.T, h *harness) {
			h.gh.failAlways("GenerateJitRunnerConfig", ghErr(401, 0))
			id := h.provisioned("default", 1)[0]
			must(t, h.connects == 2 && h.gh.count("GenerateJitRunnerConfig") == 2, "connects %d calls %d", h.connects, h.gh.count("GenerateJitRunnerConfig"))
			must(t, h.lifecycle(id) == statePendingWait, "401 must not abandon: %s", h.lifecycle(id))
		}},
		{"github_409_on_jit_means_already_provisioned", func(t *testing.T, h *harness) {
			h.demand("default", 1)
			id := h.aws.Tick()[0]
			_, _ = h.gh.GenerateJitRunnerConfig(context.Background(), &scaleset.RunnerScaleSetJitRunnerSetting{Name: id}, 1)
			h.reconcile()
			must(t, h.aws.completed[id] == "CONTINUE" && h.aws.count("PutParameter") == 0, "completed %v puts %d", h.aws.completed, h.aws.count("PutParameter"))
		}},
		{"github_422_on_jit_abandons_launch", func(t *testing.T, h *harness) {
			h.gh.failNext("GenerateJitRunnerConfig", ghErr(422, 0))
			id := h.provisioned("default", 1)[0]
			must(t, h.aws.completed[id] == "ABANDON" && len(h.aws.params) == 0, "completed %v", h.aws.completed)
			must(t, strings.Contains(h.logs.String(), `"github_status":422`), "422 not logged")
		}},
		{"github_404_on_jit_abandons_and_reensures_scale_set", func(t *testing.T, h *harness) {
			h.gh.failNext("GenerateJitRunnerConfig", ghErr(404, 0))
			id := h.provisioned("default", 1)[0]
			must(t, h.aws.completed[id] == "ABANDON", "completed %v", h.aws.completed)
			before := h.gh.count("GetRunnerScaleSet")
			h.reconcile()
			must(t, h.gh.count("GetRunnerScaleSet") == before+1, "scale set not re-ensured")
		}},
		{"github_5xx_on_remove_runner_keeps_instance", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.clock.Advance(11 * time.Minute)
			h.gh.failAlways("RemoveRunner", ghErr(500, 0))
			h.sweep()
			must(t, h.lifecycle(id) == stateInService && len(h.terminatedIDs()) == 0, "terminated without deregistering")
		}},
		{"github_422_on_create_scale_set_fails_closed", func(t *testing.T, h *harness) {
			h2 := newHarness(t, func(s *settings.Settings) { s.Pools = s.Pools[:1]; s.Pools[0].ScaleSetName = "other" })
			h2.gh.failNext("CreateRunnerScaleSet", ghErr(422, 0))
			h2.restartSame2(t)
		}},
		{"missing_runner_group_never_falls_back", func(t *testing.T, h *harness) {
			h.gh.groups = map[string]int{"Default": 1}
			h.restart(h.c.s)
			err := h.c.EnsureScaleSets(context.Background())
			must(t, err != nil && h.c.ScaleSetID("default") == 0, "err %v", err)
			must(t, h.gh.count("CreateRunnerScaleSet") == 2, "created outside the configured group") // only the two at harness start
		}},
		{"scale_set_updated_when_labels_change_never_deleted", func(t *testing.T, h *harness) {
			s := h.c.s
			s.Pools = slices.Clone(s.Pools)
			s.Pools[0].Labels = []string{"synapse-dev", "arm64"}
			h.restart(s)
			must(t, h.c.EnsureScaleSets(context.Background()) == nil, "ensure")
			must(t, h.gh.count("UpdateRunnerScaleSet") == 1 && len(h.gh.sets) == 2, "updates %d sets %d", h.gh.count("UpdateRunnerScaleSet"), len(h.gh.sets))
			must(t, h.gh.sets[1].Labels[1].Name == "arm64", "labels %v", h.gh.sets[1].Labels)
		}},
		{"aws_throttling_on_set_desired_retried", func(t *testing.T, h *harness) {
			h.aws.failNext("SetDesiredCapacity", apiErr("Throttling", "Rate exceeded"), apiErr("Throttling", "Rate exceeded"))
			h.demand("default", 2)
			must(t, h.desired("asg-default") == 2 && len(h.delays) == 2, "desired %d delays %v", h.desired("asg-default"), h.delays)
		}},
		{"aws_throttling_on_complete_lifecycle_retried", func(t *testing.T, h *harness) {
			h.aws.failNext("CompleteLifecycleAction", apiErr("Throttling", "Rate exceeded"))
			id := h.provisioned("default", 1)[0]
			must(t, h.aws.completed[id] == "CONTINUE", "not completed")
		}},
		{"aws_error_on_put_parameter_frees_runner_name", func(t *testing.T, h *harness) {
			h.aws.failNext("PutParameter", apiErr("AccessDeniedException", "denied"))
			id := h.provisioned("default", 1)[0]
			must(t, h.lifecycle(id) == statePendingWait && !h.gh.has(id), "runner left registered without a stored config")
			h.reconcile()
			must(t, h.aws.completed[id] == "CONTINUE" && h.aws.params[pfx+id].value != "", "not provisioned on retry")
		}},
		{"insufficient_capacity_falls_back_to_on_demand_then_restores", func(t *testing.T, h *harness) {
			h.aws.groups["asg-default"].onDemandPct = 20
			h.aws.groups["asg-default"].activities = []astypes.Activity{{StartTime: aws.Time(h.clock.Now()), StatusCode: astypes.ScalingActivityStatusCodeFailed,
				StatusMessage: aws.String("We currently do not have sufficient capacity. Launching EC2 instance failed. InsufficientInstanceCapacity")}}
			h.reconcile()
			must(t, h.aws.groups["asg-default"].onDemandPct == 100 && h.aws.groups["asg-default"].tags[settings.TagSpotFallback] != "", "no fallback")
			h.reconcile()
			must(t, h.aws.count("UpdateAutoScalingGroup") == 1, "fallback repeated")
			h.clock.Advance(61 * time.Minute)
			h.restartSame() // the tag, not memory, says what to restore
			h.reconcile()
			must(t, h.aws.groups["asg-default"].onDemandPct == 20 && h.aws.groups["asg-default"].tags[settings.TagSpotFallback] == "", "not restored: %d", h.aws.groups["asg-default"].onDemandPct)
		}},
		{"long_pool_never_touches_spot_settings", func(t *testing.T, h *harness) {
			h.aws.groups["asg-long"].activities = []astypes.Activity{{StartTime: aws.Time(h.clock.Now()), StatusMessage: aws.String("InsufficientInstanceCapacity")}}
			h.reconcile()
			must(t, h.aws.count("UpdateAutoScalingGroup") == 0, "long pool changed")
		}},
		{"spot_interruption_idle_runner_deregistered_and_fallback", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			must(t, h.c.HandleEvent(context.Background(), `{"detail-type":"EC2 Spot Instance Interruption Warning","detail":{"instance-id":"`+id+`","instance-action":"terminate"}}`) == nil, "event")
			must(t, !h.gh.has(id) && slices.Contains(h.terminatedIDs(), id), "interrupted idle runner kept")
			must(t, h.aws.groups["asg-default"].onDemandPct == 100, "no fallback on interruption")
		}},
		{"spot_interruption_busy_runner_left_running", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			h.started("default", id, "j")
			_ = h.c.HandleEvent(context.Background(), `{"detail-type":"EC2 Spot Instance Interruption Warning","detail":{"instance-id":"`+id+`"}}`)
			must(t, len(h.terminatedIDs()) == 0 && h.gh.has(id), "busy interrupted instance terminated")
		}},
		{"instance_never_registers_swept_after_boot_grace", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.clock.Advance(9 * time.Minute)
			h.sweep()
			must(t, len(h.terminatedIDs()) == 0, "removed within boot grace")
			h.clock.Advance(2 * time.Minute)
			h.sweep()
			must(t, slices.Contains(h.terminatedIDs(), id) && !h.gh.has(id) && len(h.aws.params) == 0, "not swept: terms %v", h.terminatedIDs())
			must(t, h.aws.terms[0].decrement, "terminated without decrement")
		}},
		{"idle_runner_removed_after_no_job_timeout", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			h.clock.Advance(20 * time.Minute)
			h.sweep()
			must(t, len(h.terminatedIDs()) == 0, "online runner removed early")
			h.clock.Advance(11 * time.Minute)
			h.sweep()
			must(t, slices.Contains(h.terminatedIDs(), id), "idle runner kept past timeout")
		}},
		{"runner_dies_mid_job_instance_kept_until_completed", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			h.started("default", id, "j")
			h.gh.mu.Lock()
			h.gh.runners[id].online = false // runner process died; GitHub still holds the job
			h.gh.mu.Unlock()
			h.clock.Advance(2 * time.Hour)
			h.sweep()
			h.demand("default", 0)
			must(t, len(h.terminatedIDs()) == 0, "busy instance terminated")
			h.gh.finishJob(id) // GitHub gives up on the job and drops the runner
			h.completed("default", id, "j")
			h.clock.Advance(DoneGrace)
			h.sweep()
			must(t, slices.Contains(h.terminatedIDs(), id), "dead runner's instance left behind")
		}},
		{"busy_instance_never_scaled_in", func(t *testing.T, h *harness) {
			ids := h.provisioned("default", 2)
			for _, id := range ids {
				h.boot(id)
			}
			h.started("default", ids[0], "j")
			h.demand("default", 0)
			must(t, slices.Equal(h.terminatedIDs(), []string{ids[1]}), "terminated %v", h.terminatedIDs())
			must(t, h.desired("asg-default") == 1, "desired %d", h.desired("asg-default"))
		}},
		{"github_job_still_running_guards_unknown_busy_runner", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			h.gh.startJob(id, "j") // JobStarted not delivered yet
			h.demand("default", 0)
			must(t, len(h.terminatedIDs()) == 0 && h.gh.has(id), "runner with a running job removed")
			must(t, h.c.facts(&instance{ID: id}).busy(), "not marked busy from GitHub's refusal")
		}},
		{"unhealthy_idle_removed_unhealthy_busy_kept", func(t *testing.T, h *harness) {
			ids := h.provisioned("default", 2)
			for _, id := range ids {
				h.boot(id)
				h.aws.inst[id].healthy = false
			}
			h.started("default", ids[0], "j")
			h.sweep()
			must(t, slices.Equal(h.terminatedIDs(), []string{ids[1]}), "terminated %v", h.terminatedIDs())
		}},
		{"max_runtime_alarms_first_then_terminates_busy", func(t *testing.T, h *harness) {
			id := h.provisioned("long", 1)[0]
			h.boot(id)
			h.started("long", id, "migration")
			h.clock.Advance(31 * time.Hour)
			h.sweep()
			must(t, len(h.aws.published) == 1 && len(h.terminatedIDs()) == 0, "published %d terminated %v", len(h.aws.published), h.terminatedIDs())
			must(t, h.aws.inst[id].tags[settings.TagMaxRuntimeWarned] != "", "warning not persisted")
			h.restartSame()
			h.clock.Advance(16 * time.Minute)
			h.sweep()
			must(t, len(h.aws.published) == 1 && slices.Contains(h.terminatedIDs(), id), "not terminated after grace")
		}},
		{"runner_idle_29_minutes_then_job_not_killed_at_max_runtime_from_launch", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0] // maxRuntimeHours 8, noJobTimeoutMinutes 30
			h.boot(id)
			h.clock.Advance(29 * time.Minute)
			h.sweep()
			must(t, len(h.terminatedIDs()) == 0, "idle runner removed within the no-job timeout")
			h.started("default", id, "deploy")
			h.clock.Advance(8*time.Hour - 29*time.Minute + 5*time.Minute) // launch + 8 h 5 min, job + 7 h 36 min
			h.sweep()
			must(t, len(h.aws.published) == 0 && h.aws.inst[id].tags[settings.TagMaxRuntimeWarned] == "" && len(h.terminatedIDs()) == 0,
				"job warned or killed %s after its start: published %d terminated %v", 8*time.Hour-24*time.Minute, len(h.aws.published), h.terminatedIDs())
			h.clock.Advance(25 * time.Minute) // job + 8 h 1 min
			h.sweep()
			must(t, len(h.aws.published) == 1 && len(h.terminatedIDs()) == 0, "not warned at max runtime from the job's start")
			h.clock.Advance(16 * time.Minute)
			h.sweep()
			must(t, slices.Equal(h.terminatedIDs(), []string{id}), "not terminated after the grace: %v", h.terminatedIDs())
		}},
		{"job_past_max_runtime_from_hook_marker_warned_then_terminated_after_grace", func(t *testing.T, h *harness) {
			id := h.provisioned("long", 1)[0] // maxRuntimeHours 31, grace 15 min
			h.boot(id)
			h.clock.Advance(20 * time.Minute)
			h.gh.startJob(id, "migration")
			// Only the runner's own hook recorded the start (date -u +%Y-%m-%dT%H:%M:%SZ);
			// the controller restarts and never sees JobStarted.
			h.aws.inst[id].tags[settings.TagJobStarted] = h.clock.Now().UTC().Format("2006-01-02T15:04:05Z")
			h.restartSame()
			h.clock.Advance(31*time.Hour - time.Minute)
			h.sweep()
			must(t, len(h.aws.published) == 0 && len(h.terminatedIDs()) == 0, "warned before 31 h of job")
			h.clock.Advance(2 * time.Minute)
			h.sweep()
			must(t, len(h.aws.published) == 1 && strings.Contains(h.aws.published[0], id) && len(h.terminatedIDs()) == 0, "published %v", h.aws.published)
			must(t, strings.Count(h.metrics.String(), `"`+MetricMaxRuntimeExceeded+`":`) == 1, "MaxRuntimeExceeded not emitted once")
			h.clock.Advance(10 * time.Minute)
			h.sweep()
			must(t, len(h.terminatedIDs()) == 0, "terminated inside the grace")
			h.clock.Advance(6 * time.Minute)
			h.sweep()
			must(t, slices.Equal(h.terminatedIDs(), []string{id}) && len(h.aws.published) == 1, "busy job not terminated after the grace: %v", h.terminatedIDs())
		}},
		{"max_runtime_never_applies_to_an_instance_without_a_job", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			h.gh.failAlways("RemoveRunner", ghErr(500, 0)) // the no-job timeout keeps failing
			h.clock.Advance(9 * time.Hour)
			h.sweep()
			must(t, len(h.aws.published) == 0 && h.aws.inst[id].tags[settings.TagMaxRuntimeWarned] == "", "idle instance hit the max-runtime watchdog")
			must(t, !strings.Contains(h.metrics.String(), MetricMaxRuntimeExceeded), "MaxRuntimeExceeded emitted for an idle instance")
			must(t, len(h.terminatedIDs()) == 0 && h.lifecycle(id) == stateInService, "terminated without deregistering")
		}},
		{"job_marker_without_a_time_counts_from_first_sight", func(t *testing.T, h *harness) {
			id := h.provisioned("long", 1)[0]
			h.boot(id)
			h.gh.startJob(id, "j")
			h.aws.inst[id].tags[settings.TagJobStarted] = "job-123" // an older controller wrote the job id
			h.clock.Advance(40 * time.Hour)
			h.sweep()
			seen := h.clock.Now().Format(time.RFC3339)
			must(t, len(h.aws.published) == 0 && h.aws.inst[id].tags[settings.TagJobStarted] == seen, "marker %q", h.aws.inst[id].tags[settings.TagJobStarted])
			h.restartSame() // the adopted start survives in the tag
			h.clock.Advance(31*time.Hour + time.Minute)
			h.sweep()
			must(t, len(h.aws.published) == 1, "not warned 31 h after the start was first seen")
		}},
		{"terminate_hook_holds_busy_instance", func(t *testing.T, h *harness) {
			id := h.provisioned("long", 1)[0]
			h.boot(id)
			h.gh.startJob(id, "j")
			h.aws.mu.Lock()
			h.aws.inst[id].lifecycle = stateTerminatingWait // e.g. health replacement
			h.aws.mu.Unlock()
			h.reconcile()
			must(t, h.aws.heartbeats == 1 && h.lifecycle(id) == stateTerminatingWait, "busy instance released")
			h.gh.finishJob(id)
			h.reconcile()
			must(t, h.lifecycle(id) == "gone", "not released after job end")
		}},
		{"orphan_offline_registration_removed_online_kept", func(t *testing.T, h *harness) {
			h.gh.runners["i-00000000000000abc"] = &fakeRunner{id: 900, name: "i-00000000000000abc"}
			h.gh.runners["i-00000000000000def"] = &fakeRunner{id: 901, name: "i-00000000000000def", online: true}
			h.gh.runners["laptop"] = &fakeRunner{id: 902, name: "laptop"}
			h.sweep()
			must(t, slices.Equal(h.gh.removed, []string{"i-00000000000000abc"}), "removed %v", h.gh.removed)
		}},
		{"leftover_jit_parameter_deleted", func(t *testing.T, h *harness) {
			h.aws.params[pfx+"i-0000000000000dead"] = param{value: "x"}
			id := h.provisioned("default", 1)[0]
			h.sweep()
			_, kept := h.aws.params[pfx+id]
			_, stale := h.aws.params[pfx+"i-0000000000000dead"]
			must(t, kept && !stale, "kept %v stale %v", kept, stale)
		}},
		{"crash_after_jit_before_put_converges", func(t *testing.T, h *harness) {
			h.aws.failNext("PutParameter", apiErr("InternalError", "x"), apiErr("InternalError", "x"), apiErr("InternalError", "x"), apiErr("InternalError", "x"))
			h.gh.failNext("GetRunnerByName", errors.New("crash")) // the clean-up never happens
			h.demand("default", 1)
			id := h.aws.Tick()[0]
			h.reconcile()
			h.restartSame()
			h.reconcile()
			must(t, h.aws.completed[id] == "CONTINUE", "restart did not continue the 409 instance")
			h.clock.Advance(11 * time.Minute)
			h.sweep()
			must(t, slices.Contains(h.terminatedIDs(), id) && !h.gh.has(id), "config-less instance not swept")
		}},
		{"crash_after_put_before_complete_converges", func(t *testing.T, h *harness) {
			h.aws.failAlways("CompleteLifecycleAction", apiErr("InternalError", "x"))
			id := h.provisioned("default", 1)[0]
			h.aws.always = nil
			h.restartSame()
			h.reconcile()
			must(t, h.aws.completed[id] == "CONTINUE" && h.gh.jits == 1 && h.aws.params[pfx+id].value == "fake-jit-"+id, "jits %d", h.gh.jits)
		}},
		{"crash_after_complete_no_duplicate_instances", func(t *testing.T, h *harness) {
			h.provisioned("default", 2)
			h.restartSame()
			h.demand("default", 2)
			h.aws.Tick()
			h.reconcile()
			must(t, len(h.aws.liveIn("asg-default")) == 2 && h.gh.jits == 2, "live %d jits %d", len(h.aws.liveIn("asg-default")), h.gh.jits)
		}},
		{"crash_after_job_started_busy_survives_restart", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			h.started("default", id, "j")
			h.restartSame()
			h.demand("default", 0)
			h.clock.Advance(3 * time.Hour)
			h.sweep()
			must(t, len(h.terminatedIDs()) == 0, "busy instance terminated after restart")
		}},
		{"crash_after_deregister_before_terminate_converges", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			h.aws.failAlways("TerminateInstanceInAutoScalingGroup", apiErr("InternalError", "x"))
			h.demand("default", 0)
			must(t, !h.gh.has(id) && h.lifecycle(id) == stateInService, "setup")
			h.aws.always = nil
			h.restartSame()
			h.clock.Advance(11 * time.Minute)
			h.sweep()
			must(t, slices.Contains(h.terminatedIDs(), id), "half-removed instance left")
		}},
		{"duplicate_lifecycle_events_provision_once", func(t *testing.T, h *harness) {
			h.demand("default", 1)
			id := h.aws.Tick()[0]
			ev := `{"detail-type":"EC2 Instance-launch Lifecycle Action","detail":{"AutoScalingGroupName":"asg-default","EC2InstanceId":"` + id + `","LifecycleTransition":"autoscaling:EC2_INSTANCE_LAUNCHING"}}`
			must(t, h.c.HandleEvent(context.Background(), ev) == nil && h.c.HandleEvent(context.Background(), ev) == nil, "event error")
			must(t, h.gh.jits == 1 && h.aws.count("CompleteLifecycleAction") == 1, "jits %d completes %d", h.gh.jits, h.aws.count("CompleteLifecycleAction"))
		}},
		{"warm_pool_entry_event_continues_hook_without_jit", func(t *testing.T, h *harness) {
			g := h.aws.groups["asg-long"]
			g.warmPool, g.warmMin = true, 2
			ids := h.aws.Tick() // the warm pool fills; the group itself stays at 0
			must(t, len(ids) == 2 && h.lifecycle(ids[0]) == stateWarmedPendingWait, "warm launch %v", ids)
			for _, id := range ids {
				must(t, h.c.HandleEvent(context.Background(), lifecycleEvent(EventLaunch, "asg-long", id, "EC2", "WarmPool")) == nil, "event")
			}
			for _, id := range ids {
				must(t, h.aws.completed[id] == "CONTINUE" && h.lifecycle(id) == "Warmed:Stopped", "warm instance %s: %q %s", id, h.aws.completed[id], h.lifecycle(id))
			}
			must(t, h.gh.jits == 0 && len(h.aws.params) == 0, "JIT minted for a warm instance: jits %d params %d", h.gh.jits, len(h.aws.params))
			must(t, h.aws.count("DescribeWarmPool") >= 1 && h.desired("asg-long") == 0, "describe-warm %d desired %d", h.aws.count("DescribeWarmPool"), h.desired("asg-long"))
		}},
		{"warm_entry_not_ready_heartbeats_not_continued", func(t *testing.T, h *harness) {
			id := h.warmEntry(20*time.Minute, 10*time.Minute)
			must(t, h.c.HandleEvent(context.Background(), lifecycleEvent(EventLaunch, "asg-long", id, "EC2", "WarmPool")) == nil, "event")
			must(t, h.aws.count("RecordLifecycleActionHeartbeat") == 0, "heartbeat on a hook that just started")
			for range 15 { // a reconcile a minute for 15 minutes, longer than the hook's 10-minute timeout
				h.clock.Advance(time.Minute)
				h.reconcile()
			}
			must(t, h.lifecycle(id) == stateWarmedPendingWait && h.aws.completed[id] == "" && len(h.aws.expired) == 0,
				"not-ready instance: state %s hook %q expired %v", h.lifecycle(id), h.aws.completed[id], h.aws.expired)
			// At the first reconcile 3m20s (a third of the 10-minute boot grace)
			// after the last: minutes 4, 8 and 12, all on the launch hook.
			must(t, slices.Equal(h.aws.beats[id], []string{"launch", "launch", "launch"}), "heartbeats %v", h.aws.beats[id])
			must(t, h.gh.jits == 0 && len(h.aws.params) == 0 && len(h.aws.cutShort) == 0, "jits %d params %d cut short %v", h.gh.jits, len(h.aws.params), h.aws.cutShort)
		}},
		{"warm_entry_ready_continued_without_jit", func(t *testing.T, h *harness) {
			id := h.warmEntry(7*time.Minute, 10*time.Minute)
			for m := 1; m <= 6; m++ {
				h.clock.Advance(time.Minute)
				h.reconcile()
			}
			must(t, h.lifecycle(id) == stateWarmedPendingWait, "continued before the instance was ready: %s", h.lifecycle(id))
			h.clock.Advance(time.Minute) // the boot script tags the instance ready
			h.reconcile()
			must(t, h.aws.completed[id] == "CONTINUE" && h.lifecycle(id) == "Warmed:Stopped", "ready instance: %q %s", h.aws.completed[id], h.lifecycle(id))
			must(t, h.gh.jits == 0 && len(h.aws.params) == 0 && len(h.aws.cutShort) == 0, "jits %d params %d cut short %v", h.gh.jits, len(h.aws.params), h.aws.cutShort)
			must(t, strings.Contains(h.logs.String(), `"warm_ready":"2026-01-05T09:07:00Z"`), "continue not logged with the tag")
			n := h.aws.count("CompleteLifecycleAction")
			h.reconcile()
			must(t, h.aws.count("CompleteLifecycleAction") == n, "stopped warm instance completed again")
		}},
		{"warm_entry_never_ready_abandoned_after_limit", func(t *testing.T, h *harness) {
			for _, tc := range []struct {
				grace int
				limit time.Duration
			}{{10, 30 * time.Minute}, {20, 40 * time.Minute}} { // max(2 x boot grace, 30 minutes)
				h := newHarness(t, func(s *settings.Settings) { s.Pools[1].BootGraceMinutes = tc.grace })
				id := h.warmEntry(-1, time.Duration(tc.grace)*time.Minute)
				for range tc.limit/time.Minute - 1 {
					h.clock.Advance(time.Minute)
					h.reconcile()
				}
				must(t, h.lifecycle(id) == stateWarmedPendingWait && len(h.aws.expired) == 0 && !strings.Contains(h.metrics.String(), `"`+MetricErrors+`"`),
					"grace %d: given up early or hook expired: %s expired %v", tc.grace, h.lifecycle(id), h.aws.expired)
				h.clock.Advance(time.Minute)
				h.reconcile()
				must(t, h.aws.completed[id] == "ABANDON" && h.lifecycle(id) == "gone", "grace %d: not abandoned at %s: %q %s", tc.grace, tc.limit, h.aws.completed[id], h.lifecycle(id))
				must(t, slices.Equal(h.aws.warmAbandoned, []warmAbandon{{id: id, age: tc.limit}}), "grace %d: abandoned %v", tc.grace, h.aws.warmAbandoned)
				must(t, strings.Contains(h.logs.String(), `"op":"warm-ready"`) && strings.Contains(h.logs.String(), `"action":"abandon"`), "grace %d: abandon not logged", tc.grace)
				must(t, strings.Contains(h.metrics.String(), `"`+MetricErrors+`":1`), "grace %d: abandon not counted in Errors", tc.grace)
				refill := h.aws.Tick() // the pool launches a replacement, which gets its own limit
				must(t, len(refill) == 1 && h.lifecycle(refill[0]) == stateWarmedPendingWait, "grace %d: refill %v", tc.grace, refill)
				h.reconcile()
				must(t, h.lifecycle(refill[0]) == stateWarmedPendingWait, "grace %d: replacement judged by the old one's age", tc.grace)
			}
		}},
		{"warm_entry_restart_in_between_converges", func(t *testing.T, h *harness) {
			// Ready after 12 minutes; the controller restarts twice on the way.
			ready := h.warmEntry(12*time.Minute, 10*time.Minute)
			for m := 1; m <= 12; m++ {
				h.clock.Advance(time.Minute)
				if m == 4 || m == 9 {
					h.restartSame()
				}
				h.reconcile()
				if m < 12 {
					must(t, h.lifecycle(ready) == stateWarmedPendingWait, "minute %d: %s", m, h.lifecycle(ready))
				}
			}
			must(t, h.aws.completed[ready] == "CONTINUE" && h.lifecycle(ready) == "Warmed:Stopped" && len(h.aws.expired) == 0 && len(h.aws.cutShort) == 0,
				"after restarts: %q %s expired %v", h.aws.completed[ready], h.lifecycle(ready), h.aws.expired)
			// A restart costs at most one early heartbeat each (the launch time stands in for the lost memory).
			must(t, len(h.aws.beats[ready]) >= 3 && len(h.aws.beats[ready]) <= 5, "heartbeats %v", h.aws.beats[ready])

			// Never ready: the limit counts from the EC2 launch time, not from a restarted controller's first sight.
			h.aws.groups["asg-long"].warmReadyAfter = func() time.Duration { return -1 }
			h.aws.groups["asg-long"].warmMin = 2
			never := h.aws.Tick()[0]
			for m := 1; m <= 29; m++ {
				h.clock.Advance(time.Minute)
				if m == 20 {
					h.restartSame()
				}
				h.reconcile()
			}
			must(t, h.lifecycle(never) == stateWarmedPendingWait, "abandoned early: %s", h.lifecycle(never))
			h.restartSame()
			h.clock.Advance(time.Minute)
			h.reconcile()
			must(t, h.aws.completed[never] == "ABANDON" && len(h.aws.expired) == 0, "restarted controller did not give up at 30 minutes: %q expired %v", h.aws.completed[never], h.aws.expired)
		}},
		{"warm_entry_hook_expires_without_heartbeats", func(t *testing.T, h *harness) {
			// The fake's hook timeout is real: no reconcile for longer than the
			// boot grace and Auto Scaling abandons the launch by itself.
			id := h.warmEntry(20*time.Minute, 10*time.Minute)
			h.clock.Advance(10 * time.Minute)
			h.aws.Tick()
			must(t, h.lifecycle(id) == "gone" && slices.Equal(h.aws.expired, []string{id}), "hook did not expire: %s", h.lifecycle(id))
		}},
		{"warm_entry_heartbeat_failure_counted_and_retried", func(t *testing.T, h *harness) {
			id := h.warmEntry(20*time.Minute, 10*time.Minute)
			h.tolerate = true
			h.aws.failNext("RecordLifecycleActionHeartbeat", apiErr("InternalFailure", "x"), apiErr("InternalFailure", "x"), apiErr("InternalFailure", "x"), apiErr("InternalFailure", "x"))
			h.clock.Advance(4 * time.Minute)
			h.reconcile()
			must(t, len(h.aws.beats[id]) == 0 && strings.Contains(h.logs.String(), `"op":"lifecycle-heartbeat"`), "failed heartbeat not logged")
			h.clock.Advance(time.Minute)
			h.reconcile()
			must(t, slices.Equal(h.aws.beats[id], []string{"launch"}), "failed heartbeat not retried at the next reconcile: %v", h.aws.beats[id])
		}},
		{"warm_pool_entry_found_by_reconcile_when_event_lost", func(t *testing.T, h *harness) {
			g := h.aws.groups["asg-long"]
			g.warmPool, g.warmMin = true, 1
			id := h.aws.Tick()[0]
			h.reconcile()
			must(t, h.aws.completed[id] == "CONTINUE" && h.lifecycle(id) == "Warmed:Stopped" && h.gh.jits == 0, "hook %q state %s jits %d", h.aws.completed[id], h.lifecycle(id), h.gh.jits)
			// Groups without a warm pool cost no DescribeWarmPool call.
			must(t, h.aws.count("DescribeWarmPool") == 1, "describe-warm %d", h.aws.count("DescribeWarmPool"))
		}},
		{"warm_instance_leaving_pool_is_provisioned", func(t *testing.T, h *harness) {
			g := h.aws.groups["asg-long"]
			g.warmPool, g.warmMin = true, 1
			warm := h.aws.Tick()[0]
			h.reconcile()
			must(t, h.lifecycle(warm) == "Warmed:Stopped", "not warmed: %s", h.lifecycle(warm))
			h.demand("long", 1)
			ids := h.aws.Tick() // the warm instance joins the group; the pool refills
			must(t, len(ids) == 2 && ids[0] == warm && h.lifecycle(warm) == statePendingWait, "tick %v state %s", ids, h.lifecycle(warm))
			must(t, h.c.HandleEvent(context.Background(), lifecycleEvent(EventLaunch, "asg-long", warm, "WarmPool", "AutoScalingGroup")) == nil, "event")
			p := h.aws.params[pfx+warm]
			must(t, p.value == "fake-jit-"+warm && p.tags[settings.TagJitInstanceArn] != "", "no JIT config for the instance leaving the pool: %+v", p)
			must(t, h.aws.completed[warm] == "CONTINUE" && h.lifecycle(warm) == stateInService && h.gh.jits == 1, "state %s jits %d", h.lifecycle(warm), h.gh.jits)
			must(t, h.lifecycle(ids[1]) == "Warmed:Stopped", "refill not warmed: %s", h.lifecycle(ids[1]))
		}},
		{"late_warm_pool_event_never_continues_a_group_instance_without_jit", func(t *testing.T, h *harness) {
			g := h.aws.groups["asg-long"]
			g.warmPool, g.warmMin = true, 1
			warm := h.aws.Tick()[0]
			h.aws.mu.Lock()
			h.aws.inst[warm].lifecycle = statePendingWait // already on its way into the group
			h.aws.mu.Unlock()
			g.desired = 1
			must(t, h.c.HandleEvent(context.Background(), lifecycleEvent(EventLaunch, "asg-long", warm, "EC2", "WarmPool")) == nil, "event")
			must(t, h.gh.jits == 1 && h.aws.params[pfx+warm].value != "" && h.lifecycle(warm) == stateInService, "group instance continued without a config: jits %d", h.gh.jits)
		}},
		{"warm_instance_terminating_released", func(t *testing.T, h *harness) {
			g := h.aws.groups["asg-long"]
			g.warmPool, g.warmMin = true, 1
			warm := h.aws.Tick()[0]
			h.aws.mu.Lock()
			h.aws.inst[warm].lifecycle = stateWarmedTerminatingWait
			h.aws.mu.Unlock()
			must(t, h.c.HandleEvent(context.Background(), lifecycleEvent(EventTerminate, "asg-long", warm, "WarmPool", "EC2")) == nil, "event")
			must(t, h.lifecycle(warm) == "gone" && h.aws.completed[warm] == "CONTINUE", "warm termination held: %s", h.lifecycle(warm))
		}},
		{"describe_warm_pool_failure_still_reconciles_group", func(t *testing.T, h *harness) {
			g := h.aws.groups["asg-long"]
			g.warmPool, g.warmMin = true, 1
			h.aws.failAlways("DescribeWarmPool", apiErr("AccessDenied", "not authorized to perform: autoscaling:DescribeWarmPool"))
			h.tolerate = true
			h.demand("long", 1)
			ids := h.aws.Tick()
			h.reconcile()
			must(t, strings.Contains(h.logs.String(), `"op":"describe-warm-pool"`), "failure not logged")
			var group string
			for _, id := range ids {
				if h.lifecycle(id) != stateWarmedPendingWait {
					group = id
				}
			}
			must(t, group != "" && h.lifecycle(group) == stateInService, "group instance not provisioned when the warm pool describe fails")
		}},
		{"warm_instances_never_swept_scaled_in_or_counted", func(t *testing.T, h *harness) {
			for _, listed := range []bool{false, true} { // true: a listing that shows Warmed:* instances in the group
				h := newHarness(t)
				h.aws.listWarmInGroups = listed
				runner := h.provisioned("long", 1)[0] // an idle group instance beside the warm ones
				h.boot(runner)
				g := h.aws.groups["asg-long"]
				g.warmPool, g.warmMin = true, 3
				h.aws.mu.Lock()
				var warm []string
				for _, st := range []string{"Warmed:Stopped", "Warmed:Running", "Warmed:Hibernated"} {
					id := h.aws.launchWarm("asg-long")
					h.aws.inst[id].lifecycle = st
					warm = append(warm, id)
				}
				h.aws.inst[warm[1]].healthy = false
				h.aws.mu.Unlock()
				h.demand("long", 0)             // scale-in: only the group's idle runner goes
				h.clock.Advance(48 * time.Hour) // far past boot grace, no-job timeout, max runtime
				h.reconcile()
				h.sweep()
				must(t, slices.Equal(h.terminatedIDs(), []string{runner}), "listed %v: terminated %v", listed, h.terminatedIDs())
				for _, id := range warm {
					must(t, isWarm(h.aws.inst[id]) && h.aws.completed[id] == "", "listed %v: warm instance %s touched: %s %q", listed, id, h.lifecycle(id), h.aws.completed[id])
				}
				must(t, h.desired("asg-long") == 0 && len(h.aws.published) == 0, "listed %v: desired %d published %d", listed, h.desired("asg-long"), len(h.aws.published))
				must(t, strings.Contains(h.metrics.String(), `"`+MetricIdleRunners+`":0`) && !strings.Contains(h.metrics.String(), `"`+MetricIdleRunners+`":3`), "listed %v: warm instances counted as idle runners", listed)
				// Demand for one runner raises the group by one: warm instances are not capacity.
				must(t, h.demand("long", 1) == 1, "listed %v: warm instances counted as live", listed)
			}
		}},
		{"unreadable_event_dropped", func(t *testing.T, h *harness) {
			must(t, errors.Is(h.c.HandleEvent(context.Background(), "not json"), ErrBadEvent), "bad event not classified")
			must(t, h.c.HandleEvent(context.Background(), `{"detail-type":"EC2 Instance-launch Lifecycle Action","detail":{"AutoScalingGroupName":"someone-else"}}`) == nil, "foreign group")
		}},
		{"terminate_at_min_size_without_decrement", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.aws.groups["asg-default"].min = 1
			h.clock.Advance(11 * time.Minute)
			h.sweep()
			must(t, len(h.aws.terms) == 1 && h.aws.terms[0].id == id && !h.aws.terms[0].decrement, "terms %v", h.aws.terms)
		}},
		{"pool_over_max_abandons_launch", func(t *testing.T, h *harness) {
			h.aws.groups["asg-default"].max = 10
			h.aws.mu.Lock()
			for range 6 {
				h.aws.launch("asg-default")
			}
			h.aws.mu.Unlock()
			h.reconcile()
			must(t, h.gh.jits == 0 && h.aws.count("CompleteLifecycleAction") == 6, "jits %d", h.gh.jits)
		}},
		{"demand_capped_at_pool_max_and_lowered_for_unlaunched", func(t *testing.T, h *harness) {
			must(t, h.demand("default", 50) == 5, "not capped")
			must(t, h.demand("default", 0) == 0 && h.desired("asg-default") == 0, "unlaunched capacity kept: %d", h.desired("asg-default"))
		}},
		{"aws_throttling_on_describe_retried", func(t *testing.T, h *harness) {
			h.aws.failNext("DescribeAutoScalingGroups", apiErr("Throttling", "Rate exceeded"))
			must(t, h.demand("default", 1) == 1, "describe throttle broke scaling")
		}},
		{"github_5xx_on_list_runners_skips_registration_rules", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.gh.failAlways("ListRegistrations", ghErr(502, 0))
			h.clock.Advance(11 * time.Minute)
			h.sweep()
			must(t, len(h.terminatedIDs()) == 0 && h.lifecycle(id) == stateInService, "acted without the runner list")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newHarness(t))
		})
	}
	if len(cases) < 30 {
		t.Fatalf("only %d fault scenarios", len(cases))
	}
}

// warmEntry gives the long pool a warm pool of one and launches its instance,
// which waits in the launch hook (Warmed:Pending:Wait) and tags itself ready
// readyAfter later (negative: never); its hook times out after hookTimeout
// without a heartbeat.
func (h *harness) warmEntry(readyAfter, hookTimeout time.Duration) string {
	h.t.Helper()
	g := h.aws.groups["asg-long"]
	g.warmPool, g.warmMin, g.hookTimeout = true, 1, hookTimeout
	g.warmReadyAfter = func() time.Duration { return readyAfter }
	ids := h.aws.Tick()
	if len(ids) != 1 {
		h.t.Fatalf("warm launch %v", ids)
	}
	return ids[0]
}

// lifecycleEvent is an EventBridge lifecycle action as the queue delivers it,
// with the warm pool's Origin and Destination fields.
func lifecycleEvent(detailType, group, id, origin, destination string) string {
	transition := "autoscaling:EC2_INSTANCE_LAUNCHING"
	if detailType == EventTerminate {
		transition = "autoscaling:EC2_INSTANCE_TERMINATING"
	}
	return `{"version":"0","detail-type":"` + detailType + `","source":"aws.autoscaling","detail":{"LifecycleActionToken":"00000000-0000-4000-8000-000000000000",` +
		`"AutoScalingGroupName":"` + group + `","LifecycleHookName":"launch","EC2InstanceId":"` + id + `","LifecycleTransition":"` + transition + `",` +
		`"Origin":"` + origin + `","Destination":"` + destination + `"}}`
}

// restartSame2 checks that a failed scale set creation leaves the pool without
// a scale set and is retried on reconcile.
func (h *harness) restartSame2(t *testing.T) {
	h.gh.mu.Lock()
	h.gh.sets = map[int]*scaleset.RunnerScaleSet{}
	h.gh.mu.Unlock()
	h.restart(h.c.s)
	err := h.c.EnsureScaleSets(context.Background())
	must(t, err != nil && githubStatus(err) == http.StatusUnprocessableEntity && h.c.ScaleSetID("default") == 0, "err %v", err)
	h.reconcile()
	must(t, h.c.ScaleSetID("default") != 0, "not retried on reconcile")
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err   error
		class class
		after time.Duration
	}{
		{ghErr(500, 0), classRetry, 0},
		{ghErr(501, 0), classFatal, 0},
		{ghErr(429, 2*time.Second), classRetry, 2 * time.Second},
		{ghErr(403, time.Second), classRetry, time.Second},
		{ghErr(403, 0), classFatal, 0},
		{ghErr(401, 0), classUnauthorized, 0},
		{ghErr(409, 0), classFatal, 0},
		{ghErr(422, 0), classFatal, 0},
		{ghErr(0, 0), classRetry, 0},
		{apiErr("Throttling", "x"), classRetry, 0},
		{apiErr("RequestLimitExceeded", "x"), classRetry, 0},
		{apiErr("ValidationError", "x"), classFatal, 0},
		{context.Canceled, classFatal, 0},
	}
	for _, c := range cases {
		got, after := classify(c.err)
		if got != c.class || after != c.after {
			t.Errorf("classify(%v) = %v, %v; want %v, %v", c.err, got, after, c.class, c.after)
		}
	}
}

func TestWrapScaleSetErrorReadsStatus(t *testing.T) {
	err := wrapScaleSetError("jit", errors.New(`request POST http://x/generatejitconfig failed(status="409 Conflict"): runner exists`), 0)
	must(t, githubStatus(err) == 409, "status %d", githubStatus(err))
	err = wrapScaleSetError("jit", errors.New(`request failed(status="429 Too Many Requests")`), 5*time.Second)
	c, after := classify(err)
	must(t, c == classRetry && after == 5*time.Second, "class %v after %v", c, after)
	must(t, wrapScaleSetError("x", context.Canceled, 0) == context.Canceled, "cancel wrapped")
}

func TestBackoffDelayBounded(t *testing.T) {
	b := Backoff{}
	for attempt := 1; attempt < 40; attempt++ {
		d := b.Delay(attempt, 0)
		must(t, d > 0 && d <= 8*time.Second, "attempt %d delay %v", attempt, d)
	}
}
