package test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/monitoring"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// actionCovers reports whether an IAM action pattern (with * wildcards) grants action.
func actionCovers(pattern, action string) bool {
	pattern, action = strings.ToLower(pattern), strings.ToLower(action)
	if !strings.Contains(pattern, "*") {
		return pattern == action
	}
	prefix, suffix, _ := strings.Cut(pattern, "*")
	return strings.HasPrefix(action, prefix) && strings.HasSuffix(action, strings.TrimPrefix(suffix, "*"))
}

// allowing are the role's Allow statements that grant action.
func allowing(r *role, action string) []statement {
	var out []statement
	for _, st := range r.Policy {
		if st.Effect == "Allow" && slices.ContainsFunc(st.Actions, func(a string) bool { return actionCovers(a, action) }) {
			out = append(out, st)
		}
	}
	return out
}

func runnerRole(t *testing.T, s *synthesized, env string) *role {
	t.Helper()
	r := s.roles(t, env)[committed(t)[env].ResourcePrefix()+"-runner"]
	if r == nil {
		t.Fatalf("%s: no runner role", env)
	}
	return r
}

// TestGivenTheRunnerRole_ThenNoParameterIsReadableBroadly: AmazonSSMManagedInstanceCore
// granted ssm:GetParameter(s) on every parameter of the account; the role now
// has only the agent's calls and reads only its own instance's parameters.
func TestGivenTheRunnerRole_ThenNoParameterIsReadableBroadly(t *testing.T) {
	s := committedStacks(t)
	own := "${ec2:SourceInstanceARN}"
	for _, env := range envNames {
		r := runnerRole(t, s, env)
		if len(r.AWSManaged) > 0 {
			t.Errorf("%s: runner role has AWS managed policies %v; it needs none", env, r.AWSManaged)
		}
		for _, action := range []string{"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"} {
			for _, st := range allowing(r, action) {
				for _, res := range st.Resources {
					if res == "*" || strings.HasSuffix(res, ":parameter/*") {
						t.Errorf("%s: runner role may %s on %s: %s", env, action, res, st)
					}
				}
				// The runner release (version, URL, checksum) is the one parameter
				// every instance shares; it holds nothing secret.
				release := (fleetARNs{committed(t)[env]}).releaseParameter()
				if action == "ssm:GetParameter" && slices.Equal(st.Resources, []string{release}) && st.Conditions == nil {
					continue
				}
				if !slices.Equal(st.Conditions["StringEquals"]["aws:ResourceTag/"+settings.TagJitInstanceArn], []string{own}) {
					t.Errorf("%s: runner role reads parameters of other instances: %s", env, st)
				}
			}
		}
	}
}

func TestGivenTheRunnerRole_ThenItReadsOnlyItsOwnVerdictAndWritesNone(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		r := runnerRole(t, s, env)
		verdicts := fleetARNs{e}.verdicts()
		var read, denyOthers bool
		for _, st := range r.Policy {
			if !slices.Contains(st.Resources, verdicts) {
				continue
			}
			tag := "aws:ResourceTag/" + settings.TagJitInstanceArn
			switch st.Effect {
			case "Allow":
				read = slices.Equal(st.Actions, []string{"ssm:GetParameter"}) &&
					slices.Equal(st.Conditions["StringEquals"][tag], []string{"${ec2:SourceInstanceARN}"})
				if !read {
					t.Errorf("%s: verdict grant is more than a read of the instance's own: %s", env, st)
				}
			case "Deny":
				denyOthers = slices.Equal(st.Conditions["StringNotEquals"][tag], []string{"${ec2:SourceInstanceARN}"})
				for _, a := range []string{"ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter", "ssm:AddTagsToResource"} {
					if !slices.Contains(st.Actions, a) {
						t.Errorf("%s: the deny on other instances' verdicts lacks %s", env, a)
					}
				}
			}
		}
		if !read || !denyOthers {
			t.Errorf("%s: reads its own verdict %v, denied the others %v", env, read, denyOthers)
		}
		for _, a := range []string{"ssm:PutParameter", "ssm:AddTagsToResource", "ssm:DeleteParameter", "ssm:LabelParameterVersion"} {
			for _, st := range allowing(r, a) {
				if slices.ContainsFunc(st.Resources, func(res string) bool { return res == verdicts || res == "*" }) {
					t.Errorf("%s: runner role may %s a verdict: %s", env, a, st)
				}
			}
		}
	}
}

// TestGivenTheEventQueue_ThenOnlyThisStacksRulesMaySend: a forged spot warning
// must not make the controller drain the fleet.
func TestGivenTheEventQueue_ThenOnlyThisStacksRulesMaySend(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		queue := s.logicalIDByPrefix(t, env, "AWS::SQS::Queue", "ControllerEvents")
		rules := []string{
			"${" + s.logicalIDByPrefix(t, env, "AWS::Events::Rule", "ControllerLifecycleActions") + ".Arn}",
			"${" + s.logicalIDByPrefix(t, env, "AWS::Events::Rule", "ControllerSpotInterruptions") + ".Arn}",
		}
		slices.Sort(rules)
		found := false
		for _, qp := range s.resources(env, "AWS::SQS::QueuePolicy") {
			if !strings.Contains(jsonString(t, props(qp)["Queues"]), `"`+queue+`"`) {
				continue
			}
			for _, st := range parseDocument(t, props(qp)["PolicyDocument"]) {
				if st.Effect == "Deny" && slices.Equal(st.Actions, []string{"sqs:SendMessage"}) &&
					slices.Equal(st.Principal["AWS"], []string{"*"}) &&
					slices.Equal(st.Conditions["ArnNotEquals"]["aws:SourceArn"], rules) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: the event queue accepts messages from senders other than %v (no aws:SourceArn deny)", env, rules)
		}
	}
}

func TestGivenTheStack_ThenAdmissionDeniedRaisesAnAlarm(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		found := false
		for id, a := range s.resources(env, "AWS::CloudWatch::Alarm") {
			p := props(a)
			if p["MetricName"] != monitoring.MetricAdmissionDenied {
				continue
			}
			found = true
			if p["Namespace"] != monitoring.MetricNamespace || fmt.Sprint(p["Threshold"]) != "1" ||
				p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" || p["Statistic"] != "Sum" {
				t.Errorf("%s %s: alarm does not fire on the first refusal: %v", env, id, p)
			}
			if len(asList(p["AlarmActions"])) == 0 {
				t.Errorf("%s %s: alarm notifies nobody", env, id)
			}
			if !strings.Contains(jsonString(t, p["Dimensions"]), `"Value":"`+env+`"`) {
				t.Errorf("%s %s: alarm is not scoped to this environment", env, id)
			}
		}
		if !found {
			t.Errorf("%s: no alarm on %s", env, monitoring.MetricAdmissionDenied)
		}
	}
}
