// Package runnerrole creates the IAM role of the runner instances: what an ops
// job may do with the instance's own credentials, and nothing the fleet
// controller does. The GitHub credential is deliberately out of its reach.
package runnerrole

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/fleetiam"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// Props configures RunnerRole.
type Props struct {
	// EnvironmentName tags-scopes the permissions to this environment's fleet.
	EnvironmentName string
	// RoleName is the role's fixed name, so admins can name it in secret policies.
	RoleName string
	// LogGroupArn is the runner log group the instances ship logs to.
	LogGroupArn *string
	// DeploymentRoleArn is SYNAPSE_DEPLOYMENT_ROLE, which jobs may assume.
	DeploymentRoleArn string
	// JitParameterPrefix is the SSM path of the single-use JIT configs.
	JitParameterPrefix string
	// AutoScalingGroupNames are the pools' groups the instances may leave.
	AutoScalingGroupNames []string
}

// RunnerRole is the runner instances' role.
type RunnerRole struct {
	constructs.Construct
	// Role is the instance role.
	Role awsiam.Role
}

// New creates the role and its policies.
func New(scope constructs.Construct, id string, props Props) *RunnerRole {
	this := constructs.NewConstruct(scope, jsii.String(id))
	role := awsiam.NewRole(this, jsii.String("Role"), &awsiam.RoleProps{
		RoleName:    jsii.String(props.RoleName),
		Description: jsii.String("Ephemeral GitHub Actions runners of " + props.EnvironmentName),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ec2.amazonaws.com"), nil),
		ManagedPolicies: &[]awsiam.IManagedPolicy{
			// Session Manager is the only way into a runner: no key pair, no port 22.
			awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("AmazonSSMManagedInstanceCore")),
		},
	})

	add := func(sid string, actions []string, resources []*string, conditions map[string]any) {
		fleetiam.Allow(role, sid, actions, resources, conditions)
	}

	add("ShipLogsToOwnLogGroup",
		[]string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
		[]*string{props.LogGroupArn, jsii.String(*props.LogGroupArn + ":log-stream:*")}, nil)

	add("AssumeSynapseDeploymentRole", []string{"sts:AssumeRole"},
		[]*string{jsii.String(props.DeploymentRoleArn)}, nil)

	// Each JIT parameter is tagged with the ARN of the one instance it is for;
	// ec2:SourceInstanceARN is the ARN of the instance whose credentials sign
	// the call, so an instance can only read and delete its own config.
	jitArn := fleetiam.JitParameters(this, props.JitParameterPrefix)
	add("ReadAndDeleteOwnJitConfig", []string{"ssm:GetParameter", "ssm:DeleteParameter"},
		[]*string{jitArn}, map[string]any{
			"StringEquals": map[string]any{
				"aws:ResourceTag/" + settings.TagJitInstanceArn: "${ec2:SourceInstanceARN}",
			},
		})

	// AmazonSSMManagedInstanceCore allows ssm:GetParameter(s) on every parameter,
	// which would let a job read another instance's JIT config (and take its
	// job). An explicit deny on every parameter not tagged with this instance's
	// ARN wins over that grant.
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:    jsii.String("NeverReadAnotherInstancesJitConfig"),
		Effect: awsiam.Effect_DENY,
		Actions: jsii.Strings("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParameterHistory",
			"ssm:DeleteParameter", "ssm:DeleteParameters"),
		Resources: &[]*string{jitArn},
		Conditions: &map[string]any{
			"StringNotEquals": map[string]any{
				"aws:ResourceTag/" + settings.TagJitInstanceArn: "${ec2:SourceInstanceARN}",
			},
		},
	}))
	// Listing by path returns values too and cannot be limited by tag.
	jitPath := fleetiam.JitPath(this, props.JitParameterPrefix)
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("NeverListJitConfigs"),
		Effect:    awsiam.Effect_DENY,
		Actions:   jsii.Strings("ssm:GetParametersByPath"),
		Resources: &[]*string{jitPath, jitArn},
	}))

	groupArns := fleetiam.GroupArns(this, props.AutoScalingGroupNames)
	add("LeaveOwnGroupWhenDone", []string{"autoscaling:TerminateInstanceInAutoScalingGroup"},
		groupArns, map[string]any{
			"StringEquals": map[string]any{"autoscaling:ResourceTag/" + settings.TagEnvironment: props.EnvironmentName},
		})

	// The instance's own markers (job started; prepared for the warm pool): only
	// those tag keys, only on this fleet's instances. Either can only make the
	// controller wait or protect, never remove anyone.
	instanceArn := fleetiam.Instances(this)
	add("MarkOwnInstance", []string{"ec2:CreateTags"}, []*string{instanceArn}, map[string]any{
		"StringEquals":              map[string]any{"aws:ResourceTag/" + settings.TagEnvironment: props.EnvironmentName},
		"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []string{settings.TagJobStarted, settings.TagWarmReady}},
	})

	return &RunnerRole{Construct: this, Role: role}
}
