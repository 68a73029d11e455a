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
			`"aws:TagKeys":["` + settings.TagJobStartedAt + `","` + settings.TagJobCompleted + `","` + settings.TagMaxRuntimeWarned + `"]`,
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

func TestGivenTheControllerGroup_ThenADeployReplacesItsInstanceNotTheNamedGroup(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		for id, g := range s.resources(env, "AWS::AutoScaling::AutoScalingGroup") {
			if props(g)["AutoScalingGroupName"] != e.ResourcePrefix()+"-controller" {
				continue
			}
			policy, _ := g["UpdatePolicy"].(map[string]any)
			if _, replacing := policy["AutoScalingReplacingUpdate"]; replacing {
				t.Errorf("%s %s: replacing update on a custom-named group fails every deploy that changes the launch template", env, id)
			}
			rolling, _ := policy["AutoScalingRollingUpdate"].(map[string]any)
			if rolling == nil || rolling["MaxBatchSize"] != float64(1) || rolling["MinInstancesInService"] != float64(0) {
				t.Errorf("%s %s: update policy %v, want a rolling update of one instance", env, id, policy)
			}
		}
	}
}

// secretPolicies maps each secret id in the template to its resource policy JSON.
func secretPolicies(t *testing.T, s *synthesized, env string) map[string]string {
	out := map[string]string{}
	for _, p := range s.resources(env, "AWS::SecretsManager::ResourcePolicy") {
		out[jsonString(t, props(p)["SecretId"])] = jsonString(t, props(p)["ResourcePolicy"])
	}
	return out
}

func TestGivenImportedSecrets_ThenResourcePoliciesDenyEveryOtherReader(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		policies := secretPolicies(t, s, env)
		credential, ok := policies[jsonString(t, e.GitHubCredential.SecretName)]
		if !ok {
			t.Fatalf("%s: no resource policy on the GitHub credential %s (policies on %v)", env, e.GitHubCredential.SecretName, policies)
		}
		token, ok := policies[jsonString(t, e.AdminToken.SecretName)]
		if !ok {
			t.Fatalf("%s: no resource policy on the admin token %s", env, e.AdminToken.SecretName)
		}
		for name, doc := range map[string]string{"credential": credential, "admin token": token} {
			for _, want := range []string{`"Effect":"Deny"`, `"Action":"secretsmanager:GetSecretValue"`, `"StringNotEquals":{"aws:PrincipalArn"`} {
				if !strings.Contains(doc, want) {
					t.Errorf("%s %s policy lacks %s: %s", env, name, want, doc)
				}
			}
		}
		if !strings.Contains(credential, "ControllerRole") || strings.Contains(credential, "RunnerRole") {
			t.Errorf("%s: the credential policy must admit the controller and not the runners: %s", env, credential)
		}
		if !strings.Contains(token, "RunnerRole") || strings.Contains(token, "ControllerRole") {
			t.Errorf("%s: the admin token policy must admit the runners and not the controller: %s", env, token)
		}
	}
}

func TestGivenTheRunnerRole_ThenAnExplicitDenyKeepsOtherInstancesJitConfigsOutOfReach(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		policy := policyOf(t, s, env, e.ResourcePrefix()+"-runner")
		for _, want := range []string{
			`"Condition":{"StringNotEquals":{"aws:ResourceTag/` + settings.TagJitInstanceArn + `":"${ec2:SourceInstanceARN}"}},"Effect":"Deny"`,
			`"Action":"ssm:GetParametersByPath","Effect":"Deny"`,
		} {
			if !strings.Contains(policy, want) {
				t.Errorf("%s: runner policy lacks %s:\n%s", env, want, policy)
			}
		}
	}
}
