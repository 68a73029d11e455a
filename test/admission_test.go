package test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/monitoring"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/runnerrole"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// statement is one IAM statement of a template, with its lists normalised.
type statement struct {
	sid, effect        string
	actions, resources []string // resources rendered as JSON when not plain strings
	condition, raw     string
	principalIsAnybody bool
}

func statementsIn(t *testing.T, doc any) []statement {
	t.Helper()
	var out []statement
	for _, st := range asList(doc.(map[string]any)["Statement"]) {
		m := st.(map[string]any)
		s := statement{effect: fmt.Sprint(m["Effect"]), raw: jsonString(t, m)}
		if sid, ok := m["Sid"].(string); ok {
			s.sid = sid
		}
		for _, a := range asList(m["Action"]) {
			s.actions = append(s.actions, fmt.Sprint(a))
		}
		for _, r := range asList(m["Resource"]) {
			if str, ok := r.(string); ok {
				s.resources = append(s.resources, str)
			} else {
				s.resources = append(s.resources, jsonString(t, r))
			}
		}
		if c, ok := m["Condition"]; ok {
			s.condition = jsonString(t, c)
		}
		p := jsonString(t, m["Principal"])
		s.principalIsAnybody = p == `{"AWS":"*"}` || p == `"*"`
		out = append(out, s)
	}
	return out
}

// roleStatements are the statements of every inline policy attached to the
// role named roleName, and the role's managed policy ARNs.
func roleStatements(t *testing.T, s *synthesized, env, roleName string) ([]statement, []string) {
	t.Helper()
	var roleID string
	var managed []string
	for id, r := range s.resources(env, "AWS::IAM::Role") {
		if props(r)["RoleName"] == roleName {
			roleID = id
			for _, mp := range asList(props(r)["ManagedPolicyArns"]) {
				managed = append(managed, jsonString(t, mp))
			}
		}
	}
	if roleID == "" {
		t.Fatalf("%s: no role named %s", env, roleName)
	}
	var out []statement
	for _, p := range s.resources(env, "AWS::IAM::Policy") {
		if strings.Contains(jsonString(t, props(p)["Roles"]), `"Ref":"`+roleID+`"`) {
			out = append(out, statementsIn(t, props(p)["PolicyDocument"])...)
		}
	}
	return out, managed
}

// actionCovers reports whether an IAM action pattern (with * wildcards) grants action.
func actionCovers(pattern, action string) bool {
	pattern, action = strings.ToLower(pattern), strings.ToLower(action)
	if !strings.Contains(pattern, "*") {
		return pattern == action
	}
	prefix, suffix, _ := strings.Cut(pattern, "*")
	return strings.HasPrefix(action, prefix) && strings.HasSuffix(action, strings.TrimPrefix(suffix, "*"))
}

func allows(sts []statement, action string) []statement {
	var out []statement
	for _, s := range sts {
		if s.effect == "Allow" && slices.ContainsFunc(s.actions, func(a string) bool { return actionCovers(a, action) }) {
			out = append(out, s)
		}
	}
	return out
}

// TestGivenTheRunnerRole_ThenSessionManagerIsMinimalAndNoParameterIsReadableBroadly:
// AmazonSSMManagedInstanceCore granted ssm:GetParameter(s) on every parameter of
// the account; the role now has only the agent's calls and its own parameters.
func TestGivenTheRunnerRole_ThenSessionManagerIsMinimalAndNoParameterIsReadableBroadly(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		sts, managed := roleStatements(t, s, env, e.ResourcePrefix()+"-runner")
		if len(managed) > 0 {
			t.Errorf("%s: runner role has managed policies %v; it needs none (Session Manager is granted statement by statement)", env, managed)
		}
		for _, action := range []string{"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"} {
			for _, st := range allows(sts, action) {
				for _, r := range st.resources {
					if r == "*" || strings.HasSuffix(r, ":parameter/*") {
						t.Errorf("%s: runner role may %s on %s: %s", env, action, r, st.raw)
					}
				}
				if !strings.Contains(st.condition, `"aws:ResourceTag/`+settings.TagJitInstanceArn+`":"${ec2:SourceInstanceARN}"`) {
					t.Errorf("%s: runner role reads parameters not limited to its own instance: %s", env, st.raw)
				}
			}
		}
		var agent *statement
		for i := range sts {
			if sts[i].sid == "SessionManagerAgent" {
				agent = &sts[i]
			}
		}
		if agent == nil {
			t.Fatalf("%s: no Session Manager statement; Session Manager is the only way into a runner", env)
		}
		if !slices.Equal(agent.actions, runnerrole.SessionManagerActions) {
			t.Errorf("%s: Session Manager actions %v, want exactly %v", env, agent.actions, runnerrole.SessionManagerActions)
		}
	}
}

func TestGivenTheRunnerRole_ThenItReadsOnlyItsOwnVerdictAndWritesNone(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		sts, _ := roleStatements(t, s, env, e.ResourcePrefix()+"-runner")
		verdicts := "parameter" + e.AdmissionParameterPrefix() + "*"
		var read, deny bool
		for _, st := range sts {
			onVerdicts := slices.ContainsFunc(st.resources, func(r string) bool { return strings.Contains(r, verdicts) })
			switch {
			case st.effect == "Allow" && onVerdicts:
				if !slices.Equal(st.actions, []string{"ssm:GetParameter"}) {
					t.Errorf("%s: runner role may %v on verdicts; it may only read its own", env, st.actions)
				}
				if !strings.Contains(st.condition, `{"StringEquals":{"aws:ResourceTag/`+settings.TagJitInstanceArn+`":"${ec2:SourceInstanceARN}"}}`) {
					t.Errorf("%s: verdict read not limited to the instance's own: %s", env, st.raw)
				}
				read = true
			case st.effect == "Deny" && onVerdicts:
				for _, a := range []string{"ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter", "ssm:AddTagsToResource"} {
					if !slices.Contains(st.actions, a) {
						t.Errorf("%s: the deny on other verdicts lacks %s", env, a)
					}
				}
				deny = strings.Contains(st.condition, `"StringNotEquals":{"aws:ResourceTag/`+settings.TagJitInstanceArn+`":"${ec2:SourceInstanceARN}"}`)
			}
		}
		if !read || !deny {
			t.Errorf("%s: read own verdict %v, deny others' %v", env, read, deny)
		}
		for _, a := range []string{"ssm:PutParameter", "ssm:AddTagsToResource", "ssm:DeleteParameter"} {
			for _, st := range allows(sts, a) {
				if slices.ContainsFunc(st.resources, func(r string) bool { return strings.Contains(r, verdicts) || r == "*" }) {
					t.Errorf("%s: runner role may %s a verdict: %s", env, a, st.raw)
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
		var rules []string
		for id := range s.resources(env, "AWS::Events::Rule") {
			if strings.HasPrefix(id, "Controller") {
				rules = append(rules, id)
			}
		}
		if len(rules) != 2 {
			t.Fatalf("%s: %d controller rules %v, want the lifecycle and spot rules", env, len(rules), rules)
		}
		found := false
		for id, qp := range s.resources(env, "AWS::SQS::QueuePolicy") {
			if !strings.Contains(jsonString(t, props(qp)["Queues"]), "ControllerEvents") {
				continue
			}
			for _, st := range statementsIn(t, props(qp)["PolicyDocument"]) {
				if st.effect != "Deny" || !slices.Contains(st.actions, "sqs:SendMessage") {
					continue
				}
				if !st.principalIsAnybody || !strings.Contains(st.condition, `"ArnNotEquals":{"aws:SourceArn":[`) {
					continue
				}
				for _, r := range rules {
					if !strings.Contains(st.condition, `{"Fn::GetAtt":["`+r+`","Arn"]}`) {
						t.Errorf("%s %s: source condition lacks rule %s: %s", env, id, r, st.condition)
					}
				}
				found = true
			}
		}
		if !found {
			t.Errorf("%s: the event queue accepts messages from any sender (no aws:SourceArn condition)", env)
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
