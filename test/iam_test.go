package test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/runnerrole"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// documentedActions is, per role kind, the complete set of actions the role's
// Allow statements grant (and "managed:<name>" per AWS managed policy). It is
// the list in docs/security.md, section "Allowed actions per role": a new
// action fails TestInvariant_EachRoleKindAllowsExactlyTheDocumentedActions
// until both the docs and this list name it.
var documentedActions = map[string][]string{
	"runner": {
		"autoscaling:TerminateInstanceInAutoScalingGroup",
		"ec2:CreateTags",
		"ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage",
		"ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
		"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents",
		"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
		"ssm:DeleteParameter", "ssm:GetParameter", "ssm:UpdateInstanceInformation",
		"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
		"ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
		"sts:AssumeRole",
	},
	"controller": {
		"autoscaling:CompleteLifecycleAction", "autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags",
		"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
		"autoscaling:DescribeScalingActivities", "autoscaling:DescribeWarmPool",
		"autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:SetDesiredCapacity",
		"autoscaling:SetInstanceProtection", "autoscaling:SuspendProcesses",
		"autoscaling:TerminateInstanceInAutoScalingGroup", "autoscaling:UpdateAutoScalingGroup",
		"ec2:CreateTags", "ec2:DescribeInstanceStatus", "ec2:DescribeInstances",
		"kms:Decrypt", "kms:GenerateDataKey",
		"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents",
		"managed:AmazonSSMManagedInstanceCore",
		"s3:GetBucket*", "s3:GetObject*", "s3:List*",
		"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
		"sns:Publish",
		"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage",
		"ssm:AddTagsToResource", "ssm:DeleteParameter", "ssm:DescribeParameters", "ssm:GetParameter", "ssm:PutParameter",
	},
	"deploy": {"sts:AssumeRole", "sts:TagSession"},
	"diff":   {"cloudformation:DescribeStacks", "cloudformation:GetTemplate", "cloudformation:GetTemplateSummary", "cloudformation:ListStackResources"},
}

// roleKind names what a role is for; "" for a role nobody has classified.
func roleKind(e config.Environment, r *role) string {
	switch {
	case r.Name == e.ResourcePrefix()+"-runner":
		return "runner"
	case r.Name == e.ResourcePrefix()+"-controller":
		return "controller"
	case r.Name == e.ResourcePrefix()+"-deploy":
		return "deploy"
	case r.Name == e.ResourcePrefix()+"-diff":
		return "diff"
	}
	return ""
}

// docActions reads the allowed-action lists of docs/security.md: per role
// kind, the backquoted first cell of each table row between
// <!-- allowed-actions KIND --> and <!-- end allowed-actions -->.
func docActions(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	block := regexp.MustCompile(`(?s)<!-- allowed-actions ([a-z-]+) -->(.*?)<!-- end allowed-actions -->`)
	cell := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")
	for _, m := range block.FindAllStringSubmatch(string(data), -1) {
		for _, c := range cell.FindAllStringSubmatch(m[2], -1) {
			out[m[1]] = append(out[m[1]], c[1])
		}
		slices.Sort(out[m[1]])
	}
	return out
}

func TestInvariant_EachRoleKindAllowsExactlyTheDocumentedActions(t *testing.T) {
	s := committedStacks(t)
	docs := docActions(t)
	for kind, want := range documentedActions {
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(docs[kind], want) {
			t.Errorf("docs/security.md lists for %s:\n %v\nthis test lists:\n %v", kind, docs[kind], want)
		}
	}
	for kind := range docs {
		if _, ok := documentedActions[kind]; !ok {
			t.Errorf("docs/security.md documents role kind %s, which this test does not know", kind)
		}
	}
	for _, env := range envNames {
		e := committed(t)[env]
		for _, r := range s.roles(t, env) {
			kind := roleKind(e, r)
			if kind == "" {
				t.Errorf("%s: role %s has no kind: classify it in roleKind and document its actions in docs/security.md", env, r.Name)
				continue
			}
			want := slices.Sorted(slices.Values(documentedActions[kind]))
			got := r.allowedActions()
			for _, a := range got {
				if !slices.Contains(want, a) {
					t.Errorf("%s %s role %s allows %s, which docs/security.md does not list for %s", env, kind, r.Name, a, kind)
				}
			}
			for _, a := range want {
				if !slices.Contains(got, a) {
					t.Errorf("%s %s role %s no longer allows %s: remove it from docs/security.md and this test", env, kind, r.Name, a)
				}
			}
		}
	}
}

// fleetARNs renders the ARNs the fleet's roles are scoped by, as the model
// renders them.
type fleetARNs struct{ e config.Environment }

func (f fleetARNs) regional(service, resource string) string {
	return "arn:aws:" + service + ":" + f.e.Region + ":" + f.e.Account + ":" + resource
}
func (f fleetARNs) jitParameters() string {
	return f.regional("ssm", "parameter"+f.e.JitParameterPrefix()+"*")
}
func (f fleetARNs) releaseParameter() string {
	return f.regional("ssm", "parameter"+f.e.RunnerReleaseParameter())
}
func (f fleetARNs) jitPath() string {
	return f.regional("ssm", "parameter"+strings.TrimSuffix(f.e.JitParameterPrefix(), "/"))
}
func (f fleetARNs) verdicts() string {
	return f.regional("ssm", "parameter"+f.e.AdmissionParameterPrefix()+"*")
}
func (f fleetARNs) verdictPath() string {
	return f.regional("ssm", "parameter"+strings.TrimSuffix(f.e.AdmissionParameterPrefix(), "/"))
}
func (f fleetARNs) groups() []string {
	var out []string
	for _, p := range f.e.Pools {
		out = append(out, f.regional("autoscaling", "autoScalingGroup:*:autoScalingGroupName/"+f.e.AutoScalingGroupName(p)))
	}
	return out
}
func (f fleetARNs) instances() string { return f.regional("ec2", "instance/*") }
func (f fleetARNs) secret(name string) string {
	return f.regional("secretsmanager", "secret:"+name+"-??????")
}

// envTag is the condition that limits a statement to this environment's resources.
func envTag(prefix, env string) map[string][]string {
	return map[string][]string{prefix + "ResourceTag/" + settings.TagEnvironment: {env}}
}

func TestGivenTheRunnerRole_ThenEachStatementIsExactlyAsDesigned(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		arn := fleetARNs{e}
		logs := "${" + s.logicalID(t, env, "AWS::Logs::LogGroup", "LogGroupName", "/synapse-ops-runners/"+env+"/runners") + ".Arn}"
		ownJit := map[string][]string{"aws:ResourceTag/" + settings.TagJitInstanceArn: {"${ec2:SourceInstanceARN}"}}
		r := s.roles(t, env)[e.ResourcePrefix()+"-runner"]
		if r == nil {
			t.Fatalf("%s: no runner role", env)
		}
		assertStatements(t, env, r, []statement{
			{Sid: "SessionManagerAgent", Effect: "Allow",
				Actions: runnerrole.SessionManagerActions, Resources: []string{"*"}},
			{Sid: "ReadOwnAdmissionVerdict", Effect: "Allow",
				Actions: []string{"ssm:GetParameter"}, Resources: []string{arn.verdicts()},
				Conditions: map[string]map[string][]string{"StringEquals": ownJit}},
			{Sid: "NeverReadAnotherInstancesVerdict", Effect: "Deny",
				Actions: []string{"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParameterHistory",
					"ssm:GetParametersByPath", "ssm:PutParameter", "ssm:DeleteParameter", "ssm:DeleteParameters",
					"ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:LabelParameterVersion"},
				Resources:  []string{arn.verdicts(), arn.verdictPath()},
				Conditions: map[string]map[string][]string{"StringNotEquals": ownJit}},
			{Sid: "ShipLogsToOwnLogGroup", Effect: "Allow",
				Actions:   []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
				Resources: []string{logs, logs + ":log-stream:*"}},
			{Sid: "AssumeSynapseDeploymentRole", Effect: "Allow",
				Actions: []string{"sts:AssumeRole"}, Resources: []string{e.DeploymentRoleArn}},
			{Sid: "ReadAndDeleteOwnJitConfig", Effect: "Allow",
				Actions:    []string{"ssm:GetParameter", "ssm:DeleteParameter"},
				Resources:  []string{arn.jitParameters()},
				Conditions: map[string]map[string][]string{"StringEquals": ownJit}},
			{Sid: "NeverReadAnotherInstancesJitConfig", Effect: "Deny",
				Actions:    []string{"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParameterHistory", "ssm:DeleteParameter", "ssm:DeleteParameters"},
				Resources:  []string{arn.jitParameters()},
				Conditions: map[string]map[string][]string{"StringNotEquals": ownJit}},
			{Sid: "NeverListJitConfigs", Effect: "Deny",
				Actions: []string{"ssm:GetParametersByPath"}, Resources: []string{arn.jitPath(), arn.jitParameters()}},
			{Sid: "ReadRunnerRelease", Effect: "Allow",
				Actions: []string{"ssm:GetParameter"}, Resources: []string{arn.releaseParameter()}},
			{Sid: "LeaveOwnGroupWhenDone", Effect: "Allow",
				Actions: []string{"autoscaling:TerminateInstanceInAutoScalingGroup"}, Resources: arn.groups(),
				Conditions: map[string]map[string][]string{"StringEquals": envTag("autoscaling:", env)}},
			{Sid: "MarkOwnInstance", Effect: "Allow",
				Actions: []string{"ec2:CreateTags"}, Resources: []string{arn.instances()},
				Conditions: map[string]map[string][]string{
					"StringEquals":              envTag("aws:", env),
					"ForAllValues:StringEquals": {"aws:TagKeys": {settings.TagJobStarted, settings.TagWarmReady}},
				}},
			// CDK's grantRead of the admin token: no Sid of its own.
			{Effect: "Allow", Actions: []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
				Resources: []string{arn.secret(e.AdminToken.SecretName)}},
		})
		// AmazonSSMManagedInstanceCore would grant ssm:GetParameter(s) on every parameter.
		if len(r.AWSManaged) != 0 {
			t.Errorf("%s runner role: AWS managed policies %v, want none", env, r.AWSManaged)
		}
		assertStatements(t, env, &role{Name: r.Name + " (trust)", Policy: r.Trust}, []statement{
			{Effect: "Allow", Actions: []string{"sts:AssumeRole"}, Principal: map[string][]string{"Service": {"ec2.amazonaws.com"}}},
		})
	}
}

func TestGivenTheControllerRole_ThenEachStatementIsExactlyAsDesigned(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		arn := fleetARNs{e}
		logs := "${" + s.logicalIDByPrefix(t, env, "AWS::Logs::LogGroup", "ControllerLogs") + ".Arn}"
		queue := "${" + s.logicalIDByPrefix(t, env, "AWS::SQS::Queue", "ControllerEvents") + ".Arn}"
		key := "${" + s.logicalIDByPrefix(t, env, "AWS::KMS::Key", "LogKey") + ".Arn}"
		topic := "${" + s.logicalIDByPrefix(t, env, "AWS::SNS::Topic", "AlarmTopic") + "}"
		assets := "arn:aws:s3:::cdk-" + e.CdkBootstrap.Qualifier + "-assets-" + e.Account + "-" + e.Region
		r := s.roles(t, env)[e.ResourcePrefix()+"-controller"]
		if r == nil {
			t.Fatalf("%s: no controller role", env)
		}
		assertStatements(t, env, r, []statement{
			{Sid: "ManageOwnPools", Effect: "Allow",
				Actions: []string{"autoscaling:SetDesiredCapacity", "autoscaling:CompleteLifecycleAction",
					"autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:TerminateInstanceInAutoScalingGroup",
					"autoscaling:SetInstanceProtection", "autoscaling:UpdateAutoScalingGroup", "autoscaling:SuspendProcesses",
					"autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags"},
				Resources:  arn.groups(),
				Conditions: map[string]map[string][]string{"StringEquals": envTag("autoscaling:", env)}},
			{Sid: "DescribeFleet", Effect: "Allow",
				Actions: []string{"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
					"autoscaling:DescribeWarmPool", "autoscaling:DescribeScalingActivities",
					"ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ssm:DescribeParameters"},
				Resources: []string{"*"}},
			{Sid: "MarkRunnerInstances", Effect: "Allow",
				Actions: []string{"ec2:CreateTags"}, Resources: []string{arn.instances()},
				Conditions: map[string]map[string][]string{
					"StringEquals":              envTag("aws:", env),
					"ForAllValues:StringEquals": {"aws:TagKeys": {settings.TagJobStartedAt, settings.TagJobCompleted, settings.TagMaxRuntimeWarned}},
				}},
			{Sid: "WriteJitConfigs", Effect: "Allow",
				Actions:   []string{"ssm:PutParameter", "ssm:DeleteParameter", "ssm:GetParameter", "ssm:AddTagsToResource"},
				Resources: []string{arn.jitParameters()}},
			{Sid: "PublishRunnerRelease", Effect: "Allow",
				Actions: []string{"ssm:PutParameter", "ssm:GetParameter"}, Resources: []string{arn.releaseParameter()}},
			{Sid: "ReadFleetEvents", Effect: "Allow",
				Actions:   []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"},
				Resources: []string{queue}},
			{Sid: "AlarmOnWatchdog", Effect: "Allow", Actions: []string{"sns:Publish"}, Resources: []string{topic}},
			{Sid: "WriteOwnLogs", Effect: "Allow",
				Actions:   []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
				Resources: []string{logs, logs + ":log-stream:*"}},
			// CDK grants, without a Sid of their own.
			{Effect: "Allow", Actions: []string{"kms:Decrypt", "kms:GenerateDataKey"}, Resources: []string{key}},
			{Effect: "Allow", Actions: []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
				Resources: []string{arn.secret(e.GitHubCredential.SecretName)}},
			{Effect: "Allow", Actions: []string{"s3:GetObject*", "s3:GetBucket*", "s3:List*"},
				Resources: []string{assets, assets + "/*"}},
		})
		if !slices.Equal(r.AWSManaged, []string{"AmazonSSMManagedInstanceCore"}) {
			t.Errorf("%s controller role: AWS managed policies %v", env, r.AWSManaged)
		}
	}
}

func TestGivenTheGitHubRoles_ThenEachStatementIsExactlyAsDesigned(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		roles := s.roles(t, env)
		bootstrap := "arn:aws:iam::" + e.Account + ":role/cdk-" + e.CdkBootstrap.Qualifier
		provider := e.GitHubOidc.ProviderArn
		trust := func(subjects ...string) []statement {
			return []statement{{Effect: "Allow", Actions: []string{"sts:AssumeRoleWithWebIdentity"},
				Principal: map[string][]string{"Federated": {provider}},
				Conditions: map[string]map[string][]string{"StringEquals": {
					"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"},
					"token.actions.githubusercontent.com:sub": subjects,
				}}}}
		}
		deploy := roles[e.ResourcePrefix()+"-deploy"]
		if deploy == nil {
			t.Fatalf("%s: no deploy role", env)
		}
		var subjects []string
		for _, sub := range e.GitHubOidc.Subjects {
			subjects = append(subjects, "repo:"+e.Repository+":"+sub)
		}
		assertStatements(t, env, &role{Name: deploy.Name + " (trust)", Policy: deploy.Trust}, trust(subjects...))
		assertStatements(t, env, deploy, []statement{{Sid: "AssumeCdkBootstrapRoles", Effect: "Allow",
			Actions:   []string{"sts:AssumeRole", "sts:TagSession"},
			Resources: []string{bootstrap + "-*-role-" + e.Account + "-" + e.Region}}})

		diff := roles[e.ResourcePrefix()+"-diff"]
		if e.GitHubOidc.ReviewRepository == "" {
			if diff != nil {
				t.Errorf("%s: a diff role without a review repository", env)
			}
			continue
		}
		if diff == nil {
			t.Fatalf("%s: no diff role", env)
		}
		assertStatements(t, env, &role{Name: diff.Name + " (trust)", Policy: diff.Trust},
			trust("repo:"+e.GitHubOidc.ReviewRepository+":pull_request"))
		assertStatements(t, env, diff, []statement{{Sid: "ReadThisStackTemplateOnly", Effect: "Allow",
			Actions:   []string{"cloudformation:DescribeStacks", "cloudformation:GetTemplate", "cloudformation:GetTemplateSummary", "cloudformation:ListStackResources"},
			Resources: []string{"arn:aws:cloudformation:" + e.Region + ":" + e.Account + ":stack/" + e.StackName() + "/*"}}})
	}
}
