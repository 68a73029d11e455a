package controller

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/actions/scaleset"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/world"
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
			p, ok := h.w.Params[pfx+id]
			must(t, ok && p.Value == "fake-jit-"+id, "param %v", p)
			must(t, p.Tags[settings.TagJitInstanceArn] == "arn:aws:ec2:us-east-1:123456789012:instance/"+id, "arn tag %v", p.Tags)
			must(t, p.Tags[settings.TagEnvironment] == "dev", "env tag %v", p.Tags)
			must(t, h.w.Completed[id] == "CONTINUE" && h.lifecycle(id) == stateInService, "hook %v", h.w.Completed)
			must(t, !strings.Contains(h.logs.String(), "fake-jit-"), "JIT config leaked into logs")
		}},
		{"large_jit_config_stored_in_advanced_tier", func(t *testing.T, h *harness) {
			h.gh.JITPad = 6000 // over Standard's 4 KB, as GitHub's encoded configs can be
			id := h.provisioned("default", 1)[0]
			p, ok := h.w.Params[pfx+id]
			must(t, ok && len(p.Value) > world.SSMStandardMax && p.Tier == ssmtypes.ParameterTierAdvanced, "stored %v, %d bytes, tier %q", ok, len(p.Value), p.Tier)
			must(t, h.w.Completed[id] == "CONTINUE" && h.lifecycle(id) == stateInService, "hook %v", h.w.Completed)
			must(t, h.w.Count("PutParameter") == 1, "puts %d", h.w.Count("PutParameter"))
		}},
		{"large_jit_config_overwrites_leftover_in_advanced_tier", func(t *testing.T, h *harness) {
			h.demand("default", 1)
			id := h.w.Tick()[0]
			// Left by an earlier attempt for the same instance (tags already right).
			h.w.Params[pfx+id] = world.Param{Value: "old", Tier: ssmtypes.ParameterTierStandard, Tags: map[string]string{settings.TagEnvironment: "dev"}}
			h.gh.JITPad = 6000
			h.reconcile()
			p := h.w.Params[pfx+id]
			must(t, p.Value == "fake-jit-"+id+strings.Repeat("=", 6000) && p.Tier == ssmtypes.ParameterTierAdvanced, "%d bytes, tier %q", len(p.Value), p.Tier)
			must(t, p.Tags[settings.TagEnvironment] == "dev" && h.w.Completed[id] == "CONTINUE", "tags %v hook %v", p.Tags, h.w.Completed)
		}},
		{"fake_ssm_refuses_large_standard_parameter", func(t *testing.T, h *harness) {
			// The fake must fail like SSM does, or the two scenarios above prove nothing.
			_, err := h.w.SSM.PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String(pfx + "x"), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String(strings.Repeat("a", world.SSMStandardMax+1))})
			must(t, awsCode(err) == "ValidationException" && strings.Contains(err.Error(), "4096"), "err %v", err)
			_, err = h.w.SSM.PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String(pfx + "x"), Type: ssmtypes.ParameterTypeSecureString, Tier: ssmtypes.ParameterTierAdvanced, Value: aws.String(strings.Repeat("a", world.SSMStandardMax+1))})
			must(t, err == nil, "advanced refused: %v", err)
		}},
		{"duplicate_job_started_is_idempotent", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			h.started("default", id, "job-1")
			h.started("default", id, "job-1")
			must(t, h.w.Count("CreateTags") == 1, "tagged %d times", h.w.Count("CreateTags"))
			must(t, strings.Count(h.metrics.String(), `"`+MetricQueueToStartSeconds+`":`) == 1, "latency recorded twice")
			must(t, h.w.Instances[id].Tags[settings.TagJobStartedAt] == h.clock.Now().Format(time.RFC3339), "record %v", h.w.Instances[id].Tags)
		}},
		{"job_completed_before_job_started_is_not_busy", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			h.completed("default", id, "job-1")
			h.started("default", id, "job-1")
			h.gh.FinishJob(id)
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
			must(t, h.w.Count("CreateTags") == 2, "tags %d", h.w.Count("CreateTags"))
		}},
		{"job_reassigned_three_times_one_runner", func(t *testing.T, h *harness) {
			for range 3 {
				h.demand("default", 1)
				h.w.Tick()
				h.reconcile()
			}
			must(t, h.gh.JITs == 1 && len(h.w.LiveIn("asg-default")) == 1, "jits %d live %d", h.gh.JITs, len(h.w.LiveIn("asg-default")))
			must(t, h.desired("asg-default") == 1, "desired %d", h.desired("asg-default"))
		}},
		{"github_5xx_on_jit_retried_with_backoff", func(t *testing.T, h *harness) {
			h.gh.FailNext("GenerateJitRunnerConfig", ghErr(502, 0), ghErr(500, 0))
			id := h.provisioned("default", 1)[0]
			must(t, h.w.Completed[id] == "CONTINUE", "not provisioned")
			must(t, len(h.delays) == 2 && h.delays[0] > 0 && h.delays[1] <= 8*time.Second, "delays %v", h.delays)
		}},
		{"github_5xx_exhausted_leaves_hook_for_next_reconcile", func(t *testing.T, h *harness) {
			h.gh.FailNext("GenerateJitRunnerConfig", ghErr(503, 0), ghErr(503, 0), ghErr(503, 0), ghErr(503, 0))
			id := h.provisioned("default", 1)[0]
			must(t, h.lifecycle(id) == statePendingWait, "state %s", h.lifecycle(id))
			h.reconcile()
			must(t, h.w.Completed[id] == "CONTINUE", "not provisioned on retry")
		}},
		{"github_429_retry_after_honoured", func(t *testing.T, h *harness) {
			h.gh.FailNext("GenerateJitRunnerConfig", ghErr(429, 7*time.Second))
			id := h.provisioned("default", 1)[0]
			must(t, h.w.Completed[id] == "CONTINUE" && len(h.delays) == 1 && h.delays[0] == 7*time.Second, "delays %v", h.delays)
		}},
		{"github_retry_after_is_capped", func(t *testing.T, h *harness) {
			h.gh.FailNext("GenerateJitRunnerConfig", ghErr(429, time.Hour))
			h.provisioned("default", 1)
			must(t, len(h.delays) == 1 && h.delays[0] == 60*time.Second, "delays %v", h.delays)
		}},
		{"github_403_with_retry_after_retried", func(t *testing.T, h *harness) {
			h.gh.FailNext("GenerateJitRunnerConfig", ghErr(403, 3*time.Second))
			id := h.provisioned("default", 1)[0]
			must(t, h.w.Completed[id] == "CONTINUE", "not provisioned")
		}},
		{"github_403_without_retry_after_fails_closed", func(t *testing.T, h *harness) {
			h.gh.FailNext("GenerateJitRunnerConfig", ghErr(403, 0))
			id := h.provisioned("default", 1)[0]
			must(t, h.w.Completed[id] == "ABANDON" && len(h.delays) == 0, "completed %v delays %v", h.w.Completed, h.delays)
		}},
		{"github_401_refreshes_credentials_once", func(t *testing.T, h *harness) {
			h.gh.FailNext("GenerateJitRunnerConfig", ghErr(401, 0))
			id := h.provisioned("default", 1)[0]
			must(t, h.connects == 2 && h.w.Completed[id] == "CONTINUE", "connects %d", h.connects)
		}},
		{"github_401_twice_does_not_loop", func(t *testing.T, h *harness) {
			h.gh.FailAlways("GenerateJitRunnerConfig", ghErr(401, 0))
			id := h.provisioned("default", 1)[0]
			must(t, h.connects == 2 && h.gh.Count("GenerateJitRunnerConfig") == 2, "connects %d calls %d", h.connects, h.gh.Count("GenerateJitRunnerConfig"))
			must(t, h.lifecycle(id) == statePendingWait, "401 must not abandon: %s", h.lifecycle(id))
		}},
		{"github_409_on_jit_means_already_provisioned", func(t *testing.T, h *harness) {
			h.demand("default", 1)
			id := h.w.Tick()[0]
			_, _ = h.gh.GenerateJitRunnerConfig(context.Background(), &scaleset.RunnerScaleSetJitRunnerSetting{Name: id}, 1)
			h.reconcile()
			must(t, h.w.Completed[id] == "CONTINUE" && h.w.Count("PutParameter") == 0, "completed %v puts %d", h.w.Completed, h.w.Count("PutParameter"))
		}},
		{"github_422_on_jit_abandons_launch", func(t *testing.T, h *harness) {
			h.gh.FailNext("GenerateJitRunnerConfig", ghErr(422, 0))
			id := h.provisioned("default", 1)[0]
			must(t, h.w.Completed[id] == "ABANDON" && len(h.w.Params) == 0, "completed %v", h.w.Completed)
			must(t, strings.Contains(h.logs.String(), `"github_status":422`), "422 not logged")
		}},
		{"github_404_on_jit_abandons_and_reensures_scale_set", func(t *testing.T, h *harness) {
			h.gh.FailNext("GenerateJitRunnerConfig", ghErr(404, 0))
			id := h.provisioned("default", 1)[0]
			must(t, h.w.Completed[id] == "ABANDON", "completed %v", h.w.Completed)
			before := h.gh.Count("GetRunnerScaleSet")
			h.reconcile()
			must(t, h.gh.Count("GetRunnerScaleSet") == before+1, "scale set not re-ensured")
		}},
		{"github_5xx_on_remove_runner_keeps_instance", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.clock.Advance(11 * time.Minute)
			h.gh.FailAlways("RemoveRunner", ghErr(500, 0))
			h.sweep()
			must(t, h.lifecycle(id) == stateInService && len(h.terminatedIDs()) == 0, "terminated without deregistering")
		}},
		{"github_422_on_create_scale_set_fails_closed", func(t *testing.T, h *harness) {
			h2 := newHarness(t, func(s *settings.Settings) { s.Pools = s.Pools[:1]; s.Pools[0].ScaleSetName = "other" })
			h2.gh.FailNext("CreateRunnerScaleSet", ghErr(422, 0))
			h2.restartSame2(t)
		}},
		{"missing_runner_group_never_falls_back", func(t *testing.T, h *harness) {
			h.gh.RunnerGroups = map[string]int{"Default": 1}
			h.restart(h.c.s)
			err := h.c.EnsureScaleSets(context.Background())
			must(t, err != nil && h.c.ScaleSetID("default") == 0, "err %v", err)
			must(t, h.gh.Count("CreateRunnerScaleSet") == 2, "created outside the configured group") // only the two at harness start
		}},
		{"scale_set_updated_when_labels_change_never_deleted", func(t *testing.T, h *harness) {
			s := h.c.s
			s.Pools = slices.Clone(s.Pools)
			s.Pools[0].Labels = []string{"synapse-dev", "arm64"}
			h.restart(s)
			must(t, h.c.EnsureScaleSets(context.Background()) == nil, "ensure")
			must(t, h.gh.Count("UpdateRunnerScaleSet") == 1 && len(h.gh.Sets) == 2, "updates %d sets %d", h.gh.Count("UpdateRunnerScaleSet"), len(h.gh.Sets))
			must(t, h.gh.Sets[1].Labels[1].Name == "arm64", "labels %v", h.gh.Sets[1].Labels)
		}},
		{"aws_throttling_on_set_desired_retried", func(t *testing.T, h *harness) {
			h.w.FailNext("SetDesiredCapacity", apiErr("Throttling", "Rate exceeded"), apiErr("Throttling", "Rate exceeded"))
			h.demand("default", 2)
			must(t, h.desired("asg-default") == 2 && len(h.delays) == 2, "desired %d delays %v", h.desired("asg-default"), h.delays)
		}},
		{"aws_throttling_on_complete_lifecycle_retried", func(t *testing.T, h *harness) {
			h.w.FailNext("CompleteLifecycleAction", apiErr("Throttling", "Rate exceeded"))
			id := h.provisioned("default", 1)[0]
			must(t, h.w.Completed[id] == "CONTINUE", "not completed")
		}},
		{"aws_error_on_put_parameter_frees_runner_name", func(t *testing.T, h *harness) {
			h.w.FailNext("PutParameter", apiErr("AccessDeniedException", "denied"))
			id := h.provisioned("default", 1)[0]
			must(t, h.lifecycle(id) == statePendingWait && !h.gh.Has(id), "runner left registered without a stored config")
			h.reconcile()
			must(t, h.w.Completed[id] == "CONTINUE" && h.w.Params[pfx+id].Value != "", "not provisioned on retry")
		}},
		{"insufficient_capacity_falls_back_to_on_demand_then_restores", func(t *testing.T, h *harness) {
			h.w.Groups["asg-default"].OnDemandPct = 20
			h.w.Groups["asg-default"].Activities = []world.Activity{{Start: h.clock.Now(),
				Message: "We currently do not have sufficient capacity. Launching EC2 instance failed. InsufficientInstanceCapacity"}}
			h.reconcile()
			must(t, h.w.Groups["asg-default"].OnDemandPct == 100 && h.w.Groups["asg-default"].Tags[settings.TagSpotFallback] != "", "no fallback")
			h.reconcile()
			must(t, h.w.Count("UpdateAutoScalingGroup") == 1, "fallback repeated")
			h.clock.Advance(61 * time.Minute)
			h.restartSame() // the tag, not memory, says what to restore
			h.reconcile()
			must(t, h.w.Groups["asg-default"].OnDemandPct == 20 && h.w.Groups["asg-default"].Tags[settings.TagSpotFallback] == "", "not restored: %d", h.w.Groups["asg-default"].OnDemandPct)
		}},
		{"long_pool_never_touches_spot_settings", func(t *testing.T, h *harness) {
			h.w.Groups["asg-long"].Activities = []world.Activity{{Start: h.clock.Now(), Message: "InsufficientInstanceCapacity"}}
			h.reconcile()
			must(t, h.w.Count("UpdateAutoScalingGroup") == 0, "long pool changed")
		}},
		{"spot_interruption_idle_runner_deregistered_and_fallback", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			must(t, h.c.HandleEvent(context.Background(), `{"detail-type":"EC2 Spot Instance Interruption Warning","detail":{"instance-id":"`+id+`","instance-action":"terminate"}}`) == nil, "event")
			must(t, !h.gh.Has(id) && slices.Contains(h.terminatedIDs(), id), "interrupted idle runner kept")
			must(t, h.w.Groups["asg-default"].OnDemandPct == 100, "no fallback on interruption")
		}},
		{"spot_interruption_busy_runner_left_running", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			h.started("default", id, "j")
			_ = h.c.HandleEvent(context.Background(), `{"detail-type":"EC2 Spot Instance Interruption Warning","detail":{"instance-id":"`+id+`"}}`)
			must(t, len(h.terminatedIDs()) == 0 && h.gh.Has(id), "busy interrupted instance terminated")
		}},
		{"instance_never_registers_swept_after_boot_grace", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.clock.Advance(9 * time.Minute)
			h.sweep()
			must(t, len(h.terminatedIDs()) == 0, "removed within boot grace")
			h.clock.Advance(2 * time.Minute)
			h.sweep()
			must(t, slices.Contains(h.terminatedIDs(), id) && !h.gh.Has(id) && len(h.w.Params) == 0, "not swept: terms %v", h.terminatedIDs())
			must(t, h.w.Terms[0].Decrement, "terminated without decrement")
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
			h.gh.Mu.Lock()
			h.gh.Runners[id].Online = false // runner process died; GitHub still holds the job
			h.gh.Mu.Unlock()
			h.clock.Advance(2 * time.Hour)
			h.sweep()
			h.demand("default", 0)
			must(t, len(h.terminatedIDs()) == 0, "busy instance terminated")
			h.gh.FinishJob(id) // GitHub gives up on the job and drops the runner
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
			h.gh.StartJob(id, "j") // JobStarted not delivered yet
			h.demand("default", 0)
			must(t, len(h.terminatedIDs()) == 0 && h.gh.Has(id), "runner with a running job removed")
			must(t, h.c.facts(&instance{ID: id}).busy(), "not marked busy from GitHub's refusal")
		}},
		{"unhealthy_idle_removed_unhealthy_busy_kept", func(t *testing.T, h *harness) {
			ids := h.provisioned("default", 2)
			for _, id := range ids {
				h.boot(id)
				h.w.Instances[id].Healthy = false
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
			must(t, len(h.w.Published) == 1 && len(h.terminatedIDs()) == 0, "published %d terminated %v", len(h.w.Published), h.terminatedIDs())
			must(t, h.w.Instances[id].Tags[settings.TagMaxRuntimeWarned] != "", "warning not persisted")
			h.restartSame()
			h.clock.Advance(16 * time.Minute)
			h.sweep()
			must(t, len(h.w.Published) == 1 && slices.Contains(h.terminatedIDs(), id), "not terminated after grace")
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
			must(t, len(h.w.Published) == 0 && h.w.Instances[id].Tags[settings.TagMaxRuntimeWarned] == "" && len(h.terminatedIDs()) == 0,
				"job warned or killed %s after its start: published %d terminated %v", 8*time.Hour-24*time.Minute, len(h.w.Published), h.terminatedIDs())
			h.clock.Advance(25 * time.Minute) // job + 8 h 1 min
			h.sweep()
			must(t, len(h.w.Published) == 1 && len(h.terminatedIDs()) == 0, "not warned at max runtime from the job's start")
			h.clock.Advance(16 * time.Minute)
			h.sweep()
			must(t, slices.Equal(h.terminatedIDs(), []string{id}), "not terminated after the grace: %v", h.terminatedIDs())
		}},
		{"job_past_max_runtime_from_hook_marker_counted_from_first_sight_then_terminated_after_grace", func(t *testing.T, h *harness) {
			id := h.provisioned("long", 1)[0] // maxRuntimeHours 31, grace 15 min
			h.boot(id)
			h.clock.Advance(20 * time.Minute)
			h.gh.StartJob(id, "migration")
			// Only the runner's own hook recorded the start (date -u +%Y-%m-%dT%H:%M:%SZ);
			// the controller restarts and never sees JobStarted.
			// Its value is not trusted: the watchdog counts from the first sweep that sees it.
			h.w.Instances[id].Tags[settings.TagJobStarted] = h.clock.Now().Add(-24 * time.Hour).UTC().Format("2006-01-02T15:04:05Z")
			h.restartSame()
			h.sweep()
			h.clock.Advance(31*time.Hour - time.Minute)
			h.sweep()
			must(t, len(h.w.Published) == 0 && len(h.terminatedIDs()) == 0, "warned before 31 h of job")
			h.clock.Advance(2 * time.Minute)
			h.sweep()
			must(t, len(h.w.Published) == 1 && strings.Contains(h.w.Published[0], id) && len(h.terminatedIDs()) == 0, "published %v", h.w.Published)
			must(t, strings.Count(h.metrics.String(), `"`+MetricMaxRuntimeExceeded+`":`) == 1, "MaxRuntimeExceeded not emitted once")
			h.clock.Advance(10 * time.Minute)
			h.sweep()
			must(t, len(h.terminatedIDs()) == 0, "terminated inside the grace")
			h.clock.Advance(6 * time.Minute)
			h.sweep()
			must(t, slices.Equal(h.terminatedIDs(), []string{id}) && len(h.w.Published) == 1, "busy job not terminated after the grace: %v", h.terminatedIDs())
		}},
		{"max_runtime_never_applies_to_an_instance_without_a_job", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.boot(id)
			h.gh.FailAlways("RemoveRunner", ghErr(500, 0)) // the no-job timeout keeps failing
			h.clock.Advance(9 * time.Hour)
			h.sweep()
			must(t, len(h.w.Published) == 0 && h.w.Instances[id].Tags[settings.TagMaxRuntimeWarned] == "", "idle instance hit the max-runtime watchdog")
			must(t, !strings.Contains(h.metrics.String(), MetricMaxRuntimeExceeded), "MaxRuntimeExceeded emitted for an idle instance")
			must(t, len(h.terminatedIDs()) == 0 && h.lifecycle(id) == stateInService, "terminated without deregistering")
		}},
		{"job_marker_without_a_time_counts_from_first_sight", func(t *testing.T, h *harness) {
			id := h.provisioned("long", 1)[0]
			h.boot(id)
			h.gh.StartJob(id, "j")
			h.w.Instances[id].Tags[settings.TagJobStarted] = "job-123" // an older controller wrote the job id
			h.clock.Advance(40 * time.Hour)
			h.sweep()
			seen := h.clock.Now().Format(time.RFC3339)
			must(t, len(h.w.Published) == 0 && h.w.Instances[id].Tags[settings.TagJobStartedAt] == seen, "record %q", h.w.Instances[id].Tags[settings.TagJobStartedAt])
			h.restartSame() // the adopted start survives in the tag
			h.clock.Advance(31*time.Hour + time.Minute)
			h.sweep()
			must(t, len(h.w.Published) == 1, "not warned 31 h after the start was first seen")
		}},
		{"terminate_hook_holds_busy_instance", func(t *testing.T, h *harness) {
			id := h.provisioned("long", 1)[0]
			h.boot(id)
			h.gh.StartJob(id, "j")
			h.w.Mu.Lock()
			h.w.Instances[id].Lifecycle = stateTerminatingWait // e.g. health replacement
			h.w.Mu.Unlock()
			h.reconcile()
			must(t, h.w.Heartbeats == 1 && h.lifecycle(id) == stateTerminatingWait, "busy instance released")
			h.gh.FinishJob(id)
			h.reconcile()
			must(t, h.lifecycle(id) == "gone", "not released after job end")
		}},
		{"orphan_offline_registration_removed_online_kept", func(t *testing.T, h *harness) {
			h.gh.Runners["i-00000000000000abc"] = &world.Runner{ID: 900, Name: "i-00000000000000abc"}
			h.gh.Runners["i-00000000000000def"] = &world.Runner{ID: 901, Name: "i-00000000000000def", Online: true}
			h.gh.Runners["laptop"] = &world.Runner{ID: 902, Name: "laptop"}
			h.sweep()
			must(t, slices.Equal(h.gh.Removed, []string{"i-00000000000000abc"}), "removed %v", h.gh.Removed)
		}},
		{"leftover_jit_parameter_deleted", func(t *testing.T, h *harness) {
			h.w.Params[pfx+"i-0000000000000dead"] = world.Param{Value: "x"}
			id := h.provisioned("default", 1)[0]
			h.sweep()
			_, kept := h.w.Params[pfx+id]
			_, stale := h.w.Params[pfx+"i-0000000000000dead"]
			must(t, kept && !stale, "kept %v stale %v", kept, stale)
		}},
		{"crash_after_jit_before_put_converges", func(t *testing.T, h *harness) {
			h.w.FailNext("PutParameter", apiErr("InternalError", "x"), apiErr("InternalError", "x"), apiErr("InternalError", "x"), apiErr("InternalError", "x"))
			h.gh.FailNext("GetRunnerByName", errors.New("crash")) // the clean-up never happens
			h.demand("default", 1)
			id := h.w.Tick()[0]
			h.reconcile()
			h.restartSame()
			h.reconcile()
			must(t, h.w.Completed[id] == "CONTINUE", "restart did not continue the 409 instance")
			h.clock.Advance(11 * time.Minute)
			h.sweep()
			must(t, slices.Contains(h.terminatedIDs(), id) && !h.gh.Has(id), "config-less instance not swept")
		}},
		{"crash_after_put_before_complete_converges", func(t *testing.T, h *harness) {
			h.w.FailAlways("CompleteLifecycleAction", apiErr("InternalError", "x"))
			id := h.provisioned("default", 1)[0]
			h.w.ClearFaults()
			h.restartSame()
			h.reconcile()
			must(t, h.w.Completed[id] == "CONTINUE" && h.gh.JITs == 1 && h.w.Params[pfx+id].Value == "fake-jit-"+id, "jits %d", h.gh.JITs)
		}},
		{"crash_after_complete_no_duplicate_instances", func(t *testing.T, h *harness) {
			h.provisioned("default", 2)
			h.restartSame()
			h.demand("default", 2)
			h.w.Tick()
			h.reconcile()
			must(t, len(h.w.LiveIn("asg-default")) == 2 && h.gh.JITs == 2, "live %d jits %d", len(h.w.LiveIn("asg-default")), h.gh.JITs)
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
			h.w.FailAlways("TerminateInstanceInAutoScalingGroup", apiErr("InternalError", "x"))
			h.demand("default", 0)
			must(t, !h.gh.Has(id) && h.lifecycle(id) == stateInService, "setup")
			h.w.ClearFaults()
			h.restartSame()
			h.clock.Advance(11 * time.Minute)
			h.sweep()
			must(t, slices.Contains(h.terminatedIDs(), id), "half-removed instance left")
		}},
		{"duplicate_lifecycle_events_provision_once", func(t *testing.T, h *harness) {
			h.demand("default", 1)
			id := h.w.Tick()[0]
			ev := `{"detail-type":"EC2 Instance-launch Lifecycle Action","detail":{"AutoScalingGroupName":"asg-default","EC2InstanceId":"` + id + `","LifecycleTransition":"autoscaling:EC2_INSTANCE_LAUNCHING"}}`
			first := h.c.HandleEvent(context.Background(), ev)
			second := h.c.HandleEvent(context.Background(), ev)
			must(t, first == nil && second == nil, "event errors %v, %v", first, second)
			must(t, h.gh.JITs == 1 && h.w.Count("CompleteLifecycleAction") == 1, "jits %d completes %d", h.gh.JITs, h.w.Count("CompleteLifecycleAction"))
		}},
		{"warm_pool_entry_event_continues_hook_without_jit", func(t *testing.T, h *harness) {
			g := h.w.Groups["asg-long"]
			g.WarmPool, g.WarmMin = true, 2
			ids := h.w.Tick() // the warm pool fills; the group itself stays at 0
			must(t, len(ids) == 2 && h.lifecycle(ids[0]) == stateWarmedPendingWait, "warm launch %v", ids)
			for _, id := range ids {
				must(t, h.c.HandleEvent(context.Background(), lifecycleEvent(EventLaunch, "asg-long", id, "EC2", "WarmPool")) == nil, "event")
			}
			for _, id := range ids {
				must(t, h.w.Completed[id] == "CONTINUE" && h.lifecycle(id) == "Warmed:Stopped", "warm instance %s: %q %s", id, h.w.Completed[id], h.lifecycle(id))
			}
			must(t, h.gh.JITs == 0 && len(h.w.Params) == 0, "JIT minted for a warm instance: jits %d params %d", h.gh.JITs, len(h.w.Params))
			must(t, h.w.Count("DescribeWarmPool") >= 1 && h.desired("asg-long") == 0, "describe-warm %d desired %d", h.w.Count("DescribeWarmPool"), h.desired("asg-long"))
		}},
		{"warm_entry_not_ready_heartbeats_not_continued", func(t *testing.T, h *harness) {
			id := h.warmEntry(20*time.Minute, 10*time.Minute)
			must(t, h.c.HandleEvent(context.Background(), lifecycleEvent(EventLaunch, "asg-long", id, "EC2", "WarmPool")) == nil, "event")
			must(t, h.w.Count("RecordLifecycleActionHeartbeat") == 0, "heartbeat on a hook that just started")
			for range 15 { // a reconcile a minute for 15 minutes, longer than the hook's 10-minute timeout
				h.clock.Advance(time.Minute)
				h.reconcile()
			}
			must(t, h.lifecycle(id) == stateWarmedPendingWait && h.w.Completed[id] == "" && len(h.w.Expired) == 0,
				"not-ready instance: state %s hook %q expired %v", h.lifecycle(id), h.w.Completed[id], h.w.Expired)
			// At the first reconcile 3m20s (a third of the 10-minute boot grace)
			// after the last: minutes 4, 8 and 12, all on the launch hook.
			must(t, slices.Equal(h.w.Beats[id], []string{"launch", "launch", "launch"}), "heartbeats %v", h.w.Beats[id])
			must(t, h.gh.JITs == 0 && len(h.w.Params) == 0 && len(h.w.CutShort) == 0, "jits %d params %d cut short %v", h.gh.JITs, len(h.w.Params), h.w.CutShort)
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
			must(t, h.w.Completed[id] == "CONTINUE" && h.lifecycle(id) == "Warmed:Stopped", "ready instance: %q %s", h.w.Completed[id], h.lifecycle(id))
			must(t, h.gh.JITs == 0 && len(h.w.Params) == 0 && len(h.w.CutShort) == 0, "jits %d params %d cut short %v", h.gh.JITs, len(h.w.Params), h.w.CutShort)
			must(t, strings.Contains(h.logs.String(), `"warm_ready":"2026-01-05T09:07:00Z"`), "continue not logged with the tag")
			n := h.w.Count("CompleteLifecycleAction")
			h.reconcile()
			must(t, h.w.Count("CompleteLifecycleAction") == n, "stopped warm instance completed again")
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
				must(t, h.lifecycle(id) == stateWarmedPendingWait && len(h.w.Expired) == 0 && !strings.Contains(h.metrics.String(), `"`+MetricErrors+`"`),
					"grace %d: given up early or hook expired: %s expired %v", tc.grace, h.lifecycle(id), h.w.Expired)
				h.clock.Advance(time.Minute)
				h.reconcile()
				must(t, h.w.Completed[id] == "ABANDON" && h.lifecycle(id) == "gone", "grace %d: not abandoned at %s: %q %s", tc.grace, tc.limit, h.w.Completed[id], h.lifecycle(id))
				must(t, slices.Equal(h.w.WarmAbandoned, []world.WarmAbandon{{ID: id, Age: tc.limit}}), "grace %d: abandoned %v", tc.grace, h.w.WarmAbandoned)
				must(t, strings.Contains(h.logs.String(), `"op":"warm-ready"`) && strings.Contains(h.logs.String(), `"action":"abandon"`), "grace %d: abandon not logged", tc.grace)
				must(t, strings.Contains(h.metrics.String(), `"`+MetricErrors+`":1`), "grace %d: abandon not counted in Errors", tc.grace)
				refill := h.w.Tick() // the pool launches a replacement, which gets its own limit
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
			must(t, h.w.Completed[ready] == "CONTINUE" && h.lifecycle(ready) == "Warmed:Stopped" && len(h.w.Expired) == 0 && len(h.w.CutShort) == 0,
				"after restarts: %q %s expired %v", h.w.Completed[ready], h.lifecycle(ready), h.w.Expired)
			// A restart costs at most one early heartbeat each (the launch time stands in for the lost memory).
			must(t, len(h.w.Beats[ready]) >= 3 && len(h.w.Beats[ready]) <= 5, "heartbeats %v", h.w.Beats[ready])

			// Never ready: the limit counts from the EC2 launch time, not from a restarted controller's first sight.
			h.w.Groups["asg-long"].WarmReadyAfter = func() time.Duration { return -1 }
			h.w.Groups["asg-long"].WarmMin = 2
			never := h.w.Tick()[0]
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
			must(t, h.w.Completed[never] == "ABANDON" && len(h.w.Expired) == 0, "restarted controller did not give up at 30 minutes: %q expired %v", h.w.Completed[never], h.w.Expired)
		}},
		{"warm_entry_hook_expires_without_heartbeats", func(t *testing.T, h *harness) {
			// The fake's hook timeout is real: no reconcile for longer than the
			// boot grace and Auto Scaling abandons the launch by itself.
			id := h.warmEntry(20*time.Minute, 10*time.Minute)
			h.clock.Advance(10 * time.Minute)
			h.w.Tick()
			must(t, h.lifecycle(id) == "gone" && slices.Equal(h.w.Expired, []string{id}), "hook did not expire: %s", h.lifecycle(id))
		}},
		{"warm_entry_heartbeat_failure_counted_and_retried", func(t *testing.T, h *harness) {
			id := h.warmEntry(20*time.Minute, 10*time.Minute)
			h.tolerate = true
			h.w.FailNext("RecordLifecycleActionHeartbeat", apiErr("InternalFailure", "x"), apiErr("InternalFailure", "x"), apiErr("InternalFailure", "x"), apiErr("InternalFailure", "x"))
			h.clock.Advance(4 * time.Minute)
			h.reconcile()
			must(t, len(h.w.Beats[id]) == 0 && strings.Contains(h.logs.String(), `"op":"lifecycle-heartbeat"`), "failed heartbeat not logged")
			h.clock.Advance(time.Minute)
			h.reconcile()
			must(t, slices.Equal(h.w.Beats[id], []string{"launch"}), "failed heartbeat not retried at the next reconcile: %v", h.w.Beats[id])
		}},
		{"warm_pool_entry_found_by_reconcile_when_event_lost", func(t *testing.T, h *harness) {
			g := h.w.Groups["asg-long"]
			g.WarmPool, g.WarmMin = true, 1
			id := h.w.Tick()[0]
			h.reconcile()
			must(t, h.w.Completed[id] == "CONTINUE" && h.lifecycle(id) == "Warmed:Stopped" && h.gh.JITs == 0, "hook %q state %s jits %d", h.w.Completed[id], h.lifecycle(id), h.gh.JITs)
			// Groups without a warm pool cost no DescribeWarmPool call.
			must(t, h.w.Count("DescribeWarmPool") == 1, "describe-warm %d", h.w.Count("DescribeWarmPool"))
		}},
		{"warm_instance_leaving_pool_is_provisioned", func(t *testing.T, h *harness) {
			g := h.w.Groups["asg-long"]
			g.WarmPool, g.WarmMin = true, 1
			warm := h.w.Tick()[0]
			h.reconcile()
			must(t, h.lifecycle(warm) == "Warmed:Stopped", "not warmed: %s", h.lifecycle(warm))
			h.demand("long", 1)
			ids := h.w.Tick() // the warm instance joins the group; the pool refills
			must(t, len(ids) == 2 && ids[0] == warm && h.lifecycle(warm) == statePendingWait, "tick %v state %s", ids, h.lifecycle(warm))
			must(t, h.c.HandleEvent(context.Background(), lifecycleEvent(EventLaunch, "asg-long", warm, "WarmPool", "AutoScalingGroup")) == nil, "event")
			p := h.w.Params[pfx+warm]
			must(t, p.Value == "fake-jit-"+warm && p.Tags[settings.TagJitInstanceArn] != "", "no JIT config for the instance leaving the pool: %+v", p)
			must(t, h.w.Completed[warm] == "CONTINUE" && h.lifecycle(warm) == stateInService && h.gh.JITs == 1, "state %s jits %d", h.lifecycle(warm), h.gh.JITs)
			must(t, h.lifecycle(ids[1]) == "Warmed:Stopped", "refill not warmed: %s", h.lifecycle(ids[1]))
		}},
		{"late_warm_pool_event_never_continues_a_group_instance_without_jit", func(t *testing.T, h *harness) {
			g := h.w.Groups["asg-long"]
			g.WarmPool, g.WarmMin = true, 1
			warm := h.w.Tick()[0]
			h.w.Mu.Lock()
			h.w.Instances[warm].Lifecycle = statePendingWait // already on its way into the group
			h.w.Mu.Unlock()
			g.Desired = 1
			must(t, h.c.HandleEvent(context.Background(), lifecycleEvent(EventLaunch, "asg-long", warm, "EC2", "WarmPool")) == nil, "event")
			must(t, h.gh.JITs == 1 && h.w.Params[pfx+warm].Value != "" && h.lifecycle(warm) == stateInService, "group instance continued without a config: jits %d", h.gh.JITs)
		}},
		{"warm_instance_terminating_released", func(t *testing.T, h *harness) {
			g := h.w.Groups["asg-long"]
			g.WarmPool, g.WarmMin = true, 1
			warm := h.w.Tick()[0]
			h.w.Mu.Lock()
			h.w.Instances[warm].Lifecycle = stateWarmedTerminatingWait
			h.w.Mu.Unlock()
			must(t, h.c.HandleEvent(context.Background(), lifecycleEvent(EventTerminate, "asg-long", warm, "WarmPool", "EC2")) == nil, "event")
			must(t, h.lifecycle(warm) == "gone" && h.w.Completed[warm] == "CONTINUE", "warm termination held: %s", h.lifecycle(warm))
		}},
		{"describe_warm_pool_failure_still_reconciles_group", func(t *testing.T, h *harness) {
			g := h.w.Groups["asg-long"]
			g.WarmPool, g.WarmMin = true, 1
			h.w.FailAlways("DescribeWarmPool", apiErr("AccessDenied", "not authorized to perform: autoscaling:DescribeWarmPool"))
			h.tolerate = true
			h.demand("long", 1)
			ids := h.w.Tick()
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
				h.w.ListWarmInGroups = listed
				runner := h.provisioned("long", 1)[0] // an idle group instance beside the warm ones
				h.boot(runner)
				g := h.w.Groups["asg-long"]
				g.WarmPool, g.WarmMin = true, 3
				h.w.Mu.Lock()
				var warm []string
				for _, st := range []string{"Warmed:Stopped", "Warmed:Running", "Warmed:Hibernated"} {
					id := h.w.LaunchWarm("asg-long")
					h.w.Instances[id].Lifecycle = st
					warm = append(warm, id)
				}
				h.w.Instances[warm[1]].Healthy = false
				h.w.Mu.Unlock()
				h.demand("long", 0)             // scale-in: only the group's idle runner goes
				h.clock.Advance(48 * time.Hour) // far past boot grace, no-job timeout, max runtime
				h.reconcile()
				h.sweep()
				must(t, slices.Equal(h.terminatedIDs(), []string{runner}), "listed %v: terminated %v", listed, h.terminatedIDs())
				for _, id := range warm {
					must(t, world.IsWarm(h.w.Instances[id]) && h.w.Completed[id] == "", "listed %v: warm instance %s touched: %s %q", listed, id, h.lifecycle(id), h.w.Completed[id])
				}
				must(t, h.desired("asg-long") == 0 && len(h.w.Published) == 0, "listed %v: desired %d published %d", listed, h.desired("asg-long"), len(h.w.Published))
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
			h.w.Groups["asg-default"].Min = 1
			h.clock.Advance(11 * time.Minute)
			h.sweep()
			must(t, len(h.w.Terms) == 1 && h.w.Terms[0].ID == id && !h.w.Terms[0].Decrement, "terms %v", h.w.Terms)
		}},
		{"pool_over_max_abandons_launch", func(t *testing.T, h *harness) {
			h.w.Groups["asg-default"].Max = 10
			h.w.Mu.Lock()
			for range 6 {
				h.w.LaunchInstance("asg-default")
			}
			h.w.Mu.Unlock()
			h.reconcile()
			must(t, h.gh.JITs == 0 && h.w.Count("CompleteLifecycleAction") == 6, "jits %d", h.gh.JITs)
		}},
		{"demand_capped_at_pool_max_and_lowered_for_unlaunched", func(t *testing.T, h *harness) {
			must(t, h.demand("default", 50) == 5, "not capped")
			must(t, h.demand("default", 0) == 0 && h.desired("asg-default") == 0, "unlaunched capacity kept: %d", h.desired("asg-default"))
		}},
		{"aws_throttling_on_describe_retried", func(t *testing.T, h *harness) {
			h.w.FailNext("DescribeAutoScalingGroups", apiErr("Throttling", "Rate exceeded"))
			must(t, h.demand("default", 1) == 1, "describe throttle broke scaling")
		}},
		{"github_5xx_on_list_runners_skips_registration_rules", func(t *testing.T, h *harness) {
			id := h.provisioned("default", 1)[0]
			h.gh.FailAlways("ListRegistrations", ghErr(502, 0))
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
	g := h.w.Groups["asg-long"]
	g.WarmPool, g.WarmMin, g.LaunchHook.Timeout = true, 1, hookTimeout
	g.WarmReadyAfter = func() time.Duration { return readyAfter }
	ids := h.w.Tick()
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
	h.gh.Mu.Lock()
	h.gh.Sets = map[int]*scaleset.RunnerScaleSet{}
	h.gh.Mu.Unlock()
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
		{apiErr("ServiceUnavailable", "x"), classRetry, 0},
		{&net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}, classRetry, 0},
		{&smithyhttp.RequestSendError{Err: errors.New("dial tcp: i/o timeout")}, classRetry, 0},
		{context.Canceled, classFatal, 0},
	}
	for _, c := range cases {
		got, after := classify(c.err)
		if got != c.class || after != c.after {
			t.Errorf("classify(%v) = %v, %v; want %v, %v", c.err, got, after, c.class, c.after)
		}
	}
}

// The GitHub status comes from the response the client's hook saw, never
// from the error's text.
func TestGitHubStatusFromResponseHook(t *testing.T) {
	capture := &responseCapture{}
	capture.hook(nil, &http.Response{StatusCode: http.StatusConflict, Header: http.Header{}})
	err := wrapScaleSetError("jit", errors.New("opaque failure"), capture.take())
	must(t, githubStatus(err) == 409, "status %d", githubStatus(err))
	capture.hook(nil, &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"5"}}})
	c, after := classify(wrapScaleSetError("jit", errors.New("x"), capture.take()))
	must(t, c == classRetry && after == 5*time.Second, "class %v after %v", c, after)
	// A status in the text alone proves nothing.
	err = wrapScaleSetError("jit", errors.New(`request failed(status="404 Not Found")`), capture.take())
	must(t, githubStatus(err) == 0, "status read from text: %d", githubStatus(err))
	must(t, wrapScaleSetError("x", context.Canceled, response{}) == context.Canceled, "cancel wrapped")
}

func TestBackoffDelayBounded(t *testing.T) {
	b := Backoff{}
	for attempt := 1; attempt < 40; attempt++ {
		d := b.Delay(attempt, 0)
		must(t, d > 0 && d <= 8*time.Second, "attempt %d delay %v", attempt, d)
	}
}
