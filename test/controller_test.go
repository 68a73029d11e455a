package test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

func TestGivenTheController_ThenItRunsAsAGroupOfOneWithItsBinaryAndSettings(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		s.template(env).HasResourceProperties(jsii.String("AWS::AutoScaling::AutoScalingGroup"), map[string]any{
			"AutoScalingGroupName": e.ResourcePrefix() + "-controller",
			"MinSize":              "1",
			"MaxSize":              "1",
		})
		var userData string
		for id, lt := range s.resources(env, "AWS::EC2::LaunchTemplate") {
			if strings.HasPrefix(id, "Controller") {
				data := props(lt)["LaunchTemplateData"].(map[string]any)
				userData = jsonString(t, data["UserData"])
				if data["InstanceType"] != e.Controller.InstanceType {
					t.Errorf("%s: controller instance type %v, want on-demand %s", env, data["InstanceType"], e.Controller.InstanceType)
				}
				if data["InstanceMarketOptions"] != nil {
					t.Errorf("%s: controller is not on-demand", env)
				}
			}
		}
		if userData == "" {
			t.Fatalf("%s: no controller launch template", env)
		}
		for _, want := range []string{
			settings.DefaultPath,
			`\"jitParameterPrefix\": \"` + e.JitParameterPrefix() + `\"`,
			`\"repository\": \"` + e.Repository + `\"`,
			`\"autoScalingGroupName\": \"` + e.ResourcePrefix() + `-long\"`,
			`\"eventQueueUrl\": \"`,
			"cdk-" + e.CdkBootstrap.Qualifier + "-assets-" + e.Account,
			"Restart=always",
			"fleet-controller -settings",
		} {
			if !strings.Contains(userData, want) {
				t.Errorf("%s: controller user data lacks %s", env, want)
			}
		}
		if m := secretLike.FindString(userData); m != "" {
			t.Errorf("%s: controller user data contains %q", env, m)
		}
	}
}

func TestGivenTheController_ThenEventBridgeFeedsItsEncryptedQueue(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		tpl := s.template(env)
		tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{
			"EventPattern": map[string]any{
				"source":      []any{"aws.autoscaling"},
				"detail-type": []any{"EC2 Instance-launch Lifecycle Action", "EC2 Instance-terminate Lifecycle Action"},
				"detail": map[string]any{"AutoScalingGroupName": []any{
					map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^PooldefaultGroupASG"))},
					map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^PoollongGroupASG"))},
				}},
			},
		})
		tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{
			"EventPattern": map[string]any{"detail-type": []any{"EC2 Spot Instance Interruption Warning"}},
		})
		queues := s.resources(env, "AWS::SQS::Queue")
		if len(queues) != 2 {
			t.Fatalf("%s: %d queues, want events + dead letters", env, len(queues))
		}
		for id, q := range queues {
			if props(q)["KmsMasterKeyId"] == nil {
				t.Errorf("%s %s: queue not encrypted with the stack's key", env, id)
			}
		}
		rule := jsonString(t, s.resources(env, "AWS::Events::Rule"))
		if len(e.Pools) != 2 || !strings.Contains(rule, "PooldefaultGroupASG") || !strings.Contains(rule, "PoollongGroupASG") {
			t.Errorf("%s: lifecycle rule does not name every pool group: %s", env, rule)
		}
	}
}

func TestGivenTheControllerRole_ThenItIsScopedToThisFleet(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		policy := policyOf(t, s, env, e.ResourcePrefix()+"-controller")
		for _, want := range []string{
			`"autoscaling:ResourceTag/` + settings.TagEnvironment + `":"` + env + `"`,
			"autoScalingGroupName/" + e.ResourcePrefix() + "-default",
			"autoScalingGroupName/" + e.ResourcePrefix() + "-long",
			"parameter" + e.JitParameterPrefix() + "*",
			`"ssm:PutParameter"`,
			`"autoscaling:CompleteLifecycleAction"`,
			`"aws:TagKeys":["` + settings.TagJobStarted + `","` + settings.TagJobCompleted + `","` + settings.TagMaxRuntimeWarned + `"]`,
		} {
			if !strings.Contains(policy, want) {
				t.Errorf("%s: controller policy lacks %s", env, want)
			}
		}
		for _, forbidden := range []string{`"iam:PassRole"`, `"ec2:RunInstances"`, `"ec2:TerminateInstances"`, `"ssm:*"`, `"autoscaling:*"`, `"autoscaling:DeleteAutoScalingGroup"`} {
			if strings.Contains(policy, forbidden) {
				t.Errorf("%s: controller policy grants %s", env, forbidden)
			}
		}
	}
}
