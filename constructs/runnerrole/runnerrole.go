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
	// RunnerReleaseParameter is the SSM parameter the instances read the
	// runner release from at boot.
	RunnerReleaseParameter string

	// AdmissionParameterPrefix is the SSM path of the controller's admission
	// verdicts; each instance may read only its own.
	//
	// Default: none (no verdict is readable)
	AdmissionParameterPrefix string
}

// SessionManagerActions are the calls the SSM Agent makes for Session Manager.
var SessionManagerActions = []string{
	"ssm:UpdateInstanceInformation",
	"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
	"ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
	"ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage",
	"ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
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
	})

	add := func(sid string, actions []string, resources []*string, conditions map[string]any) {
		fleetiam.Allow(role, sid, actions, resources, conditions)
	}

	// Session Manager is the only way into a runner (no key pair, no port 22).
	// These are the calls its agent makes; AmazonSSMManagedInstanceCore would
	// also grant ssm:GetParameter(s) on every parameter of the account. None
	// of these actions can be scoped to a resource.
	add("SessionManagerAgent", SessionManagerActions, []*string{jsii.String("*")}, nil)

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

	// Nothing else grants a parameter read today; the explicit deny on every
	// JIT parameter not tagged with this instance's ARN keeps it so if a broad
	// grant (a managed policy) is ever attached: another instance's JIT config
	// would let a job take that instance's job.
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

	// The admission verdict on this instance's job: read only (the controller
	// writes and deletes it), only the parameter tagged with this instance's ARN.
	if props.AdmissionParameterPrefix != "" {
		verdicts := fleetiam.ParametersUnder(this, props.AdmissionParameterPrefix)
		add("ReadOwnAdmissionVerdict", []string{"ssm:GetParameter"}, []*string{verdicts}, map[string]any{
			"StringEquals": map[string]any{
				"aws:ResourceTag/" + settings.TagJitInstanceArn: "${ec2:SourceInstanceARN}",
			},
		})
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:    jsii.String("NeverReadAnotherInstancesVerdict"),
			Effect: awsiam.Effect_DENY,
			Actions: jsii.Strings("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParameterHistory",
				"ssm:GetParametersByPath", "ssm:PutParameter", "ssm:DeleteParameter", "ssm:DeleteParameters",
				"ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:LabelParameterVersion"),
			Resources: &[]*string{verdicts, fleetiam.PathOf(this, props.AdmissionParameterPrefix)},
			Conditions: &map[string]any{
				"StringNotEquals": map[string]any{
					"aws:ResourceTag/" + settings.TagJitInstanceArn: "${ec2:SourceInstanceARN}",
				},
			},
		}))
	}
	add("ReadRunnerRelease", []string{"ssm:GetParameter"},
		[]*string{fleetiam.Parameter(this, props.RunnerReleaseParameter)}, nil)

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
