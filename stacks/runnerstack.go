// Package stacks assembles one environment's runner stack from the constructs.
package stacks

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/admintoken"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/budget"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/fleetcontroller"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/githuboidc"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/monitoring"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/network"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/runnerpool"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/runnerrole"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// RunnerStackProps configures RunnerStack.
type RunnerStackProps struct {
	// Environment is the validated environment, with defaults applied.
	Environment config.Environment
	// ControllerBinaryDir holds a prebuilt controller binary.
	//
	// Default: the controller is built with `go build` during synth
	ControllerBinaryDir string
}

// RunnerStack is one environment's fleet: network, roles, pools, secrets, OIDC.
type RunnerStack struct {
	awscdk.Stack
	// Pools are the runner pools, in config order.
	Pools []*runnerpool.RunnerPool
	// RunnerRole is the runner instances' role.
	RunnerRole awsiam.Role
	// Network is the imported VPC and the fleet's security group.
	Network *network.Network
	// Oidc holds the GitHub OIDC provider and the deploy/diff roles.
	Oidc *githuboidc.GitHubOidc
	// AdminToken is the Synapse admin token secret.
	AdminToken *admintoken.AdminToken
	// LogKey encrypts the fleet's log groups.
	LogKey awskms.Key
	// RunnerLogGroup receives boot, runner and job logs.
	RunnerLogGroup awslogs.LogGroup
	// Controller is the fleet controller.
	Controller *fleetcontroller.FleetController
	// AlarmTopic receives every alarm of the environment.
	AlarmTopic awssns.Topic
	// Monitoring holds the alarms and the dashboard.
	Monitoring *monitoring.Monitoring
	// Budget is the monthly cost budget over the fleet's environment tag.
	Budget *budget.Budget
}

// NewRunnerStack builds the stack of one environment, pinned to its account and region.
func NewRunnerStack(scope constructs.Construct, props RunnerStackProps) *RunnerStack {
	env := props.Environment
	tags := map[string]*string{settings.TagEnvironment: jsii.String(env.Name)}
	for k, v := range env.Tags {
		tags[k] = jsii.String(v)
	}
	stack := awscdk.NewStack(scope, jsii.String(env.StackName()), &awscdk.StackProps{
		Env:         &awscdk.Environment{Account: jsii.String(env.Account), Region: jsii.String(env.Region)},
		Description: jsii.String(fmt.Sprintf("Ephemeral GitHub Actions runners for Synapse %s (synapse-ops-runners)", env.Name)),
		Tags:        &tags,
		// The default synthesizer would embed a BootstrapVersion rule; keep the
		// account's existing bootstrap qualifier explicit.
		Synthesizer: awscdk.NewDefaultStackSynthesizer(&awscdk.DefaultStackSynthesizerProps{
			Qualifier: jsii.String(env.CdkBootstrap.Qualifier),
		}),
	})
	s := &RunnerStack{Stack: stack}
	// Stack tags reach resources only at deploy; tagging the constructs too puts
	// them in the template, where review and cdk-nag can see them.
	for _, k := range sortedKeys(tags) {
		awscdk.Tags_Of(stack).Add(jsii.String(k), tags[k], nil)
	}

	for _, path := range env.HasPlaceholders() {
		id := strings.NewReplacer("[", ".", "]", "").Replace(path)
		awscdk.Annotations_Of(stack).AddWarningV2(jsii.String("synapse:placeholder:"+id),
			jsii.String(fmt.Sprintf("environments/%s.json %s is a placeholder (%q): deploys will fail until it holds the real value; `bin/bootstrap plan --env %s` lists the account's private subnets", env.Name, path, config.PlaceholderSubnetID, env.Name)))
	}

	if env.Runner.Pinned() {
		awscdk.Annotations_Of(stack).AddWarningV2(jsii.String("synapse:runner-pin"),
			jsii.String(fmt.Sprintf("environments/%s.json pins the runner to %s: instances ignore the controller's daily publication. GitHub stops a runner 30 days after the next release, and synth cannot know release dates offline: the controller alarms at %d days behind and `bootstrap plan` shows the days behind; remove runner.version and runner.sha256 once the emergency is over", env.Name, env.Runner.Version, settings.RunnerDaysBehindAlarm)))
	}

	s.Network = network.New(stack, "Network", network.Props{Vpc: env.Vpc, Placeholders: env.HasPlaceholders()})

	s.LogKey = awskms.NewKey(stack, jsii.String("LogKey"), &awskms.KeyProps{
		Description:       jsii.String("Encrypts the logs of synapse-ops-runners " + env.Name),
		EnableKeyRotation: jsii.Bool(true),
	})
	s.LogKey.GrantEncryptDecrypt(awsiam.NewServicePrincipal(jsii.String(fmt.Sprintf("logs.%s.amazonaws.com", env.Region)), nil))
	s.RunnerLogGroup = awslogs.NewLogGroup(stack, jsii.String("RunnerLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/synapse-ops-runners/" + env.Name + "/runners"),
		EncryptionKey: s.LogKey,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// The Go binding's RetentionDays enum has no numeric constructor; config
	// already validated the value against what CloudWatch accepts.
	s.RunnerLogGroup.Node().DefaultChild().(awslogs.CfnLogGroup).SetRetentionInDays(jsii.Number(float64(env.LogRetentionDays)))

	var groupNames []string
	for _, p := range env.Pools {
		groupNames = append(groupNames, env.AutoScalingGroupName(p))
	}
	runner := runnerrole.New(stack, "RunnerRole", runnerrole.Props{
		EnvironmentName:        env.Name,
		RoleName:               env.ResourcePrefix() + "-runner",
		LogGroupArn:            s.RunnerLogGroup.LogGroupArn(),
		DeploymentRoleArn:      env.DeploymentRoleArn,
		JitParameterPrefix:     env.JitParameterPrefix(),
		AutoScalingGroupNames:  groupNames,
		RunnerReleaseParameter: env.RunnerReleaseParameter(),

		AdmissionParameterPrefix: env.AdmissionParameterPrefix(),
	})
	s.RunnerRole = runner.Role

	s.AdminToken = admintoken.New(stack, "AdminToken", admintoken.Props{
		SecretName:         env.AdminToken.SecretName,
		Create:             env.AdminToken.Create,
		AdminPrincipalArns: env.AdminToken.AdminPrincipalArns,
		Readers:            []awsiam.IRole{s.RunnerRole},
	})

	for _, p := range env.Pools {
		pool := runnerpool.New(stack, "Pool-"+p.Name, runnerpool.Props{
			EnvironmentName:        env.Name,
			Region:                 env.Region,
			Pool:                   p,
			Runner:                 env.Runner,
			RunnerReleaseParameter: env.RunnerReleaseParameter(),
			AutoScalingGroupName:   env.AutoScalingGroupName(p),
			Vpc:                    s.Network.Vpc,
			Subnets:                s.Network.PrivateSubnets,
			SecurityGroup:          s.Network.SecurityGroup,
			Role:                   s.RunnerRole,
			LogGroupName:           *s.RunnerLogGroup.LogGroupName(),
			JitParameterPrefix:     env.JitParameterPrefix(),
			DeploymentRoleArn:      env.DeploymentRoleArn,
		})
		s.Pools = append(s.Pools, pool)
	}

	s.Oidc = githuboidc.New(stack, "GitHubOidc", githuboidc.Props{
		ProviderArn:      env.GitHubOidc.ProviderArn,
		CreateProvider:   env.GitHubOidc.CreateProvider,
		Repository:       env.Repository,
		Subjects:         env.GitHubOidc.Subjects,
		DeployRoleName:   env.ResourcePrefix() + "-deploy",
		CdkQualifier:     env.CdkBootstrap.Qualifier,
		ReviewRepository: env.GitHubOidc.ReviewRepository,
		DiffRoleName:     env.ResourcePrefix() + "-diff",
	})

	s.AlarmTopic = monitoring.NewAlarmTopic(stack, "AlarmTopic", monitoring.TopicProps{
		EnvironmentName: env.Name, Key: s.LogKey, Email: env.AlarmEmail,
	})
	s.LogKey.GrantEncryptDecrypt(awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil))

	s.Controller = fleetcontroller.New(stack, "Controller", fleetcontroller.Props{
		Environment:   env,
		Pools:         s.Pools,
		Vpc:           s.Network.Vpc,
		Subnets:       s.Network.PrivateSubnets,
		SecurityGroup: s.Network.SecurityGroup,
		LogKey:        s.LogKey,
		AlarmTopic:    s.AlarmTopic,
		BinaryDir:     props.ControllerBinaryDir,
	})

	s.Monitoring = monitoring.New(stack, "Monitoring", monitoring.Props{
		EnvironmentName:     env.Name,
		Topic:               s.AlarmTopic,
		ControllerGroupName: env.ResourcePrefix() + "-controller",
		PoolGroupNames:      groupNames,
		DeadLetterQueue:     s.Controller.DeadLetterQueue,
		RunnerLogGroup:      s.RunnerLogGroup,
	})

	s.Budget = budget.New(stack, "Budget", budget.Props{
		BudgetName: env.ResourcePrefix(),
		MonthlyUsd: env.Budget.MonthlyUsd,
		TagKey:     settings.TagEnvironment,
		TagValue:   env.Name,
		Topic:      s.AlarmTopic,
		TopicKey:   s.LogKey,
		Email:      env.AlarmEmail,
	})

	s.addOutputs(env)
	s.suppressReviewedFindings()
	return s
}

func (s *RunnerStack) addOutputs(env config.Environment) {
	out := func(id, value, description string) {
		awscdk.NewCfnOutput(s.Stack, jsii.String(id), &awscdk.CfnOutputProps{
			Value:       jsii.String(value),
			Description: jsii.String(description),
		})
	}
	out(config.OutputContext, env.Name, "CONTEXT repository variable of "+env.Repository)
	out(config.OutputRoleToAssume, *s.Oidc.DeployRole.RoleArn(), "ROLE_TO_ASSUME repository variable: the role the deploy workflow assumes")
	out(config.OutputSynapseHost, env.SynapseHost, "SYNAPSE_HOST repository variable")
	out(config.OutputDeploymentRole, env.DeploymentRoleArn, "SYNAPSE_DEPLOYMENT_ROLE repository variable (runner profile synapse-deployment)")
	out(config.OutputAdminTokenSecret, env.AdminToken.SecretName, "ADMIN_TOKEN_SECRET repository variable: the secret run-task reads the Synapse admin token from")
	if s.Oidc.DiffRole != nil {
		out(config.OutputDiffRole, *s.Oidc.DiffRole.RoleArn(), "DIFF_ROLE_TO_ASSUME variable of "+env.GitHubOidc.ReviewRepository+": read-only role for cdk diff")
	}
	for _, p := range env.Pools {
		out(config.OutputScaleSetPrefix+strings.ToUpper(p.Name[:1])+p.Name[1:], p.ScaleSetName,
			fmt.Sprintf("runs-on value of the %s pool", p.Name))
	}
}

func sortedKeys(m map[string]*string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
