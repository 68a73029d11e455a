package stacks

import (
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// The cdk-nag findings below were reviewed one by one. Each suppression sits on
// the one resource it is about, names the rule and, for wildcard findings, the
// exact wildcard (AppliesTo), so a new finding of the same rule still fails.

type finding struct {
	rule      string
	reason    string
	appliesTo []string // regular expressions over cdk-nag's finding text; empty: the whole rule on this resource
}

func suppress(scope constructs.IConstruct, findings ...finding) {
	var list []*cdknag.NagPackSuppression
	for _, f := range findings {
		s := &cdknag.NagPackSuppression{Id: jsii.String(f.rule), Reason: jsii.String(f.reason)}
		if len(f.appliesTo) > 0 {
			var applies []any
			for _, re := range f.appliesTo {
				applies = append(applies, &cdknag.RegexAppliesTo{Regex: jsii.String(re)})
			}
			s.AppliesTo = &applies
		}
		list = append(list, s)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(scope, &list, jsii.Bool(true))
}

var (
	ssmCore = finding{"AwsSolutions-IAM4",
		"AmazonSSMManagedInstanceCore is the AWS-maintained minimum for Session Manager, the only way into an instance (no key pair, no port 22).",
		[]string{`/AmazonSSMManagedInstanceCore$/`}}
	inlinePolicy = finding{"HIPAA.Security-IAMNoInlinePolicy",
		"The role's policy is generated with the role and scoped to this stack's resources; it lives and dies with the role, so a managed policy would add a second object to govern without narrowing anything.",
		nil}
	logStreams = finding{"AwsSolutions-IAM5",
		"Log stream names are per instance and unknown in advance; the wildcard is confined to this stack's own log group.",
		[]string{`/^Resource::<.*Logs.*\.Arn>:log-stream:\*$/`}}
	jitParameters = finding{"AwsSolutions-IAM5",
		"JIT parameters are named for instance ids not known at deploy time; the path is this environment's own prefix (and runners are further limited by the instance-ARN tag condition).",
		[]string{`/^Resource::arn:aws:ssm:[a-z0-9-]+:[0-9]{12}:parameter\/synapse-ops-runners\/[a-z0-9-]+\/jit\/\*$/`}}
	admissionVerdicts = finding{"AwsSolutions-IAM5",
		"Admission verdicts are named for instance ids not known at deploy time; the path is this environment's own prefix, and a runner reads only the one tagged with its own instance ARN.",
		[]string{`/^Resource::arn:aws:ssm:[a-z0-9-]+:[0-9]{12}:parameter\/synapse-ops-runners\/[a-z0-9-]+\/admission\/\*$/`}}
	sessionManager = finding{"AwsSolutions-IAM5",
		"The SSM Agent's Session Manager calls (ssm:UpdateInstanceInformation, ssmmessages and ec2messages channels) support no resource-level permission; they read no data.",
		[]string{`/^Resource::\*$/`}}
	groupArns = finding{"AwsSolutions-IAM5",
		"An Auto Scaling group ARN contains a generated UUID; the groups are matched by their fixed names (and by the fleet's environment tag).",
		[]string{`/^Resource::arn:aws:autoscaling:[a-z0-9-]+:[0-9]{12}:autoScalingGroup:\*:autoScalingGroupName\/.+$/`}}
	instanceMarkers = finding{"AwsSolutions-IAM5",
		"Marker tags (job started, job completed, max runtime warned) may only be set, key by key, on instances carrying this environment's tag; instance ids are not known in advance.",
		[]string{`/^Resource::arn:aws:ec2:[a-z0-9-]+:[0-9]{12}:instance\/\*$/`}}
	// The NIST 800-53 Rev 5 pack has the same two blind spots as HIPAA: it
	// counts every generated role policy as inline, and reads IMDS settings
	// from launch configurations only.
	nistInlinePolicy = finding{"NIST.800.53.R5-IAMNoInlinePolicy", inlinePolicy.reason, nil}
	nistImdsOnGroup  = finding{"NIST.800.53.R5-EC2IMDSv2Enabled",
		"The rule reads launch configurations; this group launches from a launch template (directly or through its mixed instances policy) that requires IMDSv2 with hop limit 1 (asserted by the template tests).",
		nil}
	asgNotifications = finding{"AwsSolutions-AS3",
		"Launch and termination events go to EventBridge and the fleet controller's queue; failures raise CloudWatch alarms. Per-instance emails for an ephemeral fleet would be noise.",
		nil}
	imdsOnGroup = finding{"HIPAA.Security-EC2IMDSv2Enabled",
		"The rule reads launch configurations; this group launches from a launch template that requires IMDSv2 with hop limit 1 (asserted by the template tests).",
		nil}
)

func (s *RunnerStack) suppressReviewedFindings() {
	suppress(s.RunnerRole, inlinePolicy, nistInlinePolicy, logStreams, jitParameters, admissionVerdicts, sessionManager, groupArns, instanceMarkers)

	for _, p := range s.Pools {
		suppress(p.AutoScalingGroup, asgNotifications, imdsOnGroup, nistImdsOnGroup)
	}

	suppress(s.Oidc.DeployRole, inlinePolicy, nistInlinePolicy, finding{"AwsSolutions-IAM5",
		"cdk deploy assumes the CDK bootstrap roles of this account and region (deploy, file-publishing, lookup); the wildcard spans only their kind.",
		[]string{`/^Resource::arn:aws:iam::[0-9]{12}:role\/cdk-[a-z0-9]+-\*-role-[0-9]{12}-[a-z0-9-]+$/`}})
	if s.Oidc.DiffRole != nil {
		suppress(s.Oidc.DiffRole, inlinePolicy, nistInlinePolicy, finding{"AwsSolutions-IAM5",
			"The diff role reads this stack's template and description; the wildcard is the stack id CloudFormation generates after the fixed stack name.",
			[]string{`/^Resource::arn:aws:cloudformation:[a-z0-9-]+:[0-9]{12}:stack\/synapse-ops-runners-[a-z0-9-]+\/\*$/`}})
	}

	suppress(s.Controller.Role, ssmCore, inlinePolicy, nistInlinePolicy, logStreams, jitParameters, groupArns, instanceMarkers,
		finding{"AwsSolutions-IAM5",
			"Describe calls of Auto Scaling and EC2 do not support resource-level permissions.",
			[]string{`/^Resource::\*$/`}},
		finding{"AwsSolutions-IAM5",
			"Read access to the controller binary asset, granted by CDK on the bootstrap assets bucket.",
			[]string{`/^Action::s3:(GetObject|GetBucket|List)\*$/`, `/^Resource::arn:aws:s3:::cdk-[a-z0-9]+-assets-[0-9]{12}-[a-z0-9-]+\/\*$/`}})
	suppress(s.Controller.AutoScalingGroup, asgNotifications, imdsOnGroup)
}
